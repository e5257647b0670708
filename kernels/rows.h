// Fused float32 CPU kernels for evaluation forwards (no autograd): each replaces a chain of
// ATen element-wise ops, every one of which reads and writes a whole tensor, by one pass over
// rows that stay in cache (docs/performance.md, issue 6). Compiled for AVX-512, AVX2 and the
// baseline, chosen at run time (GCC target_clones). Results agree with the ATen chains to
// float rounding (tests/core/test_kernels.cpp), not bit for bit.
#pragma once

#include <cstdint>

namespace lorascape::kernels {

// y = x / sqrt(mean(x²) + eps) · w on each of `rows` rows of C values (x, y contiguous);
// inv (rows values, may be null) receives each row's 1 / sqrt(mean(x²) + eps).
void rms_norm(const float* x, const float* w, float* y, float* inv, int64_t rows, int64_t C,
              float eps);
// Its gradients: dx = inv·(dy·w) − x·inv³·mean(dy·w·x) per row; dw (C values, may be null)
// receives Σ_rows dy·x·inv, added to what it holds.
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* inv, float* dx,
                       float* dw, int64_t rows, int64_t C);

// out = silu(g) · u, silu(g) = g / (1 + e^−g), on `rows` rows of F values; g and u rows are
// g_stride and u_stride apart (views into one fused gate|up projection), out is contiguous.
void swiglu(const float* g, int64_t g_stride, const float* u, int64_t u_stride, float* out,
            int64_t rows, int64_t F);

// Its gradients for dh (rows × F, contiguous): dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g),
// into dg and du (contiguous rows of F).
void swiglu_backward(const float* dh, const float* g, int64_t g_stride, const float* u,
                     int64_t u_stride, float* dg, float* du, int64_t rows, int64_t F);

// Softmax over the first n values of a row in place, zero for the T − n after them: one row of
// causal attention scores (query n − 1).
void causal_softmax_row(float* s, int64_t n, int64_t T);

// Llama's rotary embedding in place on `rows` vectors of D values, `stride` apart (one head
// of consecutive positions): x·cos + rotate_half(x)·sin, rotate_half(x1, x2) = (−x2, x1) on the
// two halves; cos and sin hold D values per position (contiguous rows).
void rotary_rows(float* x, int64_t stride, int64_t rows, const float* cos, const float* sin,
                 int64_t D);

// Per row of V logits: ce = logsumexp(row) − row[target] (the cross-entropy of the target
// token) and hit = 1 when the row's first maximum is at the target, else 0 (argmax's rule).
// Returns false when a target lies outside [0, V) (its ce is NaN).
bool token_scores(const float* logits, int64_t rows, int64_t V, const int64_t* target, float* ce,
                  float* hit);

// e^x for float arguments (Cephes' polynomial, ≤ 2 ulp; x below −87.3 gives 0): the kernels'
// exponential, exposed for tests.
float exp_approx(float x);

}  // namespace lorascape::kernels
