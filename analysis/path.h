// Points along the straight path between two adapters.
#pragma once

#include <vector>

#include "core/adapter.h"

namespace lorascape::analysis {

// n evenly spaced values from a to b inclusive (n >= 2), or {a} for n = 1.
std::vector<double> path_ts(int n, double a = 0.0, double b = 1.0);

// Factors space: A(t) = (1−t)A₀ + tA₁ and B(t) = (1−t)B₀ + tB₁ for every tensor.
core::Adapter interpolate_factors(const core::Adapter& from, const core::Adapter& to, double t);

// Delta space: ΔW(t) = (1−t)·s·B₀A₀ + t·s·B₁A₁, exactly linear in weight space, as the
// rank-2r adapter A(t) = [A₀; A₁] (2r, in), B(t) = [(1−t)B₀ | tB₁] (out, 2r). Apply it with
// the endpoints' scale s (core::lora_config_of gives rank 2r and alpha 2·alpha).
core::Adapter interpolate_delta(const core::Adapter& from, const core::Adapter& to, double t);

// Barrier of a path: max over t of f(t) − ((1−t)f(0) + t f(1)), f(0) and f(1) being the
// values at t = 0 and t = 1, which `ts` must contain (ConfigError otherwise).
double barrier(const std::vector<double>& ts, const std::vector<double>& values);

}  // namespace lorascape::analysis
