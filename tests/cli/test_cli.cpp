// End-to-end CLI behaviour: bad input gives exit code 2 and a one-line message; help and
// listings work; a tiny train run writes its folder and can be evaluated again; the benchmarks
// print their JSON line.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
namespace store = lorascape::store;

namespace {
using Result = lorascape::test::CliResult;
Result run(const std::string& args, const std::string& cache) {
  return lorascape::test::run_cli(args, cache);
}
size_t lines(const std::string& s) {
  return lorascape::test::count_lines(s);
}

class Cli : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    return tmp.write(name, text);
  }
  // A one-layer model, two short tasks, three steps per task: seconds per run.
  std::string tiny_config() {
    return write("tiny.toml", lorascape::test::tiny_run_toml("", "[replay]\nbuffer = 16\n"));
  }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const fs::path& dir = tmp.path();
  const std::string cache = tmp.file("cache");
};
}  // namespace

TEST_F(Cli, BadConfigExitsTwoWithOneLine) {
  const auto cfg = write("bad.toml", "[train]\nlearning_rate = 0.1\n");
  Result r = run("train --config " + cfg, cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("train.learning_rate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bad.toml"), std::string::npos) << r.out;
}

TEST_F(Cli, BadValuesAndMissingFilesExitTwo) {
  const auto cfg = write("ok.toml", "");
  Result r = run("train --config " + cfg + " --set train.schedule=wobbly", cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  r = run("train --config " + cfg + " --set tasks.names=nosuchtask", cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("nosuchtask"), std::string::npos) << r.out;
  r = run("train --config " + cfg + " --set tasks.source=" + (dir / "nodata").string(), cache);
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("train --config " + (dir / "absent.toml").string(), cache);
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("eval --adapter " + (dir / "absent").string(), cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  r = run("frobnicate", cache);
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST_F(Cli, HelpListsCommandsAndConfigListsKeys) {
  Result r = run("--help", cache);
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"doctor", "tasks", "pretrain", "train", "eval", "generate", "demo"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  r = run("config", cache);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("train.lr"), std::string::npos);
  r = run("tasks", cache);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("weekday"), std::string::npos);
  EXPECT_NE(r.out.find("Variants"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extract-places"), std::string::npos) << r.out;
}

TEST_F(Cli, DoctorReportsTheBlasAndTheGemm) {
  const Result r = run("doctor", cache);
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* line : {"LibTorch", "threads", "matmul 1024²", "BLAS", "own GEMM"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
}

TEST_F(Cli, TinyTrainRunWritesFolderAndEvalReproducesIt) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "run").string();
  Result r = run("-q train --config " + cfg + " --set out=" + out, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("R[t][i]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BWT"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "results.json"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "config.toml"));
  const auto ad = fs::path(out) / "adapters" / "seq" / "stage-02-arith";
  EXPECT_TRUE(fs::exists(fs::path(out) / "run.h5"));
  EXPECT_TRUE(fs::exists(ad / "adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(ad / "adapter_config.json"));
  // The resolved config reloads and eval finds the cached base model by itself.
  r = run("eval --config " + (fs::path(out) / "config.toml").string() + " --adapter " + ad.string(),
          cache);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("arith"), std::string::npos) << r.out;
  r = run("generate --adapter " + ad.string() + " --prompt 'weekday: mon+1'", cache);
  EXPECT_EQ(r.code, 0) << r.out;
  // A damaged adapter is a clean error, not a crash.
  std::ofstream(ad / "adapter_model.safetensors", std::ios::trunc) << "garbage";
  r = run("eval --config " + (fs::path(out) / "config.toml").string() + " --adapter " + ad.string(),
          cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
}

TEST_F(Cli, TwoMethodsShareOneRunFileAndCompareExportWork) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "run").string();
  ASSERT_EQ(run("-q train --config " + cfg + " --set out=" + out, cache).code, 0);
  Result r = run("-q train --config " + cfg + " --set out=" + out + " --method er", cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string h5 = out + "/run.h5";
  const std::string csv = (dir / "m.csv").string();
  r = run("compare " + h5 + " --csv " + csv, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(csv);
  std::string header, seq, er, extra;
  std::getline(f, header);
  std::getline(f, seq);
  std::getline(f, er);
  EXPECT_EQ(header, "method,OP,BWT,FWT,forgetting,plasticity,stability");
  EXPECT_EQ(seq.rfind("seq,", 0), 0u) << seq;
  EXPECT_EQ(er.rfind("er,", 0), 0u) << er;
  EXPECT_FALSE(std::getline(f, extra) && !extra.empty());
  // Several files (seeds): mean ± sd per method; the same file twice has sd 0 and n = 2.
  r = run("compare " + h5 + " " + h5, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("mean ± sd"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("±0.0000"), std::string::npos) << r.out;
  const std::string er_row = r.out.substr(r.out.find("\ner "));
  EXPECT_EQ(er_row.substr(1, er_row.find('\n', 1) - 1).back(), '2') << er_row;
  // Export stage 2 of er by task name; it equals the PEFT folder written during training.
  const std::string exp = (dir / "exported").string();
  r = run("export-adapter " + h5 + ":er/arith --out " + exp, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream a(exp + "/adapter_model.safetensors", std::ios::binary);
  std::ifstream b(out + "/adapters/er/stage-02-arith/adapter_model.safetensors", std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(a)), {}),
      sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_FALSE(sa.empty());
  EXPECT_EQ(sa, sb) << "the run file keeps the adapter bit-identically";
  r = run("eval --config " + out + "/config.toml --adapter " + exp, cache);
  EXPECT_EQ(r.code, 0) << r.out;
  // Bad references are one-line errors with exit code 2.
  for (const std::string& bad : std::vector<std::string>{
           h5 + ":nope/1", h5 + ":er/9", h5 + "-no-method", (dir / "x.h5").string() + ":seq/1"}) {
    r = run("export-adapter " + bad + " --out " + (dir / "bad").string(), cache);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1u) << r.out;
  }
  std::ofstream(dir / "notes.h5") << "not hdf5";
  r = run("compare " + (dir / "notes.h5").string(), cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
}

TEST_F(Cli, TwoLearnerAndGrowingRankMethodsRoundTripThroughTheRunFile) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "run").string();
  Result r = run("-q train --config " + cfg + " --set out=" + out + " --method ilora", cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("learner fast"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("slow  (reported)"), std::string::npos) << r.out;
  for (const char* key : {"fast", "slow"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "adapters/ilora/stage-02-arith" / key /
                           "adapter_model.safetensors"))
        << key;
  ASSERT_EQ(run("-q train --config " + cfg + " --set out=" + out + " --method olora", cache).code,
            0);
  const std::string h5 = out + "/run.h5";
  r = run("compare " + h5, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* row : {"\nilora ", "\nilora/fast ", "\nolora "})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << r.out;
  // Both I-LoRA learners export; the slow one is the default (reported) adapter.
  r = run("export-adapter " + h5 + ":ilora/2 --out " + (dir / "slow").string(), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("adapter slow"), std::string::npos) << r.out;
  ASSERT_EQ(
      run("export-adapter " + h5 + ":ilora/2/fast --out " + (dir / "fast").string(), cache).code,
      0);
  // O-LoRA's stored adapter has rank T·r = 16 with alpha scaled, and evaluates like the run.
  r = run("export-adapter " + h5 + ":olora/2 --out " + (dir / "olora").string(), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream c(dir / "olora/adapter_config.json");
  const std::string conf((std::istreambuf_iterator<char>(c)), {});
  EXPECT_NE(conf.find("\"r\": 16"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\"lora_alpha\": 32.0"), std::string::npos) << conf;
  r = run("eval --config " + out + "/config.toml --adapter " + (dir / "olora").string(), cache);
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(Cli, DemoTrainsThreeMethodsAndPrintsTheComparison) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "demo").string();
  Result r = run("-q demo --config " + cfg + " --out " + out +
                     " --set train.steps=2 --set tasks.names=weekday,arith",
                 cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto cmp = r.out.substr(r.out.find("== comparison =="));
  for (const char* row : {"\nseq ", "\ner ", "\nilora ", "\nilora/fast "})
    EXPECT_NE(cmp.find(row), std::string::npos) << row << cmp;
  EXPECT_TRUE(fs::exists(fs::path(out) / "compare.csv"));
  // The mode-connectivity part: consecutive-stage lines of seq and ilora, a curve, a plane.
  for (const char* f : {"seq-1-2.h5", "ilora-1-2.h5", "curve-seq-1-2.h5", "plane-curve-seq-1-2.h5",
                        "plane-final.h5", "summary.txt"})
    EXPECT_TRUE(fs::exists(fs::path(out) / "analysis" / f)) << f;
  for (const char* text : {"== mode connectivity", "best t(avg)", "Bezier curve",
                           "curve-vs-line plane", "Plane through"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << r.out;
}

TEST_F(Cli, AGivenBaseModelFileDefinesTheRecordedModel) {
  const auto cfg =
      write("tiny.toml",
            "threads = 1\n[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\nd_ff = 64\n"
            "[pretrain]\nsteps = 3\ncorpus_lines = 50\n");
  const std::string base = (dir / "base.safetensors").string();
  Result r = run("-q pretrain --config " + cfg + " --out " + base, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  // Default [model] section (d_model 128), but the file is what gets trained and recorded.
  const std::string out = (dir / "run").string();
  const auto empty = write("empty.toml", "");
  r = run("-q train --config " + empty + " --set base=" + base + " --set out=" + out +
              " --set tasks.names=weekday --set tasks.train=16 --set train.steps=2 --set threads=1"
              " --set eval.max_examples=4",
          cache);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(out + "/config.toml");
  const std::string toml((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(toml.find("d_model = 32"), std::string::npos) << toml;
  r = run("-q train --config " + empty + " --set base=" + (dir / "missing.safetensors").string(),
          cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
}

using lorascape::test::same_bits;
using lorascape::test::slurp;

TEST_F(Cli, LineScanResumesRefusesAnotherScanAndMergesShards) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "run").string();
  ASSERT_EQ(run("-q train --config " + cfg + " --set out=" + out, cache).code, 0);
  const std::string h5 = out + "/run.h5";
  const std::string line = "-q scan line --from " + h5 + ":seq/1 --to " + h5 +
                           ":seq/2 -n 5 --range -0.5,1.5 --union weekday,arith";
  const std::string full = (dir / "full.h5").string();
  Result r = run(line + " --out " + full, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("5 of 5 points done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("loss barrier"), std::string::npos) << r.out;
  const store::ScanData d = store::read_scan_file(full);
  EXPECT_EQ(d.spec.tasks, (std::vector<std::string>{"weekday", "arith", "union"}));
  EXPECT_EQ(d.spec.axes.at(0), (std::vector<double>{-0.5, 0, 0.5, 1, 1.5}));
  ASSERT_TRUE(d.complete());
  ASSERT_TRUE(d.extras.count("barrier"));
  for (size_t t = 0; t < 3; ++t)
    EXPECT_GE(d.extras.at("barrier").values[t * 3], 0.0) << "loss barrier is >= 0";
  // Rerunning the finished scan computes nothing and leaves the file untouched.
  const std::string before = slurp(full);
  r = run(line + " --out " + full, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(slurp(full), before);
  // Another scan into the same file is refused with one line, and the file is kept.
  r = run("-q scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 7 --out " + full, cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  EXPECT_EQ(slurp(full), before);
  // Two shards merge into the single-process result, bit for bit.
  const std::string s1 = (dir / "s1.h5").string(), s2 = (dir / "s2.h5").string(),
                    merged = (dir / "m.h5").string();
  ASSERT_EQ(run(line + " --shard 1/2 --out " + s1, cache).code, 0);
  r = run("merge " + s1 + " --out " + merged, cache);
  EXPECT_EQ(r.code, 2) << "a missing shard is refused: " << r.out;
  ASSERT_EQ(run(line + " --shard 2/2 --out " + s2, cache).code, 0);
  r = run("merge " + s1 + " " + s2 + " --out " + merged, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData m = store::read_scan_file(merged);
  EXPECT_TRUE(same_bits(m.values, d.values));
  EXPECT_EQ(m.done, d.done);
  EXPECT_TRUE(same_bits(m.extras.at("barrier").values, d.extras.at("barrier").values));
  // Delta space works too (rank-2r points) and agrees with factors at the endpoints.
  const std::string delta = (dir / "delta.h5").string();
  ASSERT_EQ(run(line + " --space delta --out " + delta, cache).code, 0);
  const store::ScanData dd = store::read_scan_file(delta);
  for (size_t p : {1u, 3u})
    for (size_t k = 0; k < 9; ++k)
      EXPECT_NEAR(dd.values[p * 9 + k], d.values[p * 9 + k], 1e-4) << p << " " << k;
  // … and differs from it in the middle (t = 0.5), where the factor path is quadratic in t.
  EXPECT_GT(std::abs(dd.values[2 * 9] - d.values[2 * 9]), 1e-6);
}

TEST_F(Cli, KilledLineScanResumesToTheUninterruptedArrays) {
  const auto cfg = tiny_config();
  const std::string out = (dir / "run").string();
  ASSERT_EQ(run("-q train --config " + cfg + " --set out=" + out, cache).code, 0);
  const std::string h5 = out + "/run.h5";
  const std::string line =
      "-q scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 150 --range -1,2";
  const std::string ref = (dir / "ref.h5").string(), killed = (dir / "killed.h5").string();
  ASSERT_EQ(run(line + " --out " + ref, cache).code, 0);
  const store::ScanData want = store::read_scan_file(ref);
  int kills = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string cmd = "LORASCAPE_CACHE='" + cache + "' exec '" + std::string(LORASCAPE_CLI) +
                            "' " + line + " --out " + killed + " > /dev/null 2>&1";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Kill it once it has flushed some points but not all.
    bool killed_midway = false;
    for (int i = 0; i < 4000 && !killed_midway; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      try {
        const store::ScanData now = store::read_scan_file(killed);
        if (now.num_done() > 0 && !now.complete()) {
          kill(pid, SIGKILL);
          killed_midway = true;
        } else if (now.complete()) {
          break;
        }
      } catch (const std::exception&) {  // not written yet
      }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    kills += killed_midway;
    if (!killed_midway) break;
  }
  EXPECT_GE(kills, 1) << "the scan finished before it could be killed";
  // The same command resumes and completes; the arrays equal the uninterrupted scan's.
  Result r = run(line + " --out " + killed, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData got = store::read_scan_file(killed);
  ASSERT_TRUE(got.complete());
  EXPECT_TRUE(same_bits(got.values, want.values));
  EXPECT_TRUE(same_bits(got.extras.at("barrier").values, want.extras.at("barrier").values));
}

TEST_F(Cli, BenchmarksPrintOneJsonLineAndRefuseBadInput) {
  const std::string small =
      " --d-model 32 --layers 1 --heads 2 --ffn 64 --seq-len 16 --batch 4 --threads 1";
  auto json_of = [&](const std::string& args) {
    const Result r = run(args + small, cache);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    std::string last;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) last = line;
    return nlohmann::json::parse(last);
  };
  const auto merged = json_of("bench scan --points 3 --eval-seqs 8");
  for (const char* key : {"points_per_s", "tokens_per_s", "gflops", "seconds", "threads", "blas"})
    EXPECT_TRUE(merged.contains(key)) << key;
  EXPECT_EQ(merged.at("points").get<int>(), 3);
  EXPECT_GT(merged.at("points_per_s").get<double>(), 0);
  // The merged per-point weights with the fused CPU path against the LoRA side path, one
  // point at a time: the same losses at both ends of the line.
  const auto side = json_of("bench scan --points 3 --eval-seqs 8 --mode sidepath");
  for (const char* key : {"loss_t0", "loss_t1"})
    EXPECT_NEAR(merged.at(key).get<double>(), side.at(key).get<double>(),
                1e-5 * side.at(key).get<double>())
        << key;
  const auto train = json_of("bench train --steps 2");
  EXPECT_GT(train.at("train_tokens_per_s").get<double>(), 0);
  EXPECT_TRUE(std::isfinite(train.at("final_loss").get<double>()));
  // lorascape's own GEMM (on AVX-512 CPUs) against the BLAS alone: the same losses.
  const auto blas = json_of("bench scan --points 3 --eval-seqs 8 --gemm blas");
  EXPECT_EQ(blas.at("gemm"), "blas");
  for (const char* key : {"loss_t0", "loss_t1"})
    EXPECT_NEAR(merged.at(key).get<double>(), blas.at(key).get<double>(),
                1e-5 * blas.at(key).get<double>())
        << key;
  const auto gemm = json_of("bench gemm");
  // 1024³, 2048³ and the model's GEMM by the BLAS, and the model's by lorascape's where it runs.
  EXPECT_EQ(gemm.at("shapes").size(), gemm.at("gemm") == "blas" ? 3u : 4u);
  EXPECT_GT(gemm.at("gemm_peak_gflops").get<double>(), 0);
  EXPECT_GT(gemm.at("model_gemm_gflops").get<double>(), 0);
  // Reading a run file: one adapter reference loads one adapter's tensors (14 per layer: A and
  // B of seven projections), the layout none, the whole read all 3 adapters of each stage.
  const auto rf = json_of("bench run-file --stages 3");
  EXPECT_EQ(rf.at("adapters").get<int>(), 9);
  EXPECT_EQ(rf.at("adapter_ref_tensors").get<int>(), 14);
  EXPECT_EQ(rf.at("read_layout_mb").get<double>(), 0.0);
  EXPECT_NEAR(rf.at("read_all_mb").get<double>(), 9 * rf.at("adapter_mb").get<double>(), 1e-9);
  // A+B of q, k, v, o (32·8 + 8·32 each) and gate, up, down (32·8 + 8·64 or 64·8 + 8·32),
  // float32: (4 · 512 + 3 · 768) · 4 bytes.
  EXPECT_NEAR(rf.at("adapter_mb").get<double>(), (4 * 512 + 3 * 768) * 4 / 1e6, 1e-12);
  const std::string kept = tmp.file("bench-run.h5");
  json_of("bench run-file --stages 2 --out " + kept);
  EXPECT_TRUE(fs::exists(kept));  // --out keeps the file; without it the temporary file goes
  for (const char* bad :
       {"bench scan --points 0", "bench gemm --ffn 0", "bench train --dtype float16",
        "bench scan --heads 3", "bench gemm --gemm mkl", "bench run-file --stages 0",
        "bench run-file --hf-shape gpt2"}) {
    const Result r = run(std::string(bad), cache);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1u) << bad << "\n" << r.out;
  }
}
