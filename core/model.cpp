#include "core/model.h"

#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

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
  return {{"vocab", vocab},       {"d_model", d_model},       {"n_layers", n_layers},
          {"n_heads", n_heads},   {"d_ff", d_ff},             {"max_seq", max_seq},
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
    throw FormatError(std::string("model config: ") + e.what() +
                      " (the base model file lacks a valid model_config; re-run `lorascape pretrain`)");
  }
  return c;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  at::Tensor rms = at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps_);  // (..., 1)
  // Without autograd (evaluation) the same arithmetic in place: one temporary less.
  if (!at::GradMode::is_enabled()) return (x * rms).mul_(weight);
  return x * rms * weight;
}

namespace {
// Llama's rotate_half: (x1, x2) -> (-x2, x1) on the two halves of the head dimension.
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}
}  // namespace

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

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), H = n_heads_, D = head_dim_;
  auto heads = [&](const at::Tensor& t) { return t.view({B, T, H, D}).transpose(1, 2); };  // (B, H, T, D)
  at::Tensor q = heads(q_proj(x));
  at::Tensor k = heads(k_proj(x));
  at::Tensor v = heads(v_proj(x));
  if (at::GradMode::is_enabled()) {
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
  } else {  // the same arithmetic in place
    q = (q * cos).add_(rotate_half(q).mul_(sin));
    k = (k * cos).add_(rotate_half(k).mul_(sin));
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const float neg_inf = -std::numeric_limits<float>::infinity();
  at::Tensor causal = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);
  at::Tensor att = at::matmul(q, k.transpose(-2, -1));  // (B, H, T, T)
  if (at::GradMode::is_enabled())
    att = at::softmax((att * scale).masked_fill(causal, neg_inf), -1);
  else  // the same arithmetic in place
    att = at::softmax(att.mul_(scale).masked_fill_(causal, neg_inf), -1);
  at::Tensor y = at::matmul(att, v);                        // (B, H, T, D)
  y = y.transpose(1, 2).contiguous().view({B, T, H * D});  // (B, T, C)
  return o_proj(y);
}

MlpImpl::MlpImpl(const ModelConfig& cfg) {
  gate_proj = register_module("gate_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  up_proj = register_module("up_proj", LoraLinear(cfg.d_model, cfg.d_ff));
  down_proj = register_module("down_proj", LoraLinear(cfg.d_ff, cfg.d_model));
  torch::NoGradGuard ng;
  down_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  if (!at::GradMode::is_enabled()) {  // the same arithmetic in place
    at::Tensor g = gate_proj(x);
    return down_proj(at::silu_(g).mul_(up_proj(x)));
  }
  return down_proj(at::silu(gate_proj(x)) * up_proj(x));  // (B, T, F) -> (B, T, C)
}

BlockImpl::BlockImpl(const ModelConfig& cfg) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  self_attn = register_module("self_attn", Attention(cfg));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  mlp = register_module("mlp", Mlp(cfg));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  at::Tensor h = x + self_attn(input_layernorm(x), cos, sin);
  return h + mlp(post_attention_layernorm(h));
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
  inv_freq_ = at::pow(cfg_.rope_theta, -at::arange(0, D, 2, at::kDouble) / static_cast<double>(D))
                  .to(at::kFloat);  // (D/2)
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
    x = model->layers[l]->as<Block>()->forward(x, cos, sin);
    if (hidden && l + 1 < L) hidden->push_back(x);
  }
  x = model->norm(x);
  if (hidden) hidden->push_back(x);
  return lm_head(x);  // (B, T, V)
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
