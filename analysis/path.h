// Points of the two spaces every scan walks in (DESIGN.md "Two spaces to walk in").
//
// Every scan point is a linear combination Σ_j c_j·P_j of a few basis adapters P_j (the
// endpoints of a line, the control points of a curve, the three adapters of a plane, a
// centre and two directions, the snapshots of a trajectory):
//   factors  the adapter whose every tensor is Σ_j c_j·P_j's tensor (rank r);
//   delta    the adapter whose ΔW is Σ_j c_j·ΔW_j, kept low rank by concatenation:
//            A = [A_0; …; A_{m−1}] (m·r, in), B = [c_0·B_0 | … | c_{m−1}·B_{m−1}] (out, m·r),
//            applied with the basis' scale s (core::lora_config_of keeps alpha/rank).
// Distances and projections use the space's inner product: factors ⟨P,Q⟩ = Σ tensors
// ⟨P_t,Q_t⟩; delta ⟨ΔW_P,ΔW_Q⟩_F = s²·Σ_modules tr((A_P A_Qᵀ)(B_Qᵀ B_P)), never forming ΔW.
#pragma once

#include <string>
#include <vector>

#include "core/adapter.h"

namespace lorascape::analysis {

// "factors" or "delta"; ConfigError naming `option` otherwise.
void check_space(const std::string& space, const std::string& option = "`space`");

// Σ_j coefs[j]·basis[j] in `space` (see above). The basis adapters must share names and shapes
// (ConfigError); in delta space their ranks may differ (A (Σ r_j, in), B (out, Σ r_j)).
core::Adapter combine(const std::string& space, const std::vector<core::Adapter>& basis,
                      const std::vector<double>& coefs);

// Gram matrix G[i][j] = ⟨basis[i], basis[j]⟩ in `space`, in double precision; `scales` gives
// each module's s (used by delta only).
std::vector<std::vector<double>> gram(const std::string& space,
                                      const std::vector<core::Adapter>& basis,
                                      const core::LoraScales& scales);

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
