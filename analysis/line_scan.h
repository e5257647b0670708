// `lorascape scan line`: loss, token accuracy and exact match along the straight path
// between two adapters, per task (and optionally on a union of tasks), written to an HDF5
// scan file (store/scan_file.h) as points complete, with per-task barrier heights.
#pragma once

#include <string>
#include <vector>

#include "analysis/scan.h"

namespace lorascape::analysis {

struct LineScanOptions {
  ScanOptions scan;
  std::string from, to;  // adapter references (analysis/adapter_ref.h)
  int points = 21;       // N points of t, evenly spaced over [t0, t1]
  double t0 = 0.0, t1 = 1.0;
};

// Runs (or resumes) the scan; returns the file's data as written last.
store::ScanData run_line_scan(const LineScanOptions& opt, const core::RunConfig& data,
                              const std::string& command_line);

// Barrier per task set and score of a complete 1-D scan (a line or a curve): for loss
// max_t [L(t) − chord(t)], for accuracies max_t [chord(t) − acc(t)] (a drop is the
// barrier); NaN when the axis misses t = 0 or 1. (task sets, scores).
store::ScanArray line_barriers(const store::ScanData& d);

// A short text: per task set, the loss barrier and where along the path the loss is lowest.
std::string line_summary(const store::ScanData& d);

// Adds the barriers and the summary to a complete 1-D scan that has none yet; true when it
// did (the caller writes the file).
bool finish_path_scan(store::ScanData& d);

}  // namespace lorascape::analysis
