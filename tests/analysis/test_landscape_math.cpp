// The algebra under the scan kinds: Gram matrices in both spaces, the plane through three
// adapters, trajectory PCA, filter-normalised directions and curve coefficients.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/curve.h"
#include "analysis/path.h"
#include "analysis/plane.h"
#include "store/error.h"

using namespace lorascape;
using analysis::combine;
using analysis::gram;

namespace {

// Two modules (q: 6→5, v: 6→4), rank 2.
core::Adapter random_adapter(uint64_t seed) {
  torch::manual_seed(seed);
  return core::Adapter({{"m.q_proj.lora_A.weight", at::randn({2, 6})},
                        {"m.q_proj.lora_B.weight", at::randn({5, 2})},
                        {"m.v_proj.lora_A.weight", at::randn({2, 6})},
                        {"m.v_proj.lora_B.weight", at::randn({4, 2})}});
}

// s·ΔW of every module, flattened and concatenated (double).
at::Tensor delta_vector(const core::Adapter& a, double s) {
  const auto& e = a.entries();
  return at::cat({(s * at::matmul(e[1].second, e[0].second)).flatten(),
                  (s * at::matmul(e[3].second, e[2].second)).flatten()})
      .to(at::kDouble);
}

}  // namespace

TEST(LandscapeMath, GramMatchesExplicitInnerProductsInBothSpaces) {
  const std::vector<core::Adapter> b{random_adapter(1), random_adapter(2), random_adapter(3)};
  const double s = 1.5;
  const auto gf = gram("factors", b, s), gd = gram("delta", b, s);
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(
          gf[i][j],
          at::dot(b[i].flatten().to(at::kDouble), b[j].flatten().to(at::kDouble)).item<double>(),
          1e-9);
      EXPECT_NEAR(gd[i][j], at::dot(delta_vector(b[i], s), delta_vector(b[j], s)).item<double>(),
                  1e-6 * std::abs(gd[i][i]));
    }
}

TEST(LandscapeMath, DeltaCombinationIsTheCombinationOfDeltas) {
  const std::vector<core::Adapter> b{random_adapter(1), random_adapter(2), random_adapter(3)};
  const std::vector<double> c{0.2, -0.7, 1.5};
  const core::Adapter p = combine("delta", b, c);
  EXPECT_EQ(p.entries()[0].second.size(0), 6) << "rank 3·r";
  at::Tensor want =
      c[0] * delta_vector(b[0], 1) + c[1] * delta_vector(b[1], 1) + c[2] * delta_vector(b[2], 1);
  EXPECT_TRUE(at::allclose(delta_vector(p, 1), want, 1e-5, 1e-5));
  EXPECT_THROW(combine("weights", b, c), ConfigError);
  EXPECT_THROW(combine("delta", b, {1.0, 2.0}), ConfigError);
}

TEST(LandscapeMath, PlaneThroughThreeAdaptersHoldsThemAndProjectsInPlanePoints) {
  for (const std::string space : {"factors", "delta"}) {
    const core::Adapter X = random_adapter(1), Y = random_adapter(2), Z = random_adapter(3);
    // Q = X + 0.3 (Y − X) − 0.6 (Z − X) lies in the plane (in the factors space exactly; in the
    // delta space Q's ΔW is that combination, as a rank-3r adapter).
    const core::Adapter Q = combine(space, {X, Y, Z}, {1.1, 0.3, -0.4});
    std::vector<core::Adapter> basis{X, Y, Z};
    if (space == "factors") basis.push_back(Q);
    const auto g = gram(space, basis, 1.0);
    const analysis::PlaneFrame f = analysis::plane_through(g);
    // u and v are orthonormal.
    auto dot = [&](const std::vector<double>& a, const std::vector<double>& b) {
      double s = 0;
      for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < b.size(); ++j) s += a[i] * g[i][j] * b[j];
      return s;
    };
    EXPECT_NEAR(dot(f.u, f.u), 1.0, 1e-9);
    EXPECT_NEAR(dot(f.v, f.v), 1.0, 1e-9);
    EXPECT_NEAR(dot(f.u, f.v), 0.0, 1e-9);
    // Each anchor's coordinates give back the anchor: coefficients e_X, e_Y, e_Z.
    for (size_t a = 0; a < 3; ++a) {
      std::vector<double> e(basis.size(), 0.0);
      e[a] = 1;
      const auto p = f.project(e);
      EXPECT_NEAR(p.residual, 0.0, 1e-6) << space << a;
      const auto c = f.coefs(p.x, p.y);
      for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(c[i], e[i], 1e-9) << space << a << i;
    }
    // The in-plane Q: residual 0, and its coordinates rebuild it.
    std::vector<double> q =
        space == "factors" ? std::vector<double>{0, 0, 0, 1} : std::vector<double>{1.1, 0.3, -0.4};
    const auto pq = f.project(q);
    EXPECT_NEAR(pq.residual, 0.0, 1e-3 * std::sqrt(dot(q, q)));
    auto c = f.coefs(pq.x, pq.y);
    c.resize(3);
    const core::Adapter back = combine(space, {X, Y, Z}, c);
    if (space == "factors")
      for (size_t e = 0; e < Q.size(); ++e)
        EXPECT_TRUE(at::allclose(back.entries()[e].second, Q.entries()[e].second, 1e-4, 1e-5));
    else
      EXPECT_TRUE(at::allclose(delta_vector(back, 1), delta_vector(Q, 1), 1e-4, 1e-4));
  }
  // Collinear anchors make no plane.
  const core::Adapter X = random_adapter(1), Y = random_adapter(2);
  const core::Adapter M = combine("factors", {X, Y}, {0.5, 0.5});
  EXPECT_THROW(analysis::plane_through(gram("factors", {X, Y, M}, 1.0)), ConfigError);
  EXPECT_THROW(analysis::plane_through(gram("factors", {X, X, Y}, 1.0)), ConfigError);
}

TEST(LandscapeMath, TrajectoryPcaFindsThePlaneOfAPlanarPath) {
  // Points X + a_i·(Y − X) + b_i·(Z − X): a planar trajectory; the PCA plane contains it.
  const core::Adapter X = random_adapter(1), Y = random_adapter(2), Z = random_adapter(3);
  std::vector<core::Adapter> traj;
  const double a[] = {0.0, 0.4, 0.1, 0.9, 0.5}, b[] = {0.0, 0.1, 0.7, 0.3, 0.5};
  for (int i = 0; i < 5; ++i)
    traj.push_back(combine("factors", {X, Y, Z}, {1 - a[i] - b[i], a[i], b[i]}));
  std::vector<std::pair<double, double>> ex;
  const auto f = analysis::trajectory_pca(gram("factors", traj, 1.0), ex);
  for (int i = 0; i < 5; ++i) {
    std::vector<double> e(5, 0.0);
    e[static_cast<size_t>(i)] = 1;
    EXPECT_NEAR(f.project(e).residual, 0.0, 1e-4) << i;
  }
  EXPECT_NEAR(ex[0].second + ex[1].second, 1.0, 1e-9) << "two components explain a planar path";
  EXPECT_GE(ex[0].first, ex[1].first);
  EXPECT_EQ(f.project({0, 0, 0, 0, 1}).x, 0.0);
  // Too short or on one line: errors.
  std::vector<std::pair<double, double>> unused;
  EXPECT_THROW(analysis::trajectory_pca(gram("factors", {X, Y, Z}, 1.0), unused), ConfigError);
  std::vector<core::Adapter> line;
  for (double t : {0.0, 0.3, 0.6, 1.0}) line.push_back(combine("factors", {X, Y}, {1 - t, t}));
  EXPECT_THROW(analysis::trajectory_pca(gram("factors", line, 1.0), unused), ConfigError);
}

TEST(LandscapeMath, FilterNormalisedDirectionsMatchTheCentresRowNorms) {
  core::Adapter c = random_adapter(4);
  // A row of zero norm in the centre gets a zero row.
  core::Adapter cz(
      {{c.entries()[0].first, c.entries()[0].second},
       {c.entries()[1].first, at::cat({at::zeros({1, 2}), c.entries()[1].second.narrow(0, 1, 4)})},
       c.entries()[2],
       c.entries()[3]});
  const core::Adapter d = analysis::filter_normalized_direction(cz, "factors", 5);
  for (size_t e = 0; e < d.size(); ++e)
    EXPECT_TRUE(at::allclose(d.entries()[e].second.norm(2, {1}),
                             cz.entries()[e].second.norm(2, {1}), 1e-5, 1e-6))
        << e;
  EXPECT_FALSE(d.equal(analysis::filter_normalized_direction(cz, "factors", 6)));
  EXPECT_TRUE(d.equal(analysis::filter_normalized_direction(cz, "factors", 5)));
  // Delta space: the rows of B_d·A_d have the norms of the rows of B·A.
  const core::Adapter dd = analysis::filter_normalized_direction(cz, "delta", 5);
  for (size_t m = 0; m < 2; ++m) {
    const auto& de = dd.entries();
    const auto& ce = cz.entries();
    EXPECT_TRUE(at::allclose(at::matmul(de[2 * m + 1].second, de[2 * m].second).norm(2, {1}),
                             at::matmul(ce[2 * m + 1].second, ce[2 * m].second).norm(2, {1}), 1e-4,
                             1e-5))
        << m;
  }
}

TEST(LandscapeMath, CurveCoefficientsInterpolateAndReproduceLines) {
  for (const std::string kind : {"bezier", "polychain"})
    for (int m : {2, 3, 5})
      for (double t : {0.0, 0.13, 0.5, 0.77, 1.0}) {
        const auto c = analysis::curve_coefs(kind, m, t);
        double sum = 0, lin = 0;
        for (int j = 0; j < m; ++j) {
          sum += c[static_cast<size_t>(j)];
          lin += c[static_cast<size_t>(j)] * j / (m - 1);
        }
        EXPECT_NEAR(sum, 1.0, 1e-12) << kind << m << t;
        EXPECT_NEAR(lin, t, 1e-12) << "control points on the line give the line";
        if (t == 0.0) {
          EXPECT_EQ(c.front(), 1.0);
        }
        if (t == 1.0) {
          EXPECT_EQ(c.back(), 1.0);
        }
      }
  // Bézier of 3 points at t = 0.5: (1/4, 1/2, 1/4); polychain of 3 at 0.25: (1/2, 1/2, 0).
  EXPECT_EQ(analysis::curve_coefs("bezier", 3, 0.5), (std::vector<double>{0.25, 0.5, 0.25}));
  EXPECT_EQ(analysis::curve_coefs("polychain", 3, 0.25), (std::vector<double>{0.5, 0.5, 0.0}));
  EXPECT_THROW(analysis::curve_coefs("spline", 3, 0.5), ConfigError);
}
