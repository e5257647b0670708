// Small-sample statistics of metrics over seeds (`lorascape compare`, docs/metrics.md):
// Student's t distribution, the mean with its t confidence interval, and the paired t-test.
#pragma once

#include <cstddef>
#include <vector>

namespace lorascape::core {

// P(T ≤ t) for Student's t with nu > 0 degrees of freedom, through the regularised incomplete
// beta function: P(|T| > |t|) = I_{nu/(nu+t²)}(nu/2, 1/2). Accurate to ~1e-14.
double student_t_cdf(double t, double nu);
// The t with P(T ≤ t) = p, p in (0, 1) (NaN otherwise), e.g. student_t_quantile(0.975, 2) =
// 4.30265272974946 (closed form 0.95/√0.04875). Bisection on student_t_cdf to the last few bits.
double student_t_quantile(double p, double nu);
// The two-sided p-value of a t statistic: P(|T| ≥ |t|); 0 for t = ±inf, NaN for NaN.
double student_t_two_sided_p(double t, double nu);

// x̄ ± t_{(1+level)/2, n−1} · s/√n, s the sample standard deviation (n − 1 in the
// denominator). With n < 2, sd and the interval are NaN.
struct MeanCi {
  size_t n = 0;
  double mean = 0, sd = 0, ci_low = 0, ci_high = 0;
};
MeanCi mean_ci(const std::vector<double>& x, double level = 0.95);

// The paired t-test of a − b (a[i] and b[i] one pair): the mean difference d̄ with its
// confidence interval (mean_ci of the differences), t = d̄ / (s_d/√n) and its two-sided
// p-value with n − 1 degrees of freedom. With n < 2, or all differences equal (s_d = 0), t and
// p are NaN unless d̄ ≠ 0 and s_d = 0 (t = ±inf, p = 0).
struct PairedT {
  MeanCi diff;
  double t = 0, p = 0;
};
// a and b must have the same size (lorascape::Error otherwise).
PairedT paired_t_test(const std::vector<double>& a, const std::vector<double>& b,
                      double level = 0.95);

}  // namespace lorascape::core
