#include "core/model.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/device.h"
#include "core/fused_ops.h"
#include "core/gemm.h"
#include "core/kernels.h"
#include "store/error.h"

namespace lorascape::core {

void ModelConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError(msg);
  };
  need(vocab >= 260, "model.vocab must be >= 260 (256 bytes + 4 special tokens)");
  need(d_model > 0 && n_heads > 0 && d_model % n_heads == 0,
       "model.d_model must be a positive multiple of model.n_heads");
  need(head_dim() % 2 == 0, "model.d_model / model.n_heads must be even (rotary embeddings)");
  need(n_layers > 0, "model.n_layers must be >= 1");
  need(d_ff > 0, "model.d_ff must be >= 1");
  need(max_seq >= 8, "model.max_seq must be >= 8");
  need(rope_theta > 0 && norm_eps > 0, "model.rope_theta and model.norm_eps must be > 0");
}

nlohmann::json ModelConfig::to_json() const {
  return {{"vocab", vocab},           {"d_model", d_model},  {"n_layers", n_layers},
          {"n_heads", n_heads},       {"d_ff", d_ff},        {"max_seq", max_seq},
          {"rope_theta", rope_theta}, {"norm_eps", norm_eps}};
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  ModelConfig c;
  try {
    c.vocab = j.at("vocab").get<int64_t>();
    c.d_model = j.at("d_model").get<int64_t>();
    c.n_layers = j.at("n_layers").get<int64_t>();
    c.n_heads = j.at("n_heads").get<int64_t>();
    c.d_ff = j.at("d_ff").get<int64_t>();
    c.max_seq = j.at("max_seq").get<int64_t>();
    c.rope_theta = j.at("rope_theta").get<double>();
    c.norm_eps = j.at("norm_eps").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(
        std::string("model config: ") + e.what() +
        " (the base model file lacks a valid model_config; re-run `lorascape pretrain`)");
  }
  return c;
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
// docs/performance.md). The GEMMs are lorascape's (core/gemm.h), which skip the blocks the
// causal mask discards, where they run; else the BLAS's `sgemm` (which must then be given).
// Returns (B, T, C).
at::Tensor causal_attention_cpu(SgemmFn sgemm, const at::Tensor& q, const at::Tensor& k,
                                const at::Tensor& v, const at::Tensor& cos, const at::Tensor& sin,
                                int64_t H) {
  RECORD_FUNCTION("lorascape::causal_attention", std::vector<c10::IValue>());  // for profiles
  const int64_t B = q.size(0), T = q.size(1), C = q.size(2), D = C / H;
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
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> S(static_cast<size_t>(T * T));  // one (sequence, head)'s scores
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H;
      float* qi = Q + b * qb + h * D;
      float* ki = K + b * kb + h * D;
      const float* vi = V + b * vb + h * D;
      float* oi = O + b * T * C + h * D;
      kernels::rotary_rows(qi, qs, T, cp, sp, D);
      kernels::rotary_rows(ki, ks, T, cp, sp, D);
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

}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  return rms_norm(x, weight, eps_);
}

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : n_heads_(cfg.n_heads), head_dim_(cfg.head_dim()) {
  const int64_t C = cfg.d_model;
  q_proj = register_module("q_proj", LoraLinear(C, C));
  k_proj = register_module("k_proj", LoraLinear(C, C));
  v_proj = register_module("v_proj", LoraLinear(C, C));
  o_proj = register_module("o_proj", LoraLinear(C, C));
  torch::NoGradGuard ng;
  o_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

namespace {
// Causal attention in ATen ops (autograd, GPUs, bfloat16): q, k, v (B, T, C) -> (B, T, C).
at::Tensor causal_attention_aten(at::Tensor q, at::Tensor k, at::Tensor v, const at::Tensor& cos,
                                 const at::Tensor& sin, int64_t H) {
  const int64_t B = q.size(0), T = q.size(1), C = q.size(2), D = C / H;
  const bool grad = at::GradMode::is_enabled();
  auto heads = [&](const at::Tensor& t) {
    return t.view({B, T, H, D}).transpose(1, 2);
  };  // (B, H, T, D)
  q = heads(q);
  k = heads(k);
  v = heads(v);
  if (grad) {
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
  } else {  // the same arithmetic in place
    q = (q * cos).add_(rotate_half(q).mul_(sin));
    k = (k * cos).add_(rotate_half(k).mul_(sin));
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

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  int64_t points) {
  const int64_t H = n_heads_, C = H * head_dim_;
  // q, k and v in one GEMM: per point with the merged weights of a point-batched forward, else
  // with the base weights side by side (each projection then adds its own LoRA side path).
  at::Tensor q, k, v;
  if (qkv_point_weights.defined()) {
    const at::Tensor qkv = point_linear(x, qkv_point_weights);  // (K·B, T, 3C)
    q = qkv.narrow(2, 0, C);
    k = qkv.narrow(2, C, C);
    v = qkv.narrow(2, 2 * C, C);
  } else {
    const auto qkv =
        apply_weight(x, at::cat({q_proj->weight, k_proj->weight, v_proj->weight})).split(C, -1);
    q = q_proj->add_side_path(qkv[0], x);
    k = k_proj->add_side_path(qkv[1], x);
    v = v_proj->add_side_path(qkv[2], x);
  }
  // Each (sequence, head) by itself: the fused CPU kernel may take every point's sequences at once.
  if (!at::GradMode::is_enabled() && x.is_cpu() && x.scalar_type() == at::kFloat &&
      cos.scalar_type() == at::kFloat)
    if (SgemmFn sgemm = blas_sgemm(); sgemm || kernels::gemm_available())
      return o_proj(causal_attention_cpu(sgemm, q, k, v, cos, sin, H));
  // ATen's batched products: one point's sequences at a time.
  return o_proj(per_point(q, points, [&](const at::Tensor& qp, int64_t p) {
    const int64_t B = qp.size(0);
    return causal_attention_aten(qp, k.narrow(0, p * B, B), v.narrow(0, p * B, B), cos, sin, H);
  }));
}

MlpImpl::MlpImpl(const ModelConfig& cfg) {
  gate_proj = register_module("gate_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  up_proj = register_module("up_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  down_proj = register_module("down_proj", LoraLinear(cfg.d_ff, cfg.d_model));
  torch::NoGradGuard ng;
  down_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  // gate and up in one GEMM, as q, k and v in AttentionImpl::forward; with one weight for all
  // rows (each point's merged weight), the SwiGLU inside that GEMM where it can be (fused_ops.h).
  if (gate_up_point_weights.defined())
    return down_proj(point_linear_swiglu(x, gate_up_point_weights));
  const auto gu = apply_weight(x, at::cat({gate_proj->weight, up_proj->weight}))
                      .split(gate_proj->weight.size(0), -1);
  const at::Tensor g = gate_proj->add_side_path(gu[0], x), u = up_proj->add_side_path(gu[1], x);
  return down_proj(swiglu(g, u));  // (B, T, F) -> (B, T, C)
}

BlockImpl::BlockImpl(const ModelConfig& cfg) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  self_attn = register_module("self_attn", Attention(cfg));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  mlp = register_module("mlp", Mlp(cfg));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              int64_t points) {
  // RMSNorm's mean over each row, one point's rows at a time (fused_ops.h per_point).
  auto norm = [points](RMSNorm& n, const at::Tensor& t) {
    return per_point(t, points, [&](const at::Tensor& tp, int64_t) { return n(tp); });
  };
  if (!at::GradMode::is_enabled()) {  // the same sums in place
    at::Tensor h = self_attn->forward(norm(input_layernorm, x), cos, sin, points).add_(x);
    return mlp(norm(post_attention_layernorm, h)).add_(h);
  }
  at::Tensor h = x + self_attn->forward(norm(input_layernorm, x), cos, sin, points);
  return h + mlp(norm(post_attention_layernorm, h));
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab, cfg.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.n_layers; ++i) layers->push_back(Block(cfg));
  norm = register_module("norm", RMSNorm(cfg.d_model, cfg.norm_eps));
  torch::NoGradGuard ng;
  torch::nn::init::normal_(embed_tokens->weight, 0.0, 0.02);
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  model = register_module("model", Decoder(cfg_));
  lm_head = register_module(
      "lm_head", torch::nn::Linear(torch::nn::LinearOptions(cfg_.d_model, cfg_.vocab).bias(false)));
  torch::NoGradGuard ng;
  torch::nn::init::normal_(lm_head->weight, 0.0, 0.02);
  const int64_t D = cfg_.head_dim();
  // 1 / theta^(2i/D) in float32, as transformers' LlamaRotaryEmbedding computes it.
  inv_freq_ = 1.0 / at::pow(cfg_.rope_theta, at::arange(0, D, 2, at::kLong).to(at::kFloat) /
                                                 static_cast<double>(D));  // (D/2)
}

std::pair<at::Tensor, at::Tensor> TransformerImpl::rotary(int64_t T, const at::Device& device) {
  at::Tensor pos = at::arange(T, at::TensorOptions().dtype(at::kFloat));
  at::Tensor freqs = at::outer(pos, inv_freq_);  // (T, D/2)
  at::Tensor emb = at::cat({freqs, freqs}, -1);  // (T, D)
  return {emb.cos().to(device), emb.sin().to(device)};
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids) {
  return forward_impl(ids, nullptr);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, std::vector<at::Tensor>& hidden) {
  hidden.clear();
  return forward_impl(ids, &hidden);
}

at::Tensor TransformerImpl::forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden) {
  const int64_t T = ids.size(1);
  if (T > cfg_.max_seq)
    throw DataError("sequence of " + std::to_string(T) + " tokens exceeds model.max_seq " +
                    std::to_string(cfg_.max_seq) + " (use a model with a longer max_seq)");
  auto [cos, sin] = rotary(T, ids.device());
  at::Tensor x = model->embed_tokens(ids);  // (B, T, C)
  cos = cos.to(x.scalar_type());            // bfloat16 models rotate in bfloat16
  sin = sin.to(x.scalar_type());
  if (hidden) hidden->push_back(x);
  const size_t L = model->layers->size();
  for (size_t l = 0; l < L; ++l) {
    x = model->layers[l]->as<Block>()->forward(x, cos, sin, points_);
    if (hidden && l + 1 < L) hidden->push_back(x);
  }
  // The final norm and lm_head (bias-free), one point's rows at a time.
  x = per_point(x, points_, [&](const at::Tensor& xp, int64_t) { return model->norm(xp); });
  if (hidden) hidden->push_back(x);
  return per_point(x, points_, [&](const at::Tensor& xp, int64_t) {
    return apply_weight(xp, lm_head->weight);
  });  // (B, T, V)
}

void TransformerImpl::set_points(int64_t points) {
  if (points < 1) throw Error("TransformerImpl::set_points: " + std::to_string(points) + " points");
  points_ = points;
}

void TransformerImpl::add_lora(const LoraConfig& lora) {
  lora.validate();
  if (has_lora_) throw Error("add_lora called twice on one model");
  for (auto& p : parameters()) p.set_requires_grad(false);
  for (auto& [name, layer] : projections()) {
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (std::find(lora.targets.begin(), lora.targets.end(), leaf) != lora.targets.end())
      layer->enable_lora(lora.rank, lora.alpha, lora.dropout);
  }
  lora_ = lora;
  has_lora_ = true;
}

std::vector<std::pair<std::string, LoraLinear>> TransformerImpl::projections() {
  std::vector<std::pair<std::string, LoraLinear>> out;
  for (size_t i = 0; i < model->layers->size(); ++i) {
    auto block = model->layers[i]->as<Block>();
    const std::string pre = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(pre + "self_attn.q_proj", block->self_attn->q_proj);
    out.emplace_back(pre + "self_attn.k_proj", block->self_attn->k_proj);
    out.emplace_back(pre + "self_attn.v_proj", block->self_attn->v_proj);
    out.emplace_back(pre + "self_attn.o_proj", block->self_attn->o_proj);
    out.emplace_back(pre + "mlp.gate_proj", block->mlp->gate_proj);
    out.emplace_back(pre + "mlp.up_proj", block->mlp->up_proj);
    out.emplace_back(pre + "mlp.down_proj", block->mlp->down_proj);
  }
  return out;
}

std::vector<std::pair<std::string, LoraLinear>> TransformerImpl::lora_layers() {
  std::vector<std::pair<std::string, LoraLinear>> out;
  for (auto& item : projections())
    if (item.second->has_lora()) out.push_back(item);
  return out;
}

bool is_lora_parameter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

std::vector<std::pair<std::string, at::Tensor>> TransformerImpl::base_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters())
    if (!is_lora_parameter(item.key())) out.emplace_back(item.key(), item.value());
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> TransformerImpl::lora_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters())
    if (is_lora_parameter(item.key())) out.emplace_back(item.key(), item.value());
  return out;
}

void TransformerImpl::merge_lora() {
  for (auto& [n, l] : lora_layers()) {
    (void)n;
    l->merge();
  }
}
void TransformerImpl::unmerge_lora() {
  for (auto& [n, l] : lora_layers()) {
    (void)n;
    l->unmerge();
  }
}

}  // namespace lorascape::core
