// The HDF5 scan file: bit-exact round trips, resume through open_or_create_scan, shards and
// merge, strict rejection of foreign, newer, broken and inconsistent files, the layout as
// h5dump sees it, and crash safety of the flushes a scan engine makes (a writer killed with
// SIGKILL at random moments, then resumed, gives exactly the arrays of an uninterrupted scan).
#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "store/error.h"
#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

using namespace lorascape;
using namespace lorascape::store;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------------------------------
// Sample scans and a stand-in for the evaluator.

std::vector<double> linspace(double a, double b, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(a + (b - a) * i / (n - 1));
  return v;
}

ScanSpec line_spec(int n = 11) {
  ScanSpec s;
  s.kind = "line";
  s.config_json = R"({"from":"run.h5:seq/1","points":)" + std::to_string(n) +
                  R"(,"range":[-0.25,1.25],"space":"factors","to":"run.h5:seq/2"})";
  s.tasks = {"weekday", "union"};
  s.scores = {"loss", "token_acc", "exact_match"};
  s.axes = {linspace(-0.25, 1.25, n)};
  return s;
}

// A 5 x 4 plane: P = 20.
ScanSpec plane_spec(int nx = 5, int ny = 4) {
  ScanSpec s;
  s.kind = "plane";
  s.config_json = R"({"grid":[)" + std::to_string(nx) + "," + std::to_string(ny) +
                  R"(],"margin":0.2,"space":"delta","through":["a","b","c"]})";
  s.tasks = {"weekday", "union"};
  s.scores = {"loss", "token_acc", "exact_match"};
  s.axes = {linspace(-0.2, 1.2, nx), linspace(-0.3, 1.1, ny)};
  return s;
}

double with_bits(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

uint64_t bits_of(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

std::vector<uint64_t> bits_of(const std::vector<double>& v) {
  std::vector<uint64_t> out;
  for (double x : v) out.push_back(bits_of(x));
  return out;
}

// What "evaluating" point p gives for task set t and score s: awkward bits on purpose,
// including a NaN with a payload and infinities (a diverged evaluation), -0 and a subnormal.
double point_value(int64_t p, size_t t, size_t s) {
  if (p % 17 == 5 && t == 0 && s == 0) return with_bits(0x7ff80000deadbeefULL);
  if (p % 13 == 7 && s == 0) return std::numeric_limits<double>::infinity();
  if (p % 11 == 2 && s == 2) return -0.0;
  if (p % 19 == 3 && s == 1) return std::numeric_limits<double>::denorm_min() * (p + 1);
  return std::sin(0.37 * static_cast<double>(p) + 1.1 * t + 0.13 * s) * 10.0 / 3.0;
}

void compute(ScanData& d, int64_t p) {
  for (size_t t = 0; t < d.spec.tasks.size(); ++t)
    for (size_t s = 0; s < d.spec.scores.size(); ++s)
      d.values[d.value_index(p, t, s)] = point_value(p, t, s);
  d.done[static_cast<size_t>(p)] = 1;
}

// Results that every shard computes alike (e.g. projected coordinates).
void add_extras(ScanData& d) {
  d.extras["projections"] = {{3, 2}, {0.0, 0.0, 1.0, 0.0, 0.25, with_bits(0x3fd5555555555556ULL)}};
  d.text["space"] = "delta";
}

// The uninterrupted single-process scan.
ScanData full_scan(const ScanSpec& spec) {
  ScanData d = new_scan(spec, {}, "0.1.0 (test)", "lorascape scan plane ...");
  d.created = "2024-05-01T12:00:00Z";
  for (int64_t p = 0; p < d.num_points(); ++p) compute(d, p);
  add_extras(d);
  return d;
}

// A partly done plane with every kind of extra.
ScanData sample_scan() {
  ScanData d = new_scan(plane_spec(), {}, "0.1.0 (abc1234)", "lorascape scan plane --grid 5x4");
  d.created = "2024-05-01T12:00:00Z";
  for (int64_t p : {0, 1, 2, 3, 5, 7, 8, 13, 19}) compute(d, p);
  d.extras["control_points"] = {{3, 4}, linspace(-1, 1, 12)};
  d.extras["loss_history"] = {{5}, {2.5, 1.25, std::nan(""), 0.5, -0.0}};
  d.extras["length"] = {{}, {1.4142135623730951}};  // a scalar
  d.extras["empty"] = {{0, 2}, {}};
  d.text["summary"] = "barrier 0.31 at t = 0.5 (θ₀ → θ₁)";
  d.text["space"] = "delta";
  d.text["empty"] = "";
  return d;
}

void expect_same_scan(const ScanData& a, const ScanData& b) {
  EXPECT_EQ(a.spec.kind, b.spec.kind);
  EXPECT_EQ(a.spec.config_json, b.spec.config_json);
  EXPECT_EQ(a.spec.tasks, b.spec.tasks);
  EXPECT_EQ(a.spec.scores, b.spec.scores);
  ASSERT_EQ(a.spec.axes.size(), b.spec.axes.size());
  for (size_t d = 0; d < a.spec.axes.size(); ++d)
    EXPECT_EQ(bits_of(a.spec.axes[d]), bits_of(b.spec.axes[d])) << "axis " << d;
  EXPECT_EQ(a.shard.index, b.shard.index);
  EXPECT_EQ(a.shard.count, b.shard.count);
  EXPECT_EQ(a.software_version, b.software_version);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.command_line, b.command_line);
  EXPECT_EQ(bits_of(a.values), bits_of(b.values));
  EXPECT_EQ(a.done, b.done);
  ASSERT_EQ(a.extras.size(), b.extras.size());
  for (const auto& [key, x] : a.extras) {
    ASSERT_EQ(b.extras.count(key), 1u) << key;
    EXPECT_EQ(x.shape, b.extras.at(key).shape) << key;
    EXPECT_EQ(bits_of(x.values), bits_of(b.extras.at(key).values)) << key;
  }
  EXPECT_EQ(a.text, b.text);
}

// ------------------------------------------------------------------------------------------
// File helpers.

class ScanFile : public ::testing::Test {
 protected:
  void SetUp() override { H5::Exception::dontPrint(); }
  lorascape::test::TempDir tmp{
      "scan-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())};
  std::string path = tmp.file("scan.h5");
};

// The message of the `E` that `fn` throws, or "" when it throws none.
template <class E, class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

template <class Fn>
std::string format_error(Fn fn) {
  return error_of<FormatError>(fn);
}
template <class Fn>
std::string config_error(Fn fn) {
  return error_of<ConfigError>(fn);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

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

void set_root_int_attr(const std::string& path, const std::string& name, int value) {
  H5::H5File f(path, H5F_ACC_RDWR);
  if (f.attrExists(name)) f.removeAttr(name);
  f.createAttribute(name, H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
      .write(H5::PredType::NATIVE_INT, &value);
}

void set_root_str_attr(const std::string& path, const std::string& name, const std::string& v) {
  H5::H5File f(path, H5F_ACC_RDWR);
  if (f.attrExists(name)) f.removeAttr(name);
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  f.createAttribute(name, t, H5::DataSpace(H5S_SCALAR)).write(t, v);
}

// Replaces dataset `name` of group `group` with a float64 one of shape `dims`.
void replace_f64(const std::string& path, const std::string& group, const std::string& name,
                 std::vector<hsize_t> dims, double fill) {
  H5::H5File f(path, H5F_ACC_RDWR);
  H5::Group g = f.openGroup(group);
  if (g.nameExists(name)) g.unlink(name);
  size_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<double> v(n, fill);
  g.createDataSet(name, H5::PredType::IEEE_F64LE,
                  H5::DataSpace(static_cast<int>(dims.size()), dims.data()))
      .write(v.data(), H5::PredType::NATIVE_DOUBLE);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Round trips.

TEST_F(ScanFile, RoundTripIsBitExact) {
  const ScanData scan = sample_scan();
  ASSERT_EQ(scan.num_points(), 20);
  EXPECT_EQ(scan.num_done(), 9);
  EXPECT_FALSE(scan.complete());
  write_scan_file(path, scan);
  EXPECT_EQ(temp_files_next_to(path), 0);
  const ScanData back = read_scan_file(path);
  expect_same_scan(scan, back);
  EXPECT_EQ(back.format_version, kScanFileFormatVersion);
  // The NaN payload of a diverged point, -0 and infinities survive.
  EXPECT_EQ(bits_of(back.values[back.value_index(5, 0, 0)]), 0x7ff80000deadbeefULL);
  EXPECT_TRUE(std::isinf(back.values[back.value_index(7, 1, 0)]));
  EXPECT_EQ(bits_of(back.values[back.value_index(2, 0, 2)]), bits_of(-0.0));
  EXPECT_TRUE(std::isnan(back.values[back.value_index(4, 1, 2)]));  // not done
  EXPECT_EQ(back.done[4], 0);
  EXPECT_EQ(back.extras.at("length").shape, std::vector<int64_t>{});
  EXPECT_EQ(back.extras.at("length").values, std::vector<double>{1.4142135623730951});
  EXPECT_EQ(back.text.at("summary"), "barrier 0.31 at t = 0.5 (θ₀ → θ₁)");
  EXPECT_EQ(back.spec.grid_shape(), (std::vector<int64_t>{5, 4}));
}

TEST_F(ScanFile, CompleteScanRoundTrips) {
  const ScanData scan = full_scan(line_spec());
  EXPECT_TRUE(scan.complete());
  write_scan_file(path, scan);
  const ScanData back = read_scan_file(path);
  expect_same_scan(scan, back);
  EXPECT_TRUE(back.complete());
}

TEST_F(ScanFile, WritingTheSameDataTwiceGivesTheSameBytes) {
  const ScanData scan = sample_scan();
  write_scan_file(path, scan);
  const std::string second = tmp.file("second.h5");
  write_scan_file(second, scan);
  EXPECT_TRUE(slurp(path) == slurp(second));
}

TEST_F(ScanFile, NewScanIsAllNaNAndNotDone) {
  const ScanData d = new_scan(plane_spec(), {2, 3}, "v", "cmd");
  EXPECT_EQ(d.values.size(), 20u * 2 * 3);
  EXPECT_EQ(d.done, std::vector<uint8_t>(20, 0));
  for (double v : d.values) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(d.shard, (Shard{2, 3}));
  EXPECT_EQ(d.created.size(), 20u) << d.created;  // 2024-05-01T12:00:00Z
  EXPECT_EQ(d.created.back(), 'Z');
  EXPECT_EQ(d.value_index(3, 1, 2), (3u * 2 + 1) * 3 + 2);
}

// ------------------------------------------------------------------------------------------
// Resume.

TEST_F(ScanFile, OpenOrCreateStartsANewScanOnDisk) {
  const ScanData d = open_or_create_scan(path, line_spec(), {}, "0.1.0", "lorascape scan line");
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(d.num_done(), 0);
  EXPECT_EQ(d.software_version, "0.1.0");
  EXPECT_EQ(d.command_line, "lorascape scan line");
  expect_same_scan(d, read_scan_file(path));
  EXPECT_EQ(temp_files_next_to(path), 0);
}

TEST_F(ScanFile, OpenOrCreateResumesWithTheDoneMask) {
  ScanData d = open_or_create_scan(path, plane_spec(), {}, "0.1.0", "lorascape scan plane");
  for (int64_t p : {0, 4, 9, 10}) compute(d, p);
  add_extras(d);
  write_scan_file(path, d);

  // Restarted (e.g. with --resume): the file's data and header come back as they are.
  const ScanData again = open_or_create_scan(path, plane_spec(), {}, "0.2.0", "... --resume");
  expect_same_scan(d, again);
  EXPECT_EQ(again.command_line, "lorascape scan plane");
  EXPECT_EQ(again.num_done(), 4);
  EXPECT_EQ(again.done[4], 1);
  EXPECT_EQ(again.done[5], 0);
}

TEST_F(ScanFile, OpenOrCreateRejectsADifferentScan) {
  const ScanData d = open_or_create_scan(path, plane_spec(), {}, "0.1.0", "cmd");
  const std::string before = slurp(path);
  struct Case {
    const char* what;
    std::function<void(ScanSpec&)> change;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"kind", [](ScanSpec& s) { s.kind = "random-plane"; }, "kind 'plane' vs 'random-plane'"},
      {"config", [](ScanSpec& s) { s.config_json.replace(s.config_json.find("0.2"), 3, "0.3"); },
       "config_json differs from character 25: …5,4],\"margin\":0.2,\"space\":\"delta\",\"throu… "
       "vs …5,4],\"margin\":0.3,"},
      {"tasks", [](ScanSpec& s) { s.tasks = {"weekday"}; }, "tasks (weekday, union) vs (weekday)"},
      {"task order", [](ScanSpec& s) { std::swap(s.tasks[0], s.tasks[1]); }, "tasks"},
      {"scores", [](ScanSpec& s) { s.scores.pop_back(); },
       "scores (loss, token_acc, exact_match) vs (loss, token_acc)"},
      {"axis count", [](ScanSpec& s) { s.axes.pop_back(); }, "2 vs 1 grid axes"},
      {"axis length", [](ScanSpec& s) { s.axes[1].push_back(2.0); }, "axis 1 has 4 vs 5 points"},
      {"axis value, one ulp",
       [](ScanSpec& s) { s.axes[0][2] = std::nextafter(s.axes[0][2], 10.0); },
       "axis 0 differs at index 2 (0.49999999999999994 vs 0.5)"},
  };
  for (const auto& c : cases) {
    ScanSpec other = plane_spec();
    c.change(other);
    ASSERT_NE(scan_spec_difference(plane_spec(), other), "") << c.what;
    const std::string msg = config_error([&] { open_or_create_scan(path, other, {}, "v", "c"); });
    EXPECT_EQ(msg.rfind(path + ": holds a different scan than this one (in the file vs now: ", 0),
              0u)
        << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find("pick another `out`, or delete the file"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_TRUE(slurp(path) == before);  // untouched
  EXPECT_EQ(scan_spec_difference(plane_spec(), plane_spec()), "");

  // Another shard of the same scan.
  const std::string msg = config_error([&] {
    open_or_create_scan(path, plane_spec(), {2, 3}, "v", "c");
  });
  EXPECT_NE(msg.find("holds shard 1/1 of this scan, not shard 2/3"), std::string::npos) << msg;
  EXPECT_TRUE(slurp(path) == before);
  (void)d;
}

TEST_F(ScanFile, OpenOrCreateNeverOverwritesAFileItCannotRead) {
  write_run_file(path, lorascape::test::sample_run());  // --out pointing at a run file
  const std::string before = slurp(path);
  std::string msg = format_error([&] { open_or_create_scan(path, line_spec(), {}, "v", "c"); });
  EXPECT_NE(msg.find("/format: is 'lorascape-run', expected 'lorascape-scan'"), std::string::npos)
      << msg;
  EXPECT_TRUE(slurp(path) == before);

  std::ofstream(path, std::ios::trunc) << "notes\n";
  EXPECT_NE(format_error([&] { open_or_create_scan(path, line_spec(), {}, "v", "c"); }), "");
  EXPECT_EQ(slurp(path), "notes\n");

  // A bad spec or shard for a new file: nothing is written.
  const std::string fresh = tmp.file("fresh.h5");
  ScanSpec bad = line_spec();
  bad.axes[0].clear();
  msg = format_error([&] { open_or_create_scan(fresh, bad, {}, "v", "c"); });
  EXPECT_NE(msg.find("fresh.h5: /axes/00: has no points"), std::string::npos) << msg;
  msg = config_error([&] { open_or_create_scan(fresh, line_spec(), {4, 3}, "v", "c"); });
  EXPECT_NE(msg.find("shard 4/3"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(fresh));
}

// ------------------------------------------------------------------------------------------
// Shards and merge.

TEST_F(ScanFile, ShardPointsPartitionThePoints) {
  for (int64_t P : {0, 1, 7, 20, 101}) {
    for (int n : {1, 2, 3, 7, 25}) {
      std::vector<int> seen(static_cast<size_t>(P), 0);
      size_t smallest = SIZE_MAX, largest = 0;
      for (int k = 1; k <= n; ++k) {
        const std::vector<int64_t> pts = shard_points(P, k, n);
        smallest = std::min(smallest, pts.size());
        largest = std::max(largest, pts.size());
        for (size_t i = 0; i < pts.size(); ++i) {
          ASSERT_GE(pts[i], 0);
          ASSERT_LT(pts[i], P);
          EXPECT_EQ(pts[i] % n, k - 1);
          if (i > 0) {
            EXPECT_LT(pts[i - 1], pts[i]);
          }
          ++seen[static_cast<size_t>(pts[i])];
        }
      }
      for (int64_t p = 0; p < P; ++p)
        EXPECT_EQ(seen[p], 1) << "P " << P << " n " << n << " p " << p;
      EXPECT_LE(largest - smallest, 1u) << "balanced";
    }
  }
  EXPECT_EQ(shard_points(10, 2, 3), (std::vector<int64_t>{1, 4, 7}));
  for (auto [k, n] : std::vector<std::pair<int, int>>{{0, 3}, {4, 3}, {1, 0}, {-1, 2}}) {
    const std::string msg = config_error([&] { shard_points(10, k, n); });
    EXPECT_NE(msg.find("use `shard` k/N with 1 <= k <= N"), std::string::npos) << msg;
  }
  EXPECT_NE(config_error([&] { shard_points(-1, 1, 1); }), "");
}

namespace {

// Runs shard k/n of `spec` into `file` the way an engine would: start, compute half of its
// points, flush, "get killed", resume and finish.
void run_shard(const std::string& file, const ScanSpec& spec, int k, int n) {
  const std::vector<int64_t> mine = shard_points(spec.num_points(), k, n);
  ScanData d = open_or_create_scan(file, spec, {k, n}, "0.1.0 (test)", "scan --shard");
  for (size_t i = 0; i < mine.size() / 2; ++i) compute(d, mine[i]);
  add_extras(d);
  write_scan_file(file, d);
  d = open_or_create_scan(file, spec, {k, n}, "0.1.0 (test)", "scan --shard");
  for (int64_t p : mine)
    if (!d.done[static_cast<size_t>(p)]) compute(d, p);
  write_scan_file(file, d);
}

}  // namespace

TEST_F(ScanFile, MergeOfShardsEqualsTheSingleScanBitForBit) {
  const ScanSpec spec = plane_spec(7, 5);  // 35 points: shards of 12, 12 and 11
  const ScanData single = full_scan(spec);
  std::vector<std::string> shards;
  for (int k = 1; k <= 3; ++k) {
    shards.push_back(tmp.file("s" + std::to_string(k) + ".h5"));
    run_shard(shards.back(), spec, k, 3);
    EXPECT_FALSE(read_scan_file(shards.back()).complete());
  }
  ScanData merged = merge_scans(shards);
  EXPECT_TRUE(merged.complete());
  EXPECT_EQ(merged.shard, Shard{});
  EXPECT_EQ(bits_of(merged.values), bits_of(single.values));
  EXPECT_EQ(merged.done, single.done);
  EXPECT_EQ(merged.command_line, "scan --shard");  // the first input's header

  // With the single run's header, the merged file is the single run's file, byte for byte.
  merged.created = single.created;
  merged.command_line = single.command_line;
  expect_same_scan(single, merged);
  const std::string a = tmp.file("single.h5"), b = tmp.file("merged.h5");
  write_scan_file(a, single);
  write_scan_file(b, merged);
  EXPECT_TRUE(slurp(a) == slurp(b));

  // Order of the inputs does not matter; overlap with identical values is fine.
  ScanData reversed = merge_scans({shards[2], shards[0], shards[1], shards[0]});
  EXPECT_EQ(bits_of(reversed.values), bits_of(single.values));
  // Nor does mixing in a partial single-process file of the same scan.
  ScanData partial = single;
  for (size_t p = 10; p < partial.done.size(); ++p) {
    partial.done[p] = 0;
    for (size_t k = 0; k < 6; ++k)
      partial.values[p * 6 + k] = std::numeric_limits<double>::quiet_NaN();
  }
  partial.text.erase("space");
  const std::string part = tmp.file("partial.h5");
  write_scan_file(part, partial);
  EXPECT_EQ(bits_of(merge_scans({part, shards[0], shards[1], shards[2]}).values),
            bits_of(single.values));
  // A single complete file merges to itself.
  EXPECT_EQ(bits_of(merge_scans({a}).values), bits_of(single.values));
}

TEST_F(ScanFile, MergeRefusesMissingAndUnfinishedShards) {
  const ScanSpec spec = plane_spec(7, 5);
  std::vector<std::string> s;
  for (int k = 1; k <= 3; ++k) {
    s.push_back(tmp.file("s" + std::to_string(k) + ".h5"));
    run_shard(s.back(), spec, k, 3);
  }
  std::string msg = config_error([&] { merge_scans({s[0], s[2]}); });
  EXPECT_NE(msg.find("merge: 12 of 35 points are done in no input (shard 2/3 is not among the "
                     "inputs); pass every shard's file"),
            std::string::npos)
      << msg;

  // Shard 3 interrupted: 2 of its 11 points missing.
  ScanData d = read_scan_file(s[2]);
  for (int64_t p : {32, 29}) {
    d.done[p] = 0;
    for (size_t k = 0; k < 6; ++k) d.values[p * 6 + k] = std::numeric_limits<double>::quiet_NaN();
  }
  write_scan_file(s[2], d);
  msg = config_error([&] { merge_scans(s); });
  EXPECT_NE(msg.find("merge: 2 of 35 points are done in no input (shard 3/3 (" + s[2] +
                     ") is unfinished: 2 of its 11 points are not done)"),
            std::string::npos)
      << msg;
  msg = config_error([&] { merge_scans({s[0], s[2]}); });
  EXPECT_NE(msg.find("14 of 35 points"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shard 2/3 is not among the inputs; shard 3/3"), std::string::npos) << msg;

  // Files that are not shards: the missing points are listed.
  ScanData whole = full_scan(spec);
  whole.done[3] = whole.done[30] = 0;
  for (size_t k = 0; k < 6; ++k)
    whole.values[3 * 6 + k] = whole.values[30 * 6 + k] = std::numeric_limits<double>::quiet_NaN();
  write_scan_file(path, whole);
  msg = config_error([&] { merge_scans({path}); });
  EXPECT_NE(msg.find("merge: 2 of 35 points are done in no input (points 3, 30)"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  msg = config_error([&] { merge_scans({}); });
  EXPECT_NE(msg.find("no scan files given"), std::string::npos) << msg;
}

TEST_F(ScanFile, MergeRefusesAShardOfAnotherScan) {
  const ScanSpec spec = plane_spec(7, 5);
  ScanSpec other = spec;
  other.config_json.replace(other.config_json.find("delta"), 5, "factors");
  const std::string s1 = tmp.file("s1.h5"), s2 = tmp.file("s2.h5"), s3 = tmp.file("s3.h5");
  run_shard(s1, spec, 1, 3);
  run_shard(s2, other, 2, 3);
  run_shard(s3, spec, 3, 3);
  std::string msg = config_error([&] { merge_scans({s1, s2, s3}); });
  EXPECT_EQ(msg.rfind(s2 + ": holds a different scan than " + s1 + " (config_json differs", 0), 0u)
      << msg;
  EXPECT_NE(msg.find("merge only the files of one scan"), std::string::npos) << msg;

  fs::remove(s2);
  run_shard(s2, line_spec(), 2, 3);
  msg = config_error([&] { merge_scans({s1, s2, s3}); });
  EXPECT_NE(msg.find("kind 'plane' vs 'line'"), std::string::npos) << msg;

  // A run file among the inputs.
  write_run_file(s2, lorascape::test::sample_run());
  msg = format_error([&] { merge_scans({s1, s2, s3}); });
  EXPECT_NE(msg.find("this is a lorascape run file, not a scan file"), std::string::npos) << msg;
}

TEST_F(ScanFile, MergeRefusesConflictingValuesAndExtras) {
  const ScanSpec spec = plane_spec(7, 5);
  const std::string s1 = tmp.file("s1.h5"), s2 = tmp.file("s2.h5"), s3 = tmp.file("s3.h5");
  run_shard(s1, spec, 1, 3);
  run_shard(s2, spec, 2, 3);
  run_shard(s3, spec, 3, 3);
  const std::string full = tmp.file("full.h5");
  ScanData whole = full_scan(spec);
  whole.values[whole.value_index(4, 1, 2)] =
      std::nextafter(whole.values[whole.value_index(4, 1, 2)], 9.0);
  write_scan_file(full, whole);
  std::string msg = config_error([&] { merge_scans({s1, s2, s3, full}); });
  EXPECT_EQ(msg.rfind(full + ": point 4 differs from " + s2 +
                          " (task set 'union', score "
                          "'exact_match': ",
                      0),
            0u)
      << msg;
  EXPECT_NE(msg.find("recompute one of them"), std::string::npos) << msg;

  // A different NaN is a different value too: bit-identical means bit-identical.
  whole = full_scan(spec);
  whole.values[whole.value_index(5, 0, 0)] = std::numeric_limits<double>::quiet_NaN();
  write_scan_file(full, whole);
  msg = config_error([&] { merge_scans({s1, s2, s3, full}); });
  EXPECT_NE(msg.find("point 5 differs from"), std::string::npos) << msg;

  whole = full_scan(spec);
  whole.extras["projections"].values[1] = 1e-300;
  write_scan_file(full, whole);
  msg = config_error([&] { merge_scans({s1, s2, s3, full}); });
  EXPECT_NE(msg.find(full + ": /extras/projections differs from " + s1 + "'s"), std::string::npos)
      << msg;

  whole = full_scan(spec);
  whole.text["space"] = "factors";
  write_scan_file(full, whole);
  msg = config_error([&] { merge_scans({s1, s2, s3, full}); });
  EXPECT_NE(msg.find("/text/space differs from " + s1 + "'s ('factors' vs 'delta')"),
            std::string::npos)
      << msg;
}

// ------------------------------------------------------------------------------------------
// Foreign, newer and broken files.

TEST_F(ScanFile, ReaderRejectsARunFileAndTheRunReaderAScanFile) {
  write_run_file(path, lorascape::test::sample_run());
  std::string msg = format_error([&] { read_scan_file(path); });
  EXPECT_NE(msg.find(path + ": /format: is 'lorascape-run', expected 'lorascape-scan'; this is a "
                            "lorascape run file, not a scan file"),
            std::string::npos)
      << msg;

  write_scan_file(path, sample_scan());
  msg = format_error([&] { read_run_file(path); });
  EXPECT_NE(msg.find("/format: is 'lorascape-scan', expected 'lorascape-run'; this is a "
                     "lorascape scan file, not a run file"),
            std::string::npos)
      << msg;

  set_root_str_attr(path, "format", "other");
  msg = format_error([&] { read_scan_file(path); });
  EXPECT_NE(msg.find("not a lorascape scan file"), std::string::npos) << msg;

  std::ofstream(path, std::ios::trunc) << "text\n";
  msg = format_error([&] { read_scan_file(path); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("point to a lorascape scan file (.h5)"), std::string::npos) << msg;
  msg = format_error([&] { read_scan_file(tmp.file("absent.h5")); });
  EXPECT_NE(msg.find("absent.h5: file does not exist"), std::string::npos) << msg;
}

TEST_F(ScanFile, NewerFormatVersionIsRejectedBeforeAnythingElse) {
  {  // Only the two format attributes: the version must be the complaint, not missing data.
    H5::H5File f(path, H5F_ACC_TRUNC);
  }
  set_root_str_attr(path, "format", "lorascape-scan");
  set_root_int_attr(path, "format_version", 2);
  std::string msg = format_error([&] { read_scan_file(path); });
  EXPECT_NE(msg.find("scan.h5: /format_version: 2 is newer than this lorascape (1); upgrade "
                     "lorascape"),
            std::string::npos)
      << msg;

  write_scan_file(path, sample_scan());
  set_root_int_attr(path, "format_version", 0);
  msg = format_error([&] { read_scan_file(path); });
  EXPECT_NE(msg.find("/format_version: 0 is not a valid version"), std::string::npos) << msg;
}

TEST_F(ScanFile, TruncatedFileIsRejectedCleanly) {
  write_scan_file(path, sample_scan());
  const std::string bytes = slurp(path);
  for (size_t keep : {size_t(100), size_t(2048), bytes.size() / 2, bytes.size() - 100}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), keep);
    const std::string msg = format_error([&] { read_scan_file(path); });
    EXPECT_NE(msg, "") << "kept " << keep << " of " << bytes.size() << " bytes";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(ScanFile, ReaderRejectsBadShapesAndMissingPieces) {
  struct Case {
    const char* what;
    std::function<void()> break_it;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"values flat",
       [&] {
         replace_f64(path, "/", "values", {20, 2, 3}, 0.5);
       },
       "/values: has shape (20, 2, 3), expected (5, 4, 2, 3) (the axes' lengths, then tasks and "
       "scores)"},
      {"values short axis", [&] { replace_f64(path, "/axes", "01", {3}, 0.5); },
       "/values: has shape (5, 4, 2, 3), expected (5, 3, 2, 3)"},
      {"done shape",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.unlink("done");
         hsize_t n = 20;
         std::vector<uint8_t> v(20, 0);
         f.createDataSet("done", H5::PredType::STD_U8LE, H5::DataSpace(1, &n))
             .write(v.data(), H5::PredType::NATIVE_UINT8);
       },
       "/done: has shape (20), expected (5, 4)"},
      {"done not 0/1",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         uint8_t two = 2;
         H5::DataSet ds = f.openDataSet("done");
         H5::DataSpace space = ds.getSpace();
         hsize_t at[2] = {1, 1}, one[2] = {1, 1};
         space.selectHyperslab(H5S_SELECT_SET, one, at);
         H5::DataSpace mem(1, one);
         ds.write(&two, H5::PredType::NATIVE_UINT8, mem, space);
       },
       "/done: entry 5 is 2, expected 0 or 1"},
      {"done float",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.unlink("done");
         hsize_t n[2] = {5, 4};
         f.createDataSet("done", H5::PredType::IEEE_F32LE, H5::DataSpace(2, n));
       },
       "/done: is not an integer dataset"},
      {"value at a point not done",
       [&] {
         ScanData d = sample_scan();
         d.values[d.value_index(4, 1, 1)] = 0.25;
         H5::H5File f(path, H5F_ACC_RDWR);
         f.openDataSet("values").write(d.values.data(), H5::PredType::NATIVE_DOUBLE);
       },
       "/values: point 4 is not done but holds a value (task set 'union', score 'token_acc': "
       "0.25); points not done hold NaN"},
      {"axis gap",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.openGroup("/axes").move("01", "02");
       },
       "/axes: axis 01 is missing (found 02)"},
      {"axis 2-D",
       [&] {
         replace_f64(path, "/axes", "01", {2, 2}, 0.5);
       },
       "/axes/01: has shape (2, 2), expected 1-D"},
      {"axis NaN",
       [&] { replace_f64(path, "/axes", "01", {4}, std::numeric_limits<double>::quiet_NaN()); },
       "/axes/01: coordinate 0 is not finite (nan)"},
      {"no values",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.unlink("values");
       },
       "/values: required dataset is missing"},
      {"no extras group",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.unlink("extras");
       },
       "/extras: required group is missing"},
      {"no kind",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.removeAttr("kind");
       },
       "/kind: required attribute is missing"},
      {"bad json", [&] { set_root_str_attr(path, "config_json", "{"); },
       "/config_json: is not valid JSON"},
      {"no shard count",
       [&] {
         H5::H5File f(path, H5F_ACC_RDWR);
         f.removeAttr("shard_count");
       },
       "/shard_count: required attribute is missing"},
      {"shard out of range", [&] { set_root_int_attr(path, "shard_index", 3); },
       "/shard_index: shard 3/1 is not in 1..count"},
  };
  for (const auto& c : cases) {
    write_scan_file(path, sample_scan());
    c.break_it();
    const std::string msg = format_error([&] { read_scan_file(path); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << c.what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST_F(ScanFile, UnknownExtrasAreIgnored) {
  const ScanData scan = sample_scan();
  write_scan_file(path, scan);
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    f.createGroup("future_group").createGroup("nested");
    int one = 1;
    f.createAttribute("future_attr", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT, &one);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    hsize_t n = 1;
    f.openGroup("/extras").createDataSet("notes", t, H5::DataSpace(1, &n));  // not numeric
    f.openGroup("/extras").createGroup("more");
    f.openGroup("/axes").createDataSet("labels", t, H5::DataSpace(1, &n));  // not an index
    f.openGroup("/text")
        .createAttribute("count", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT, &one);  // not a string
  }
  expect_same_scan(scan, read_scan_file(path));
}

// A file written by another tool (think h5py with other choices): fixed-length strings, other
// numeric types, no link creation order. The reader converts all of it.
TEST_F(ScanFile, ReadsFilesFromOtherWriters) {
  {
    H5::H5File f(path, H5F_ACC_TRUNC);
    auto fixed_attr = [](H5::H5Object& o, const char* name, const std::string& v) {
      H5::StrType t(H5::PredType::C_S1, v.empty() ? 1 : v.size());
      t.setStrpad(H5T_STR_NULLPAD);
      o.createAttribute(name, t, H5::DataSpace(H5S_SCALAR)).write(t, v);
    };
    fixed_attr(f, "format", "lorascape-scan");
    int64_t version = 1;
    f.createAttribute("format_version", H5::PredType::STD_I64BE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &version);
    for (const char* a : {"software_version", "created", "command_line"}) fixed_attr(f, a, a);
    fixed_attr(f, "kind", "line");
    fixed_attr(f, "config_json", "{\"points\": 3}");
    int8_t one = 1;
    for (const char* a : {"shard_index", "shard_count"})
      f.createAttribute(a, H5::PredType::STD_I8LE, H5::DataSpace(H5S_SCALAR))
          .write(H5::PredType::NATIVE_INT8, &one);
    H5::StrType t8(H5::PredType::C_S1, 8);
    t8.setStrpad(H5T_STR_NULLPAD);
    hsize_t n1 = 1;
    const char task[8] = {'a', 'l', 'l', 0, 0, 0, 0, 0};
    f.createDataSet("tasks", t8, H5::DataSpace(1, &n1)).write(task, t8);
    const char score[8] = {'l', 'o', 's', 's', 0, 0, 0, 0};
    f.createDataSet("scores", t8, H5::DataSpace(1, &n1)).write(score, t8);
    hsize_t n3 = 3;
    const float ts[3] = {0.0f, 0.5f, 1.0f};
    f.createGroup("axes")
        .createDataSet("0", H5::PredType::IEEE_F32BE, H5::DataSpace(1, &n3))
        .write(ts, H5::PredType::NATIVE_FLOAT);
    hsize_t dims[3] = {3, 1, 1};
    const float values[3] = {1.5f, NAN, 2.5f};
    f.createDataSet("values", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims))
        .write(values, H5::PredType::NATIVE_FLOAT);
    const int32_t done[3] = {1, 0, 1};
    f.createDataSet("done", H5::PredType::STD_I32BE, H5::DataSpace(1, &n3))
        .write(done, H5::PredType::NATIVE_INT32);
    const int16_t history[3] = {3, 2, 1};
    f.createGroup("extras")
        .createDataSet("history", H5::PredType::STD_I16LE, H5::DataSpace(1, &n3))
        .write(history, H5::PredType::NATIVE_INT16);
    H5::Group text = f.createGroup("text");
    fixed_attr(text, "space", "factors");
  }
  const ScanData d = read_scan_file(path);
  EXPECT_EQ(d.spec.kind, "line");
  EXPECT_EQ(d.spec.tasks, std::vector<std::string>{"all"});
  EXPECT_EQ(d.spec.scores, std::vector<std::string>{"loss"});
  EXPECT_EQ(d.spec.axes, (std::vector<std::vector<double>>{{0.0, 0.5, 1.0}}));
  EXPECT_EQ(d.values[0], 1.5);
  EXPECT_TRUE(std::isnan(d.values[1]));
  EXPECT_EQ(d.values[2], 2.5);
  EXPECT_EQ(d.done, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(d.extras.at("history").values, (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(d.text.at("space"), "factors");
  EXPECT_EQ(d.command_line, "command_line");
}

// ------------------------------------------------------------------------------------------
// Validation on write: nothing is touched when the data is inconsistent.

TEST_F(ScanFile, WriteValidatesBeforeTouchingTheFile) {
  const ScanData good = sample_scan();
  struct Case {
    const char* what;
    std::function<void(ScanData&)> break_it;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"empty kind", [](ScanData& d) { d.spec.kind.clear(); },
       "/kind: '' is not a valid scan kind"},
      {"kind with /", [](ScanData& d) { d.spec.kind = "a/b"; }, "/kind: 'a/b' is not a valid"},
      {"empty config", [](ScanData& d) { d.spec.config_json.clear(); },
       "/config_json: is empty, a scan file holds the scan's resolved configuration"},
      {"bad json", [](ScanData& d) { d.spec.config_json = "{\"grid\": [5,"; },
       "/config_json: is not valid JSON"},
      {"no tasks", [](ScanData& d) { d.spec.tasks.clear(); },
       "/tasks: is empty, a scan needs at least one task set"},
      {"duplicate task", [](ScanData& d) { d.spec.tasks[1] = "weekday"; },
       "/tasks: task set 'weekday' appears twice"},
      {"empty score", [](ScanData& d) { d.spec.scores[2].clear(); }, "/scores: entry 2 is empty"},
      {"no axes", [](ScanData& d) { d.spec.axes.clear(); },
       "/axes: is empty, a scan needs at least one grid axis"},
      {"empty axis", [](ScanData& d) { d.spec.axes[1].clear(); },
       "/axes/01: has no points, a grid axis needs at least one"},
      {"inf axis",
       [](ScanData& d) { d.spec.axes[0][3] = -std::numeric_limits<double>::infinity(); },
       "/axes/00: coordinate 3 is not finite (-inf)"},
      {"values short", [](ScanData& d) { d.values.pop_back(); },
       "/values: has 119 values, expected 120 = 20 points x 2 task sets x 3 scores"},
      {"values for another grid", [](ScanData& d) { d.spec.axes[1].push_back(1.5); },
       "/values: has 120 values, expected 150 = 25 points x 2 task sets x 3 scores"},
      {"done short", [](ScanData& d) { d.done.pop_back(); },
       "/done: has 19 entries, expected 20 (one per point)"},
      {"done 2", [](ScanData& d) { d.done[6] = 2; }, "/done: entry 6 is 2, expected 0 or 1"},
      {"value not done", [](ScanData& d) { d.values[d.value_index(6, 0, 1)] = 0.0; },
       "/values: point 6 is not done but holds a value (task set 'weekday', score 'token_acc': "
       "0)"},
      {"extra name",
       [](ScanData& d) {
         d.extras["a/b"] = {{1}, {1.0}};
       },
       "/extras: extra name 'a/b' is not a valid HDF5 name"},
      {"extra size", [](ScanData& d) { d.extras["control_points"].values.pop_back(); },
       "/extras/control_points: shape (3, 4) needs 12 values, got 11"},
      {"extra scalar size", [](ScanData& d) { d.extras["length"].values.clear(); },
       "/extras/length: shape () needs 1 values, got 0"},
      {"extra negative",
       [](ScanData& d) {
         d.extras["empty"].shape = {-1, 0};
       },
       "/extras/empty: negative dimension in shape (-1, 0)"},
      {"text key", [](ScanData& d) { d.text[""] = "x"; },
       "/text: text key '' is not a valid HDF5 name"},
      {"shard",
       [](ScanData& d) {
         d.shard = {4, 3};
       },
       "/shard_index: shard 4/3 is not in 1..count"},
  };
  for (const auto& c : cases) {
    ScanData bad = good;
    c.break_it(bad);
    const std::string msg = format_error([&] { write_scan_file(path, bad); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << c.what << ": " << msg;
    EXPECT_NE(msg.find("; fix the data passed to the scan-file writer"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(path)) << c.what;
    EXPECT_EQ(temp_files_next_to(path), 0) << c.what;
  }
}

TEST_F(ScanFile, UnwritableFolderIsAFormatErrorAndLeavesNoTemp) {
  const std::string bad = tmp.file("no/such/folder/scan.h5");
  const std::string msg = format_error([&] { write_scan_file(bad, sample_scan()); });
  EXPECT_NE(msg.find("no/such/folder/scan.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("writable"), std::string::npos) << msg;
}

// ------------------------------------------------------------------------------------------
// The layout, as a generic tool sees it (docs/hdf5-schema.md part II).

TEST_F(ScanFile, LayoutMatchesTheSchemaDocument) {
  const char* h5dump = "/usr/bin/h5dump";
  if (!fs::exists(h5dump)) GTEST_SKIP() << "h5dump not installed";
  write_scan_file(path, sample_scan());
  const std::string dump = run_command(std::string(h5dump) + " -H '" + path + "' 2>&1");
  ASSERT_NE(dump.find("HDF5 \""), std::string::npos) << dump;
  for (const char* needle : {
           "ATTRIBUTE \"format\"",
           "ATTRIBUTE \"format_version\" {\n      DATATYPE  H5T_STD_I32LE\n      DATASPACE  SCALAR",
           "ATTRIBUTE \"shard_index\" {\n      DATATYPE  H5T_STD_I32LE",
           "ATTRIBUTE \"shard_count\" {\n      DATATYPE  H5T_STD_I32LE",
           "ATTRIBUTE \"kind\"",
           "ATTRIBUTE \"config_json\"",
           "ATTRIBUTE \"software_version\"",
           "ATTRIBUTE \"created\"",
           "ATTRIBUTE \"command_line\"",
           "STRSIZE H5T_VARIABLE;",
           "CSET H5T_CSET_UTF8;",
           "DATASET \"tasks\"",
           "DATASET \"scores\"",
           "GROUP \"axes\" {\n      DATASET \"00\" {\n         DATATYPE  H5T_IEEE_F64LE\n         "
           "DATASPACE  SIMPLE { ( 5 ) / ( 5 ) }",
           "DATASET \"01\" {\n         DATATYPE  H5T_IEEE_F64LE\n         DATASPACE  SIMPLE { ( 4 "
           ") / ( 4 ) }",
           "DATASET \"values\" {\n      DATATYPE  H5T_IEEE_F64LE\n      DATASPACE  SIMPLE { ( 5, "
           "4, 2, 3 ) / ( 5, 4, 2, 3 ) }",
           "DATASET \"done\" {\n      DATATYPE  H5T_STD_U8LE\n      DATASPACE  SIMPLE { ( 5, 4 ) "
           "/ ( 5, 4 ) }",
           "GROUP \"extras\"",
           "DATASET \"control_points\" {\n         DATATYPE  H5T_IEEE_F64LE\n         DATASPACE  "
           "SIMPLE { ( 3, 4 ) / ( 3, 4 ) }",
           "DATASET \"length\" {\n         DATATYPE  H5T_IEEE_F64LE\n         DATASPACE  SCALAR",
           "GROUP \"text\" {\n      ATTRIBUTE \"empty\"",
           "ATTRIBUTE \"summary\"",
       }) {
    EXPECT_NE(dump.find(needle), std::string::npos) << "missing in h5dump -H: " << needle;
  }
  // Values as a generic tool reads them.
  const std::string kind = run_command(std::string(h5dump) + " -a /kind '" + path + "'");
  EXPECT_NE(kind.find("(0): \"plane\""), std::string::npos) << kind;
  const std::string scores = run_command(std::string(h5dump) + " -d /scores '" + path + "'");
  EXPECT_NE(scores.find("(0): \"loss\", \"token_acc\", \"exact_match\""), std::string::npos)
      << scores;
  const std::string done = run_command(std::string(h5dump) + " -d /done '" + path + "'");
  EXPECT_NE(done.find("(0,0): 1, 1, 1, 1,"), std::string::npos) << done;
  EXPECT_NE(done.find("(1,0): 0, 1, 0, 1,"), std::string::npos) << done;
  const std::string values = run_command(std::string(h5dump) + " -d /values '" + path + "'");
  EXPECT_NE(values.find("nan"), std::string::npos) << values;
  EXPECT_NE(values.find("inf"), std::string::npos) << values;
  const std::string axis = run_command(std::string(h5dump) + " -d /axes/00 '" + path + "'");
  EXPECT_NE(axis.find("(0): -0.2, 0.15, 0.5, 0.85, 1.2"), std::string::npos) << axis;
}

// ------------------------------------------------------------------------------------------
// Crash safety: a scan engine flushing through write_scan_file, SIGKILLed at random moments
// and restarted with open_or_create_scan, ends with exactly the arrays of a scan that was
// never interrupted; every file read in between is one complete flushed version.

TEST(ScanFileCrash, KilledScanResumesToTheUninterruptedResult) {
  H5::Exception::dontPrint();
  lorascape::test::TempDir tmp("scan-crash");
  const std::string path = tmp.file("scan.h5");
  // 100 x 100 points x 4 task sets x 3 scores: about 1 MB of values, flushed every 50 points.
  ScanSpec spec = plane_spec(100, 100);
  spec.tasks = {"weekday", "arith", "strings", "union"};
  const ScanData reference = full_scan(spec);
  const int64_t P = spec.num_points();
  const int64_t batch = 50;

  // The engine: computes the missing points in order, flushing after every batch; the flush
  // records how many points it holds in text "done", to be checked against the mask.
  auto engine = [&](int ready_fd) {
    ScanData d = open_or_create_scan(path, spec, {}, "0.1.0 (test)", "lorascape scan plane");
    add_extras(d);
    int64_t since_flush = 0;
    bool signalled = false;
    for (int64_t p = 0; p < P; ++p) {
      if (d.done[static_cast<size_t>(p)]) continue;
      compute(d, p);
      if (++since_flush == batch || p == P - 1) {
        d.text["done"] = std::to_string(d.num_done());
        write_scan_file(path, d);
        since_flush = 0;
        if (!signalled && ready_fd >= 0) {
          signalled = true;
          if (::write(ready_fd, "x", 1) != 1) return false;
        }
      }
    }
    return true;
  };

  // How long a flush takes, to aim the kills.
  {
    ScanData d = new_scan(spec);
    const auto t0 = std::chrono::steady_clock::now();
    write_scan_file(tmp.file("timing.h5"), d);
    fs::remove(tmp.file("timing.h5"));
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    std::mt19937 rng(4321);
    std::uniform_int_distribution<long> delay(0, 3 * static_cast<long>(us));
    int killed = 0, killed_mid_write = 0;
    int64_t last_done = 0;
    for (int it = 0; it < 12; ++it) {
      int ready[2];
      ASSERT_EQ(::pipe(ready), 0);
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {  // child: the scan engine
        ::close(ready[0]);
        bool ok = false;
        try {
          ok = engine(ready[1]);
        } catch (...) {
          ::_exit(3);
        }
        ::_exit(ok ? 0 : 4);
      }
      ::close(ready[1]);
      char c = 0;
      const bool flushed = ::read(ready[0], &c, 1) == 1;
      ::close(ready[0]);
      if (flushed) {
        std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
        ::kill(pid, SIGKILL);
      }
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      if (WIFSIGNALED(status)) {
        ++killed;
      } else {
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
      }
      const std::string leftover = path + ".tmp." + std::to_string(pid);
      if (fs::exists(leftover)) {
        ++killed_mid_write;
        fs::remove(leftover);  // documented: a killed writer may leave its temp file
      }
      // Whatever moment the kill hit, the file is one complete flushed version.
      ScanData back;
      ASSERT_NO_THROW(back = read_scan_file(path)) << "iteration " << it;
      const int64_t n = back.num_done();
      ASSERT_EQ(back.text.count("done"), 1u);
      EXPECT_EQ(back.text.at("done"), std::to_string(n)) << "iteration " << it;
      EXPECT_GE(n, last_done) << "a flush was lost";
      last_done = n;
      for (int64_t p = 0; p < P; ++p) ASSERT_EQ(back.done[p], p < n ? 1 : 0) << "point " << p;
      std::vector<double> expect = reference.values;
      for (size_t k = static_cast<size_t>(n) * 12; k < expect.size(); ++k)
        expect[k] = std::numeric_limits<double>::quiet_NaN();
      ASSERT_EQ(bits_of(back.values), bits_of(expect)) << "iteration " << it;
      if (back.complete()) break;
    }
    EXPECT_GE(killed, 1);
    EXPECT_GE(killed_mid_write, 1)
        << "no kill landed during a flush; a flush takes " << us << " us";
  }

  // Restarted once more, uninterrupted: the final arrays are the uninterrupted scan's.
  ASSERT_TRUE(engine(-1));
  ScanData finished = read_scan_file(path);
  EXPECT_TRUE(finished.complete());
  EXPECT_EQ(bits_of(finished.values), bits_of(reference.values));
  EXPECT_EQ(finished.done, reference.done);
  finished.text.erase("done");
  EXPECT_EQ(finished.text, reference.text);
  EXPECT_EQ(bits_of(finished.extras.at("projections").values),
            bits_of(reference.extras.at("projections").values));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename(), "scan.h5") << "unexpected file " << e.path();
}
