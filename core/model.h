// A small Llama-style decoder-only transformer.
//
// Shapes: B = batch, T = sequence length, C = d_model, H = heads, D = C / H (head dim),
// F = d_ff (SwiGLU hidden), V = vocabulary, L = layers, r = LoRA rank.
//
// Parameter names follow Hugging Face Llama (KV = key/value heads, Q = H·D):
//   model.embed_tokens.weight                       (V, C)
//   model.layers.{i}.input_layernorm.weight         (C)
//   model.layers.{i}.self_attn.q_proj.weight        (Q, C)     .bias (Q) with qkv_bias
//   model.layers.{i}.self_attn.{k,v}_proj.weight    (KV·D, C)  .bias (KV·D) with qkv_bias
//   model.layers.{i}.self_attn.o_proj.weight        (C, Q)     .bias (C) with o_bias
//   model.layers.{i}.post_attention_layernorm.weight (C)
//   model.layers.{i}.mlp.{gate,up}_proj.weight      (F, C)     .bias (F) with mlp_bias
//   model.layers.{i}.mlp.down_proj.weight           (C, F)     .bias (C) with mlp_bias
//   model.norm.weight                               (C)
//   lm_head.weight                                  (V, C)     absent with tie_embeddings
// LoRA factors add `...{proj}.lora_A.weight` (r, in) and `...{proj}.lora_B.weight` (out, r).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/lora_linear.h"
#include "core/model_config.h"

namespace lorascape::core {

class TextCodec;  // core/text_codec.h

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);  // (..., C)
  at::Tensor weight;                        // (C)
 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// The weights of a point-batched evaluation (core::Evaluator): K points, each with its own
// merged weights W + s·B_k·A_k for every projection (the base weight expanded to K where no
// point adapts it), passed to TransformerImpl::forward. The batch's rows then belong to the K
// points, point-major (K·B rows); every product, the attention and every reduction over a
// point's values run on one point's rows at a time (per_point, kernels/ops.h), so a point's
// logits do not depend on the other points of its batch.
struct PointWeights {
  struct Layer {
    at::Tensor qkv;      // (K, Q + 2·KV·D, C): q, k and v side by side, one GEMM per point
    at::Tensor o;        // (K, C, Q)
    at::Tensor gate_up;  // (K, 2F, C): gate and up side by side
    at::Tensor down;     // (K, C, F)
    // The biases, shared by the points (LoRA leaves them as they are); undefined where the
    // projections have none.
    at::Tensor qkv_bias, o_bias, gate_up_bias, down_bias;
    int64_t points() const { return qkv.size(0); }  // K
  };
  std::vector<Layer> layers;                                                       // one per block
  int64_t points() const { return layers.empty() ? 0 : layers.front().points(); }  // K; 0 = none
};

class AttentionImpl : public torch::nn::Module {
 public:
  // random_init: the weights drawn as for pretraining; else left uninitialised, to be loaded.
  AttentionImpl(const ModelConfig& cfg, bool random_init);
  // x (B, T, C); cos/sin (T, D) rotary tables. With `pl` (a point-batched forward: this
  // layer's point weights), B = K·B' rows of pl->points() points; else the module's own weights
  // and LoRA side paths.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const PointWeights::Layer* pl = nullptr);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t n_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelConfig& cfg, bool random_init);
  // (B, T, C) -> (B, T, C), SwiGLU; with `pl`, the layer's point weights (as AttentionImpl).
  at::Tensor forward(const at::Tensor& x, const PointWeights::Layer* pl = nullptr);
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& cfg, bool random_init);
  // As AttentionImpl::forward.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const PointWeights::Layer* pl = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

// The token embedding: a (V, C) weight whose rows are looked up.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t dim, bool random_init);
  at::Tensor forward(const at::Tensor& ids);  // (B, T) -> (B, T, C)
  at::Tensor weight;                          // (V, C)
};
TORCH_MODULE(Embedding);

class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& cfg, bool random_init);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

// Soft prompts (docs/methods.md, `pp` and `l2p`): trainable vectors prepended to the input
// embeddings. The prompt's P rows take rotary positions 0..P-1 and the input's tokens P..P+T-1
// (HF PEFT prompt tuning: the virtual tokens come first); attention stays causal over the whole
// [prompt; input] sequence, so every input token sees the whole prompt and the prompt sees no
// input token. The output (logits, hidden states) keeps only the input's T positions, so
// targets and masks are those of the input alone. A model's max_seq bounds the input's T; the
// prompt's positions come on top (rotary positions have no table).
//   fixed   parts, concatenated in order: one (P, C) prompt for every example (`pp`, PEFT
//           prompt tuning); a list so that trainable and frozen pieces can be held apart
//   pool    pool (M·Lp, C) of M prompts of Lp rows with keys (M, C) (`l2p`): per example the
//           top_n prompts whose keys are most cosine-similar to the query (TransformerImpl::
//           prompt_query) are prepended, in order of decreasing similarity (N·Lp rows)
struct SoftPrompt {
  std::vector<at::Tensor> parts;
  at::Tensor pool, keys;
  int64_t top_n = 0;
  bool is_pool() const { return pool.defined(); }
  bool empty() const { return parts.empty() && !pool.defined(); }
  int64_t length() const;  // rows prepended to each example: P, or top_n·Lp
};

class TransformerImpl : public torch::nn::Module {
 public:
  // random_init: the weights drawn as for pretraining (seeded by torch's generator); else
  // allocated but not touched, for a loader to replace (core/hf_model.h).
  explicit TransformerImpl(const ModelConfig& cfg, bool random_init = true);

  at::Tensor forward(const at::Tensor& ids);  // (B, T) int64 -> logits (B, T, V)
  // Same, also filling `hidden` with the hidden states as Hugging Face's
  // output_hidden_states does: the embedding output, the output of every block but the last,
  // and the last block's output after the final norm (L + 1 tensors of (B, T, C)).
  at::Tensor forward(const at::Tensor& ids, std::vector<at::Tensor>& hidden);
  // With a soft prompt: `answer_mask` (B, T) nonzero where the target is an answer token
  // (TokenBatch::mask); an L2P pool's query then averages only the question's positions, those
  // up to and including the first nonzero one (whose input is the question's last token), so the
  // selection never sees the answer (nor the padding after it). Without a mask (the plain
  // overloads) every position counts (a generation context). Same as forward(ids) without a
  // pool.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& answer_mask);
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& answer_mask,
                     std::vector<at::Tensor>& hidden);
  // A point-batched forward: ids (B, T) of the examples, evaluated at each of the pw.points()
  // points (no autograd) -> logits (K·B, T, V), point-major. The model's own LoRA factors, if
  // any, are bypassed.
  at::Tensor forward(const at::Tensor& ids, const PointWeights& pw);

  const ModelConfig& config() const { return cfg_; }
  // How task text becomes this model's tokens (core/text_codec.h). A "bytes" model starts with
  // ByteCodec; an "hf" model has none until its loader attaches one (make_hf_codec), and codec()
  // throws ConfigError until then.
  const TextCodec& codec() const;
  std::shared_ptr<const TextCodec> codec_ptr() const { return codec_; }
  // Throws ConfigError when the codec's name is not config().tokenizer or its ids do not fit
  // config().vocab.
  void set_codec(std::shared_ptr<const TextCodec> codec);
  // Every projection named in lora.targets gets an adapter; base weights are frozen.
  void add_lora(const LoraConfig& lora);
  bool has_lora() const { return has_lora_; }
  const LoraConfig& lora_config() const { return lora_; }
  // All LoRA-carrying projections with their module path (e.g. "model.layers.0.self_attn.q_proj").
  std::vector<std::pair<std::string, LoraLinear>> lora_layers();
  // All seven projections of every layer, LoRA or not, in model order.
  std::vector<std::pair<std::string, LoraLinear>> projections();
  // Base (non-LoRA) parameters, in registration order.
  std::vector<std::pair<std::string, at::Tensor>> base_parameters();
  // LoRA factor parameters, in registration order.
  std::vector<std::pair<std::string, at::Tensor>> lora_parameters();
  void merge_lora();
  void unmerge_lora();

  // The soft prompt prepended to every forward but the point-batched one (which refuses a
  // prompted model); set_prompt checks the shapes against d_model (ConfigError).
  void set_prompt(SoftPrompt prompt);
  void clear_prompt() { prompt_ = SoftPrompt{}; }
  bool has_prompt() const { return !prompt_.empty(); }
  const SoftPrompt& prompt() const { return prompt_; }
  // The N of a prompt pool that Adapter::load_into installs (the run's `l2p.top_n`).
  int64_t l2p_top_n = 3;
  // L2P's query: the mean over the question's positions (see forward's answer_mask; all
  // positions when it is undefined) of the final hidden state of the model without its prompt,
  // under NoGrad -> (B, C) float32.
  at::Tensor prompt_query(const at::Tensor& ids, const at::Tensor& answer_mask);
  // The top_n keys most cosine-similar to each query: (B, top_n) int64 indices in order of
  // decreasing similarity (ties to the lower index).
  static at::Tensor select_prompts(const at::Tensor& query, const at::Tensor& keys, int64_t top_n);
  // The query and selection of the last pool forward (undefined before one; detached).
  const at::Tensor& last_query() const { return last_query_; }
  const at::Tensor& last_selection() const { return last_selection_; }

  // The output head's (V, C) weight: lm_head's, or embed_tokens' with tie_embeddings.
  const at::Tensor& output_weight() const;

  Decoder model{nullptr};
  LoraLinear lm_head{nullptr};  // null with tie_embeddings

 private:
  at::Tensor forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden,
                          const PointWeights* pw, const at::Tensor& answer_mask = {});
  // The prompt rows for the batch: (1, P, C) fixed, (B, N·Lp, C) pool; undefined without one.
  at::Tensor prompt_rows(const at::Tensor& ids, const at::Tensor& answer_mask);
  std::pair<at::Tensor, at::Tensor> rotary(int64_t T, const at::Device& device) const;
  ModelConfig cfg_;
  std::shared_ptr<const TextCodec> codec_;
  LoraConfig lora_;
  bool has_lora_ = false;
  at::Tensor inv_freq_;  // (D/2)
  SoftPrompt prompt_;
  at::Tensor last_query_, last_selection_;
};
TORCH_MODULE(Transformer);

bool is_lora_parameter(const std::string& name);

}  // namespace lorascape::core
