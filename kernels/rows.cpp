#include "kernels/rows.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/exp_poly.h"

// One clone per instruction set, picked at load time; the loops below are written so that the
// compiler vectorises them (reductions over 16 independent partial sums, no calls in loops).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LORASCAPE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LORASCAPE_CLONES
#endif

namespace lorascape::kernels {

namespace {
constexpr int kLanes = 16;

// Cephes' expf: e^x = 2^n · e^r, n = round(x / ln 2), |r| ≤ ln 2 / 2, e^r by a degree-7
// polynomial; 2^n built in the exponent bits. Branch-free and call-free, so that loops over it
// vectorise (rounding by adding and subtracting 1.5·2²³, clamping by selects).
inline float exp_inline(float x) {
  using namespace exp_poly;
  x = x < kMin ? kMin : x;
  x = x > kMax ? kMax : x;
  const float round = 12582912.0f;  // 1.5·2²³
  const float n = (x * kLog2e + round) - round;
  const float r = x - n * kLn2Hi - n * kLn2Lo;
  float p = kP[0];
  for (int i = 1; i < 6; ++i) p = p * r + kP[i];
  p = p * r * r + r + 1.0f;
  return p * __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
}

// Σ a[i]·b[i] over n values, in kLanes partial sums (so that it vectorises).
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float sum = 0;
  for (int j = 0; j < kLanes; ++j) sum += acc[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}
}  // namespace

float exp_approx(float x) {
  return exp_inline(x);
}

LORASCAPE_CLONES
void rms_norm(const float* x, const float* w, float* y, float* inv, int64_t rows, int64_t C,
              float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    const float ir = 1.0f / std::sqrt(dot(xr, xr, C) / static_cast<float>(C) + eps);
    for (int64_t i = 0; i < C; ++i) yr[i] = xr[i] * ir * w[i];
    if (inv) inv[r] = ir;
  }
}

LORASCAPE_CLONES
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* inv, float* dx,
                       float* dw, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * C;
    const float* xr = x + r * C;
    float* dxr = dx + r * C;
    const float ir = inv[r];
    for (int64_t i = 0; i < C; ++i) dxr[i] = dyr[i] * w[i];  // dy·w, for now
    const float k = ir * ir * ir * dot(dxr, xr, C) / static_cast<float>(C);
    for (int64_t i = 0; i < C; ++i) dxr[i] = ir * dxr[i] - k * xr[i];
    if (dw)
      for (int64_t i = 0; i < C; ++i) dw[i] += dyr[i] * xr[i] * ir;
  }
}

LORASCAPE_CLONES
void swiglu(const float* g, int64_t g_stride, const float* u, int64_t u_stride, float* out,
            int64_t rows, int64_t F) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * g_stride;
    const float* ur = u + r * u_stride;
    float* o = out + r * F;
    for (int64_t i = 0; i < F; ++i) o[i] = gr[i] / (1.0f + exp_inline(-gr[i])) * ur[i];
  }
}

LORASCAPE_CLONES
void swiglu_backward(const float* dh, const float* g, int64_t g_stride, const float* u,
                     int64_t u_stride, float* dg, float* du, int64_t rows, int64_t F) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* dhr = dh + r * F;
    const float* gr = g + r * g_stride;
    const float* ur = u + r * u_stride;
    float* dgr = dg + r * F;
    float* dur = du + r * F;
    for (int64_t i = 0; i < F; ++i) {
      const float sig = 1.0f / (1.0f + exp_inline(-gr[i]));
      dur[i] = dhr[i] * gr[i] * sig;
      dgr[i] = dhr[i] * ur[i] * sig * (1.0f + gr[i] * (1.0f - sig));
    }
  }
}

LORASCAPE_CLONES
void causal_softmax_row(float* s, int64_t n, int64_t T) {
  // The passes run over whole vectors up to the one holding value n − 1, masking j >= n by
  // selects (rows are short: T of 64 is four AVX-512 vectors, and whole vectors beat scalar
  // remainders); the values after them are only zeroed.
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t full = T - T % kLanes;
  const int64_t vec_end = std::min(full, (n + kLanes - 1) / kLanes * kLanes);
  float mx[kLanes];
  std::fill(mx, mx + kLanes, neg_inf);
  for (int64_t j = 0; j < vec_end; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float v = j + l < n ? s[j + l] : neg_inf;
      mx[l] = v > mx[l] ? v : mx[l];
    }
  float m = neg_inf;
  for (int l = 0; l < kLanes; ++l) m = mx[l] > m ? mx[l] : m;
  for (int64_t j = vec_end; j < n; ++j) m = s[j] > m ? s[j] : m;
  float acc[kLanes] = {};
  for (int64_t j = 0; j < vec_end; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float e = exp_inline(s[j + l] - m);
      s[j + l] = j + l < n ? e : 0.0f;
      acc[l] += s[j + l];
    }
  float sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += acc[l];
  for (int64_t j = vec_end; j < n; ++j) {
    s[j] = exp_inline(s[j] - m);
    sum += s[j];
  }
  const int64_t end = std::max(vec_end, n);
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < end; ++j) s[j] *= inv;
  std::fill(s + end, s + T, 0.0f);
}

LORASCAPE_CLONES
void rotary_rows(float* x, int64_t stride, int64_t rows, const float* cos, const float* sin,
                 int64_t D) {
  const int64_t h = D / 2;
  for (int64_t t = 0; t < rows; ++t, x += stride, cos += D, sin += D)
    for (int64_t j = 0; j < h; ++j) {
      const float x1 = x[j], x2 = x[j + h];
      x[j] = x1 * cos[j] - x2 * sin[j];
      x[j + h] = x2 * cos[j + h] + x1 * sin[j + h];
    }
}

LORASCAPE_CLONES
bool token_scores(const float* logits, int64_t rows, int64_t V, const int64_t* target, float* ce,
                  float* hit) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t full = V - V % kLanes;
  bool valid = true;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * V;
    float mx[kLanes];
    std::fill(mx, mx + kLanes, neg_inf);
    for (int64_t j = 0; j < full; j += kLanes)
      for (int l = 0; l < kLanes; ++l) mx[l] = x[j + l] > mx[l] ? x[j + l] : mx[l];
    float m = neg_inf;
    for (int l = 0; l < kLanes; ++l) m = mx[l] > m ? mx[l] : m;
    for (int64_t j = full; j < V; ++j) m = x[j] > m ? x[j] : m;
    int64_t arg = 0;  // the first index holding the maximum, as argmax
    while (arg < V - 1 && !(x[arg] == m)) ++arg;
    float acc[kLanes] = {};
    for (int64_t j = 0; j < full; j += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += exp_inline(x[j + l] - m);
    float sum = 0;
    for (int l = 0; l < kLanes; ++l) sum += acc[l];
    for (int64_t j = full; j < V; ++j) sum += exp_inline(x[j] - m);
    const int64_t t = target[r];
    if (t < 0 || t >= V) {
      valid = false;
      ce[r] = std::numeric_limits<float>::quiet_NaN();
      hit[r] = 0.0f;
      continue;
    }
    ce[r] = m + std::log(sum) - x[t];
    hit[r] = arg == t ? 1.0f : 0.0f;
  }
  return valid;
}

}  // namespace lorascape::kernels
