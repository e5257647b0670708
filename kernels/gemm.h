// lorascape's own float32 GEMM on AVX-512 CPUs, for the products with merged or frozen
// weights of scans, evaluation and LoRA training (kernels/ops.h apply_weight; docs/model.md,
// docs/performance.md). The model's products have an inner dimension of d_model or d_ff (128–1376),
// where a BLAS spends a large share of its time packing both operands and clearing C. Here only the
// right-hand operand is packed (N × K values, against M·N·K multiply-adds; M is thousands of
// token rows), the left-hand rows are read in place, and C is written once. The 14×32
// register tile keeps both FMA units busy. Each C element is one sum over k in order, so
// results do not depend on how rows are split over threads.
#pragma once

#include <cstdint>

namespace lorascape::kernels {

// Whether gemm() runs on this CPU (AVX-512) and has not been switched off; where it does not,
// callers use the BLAS.
bool gemm_available();
// Switches gemm() off (false) or back on, for A/B measurements and tests of the BLAS path.
void set_gemm_enabled(bool enabled);

// What a causal attention product may skip.
enum class Causal {
  none,
  upper_c,  // C's row i is needed only up to column i: whole 32-column panels right of a row
            // block's last row are not computed (the rest of such rows is left unspecified)
  lower_a,  // A's row i is zero beyond column i: each row block's sum stops at its last row
};

// C (M × N, rows ldc apart) = alpha · A · B on one thread. A is M × K, rows lda apart, unit
// column stride. B is K × N with element (k, n) at b[k·b_k + n·b_n]: b_k = 1, b_n = K for the
// transpose of a row-major (N × K) weight (y = x·Wᵀ), b_k = ldb, b_n = 1 for a row-major
// K × N matrix. Requires gemm_available().
void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
          int64_t b_k, int64_t b_n, float* c, int64_t ldc, Causal causal = Causal::none);

// The largest K gemm_swiglu takes: its sums must be complete in one pass over k.
constexpr int64_t kSwigluMaxK = 512;

// h (M × F, rows ldh apart) = silu(A·W_gᵀ) · (A·W_uᵀ), the gate|up projection of the model's
// MLP and its SwiGLU in one pass: W = [W_g; W_u] is 2F × K (rows ldw apart, unit column
// stride), and each tile's SwiGLU is computed while its sums are in registers, so the 2F-wide
// projection is never written. A as for gemm(); K ≤ kSwigluMaxK. Requires gemm_available().
void gemm_swiglu(int64_t M, int64_t F, int64_t K, const float* a, int64_t lda, const float* w,
                 int64_t ldw, float* h, int64_t ldh);

}  // namespace lorascape::kernels
