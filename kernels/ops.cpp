#include "kernels/ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/blas.h"
#include "kernels/gemm.h"
#include "kernels/rows.h"

namespace lorascape::kernels {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool rows_for_kernels(const at::Tensor& t) {
  if (!t.is_cpu() || t.scalar_type() != at::kFloat || t.dim() < 2 || t.stride(-1) != 1)
    return false;
  for (int64_t d = t.dim() - 2; d > 0; --d)
    if (t.stride(d - 1) != t.size(d) * t.stride(d)) return false;
  return true;
}

at::Tensor rms_norm_aten(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor rms = at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);  // (..., 1)
  // Without autograd the same arithmetic in place: one temporary less.
  if (!at::GradMode::is_enabled()) return (x * rms).mul_(w);
  return x * rms * w;
}

at::Tensor swiglu_aten(const at::Tensor& g, const at::Tensor& u) {
  // (ATen's in-place silu_ on a strided view is 8x slower than silu into a new tensor.)
  if (!at::GradMode::is_enabled()) return at::silu(g).mul_(u);
  return at::silu(g) * u;
}

namespace {

// Splits `rows` rows of `width` values over LibTorch's intra-op threads (none inside a
// single-threaded scan worker), in chunks of at least 32k values as ATen's element-wise ops.
void for_rows(int64_t rows, int64_t width, const std::function<void(int64_t, int64_t)>& fn) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(width, 1)), fn);
}

// The forward kernels on tensors; inv, when given, receives each row's 1 / rms.
at::Tensor rms_norm_kernel(const at::Tensor& x, const at::Tensor& w, double eps, at::Tensor* inv) {
  const int64_t C = x.size(-1), rows = x.numel() / C;
  at::Tensor y = at::empty_like(x);
  if (inv) *inv = at::empty({rows}, x.options());
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* ip = inv ? inv->data_ptr<float>() : nullptr;
  for_rows(rows, C, [&](int64_t r0, int64_t r1) {
    kernels::rms_norm(xp + r0 * C, w.data_ptr<float>(), yp + r0 * C, ip ? ip + r0 : nullptr,
                      r1 - r0, C, static_cast<float>(eps));
  });
  return y;
}

at::Tensor swiglu_kernel(const at::Tensor& g, const at::Tensor& u) {
  const int64_t F = g.size(-1), gs = g.stride(-2), us = u.stride(-2);
  at::Tensor h = at::empty(g.sizes(), g.options());
  const float *gp = g.data_ptr<float>(), *up = u.data_ptr<float>();
  float* hp = h.data_ptr<float>();
  for_rows(g.numel() / F, F, [&](int64_t r0, int64_t r1) {
    kernels::swiglu(gp + r0 * gs, gs, up + r0 * us, us, hp + r0 * F, r1 - r0, F);
  });
  return h;
}

struct RmsNormFn : public torch::autograd::Function<RmsNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            double eps) {
    at::Tensor inv;
    at::Tensor y = rms_norm_kernel(x, w, eps, &inv);
    ctx->save_for_backward({x, w, inv});
    ctx->saved_data["eps"] = eps;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &inv = saved[2];
    const at::Tensor dy = grads[0].contiguous();
    const bool need_w = ctx->needs_input_grad(1);
    if (at::GradMode::is_enabled()) {  // differentiable formulas (create_graph)
      const at::Tensor r = at::rsqrt(x.pow(2).mean(-1, true) + ctx->saved_data["eps"].toDouble());
      const at::Tensor dyw = dy * w;
      at::Tensor dx = dyw * r - x * r.pow(3) * (dyw * x).mean(-1, true);
      at::Tensor dw = need_w ? (dy * x * r).reshape({-1, x.size(-1)}).sum(0) : at::Tensor();
      return {dx, dw, at::Tensor()};
    }
    const int64_t C = x.size(-1), rows = x.numel() / C;
    at::Tensor dx = at::empty_like(x);
    at::Tensor dw = need_w ? at::zeros({C}, w.options()) : at::Tensor();
    const float *dyp = dy.data_ptr<float>(), *xp = x.data_ptr<float>(), *ip = inv.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    auto run = [&](int64_t r0, int64_t r1) {
      kernels::rms_norm_backward(dyp + r0 * C, xp + r0 * C, w.data_ptr<float>(), ip + r0,
                                 dxp + r0 * C, need_w ? dw.data_ptr<float>() : nullptr, r1 - r0, C);
    };
    if (need_w)
      run(0, rows);  // dw sums over all rows: one thread (base-model training only)
    else
      for_rows(rows, C, run);
    return {dx, dw, at::Tensor()};
  }
};

struct SwigluFn : public torch::autograd::Function<SwigluFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& g, const at::Tensor& u) {
    ctx->save_for_backward({g, u});
    return swiglu_kernel(g, u);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &u = saved[1];
    const at::Tensor dh = grads[0].contiguous();
    if (at::GradMode::is_enabled()) {  // differentiable formulas (create_graph)
      const at::Tensor sig = at::sigmoid(g);
      return {dh * u * sig * (1 + g * (1 - sig)), dh * g * sig};
    }
    const int64_t F = g.size(-1), gs = g.stride(-2), us = u.stride(-2);
    at::Tensor dg = at::empty(g.sizes(), g.options()), du = at::empty(u.sizes(), u.options());
    const float *dhp = dh.data_ptr<float>(), *gp = g.data_ptr<float>(), *up = u.data_ptr<float>();
    float *dgp = dg.data_ptr<float>(), *dup = du.data_ptr<float>();
    for_rows(g.numel() / F, F, [&](int64_t r0, int64_t r1) {
      kernels::swiglu_backward(dhp + r0 * F, gp + r0 * gs, gs, up + r0 * us, us, dgp + r0 * F,
                               dup + r0 * F, r1 - r0, F);
    });
    return {dg, du};
  }
};

bool fits(const at::Tensor& x, const at::Tensor& w) {
  return rows_for_kernels(x) && x.is_contiguous() && w.is_cpu() && w.scalar_type() == at::kFloat &&
         w.is_contiguous() && w.dim() == 1 && w.size(0) == x.size(-1);
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (!fits(x, w)) return rms_norm_aten(x, w, eps);
  if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad()))
    return RmsNormFn::apply(x, w, eps);
  return rms_norm_kernel(x, w, eps, nullptr);
}

at::Tensor swiglu(const at::Tensor& g, const at::Tensor& u) {
  if (!rows_for_kernels(g) || !rows_for_kernels(u) || g.sizes() != u.sizes())
    return swiglu_aten(g, u);
  if (at::GradMode::is_enabled() && (g.requires_grad() || u.requires_grad()))
    return SwigluFn::apply(g, u);
  return swiglu_kernel(g, u);
}

namespace {
// Whether x · wᵀ goes to lorascape's GEMM: float32 on a CPU with AVX-512, rows of x evenly
// spaced, w (out × in) with unit column stride and no gradient of its own (a frozen or merged
// weight).
bool own_gemm_fits(const at::Tensor& x, const at::Tensor& w) {
  return kernels::gemm_available() && rows_for_kernels(x) && w.is_cpu() &&
         w.scalar_type() == at::kFloat && w.dim() == 2 && w.stride(1) == 1 &&
         w.size(1) == x.size(-1) && !(at::GradMode::is_enabled() && w.requires_grad());
}

// Runs fn over row ranges on LibTorch's intra-op threads (none inside a single-threaded scan
// worker), at least 256 rows each. Rows are independent, so the split does not change results.
void for_row_blocks(int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
  at::parallel_for(0, rows, 256, fn);
}

// An empty (…, n) result for the rows of x.
at::Tensor rows_of(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = n;
  return at::empty(shape, x.options());
}

// x · wᵀ by lorascape's GEMM, no autograd.
at::Tensor gemm_xwt(const at::Tensor& x, const at::Tensor& w) {
  const int64_t K = x.size(-1), N = w.size(0), lda = x.stride(-2);
  at::Tensor y = rows_of(x, N);
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_row_blocks(x.numel() / K, [&](int64_t r0, int64_t r1) {
    kernels::gemm(r1 - r0, N, K, 1.0f, xp + r0 * lda, lda, wp, 1, w.stride(0), yp + r0 * N, N);
  });
  return y;
}

// x · wᵀ for a weight without a gradient, with x's gradient dy · w by lorascape's GEMM too: the
// frozen base weights of LoRA training. A backward that is itself differentiated (create_graph)
// takes at::matmul.
struct FrozenLinearFn : public torch::autograd::Function<FrozenLinearFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({w});
    return gemm_xwt(x, w);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor w = ctx->get_saved_variables()[0];
    const at::Tensor dy = grads[0].contiguous();
    if (at::GradMode::is_enabled() || !kernels::gemm_available())
      return {at::matmul(dy, w), at::Tensor()};
    const int64_t N = w.size(0), K = w.size(1), ldw = w.stride(0);
    at::Tensor dx = rows_of(dy, K);
    const float *dyp = dy.data_ptr<float>(), *wp = w.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    for_row_blocks(dy.numel() / N, [&](int64_t r0, int64_t r1) {  // dx = dy (rows × N) · w (N × K)
      kernels::gemm(r1 - r0, K, N, 1.0f, dyp + r0 * N, N, wp, ldw, 1, dxp + r0 * K, K);
    });
    return {dx, at::Tensor()};
  }
};
}  // namespace

at::Tensor apply_weight(const at::Tensor& x, const at::Tensor& w) {
  if (!own_gemm_fits(x, w)) return at::matmul(x, w.t());
  if (at::GradMode::is_enabled() && x.requires_grad()) return FrozenLinearFn::apply(x, w);
  return gemm_xwt(x, w);
}

at::Tensor apply_weight_swiglu(const at::Tensor& x, const at::Tensor& w) {
  const int64_t K = x.size(-1), F = w.size(0) / 2;
  if (!own_gemm_fits(x, w) || (at::GradMode::is_enabled() && x.requires_grad()) ||
      K > kernels::kSwigluMaxK || w.size(0) % 2 != 0) {
    const at::Tensor gu = apply_weight(x, w);
    return swiglu(gu.narrow(-1, 0, F), gu.narrow(-1, F, F));
  }
  const int64_t lda = x.stride(-2);
  at::Tensor h = rows_of(x, F);
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
  float* hp = h.data_ptr<float>();
  for_row_blocks(x.numel() / K, [&](int64_t r0, int64_t r1) {
    kernels::gemm_swiglu(r1 - r0, F, K, xp + r0 * lda, lda, wp, w.stride(0), hp + r0 * F, F);
  });
  return h;
}

at::Tensor per_point(const at::Tensor& x, int64_t K,
                     const std::function<at::Tensor(const at::Tensor&, int64_t)>& f) {
  if (K == 1) return f(x, 0);
  if (K < 1 || x.size(0) % K != 0)
    throw std::invalid_argument("per_point: " + std::to_string(x.size(0)) + " rows are not " +
                                std::to_string(K) + " points' equal shares");
  const int64_t B = x.size(0) / K;
  std::vector<at::Tensor> parts;
  parts.reserve(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) parts.push_back(f(x.narrow(0, k * B, B), k));
  return at::cat(parts, 0);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor y = apply_weight(x, w);
  if (!b.defined()) return y;
  // A bias adds to each element by itself: the same sums in place where no gradient is kept.
  return at::GradMode::is_enabled() && (y.requires_grad() || b.requires_grad()) ? y + b : y.add_(b);
}

at::Tensor point_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return per_point(x, w.size(0),
                   [&](const at::Tensor& xk, int64_t k) { return linear(xk, w[k], b); });
}

at::Tensor point_linear_swiglu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (b.defined()) {  // the bias comes between the product and the SwiGLU: no fused pass
    const int64_t F = w.size(1) / 2;
    const at::Tensor gu = point_linear(x, w, b);
    return swiglu(gu.narrow(-1, 0, F), gu.narrow(-1, F, F));
  }
  return per_point(x, w.size(0),
                   [&](const at::Tensor& xk, int64_t k) { return apply_weight_swiglu(xk, w[k]); });
}

namespace {
// Llama's rotate_half: (x1, x2) -> (-x2, x1) on the two halves of the head dimension.
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// Row-major C (m×n, ldc) = alpha·A Bᵀ (tb) or alpha·A B through the column-major BLAS.
// A (m×k, lda), B (n×k, ldb) when tb, else (k×n, ldb).
inline void gemm_rowmajor(SgemmFn sgemm, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                          int64_t ldc) {
  // Row-major C = A op(B) is column-major Cᵀ = op(B)ᵀ Aᵀ.
  const int M = static_cast<int>(n), N = static_cast<int>(m), Kd = static_cast<int>(k);
  const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
  const float beta = 0.0f;
  sgemm(tb ? "T" : "N", "N", &M, &N, &Kd, &alpha, b, &la, a, &lb, &beta, c, &lc);
}

// Causal attention of H heads without autograd, on a CPU in float32. q, k, v: (B, T, C) with
// unit stride along C; rows may be strided (views into one fused q|k|v projection). q and k
// are rotated in place. Per (sequence, head): one GEMM for the scaled scores, the causal
// softmax of each row while the T×T block is in cache, one GEMM for the output, on pointers
// into q, k, v and the output: no per-head copies, transposes, masks or per-matrix tensor
// dispatch (which dominate ATen's batched matmul at a head dimension of 32,
// docs/performance.md). The GEMMs are lorascape's (kernels/gemm.h), which skip the blocks the
// causal mask discards, where they run; else the BLAS's `sgemm` (which must then be given).
// Returns (B, T, C).
at::Tensor causal_attention_cpu(SgemmFn sgemm, const at::Tensor& q, const at::Tensor& k,
                                const at::Tensor& v, const at::Tensor& cos, const at::Tensor& sin,
                                int64_t H) {
  RECORD_FUNCTION("lorascape::causal_attention", std::vector<c10::IValue>());  // for profiles
  const int64_t B = q.size(0), T = q.size(1), C = q.size(2), D = C / H, KV = k.size(2) / D;
  const int64_t G = H / KV;  // query heads per key/value head
  const int64_t qb = q.stride(0), qs = q.stride(1), kb = k.stride(0), ks = k.stride(1);
  const int64_t vb = v.stride(0), vs = v.stride(1);
  float* Q = q.data_ptr<float>();
  float* K = k.data_ptr<float>();
  const float* V = v.data_ptr<float>();
  const at::Tensor cc = cos.contiguous(), sc = sin.contiguous();
  const float* cp = cc.data_ptr<float>();
  const float* sp = sc.data_ptr<float>();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  const bool own = kernels::gemm_available();
  at::Tensor out = at::empty({B, T, C}, q.options());
  float* O = out.data_ptr<float>();
  // Keys rotated once per (sequence, key/value head), before the query heads that share them.
  at::parallel_for(0, B * KV, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      kernels::rotary_rows(K + (i / KV) * kb + (i % KV) * D, ks, T, cp, sp, D);
  });
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> S(static_cast<size_t>(T * T));  // one (sequence, head)'s scores
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      float* qi = Q + b * qb + h * D;
      const float* ki = K + b * kb + (h / G) * D;
      const float* vi = V + b * vb + (h / G) * D;
      float* oi = O + b * T * C + h * D;
      kernels::rotary_rows(qi, qs, T, cp, sp, D);
      if (own)  // scale·q kᵀ (T×T), row t needed up to column t
        kernels::gemm(T, T, D, scale, qi, qs, ki, 1, ks, S.data(), T, kernels::Causal::upper_c);
      else
        gemm_rowmajor(sgemm, true, T, T, D, scale, qi, qs, ki, ks, S.data(), T);
      for (int64_t r = 0; r < T; ++r) kernels::causal_softmax_row(S.data() + r * T, r + 1, T);
      if (own)  // P v (T×D), row t of P zero beyond column t
        kernels::gemm(T, D, T, 1.0f, S.data(), T, vi, vs, 1, oi, C, kernels::Causal::lower_a);
      else
        gemm_rowmajor(sgemm, false, T, D, T, 1.0f, S.data(), T, vi, vs, oi, C);
    }
  });
  return out;
}

// Causal attention in ATen ops (autograd, GPUs, bfloat16): q, k, v (B, T, C) -> (B, T, C).
at::Tensor causal_attention_aten(at::Tensor q, at::Tensor k, at::Tensor v, const at::Tensor& cos,
                                 const at::Tensor& sin, int64_t H) {
  const int64_t B = q.size(0), T = q.size(1), C = q.size(2), D = C / H, KV = k.size(2) / D;
  const bool grad = at::GradMode::is_enabled();
  auto heads = [&](const at::Tensor& t, int64_t n) {
    return t.view({B, T, n, D}).transpose(1, 2);
  };  // (B, n, T, D)
  q = heads(q, H);
  k = heads(k, KV);
  v = heads(v, KV);
  if (grad) {
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
  } else {  // the same arithmetic in place
    q = (q * cos).add_(rotate_half(q).mul_(sin));
    k = (k * cos).add_(rotate_half(k).mul_(sin));
  }
  if (KV != H) {  // grouped-query attention: each key/value head serves H / KV query heads
    k = k.repeat_interleave(H / KV, 1);
    v = v.repeat_interleave(H / KV, 1);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  at::Tensor causal = at::ones({T, T}, q.options().dtype(at::kBool)).triu(1);
  at::Tensor att = at::matmul(q, k.transpose(-2, -1));  // (B, H, T, T)
  if (grad)
    att = at::softmax((att * scale).masked_fill(causal, neg_inf), -1);
  else  // the same arithmetic in place
    att = at::softmax(att.mul_(scale).masked_fill_(causal, neg_inf), -1);
  at::Tensor y = at::matmul(att, v);                      // (B, H, T, D)
  return y.transpose(1, 2).contiguous().view({B, T, C});  // (B, T, C)
}
}  // namespace

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& cos, const at::Tensor& sin, int64_t H,
                            int64_t points) {
  // Each (sequence, head) by itself: the fused CPU kernel may take every point's sequences at once.
  if (!at::GradMode::is_enabled() && q.is_cpu() && q.scalar_type() == at::kFloat &&
      cos.scalar_type() == at::kFloat)
    if (SgemmFn sgemm = blas_sgemm(); sgemm || gemm_available())
      return causal_attention_cpu(sgemm, q, k, v, cos, sin, H);
  // ATen's batched products: one point's sequences at a time.
  return per_point(q, points, [&](const at::Tensor& qp, int64_t p) {
    const int64_t B = qp.size(0);
    return causal_attention_aten(qp, k.narrow(0, p * B, B), v.narrow(0, p * B, B), cos, sin, H);
  });
}

}  // namespace lorascape::kernels
