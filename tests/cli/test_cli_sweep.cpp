// `lorascape sweep` end to end on the tiny configuration: the table it writes (one row per
// method × grid point × seed, evaluated on the eval split), its resumption after SIGKILL (the
// same table as an uninterrupted sweep), shards merged into the full table, and clean errors.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/error.h"
#include "store/sweep_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
namespace store = lorascape::store;
using lorascape::test::run_cli;
using lorascape::test::same_bits;
using lorascape::test::slurp;

namespace {

class Sweep : public ::testing::Test {
 protected:
  std::string config() {
    return tmp.write("tiny.toml", lorascape::test::tiny_run_toml("", "[replay]\nbuffer = 16\n"));
  }
  // 2 methods × 2 learning rates × 2 seeds = 8 rows.
  std::string args(const std::string& out, const std::string& extra = "") {
    return "-q sweep -c " + config() +
           " --method seq,er --grid train.lr=0.003,0.01 --seeds 1,2 --out " + tmp.file(out) + " " +
           extra;
  }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const std::string cache = tmp.file("cache");
};

// Everything of the table but the wall times.
void expect_same_table(const store::SweepData& a, const store::SweepData& b) {
  EXPECT_TRUE(a.spec == b.spec);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].row, b.rows[i].row);
    EXPECT_EQ(a.rows[i].method, b.rows[i].method);
    EXPECT_EQ(a.rows[i].point, b.rows[i].point);
    EXPECT_EQ(a.rows[i].seed, b.rows[i].seed);
    EXPECT_TRUE(same_bits(a.rows[i].metrics, b.rows[i].metrics)) << "row " << i;
  }
}

}  // namespace

TEST_F(Sweep, WritesOneRowPerRunOnTheEvalSplitAndTheMeans) {
  const auto r = run_cli(args("full.h5", "--csv " + tmp.file("means.csv")), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::SweepData d = store::read_sweep_file(tmp.file("full.h5"));
  EXPECT_EQ(d.spec.methods, (std::vector<std::string>{"seq", "er"}));
  EXPECT_EQ(d.spec.keys, (std::vector<std::string>{"train.lr"}));
  EXPECT_EQ(d.spec.seeds, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(d.spec.split, "eval");
  EXPECT_NE(d.spec.config_json.find("\"split\":\"eval\""), std::string::npos);
  ASSERT_EQ(d.rows.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const auto& row = d.rows[i];
    EXPECT_EQ(row.row, static_cast<int64_t>(i));
    EXPECT_EQ(row.method, i < 4 ? "seq" : "er");
    EXPECT_EQ(row.point, static_cast<int64_t>((i / 2) % 2));
    EXPECT_EQ(row.seed, static_cast<int64_t>(i % 2 + 1));
    ASSERT_EQ(row.metrics.size(), 6u);
    EXPECT_TRUE(row.metrics[0] >= 0 && row.metrics[0] <= 1) << row.metrics[0];
    EXPECT_GT(row.wall_s, 0);
    // Each row is the run in its folder, trained with the row's settings on the eval split.
    const std::string run = tmp.file("full-runs/row-" + std::to_string(i));
    const std::string toml = slurp(run + "/config.toml");
    EXPECT_NE(toml.find("split = 'eval'"), std::string::npos) << toml;
    EXPECT_NE(toml.find("method = '" + row.method + "'"), std::string::npos);
    EXPECT_NE(toml.find(row.point == 0 ? "lr = 0.003" : "lr = 0.01"), std::string::npos) << toml;
    EXPECT_NE(toml.find("seed = " + std::to_string(row.seed)), std::string::npos);
  }
  // The run of row 0 evaluated by `compare` gives the row's OP.
  const auto c = run_cli(
      "compare " + tmp.file("full-runs/row-0/run.h5") + " --csv " + tmp.file("row0.csv"), cache);
  ASSERT_EQ(c.code, 0) << c.out;
  std::stringstream lines(slurp(tmp.file("row0.csv")));
  std::string header, seq;
  std::getline(lines, header);
  std::getline(lines, seq);
  ASSERT_EQ(seq.rfind("seq,", 0), 0u) << seq;
  EXPECT_NEAR(std::stod(seq.substr(4)), d.rows[0].metrics[0], 1e-3) << seq;
  // The means table: one line per (method, point), the mean over the two seeds, one best point
  // per method (the highest mean OP).
  std::stringstream csv(slurp(tmp.file("means.csv")));
  std::getline(csv, header);
  EXPECT_EQ(header, "method,train.lr,seeds,OP,BWT,FWT,forgetting,plasticity,stability,wall_s,best");
  int lines_read = 0, best = 0;
  for (std::string line; std::getline(csv, line); ++lines_read) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string v; std::getline(ls, v, ',');) f.push_back(v);
    ASSERT_EQ(f.size(), 11u) << line;
    const size_t first = (f[0] == "seq" ? 0 : 4) + (f[1] == "0.003" ? 0 : 2);
    EXPECT_EQ(f[2], "2");
    EXPECT_NEAR(std::stod(f[3]), (d.rows[first].metrics[0] + d.rows[first + 1].metrics[0]) / 2,
                1e-5)
        << line;
    best += f[10] == "1";
  }
  EXPECT_EQ(lines_read, 4);
  EXPECT_EQ(best, 2);
  EXPECT_NE(r.out.find("best seq (highest mean OP on eval): train.lr="), std::string::npos)
      << r.out;
}

TEST_F(Sweep, KilledAfterTheFirstRowResumesToTheSameTable) {
  ASSERT_EQ(run_cli(args("full.h5"), cache).code, 0);
  const store::SweepData full = store::read_sweep_file(tmp.file("full.h5"));
  // Start the same sweep into another file in the background; SIGKILL it once a row is done.
  const std::string pid_file = tmp.file("pid");
  const std::string cmd = "env LORASCAPE_CACHE='" + cache + "' OMP_NUM_THREADS=1 '" +
                          std::string(LORASCAPE_CLI) + "' " + args("killed.h5") + " > " +
                          tmp.file("log") + " 2>&1 & echo $! > " + pid_file;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const pid_t pid = static_cast<pid_t>(std::stol(slurp(pid_file)));
  size_t rows = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (rows == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      if (fs::exists(tmp.file("killed.h5")))
        rows = store::read_sweep_file(tmp.file("killed.h5")).rows.size();
    } catch (const lorascape::Error&) {
    }
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const store::SweepData partial = store::read_sweep_file(tmp.file("killed.h5"));
  ASSERT_GE(partial.rows.size(), 1u);
  ASSERT_LT(partial.rows.size(), 8u) << "the sweep finished before the kill: nothing resumed";
  // Resume: the finished rows are kept, the rest are run, the table is the uninterrupted one.
  const auto r = run_cli(args("killed.h5"), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  const store::SweepData resumed = store::read_sweep_file(tmp.file("killed.h5"));
  for (size_t i = 0; i < partial.rows.size(); ++i)
    EXPECT_EQ(resumed.rows[i].wall_s, partial.rows[i].wall_s) << "row " << i << " was rerun";
  expect_same_table(resumed, full);
  // Done: running it again runs nothing and changes nothing.
  ASSERT_EQ(run_cli(args("killed.h5"), cache).code, 0);
  const store::SweepData again = store::read_sweep_file(tmp.file("killed.h5"));
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(again.rows[i].wall_s, resumed.rows[i].wall_s);
}

TEST_F(Sweep, TwoShardsMergeIntoTheFullTable) {
  ASSERT_EQ(run_cli(args("full.h5"), cache).code, 0);
  ASSERT_EQ(run_cli(args("s1.h5", "--shard 1/2"), cache).code, 0);
  auto r = run_cli(args("s2.h5", "--shard 2/2"), cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::SweepData s2 = store::read_sweep_file(tmp.file("s2.h5"));
  ASSERT_EQ(s2.rows.size(), 4u);
  for (const auto& row : s2.rows) EXPECT_EQ(row.row % 2, 1);
  // One shard alone is refused, naming the unfinished shard.
  r = run_cli("sweep-merge " + tmp.file("s1.h5") + " --out " + tmp.file("m.h5"), cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("1 of 2 shards"), std::string::npos) << r.out;
  r = run_cli(
      "sweep-merge " + tmp.file("s2.h5") + " " + tmp.file("s1.h5") + " --out " + tmp.file("m.h5"),
      cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::SweepData merged = store::read_sweep_file(tmp.file("m.h5"));
  EXPECT_EQ(merged.shard.count, 1);
  expect_same_table(merged, store::read_sweep_file(tmp.file("full.h5")));
}

TEST_F(Sweep, LinkedKeysAndCleanErrors) {
  // A linked axis sets both keys from each value.
  auto r = run_cli("-q sweep -c " + config() +
                       " --method seq --grid train.optimizer,train.lr=adamw:0.003,sgd:0.1 "
                       "--seeds 1 --split test --out " +
                       tmp.file("linked.h5"),
                   cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string toml = slurp(tmp.file("linked-runs/row-1/config.toml"));
  EXPECT_NE(toml.find("optimizer = 'sgd'"), std::string::npos) << toml;
  EXPECT_NE(toml.find("lr = 0.1"), std::string::npos) << toml;
  EXPECT_NE(toml.find("split = 'test'"), std::string::npos) << toml;
  // Bad input: one line, exit 2, naming what is wrong; nothing written.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--grid nope.key=1,2", "nope.key"},
      {"--grid train.lr=", "train.lr"},
      {"--grid seed=1,2", "--seeds"},
      {"--grid train.optimizer,train.lr=sgd", "2 parts"},
      {"--grid train.lr=0.1 --grid train.lr=0.2", "twice"},
      {"--method nope", "nope"},
      {"--seeds 1,x", "--seeds"},
      {"--split train", "--split"},
      {"--shard 3/2", "--shard"},
  };
  for (const auto& [extra, want] : bad) {
    r = run_cli("-q sweep -c " + config() + " " + extra + " --out " + tmp.file("bad.h5"), cache);
    EXPECT_EQ(r.code, 2) << extra << ": " << r.out;
    EXPECT_NE(r.out.find(want), std::string::npos) << extra << ": " << r.out;
    EXPECT_EQ(lorascape::test::count_lines(r.out), 1u) << extra << ": " << r.out;
    EXPECT_FALSE(fs::exists(tmp.file("bad.h5"))) << extra;
  }
  // Another sweep into an existing file is refused.
  r = run_cli("-q sweep -c " + config() + " --method seq --grid train.lr=0.003 --out " +
                  tmp.file("linked.h5"),
              cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("holds another sweep"), std::string::npos) << r.out;
}
