// import-run and export-run end to end: a run trained here, exported as PEFT folders and
// imported again with --evaluate, has the same R (every score), metrics, stage adapters and line
// scans, bit for bit; without --evaluate it holds NaN scores that compare, plot and analyse-run
// handle; the LLMCL output layout; every bad input exits 2 with one line.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/import_run.h"
#include "core/adapter.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
namespace store = lorascape::store;
namespace analysis = lorascape::analysis;
using lorascape::test::CliResult;

namespace {

// A three-task tiny run (weekday, arith, upper) trained with seq and ilora, made once.
struct ThreeTaskRun {
  std::string h5, cache, config;
};
const ThreeTaskRun& three_task_run() {
  static const ThreeTaskRun run = [] {
    const std::string dir = lorascape::test::shared_fixture("import-run", [](const std::string& d) {
      std::string toml = lorascape::test::tiny_run_toml("", "[replay]\nbuffer = 16\n");
      const std::string two = "names = [\"weekday\", \"arith\"]";
      toml.replace(toml.find(two), two.size(), "names = [\"weekday\", \"arith\", \"upper\"]");
      std::ofstream(d + "/tiny.toml") << toml;
      for (const char* m : {"seq", "ilora"}) {
        const auto r = lorascape::test::run_cli(
            "-q train --config " + d + "/tiny.toml --method " + m + " --set out=" + d + "/run",
            d + "/cache");
        if (r.code != 0)
          throw std::runtime_error("training " + std::string(m) + " failed:\n" + r.out);
      }
    });
    return ThreeTaskRun{dir + "/run/run.h5", dir + "/cache", dir + "/tiny.toml"};
  }();
  return run;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same_matrices(const std::map<std::string, std::vector<std::vector<double>>>& a,
                          const std::map<std::string, std::vector<std::vector<double>>>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [score, R] : a) {
    ASSERT_TRUE(b.count(score)) << what << " " << score;
    ASSERT_EQ(R.size(), b.at(score).size()) << what << " " << score;
    for (size_t t = 0; t < R.size(); ++t)
      EXPECT_TRUE(lorascape::test::same_bits(R[t], b.at(score)[t]))
          << what << " " << score << " row " << t;
  }
}

void expect_same_metrics(const std::map<std::string, std::map<std::string, double>>& a,
                         const std::map<std::string, std::map<std::string, double>>& b,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [score, m] : a) {
    ASSERT_TRUE(b.count(score)) << what << " " << score;
    ASSERT_EQ(m.size(), b.at(score).size()) << what << " " << score;
    for (const auto& [name, v] : m)
      EXPECT_TRUE(same_bits(v, b.at(score).at(name))) << what << " " << score << " " << name;
  }
}

class Import : public ::testing::Test {
 protected:
  CliResult run(const std::string& args) {
    return lorascape::test::run_cli("-q " + args, src.cache);
  }
  // export-run of the three-task run into tmp/exp; returns the folder.
  std::string exported() {
    const std::string exp = tmp.file("exp");
    if (!fs::exists(exp)) {
      const auto r = run("export-run " + src.h5 + " --out " + exp);
      EXPECT_EQ(r.code, 0) << r.out;
    }
    return exp;
  }
  // The stage arguments of one method of the export, as its stages.json lists them.
  std::string stage_args(const std::string& exp, const std::string& method) {
    std::ifstream f(exp + "/stages.json");
    const auto j = nlohmann::json::parse(f);
    std::string args;
    for (const auto& m : j["methods"]) {
      if (m["name"] != method) continue;
      const bool several = m["keys"].size() > 1;
      for (const auto& st : m["stages"])
        for (const auto& [key, rel] : st["adapters"].items())
          args += " " + st["task"].get<std::string>() + (several ? "/" + key : "") + "=" + exp +
                  "/" + rel.get<std::string>();
    }
    return args;
  }
  // A one-line failure with exit code 2 that mentions `what`.
  void expect_refused(const std::string& args, const std::string& what) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_EQ(lorascape::test::count_lines(r.out), 1u) << r.out;
    EXPECT_NE(r.out.find("lorascape: error: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(what), std::string::npos) << "expected '" << what << "' in: " << r.out;
  }
  const ThreeTaskRun& src = three_task_run();
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
};

}  // namespace

TEST_F(Import, ExportImportRoundTripIsBitIdentical) {
  const std::string exp = exported();
  for (const char* f :
       {"stages.json", "README.txt", "config.toml", "seq/stage-03-upper/adapter_model.safetensors",
        "ilora/stage-02-arith/fast/adapter_config.json"})
    EXPECT_TRUE(fs::exists(exp + "/" + f)) << f;
  const std::string out = tmp.file("imported.h5");
  auto r = run("import-run --config " + exp + "/config.toml --method seq --evaluate --out " + out +
               stage_args(exp, "seq"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("import-run --config " + exp +
          "/config.toml --method ilora --reported slow --evaluate "
          "--out " +
          out + stage_args(exp, "ilora"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("added to"), std::string::npos) << r.out;

  const store::RunFileData a = store::read_run_file(src.h5), b = store::read_run_file(out);
  EXPECT_EQ(a.tasks, b.tasks);
  EXPECT_EQ(a.base_model, b.base_model);
  EXPECT_EQ(a.base_model_digest, b.base_model_digest);
  EXPECT_EQ(a.lora_rank, b.lora_rank);
  EXPECT_EQ(a.lora_alpha, b.lora_alpha);
  EXPECT_EQ(a.lora_targets, b.lora_targets);
  EXPECT_NE(b.command_line.find("import-run"), std::string::npos);
  ASSERT_EQ(b.methods.size(), 2u);
  for (const auto& mb : b.methods) {
    const store::MethodData* ma = a.find_method(mb.name);
    ASSERT_NE(ma, nullptr) << mb.name;
    EXPECT_EQ(ma->reported, mb.reported);
    expect_same_matrices(ma->R, mb.R, mb.name + " R");
    for (const auto& [score, row] : ma->base)
      EXPECT_TRUE(lorascape::test::same_bits(row, mb.base.at(score))) << mb.name << " " << score;
    expect_same_metrics(ma->metrics, mb.metrics, mb.name + " metrics");
    ASSERT_EQ(ma->learners.size(), mb.learners.size());
    for (const auto& [key, l] : ma->learners) {
      expect_same_matrices(l.R, mb.learners.at(key).R, mb.name + "/" + key + " R");
      expect_same_metrics(l.metrics, mb.learners.at(key).metrics, mb.name + "/" + key);
    }
    ASSERT_EQ(ma->stages.size(), mb.stages.size());
    for (size_t t = 0; t < ma->stages.size(); ++t)
      for (const auto& [key, ad] : ma->stages[t].adapters) {
        const auto& bd = mb.stages[t].adapters.at(key);
        ASSERT_EQ(ad.tensors.size(), bd.tensors.size());
        for (size_t e = 0; e < ad.tensors.size(); ++e) {
          EXPECT_EQ(ad.tensors[e].name, bd.tensors[e].name);
          EXPECT_EQ(ad.tensors[e].values, bd.tensors[e].values) << ad.tensors[e].name;
        }
      }
    EXPECT_FALSE(analysis::method_not_evaluated(mb.config_json));
    EXPECT_NE(mb.config_json.find("\"import\""), std::string::npos);
  }

  // The same line scans between stages, bit for bit.
  int n_scans = 0;
  for (const std::string& path :
       {std::string("seq/1 %s:seq/3"), std::string("ilora/2/fast %s:ilora/3/slow")}) {
    std::vector<store::ScanData> scans;
    for (const std::string& h5 : {src.h5, out}) {
      std::string to = path.substr(path.find(' ') + 1);
      to.replace(to.find("%s"), 2, h5);
      const std::string file = tmp.file("line-" + std::to_string(++n_scans) + ".h5");
      const auto s = run("scan line --from " + h5 + ":" + path.substr(0, path.find(' ')) +
                         " --to " + to + " -n 5 --out " + file);
      ASSERT_EQ(s.code, 0) << s.out;
      scans.push_back(store::read_scan_file(file));
    }
    EXPECT_TRUE(lorascape::test::same_bits(scans[0].values, scans[1].values)) << path;
  }
}

// Adapters whose config uses PEFT's per-module fields (rank_pattern, alpha_pattern, use_rslora)
// with the same ΔW as the run's stages: the imported run keeps the setup in its lora_config
// (format version 2), its R equals the original's to float rounding, and so does a line scan.
TEST_F(Import, PerModuleConfigsAreKeptAndApplied) {
  const std::string exp = exported();
  const store::RunFileData a = store::read_run_file(src.h5);
  const double s = a.lora_alpha / static_cast<double>(a.lora_rank);
  const auto R = static_cast<double>(a.lora_rank);
  std::string stages;
  for (size_t t = 0; t < a.tasks.size(); ++t) {
    char nn[64];
    std::snprintf(nn, sizeof nn, "/seq/stage-%02zu-%s", t + 1, a.tasks[t].c_str());
    const lorascape::core::PeftAdapter pa = lorascape::core::load_peft_adapter(exp + nn);
    // q_proj at rank 2R with [A; A], [B | B] and half the scale; the rest as stored; rsLoRA.
    std::vector<lorascape::core::Adapter::Entry> entries;
    for (const auto& [n, x] : pa.adapter.entries())
      entries.emplace_back(n,
                           n.find("q_proj") == std::string::npos
                               ? x
                               : at::cat({x, x}, n.find(".lora_A.") != std::string::npos ? 0 : 1));
    lorascape::core::LoraConfig lc = pa.lora;
    lc.rslora = true;
    lc.alpha = s * std::sqrt(R);
    lc.rank_pattern = {{"q_proj", 2 * a.lora_rank}};
    lc.alpha_pattern = {{"q_proj", s / 2 * std::sqrt(2 * R)}};
    const std::string dir = tmp.file("pattern-" + std::to_string(t));
    lorascape::core::save_peft_adapter(dir, lorascape::core::Adapter(entries), lc, pa.extra);
    stages += " " + a.tasks[t] + "=" + dir;
  }
  const std::string out = tmp.file("patterns.h5");
  const auto r = run("import-run --config " + exp + "/config.toml --method seq --evaluate --out " +
                     out + stages);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::RunFileData b = store::read_run_file(out);
  EXPECT_EQ(b.format_version, 2);
  const auto cfg = nlohmann::json::parse(b.lora_config);
  EXPECT_TRUE(cfg["use_rslora"].get<bool>());
  EXPECT_EQ(cfg["rank_pattern"]["q_proj"], 2 * a.lora_rank);
  const auto* ma = a.find_method("seq");
  const auto* mb = b.find_method("seq");
  ASSERT_NE(mb, nullptr);
  for (const auto& [score, rows] : ma->R)
    for (size_t t = 0; t < rows.size(); ++t)
      for (size_t i = 0; i < rows[t].size(); ++i)
        EXPECT_NEAR(mb->R.at(score)[t][i], rows[t][i], 1e-4) << score << " " << t << " " << i;
  // Files of lorascape's own setups stay version 1.
  EXPECT_EQ(a.format_version, 1);
  EXPECT_TRUE(a.lora_config.empty());
  // A line between imported stages equals the original's (factors space: both ends share the
  // per-module setup), to float rounding.
  std::vector<store::ScanData> scans;
  for (const std::string& h5 : {src.h5, out}) {
    const std::string file = tmp.file("pline-" + std::to_string(scans.size()) + ".h5");
    const auto sc =
        run("scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/3 -n 4 --out " + file);
    ASSERT_EQ(sc.code, 0) << sc.out;
    scans.push_back(store::read_scan_file(file));
  }
  ASSERT_EQ(scans[0].values.size(), scans[1].values.size());
  for (size_t k = 0; k < scans[0].values.size(); ++k)
    EXPECT_NEAR(scans[1].values[k], scans[0].values[k], 1e-4 * (1 + std::abs(scans[0].values[k])));
}

TEST_F(Import, WithoutEvaluateHoldsNaNThatTheToolsHandle) {
  const std::string exp = exported();
  const std::string out = tmp.file("adapters-only.h5");
  auto r = run("import-run --config " + exp + "/config.toml --out " + out + stage_args(exp, "seq"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not evaluated"), std::string::npos) << r.out;
  const store::RunFileData d = store::read_run_file(out);
  ASSERT_EQ(d.methods.size(), 1u);
  const auto& m = d.methods[0];
  EXPECT_EQ(m.name, "imported");
  EXPECT_TRUE(analysis::method_not_evaluated(m.config_json));
  for (const char* score : {"exact_match", "token_acc", "loss"}) {
    for (const auto& row : m.R.at(score))
      for (double x : row) EXPECT_TRUE(std::isnan(x)) << score;
    for (double x : m.base.at(score)) EXPECT_TRUE(std::isnan(x)) << score;
    for (const auto& [name, v] : m.metrics.at(score)) EXPECT_TRUE(std::isnan(v)) << name;
  }
  ASSERT_EQ(m.stages.size(), 3u);

  r = run("compare " + out);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not evaluated"), std::string::npos) << r.out;
  r = run("analyse-run " + out + " --points 3 -o " + tmp.file("analysis"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(tmp.file("analysis/summary.txt"))) << r.out;
  for (const char* view : {"matrix", "stability"}) {
    r = run(std::string("plot ") + out + " --view " + view + " --out " + tmp.file(view) + ".png");
    if (r.code == 2 && r.out.find("GUI") != std::string::npos) break;  // built without Qt
    EXPECT_EQ(r.code, 0) << view << ": " << r.out;
  }
  // An export of the adapters-only run says so in its manifest.
  r = run("export-run " + out + " --out " + tmp.file("exp2"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(tmp.file("exp2/stages.json"));
  EXPECT_FALSE(nlohmann::json::parse(f)["methods"][0]["evaluated"].get<bool>());
}

TEST_F(Import, LlmclOutputFolder) {
  const std::string exp = exported();
  // LLMCL's --output_dir after three tasks (method/BaseTrainerCL.py, after_task_end): lora_T.pt
  // (a pickle, here a stand-in), lora_T/adapter_config.json (no lorascape section: PEFT's own),
  // tokenizer_T/; the weights converted to lora_T/adapter_model.safetensors.
  const fs::path llmcl = tmp.path() / "outputs-seq";
  const std::vector<std::string> tasks{"weekday", "arith", "upper"};
  const auto t0 = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const std::string& t = tasks[i];
    const fs::path from = fs::path(exp) / "seq" / ("stage-0" + std::to_string(i + 1) + "-" + t);
    fs::create_directories(llmcl / ("lora_" + t));
    fs::create_directories(llmcl / ("tokenizer_" + t));
    fs::copy_file(from / "adapter_model.safetensors",
                  llmcl / ("lora_" + t) / "adapter_model.safetensors");
    std::ifstream in(from / "adapter_config.json");
    auto cfg = nlohmann::json::parse(in);
    cfg.erase("lorascape");
    std::ofstream(llmcl / ("lora_" + t) / "adapter_config.json") << cfg.dump(2);
    std::ofstream(llmcl / ("lora_" + t + ".pt")) << "not really a pickle";
    // Written one after the other, in an order unlike the names'.
    fs::last_write_time(llmcl / ("lora_" + t + ".pt"), t0 + std::chrono::minutes(i));
  }
  // A config-only folder of another adapter (LLMCL saves no weights for it): ignored.
  fs::create_directories(llmcl / "lora_arith_ema");
  fs::copy_file(llmcl / "lora_arith" / "adapter_config.json",
                llmcl / "lora_arith_ema" / "adapter_config.json");

  std::string base;
  for (const auto& e : fs::directory_iterator(src.cache))
    if (e.path().extension() == ".safetensors") base = e.path().string();
  ASSERT_FALSE(base.empty());
  const std::string out = tmp.file("llmcl.h5");
  // Without --base the folder does not say which model the adapters belong to.
  expect_refused("import-run --config " + exp + "/config.toml --layout llmcl " + llmcl.string() +
                     " --out " + out,
                 "names no lorascape base model");
  auto r =
      run("import-run --config " + exp + "/config.toml --method seq --evaluate --layout llmcl " +
          llmcl.string() + " --base " + base + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("modification times"), std::string::npos) << r.out;
  const store::RunFileData a = store::read_run_file(src.h5), b = store::read_run_file(out);
  EXPECT_EQ(b.tasks, tasks);
  expect_same_matrices(a.find_method("seq")->R, b.find_method("seq")->R, "llmcl R");
  EXPECT_EQ(b.methods[0].stages[0].adapters.size(), 1u);  // lora_arith_ema/ ignored
  EXPECT_NE(b.methods[0].config_json.find("llmcl"), std::string::npos);

  // --order (LLMCL's --dataset_names) wins over the times; it must name the folder's tasks.
  r = run("import-run --config " + exp + "/config.toml --layout llmcl " + llmcl.string() +
          " --order upper,arith,weekday --base " + base + " --out " + tmp.file("order.h5"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(store::read_run_file(tmp.file("order.h5")).tasks,
            (std::vector<std::string>{"upper", "arith", "weekday"}));
  expect_refused("import-run --layout llmcl " + llmcl.string() + " --order arith,topic --base " +
                     base + " --out " + tmp.file("x.h5"),
                 "task 'topic' has no lora_topic");
  // Equal times: the order is unknown.
  fs::last_write_time(llmcl / "lora_upper.pt", t0);
  expect_refused("import-run --layout llmcl " + llmcl.string() + " --base " + base + " --out " +
                     tmp.file("x.h5"),
                 "set --order");
  // A task whose weights are still only LLMCL's pickle.
  fs::remove(llmcl / "lora_upper" / "adapter_model.safetensors");
  expect_refused("import-run --layout llmcl " + llmcl.string() +
                     " --order weekday,arith,upper "
                     "--base " +
                     base + " --out " + tmp.file("x.h5"),
                 "can run arbitrary code");
  EXPECT_FALSE(fs::exists(tmp.file("x.h5")));
}

TEST_F(Import, BadInputsExitTwoWithOneLine) {
  const std::string exp = exported();
  const std::string cfg = " --config " + exp + "/config.toml";
  const std::string w = " weekday=" + exp + "/seq/stage-01-weekday";
  const std::string a = " arith=" + exp + "/seq/stage-02-arith";
  const std::string out = " --out " + tmp.file("bad.h5");
  expect_refused("import-run" + cfg + out + w + " arith=" + tmp.file("missing"),
                 "stage 'arith': " + tmp.file("missing") + ": no such folder");
  expect_refused("import-run" + cfg + out + w + a + " weekday=" + exp + "/seq/stage-03-upper",
                 "task 'weekday' named twice");
  expect_refused("import-run" + cfg + out + w + " nosuchtask=" + exp + "/seq/stage-02-arith",
                 "nosuchtask");
  expect_refused("import-run" + cfg + out + " weekday", "expected TASK=DIR");
  expect_refused("import-run" + cfg + out + " --layout nosuch " + exp, "unknown layout");
  expect_refused("import-run" + cfg + out + " --layout llmcl " + exp, "no lora_<task>.pt");
  expect_refused("import-run" + cfg + out + " --layout llmcl " + tmp.file("nowhere"),
                 "no such folder");

  // A pickle adapter (PEFT's legacy adapter_model.bin, no safetensors).
  const fs::path pk = tmp.path() / "pickle";
  fs::create_directories(pk);
  fs::copy_file(fs::path(exp) / "seq/stage-02-arith/adapter_config.json",
                pk / "adapter_config.json");
  std::ofstream(pk / "adapter_model.bin") << "pickle";
  expect_refused("import-run" + cfg + out + w + " arith=" + pk.string(), "save_file");
  expect_refused("import-run" + cfg + out + w + " arith=" + pk.string(), "safe_serialization=True");

  // Adapters for another model: the digest the adapter records, other hidden sizes, another
  // LoRA setup.
  namespace core = lorascape::core;
  const core::PeftAdapter good = core::load_peft_adapter(exp + "/seq/stage-02-arith");
  auto other = good.extra;
  other["base_model_digest"] = "0123456789abcdef";
  core::save_peft_adapter(tmp.file("other-base"), good.adapter, good.lora, other);
  expect_refused("import-run" + cfg + out + w + " arith=" + tmp.file("other-base"),
                 "digest 0123456789abcdef");
  std::vector<core::Adapter::Entry> wide;
  for (const auto& [name, t] : good.adapter.entries()) {
    const bool is_a = name.find("lora_A") != std::string::npos;
    wide.emplace_back(name, is_a ? at::zeros({t.size(0), t.size(1) + 16})
                                 : at::zeros({t.size(0) + 16, t.size(1)}));
  }
  auto no_digest = good.extra;
  no_digest.erase("base_model_digest");
  core::save_peft_adapter(tmp.file("wide"), core::Adapter(wide), good.lora, no_digest);
  expect_refused("import-run" + cfg + out + w + " arith=" + tmp.file("wide"),
                 "but the model expects");
  std::vector<core::Adapter::Entry> narrow;
  for (const auto& [name, t] : good.adapter.entries()) {
    const bool is_a = name.find("lora_A") != std::string::npos;
    narrow.emplace_back(name, is_a ? t.slice(0, 0, 4).clone() : t.slice(1, 0, 4).clone());
  }
  core::LoraConfig r4 = good.lora;
  r4.rank = 4;
  core::save_peft_adapter(tmp.file("rank4"), core::Adapter(narrow), r4, good.extra);
  expect_refused("import-run" + cfg + out + w + " arith=" + tmp.file("rank4"),
                 "stage 'arith' (" + tmp.file("rank4") + "): its LoRA setup differs");
  EXPECT_FALSE(fs::exists(tmp.file("bad.h5")));

  // An existing run file: another task sequence, or a method it has, is refused; a new method of
  // the same tasks is added (ExportImportRoundTripIsBitIdentical).
  expect_refused("import-run" + cfg + " --out " + src.h5 + w + a, "holds a run of other tasks");
  expect_refused("import-run" + cfg + " --method seq --out " + src.h5 + w + a + " upper=" + exp +
                     "/seq/stage-03-upper",
                 "already holds method 'seq'");
  // export-run never writes into a folder that is not empty.
  expect_refused("export-run " + src.h5 + " --out " + exp, "--force");
  const auto r = run("export-run " + src.h5 + " --out " + exp + " --force");
  EXPECT_EQ(r.code, 0) << r.out;
}

// merge-runs: methods trained into separate run files become one run file whose methods are
// the inputs' bit for bit; runs of another experiment (seed, tasks), repeated methods and
// an existing or input --out are refused with one line, leaving --out as it was.
TEST_F(Import, MergeRunsJoinsMethodsOfOneExperiment) {
  const std::string cfg = tmp.write("tiny.toml", lorascape::test::tiny_run_toml("", ""));
  auto train = [&](const std::string& method, const std::string& out, const std::string& extra) {
    const auto r =
        run("train --config " + cfg + " --method " + method + " --set out=" + out + extra);
    ASSERT_EQ(r.code, 0) << r.out;
  };
  const std::string a = tmp.file("a"), b = tmp.file("b"), c = tmp.file("c"), m = tmp.file("m.h5");
  train("seq", a, "");
  train("one", b, "");
  // Another seed on the same base model (by default the seed also pretrains another one).
  train("one", c,
        " --set seed=2 --set base=" + src.cache + "/" +
            store::read_run_file(a + "/run.h5").base_model);
  auto r = run("merge-runs " + a + "/run.h5 " + b + "/run.h5 --out " + m);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::RunFileData got = store::read_run_file(m);
  ASSERT_EQ(got.methods.size(), 2u);
  for (const auto& [dir, name] : {std::pair{a, "seq"}, std::pair{b, "one"}}) {
    const store::RunFileData in = store::read_run_file(dir + "/run.h5");
    const store::MethodData* x = got.find_method(name);
    const store::MethodData* y = in.find_method(name);
    ASSERT_TRUE(x && y) << name;
    expect_same_matrices(x->R, y->R, name);
    expect_same_metrics(x->metrics, y->metrics, name);
    EXPECT_EQ(x->config_json, y->config_json);
    ASSERT_EQ(x->stages.size(), y->stages.size());
    for (size_t s = 0; s < x->stages.size(); ++s)
      for (const auto& [key, ad] : y->stages[s].adapters) {
        const auto& mine = x->stages[s].adapters.at(key).tensors;
        ASSERT_EQ(mine.size(), ad.tensors.size());
        for (size_t e = 0; e < ad.tensors.size(); ++e) {
          EXPECT_EQ(mine[e].name, ad.tensors[e].name);
          EXPECT_EQ(std::memcmp(mine[e].values.data(), ad.tensors[e].values.data(),
                                ad.tensors[e].values.size() * sizeof(float)),
                    0);
        }
      }
  }
  EXPECT_NE(got.command_line.find("merge-runs"), std::string::npos);
  // A merged run is a run: lines between its methods' stages.
  r = run("scan line --from " + m + ":seq/1 --to " + m + ":one/2 -n 3 --out " + tmp.file("l.h5"));
  EXPECT_EQ(r.code, 0) << r.out;

  const std::string before = lorascape::test::slurp(m);
  expect_refused("merge-runs " + a + "/run.h5 " + b + "/run.h5 --out " + m, "add --force");
  expect_refused("merge-runs " + a + "/run.h5 " + c + "/run.h5 --out " + tmp.file("x.h5"),
                 "the seed differs");
  expect_refused("merge-runs " + a + "/run.h5 " + a + "/run.h5 --out " + tmp.file("x.h5"),
                 "method 'seq' is already");
  expect_refused("merge-runs " + m + " " + c + "/run.h5 --out " + m + " --force",
                 "is one of the inputs");
  expect_refused("merge-runs " + a + "/run.h5 " + src.h5 + " --out " + tmp.file("x.h5"),
                 "the task sequence differs");
  expect_refused("merge-runs " + a + "/run.h5 --out " + tmp.file("x.h5"), "at least two");
  EXPECT_EQ(lorascape::test::slurp(m), before);
  EXPECT_FALSE(fs::exists(tmp.file("x.h5")));
  r = run("merge-runs " + a + "/run.h5 " + b + "/run.h5 --out " + m + " --force");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(ImportUnit, StageSpecsAndLoraDifference) {
  const auto s = analysis::parse_import_stage("arith/fast=out/a=b", "adapter");
  EXPECT_EQ(s.task, "arith");
  EXPECT_EQ(s.key, "fast");
  EXPECT_EQ(s.dir, "out/a=b");
  EXPECT_EQ(analysis::parse_import_stage("arith=d", "slow").key, "slow");
  EXPECT_THROW(analysis::parse_import_stage("=d", "adapter"), lorascape::ConfigError);
  EXPECT_THROW(analysis::parse_import_stage("a/b/c=d", "adapter"), lorascape::ConfigError);
  lorascape::core::LoraConfig x, y;
  EXPECT_EQ(analysis::lora_difference(x, y), "");
  y.targets = {"v_proj", "q_proj"};
  x.targets = {"q_proj", "v_proj"};
  EXPECT_EQ(analysis::lora_difference(x, y), "");
  y.rank = 4;
  y.alpha = 8;
  EXPECT_EQ(analysis::lora_difference(x, y), "r 8 vs 4, lora_alpha 16 vs 8");
  // PEFT's per-module fields count; dropout does not change the arithmetic.
  lorascape::core::LoraConfig z = x;
  z.dropout = 0.1;
  EXPECT_EQ(analysis::lora_difference(x, z), "");
  z.rslora = true;
  EXPECT_NE(analysis::lora_difference(x, z).find("use_rslora"), std::string::npos);
}
