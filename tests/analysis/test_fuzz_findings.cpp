// The findings of the fuzz targets (tests/fuzz/README), each fed with the exact input the
// fuzzer found, so that they stay fixed in the normal build (no clang needed): every one must
// be a lorascape::Error naming the file or reference, never another exception or a crash.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "analysis/adapter_ref.h"
#include "core/adapter.h"
#include "core/hf_model.h"
#include "core/safetensors.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/test_util.h"

using namespace lorascape;
namespace fs = std::filesystem;

namespace {

// The message of the lorascape::Error `fn` throws; fails the test on any other outcome.
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lorascape::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a lorascape::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A valid adapter_model.safetensors (q_proj of layer 0, r = 2, width 4).
void write_adapter_tensors(const std::string& dir) {
  core::NamedTensors t;
  t.emplace_back("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                 at::ones({2, 4}));
  t.emplace_back("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                 at::ones({4, 2}));
  core::write_safetensors(dir + "/adapter_model.safetensors", t);
}

// Runs `fn` in a child process; returns its exit status (-signal when killed) and its stderr.
int in_child(const std::function<void()>& fn, std::string* err, const std::string& err_file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      std::fflush(stderr);
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream f(err_file);
  err->assign(std::istreambuf_iterator<char>(f), {});
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

const std::string kRegressions = std::string(LORASCAPE_SOURCE_DIR) + "/tests/fuzz/regressions/";

}  // namespace

// fuzz_scan_file and fuzz_run_file found files on which Debian's HDF5 1.10.8 itself crashes (a
// segmentation fault in H5F__accum_read, and an overlapping copy of terabytes in H5HG_read
// reading a string attribute) before returning any error. The readers end such a crash with the
// one-line error naming the file and exit code 2 (store/hdf5_io.cpp).
TEST(FuzzFindings, FileOnWhichHdf5CrashesGivesTheOneLineErrorAndExitCode2) {
  test::TempDir tmp("fuzz-findings-hdf5");
  const std::string scan = kRegressions + "scan_file-hdf5-accum-read.h5";
  std::string err;
  int code = in_child([&] { store::read_scan_file(scan); }, &err, tmp.file("err"));
  // Either HDF5 (another build of it) reports the damage, or the crash becomes the line.
  if (code == 2)
    EXPECT_EQ(err, "lorascape: error: " + scan +
                       ": the HDF5 library crashed reading it (the file is damaged or was not "
                       "written by lorascape; rewrite it with lorascape)\n");
  else
    EXPECT_TRUE(code == 3 && err.rfind(scan + ": ", 0) == 0) << code << ": " << err;
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan reports the overlapping copy inside libhdf5 before it faults";
#else
  const std::string run = kRegressions + "run_file-hdf5-global-heap.h5";
  code = in_child([&] { store::read_run_file(run); }, &err, tmp.file("err"));
  if (code == 2)
    EXPECT_TRUE(err.rfind("lorascape: error: " + run + ": the HDF5 library crashed", 0) == 0)
        << err;
  else
    EXPECT_TRUE(code == 3 && err.rfind(run + ": ", 0) == 0) << code << ": " << err;
#endif
}

// fuzz_adapter_ref, crash-487ec885…: "/." + 14 NUL bytes + "/" escaped as std::ios_base::failure
// ("basic_filebuf::underflow error reading the file: Is a directory"): the NUL cut the path to
// "/.", a folder, whose adapter_config.json was then "/.", a folder too.
TEST(FuzzFindings, AdapterReferenceWithNulBytesIsRefused) {
  const std::string ref = std::string("/.") + std::string(14, '\0') + "/";
  ASSERT_EQ(ref.size(), 17u);
  std::string m = error_of([&] { analysis::load_adapter_ref(ref); });
  EXPECT_TRUE(has(m, "NUL byte") && has(m, "/.\\0")) << m;
  m = error_of([&] { analysis::expand_adapter_refs(ref); });
  EXPECT_TRUE(has(m, "NUL byte")) << m;
}

// The same defect reached through a real folder: adapter_config.json (and a model folder's
// config.json) being a folder.
TEST(FuzzFindings, ConfigJsonThatIsAFolderIsAFormatErrorNamingIt) {
  test::TempDir tmp("fuzz-findings-folder");
  const std::string dir = tmp.file("adapter");
  fs::create_directories(dir + "/adapter_config.json");
  write_adapter_tensors(dir);
  std::string m = error_of([&] { core::load_peft_adapter(dir); });
  EXPECT_TRUE(has(m, dir + "/adapter_config.json") && has(m, "not a regular file")) << m;
  m = error_of([&] { analysis::load_adapter_ref(dir); });
  EXPECT_TRUE(has(m, "adapter_config.json") && has(m, "not a regular file")) << m;

  const std::string model = tmp.file("model");
  fs::create_directories(model + "/config.json");
  m = error_of([&] { core::hf_model_config(model); });
  EXPECT_TRUE(has(m, model + "/config.json") && has(m, "not a regular file")) << m;
}

// fuzz_adapter_ref, crash-20d0c298…: a 271-byte reference whose name is longer than NAME_MAX
// escaped as std::filesystem::filesystem_error ("status: File name too long").
TEST(FuzzFindings, AdapterReferenceWithANameTooLongIsAFormatError) {
  std::ifstream f(kRegressions + "adapter_ref-name-too-long.bin", std::ios::binary);
  const std::string ref((std::istreambuf_iterator<char>(f)), {});
  ASSERT_EQ(ref.size(), 271u);
  std::string m = error_of([&] { analysis::load_adapter_ref(ref); });
  EXPECT_TRUE(has(m, "File name too long") && has(m, "PEFT adapter folder")) << m;
  // The same from a command line's reference: a plain name of 300 letters.
  m = error_of([&] { analysis::load_adapter_ref(std::string(300, 'a')); });
  EXPECT_TRUE(has(m, "File name too long")) << m;
}
