#include "analysis/path.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "store/error.h"

namespace lorascape::analysis {

std::vector<double> path_ts(int n, double a, double b) {
  if (n < 1) throw ConfigError("points must be >= 1");
  if (n == 1) return {a};
  std::vector<double> ts(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ts[static_cast<size_t>(i)] = a + (b - a) * i / (n - 1);
  return ts;
}

void check_space(const std::string& space, const std::string& option) {
  if (space != "factors" && space != "delta")
    throw ConfigError(option + " must be factors or delta (got '" + space + "')");
}

namespace {
void check_basis(const std::vector<core::Adapter>& basis, const std::vector<double>* coefs) {
  if (basis.empty()) throw ConfigError("combine: no basis adapters");
  if (coefs && coefs->size() != basis.size())
    throw ConfigError("combine: " + std::to_string(coefs->size()) + " coefficients for " +
                      std::to_string(basis.size()) + " adapters");
  for (const auto& b : basis) {
    if (b.size() != basis[0].size())
      throw ConfigError("the adapters hold different numbers of LoRA tensors");
    for (size_t e = 0; e < b.size(); ++e)
      if (b.entries()[e].first != basis[0].entries()[e].first ||
          b.entries()[e].second.sizes() != basis[0].entries()[e].second.sizes())
        throw ConfigError("tensor '" + basis[0].entries()[e].first +
                          "' differs between the adapters");
  }
}
}  // namespace

core::Adapter combine(const std::string& space, const std::vector<core::Adapter>& basis,
                      const std::vector<double>& coefs) {
  check_space(space, "space");
  check_basis(basis, &coefs);
  if (space == "factors") {
    core::Adapter p = basis[0].clone();
    p.scale(coefs[0]);
    for (size_t j = 1; j < basis.size(); ++j) p.axpy(coefs[j], basis[j]);
    return p;
  }
  std::vector<core::Adapter::Entry> out;
  for (size_t e = 0; e < basis[0].size(); ++e) {
    const std::string& name = basis[0].entries()[e].first;
    std::vector<at::Tensor> parts;
    const bool a = name.find(".lora_A.") != std::string::npos;
    for (size_t j = 0; j < basis.size(); ++j)
      parts.push_back(a ? basis[j].entries()[e].second : coefs[j] * basis[j].entries()[e].second);
    out.emplace_back(name, at::cat(parts, a ? 0 : 1));  // A (m·r, in), B (out, m·r)
  }
  return core::Adapter(std::move(out));
}

std::vector<std::vector<double>> gram(const std::string& space,
                                      const std::vector<core::Adapter>& basis, double scale) {
  check_space(space, "space");
  check_basis(basis, nullptr);
  const size_t m = basis.size();
  std::vector<std::vector<double>> g(m, std::vector<double>(m, 0.0));
  if (space == "factors") {
    for (size_t i = 0; i < m; ++i)
      for (size_t j = i; j < m; ++j) g[i][j] = g[j][i] = basis[i].dot(basis[j]);
    return g;
  }
  // Per module: stack the A's (m·r, in) and B's (out, m·r); tr((A_iA_jᵀ)(B_jᵀB_i)) is the sum
  // of the elementwise product of the (i, j) blocks of A Aᵀ and (BᵀB)ᵀ.
  for (size_t e = 0; e < basis[0].size(); ++e) {
    const std::string& name = basis[0].entries()[e].first;
    if (name.find(".lora_A.") == std::string::npos) continue;
    const std::string b_name = name.substr(0, name.find(".lora_A.")) + ".lora_B.weight";
    size_t eb = 0;
    while (eb < basis[0].size() && basis[0].entries()[eb].first != b_name) ++eb;
    if (eb == basis[0].size()) throw ConfigError("adapter has no " + b_name);
    std::vector<at::Tensor> as, bs;
    for (const auto& p : basis) {
      as.push_back(p.entries()[e].second.to(at::kDouble));
      bs.push_back(p.entries()[eb].second.to(at::kDouble));
    }
    const int64_t r = as[0].size(0);
    at::Tensor aa = at::matmul(at::cat(as, 0), at::cat(as, 0).t()).cpu();  // (m·r, m·r)
    at::Tensor bb = at::matmul(at::cat(bs, 1).t(), at::cat(bs, 1)).cpu();  // (m·r, m·r)
    for (size_t i = 0; i < m; ++i)
      for (size_t j = i; j < m; ++j) {
        const auto bi = static_cast<int64_t>(i) * r, bj = static_cast<int64_t>(j) * r;
        // tr(A_i A_jᵀ B_jᵀ B_i) = Σ_{k,l} (A_iA_jᵀ)[k,l]·(B_jᵀB_i)[l,k] = Σ (A_iA_jᵀ) ⊙ (B_iᵀB_j)
        const double v =
            (aa.narrow(0, bi, r).narrow(1, bj, r) * bb.narrow(0, bi, r).narrow(1, bj, r))
                .sum()
                .item<double>();
        g[i][j] += scale * scale * v;
        if (i != j) g[j][i] += scale * scale * v;
      }
  }
  return g;
}

core::Adapter interpolate_factors(const core::Adapter& from, const core::Adapter& to, double t) {
  return combine("factors", {from, to}, {1.0 - t, t});
}

core::Adapter interpolate_delta(const core::Adapter& from, const core::Adapter& to, double t) {
  return combine("delta", {from, to}, {1.0 - t, t});
}

double barrier(const std::vector<double>& ts, const std::vector<double>& values) {
  if (ts.size() != values.size())
    throw ConfigError("barrier: " + std::to_string(ts.size()) + " ts but " +
                      std::to_string(values.size()) + " values");
  auto at_t = [&](double t) {
    for (size_t i = 0; i < ts.size(); ++i)
      if (std::abs(ts[i] - t) < 1e-12) return values[i];
    throw ConfigError(
        "barrier: the path has no point at t = " + std::to_string(static_cast<int>(t)) +
        " (choose a range and point count that include 0 and 1)");
  };
  const double f0 = at_t(0.0), f1 = at_t(1.0);
  double best = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < ts.size(); ++i)
    best = std::max(best, values[i] - ((1.0 - ts[i]) * f0 + ts[i] * f1));
  return best;
}

}  // namespace lorascape::analysis
