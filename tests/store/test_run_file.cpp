// The HDF5 run file: round trips, put_method, strict rejection of foreign, newer, broken
// and inconsistent files, and the documented layout as h5dump sees it.
#include <H5Cpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "store/error.h"
#include "store/run_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

using namespace lorascape;
using namespace lorascape::store;
using lorascape::test::sample_header;
using lorascape::test::sample_method;
using lorascape::test::sample_run;
namespace fs = std::filesystem;

namespace {

class RunFile : public ::testing::Test {
 protected:
  void SetUp() override { H5::Exception::dontPrint(); }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  std::string path = tmp.file("run.h5");
};

// The FormatError message of `fn`, or "" when it does not throw one.
template <class Fn>
std::string format_error(Fn fn) {
  try {
    fn();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Files next to `path` whose name starts with "<name>.tmp.".
int temp_files_next_to(const std::string& path) {
  int n = 0;
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// Writes a scalar attribute on the root of an existing file, replacing any attribute there.
void set_root_int_attr(const std::string& path, const std::string& name, int value) {
  H5::H5File f(path, H5F_ACC_RDWR);
  if (f.attrExists(name)) f.removeAttr(name);
  H5::Attribute a = f.createAttribute(name, H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR));
  a.write(H5::PredType::NATIVE_INT, &value);
}

void set_root_str_attr(const std::string& path, const std::string& name, const std::string& value) {
  H5::H5File f(path, H5F_ACC_RDWR);
  if (f.attrExists(name)) f.removeAttr(name);
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  H5::Attribute a = f.createAttribute(name, t, H5::DataSpace(H5S_SCALAR));
  a.write(t, value);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Round trips.

TEST_F(RunFile, RoundTripIsEqualFieldByField) {
  const RunFileData run = sample_run();
  write_run_file(path, run);
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(temp_files_next_to(path), 0);
  const RunFileData back = read_run_file(path);
  lorascape::test::expect_same_run(run, back);
  EXPECT_EQ(back.format_version, 1);  // no lora_config: still version 1
  ASSERT_NE(back.find_method("ilora"), nullptr);
  EXPECT_EQ(back.find_method("ilora")->reported, "slow");
  EXPECT_TRUE(std::isnan(back.find_method("seq")->metrics.at("exact_match").at("FWT")));
  EXPECT_EQ(back.find_method("nope"), nullptr);
  // The other learner's scores, apart from the reported one's.
  EXPECT_TRUE(back.find_method("seq")->learners.empty());
  const MethodData& ilora = *back.find_method("ilora");
  ASSERT_EQ(ilora.learners.size(), 1u);
  ASSERT_EQ(ilora.learners.count("fast"), 1u);
  EXPECT_EQ(ilora.learners.at("fast").R.size(), 2u);
  EXPECT_NE(ilora.learners.at("fast").R.at("loss"), ilora.R.at("loss"));
  EXPECT_EQ(ilora.learners.at("fast").metrics.at("exact_match").at("OP"), 0.375);
  EXPECT_TRUE(std::isnan(ilora.learners.at("fast").metrics.at("loss").at("FWT")));
  // Tensor order is model order, not alphabetical.
  EXPECT_EQ(back.methods[0].stages[0].adapters.at("adapter").tensors[2].name,
            "model.layers.0.self_attn.v_proj.lora_A.weight");
  EXPECT_EQ(back.methods[0].stages[0].adapters.at("adapter").tensors[4].name,
            "model.layers.0.mlp.down_proj.lora_A.weight");
}

// A TensorSelection reads everything but the adapters it leaves out, which keep their place
// (their keys) with loaded = false and no tensors; the adapters it names are read exactly.
TEST_F(RunFile, ReadsOnlyTheSelectedTensors) {
  const RunFileData run = sample_run();
  write_run_file(path, run);
  // Everything `sel` names equals what was written; everything else is there, unloaded.
  auto check = [&](const RunFileData& back, const TensorSelection& sel, const std::string& what) {
    ASSERT_EQ(back.methods.size(), run.methods.size()) << what;
    EXPECT_EQ(back.tasks, run.tasks) << what;
    for (size_t i = 0; i < run.methods.size(); ++i) {
      const MethodData &a = run.methods[i], &b = back.methods[i];
      EXPECT_EQ(a.R, b.R) << what;
      ASSERT_EQ(a.stages.size(), b.stages.size()) << what;
      for (size_t s = 0; s < a.stages.size(); ++s) {
        ASSERT_EQ(a.stages[s].adapters.size(), b.stages[s].adapters.size()) << what;
        for (const auto& [key, adapter] : a.stages[s].adapters) {
          const AdapterData& got = b.stages[s].adapters.at(key);
          const std::string w = what + ": " + a.name + " stage " + std::to_string(s) + " " + key;
          if (sel.wants_stage(a.name, a.stages[s].stage, key)) {
            lorascape::test::expect_same_adapter(adapter, got, w);
          } else {
            EXPECT_FALSE(got.loaded) << w;
            EXPECT_TRUE(got.tensors.empty()) << w;
          }
        }
      }
      ASSERT_EQ(a.snapshots.size(), b.snapshots.size()) << what;
      for (size_t k = 0; k < a.snapshots.size(); ++k) {
        EXPECT_EQ(a.snapshots[k].step, b.snapshots[k].step) << what;
        EXPECT_EQ(b.snapshots[k].adapter.loaded, sel.wants_snapshots(a.name)) << what;
        if (sel.wants_snapshots(a.name))
          lorascape::test::expect_same_adapter(a.snapshots[k].adapter, b.snapshots[k].adapter,
                                               what + " snapshot");
        else
          EXPECT_TRUE(b.snapshots[k].adapter.tensors.empty()) << what;
      }
    }
  };
  check(read_run_file(path, TensorSelection::none()), TensorSelection::none(), "none");
  const TensorSelection one = TensorSelection::one("ilora", 1, "slow");
  check(read_run_file(path, one), one, "one");
  TensorSelection learner;  // one learner's trajectory: its stages and the method's snapshots
  learner.method = "ilora";
  learner.key = "fast";
  check(read_run_file(path, learner), learner, "learner");
  lorascape::test::expect_same_run(run, read_run_file(path, TensorSelection{}));

  // Exactly one adapter loaded by `one`.
  const RunFileData back = read_run_file(path, one);
  int loaded = 0;
  for (const auto& m : back.methods)
    for (const auto& st : m.stages)
      for (const auto& kv : st.adapters) loaded += kv.second.loaded ? 1 : 0;
  EXPECT_EQ(loaded, 1);
}

// Data read without some tensors is not written back: that would drop the adapters from the
// file. The writer says so before touching the file, which keeps its contents.
TEST_F(RunFile, RefusesToWriteAdaptersThatWereNotLoaded) {
  write_run_file(path, sample_run());
  const std::string before = slurp(path);
  const RunFileData partial = read_run_file(path, TensorSelection::one("seq", 0, "adapter"));
  const std::string msg = format_error([&] { write_run_file(path, partial); });
  EXPECT_NE(msg.find("/methods/seq/stages/01/adapter"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not loaded"), std::string::npos) << msg;
  EXPECT_EQ(slurp(path), before);
  EXPECT_EQ(temp_files_next_to(path), 0);
  EXPECT_NE(format_error([&] { put_method(path, partial.methods[1], partial); }), "");
  EXPECT_EQ(slurp(path), before);
}

TEST_F(RunFile, RoundTripOfSparseMethodAndEmptyPieces) {
  RunFileData run = sample_header();
  run.lora_targets.clear();
  run.config_json.clear();
  MethodData m;
  m.name = "mtl";
  m.reported = "adapter";
  m.metrics["loss"] = {};  // a score without metrics yet
  StageData s;
  s.stage = 2;  // only the last stage
  s.task = run.tasks[2];
  s.adapters["adapter"].tensors.push_back({"empty.lora_A.weight", {0, 4}, {}});
  s.adapters["adapter"].tensors.push_back({"vec", {3}, {1.f, -2.f, 3.5f}});
  s.adapters["aux"].tensors.push_back({"vec", {1}, {0.5f}});
  m.stages.push_back(s);
  m.learners["aux"].metrics["loss"] = {};  // a learner without R and without metrics yet
  run.methods.push_back(m);
  MethodData none;  // no stages: any learner key goes
  none.name = "none";
  none.learners["other"].R["loss"] = lorascape::test::sample_matrix(run.tasks.size(), 0.5);
  run.methods.push_back(none);
  write_run_file(path, run);
  lorascape::test::expect_same_run(run, read_run_file(path));
}

TEST_F(RunFile, FileWithoutLearnersReadsWithEmptyLearners) {
  RunFileData run = sample_run();
  write_run_file(path, run);
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    // Written only when there are other learners.
    EXPECT_FALSE(f.openGroup("/methods/seq").nameExists("learners"));
    ASSERT_TRUE(f.openGroup("/methods/ilora").nameExists("learners"));
    f.openGroup("/methods/ilora").unlink("learners");  // as a writer before learners did
  }
  const RunFileData back = read_run_file(path);
  EXPECT_TRUE(back.find_method("ilora")->learners.empty());
  EXPECT_TRUE(back.find_method("seq")->learners.empty());
  run.methods[1].learners.clear();
  lorascape::test::expect_same_run(run, back);
}

TEST_F(RunFile, WritingTheSameDataTwiceGivesTheSameBytes) {
  const RunFileData run = sample_run();
  write_run_file(path, run);
  const std::string second = tmp.file("second.h5");
  write_run_file(second, run);
  EXPECT_TRUE(slurp(path) == slurp(second));
}

TEST_F(RunFile, WriteReplacesAnExistingFile) {
  RunFileData run = sample_run();
  write_run_file(path, run);
  run.methods.pop_back();
  run.created = "later";
  write_run_file(path, run);
  const RunFileData back = read_run_file(path);
  EXPECT_EQ(back.created, "later");
  EXPECT_EQ(back.methods.size(), 1u);
}

// ------------------------------------------------------------------------------------------
// put_method.

TEST_F(RunFile, PutMethodCreatesAddsAndReplaces) {
  const RunFileData header = sample_header();
  const MethodData seq = sample_method("seq", header.tasks, {"adapter"}, 1);
  const MethodData ilora = sample_method("ilora", header.tasks, {"fast", "slow"}, 2);

  put_method(path, seq, header);  // creates the file from the header
  RunFileData back = read_run_file(path);
  EXPECT_EQ(back.tasks, header.tasks);
  EXPECT_EQ(back.command_line, header.command_line);
  ASSERT_EQ(back.methods.size(), 1u);
  lorascape::test::expect_same_method(seq, back.methods[0]);

  RunFileData other_header = header;
  other_header.created = "ignored: the file exists";
  put_method(path, ilora, other_header);  // adds, keeps seq
  back = read_run_file(path);
  EXPECT_EQ(back.created, header.created);
  ASSERT_EQ(back.methods.size(), 2u);
  lorascape::test::expect_same_method(seq, back.methods[0]);
  lorascape::test::expect_same_method(ilora, back.methods[1]);

  MethodData seq2 = sample_method("seq", header.tasks, {"adapter"}, 7);
  seq2.snapshots.clear();
  put_method(path, seq2, header);  // replaces seq in place, keeps ilora
  back = read_run_file(path);
  ASSERT_EQ(back.methods.size(), 2u);
  lorascape::test::expect_same_method(seq2, back.methods[0]);
  lorascape::test::expect_same_method(ilora, back.methods[1]);
  EXPECT_EQ(temp_files_next_to(path), 0);
}

TEST_F(RunFile, PutMethodRejectsAMethodWhoseTasksDisagree) {
  const RunFileData header = sample_header();
  put_method(path, sample_method("seq", header.tasks, {"adapter"}, 1), header);
  const std::string before = slurp(path);

  // Same number of tasks, different names: the stages disagree with /tasks.
  MethodData m = sample_method("ewc", {"mc", "arith", "other"}, {"adapter"}, 3);
  std::string msg = format_error([&] { put_method(path, m, header); });
  EXPECT_NE(msg.find("/methods/ewc/stages/02"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'other'"), std::string::npos) << msg;

  // A different number of tasks: R is not T x T.
  m = sample_method("ewc", {"mc", "arith"}, {"adapter"}, 3);
  msg = format_error([&] { put_method(path, m, header); });
  EXPECT_NE(msg.find("/methods/ewc/R/"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected (3, 3)"), std::string::npos) << msg;

  EXPECT_TRUE(slurp(path) == before);  // untouched
  EXPECT_EQ(temp_files_next_to(path), 0);
}

TEST_F(RunFile, PutMethodNeverOverwritesAFileItCannotRead) {
  const RunFileData header = sample_header();
  const MethodData seq = sample_method("seq", header.tasks, {"adapter"}, 1);
  std::ofstream(path) << "not a run file\n";
  EXPECT_NE(format_error([&] { put_method(path, seq, header); }), "");
  EXPECT_EQ(slurp(path), "not a run file\n");

  write_run_file(path, sample_run());
  set_root_int_attr(path, "format_version", 3);  // a newer lorascape wrote it
  const std::string before = slurp(path);
  const std::string msg = format_error([&] { put_method(path, seq, header); });
  EXPECT_NE(msg.find("upgrade lorascape"), std::string::npos) << msg;
  EXPECT_TRUE(slurp(path) == before);
}

// A LoRA setup in PEFT fields (lora_config) makes the file version 2, which round-trips it.
TEST_F(RunFile, LoraConfigIsVersionTwo) {
  RunFileData run = sample_run();
  run.lora_config = R"({"r":8,"lora_alpha":16,"use_rslora":true})";
  write_run_file(path, run);
  const RunFileData back = read_run_file(path);
  EXPECT_EQ(back.format_version, 2);
  EXPECT_EQ(back.lora_config, run.lora_config);
}

// ------------------------------------------------------------------------------------------
// Foreign, newer and broken files.

TEST_F(RunFile, NewerFormatVersionIsRejectedBeforeAnythingElse) {
  {  // Only the two format attributes: the version must be the complaint, not missing data.
    H5::H5File f(path, H5F_ACC_TRUNC);
  }
  set_root_str_attr(path, "format", "lorascape-run");
  set_root_int_attr(path, "format_version", 99);
  std::string msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("run.h5: /format_version: 99 is newer than this lorascape (2)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("upgrade lorascape"), std::string::npos) << msg;

  write_run_file(path, sample_run());  // a complete file with a newer version
  set_root_int_attr(path, "format_version", 3);
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("newer"), std::string::npos) << msg;

  set_root_int_attr(path, "format_version", 0);
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/format_version"), std::string::npos) << msg;
}

TEST_F(RunFile, OtherFormatIsRejected) {
  write_run_file(path, sample_run());
  set_root_str_attr(path, "format", "other");
  std::string msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/format: is 'other', expected 'lorascape-run'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a lorascape run file"), std::string::npos) << msg;

  {  // An HDF5 file without any format attribute.
    H5::H5File f(path, H5F_ACC_TRUNC);
    f.createGroup("data");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/format: missing root attribute"), std::string::npos) << msg;

  {  // format_version of the wrong type.
    write_run_file(path, sample_run());
    set_root_str_attr(path, "format_version", "1");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/format_version: attribute is not an integer"), std::string::npos) << msg;
}

TEST_F(RunFile, NonHdf5AndMissingFilesAreRejected) {
  std::ofstream(path) << "this is a text file, not HDF5\n";
  std::string msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind(path, 0), 0u) << "message starts with the file: " << msg;

  std::ofstream(path, std::ios::trunc).flush();  // empty file
  EXPECT_NE(format_error([&] { read_run_file(path); }), "");

  msg = format_error([&] { read_run_file(tmp.file("absent.h5")); });
  EXPECT_NE(msg.find("absent.h5: file does not exist"), std::string::npos) << msg;

  msg = format_error([&] { read_run_file(tmp.path().string()); });
  EXPECT_NE(msg.find("directory"), std::string::npos) << msg;
}

TEST_F(RunFile, TruncatedFileIsRejectedCleanly) {
  write_run_file(path, sample_run());
  const std::string bytes = slurp(path);
  for (size_t keep : {size_t(100), size_t(2048), bytes.size() / 2, bytes.size() - 100}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), keep);
    const std::string msg = format_error([&] { read_run_file(path); });
    EXPECT_NE(msg, "") << "kept " << keep << " of " << bytes.size() << " bytes";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(RunFile, ReaderRejectsBadShapesAndMissingPieces) {
  write_run_file(path, sample_run());
  {  // R not T x T.
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group r = f.openGroup("/methods/seq/R");
    r.unlink("exact_match");
    hsize_t dims[2] = {2, 3};
    std::vector<double> v(6, 0.5);
    r.createDataSet("exact_match", H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims))
        .write(v.data(), H5::PredType::NATIVE_DOUBLE);
  }
  std::string msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/seq/R/exact_match: shape (2, 3), expected (3, 3)"),
            std::string::npos)
      << msg;

  write_run_file(path, sample_run());
  {  // base not (T,).
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group b = f.openGroup("/methods/ilora/base");
    b.unlink("loss");
    hsize_t dims[1] = {4};
    std::vector<double> v(4, 0.5);
    b.createDataSet("loss", H5::PredType::IEEE_F64LE, H5::DataSpace(1, dims))
        .write(v.data(), H5::PredType::NATIVE_DOUBLE);
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/ilora/base/loss: shape (4), expected (3)"), std::string::npos)
      << msg;

  write_run_file(path, sample_run());
  {  // A learner's R not T x T.
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group r = f.openGroup("/methods/ilora/learners/fast/R");
    r.unlink("loss");
    hsize_t dims[2] = {3, 2};
    std::vector<double> v(6, 0.5);
    r.createDataSet("loss", H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims))
        .write(v.data(), H5::PredType::NATIVE_DOUBLE);
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/ilora/learners/fast/R/loss: shape (3, 2), expected (3, 3)"),
            std::string::npos)
      << msg;

  write_run_file(path, sample_run());
  {  // A learner without its metrics group.
    H5::H5File f(path, H5F_ACC_RDWR);
    f.openGroup("/methods/ilora/learners/fast").unlink("metrics");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/ilora/learners/fast/metrics: required group is missing"),
            std::string::npos)
      << msg;

  write_run_file(path, sample_run());
  {  // A learner whose adapter is missing from a stage.
    H5::H5File f(path, H5F_ACC_RDWR);
    f.openGroup("/methods/ilora/stages/02").unlink("fast");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/ilora/learners/fast: stage 02 has no adapter 'fast'"),
            std::string::npos)
      << msg;

  write_run_file(path, sample_run());
  {  // learners is a dataset, not a group.
    H5::H5File f(path, H5F_ACC_RDWR);
    f.openGroup("/methods/ilora").unlink("learners");
    hsize_t n = 1;
    f.openGroup("/methods/ilora")
        .createDataSet("learners", H5::PredType::STD_I32LE, H5::DataSpace(1, &n));
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/ilora/learners: is not a group"), std::string::npos) << msg;

  write_run_file(path, sample_run());
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    f.unlink("tasks");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/tasks: required dataset is missing"), std::string::npos) << msg;

  write_run_file(path, sample_run());
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    f.openGroup("/methods/seq").unlink("stages");
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/seq/stages: required group is missing"), std::string::npos) << msg;

  write_run_file(path, sample_run());
  {  // A tensor stored as integers.
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group a = f.openGroup("/methods/seq/stages/01/adapter");
    a.unlink("model.layers.1.mlp.down_proj.lora_B.weight");
    hsize_t dims[2] = {8, 2};
    std::vector<int> v(16, 1);
    a.createDataSet("model.layers.1.mlp.down_proj.lora_B.weight", H5::PredType::STD_I32LE,
                    H5::DataSpace(2, dims))
        .write(v.data(), H5::PredType::NATIVE_INT);
  }
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/seq/stages/01/adapter/model.layers.1.mlp.down_proj.lora_B.weight"),
            std::string::npos)
      << msg;
}

TEST_F(RunFile, UnknownExtrasAreIgnored) {
  const RunFileData run = sample_run();
  write_run_file(path, run);
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    f.createGroup("future_group").createGroup("nested");
    H5::Attribute a =
        f.createAttribute("future_attr", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR));
    int one = 1;
    a.write(H5::PredType::NATIVE_INT, &one);
    hsize_t n = 2;
    f.openGroup("/methods/seq")
        .createDataSet("notes", H5::PredType::STD_I32LE, H5::DataSpace(1, &n));
    f.openGroup("/methods/seq/stages").createGroup("README");
    f.openGroup("/methods").createDataSet("index", H5::PredType::STD_I32LE, H5::DataSpace(1, &n));
    f.openGroup("/methods/ilora/learners")
        .createDataSet("index", H5::PredType::STD_I32LE, H5::DataSpace(1, &n));
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    f.openGroup("/methods/seq/metrics/loss")
        .createAttribute("definition", t, H5::DataSpace(H5S_SCALAR))
        .write(t, std::string("docs/metrics.md"));
  }
  lorascape::test::expect_same_run(run, read_run_file(path));
}

// ------------------------------------------------------------------------------------------
// Validation on write: nothing is touched when the data is inconsistent.

TEST_F(RunFile, WriteValidatesBeforeTouchingTheFile) {
  const RunFileData good = sample_run();
  struct Case {
    const char* what;
    std::function<void(RunFileData&)> break_it;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"R not T x T", [](RunFileData& d) { d.methods[0].R["loss"].pop_back(); },
       "/methods/seq/R/loss: shape (2, 3), expected (3, 3) for 3 tasks"},
      {"ragged R", [](RunFileData& d) { d.methods[0].R["loss"][1].push_back(1); },
       "/methods/seq/R/loss: rows have different lengths"},
      {"base not T", [](RunFileData& d) { d.methods[1].base["token_acc"].push_back(1); },
       "/methods/ilora/base/token_acc: shape (4), expected (3)"},
      {"tensor size",
       [](RunFileData& d) { d.methods[1].stages[1].adapters["fast"].tensors[0].values.pop_back(); },
       "/methods/ilora/stages/01/fast/model.layers.0.self_attn.q_proj.lora_A.weight: shape (2, "
       "8) needs 16 values, got 15"},
      {"negative dim",
       [](RunFileData& d) {
         d.methods[0].snapshots[0].adapter.tensors[0].shape = {-2, -8};
       },
       "negative dimension"},
      {"scalar tensor",
       [](RunFileData& d) { d.methods[0].snapshots[0].adapter.tensors[0].shape.clear(); },
       "rank 0"},
      {"stage task", [](RunFileData& d) { d.methods[0].stages[1].task = "strings"; },
       "/methods/seq/stages/01: task 'strings' disagrees with the file's task 1 'arith'"},
      {"stage order",
       [](RunFileData& d) { std::swap(d.methods[0].stages[0], d.methods[0].stages[1]); },
       "strictly increasing"},
      {"stage range", [](RunFileData& d) { d.methods[0].stages[2].stage = 3; }, "outside [0, 3)"},
      {"snapshot task", [](RunFileData& d) { d.methods[0].snapshots[2].task = 5; },
       "/methods/seq/snapshots/000002: task index 5"},
      {"reported missing", [](RunFileData& d) { d.methods[1].reported = "adapter"; },
       "has no adapter 'adapter'"},
      {"learner is reported",
       [](RunFileData& d) { d.methods[1].learners["slow"] = d.methods[1].learners["fast"]; },
       "/methods/ilora/learners/slow: is the method's reported adapter 'slow'"},
      {"learner adapter missing",
       [](RunFileData& d) { d.methods[1].stages[1].adapters.erase("fast"); },
       "/methods/ilora/learners/fast: stage 01 has no adapter 'fast' "
       "(/methods/ilora/stages/01/fast)"},
      {"learner of a single-learner method",
       [](RunFileData& d) { d.methods[0].learners["fast"].R["loss"] = d.methods[0].R["loss"]; },
       "/methods/seq/learners/fast: stage 00 has no adapter 'fast'"},
      {"learner R not T x T",
       [](RunFileData& d) { d.methods[1].learners["fast"].R["loss"].pop_back(); },
       "/methods/ilora/learners/fast/R/loss: shape (2, 3), expected (3, 3) for 3 tasks"},
      {"learner R ragged",
       [](RunFileData& d) { d.methods[1].learners["fast"].R["exact_match"][2].pop_back(); },
       "/methods/ilora/learners/fast/R/exact_match: rows have different lengths"},
      {"learner key", [](RunFileData& d) { d.methods[1].learners["a/b"]; },
       "/methods/ilora/learners: learner key 'a/b' is not a valid HDF5 name"},
      {"learner metric name",
       [](RunFileData& d) { d.methods[1].learners["fast"].metrics["loss"][""] = 1; },
       "/methods/ilora/learners/fast/metrics/loss: metric '' is not a valid HDF5 name"},
      {"duplicate method", [](RunFileData& d) { d.methods[1].name = "seq"; },
       "/methods/seq: method appears twice"},
      {"slash in name", [](RunFileData& d) { d.methods[1].name = "a/b"; }, "not a valid HDF5 name"},
      {"duplicate tensor",
       [](RunFileData& d) {
         auto& t = d.methods[0].stages[0].adapters["adapter"].tensors;
         t.push_back(t[0]);
       },
       "tensor appears twice"},
      {"bad json", [](RunFileData& d) { d.methods[0].config_json = "{not json"; },
       "/methods/seq/config_json: is not valid JSON"},
      {"no tasks",
       [](RunFileData& d) {
         d.tasks.clear();
         d.methods.clear();
       },
       "/tasks: is empty"},
      {"duplicate task", [](RunFileData& d) { d.tasks[2] = "mc"; }, "appears twice"},
  };
  for (const auto& c : cases) {
    RunFileData bad = good;
    c.break_it(bad);
    const std::string msg = format_error([&] { write_run_file(path, bad); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << c.what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(path)) << c.what;
    EXPECT_EQ(temp_files_next_to(path), 0) << c.what;
  }
}

TEST_F(RunFile, UnwritableFolderIsAFormatErrorAndLeavesNoTemp) {
  const std::string bad = tmp.file("no/such/folder/run.h5");
  const std::string msg = format_error([&] { write_run_file(bad, sample_run()); });
  EXPECT_NE(msg.find("no/such/folder/run.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("writable"), std::string::npos) << msg;
}

// ------------------------------------------------------------------------------------------
// The layout, as a generic tool sees it (docs/hdf5-schema.md).

TEST_F(RunFile, LayoutMatchesTheSchemaDocument) {
  const char* h5dump = "/usr/bin/h5dump";
  if (!fs::exists(h5dump)) GTEST_SKIP() << "h5dump not installed";
  write_run_file(path, sample_run());
  const std::string dump = run_command(std::string(h5dump) + " -H '" + path + "' 2>&1");
  ASSERT_NE(dump.find("HDF5 \""), std::string::npos) << dump;
  for (const char* needle : {
           "ATTRIBUTE \"format\"",
           "ATTRIBUTE \"format_version\" {\n      DATATYPE  H5T_STD_I32LE\n      DATASPACE  SCALAR",
           "ATTRIBUTE \"lora_rank\" {\n      DATATYPE  H5T_STD_I64LE",
           "ATTRIBUTE \"lora_alpha\" {\n      DATATYPE  H5T_IEEE_F64LE",
           "ATTRIBUTE \"software_version\"",
           "ATTRIBUTE \"created\"",
           "ATTRIBUTE \"command_line\"",
           "ATTRIBUTE \"config_json\"",
           "ATTRIBUTE \"base_model\"",
           "ATTRIBUTE \"base_model_digest\"",
           "STRSIZE H5T_VARIABLE;",
           "CSET H5T_CSET_UTF8;",
           "DATASET \"tasks\"",
           "DATASPACE  SIMPLE { ( 3 ) / ( 3 ) }",
           "DATASET \"lora_targets\"",
           "GROUP \"methods\"",
           "GROUP \"seq\"",
           "GROUP \"ilora\"",
           "ATTRIBUTE \"reported\"",
           "GROUP \"R\"",
           "DATASET \"exact_match\" {\n               DATATYPE  H5T_IEEE_F64LE\n               "
           "DATASPACE  SIMPLE { ( 3, 3 ) / ( 3, 3 ) }",
           "GROUP \"base\"",
           "GROUP \"metrics\"",
           "ATTRIBUTE \"BWT\" {\n                  DATATYPE  H5T_IEEE_F64LE\n                  "
           "DATASPACE  SCALAR",
           "GROUP \"stages\"",
           "GROUP \"00\"",
           "GROUP \"02\"",
           "ATTRIBUTE \"stage\"",
           "ATTRIBUTE \"task\"",
           "GROUP \"adapter\"",
           "GROUP \"fast\"",
           "GROUP \"slow\"",
           "DATASET \"model.layers.0.self_attn.q_proj.lora_A.weight\"",
           "DATATYPE  H5T_IEEE_F32LE",
           "DATASPACE  SIMPLE { ( 2, 8 ) / ( 2, 8 ) }",
           "DATASPACE  SIMPLE { ( 8, 2 ) / ( 8, 2 ) }",
           "GROUP \"learners\" {\n            GROUP \"fast\" {\n               GROUP \"R\"",
           "GROUP \"snapshots\"",
           "GROUP \"000000\"",
           "ATTRIBUTE \"step\"",
       }) {
    EXPECT_NE(dump.find(needle), std::string::npos) << "missing in h5dump -H: " << needle;
  }
  // Values as a generic tool reads them.
  const std::string version =
      run_command(std::string(h5dump) + " -a /format_version '" + path + "'");
  EXPECT_NE(version.find("(0): 1"), std::string::npos) << version;
  const std::string tasks = run_command(std::string(h5dump) + " -d /tasks '" + path + "'");
  EXPECT_NE(tasks.find("(0): \"mc\", \"arith\", \"strings\""), std::string::npos) << tasks;
  const std::string step =
      run_command(std::string(h5dump) + " -a /methods/seq/snapshots/000001/step '" + path + "'");
  EXPECT_NE(step.find("(0): 100"), std::string::npos) << step;
  const std::string learner_R = run_command(
      std::string(h5dump) + " -d /methods/ilora/learners/fast/R/exact_match '" + path + "'");
  EXPECT_NE(learner_R.find("H5T_IEEE_F64LE"), std::string::npos) << learner_R;
  EXPECT_NE(learner_R.find("DATASPACE  SIMPLE { ( 3, 3 ) / ( 3, 3 ) }"), std::string::npos)
      << learner_R;
  const std::string learner_op = run_command(
      std::string(h5dump) + " -a /methods/ilora/learners/fast/metrics/loss/OP '" + path + "'");
  EXPECT_NE(learner_op.find("H5T_IEEE_F64LE"), std::string::npos) << learner_op;
  EXPECT_NE(learner_op.find("(0): 0.375"), std::string::npos) << learner_op;
}

// A file written by another tool (think h5py with other choices): fixed-length ASCII
// strings, other numeric types, no link creation order. The reader converts all of it.
TEST_F(RunFile, ReadsFilesFromOtherWriters) {
  {
    H5::H5File f(path, H5F_ACC_TRUNC);
    auto fixed_attr = [](H5::H5Object& o, const char* name, const std::string& v) {
      H5::StrType t(H5::PredType::C_S1, v.empty() ? 1 : v.size());
      t.setStrpad(H5T_STR_NULLPAD);
      o.createAttribute(name, t, H5::DataSpace(H5S_SCALAR)).write(t, v);
    };
    fixed_attr(f, "format", "lorascape-run");
    int64_t version = 1;
    f.createAttribute("format_version", H5::PredType::STD_I64BE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &version);
    for (const char* a : {"software_version", "created", "command_line", "config_json",
                          "base_model", "base_model_digest"})
      fixed_attr(f, a, std::string("x-") + a);
    f.removeAttr("config_json");
    fixed_attr(f, "config_json", "{\"a\": 1}");
    int rank = 4;
    f.createAttribute("lora_rank", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT, &rank);
    float alpha = 8;
    f.createAttribute("lora_alpha", H5::PredType::IEEE_F32LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_FLOAT, &alpha);
    {
      H5::StrType t(H5::PredType::C_S1, 8);
      t.setStrpad(H5T_STR_NULLPAD);
      hsize_t n = 2;
      const char tasks[16] = {'z', 'e', 't', 'a', 0, 0, 0, 0, 'a', 'l', 'p', 'h', 'a', 0, 0, 0};
      f.createDataSet("tasks", t, H5::DataSpace(1, &n)).write(tasks, t);
      hsize_t zero = 0;
      f.createDataSet("lora_targets", t, H5::DataSpace(1, &zero));
    }
    H5::Group m = f.createGroup("methods").createGroup("seq");
    fixed_attr(m, "config_json", "");
    fixed_attr(m, "reported", "adapter");
    hsize_t d2[2] = {2, 2}, d1[1] = {2};
    const int R[4] = {1, 0, 1, 1};
    m.createGroup("R")
        .createDataSet("exact_match", H5::PredType::STD_I32LE, H5::DataSpace(2, d2))
        .write(R, H5::PredType::NATIVE_INT);
    const float base[2] = {0.25f, 0.5f};
    m.createGroup("base")
        .createDataSet("exact_match", H5::PredType::IEEE_F32LE, H5::DataSpace(1, d1))
        .write(base, H5::PredType::NATIVE_FLOAT);
    float op = 0.75f;
    m.createGroup("metrics")
        .createGroup("exact_match")
        .createAttribute("OP", H5::PredType::IEEE_F32BE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_FLOAT, &op);
    H5::Group s = m.createGroup("stages").createGroup("1");
    int one = 1;
    s.createAttribute("stage", H5::PredType::STD_U8LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT, &one);
    fixed_attr(s, "task", "alpha");
    H5::Group a = s.createGroup("adapter");
    const double w[4] = {1, 2, 3, 4};
    // Created out of name order; without creation-order tracking, name order is all we get.
    a.createDataSet("b", H5::PredType::IEEE_F64LE, H5::DataSpace(1, d1 + 0))
        .write(w, H5::PredType::NATIVE_DOUBLE);
    a.createDataSet("a", H5::PredType::IEEE_F64BE, H5::DataSpace(2, d2))
        .write(w, H5::PredType::NATIVE_DOUBLE);
    m.createGroup("snapshots");
  }
  const RunFileData d = read_run_file(path);
  EXPECT_EQ(d.tasks, (std::vector<std::string>{"zeta", "alpha"}));
  EXPECT_TRUE(d.lora_targets.empty());
  EXPECT_EQ(d.software_version, "x-software_version");
  EXPECT_EQ(d.config_json, "{\"a\": 1}");
  EXPECT_EQ(d.lora_rank, 4);
  EXPECT_EQ(d.lora_alpha, 8.0);
  ASSERT_EQ(d.methods.size(), 1u);
  const MethodData& m = d.methods[0];
  EXPECT_EQ(m.reported, "adapter");
  EXPECT_EQ(m.R.at("exact_match"), (std::vector<std::vector<double>>{{1, 0}, {1, 1}}));
  EXPECT_EQ(m.base.at("exact_match"), (std::vector<double>{0.25, 0.5}));
  EXPECT_EQ(m.metrics.at("exact_match").at("OP"), 0.75);
  EXPECT_TRUE(m.learners.empty());  // no learners group: no other learners
  ASSERT_EQ(m.stages.size(), 1u);
  EXPECT_EQ(m.stages[0].stage, 1);
  EXPECT_EQ(m.stages[0].task, "alpha");
  const auto& t = m.stages[0].adapters.at("adapter").tensors;
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t[0].values, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(t[1].name, "b");
  EXPECT_EQ(t[1].values, (std::vector<float>{1, 2}));
}

// Issue 18: a run file's LoRA setup out of range gave NaN or wrong scans; an empty dataset of
// shape (2^40, 0) made the reader build 2^40 empty rows. Both are refused when read.
TEST_F(RunFile, ReaderRejectsLoraSetupOutOfRangeAndHugeEmptyDatasets) {
  auto with_attr = [&](const char* name, const H5::PredType& type, const void* value) {
    write_run_file(path, sample_run());
    H5::H5File f(path, H5F_ACC_RDWR);
    f.removeAttr(name);
    f.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
  };
  for (int64_t rank : {int64_t{0}, int64_t{1} << 40, int64_t{-3}}) {
    with_attr("lora_rank", H5::PredType::NATIVE_INT64, &rank);
    const std::string msg = format_error([&] { read_run_file(path); });
    EXPECT_NE(msg.find("/lora_rank: is " + std::to_string(rank) + ", outside 1..65536"),
              std::string::npos)
        << msg;
  }
  for (double alpha : {-16.0, 0.0}) {
    with_attr("lora_alpha", H5::PredType::NATIVE_DOUBLE, &alpha);
    const std::string msg = format_error([&] { read_run_file(path); });
    EXPECT_NE(msg.find("/lora_alpha: is not a finite number > 0"), std::string::npos) << msg;
  }

  write_run_file(path, sample_run());
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group r = f.openGroup("/methods/seq/R");
    r.unlink("exact_match");
    hsize_t dims[2] = {hsize_t{1} << 40, 0};
    r.createDataSet("exact_match", H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims));
  }
  const std::string msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/methods/seq/R/exact_match: is empty but has a dimension of 1099511627776"),
            std::string::npos)
      << msg;
}
