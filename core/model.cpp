#include "core/model.h"

#include <ATen/Parallel.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/text_codec.h"
#include "kernels/ops.h"
#include "store/error.h"

namespace lorascape::core {

const char* RopeScaling::name(Type t) {
  switch (t) {
    case Type::Linear:
      return "linear";
    case Type::Llama3:
      return "llama3";
    default:
      return "none";
  }
}

bool RopeScaling::operator==(const RopeScaling& o) const {
  return type == o.type && factor == o.factor && low_freq_factor == o.low_freq_factor &&
         high_freq_factor == o.high_freq_factor &&
         original_max_positions == o.original_max_positions;
}

void ModelConfig::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError(msg);
  };
  need(tokenizer == "bytes" || tokenizer == "hf",
       "`model.tokenizer` must be \"bytes\" or \"hf\" (got \"" + tokenizer + "\")");
  if (tokenizer == "bytes")
    need(vocab >= 260, "`model.vocab` must be >= 260 (256 bytes + 4 special tokens)");
  need(vocab >= 1, "`model.vocab` must be >= 1");
  need(d_model > 0 && n_heads > 0, "`model.d_model` and `model.n_heads` must be >= 1");
  need(head_dim_override > 0 || d_model % n_heads == 0,
       "`model.d_model` must be a multiple of `model.n_heads`");
  need(head_dim_override >= 0, "`model.head_dim` must be >= 0");
  need(head_dim() % 2 == 0, "the head dimension must be even (rotary embeddings)");
  need(n_kv_heads >= 0 && n_heads % kv_heads() == 0,
       "`model.n_kv_heads` must divide `model.n_heads` (0 = as many as n_heads)");
  need(n_layers > 0, "`model.n_layers` must be >= 1");
  need(d_ff > 0, "`model.d_ff` must be >= 1");
  need(max_seq >= 8, "`model.max_seq` must be >= 8");
  need(rope_theta > 0 && norm_eps > 0, "`model.rope_theta` and `model.norm_eps` must be > 0");
  // Sizes a machine can hold (2^40 elements per tensor), checked before anything is allocated.
  const double big = 1099511627776.0;
  need(static_cast<double>(vocab) * static_cast<double>(d_model) < big &&
           static_cast<double>(d_ff) * static_cast<double>(d_model) < big &&
           static_cast<double>(q_dim()) * static_cast<double>(d_model) < big &&
           static_cast<double>(n_layers) < 1e6,
       "the model's sizes are too large to hold (`model.d_model`, `model.d_ff`, `model.vocab`)");
  const auto& r = rope_scaling;
  if (r.type != RopeScaling::Type::None)
    need(r.factor > 0, "`model.rope_scaling.factor` must be > 0");
  if (r.type == RopeScaling::Type::Llama3)
    need(r.low_freq_factor > 0 && r.high_freq_factor > r.low_freq_factor &&
             r.original_max_positions > 0,
         "`model.rope_scaling` llama3 needs high_freq_factor > low_freq_factor > 0 and "
         "original_max_position_embeddings > 0");
}

int64_t ModelConfig::parameter_count() const {
  const int64_t C = d_model, Q = q_dim(), KV = kv_dim(), F = d_ff;
  int64_t layer = C * Q * 2 + C * KV * 2 + 3 * C * F + 2 * C;
  if (qkv_bias) layer += Q + 2 * KV;
  if (o_bias) layer += C;
  if (mlp_bias) layer += 2 * F + C;
  return vocab * C * (tie_embeddings ? 1 : 2) + n_layers * layer + C;
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {{"vocab", vocab},           {"d_model", d_model},  {"n_layers", n_layers},
                      {"n_heads", n_heads},       {"d_ff", d_ff},        {"max_seq", max_seq},
                      {"rope_theta", rope_theta}, {"norm_eps", norm_eps}};
  if (kv_heads() != n_heads) j["n_kv_heads"] = n_kv_heads;
  if (head_dim_override > 0) j["head_dim"] = head_dim_override;
  if (qkv_bias) j["qkv_bias"] = true;
  if (o_bias) j["o_bias"] = true;
  if (mlp_bias) j["mlp_bias"] = true;
  if (tie_embeddings) j["tie_embeddings"] = true;
  if (rope_scaling.type != RopeScaling::Type::None)
    j["rope_scaling"] = {{"type", RopeScaling::name(rope_scaling.type)},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_positions", rope_scaling.original_max_positions}};
  if (tokenizer != "bytes") j["tokenizer"] = tokenizer;
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
    c.head_dim_override = j.value("head_dim", int64_t{0});
    c.qkv_bias = j.value("qkv_bias", false);
    c.o_bias = j.value("o_bias", false);
    c.mlp_bias = j.value("mlp_bias", false);
    c.tie_embeddings = j.value("tie_embeddings", false);
    if (j.contains("rope_scaling")) {
      const auto& r = j.at("rope_scaling");
      const auto type = r.at("type").get<std::string>();
      if (type == "linear")
        c.rope_scaling.type = RopeScaling::Type::Linear;
      else if (type == "llama3")
        c.rope_scaling.type = RopeScaling::Type::Llama3;
      else
        throw FormatError("model config: rope_scaling type \"" + type +
                          "\" is not supported (linear, llama3)");
      c.rope_scaling.factor = r.at("factor").get<double>();
      c.rope_scaling.low_freq_factor = r.at("low_freq_factor").get<double>();
      c.rope_scaling.high_freq_factor = r.at("high_freq_factor").get<double>();
      c.rope_scaling.original_max_positions = r.at("original_max_positions").get<int64_t>();
    }
    c.tokenizer = j.value("tokenizer", std::string("bytes"));
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

AttentionImpl::AttentionImpl(const ModelConfig& cfg, bool random_init)
    : n_heads_(cfg.n_heads), head_dim_(cfg.head_dim()) {
  const int64_t C = cfg.d_model, Q = cfg.q_dim(), KVD = cfg.kv_dim();
  q_proj = register_module("q_proj", LoraLinear(C, Q, cfg.qkv_bias, random_init));
  k_proj = register_module("k_proj", LoraLinear(C, KVD, cfg.qkv_bias, random_init));
  v_proj = register_module("v_proj", LoraLinear(C, KVD, cfg.qkv_bias, random_init));
  o_proj = register_module("o_proj", LoraLinear(Q, C, cfg.o_bias, random_init));
  if (!random_init) return;
  torch::NoGradGuard ng;
  o_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const PointWeights::Layer* pl) {
  const int64_t H = n_heads_, Q = H * head_dim_, KVD = k_proj->weight.size(0);
  // q, k and v in one GEMM: per point with the merged weights of a point-batched forward, else
  // with the base weights side by side (each projection then adds its own LoRA side path).
  at::Tensor q, k, v;
  if (pl) {
    const at::Tensor qkv = kernels::point_linear(x, pl->qkv, pl->qkv_bias);  // (K·B, T, Q + 2·KVD)
    q = qkv.narrow(2, 0, Q);
    k = qkv.narrow(2, Q, KVD);
    v = qkv.narrow(2, Q + KVD, KVD);
  } else {
    const at::Tensor b =
        q_proj->bias.defined() ? at::cat({q_proj->bias, k_proj->bias, v_proj->bias}) : at::Tensor();
    const auto qkv =
        kernels::linear(x, at::cat({q_proj->weight, k_proj->weight, v_proj->weight}), b)
            .split_with_sizes({Q, KVD, KVD}, -1);
    q = q_proj->add_side_path(qkv[0], x);
    k = k_proj->add_side_path(qkv[1], x);
    v = v_proj->add_side_path(qkv[2], x);
  }
  const at::Tensor y =
      kernels::causal_attention(q, k, v, cos, sin, H, pl ? pl->points() : 1);  // (B, T, Q)
  return pl ? kernels::point_linear(y, pl->o, pl->o_bias) : o_proj(y);
}

MlpImpl::MlpImpl(const ModelConfig& cfg, bool random_init) {
  const bool b = cfg.mlp_bias;
  gate_proj = register_module("gate_proj", LoraLinear(cfg.d_model, cfg.d_ff, b, random_init));
  up_proj = register_module("up_proj", LoraLinear(cfg.d_model, cfg.d_ff, b, random_init));
  down_proj = register_module("down_proj", LoraLinear(cfg.d_ff, cfg.d_model, b, random_init));
  if (!random_init) return;
  torch::NoGradGuard ng;
  down_proj->weight.mul_(1.0 / std::sqrt(2.0 * static_cast<double>(cfg.n_layers)));
}

at::Tensor MlpImpl::forward(const at::Tensor& x, const PointWeights::Layer* pl) {
  // gate and up in one GEMM, as q, k and v in AttentionImpl::forward; with one weight for all
  // rows (each point's merged weight), the SwiGLU inside that GEMM where it can be (kernels/ops.h).
  if (pl)
    return kernels::point_linear(kernels::point_linear_swiglu(x, pl->gate_up, pl->gate_up_bias),
                                 pl->down, pl->down_bias);
  const at::Tensor b =
      gate_proj->bias.defined() ? at::cat({gate_proj->bias, up_proj->bias}) : at::Tensor();
  const auto gu = kernels::linear(x, at::cat({gate_proj->weight, up_proj->weight}), b)
                      .split(gate_proj->weight.size(0), -1);
  const at::Tensor g = gate_proj->add_side_path(gu[0], x), u = up_proj->add_side_path(gu[1], x);
  return down_proj(kernels::swiglu(g, u));  // (B, T, F) -> (B, T, C)
}

BlockImpl::BlockImpl(const ModelConfig& cfg, bool random_init) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  self_attn = register_module("self_attn", Attention(cfg, random_init));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  mlp = register_module("mlp", Mlp(cfg, random_init));
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

EmbeddingImpl::EmbeddingImpl(int64_t vocab, int64_t dim, bool random_init) {
  weight = register_parameter("weight", at::empty({vocab, dim}));
  if (!random_init) return;
  torch::NoGradGuard ng;
  torch::nn::init::normal_(weight);  // as torch::nn::Embedding draws it (then rescaled)
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) {
  return at::embedding(weight, ids);
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg, bool random_init) {
  embed_tokens = register_module("embed_tokens", Embedding(cfg.vocab, cfg.d_model, random_init));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.n_layers; ++i) layers->push_back(Block(cfg, random_init));
  norm = register_module("norm", RMSNorm(cfg.d_model, cfg.norm_eps));
  if (!random_init) return;
  torch::NoGradGuard ng;
  torch::nn::init::normal_(embed_tokens->weight, 0.0, 0.02);
}

namespace {
// 1 / theta^(2i/D) in float32, as transformers' rotary embedding computes it, then the
// rope_scaling of transformers' modeling_rope_utils ("linear", "llama3").
at::Tensor inverse_frequencies(const ModelConfig& cfg) {
  const int64_t D = cfg.head_dim();
  at::Tensor inv = 1.0 / at::pow(cfg.rope_theta, at::arange(0, D, 2, at::kLong).to(at::kFloat) /
                                                     static_cast<double>(D));  // (D/2)
  const RopeScaling& r = cfg.rope_scaling;
  if (r.type == RopeScaling::Type::Linear) return inv / r.factor;
  if (r.type != RopeScaling::Type::Llama3) return inv;
  // Wavelengths longer than the original context / low_freq_factor are divided by factor,
  // shorter than original / high_freq_factor kept; between, a linear blend in
  // original/wavelength.
  const double old_len = static_cast<double>(r.original_max_positions);
  const double low_wavelen = old_len / r.low_freq_factor,
               high_wavelen = old_len / r.high_freq_factor;
  const at::Tensor wavelen = 2.0 * M_PI / inv;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv / r.factor, inv);
  const at::Tensor smooth =
      (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
  const at::Tensor medium =
      at::logical_not(wavelen < high_wavelen) & at::logical_not(wavelen > low_wavelen);
  return at::where(medium, smoothed, scaled);
}
}  // namespace

TransformerImpl::TransformerImpl(const ModelConfig& cfg, bool random_init) : cfg_(cfg) {
  cfg_.validate();
  model = register_module("model", Decoder(cfg_, random_init));
  if (!cfg_.tie_embeddings) {
    lm_head = register_module("lm_head", LoraLinear(cfg_.d_model, cfg_.vocab, false, false));
    if (random_init) {  // the draws of torch::nn::Linear's initialisation, then N(0, 0.02²)
      torch::NoGradGuard ng;
      torch::nn::init::kaiming_uniform_(lm_head->weight, std::sqrt(5.0));
      torch::nn::init::normal_(lm_head->weight, 0.0, 0.02);
    }
  }
  inv_freq_ = inverse_frequencies(cfg_);
  if (cfg_.tokenizer == "bytes") codec_ = std::make_shared<ByteCodec>();
}

const TextCodec& TransformerImpl::codec() const {
  if (!codec_)
    throw ConfigError(
        "the model's `model.tokenizer` is \"hf\" but no tokenizer is attached to it (its Hugging "
        "Face folder needs tokenizer.json beside config.json)");
  return *codec_;
}

void TransformerImpl::set_codec(std::shared_ptr<const TextCodec> codec) {
  if (!codec) throw ConfigError("set_codec: no codec given");
  if (codec->name() != cfg_.tokenizer)
    throw ConfigError("a \"" + codec->name() + "\" tokenizer cannot drive a model whose " +
                      "`model.tokenizer` is \"" + cfg_.tokenizer + "\"");
  if (codec->vocab_size() > cfg_.vocab)
    throw ConfigError("the tokenizer has " + std::to_string(codec->vocab_size()) +
                      " ids but the model's `model.vocab` is " + std::to_string(cfg_.vocab) +
                      " (use the tokenizer that belongs to the model)");
  codec_ = std::move(codec);
}

const at::Tensor& TransformerImpl::output_weight() const {
  return cfg_.tie_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

std::pair<at::Tensor, at::Tensor> TransformerImpl::rotary(int64_t T,
                                                          const at::Device& device) const {
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

at::Tensor TransformerImpl::forward(const at::Tensor& ids, const at::Tensor& answer_mask) {
  return forward_impl(ids, nullptr, nullptr, answer_mask);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, const at::Tensor& answer_mask,
                                    std::vector<at::Tensor>& hidden) {
  hidden.clear();
  return forward_impl(ids, &hidden, nullptr, answer_mask);
}

at::Tensor TransformerImpl::forward(const at::Tensor& ids, const PointWeights& pw) {
  const int64_t K = pw.points();
  bool fits = K >= 1 && pw.layers.size() == model->layers->size();
  for (const auto& l : pw.layers) fits = fits && l.points() == K;
  if (!fits)
    throw Error("point weights for " + std::to_string(pw.layers.size()) + " layers of " +
                std::to_string(K) + " points do not fit a model of " +
                std::to_string(model->layers->size()) + " layers");
  if (has_prompt())
    throw Error(
        "a point-batched forward cannot carry a soft prompt (evaluate prompts one point "
        "at a time through the model)");
  return forward_impl(ids.repeat({K, 1}), nullptr, &pw);  // (K·B, T), point-major
}

int64_t SoftPrompt::length() const {
  if (is_pool()) return top_n * (pool.size(0) / keys.size(0));
  int64_t n = 0;
  for (const auto& p : parts) n += p.size(0);
  return n;
}

void TransformerImpl::set_prompt(SoftPrompt prompt) {
  const int64_t C = cfg_.d_model;
  auto rows_ok = [C](const at::Tensor& t) { return t.defined() && t.dim() == 2 && t.size(1) == C; };
  if (prompt.is_pool()) {
    if (!rows_ok(prompt.pool) || !rows_ok(prompt.keys) || prompt.keys.size(0) < 1 ||
        prompt.pool.size(0) % prompt.keys.size(0) != 0 || prompt.pool.size(0) == 0)
      throw ConfigError("a prompt pool must be (M·Lp, d_model) with keys (M, d_model), d_model = " +
                        std::to_string(C));
    if (prompt.top_n < 1 || prompt.top_n > prompt.keys.size(0))
      throw ConfigError("`l2p.top_n` must be in 1..`l2p.pool_size` (" +
                        std::to_string(prompt.keys.size(0)) + "), got " +
                        std::to_string(prompt.top_n));
  }
  for (const auto& p : prompt.parts)
    if (!rows_ok(p) || p.size(0) < 1)
      throw ConfigError("a soft prompt must be (P >= 1, d_model = " + std::to_string(C) + ")");
  prompt_ = std::move(prompt);
}

at::Tensor TransformerImpl::prompt_query(const at::Tensor& ids, const at::Tensor& answer_mask) {
  torch::NoGradGuard ng;
  SoftPrompt saved = std::move(prompt_);
  prompt_ = SoftPrompt{};
  std::vector<at::Tensor> hidden;
  try {
    forward_impl(ids, &hidden, nullptr);
  } catch (...) {
    prompt_ = std::move(saved);
    throw;
  }
  prompt_ = std::move(saved);
  const at::Tensor h = hidden.back().to(at::kFloat);  // (B, T, C)
  // Position j holds input token j; the first masked position holds the question's last token
  // (its target is the first answer token), so the question is every position up to and
  // including the first masked one: no masked position before it.
  at::Tensor valid;
  if (answer_mask.defined()) {
    const at::Tensor m = answer_mask.ne(0).to(at::kLong);
    valid = ((m.cumsum(1) - m) == 0).to(at::kFloat);
  } else {
    valid = at::ones({ids.size(0), ids.size(1)}, h.options());
  }
  valid = valid.to(h.device());
  return (h * valid.unsqueeze(-1)).sum(1) / valid.sum(1, true).clamp_min(1.0);
}

at::Tensor TransformerImpl::select_prompts(const at::Tensor& query, const at::Tensor& keys,
                                           int64_t top_n) {
  const at::Tensor q = query.to(at::kFloat), k = keys.to(query.device(), at::kFloat);
  const at::Tensor cos = at::matmul(q / q.norm(2, 1, true).clamp_min(1e-12),
                                    (k / k.norm(2, 1, true).clamp_min(1e-12)).t());  // (B, M)
  const auto sorted = at::sort(cos, /*stable=*/true, /*dim=*/1, /*descending=*/true);
  return std::get<1>(sorted).narrow(1, 0, top_n).contiguous();
}

at::Tensor TransformerImpl::prompt_rows(const at::Tensor& ids, const at::Tensor& answer_mask) {
  if (prompt_.empty()) return {};
  if (!prompt_.is_pool())
    return (prompt_.parts.size() == 1 ? prompt_.parts.front() : at::cat(prompt_.parts, 0))
        .unsqueeze(0);  // (1, P, C)
  const int64_t M = prompt_.keys.size(0), Lp = prompt_.pool.size(0) / M, N = prompt_.top_n;
  const int64_t B = ids.size(0), C = prompt_.pool.size(1);
  last_query_ = prompt_query(ids, answer_mask);
  last_selection_ = select_prompts(last_query_, prompt_.keys, N);  // (B, N)
  const at::Tensor pool = prompt_.pool.view({M, Lp, C});
  return pool.index_select(0, last_selection_.flatten().to(pool.device()))
      .reshape({B, N * Lp, C});  // (B, N·Lp, C)
}

at::Tensor TransformerImpl::forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden,
                                         const PointWeights* pw, const at::Tensor& answer_mask) {
  const int64_t T = ids.size(1), K = pw ? pw->points() : 1;
  if (T > cfg_.max_seq)
    throw DataError("sequence of " + std::to_string(T) + " tokens exceeds model.max_seq " +
                    std::to_string(cfg_.max_seq) + " (use a model with a longer max_seq)");
  at::Tensor x = model->embed_tokens(ids);  // (B, T, C)
  int64_t P = 0;
  if (!pw && !prompt_.empty()) {  // [prompt; input]: the prompt takes the first positions
    const at::Tensor rows = prompt_rows(ids, answer_mask).to(x.device(), x.scalar_type());
    P = rows.size(1);
    x = at::cat({rows.expand({x.size(0), P, x.size(2)}), x}, 1);  // (B, P + T, C)
  }
  auto [cos, sin] = rotary(P + T, ids.device());
  cos = cos.to(x.scalar_type());  // bfloat16 models rotate in bfloat16
  sin = sin.to(x.scalar_type());
  auto keep = [P, T](const at::Tensor& t) { return P > 0 ? t.narrow(1, P, T) : t; };
  if (hidden) hidden->push_back(keep(x));
  const size_t L = model->layers->size();
  for (size_t l = 0; l < L; ++l) {
    x = model->layers[l]->as<Block>()->forward(x, cos, sin, pw ? &pw->layers[l] : nullptr);
    if (hidden && l + 1 < L) hidden->push_back(keep(x));
  }
  if (P > 0) x = x.narrow(1, P, T);  // the input's positions only
  // The final norm and the output head (bias-free), one point's rows at a time.
  x = kernels::per_point(x, K, [&](const at::Tensor& xp, int64_t) { return model->norm(xp); });
  if (hidden) hidden->push_back(x);
  const at::Tensor& head = output_weight();
  return kernels::per_point(
      x, K, [&](const at::Tensor& xp, int64_t) { return kernels::apply_weight(xp, head); });
  // (B, T, V)
}

void TransformerImpl::add_lora(const LoraConfig& lora) {
  lora.validate();
  if (has_lora_) throw Error("add_lora called twice on one model");
  for (auto& p : parameters()) p.set_requires_grad(false);
  bool any = false;
  for (auto& [name, layer] : projections())
    if (lora.targets_module(name)) {
      layer->enable_lora(lora.rank_of(name), lora.scale_of(name), lora.dropout);
      any = true;
    }
  if (!any)
    throw ConfigError(
        "the LoRA targets select none of the model's projections (q_proj ... "
        "down_proj of layers 0.." +
        std::to_string(cfg_.n_layers - 1) + ")");
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
