// Points along the straight path between two adapters.
#pragma once

#include <vector>

#include "core/adapter.h"

namespace lorascape::analysis {

// n evenly spaced values from a to b inclusive (n >= 2), or {a} for n = 1.
std::vector<double> path_ts(int n, double a = 0.0, double b = 1.0);

// Factors space: A(t) = (1−t)A₀ + tA₁ and B(t) = (1−t)B₀ + tB₁ for every tensor.
core::Adapter interpolate_factors(const core::Adapter& from, const core::Adapter& to, double t);

}  // namespace lorascape::analysis
