#include "core/stats.h"

#include <cmath>
#include <limits>

#include "store/error.h"

namespace lorascape::core {

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of the incomplete beta function (modified Lentz), valid for
// x < (a + 1) / (a + b + 2).
double beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1) < eps) break;
  }
  return h;
}

// The regularised incomplete beta function I_x(a, b).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

}  // namespace

double student_t_two_sided_p(double t, double nu) {
  if (std::isnan(t) || !(nu > 0)) return kNan;
  if (std::isinf(t)) return 0;
  return incomplete_beta(nu / 2, 0.5, nu / (nu + t * t));
}

double student_t_cdf(double t, double nu) {
  if (std::isnan(t) || !(nu > 0)) return kNan;
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  const double tail = 0.5 * student_t_two_sided_p(t, nu);
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double nu) {
  if (!(p > 0 && p < 1) || !(nu > 0)) return kNan;
  if (p == 0.5) return 0;
  if (p < 0.5) return -student_t_quantile(1 - p, nu);
  // The upper tail 1 − p as a two-sided p-value 2(1 − p), which keeps precision for p near 1.
  const double target = 2 * (1 - p);
  double lo = 0, hi = 1;
  while (student_t_two_sided_p(hi, nu) > target) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return std::numeric_limits<double>::infinity();
  }
  for (int i = 0; i < 2000 && hi - lo > 4 * std::numeric_limits<double>::epsilon() * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_two_sided_p(mid, nu) > target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MeanCi mean_ci(const std::vector<double>& x, double level) {
  MeanCi r;
  r.n = x.size();
  if (x.empty()) {
    r.mean = r.sd = r.ci_low = r.ci_high = kNan;
    return r;
  }
  double sum = 0;
  for (double v : x) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n < 2) {
    r.sd = r.ci_low = r.ci_high = kNan;
    return r;
  }
  double sq = 0;
  for (double v : x) sq += (v - r.mean) * (v - r.mean);
  r.sd = std::sqrt(sq / static_cast<double>(r.n - 1));
  const double half = student_t_quantile(0.5 + level / 2, static_cast<double>(r.n - 1)) * r.sd /
                      std::sqrt(static_cast<double>(r.n));
  r.ci_low = r.mean - half;
  r.ci_high = r.mean + half;
  return r;
}

PairedT paired_t_test(const std::vector<double>& a, const std::vector<double>& b, double level) {
  if (a.size() != b.size()) throw Error("paired_t_test: the samples differ in size");
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  PairedT r;
  r.diff = mean_ci(d, level);
  if (r.diff.n < 2 || std::isnan(r.diff.sd)) {
    r.t = r.p = kNan;
  } else if (r.diff.sd == 0) {
    r.t = r.diff.mean == 0 ? kNan
                           : std::copysign(std::numeric_limits<double>::infinity(), r.diff.mean);
    r.p = r.diff.mean == 0 ? kNan : 0;
  } else {
    r.t = r.diff.mean / (r.diff.sd / std::sqrt(static_cast<double>(r.diff.n)));
    r.p = student_t_two_sided_p(r.t, static_cast<double>(r.diff.n - 1));
  }
  return r;
}

}  // namespace lorascape::core
