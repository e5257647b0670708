#include "analysis/path.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/prompt.h"
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
// Factors: the same names and shapes. Delta: the same names, and per module the same input and
// output sizes (ranks may differ: align_anchors gives adapters of different ranks and targets
// one list of modules).
void check_basis(const std::string& space, const std::vector<core::Adapter>& basis,
                 const std::vector<double>* coefs) {
  if (basis.empty()) throw ConfigError("combine: no basis adapters");
  if (space == "delta" && core::is_prompt_adapter(basis[0]))
    throw ConfigError("soft prompts (pp, l2p) have no ΔW: combine them in factors space");
  if (coefs && coefs->size() != basis.size())
    throw ConfigError("combine: " + std::to_string(coefs->size()) + " coefficients for " +
                      std::to_string(basis.size()) + " adapters");
  const std::string hint = space == "factors"
                               ? " (adapters of different ranks or targets can be combined in "
                                 "delta space: `space` delta)"
                               : "";
  for (const auto& b : basis) {
    if (b.size() != basis[0].size())
      throw ConfigError("the adapters hold different numbers of LoRA tensors" + hint);
    for (size_t e = 0; e < b.size(); ++e) {
      const std::string& name = basis[0].entries()[e].first;
      const at::Tensor &x = b.entries()[e].second, &y = basis[0].entries()[e].second;
      // lora_A (r, in): dimension 1 is the model's; lora_B (out, r): dimension 0.
      const int64_t model_dim = name.find(".lora_A.") != std::string::npos ? 1 : 0;
      const bool fits = space == "factors" ? x.sizes() == y.sizes()
                                           : x.dim() == 2 && y.dim() == 2 &&
                                                 x.size(model_dim) == y.size(model_dim);
      if (b.entries()[e].first != name || !fits)
        throw ConfigError("tensor '" + name + "' differs between the adapters" + hint);
    }
  }
}
}  // namespace

core::Adapter combine(const std::string& space, const std::vector<core::Adapter>& basis,
                      const std::vector<double>& coefs) {
  check_space(space, "space");
  check_basis(space, basis, &coefs);
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
                                      const std::vector<core::Adapter>& basis,
                                      const core::LoraScales& scales) {
  check_space(space, "space");
  check_basis(space, basis, nullptr);
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
    const double scale = scales.of(name.substr(0, name.find(".lora_A.")));
    std::vector<at::Tensor> as, bs;
    std::vector<int64_t> at_row{0};  // where basis j's r_j rows start in the stacked A
    for (const auto& p : basis) {
      as.push_back(p.entries()[e].second.to(at::kDouble));
      bs.push_back(p.entries()[eb].second.to(at::kDouble));
      at_row.push_back(at_row.back() + as.back().size(0));
    }
    at::Tensor aa = at::matmul(at::cat(as, 0), at::cat(as, 0).t()).cpu();  // (Σr, Σr)
    at::Tensor bb = at::matmul(at::cat(bs, 1).t(), at::cat(bs, 1)).cpu();  // (Σr, Σr)
    for (size_t i = 0; i < m; ++i)
      for (size_t j = i; j < m; ++j) {
        const int64_t bi = at_row[i], bj = at_row[j], ri = at_row[i + 1] - bi,
                      rj = at_row[j + 1] - bj;
        // tr(A_i A_jᵀ B_jᵀ B_i) = Σ_{k,l} (A_iA_jᵀ)[k,l]·(B_jᵀB_i)[l,k] = Σ (A_iA_jᵀ) ⊙ (B_iᵀB_j)
        const double v =
            (aa.narrow(0, bi, ri).narrow(1, bj, rj) * bb.narrow(0, bi, ri).narrow(1, bj, rj))
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
