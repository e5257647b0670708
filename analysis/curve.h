// `lorascape scan curve`: a curve between two adapters whose bends are trained to stay in
// low loss (Garipov et al. 2018, dnn-mode-connectivity), then evaluated like a line.
//
// With m = n + 2 control points θ_0 (from), θ_1 … θ_n (the bends), θ_{n+1} (to):
//   bezier     w(t) = Σ_j C(m−1, j) t^j (1−t)^{m−1−j} θ_j
//   polychain  w(t) = Σ_j max(0, 1 − |t(m−1) − j|) θ_j   (straight segments through the bends)
// Combinations are taken in the scan's space (path.h). In the delta space every control point
// is a rank-2r adapter (the endpoints padded with zero rows), so the bends can leave the span
// of the endpoints' factors. The bends start on the straight line (θ_j at t = j/(m−1)), where
// the curve equals the line, and are trained with Adam on the union of the chosen tasks'
// training data, one t ~ U(0,1) per minibatch, endpoints fixed, with DMC's learning-rate
// schedule (flat to 50% of the steps, linear to 1% at 90%) and an optional L2 term
// 0.5·wd·‖w(t)‖² on the factors.
#pragma once

#include <string>
#include <vector>

#include "analysis/scan.h"

namespace lorascape::analysis {

struct CurveScanOptions {
  ScanOptions scan;
  std::string from, to;
  std::string kind = "bezier";           // bezier | polychain
  int bends = 1;                         // n trainable control points
  int points = 21;                       // evaluated points of t in [0, 1]
  std::vector<std::string> train_tasks;  // empty: the union tasks, else the evaluated tasks
  int epochs = 2;                        // passes over the training union
  double lr = 3e-3;
  double weight_decay = 0.0;
  int64_t batch = 0;         // 0 = the data configuration's train.batch
  uint64_t seed = 0;         // 0 = the data configuration's seed
  bool compare_line = true;  // also evaluate the straight line at the same t
};

// Coefficients c_j(t) of the m control points.
std::vector<double> curve_coefs(const std::string& kind, int m, double t);

// The control points of a curve scan file whose bends are trained: θ_0 (from), the bends,
// θ_{m−1} (to), as points of the curve's space (delta space: the bends at rank 2r, as trained;
// the ends as their references load them), labelled by their references ("CURVE.h5:bend/1").
struct StoredCurve {
  std::string path, kind, space;
  std::vector<AdapterSource> control;  // m = bends + 2
};
// ConfigError / FormatError naming the file when it is not a curve scan or its bends are not
// trained yet (rerun `scan curve`).
StoredCurve load_stored_curve(const std::string& curve_path);
// The reference of a curve's `from` end (as load_adapter_ref takes it), with the same checks,
// without loading the ends.
std::string curve_origin_ref(const std::string& curve_path);

// Runs (or resumes: trained bends are kept in the file) the scan.
store::ScanData run_curve_scan(const CurveScanOptions& opt, const core::RunConfig& data,
                               const std::string& command_line);

}  // namespace lorascape::analysis
