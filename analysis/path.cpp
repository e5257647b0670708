#include "analysis/path.h"

#include "core/error.h"

namespace lorascape::analysis {

std::vector<double> path_ts(int n, double a, double b) {
  if (n < 1) throw ConfigError("points must be >= 1");
  if (n == 1) return {a};
  std::vector<double> ts(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ts[static_cast<size_t>(i)] = a + (b - a) * i / (n - 1);
  return ts;
}

core::Adapter interpolate_factors(const core::Adapter& from, const core::Adapter& to, double t) {
  core::Adapter p = from.clone();
  p.scale(1.0 - t);
  p.axpy(t, to);
  return p;
}

}  // namespace lorascape::analysis
