// Student's t distribution, mean confidence intervals and the paired t-test against closed
// forms (1, 2 and 3 degrees of freedom) and published quantiles.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/stats.h"
#include "store/error.h"

using namespace lorascape;
using namespace lorascape::core;

namespace {
constexpr double kT2 = 4.3026527297494638;  // t_{0.975, 2}, exact to double precision
}  // namespace

TEST(Stats, TCdfMatchesClosedForms) {
  const double pi = std::acos(-1.0);
  for (double t : {-30.0, -4.0, -1.5, -0.3, 0.0, 0.2, 1.0, 2.5, 7.0, 100.0}) {
    EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / pi, 1e-14) << t;
    EXPECT_NEAR(student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-14) << t;
    const double u = t / std::sqrt(3.0);
    EXPECT_NEAR(student_t_cdf(t, 3), 0.5 + (u / (1 + u * u) + std::atan(u)) / pi, 1e-14) << t;
    EXPECT_NEAR(student_t_two_sided_p(t, 2), 1 - std::abs(t) / std::sqrt(2 + t * t), 1e-14) << t;
  }
  EXPECT_EQ(student_t_two_sided_p(INFINITY, 4), 0.0);
  EXPECT_TRUE(std::isnan(student_t_two_sided_p(NAN, 4)));
}

TEST(Stats, TQuantilesMatchTables) {
  // Two-sided 95 % (p = 0.975) and 99 % (p = 0.995) critical values. With 2 degrees of freedom
  // the quantile has the closed form (2p − 1)/√(2p(1 − p)) = 0.95/√0.04875 =
  // 4.30265272974946385… (40 digits by Python's decimal); the often quoted 4.302652729911275
  // (SciPy's t.ppf) is 1.6e-10 too large.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706204736174707, 1e-10);
  EXPECT_NEAR(student_t_quantile(0.975, 2), kT2, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764451051977987, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228138851986274, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0422724563012373, 1e-12);
  EXPECT_NEAR(student_t_quantile(0.995, 5), 4.032142983557536, 1e-11);
  EXPECT_NEAR(student_t_quantile(0.025, 2), -kT2, 1e-12);
  EXPECT_EQ(student_t_quantile(0.5, 7), 0.0);
  EXPECT_TRUE(std::isnan(student_t_quantile(1.0, 3)));
  for (double nu : {1.0, 2.5, 9.0, 200.0})
    for (double p : {0.6, 0.9, 0.999})
      EXPECT_NEAR(student_t_cdf(student_t_quantile(p, nu), nu), p, 1e-13) << nu << " " << p;
}

TEST(Stats, MeanCiAndPairedTestByHand) {
  // x = 1, 2, 6: mean 3, s² = (4 + 1 + 9)/2 = 7, half-width t_{.975,2}·√(7/3).
  const MeanCi m = mean_ci({1, 2, 6});
  EXPECT_EQ(m.n, 3u);
  EXPECT_DOUBLE_EQ(m.mean, 3.0);
  EXPECT_NEAR(m.sd, std::sqrt(7.0), 1e-14);
  const double half = kT2 * std::sqrt(7.0 / 3.0);
  EXPECT_NEAR(m.ci_low, 3 - half, 1e-11);
  EXPECT_NEAR(m.ci_high, 3 + half, 1e-11);
  // Paired: a − b = 1, 2, 6 again; t = 3/√(7/3), p = 1 − |t|/√(2 + t²) (2 df).
  const PairedT p = paired_t_test({11, 12, 16}, {10, 10, 10});
  EXPECT_DOUBLE_EQ(p.diff.mean, 3.0);
  const double t = 3 / std::sqrt(7.0 / 3.0);
  EXPECT_NEAR(p.t, t, 1e-12);
  EXPECT_NEAR(p.p, 1 - t / std::sqrt(2 + t * t), 1e-12);
  EXPECT_NEAR(p.diff.ci_low, 3 - half, 1e-11);
  // Degenerate samples.
  EXPECT_TRUE(std::isnan(mean_ci({0.5}).sd));
  EXPECT_TRUE(std::isnan(paired_t_test({1, 2}, {1, 2}).p));
  EXPECT_EQ(paired_t_test({2, 3}, {1, 2}).p, 0.0);
  EXPECT_THROW(paired_t_test({1, 2}, {1}), Error);
}
