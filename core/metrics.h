// Continual-learning metrics from the evaluation matrix R (see docs/metrics.md).
// R[t][i] = score on task i after training through task t (0-based here, T tasks),
// b[i] = score of the base model on task i.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lorascape::core {

struct ClMetrics {
  double op = 0;          // mean_i R[T-1][i]                      (average accuracy)
  double bwt = 0;         // 1/(T-1) Σ_{i<T-1} (R[T-1][i] − R[i][i]) (NaN when T = 1)
  double fwt = 0;         // 1/(T-1) Σ_{i≥1} (R[i-1][i] − b[i])      (NaN when T = 1)
  double forgetting = 0;  // mean_{i<T-1} (max_{t<T-1} R[t][i] − R[T-1][i]) (NaN when T = 1)
  double plasticity = 0;  // mean_i R[i][i]
  double stability = 0;   // mean_{t≥1} mean_{i<t} clip(R[t][i] / R[i][i], 0, 1) (NaN when T = 1)
};

// Metric names in the order every table and file lists them: OP BWT FWT forgetting
// plasticity stability.
const std::vector<std::string>& metric_names();
// The metrics paired with metric_names().
std::vector<std::pair<std::string, double>> named(const ClMetrics& m);

// R must be T×T (one row per stage) and b of size T; throws lorascape::Error otherwise.
ClMetrics compute_metrics(const std::vector<std::vector<double>>& R, const std::vector<double>& b);

// The same metrics of a loss matrix, where lower is better: OP, BWT, FWT and plasticity use
// the same formulas (so BWT > 0 means forgetting, FWT < 0 positive transfer); forgetting is
// mean_{i<T-1} (R[T-1][i] − min_{t<T-1} R[t][i]) (≥ 0 is forgetting, as for accuracies);
// stability, a ratio of accuracies, is NaN.
ClMetrics compute_loss_metrics(const std::vector<std::vector<double>>& R,
                               const std::vector<double>& b);

// compute_loss_metrics for "loss", compute_metrics for every other score.
ClMetrics compute_score_metrics(const std::string& score, const std::vector<std::vector<double>>& R,
                                const std::vector<double>& b);

}  // namespace lorascape::core
