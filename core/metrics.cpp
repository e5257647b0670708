#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "store/error.h"

namespace lorascape::core {

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names{"OP",         "BWT",        "FWT",
                                              "forgetting", "plasticity", "stability"};
  return names;
}

std::vector<std::pair<std::string, double>> named(const ClMetrics& m) {
  const double values[] = {m.op, m.bwt, m.fwt, m.forgetting, m.plasticity, m.stability};
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < metric_names().size(); ++i) out.emplace_back(metric_names()[i], values[i]);
  return out;
}

ClMetrics compute_metrics(const std::vector<std::vector<double>>& R, const std::vector<double>& b) {
  const size_t T = R.size();
  if (T == 0 || b.size() != T) throw Error("compute_metrics: R must be T x T and b of size T");
  for (const auto& row : R)
    if (row.size() != T) throw Error("compute_metrics: R must be square (one row per task)");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ClMetrics m;
  double s = 0;
  for (size_t i = 0; i < T; ++i) s += R[T - 1][i];
  m.op = s / static_cast<double>(T);
  s = 0;
  for (size_t i = 0; i < T; ++i) s += R[i][i];
  m.plasticity = s / static_cast<double>(T);
  if (T == 1) {
    m.bwt = m.fwt = m.forgetting = m.stability = nan;
    return m;
  }
  const double n = static_cast<double>(T - 1);
  double bwt = 0, fwt = 0, forg = 0;
  for (size_t i = 0; i + 1 < T; ++i) {
    bwt += R[T - 1][i] - R[i][i];
    double best = R[0][i];
    for (size_t t = 0; t + 1 < T; ++t) best = std::max(best, R[t][i]);
    forg += best - R[T - 1][i];
  }
  for (size_t i = 1; i < T; ++i) fwt += R[i - 1][i] - b[i];
  m.bwt = bwt / n;
  m.fwt = fwt / n;
  m.forgetting = forg / n;
  double stab = 0;
  for (size_t t = 1; t < T; ++t) {
    double row = 0;
    for (size_t i = 0; i < t; ++i) {
      // An unknown score (NaN: an adapter not evaluated) leaves the stability unknown.
      const double r = std::isnan(R[i][i]) || std::isnan(R[t][i]) ? nan
                       : R[i][i] > 0                              ? R[t][i] / R[i][i]
                                                                  : (R[t][i] > 0 ? 1.0 : 0.0);
      row += std::clamp(r, 0.0, 1.0);
    }
    stab += row / static_cast<double>(t);
  }
  m.stability = stab / n;
  return m;
}

ClMetrics compute_loss_metrics(const std::vector<std::vector<double>>& R,
                               const std::vector<double>& b) {
  // Forgetting of a loss is the forgetting of its negation; the rest is formula-identical.
  std::vector<std::vector<double>> neg = R;
  for (auto& row : neg)
    for (auto& x : row) x = -x;
  ClMetrics m = compute_metrics(R, b);
  m.forgetting = compute_metrics(neg, b).forgetting;
  m.stability = std::numeric_limits<double>::quiet_NaN();
  return m;
}

ClMetrics compute_score_metrics(const std::string& score, const std::vector<std::vector<double>>& R,
                                const std::vector<double>& b) {
  return score == "loss" ? compute_loss_metrics(R, b) : compute_metrics(R, b);
}

}  // namespace lorascape::core
