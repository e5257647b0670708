// The sweep file (docs/hdf5-schema.md, "Sweep file"): the table `lorascape sweep` writes, one
// row per (method, grid point, seed) with the settings, the continual-learning metrics on the
// split the runs were evaluated on, and the wall time. The whole file is rewritten atomically
// after every row, so a killed sweep leaves the rows it finished and resumes after them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/scan_file.h"  // Shard

namespace lorascape::store {

inline constexpr int kSweepFileFormatVersion = 1;
inline constexpr const char* kSweepFileFormat = "lorascape-sweep";

// What a sweep is: rows are numbered method-major, then grid point (the last key varying
// fastest), then seed; row r belongs to shard k/N when r % N == k − 1.
struct SweepSpec {
  std::vector<std::string> methods;
  std::vector<std::string> keys;                 // the swept settings, e.g. "ewc.lambda"
  std::vector<std::vector<std::string>> values;  // per key, the values as written
  std::vector<int64_t> seeds;
  std::string split;                 // the split every run was evaluated on: eval | test
  std::string score;                 // the score the metrics are computed on (exact_match)
  std::string config_json;           // the base configuration (before the grid settings)
  std::vector<std::string> metrics;  // metric names, the columns of a row's metrics

  int64_t num_points() const;  // product of the values' sizes (1 with no key)
  int64_t num_rows() const;    // methods × points × seeds
  // The value of each key at grid point p.
  std::vector<std::string> point_values(int64_t p) const;
  // The settings of grid point p, one per single key: a linked key "a,b" with the value "1:2"
  // gives (a, 1) and (b, 2).
  std::vector<std::pair<std::string, std::string>> point_settings(int64_t p) const;
  bool operator==(const SweepSpec& o) const;
};

struct SweepRow {
  int64_t row = 0;  // index in the full table
  std::string method;
  int64_t point = 0;  // grid point
  int64_t seed = 0;
  std::vector<double> metrics;  // spec.metrics order
  double wall_s = 0;
};

struct SweepData {
  int format_version = kSweepFileFormatVersion;
  std::string software_version;
  std::string created;
  std::string command_line;
  SweepSpec spec;
  Shard shard;
  std::vector<SweepRow> rows;  // the finished rows, by increasing row index
};

// Writes the whole file atomically (write_atomically); FormatError on failure.
void write_sweep_file(const std::string& path, const SweepData& d);
// Reads and validates; FormatError naming the file and object for a damaged or foreign file.
SweepData read_sweep_file(const std::string& path);
// The rows of shard files of one sweep combined (same spec, shards 1..N of one N, each once);
// ConfigError/FormatError naming the file at fault otherwise. The result is shard 1/1.
SweepData merge_sweeps(const std::vector<std::string>& inputs);

}  // namespace lorascape::store
