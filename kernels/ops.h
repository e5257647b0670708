// The model's operations (core/model.cpp): its linear maps, attention, RMSNorm and SwiGLU,
// each choosing here, and only here, between ATen and the fast CPU paths. RMSNorm and SwiGLU as
// single passes over rows: on a CPU in float32 they run the fused kernels of kernels/rows.h, with
// autograd through custom functions whose backward is one fused kernel too (docs/performance.md,
// issue 6); elsewhere (GPU, bfloat16) the same arithmetic in ATen ops. A backward that is itself
// differentiated (create_graph, as Hessian-vector products do) switches to ATen formulas, so second
// derivatives stay exact.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace lorascape::kernels {

// x / sqrt(mean(x², last dim) + eps) · w.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// silu(g) · u; g and u may be views into one fused gate|up projection.
at::Tensor swiglu(const at::Tensor& g, const at::Tensor& u);
// x · wᵀ for a weight w (out × in): on a CPU in float32, for a weight without a gradient (a
// frozen or merged one), by lorascape's GEMM (kernels/gemm.h) where it runs, forward and x's
// gradient; otherwise at::matmul.
at::Tensor apply_weight(const at::Tensor& x, const at::Tensor& w);
// apply_weight, plus the bias b (out) where b is defined.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);
// silu(x · w_gᵀ) · (x · w_uᵀ) for w = [w_g; w_u] (2F × in): the MLP's gate|up projection and its
// SwiGLU. One pass of lorascape's GEMM where apply_weight would use it (for in ≤
// kernels::kSwigluMaxK), without writing the 2F-wide projection; else apply_weight, then swiglu.
at::Tensor apply_weight_swiglu(const at::Tensor& x, const at::Tensor& w);

// Point-batched evaluation (core::Evaluator): the leading dimension of x holds the rows of K
// points, point-major (K·B, …). per_point applies f to each point's rows alone, f(x_k, k), and
// concatenates the results along dim 0 (with K = 1, f(x, 0) itself). Every product and every
// reduction over a point's rows goes through it, so a point's arithmetic is the lone point's —
// the same routine on tensors of the same shape — whatever K is, on every BLAS, GEMM setting
// and device (issue 13); only operations that treat each row or element by itself may span
// points.
at::Tensor per_point(const at::Tensor& x, int64_t K,
                     const std::function<at::Tensor(const at::Tensor&, int64_t)>& f);
// y_k = x_k · w_kᵀ (+ b) per point by linear: w (K, out, in), one weight per point (a shared
// weight expanded to K), b (out) shared by the points or undefined; x (K·B, …, in) ->
// (K·B, …, out).
at::Tensor point_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});
// apply_weight_swiglu per point: w (K, 2F, in) -> (K·B, …, F); with a bias b (2F), the product
// plus b, then swiglu.
at::Tensor point_linear_swiglu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});

// Causal self-attention of H query heads with Llama's rotary embedding: q (B, T, C), C = H·D;
// k, v (B, T, KV·D) with KV key/value heads dividing H (grouped-query attention: query head h
// uses key/value head h / (H/KV)); rows possibly strided (views into one fused q|k|v
// projection); cos, sin (T, D). Returns (B, T, C). Without autograd on a CPU in float32, the fused
// kernel: per (sequence, head) one GEMM for the scores (lorascape's, skipping what the causal mask
// discards, else the BLAS's sgemm_), a causal softmax per row, one GEMM for the output, q and k
// rotated in place; else ATen ops, one point's sequences at a time (`points`, as per_point).
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& cos, const at::Tensor& sin, int64_t H,
                            int64_t points = 1);

// The same in ATen ops only: the reference the fused paths are tested against.
at::Tensor rms_norm_aten(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor swiglu_aten(const at::Tensor& g, const at::Tensor& u);

// Whether t (…, n) is float32 on a CPU with rows of unit stride, evenly spaced: what the fused
// kernels take.
bool rows_for_kernels(const at::Tensor& t);

}  // namespace lorascape::kernels
