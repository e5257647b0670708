#include "analysis/path.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

core::Adapter interpolate_delta(const core::Adapter& from, const core::Adapter& to, double t) {
  if (from.size() != to.size()) throw ConfigError("interpolate_delta: the adapters hold different LoRA tensors");
  std::vector<core::Adapter::Entry> out;
  for (size_t e = 0; e < from.size(); ++e) {
    const auto& [name, a] = from.entries()[e];
    const auto& [name_to, b] = to.entries()[e];
    if (name != name_to || a.sizes() != b.sizes())
      throw ConfigError("interpolate_delta: tensor '" + name + "' differs between the adapters");
    if (name.find("lora_A") != std::string::npos) out.emplace_back(name, at::cat({a, b}, 0));    // (2r, in)
    else out.emplace_back(name, at::cat({(1.0 - t) * a, t * b}, 1));                              // (out, 2r)
  }
  return core::Adapter(std::move(out));
}

double barrier(const std::vector<double>& ts, const std::vector<double>& values) {
  if (ts.size() != values.size()) throw ConfigError("barrier: " + std::to_string(ts.size()) + " ts but " +
                                                    std::to_string(values.size()) + " values");
  auto at_t = [&](double t) {
    for (size_t i = 0; i < ts.size(); ++i)
      if (std::abs(ts[i] - t) < 1e-12) return values[i];
    throw ConfigError("barrier: the path has no point at t = " + std::to_string(static_cast<int>(t)) +
                      " (choose a range and point count that include 0 and 1)");
  };
  const double f0 = at_t(0.0), f1 = at_t(1.0);
  double best = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < ts.size(); ++i) best = std::max(best, values[i] - ((1.0 - ts[i]) * f0 + ts[i] * f1));
  return best;
}

}  // namespace lorascape::analysis
