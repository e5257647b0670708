#include "core/model.h"

#include <ATen/Parallel.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ops.h"
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
  need(n_kv_heads >= 0 && n_heads % kv_heads() == 0,
       "model.n_kv_heads must divide model.n_heads (0 = as many as n_heads)");
  need(n_layers > 0, "model.n_layers must be >= 1");
  need(d_ff > 0, "model.d_ff must be >= 1");
  need(max_seq >= 8, "model.max_seq must be >= 8");
  need(rope_theta > 0 && norm_eps > 0, "model.rope_theta and model.norm_eps must be > 0");
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {{"vocab", vocab},           {"d_model", d_model},  {"n_layers", n_layers},
                      {"n_heads", n_heads},       {"d_ff", d_ff},        {"max_seq", max_seq},
                      {"rope_theta", rope_theta}, {"norm_eps", norm_eps}};
  // Only when it differs from n_heads: files of models without grouped-query attention stay
  // as they were (and so their digests and cache names).
  if (kv_heads() != n_heads) j["n_kv_heads"] = n_kv_heads;
  return j;
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  ModelConfig c;
  try {
    c.vocab = j.at("vocab").get<int64_t>();
    c.d_model = j.at("d_model").get<int64_t>();
    c.n_layers = j.at("n_layers").get<int64_t>();
    c.n_heads = j.at("n_heads").get<int64_t>();
    c.n_kv_heads = j.value("n_kv_heads", int64_t{0});
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

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  return kernels::rms_norm(x, weight, eps_);
}

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : n_heads_(cfg.n_heads), head_dim_(cfg.head_dim()) {
  const int64_t C = cfg.d_model, KVD = cfg.kv_heads() * cfg.head_dim();
  q_proj = register_module("q_proj", LoraLinear(C, C));
  k_proj = register_module("k_proj", LoraLinear(C, KVD));
  v_proj = register_module("v_proj", LoraLinear(C, KVD));
  o_proj = register_module("o_proj", LoraLinear(C, C));
  torch::NoGradGuard ng;
  o_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const PointWeights::Layer* pl) {
  const int64_t H = n_heads_, C = H * head_dim_, KVD = k_proj->weight.size(0);
  // q, k and v in one GEMM: per point with the merged weights of a point-batched forward, else
  // with the base weights side by side (each projection then adds its own LoRA side path).
  at::Tensor q, k, v;
  if (pl) {
    const at::Tensor qkv = kernels::point_linear(x, pl->qkv);  // (K·B, T, C + 2·KV·D)
    q = qkv.narrow(2, 0, C);
    k = qkv.narrow(2, C, KVD);
    v = qkv.narrow(2, C + KVD, KVD);
  } else {
    const auto qkv =
        kernels::apply_weight(x, at::cat({q_proj->weight, k_proj->weight, v_proj->weight}))
            .split_with_sizes({C, KVD, KVD}, -1);
    q = q_proj->add_side_path(qkv[0], x);
    k = k_proj->add_side_path(qkv[1], x);
    v = v_proj->add_side_path(qkv[2], x);
  }
  const at::Tensor y =
      kernels::causal_attention(q, k, v, cos, sin, H, pl ? pl->points() : 1);  // (B, T, C)
  return pl ? kernels::point_linear(y, pl->o) : o_proj(y);
}

MlpImpl::MlpImpl(const ModelConfig& cfg) {
  gate_proj = register_module("gate_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  up_proj = register_module("up_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  down_proj = register_module("down_proj", LoraLinear(cfg.d_ff, cfg.d_model));
  torch::NoGradGuard ng;
  down_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor MlpImpl::forward(const at::Tensor& x, const PointWeights::Layer* pl) {
  // gate and up in one GEMM, as q, k and v in AttentionImpl::forward; with one weight for all
  // rows (each point's merged weight), the SwiGLU inside that GEMM where it can be (kernels/ops.h).
  if (pl) return kernels::point_linear(kernels::point_linear_swiglu(x, pl->gate_up), pl->down);
  const auto gu = kernels::apply_weight(x, at::cat({gate_proj->weight, up_proj->weight}))
                      .split(gate_proj->weight.size(0), -1);
  const at::Tensor g = gate_proj->add_side_path(gu[0], x), u = up_proj->add_side_path(gu[1], x);
  return down_proj(kernels::swiglu(g, u));  // (B, T, F) -> (B, T, C)
}

BlockImpl::BlockImpl(const ModelConfig& cfg) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  self_attn = register_module("self_attn", Attention(cfg));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  mlp = register_module("mlp", Mlp(cfg));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const PointWeights::Layer* pl) {
  // RMSNorm's mean over each row, one point's rows at a time (kernels/ops.h per_point).
  const int64_t K = pl ? pl->points() : 1;
  auto norm = [K](RMSNorm& n, const at::Tensor& t) {
    return kernels::per_point(t, K, [&](const at::Tensor& tp, int64_t) { return n(tp); });
  };
  if (!at::GradMode::is_enabled()) {  // the same sums in place
    at::Tensor h = self_attn->forward(norm(input_layernorm, x), cos, sin, pl).add_(x);
    return mlp->forward(norm(post_attention_layernorm, h), pl).add_(h);
  }
  at::Tensor h = x + self_attn->forward(norm(input_layernorm, x), cos, sin, pl);
  return h + mlp->forward(norm(post_attention_layernorm, h), pl);
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
  return forward_impl(ids, nullptr, nullptr);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, std::vector<at::Tensor>& hidden) {
  hidden.clear();
  return forward_impl(ids, &hidden, nullptr);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, const PointWeights& pw) {
  const int64_t K = pw.points();
  bool fits = K >= 1 && pw.layers.size() == model->layers->size();
  for (const auto& l : pw.layers) fits = fits && l.points() == K;
  if (!fits)
    throw Error("point weights for " + std::to_string(pw.layers.size()) + " layers of " +
                std::to_string(K) + " points do not fit a model of " +
                std::to_string(model->layers->size()) + " layers");
  return forward_impl(ids.repeat({K, 1}), nullptr, &pw);  // (K·B, T), point-major
}

at::Tensor TransformerImpl::forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden,
                                         const PointWeights* pw) {
  const int64_t T = ids.size(1), K = pw ? pw->points() : 1;
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
    x = model->layers[l]->as<Block>()->forward(x, cos, sin, pw ? &pw->layers[l] : nullptr);
    if (hidden && l + 1 < L) hidden->push_back(x);
  }
  // The final norm and lm_head (bias-free), one point's rows at a time.
  x = kernels::per_point(x, K, [&](const at::Tensor& xp, int64_t) { return model->norm(xp); });
  if (hidden) hidden->push_back(x);
  return kernels::per_point(x, K, [&](const at::Tensor& xp, int64_t) {
    return kernels::apply_weight(xp, lm_head->weight);
  });  // (B, T, V)
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
