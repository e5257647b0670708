// The HDF5 sweep file (docs/hdf5-schema.md, Part III): bit-exact round trips, the grid point
// arithmetic, rejection of foreign and inconsistent files, and merging shards.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "store/error.h"
#include "store/run_file.h"
#include "store/sweep_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

using namespace lorascape::store;
using lorascape::ConfigError;
using lorascape::FormatError;

namespace {

SweepData sample(const Shard& shard = {}) {
  SweepData d;
  d.software_version = "0.1.0";
  d.created = "2026-12-02T00:00:00Z";
  d.command_line = "lorascape sweep …";
  d.spec.methods = {"seq", "ewc"};
  d.spec.keys = {"train.lr", "train.optimizer,train.lr2"};
  d.spec.values = {{"0.001", "0.003", "0.01"}, {"adamw:1", "sgd:2"}};
  d.spec.seeds = {1, 7};
  d.spec.split = "eval";
  d.spec.score = "exact_match";
  d.spec.config_json = "{\"seed\":1}";
  d.spec.metrics = {"OP", "BWT", "FWT", "forgetting", "plasticity", "stability"};
  d.shard = shard;
  const int64_t seeds = 2, points = 6;
  for (int64_t r : shard_points(d.spec.num_rows(), shard.index, shard.count)) {
    SweepRow row;
    row.row = r;
    row.seed = d.spec.seeds[static_cast<size_t>(r % seeds)];
    row.point = (r / seeds) % points;
    row.method = d.spec.methods[static_cast<size_t>(r / (seeds * points))];
    row.metrics = {0.1 * static_cast<double>(r),
                   -0.5,
                   std::numeric_limits<double>::quiet_NaN(),
                   1.0 / 3,
                   0.9,
                   0.25};
    row.wall_s = 1.5 + static_cast<double>(r);
    d.rows.push_back(row);
  }
  return d;
}

void expect_same(const SweepData& a, const SweepData& b) {
  EXPECT_TRUE(a.spec == b.spec);
  EXPECT_EQ(a.shard, b.shard);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].row, b.rows[i].row);
    EXPECT_EQ(a.rows[i].method, b.rows[i].method);
    EXPECT_EQ(a.rows[i].point, b.rows[i].point);
    EXPECT_EQ(a.rows[i].seed, b.rows[i].seed);
    EXPECT_EQ(a.rows[i].wall_s, b.rows[i].wall_s);
    ASSERT_EQ(a.rows[i].metrics.size(), b.rows[i].metrics.size());
    for (size_t m = 0; m < a.rows[i].metrics.size(); ++m) {
      if (std::isnan(a.rows[i].metrics[m])) {
        EXPECT_TRUE(std::isnan(b.rows[i].metrics[m]));
      } else {
        EXPECT_EQ(a.rows[i].metrics[m], b.rows[i].metrics[m]);
      }
    }
  }
}

}  // namespace

TEST(SweepFile, GridPointsAreRowMajorLastKeyFastest) {
  const SweepData d = sample();
  EXPECT_EQ(d.spec.num_points(), 6);
  EXPECT_EQ(d.spec.num_rows(), 24);
  EXPECT_EQ(d.spec.point_values(0), (std::vector<std::string>{"0.001", "adamw:1"}));
  EXPECT_EQ(d.spec.point_values(1), (std::vector<std::string>{"0.001", "sgd:2"}));
  EXPECT_EQ(d.spec.point_values(5), (std::vector<std::string>{"0.01", "sgd:2"}));
  // A linked key's value gives each of its keys its part (the CSV's columns, compare's labels).
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(d.spec.point_settings(5),
            (KV{{"train.lr", "0.01"}, {"train.optimizer", "sgd"}, {"train.lr2", "2"}}));
  SweepSpec none;
  none.methods = {"seq"};
  none.seeds = {1};
  EXPECT_EQ(none.num_points(), 1);
  EXPECT_TRUE(none.point_values(0).empty());
}

TEST(SweepFile, RoundTripIncludingAnEmptyTable) {
  lorascape::test::TempDir tmp("sweep-roundtrip");
  const SweepData d = sample();
  write_sweep_file(tmp.file("s.h5"), d);
  expect_same(read_sweep_file(tmp.file("s.h5")), d);
  SweepData empty = d;
  empty.rows.clear();
  write_sweep_file(tmp.file("e.h5"), empty);
  expect_same(read_sweep_file(tmp.file("e.h5")), empty);
}

TEST(SweepFile, RejectsForeignAndInconsistentFiles) {
  lorascape::test::TempDir tmp("sweep-bad");
  // A run file is not a sweep file.
  const std::string run = tmp.file("run.h5");
  write_run_file(run, lorascape::test::sample_run());
  try {
    read_sweep_file(run);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("lorascape-sweep"), std::string::npos) << e.what();
  }
  // A row whose method does not match its index.
  SweepData d = sample();
  d.rows[3].method = "ewc";
  write_sweep_file(tmp.file("m.h5"), d);
  EXPECT_THROW(read_sweep_file(tmp.file("m.h5")), FormatError);
  // Rows out of order, and a row outside the file's shard.
  d = sample();
  std::swap(d.rows[0], d.rows[1]);
  write_sweep_file(tmp.file("o.h5"), d);
  EXPECT_THROW(read_sweep_file(tmp.file("o.h5")), FormatError);
  d = sample({1, 2});
  d.rows[1] = sample().rows[1];  // row 1 (odd) between rows 0 and 4 of shard 1/2
  write_sweep_file(tmp.file("x.h5"), d);
  EXPECT_THROW(read_sweep_file(tmp.file("x.h5")), FormatError);
}

TEST(SweepFile, ShardsMergeIntoTheWholeTable) {
  lorascape::test::TempDir tmp("sweep-merge");
  for (int k = 1; k <= 3; ++k)
    write_sweep_file(tmp.file("s" + std::to_string(k) + ".h5"), sample({k, 3}));
  const SweepData m = merge_sweeps({tmp.file("s3.h5"), tmp.file("s1.h5"), tmp.file("s2.h5")});
  expect_same(m, sample());
  // Missing or repeated shards, another sweep, an unfinished shard: refused.
  EXPECT_THROW(merge_sweeps({tmp.file("s1.h5"), tmp.file("s2.h5")}), ConfigError);
  EXPECT_THROW(merge_sweeps({tmp.file("s1.h5"), tmp.file("s1.h5"), tmp.file("s2.h5")}),
               ConfigError);
  SweepData other = sample({2, 3});
  other.spec.split = "test";
  write_sweep_file(tmp.file("other.h5"), other);
  EXPECT_THROW(merge_sweeps({tmp.file("s1.h5"), tmp.file("other.h5"), tmp.file("s3.h5")}),
               ConfigError);
  SweepData part = sample({2, 3});
  part.rows.pop_back();
  write_sweep_file(tmp.file("part.h5"), part);
  try {
    merge_sweeps({tmp.file("s1.h5"), tmp.file("part.h5"), tmp.file("s3.h5")});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unfinished shards: 2"), std::string::npos) << e.what();
  }
}
