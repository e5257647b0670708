#include "kernels/gemm.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kernels/exp_poly.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LORASCAPE_GEMM_AVX512 1
#include <immintrin.h>
// GCC 12's unmasked AVX-512 intrinsics (_mm512_max_ps, _mm512_rcp14_ps, …) start from
// _mm512_undefined_ps(), which it then reports as "used uninitialized" wherever they are
// inlined (GCC bug 105593, fixed in GCC 13): a false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace lorascape::kernels {

namespace {
std::atomic<bool> g_enabled{true};
}  // namespace

void set_gemm_enabled(bool enabled) {
  g_enabled = enabled;
}

#ifdef LORASCAPE_GEMM_AVX512

namespace {
constexpr int64_t kNR = 32;  // columns per packed panel: two zmm registers
constexpr int64_t kMR = 14;  // rows per register tile: 28 accumulators + 2 for B
// Blocking, measured on the 2-core Sapphire Rapids machines (48 KiB L1, 2 MiB L2 per core)
// against OpenBLAS over the model's shapes at d_model 128–512 (rates relative to OpenBLAS's,
// which factor out the clock): row blocks of 28, k blocks of up to 512, and column blocks of
// at most 1 MiB of packed B, which stays in L2 while every row block of A passes.
constexpr int64_t kMC = 28;
constexpr int64_t kKC = 512;
constexpr int64_t kNC = 256 * 1024;
static_assert(kSwigluMaxK <= kKC, "gemm_swiglu's sums must be complete after one k block");

// The ways a tile's sums leave the registers.
enum class Epilogue {
  store,   // C = alpha · sums (+ C when accumulating): 32 columns
  swiglu,  // C = silu(first 16 sums) · (last 16 sums): gate and up columns side by side in the
           // panel, 16 columns of output
};

// e^x on 16 lanes: the polynomial of kernels/exp_poly.h, with 2^n by scalef.
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  using namespace exp_poly;
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kMin)), _mm512_set1_ps(kMax));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r =
      _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x));
  __m512 p = _mm512_set1_ps(kP[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP[i]));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// silu(g) · u = g · u / (1 + e^−g), the reciprocal by rcp14 and one Newton step (relative
// error about 1e-7, against a 20-cycle division).
__attribute__((target("avx512f"))) inline __m512 swiglu16(__m512 g, __m512 u) {
  const __m512 d =
      _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g)));
  __m512 r = _mm512_rcp14_ps(d);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
  return _mm512_mul_ps(_mm512_mul_ps(g, u), r);
}

// C tile (MR rows, masks m0 | m1 for a narrower last panel) = the epilogue of alpha · A tile ·
// B panel over kc values of k. B panel rows are 32 contiguous values, 64-byte aligned.
template <int MR, Epilogue E>
__attribute__((target("avx512f"))) void tile(const float* a, int64_t lda, const float* b,
                                             int64_t kc, float* c, int64_t ldc, bool accumulate,
                                             float alpha, __mmask16 m0, __mmask16 m1) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b + k * kNR), b1 = _mm512_load_ps(b + k * kNR + 16);
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i * lda + k]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
  }
  if constexpr (E == Epilogue::swiglu) {
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(c + i * ldc, m0, swiglu16(c0[i], c1[i]));
    return;
  }
  const __m512 s = _mm512_set1_ps(alpha);
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    __m512 v0 = alpha == 1.0f ? c0[i] : _mm512_mul_ps(c0[i], s);
    __m512 v1 = alpha == 1.0f ? c1[i] : _mm512_mul_ps(c1[i], s);
    if (accumulate) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), v1);
    }
    _mm512_mask_storeu_ps(ci, m0, v0);
    _mm512_mask_storeu_ps(ci + 16, m1, v1);
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, bool, float,
                        __mmask16, __mmask16);
template <Epilogue E, int... R>
constexpr std::array<TileFn, sizeof...(R)> tiles(std::integer_sequence<int, R...>) {
  return {&tile<R + 1, E>...};
}
// kTiles<E>[r − 1]: the tile of r rows.
template <Epilogue E>
constexpr auto kTiles = tiles<E>(std::make_integer_sequence<int, kMR>{});

__mmask16 lane_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Columns of B (element (k, n) at b[k·b_k + n·b_n]) into the rows of packed panels: for each
// k, `cols` values (≤ 16, zero-padded to 16) at dst + k·32. Loaded whole where columns are
// contiguous (b_n = 1), else gathered (a weight's transpose: one row of W per column).
__attribute__((target("avx512f"))) void pack16(const float* b, int64_t b_k, int64_t b_n, int64_t K,
                                               int64_t cols, float* dst) {
  const __mmask16 m = lane_mask(cols);
  if (b_n == 1) {
    for (int64_t k = 0; k < K; ++k)
      _mm512_store_ps(dst + k * kNR, _mm512_maskz_loadu_ps(m, b + k * b_k));
    return;
  }
  const __m512i index =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(b_n)));
  for (int64_t k = 0; k < K; ++k)
    _mm512_store_ps(dst + k * kNR,
                    _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, b + k * b_k, 4));
}

// Packed B in a thread's reusable buffer, 64-byte aligned.
float* packing_buffer(int64_t panels, int64_t K) {
  thread_local std::vector<float> buffer;
  buffer.resize(static_cast<size_t>(panels * K * kNR + 16));
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buffer.data()) + 63) &
                                  ~uintptr_t(63));
}

// The blocked loops over packed panels (kMC, kKC, kNC above): C's panel p starts at column
// p · out_cols, of which `cols(p)` are written; rows and k ranges as `causal` allows.
template <Epilogue E>
__attribute__((target("avx512f"))) void run_panels(int64_t M, int64_t K, int64_t P,
                                                   int64_t out_cols, int64_t N_out, float alpha,
                                                   const float* a, int64_t lda, const float* packed,
                                                   float* c, int64_t ldc, Causal causal) {
  const int64_t chunks = (K + kKC - 1) / kKC, KC = (K + chunks - 1) / chunks;  // balanced k blocks
  const int64_t panels = std::max<int64_t>(1, kNC / (K * kNR));                // per column block
  for (int64_t p0 = 0; p0 < P; p0 += panels) {
    const int64_t p1 = std::min(P, p0 + panels);
    for (int64_t m0 = 0; m0 < M; m0 += kMC) {
      const int64_t m1 = std::min(M, m0 + kMC);
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t k1 = std::min(K, k0 + KC);
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t cols = std::min(out_cols, N_out - p * out_cols);
          const __mmask16 mask0 = lane_mask(cols), mask1 = lane_mask(cols - 16);
          for (int64_t i = m0; i < m1; i += kMR) {
            const int64_t rows = std::min(kMR, m1 - i), last = i + rows - 1;
            if (causal == Causal::upper_c && p * out_cols > last) continue;
            const int64_t kend = causal == Causal::lower_a ? std::min(k1, last + 1) : k1;
            if (kend <= k0) continue;  // (only for lower_a past the first k block: adds nothing)
            kTiles<E>[static_cast<size_t>(rows - 1)](
                a + i * lda + k0, lda, packed + p * K * kNR + k0 * kNR, kend - k0,
                c + i * ldc + p * out_cols, ldc, k0 > 0, alpha, mask0, mask1);
          }
        }
      }
    }
  }
}
}  // namespace

bool gemm_available() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu && g_enabled;
}

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
          int64_t b_k, int64_t b_n, float* c, int64_t ldc, Causal causal) {
  if (!gemm_available()) throw std::logic_error("kernels::gemm without gemm_available()");
  if (M <= 0 || N <= 0) return;
  if (b_n > (int64_t{1} << 26))
    throw std::invalid_argument("kernels::gemm: column stride of B beyond 2^26");
  const int64_t P = (N + kNR - 1) / kNR;
  // B in panels of 32 columns: panel p holds K rows of columns 32p … 32p + 31, zero-padded.
  float* packed = packing_buffer(P, K);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t half = 0; half < 2; ++half) {
      const int64_t n0 = p * kNR + half * 16;  // (a half past N is zeros: nothing read)
      pack16(n0 < N ? b + n0 * b_n : b, b_k, b_n, K, N - n0, packed + p * K * kNR + half * 16);
    }
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  run_panels<Epilogue::store>(M, K, P, kNR, N, alpha, a, lda, packed, c, ldc, causal);
}

void gemm_swiglu(int64_t M, int64_t F, int64_t K, const float* a, int64_t lda, const float* w,
                 int64_t ldw, float* h, int64_t ldh) {
  if (!gemm_available()) throw std::logic_error("kernels::gemm_swiglu without gemm_available()");
  if (K < 1 || K > kSwigluMaxK)
    throw std::invalid_argument("kernels::gemm_swiglu: K outside 1 … kSwigluMaxK");
  if (ldw > (int64_t{1} << 26))
    throw std::invalid_argument("kernels::gemm_swiglu: row stride of W beyond 2^26");
  if (M <= 0 || F <= 0) return;
  // Panel p: 16 gate columns (rows 16p … of W), then the 16 up columns of the same outputs.
  const int64_t P = (F + 15) / 16;
  float* packed = packing_buffer(P, K);
  for (int64_t p = 0; p < P; ++p) {
    pack16(w + p * 16 * ldw, 1, ldw, K, F - p * 16, packed + p * K * kNR);
    pack16(w + (F + p * 16) * ldw, 1, ldw, K, F - p * 16, packed + p * K * kNR + 16);
  }
  run_panels<Epilogue::swiglu>(M, K, P, 16, F, 1.0f, a, lda, packed, h, ldh, Causal::none);
}

#else  // no AVX-512 build: callers use the BLAS

bool gemm_available() {
  return false;
}

void gemm(int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, int64_t,
          float*, int64_t, Causal) {
  throw std::logic_error("kernels::gemm is not built for this CPU");
}

void gemm_swiglu(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                 int64_t) {
  throw std::logic_error("kernels::gemm_swiglu is not built for this CPU");
}

#endif

}  // namespace lorascape::kernels
