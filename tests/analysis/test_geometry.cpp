// Geometry of adapters: distances, cosines and principal angles against hand-computed
// values, invariance under the LoRA reparametrisation B → BR, A → R⁻¹A, and the undefined
// (NaN) cases of rank-deficient factors.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/geometry.h"
#include "store/error.h"
#include "store/scan_file.h"
#include "tests/common/test_util.h"

using namespace lorascape;
using analysis::AdapterSource;
using analysis::compute_geometry;
using analysis::Geometry;

namespace {

const std::vector<std::string> kModules{"model.layers.0.self_attn.q_proj",
                                        "model.layers.0.self_attn.v_proj"};

// (A, B) per module of kModules; tensors as given (the tests use double for exact algebra).
AdapterSource make(const std::vector<std::pair<at::Tensor, at::Tensor>>& factors, double alpha,
                   const std::string& label) {
  std::vector<core::Adapter::Entry> entries;
  for (size_t m = 0; m < factors.size(); ++m) {
    entries.emplace_back(kModules[m] + ".lora_A.weight", factors[m].first);
    entries.emplace_back(kModules[m] + ".lora_B.weight", factors[m].second);
  }
  AdapterSource s;
  s.adapter = core::Adapter(std::move(entries));
  s.lora.rank = factors[0].first.size(0);
  s.lora.alpha = alpha;
  s.lora.targets = {"q_proj", "v_proj"};
  s.label = label;
  return s;
}

at::Tensor t(std::vector<double> v, int64_t rows, int64_t cols) {
  return at::tensor(v, at::kDouble).reshape({rows, cols});
}

at::Tensor randn(int64_t rows, int64_t cols, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn({rows, cols}, gen, at::kDouble);
}

// A random two-module adapter: r = 4, in = 16, out = 12 and 10.
AdapterSource random_adapter(uint64_t seed, const std::string& label) {
  return make({{randn(4, 16, seed), randn(12, 4, seed + 1)},
               {randn(4, 16, seed + 2), randn(10, 4, seed + 3)}},
              8.0, label);
}

// Entry k of an adapter's tensors (A, B, A, B, … in module order).
at::Tensor e(const AdapterSource& s, size_t k) {
  return s.adapter.entries().at(k).second;
}

}  // namespace

TEST(Geometry, HandComputedValues) {
  // scale s = alpha / r = 2. q_proj: θ₀ = (1,0 | 2,0), ΔW₀ = 2·[[2,0],[0,0]]; θ₁ = (1,1 | 1,1),
  // ΔW₁ = 2·[[1,1],[1,1]]. v_proj: the same in both, θ = (0,3 | 0,1), ΔW = [[0,0],[0,6]].
  const at::Tensor va = t({0, 3}, 1, 2), vb = t({0, 1}, 2, 1);
  const AdapterSource a = make({{t({1, 0}, 1, 2), t({2, 0}, 2, 1)}, {va, vb}}, 2.0, "a");
  const AdapterSource b = make({{t({1, 1}, 1, 2), t({1, 1}, 2, 1)}, {va, vb}}, 2.0, "b");
  const Geometry g = compute_geometry({a, b});
  ASSERT_EQ(g.n(), 2u);
  ASSERT_EQ(g.modules, kModules);
  EXPECT_EQ(g.labels, (std::vector<std::string>{"a", "b"}));
  const double eps = 1e-12;
  // q_proj
  EXPECT_NEAR(g.at("factor_distance", 0, 0, 1), std::sqrt(3.0), eps);
  EXPECT_NEAR(g.at("factor_cosine", 0, 0, 1), 3.0 / (2.0 * std::sqrt(5.0)), eps);
  EXPECT_NEAR(g.at("delta_distance", 0, 0, 1), 4.0, eps);  // ‖[[2,−2],[−2,−2]]‖
  EXPECT_NEAR(g.at("delta_cosine", 0, 0, 1), 0.5, eps);    // 8 / (4·4)
  EXPECT_NEAR(g.at("angle_in", 0, 0, 1), 45.0, 1e-9);      // span(1,0) vs span(1,1)
  EXPECT_NEAR(g.at("angle_out", 0, 0, 1), 45.0, 1e-9);
  EXPECT_NEAR(g.at("overlap_in", 0, 0, 1), 0.5, eps);
  EXPECT_NEAR(g.at("overlap_out", 0, 1, 0), 0.5, eps);
  // v_proj: identical
  EXPECT_NEAR(g.at("factor_distance", 1, 0, 1), 0.0, eps);
  EXPECT_NEAR(g.at("delta_distance", 1, 0, 1), 0.0, eps);
  EXPECT_NEAR(g.at("delta_cosine", 1, 0, 1), 1.0, eps);
  EXPECT_NEAR(g.at("angle_in", 1, 0, 1), 0.0, 1e-9);
  // Norms: ‖θ₀‖² = 5 + 10, ‖θ₁‖² = 4 + 10; ‖ΔW‖² = 16 + 36 for both.
  EXPECT_NEAR(g.factor_norm[0], std::sqrt(15.0), eps);
  EXPECT_NEAR(g.factor_norm[1], std::sqrt(14.0), eps);
  EXPECT_NEAR(g.delta_norm[0], std::sqrt(52.0), eps);
  EXPECT_NEAR(g.module_delta_norm[0 * 2 + 1], 4.0, eps);  // (M, N): q_proj, adapter b
  // Overall: whole-adapter vectors; angles and overlaps averaged over the modules.
  EXPECT_NEAR(g.at("factor_distance", 0, 1), std::sqrt(3.0), eps);
  EXPECT_NEAR(g.at("factor_cosine", 0, 1), 13.0 / std::sqrt(15.0 * 14.0), eps);
  EXPECT_NEAR(g.at("delta_distance", 0, 1), 4.0, eps);
  EXPECT_NEAR(g.at("delta_cosine", 0, 1), 44.0 / 52.0, eps);
  EXPECT_NEAR(g.at("angle_in", 0, 1), 22.5, 1e-9);
  EXPECT_NEAR(g.at("overlap_out", 0, 1), 0.75, eps);
  // Symmetric, with the diagonal by definition.
  for (const auto& k : analysis::geometry_metrics()) EXPECT_EQ(g.at(k, 0, 1), g.at(k, 1, 0)) << k;
  EXPECT_EQ(g.at("factor_distance", 1, 1), 0.0);
  EXPECT_EQ(g.at("delta_cosine", 0, 0), 1.0);
  EXPECT_EQ(g.at("angle_out", 0, 0), 0.0);
}

TEST(Geometry, IdenticalAdaptersAreAtDistanceZeroAndAngleZero) {
  const AdapterSource a = random_adapter(1, "a");
  AdapterSource b = a;
  b.label = "b";
  const Geometry g = compute_geometry({a, b, random_adapter(11, "c")});
  // Bit-identical factors are recognised: exact values, as on the diagonal.
  EXPECT_EQ(g.at("factor_distance", 0, 1), 0.0);
  EXPECT_EQ(g.at("delta_distance", 0, 1), 0.0);
  EXPECT_EQ(g.at("factor_cosine", 0, 1), 1.0);
  EXPECT_EQ(g.at("delta_cosine", 0, 1), 1.0);
  EXPECT_EQ(g.at("angle_in", 0, 1), 0.0);
  EXPECT_EQ(g.at("angle_out", 0, 1), 0.0);
  EXPECT_EQ(g.at("overlap_in", 0, 1), 1.0);
  // The same ΔW from other factors (3A, B/3) takes the numerical route, which gives ~0 too.
  const Geometry h =
      compute_geometry({a, make({{e(a, 0) * 3.0, e(a, 1) / 3.0}, {e(a, 2), e(a, 3)}}, 8.0, "a3")});
  EXPECT_NEAR(h.at("delta_distance", 0, 1), 0.0, 1e-12 * h.delta_norm[0]);
  EXPECT_NEAR(h.at("delta_cosine", 0, 1), 1.0, 1e-12);
  EXPECT_NEAR(h.at("angle_in", 0, 1), 0.0, 1e-9);
  EXPECT_NEAR(h.at("angle_out", 0, 1), 0.0, 1e-9);
  EXPECT_NEAR(h.at("overlap_out", 0, 1), 1.0, 1e-12);
  EXPECT_GT(h.at("factor_distance", 0, 1), 1.0);
  // A different random adapter is far away, and its r = 4 random directions in R^16 are not
  // aligned with a's; the output subspaces (4 of 12 or 10 dims) neither.
  EXPECT_GT(g.at("delta_distance", 0, 2), 0.5 * g.delta_norm[0]);
  EXPECT_GT(g.at("angle_in", 0, 2), 20.0);
  EXPECT_GT(g.at("angle_out", 0, 2), 20.0);
  for (size_t m = 0; m < g.m(); ++m) {
    EXPECT_EQ(g.rank_in[m * 3 + 0], 4.0);
    EXPECT_EQ(g.rank_out[m * 3 + 2], 4.0);
  }
}

TEST(Geometry, ReparametrisationChangesFactorsButNotDeltaOrSubspaces) {
  const AdapterSource x = random_adapter(21, "x"), y = random_adapter(31, "y");
  // x' = (B R, R⁻¹ A) per module: the same ΔW, other factors.
  std::vector<std::pair<at::Tensor, at::Tensor>> factors;
  const auto& e = x.adapter.entries();
  for (size_t m = 0; m < 2; ++m) {
    const at::Tensor r = at::eye(4, at::kDouble) + 0.5 * randn(4, 4, 100 + m);
    factors.emplace_back(at::linalg_solve(r, e[2 * m].second), at::matmul(e[2 * m + 1].second, r));
  }
  const AdapterSource xr = make(factors, 8.0, "x'");
  const Geometry g = compute_geometry({x, xr, y});
  const double dn = g.delta_norm[0];
  EXPECT_GT(g.at("factor_distance", 0, 1), 0.1 * g.factor_norm[0]);
  EXPECT_NEAR(g.at("delta_distance", 0, 1), 0.0, 1e-12 * dn);
  EXPECT_NEAR(g.at("delta_cosine", 0, 1), 1.0, 1e-12);
  EXPECT_NEAR(g.at("angle_in", 0, 1), 0.0, 1e-6);
  EXPECT_NEAR(g.at("angle_out", 0, 1), 0.0, 1e-6);
  EXPECT_NEAR(g.delta_norm[1], dn, 1e-12 * dn);
  // Relative to a third adapter nothing in the delta space or the subspaces moves.
  for (const std::string k :
       {"delta_distance", "delta_cosine", "angle_in", "angle_out", "overlap_in", "overlap_out"}) {
    EXPECT_NEAR(g.at(k, 0, 2), g.at(k, 1, 2), 1e-9 * std::max(1.0, std::abs(g.at(k, 0, 2)))) << k;
    for (size_t m = 0; m < g.m(); ++m)
      EXPECT_NEAR(g.at(k, m, 0, 2), g.at(k, m, 1, 2),
                  1e-9 * std::max(1.0, std::abs(g.at(k, m, 0, 2))))
          << k << m;
  }
  EXPECT_GT(std::abs(g.at("factor_distance", 0, 2) - g.at("factor_distance", 1, 2)), 1e-3);
}

TEST(Geometry, OrthogonalSubspacesAreAtNinetyDegrees) {
  // A rows span e0, e1 vs e2, e3 of R^6; B columns span e0, e1 vs e2, e3 of R^5.
  at::Tensor a0 = at::zeros({2, 6}, at::kDouble), a1 = at::zeros({2, 6}, at::kDouble);
  at::Tensor b0 = at::zeros({5, 2}, at::kDouble), b1 = at::zeros({5, 2}, at::kDouble);
  a0[0][0] = 1, a0[1][1] = 2, a0[1][0] = 1, a1[0][2] = 3, a1[1][3] = -1;
  b0[0][0] = 1, b0[1][1] = 1, b1[2][0] = 2, b1[3][1] = 1, b1[2][1] = 1;
  const Geometry g = compute_geometry({make({{a0, b0}}, 4.0, "p"), make({{a1, b1}}, 4.0, "q")});
  EXPECT_NEAR(g.at("angle_in", 0, 1), 90.0, 1e-9);
  EXPECT_NEAR(g.at("angle_out", 0, 1), 90.0, 1e-9);
  EXPECT_NEAR(g.at("overlap_in", 0, 1), 0.0, 1e-15);
  EXPECT_NEAR(g.at("delta_cosine", 0, 1), 0.0, 1e-15);  // ⟨ΔW₀, ΔW₁⟩ = 0
  EXPECT_NEAR(g.at("delta_distance", 0, 1), std::hypot(g.delta_norm[0], g.delta_norm[1]), 1e-12);

  // Partly shared: span(e0, e1) vs span(e0, e2) are at 0° and 90°.
  at::Tensor x = at::zeros({4, 2}, at::kDouble), y = at::zeros({4, 2}, at::kDouble);
  x[0][0] = 1, x[1][1] = 1, y[0][0] = 1, y[2][1] = 5;
  const auto angles = analysis::principal_angles(x, y);
  ASSERT_EQ(angles.size(), 2u);
  EXPECT_NEAR(angles[0], 0.0, 1e-15);
  EXPECT_NEAR(angles[1], M_PI / 2, 1e-15);
  // Small angles are accurate (the sine route): span(e0) vs span(e0 + 1e-9 e1).
  at::Tensor u = at::zeros({3, 1}, at::kDouble), v = at::zeros({3, 1}, at::kDouble);
  u[0][0] = 1, v[0][0] = 1, v[1][0] = 1e-9;
  const auto tiny = analysis::principal_angles(u, v);
  ASSERT_EQ(tiny.size(), 1u);
  EXPECT_NEAR(tiny[0], 1e-9, 1e-17);
}

TEST(Geometry, RankDeficientFactorsGiveNaNWhereUndefined) {
  // Adapter z as at LoRA initialisation: A random, B = 0 — ΔW = 0, the output subspace is
  // empty. Adapter d: A with two equal rows (rank 1 of r = 2), B full rank.
  const at::Tensor az = randn(2, 8, 5), bz = at::zeros({6, 2}, at::kDouble);
  const at::Tensor row = randn(1, 8, 6);
  const at::Tensor ad = at::cat({row, row}, 0), bd = randn(6, 2, 7);
  const AdapterSource z = make({{az, bz}, {randn(2, 8, 8), randn(6, 2, 9)}}, 2.0, "z");
  const AdapterSource d = make({{ad, bd}, {randn(2, 8, 10), randn(6, 2, 11)}}, 2.0, "d");
  const Geometry g = compute_geometry({z, d});
  EXPECT_EQ(g.rank_out[0 * 2 + 0], 0.0);  // (M, N): module 0, adapter z
  EXPECT_EQ(g.rank_in[0 * 2 + 1], 1.0);
  EXPECT_EQ(g.module_delta_norm[0], 0.0);
  EXPECT_TRUE(std::isnan(g.at("angle_out", 0, 0, 1)));
  EXPECT_TRUE(std::isnan(g.at("overlap_out", 0, 0, 1)));
  EXPECT_TRUE(std::isnan(g.at("angle_out", 0, 0, 0)));
  EXPECT_TRUE(std::isnan(g.at("delta_cosine", 0, 0, 1)));
  EXPECT_FALSE(std::isnan(g.at("angle_in", 0, 0, 1)));  // A ≠ 0
  EXPECT_NEAR(g.at("delta_distance", 0, 0, 1), g.module_delta_norm[1], 1e-12);
  // Overall: the mean over the modules where it is defined (module 1 only).
  EXPECT_EQ(g.at("angle_out", 0, 1), g.at("angle_out", 1, 0, 1));
  EXPECT_FALSE(std::isnan(g.at("delta_cosine", 0, 1)));  // z's ΔW ≠ 0 over the whole adapter

  // A rank-1 subspace inside a rank-2 one is at angle 0 (min(k_i, k_j) angles).
  const at::Tensor a2 = at::cat({row, randn(1, 8, 12)}, 0);
  const Geometry h =
      compute_geometry({d, make({{a2, bd}, {randn(2, 8, 10), randn(6, 2, 11)}}, 2.0, "e")});
  EXPECT_NEAR(h.at("angle_in", 0, 0, 1), 0.0, 1e-6);
  EXPECT_NEAR(h.at("overlap_in", 0, 0, 1), 1.0, 1e-12);
}

TEST(Geometry, BadInputIsAnError) {
  AdapterSource a = random_adapter(41, "a"), b = random_adapter(51, "b");
  // NaN in the weights.
  at::Tensor bad = b.adapter.entries()[1].second.clone();
  bad[0][0] = std::nan("");
  std::vector<core::Adapter::Entry> entries = b.adapter.entries();
  entries[1].second = bad;
  AdapterSource nan_b = b;
  nan_b.adapter = core::Adapter(entries);
  try {
    compute_geometry({a, nan_b});
    ADD_FAILURE() << "NaN accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("q_proj.lora_B"), std::string::npos) << e.what();
  }
  // Another model size (input width 17): not one space.
  const AdapterSource wide =
      make({{randn(4, 17, 1), randn(12, 4, 2)}, {randn(4, 17, 3), randn(10, 4, 4)}}, 8.0, "w");
  EXPECT_THROW(compute_geometry({a, wide}), ConfigError);
  EXPECT_THROW(compute_geometry({}), ConfigError);
  // A lone factor.
  EXPECT_THROW(analysis::lora_modules(core::Adapter({{"m.lora_A.weight", randn(2, 3, 1)}}), "x"),
               FormatError);
}

// Adapters of different ranks and targets: delta distances and principal angles as computed here
// from the definitions, factor metrics undefined (NaN), a module one adapter lacks a zero ΔW.
TEST(Geometry, DifferentRanksAndTargetsCompareInDeltaSpace) {
  const AdapterSource a = random_adapter(91, "a");  // r 4, alpha 8: s = 2, q_proj and v_proj
  // r 2, alpha 8 (s = 4), q_proj only.
  AdapterSource b = make({{randn(2, 16, 95), randn(12, 2, 96)}}, 8.0, "b");
  const Geometry g = compute_geometry({a, b});
  ASSERT_EQ(g.modules, kModules);
  EXPECT_TRUE(std::isnan(g.at("factor_distance", 0, 1)));
  EXPECT_TRUE(std::isnan(g.at("factor_cosine", 0, 1)));
  const at::Tensor dq = 2.0 * at::matmul(e(a, 1), e(a, 0)) - 4.0 * at::matmul(e(b, 1), e(b, 0));
  const at::Tensor dv = 2.0 * at::matmul(e(a, 3), e(a, 2));  // b has no v_proj: ΔW_b = 0
  EXPECT_NEAR(g.at("delta_distance", 0, 0, 1), dq.norm().item<double>(), 1e-9);
  EXPECT_NEAR(g.at("delta_distance", 1, 0, 1), dv.norm().item<double>(), 1e-9);
  EXPECT_NEAR(g.at("delta_distance", 0, 1),
              std::sqrt(dq.pow(2).sum().item<double>() + dv.pow(2).sum().item<double>()), 1e-9);
  // Principal angles between row(A_a) (4-D) and row(A_b) (2-D): two angles, acos of the singular
  // values of Q_aᵀ Q_b.
  const at::Tensor qa = std::get<0>(at::linalg_qr(e(a, 0).t())),
                   qb = std::get<0>(at::linalg_qr(e(b, 0).t()));
  const at::Tensor cos = at::linalg_svdvals(at::matmul(qa.t(), qb)).clamp(0.0, 1.0);
  const double mean_deg = at::acos(cos).mean().item<double>() * 180.0 / M_PI;
  EXPECT_NEAR(g.at("angle_in", 0, 0, 1), mean_deg, 1e-6);
  EXPECT_TRUE(std::isnan(g.at("angle_in", 1, 0, 1)));  // no subspace to compare
}

TEST(Geometry, ScanFileAndCsv) {
  const Geometry g = compute_geometry(
      {random_adapter(61, "a"), random_adapter(71, "b,\"c\""), random_adapter(81, "d")});
  test::TempDir tmp("geometry");
  const std::string path = tmp.file("geo.h5");
  store::write_scan_file(path, analysis::geometry_scan(g, R"({"kind":"geometry"})", "test"));
  const store::ScanData d = store::read_scan_file(path);
  EXPECT_EQ(d.spec.kind, "geometry");
  EXPECT_TRUE(d.complete());
  ASSERT_EQ(d.spec.axes.size(), 1u);
  EXPECT_EQ(d.spec.axes[0], (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(d.values[d.value_index(1, 0, 1)], g.delta_norm[1]);
  EXPECT_EQ(d.extras.at("delta_cosine").shape, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(d.extras.at("delta_cosine").values, g.overall[3]);
  EXPECT_EQ(d.extras.at("module_angle_in").shape, (std::vector<int64_t>{2, 3, 3}));
  EXPECT_EQ(d.extras.at("rank_out").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d.text.at("labels"), "a\nb,\"c\"\nd");
  EXPECT_EQ(d.text.at("modules"), kModules[0] + "\n" + kModules[1]);
  EXPECT_NE(d.text.at("summary").find("delta-space cosine"), std::string::npos);

  const std::string csv = analysis::geometry_csv(g);
  size_t rows = 0;
  for (char c : csv) rows += c == '\n';
  EXPECT_EQ(rows, 1u + 3u * (1 + 2));  // header, then 3 pairs overall and per module
  EXPECT_EQ(csv.rfind("module,i,j,label_i,label_j,factor_distance,", 0), 0u) << csv;
  EXPECT_NE(csv.find("overall,0,1,a,\"b,\"\"c\"\"\","), std::string::npos) << csv;
}
