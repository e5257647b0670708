// `lorascape scan line`: loss, token accuracy and exact match along the straight path
// between two adapters, per task (and optionally on a union of tasks), written to an HDF5
// scan file (core/store/scan_file.h) as points complete. Resumable (the same command
// computes only the missing points) and shardable (--shard k/N, then `lorascape merge`).
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/store/scan_file.h"

namespace lorascape::analysis {

struct LineScanOptions {
  std::string from, to;                  // adapter references (analysis/adapter_ref.h)
  int points = 21;                       // N points of t, evenly spaced over [t0, t1]
  double t0 = 0.0, t1 = 1.0;
  std::string space = "factors";         // factors | delta (DESIGN.md "Two spaces")
  std::vector<std::string> tasks;        // evaluated tasks; empty = every task of the data config
  std::vector<std::string> union_tasks;  // non-empty: also the task set "union" of these tasks
  std::string base;                      // base model file; empty = the one the adapters name (cache)
  std::string out;                       // the scan file
  store::Shard shard;                    // which points this process computes
};

// The task data, seed and evaluation settings of a scan: the run file's configuration when
// `from` is a run-file reference, else `fallback`.
core::RunConfig scan_data_config(const std::string& from, const core::RunConfig& fallback, bool explicit_config);

// Runs (or resumes) the scan; returns the file's data as written last.
store::ScanData run_line_scan(const LineScanOptions& opt, const core::RunConfig& data, const std::string& command_line);

// Barrier per task set and score of a complete line scan: for loss max_t [L(t) − chord(t)],
// for accuracies max_t [chord(t) − acc(t)] (a drop is the barrier). (task sets, scores).
store::ScanArray line_barriers(const store::ScanData& d);

// A short text: per task set, the loss barrier and where along the path the loss is lowest.
std::string line_summary(const store::ScanData& d);

}  // namespace lorascape::analysis
