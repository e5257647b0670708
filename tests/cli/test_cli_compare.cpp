// `lorascape compare` over several run files: mean, sd, the Student-t confidence interval and,
// with --baseline, the paired difference, its interval and the paired t-test, against numbers
// computed here from the R matrices of the files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "store/run_file.h"
#include "store/sweep_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

using namespace lorascape;

namespace {
constexpr double kT2 = 4.3026527297494638;  // t_{0.975, 2} = 0.95/√0.04875 (exact)

std::map<std::string, std::string> csv_row(const std::string& csv, const std::string& method) {
  std::ifstream f(csv);
  std::string header, line;
  std::getline(f, header);
  std::vector<std::string> cols;
  std::stringstream hs(header);
  for (std::string c; std::getline(hs, c, ',');) cols.push_back(c);
  while (std::getline(f, line)) {
    if (line.rfind(method + ",", 0) != 0) continue;
    std::map<std::string, std::string> row;
    std::stringstream ls(line);
    size_t i = 0;
    for (std::string v; std::getline(ls, v, ','); ++i) row[cols.at(i)] = v;
    return row;
  }
  return {};
}
}  // namespace

TEST(CliCompare, BaselineGivesThePairedDifferenceItsIntervalAndPValue) {
  const auto& shared = test::shared_cli_run();
  test::TempDir dir("cli-compare");
  // Three "seeds": the shared run with its exact-match R matrices shifted differently per file
  // and method, and the stored metrics recomputed from them.
  const store::RunFileData run = store::read_run_file(shared.h5);
  std::vector<std::string> files;
  for (int f = 0; f < 3; ++f) {
    store::RunFileData d = run;
    for (auto& m : d.methods) {
      auto& R = m.R.at("exact_match");
      for (size_t t = 0; t < R.size(); ++t)
        for (size_t i = 0; i < R[t].size(); ++i)
          R[t][i] += (m.name == "er" ? 0.013 * f * f + 0.004 * t : -0.02 * f) + 0.003 * (t + i);
      for (const auto& [k, v] : core::named(core::compute_metrics(R, m.base.at("exact_match"))))
        m.metrics["exact_match"][k] = v;
    }
    files.push_back(dir.file("seed" + std::to_string(f) + ".h5"));
    store::write_run_file(files.back(), d);
  }
  const std::string csv = dir.file("cmp.csv");
  const auto r = test::run_cli(
      "compare " + files[0] + " " + files[1] + " " + files[2] + " --baseline seq --csv " + csv,
      shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("95% confidence interval"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("difference to seq"), std::string::npos) << r.out;
  // Expected numbers from the files' R matrices as read back.
  std::map<std::string, std::vector<std::vector<double>>> metric;  // method -> file -> metric
  for (const auto& path : files)
    for (const auto& m : store::read_run_file(path).methods) {
      std::vector<double> row;
      for (const auto& [k, v] :
           core::named(core::compute_metrics(m.R.at("exact_match"), m.base.at("exact_match"))))
        row.push_back(v);
      metric[m.name].push_back(row);
    }
  const auto er = csv_row(csv, "er"), seq = csv_row(csv, "seq");
  ASSERT_FALSE(er.empty());
  ASSERT_FALSE(seq.empty());
  EXPECT_EQ(er.at("n"), "3");
  EXPECT_EQ(er.at("n_pairs"), "3");
  const auto& names = core::metric_names();
  int tested = 0;
  for (size_t j = 0; j < names.size(); ++j) {
    const std::string& n = names[j];
    auto near = [&](const std::map<std::string, std::string>& row, const std::string& col,
                    double want) {
      const double got = std::stod(row.at(col));
      EXPECT_NEAR(got, want, 2e-5 * (1 + std::abs(want))) << col;
    };
    // er alone: mean, sd, CI.
    double mean = 0, sq = 0;
    for (const auto& f : metric["er"]) mean += f[j] / 3;
    for (const auto& f : metric["er"]) sq += (f[j] - mean) * (f[j] - mean);
    const double sd = std::sqrt(sq / 2);
    near(er, n, mean);
    near(er, n + "_sd", sd);
    near(er, n + "_ci_low", mean - kT2 * sd / std::sqrt(3.0));
    near(er, n + "_ci_high", mean + kT2 * sd / std::sqrt(3.0));
    // er − seq, paired by file.
    std::vector<double> d;
    for (size_t f = 0; f < 3; ++f) d.push_back(metric["er"][f][j] - metric["seq"][f][j]);
    const double dm = (d[0] + d[1] + d[2]) / 3;
    const double ds = std::sqrt(
        ((d[0] - dm) * (d[0] - dm) + (d[1] - dm) * (d[1] - dm) + (d[2] - dm) * (d[2] - dm)) / 2);
    if (!(ds > 1e-9)) continue;
    const double t = dm / (ds / std::sqrt(3.0));
    near(er, n + "_diff", dm);
    near(er, n + "_diff_ci_low", dm - kT2 * ds / std::sqrt(3.0));
    near(er, n + "_diff_ci_high", dm + kT2 * ds / std::sqrt(3.0));
    // Two degrees of freedom: P(|T| ≥ |t|) = 1 − |t|/√(2 + t²).
    near(er, n + "_p", 1 - std::abs(t) / std::sqrt(2 + t * t));
    ++tested;
  }
  EXPECT_GE(tested, 3) << r.out;
  // The baseline's difference to itself is 0 with no test; an unknown baseline is one line.
  EXPECT_EQ(std::stod(seq.at("OP_diff")), 0.0);
  const auto bad = test::run_cli("compare " + files[0] + " --baseline nope", shared.cache);
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_EQ(test::count_lines(bad.out), 1u) << bad.out;

  // The same methods trained into files of their own (as `sweep --split test` writes them):
  // paired by the files' seed, they give the same differences as the files holding both.
  std::vector<std::string> split;
  for (int f = 2; f >= 0; --f)  // another order than the seeds'
    for (const char* method : {"er", "seq"}) {
      store::RunFileData d = store::read_run_file(files[static_cast<size_t>(f)]);
      d.methods.erase(std::remove_if(d.methods.begin(), d.methods.end(),
                                     [&](const auto& m) { return m.name != method; }),
                      d.methods.end());
      auto cfg = nlohmann::json::parse(d.config_json);
      cfg["seed"] = 10 + f;
      d.config_json = cfg.dump();
      split.push_back(dir.file(std::string(method) + std::to_string(f) + ".h5"));
      store::write_run_file(split.back(), d);
    }
  std::string args = "compare --baseline seq --csv " + dir.file("split.csv");
  for (const auto& f : split) args += " " + f;
  ASSERT_EQ(test::run_cli(args, shared.cache).code, 0);
  const auto er_split = csv_row(dir.file("split.csv"), "er");
  EXPECT_EQ(er_split.at("n_pairs"), "3");
  for (const char* col : {"OP_diff", "OP_diff_ci_low", "BWT_diff", "BWT_p"})
    EXPECT_NEAR(std::stod(er_split.at(col)), std::stod(er.at(col)), 1e-9) << col;
  // A second seq file of seed 10 makes that seed's pair ambiguous: it is left out.
  store::write_run_file(dir.file("seq0b.h5"), store::read_run_file(split[5]));
  ASSERT_EQ(test::run_cli(args + " " + dir.file("seq0b.h5"), shared.cache).code, 0);
  EXPECT_EQ(csv_row(dir.file("split.csv"), "er").at("n_pairs"), "2");

  // Sweep files (one per method, a row per seed) pair their rows by seed likewise.
  std::vector<std::string> sweeps;
  for (const char* method : {"seq", "er"}) {
    store::SweepData sw;
    sw.spec.methods = {method};
    sw.spec.seeds = {10, 11, 12};
    sw.spec.split = "test";
    sw.spec.score = "exact_match";
    sw.spec.config_json = "{}";
    sw.spec.metrics = names;
    for (int64_t f = 0; f < 3; ++f) {
      store::SweepRow row;
      row.row = f;
      row.method = method;
      row.seed = 10 + f;
      row.metrics = metric[method][static_cast<size_t>(f)];
      sw.rows.push_back(row);
    }
    sweeps.push_back(dir.file(std::string("sweep-") + method + ".h5"));
    store::write_sweep_file(sweeps.back(), sw);
  }
  const auto rs = test::run_cli(
      "compare " + sweeps[0] + " " + sweeps[1] + " --baseline seq --csv " + dir.file("sweeps.csv"),
      shared.cache);
  ASSERT_EQ(rs.code, 0) << rs.out;
  EXPECT_NE(rs.out.find("2 files, 6 runs"), std::string::npos) << rs.out;
  const auto er_sweep = csv_row(dir.file("sweeps.csv"), "er");
  EXPECT_EQ(er_sweep.at("n_pairs"), "3");
  for (const char* col : {"OP", "OP_sd", "OP_diff", "OP_diff_ci_low", "BWT_diff", "BWT_p"})
    EXPECT_NEAR(std::stod(er_sweep.at(col)), std::stod(er.at(col)), 2e-5) << col;
  // A sweep of several grid points (a linked key): one row label per point, METHOD[KEY=V;…].
  {
    store::SweepData sw = store::read_sweep_file(sweeps[1]);
    sw.spec.keys = {"train.optimizer,train.lr"};
    sw.spec.values = {{"adamw:0.003", "sgd:0.1"}};
    sw.spec.seeds = {10, 11, 12};
    for (auto& row : sw.rows) row.point = 0;
    store::SweepRow extra = sw.rows[0];
    extra.point = 1;
    extra.row = 3;
    sw.rows.push_back(extra);
    store::write_sweep_file(dir.file("sweep-grid.h5"), sw);
    const auto rg = test::run_cli(
        "compare " + dir.file("sweep-grid.h5") + " --csv " + dir.file("grid.csv"), shared.cache);
    ASSERT_EQ(rg.code, 0) << rg.out;
    EXPECT_EQ(csv_row(dir.file("grid.csv"), "er[train.optimizer=adamw;train.lr=0.003]").at("n"),
              "3");
    EXPECT_EQ(csv_row(dir.file("grid.csv"), "er[train.optimizer=sgd;train.lr=0.1]").at("n"), "1");
  }
  // Another score than the sweep's: one line.
  const auto wrong = test::run_cli("compare " + sweeps[0] + " --score loss", shared.cache);
  EXPECT_EQ(wrong.code, 2) << wrong.out;
  EXPECT_NE(wrong.out.find("compare it with --score exact_match"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.out.find("DIR/row-K/run.h5) with --score loss"), std::string::npos) << wrong.out;
}
