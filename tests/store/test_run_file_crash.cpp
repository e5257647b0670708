// Crash safety of write_run_file: a writer killed with SIGKILL at random moments never leaves
// a damaged file at the destination path, only the old or the new complete version (plus,
// possibly, its own "<path>.tmp.<pid>").
#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "store/error.h"
#include "store/run_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

using namespace lorascape;
using namespace lorascape::store;
namespace fs = std::filesystem;

namespace {

// A run whose snapshots total about 16 MB of float32, tagged by `tag` and seeded by `seed`.
RunFileData large_run(const std::string& tag, uint32_t seed) {
  RunFileData d = lorascape::test::sample_header();
  d.created = tag;
  MethodData m = lorascape::test::sample_method("seq", d.tasks, {"adapter"}, seed);
  m.snapshots.clear();
  for (int i = 0; i < 8; ++i) {  // 8 snapshots x 2 tensors x 256 Ki floats x 4 bytes = 16 MiB
    Snapshot s;
    s.step = 100 * i;
    s.task = i % 3;
    s.adapter.tensors.push_back(
        lorascape::test::sample_tensor("big.lora_A.weight", {64, 4096}, seed * 100 + i));
    s.adapter.tensors.push_back(
        lorascape::test::sample_tensor("big.lora_B.weight", {4096, 64}, seed * 200 + i));
    m.snapshots.push_back(std::move(s));
  }
  d.methods.push_back(std::move(m));
  return d;
}

}  // namespace

TEST(RunFileCrash, KilledWriterNeverLeavesADamagedFile) {
  H5::Exception::dontPrint();
  lorascape::test::TempDir tmp("crash");
  const std::string path = tmp.file("run.h5");
  const RunFileData a = large_run("version-A", 1);
  const RunFileData b = large_run("version-B", 2);

  const auto t0 = std::chrono::steady_clock::now();
  write_run_file(path, a);
  const auto write_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();

  std::mt19937 rng(1234);
  int killed_mid_write = 0;
  const int iterations = 5;
  for (int it = 0; it < iterations; ++it) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: rewrite the file over and over, alternating B and A
      ::close(ready[0]);
      try {
        for (int i = 0; i < 200; ++i) {
          write_run_file(path, i % 2 == 0 ? b : a);
          if (i == 0 && ::write(ready[1], "x", 1) != 1) ::_exit(4);
        }
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1) << "child failed its first write";
    ::close(ready[0]);
    // Kill somewhere within the next two writes.
    std::uniform_int_distribution<long> delay(0, 2 * static_cast<long>(write_us));
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own, status " << status;

    const std::string leftover = path + ".tmp." + std::to_string(pid);
    if (fs::exists(leftover)) {
      ++killed_mid_write;
      fs::remove(leftover);  // documented: a killed writer may leave its temp file
    }
    RunFileData back;
    ASSERT_NO_THROW(back = read_run_file(path)) << "iteration " << it;
    ASSERT_TRUE(back.created == "version-A" || back.created == "version-B") << back.created;
    lorascape::test::expect_same_run(back.created == "version-A" ? a : b, back);
    if (::testing::Test::HasFailure()) break;
  }
  // The writer spends nearly all its time writing the temp file, so random kills land there.
  EXPECT_GE(killed_mid_write, 1) << "no kill landed during a write; write took " << write_us
                                 << " us";
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename(), "run.h5") << "unexpected file " << e.path();
}
