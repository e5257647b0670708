// A small Llama-style decoder-only transformer.
//
// Shapes: B = batch, T = sequence length, C = d_model, H = heads, D = C / H (head dim),
// F = d_ff (SwiGLU hidden), V = vocabulary, L = layers, r = LoRA rank.
//
// Parameter names follow Hugging Face Llama:
//   model.embed_tokens.weight                       (V, C)
//   model.layers.{i}.input_layernorm.weight         (C)
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (C, C)
//   model.layers.{i}.post_attention_layernorm.weight (C)
//   model.layers.{i}.mlp.{gate,up}_proj.weight      (F, C)
//   model.layers.{i}.mlp.down_proj.weight           (C, F)
//   model.norm.weight                               (C)
//   lm_head.weight                                  (V, C)
// LoRA factors add `...{proj}.lora_A.weight` (r, in) and `...{proj}.lora_B.weight` (out, r).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/lora_linear.h"

namespace lorascape::core {

struct ModelConfig {
  int64_t vocab = 260;
  int64_t d_model = 128;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;  // key/value heads (grouped-query attention); 0 = n_heads
  int64_t d_ff = 344;
  int64_t max_seq = 64;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;

  int64_t head_dim() const { return d_model / n_heads; }
  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  void validate() const;  // throws ConfigError
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // throws FormatError on missing keys
  bool operator==(const ModelConfig& o) const { return to_json() == o.to_json(); }
};

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
    at::Tensor qkv;      // (K, C + 2·KV·D, C): q, k and v side by side, one GEMM per point
    at::Tensor o;        // (K, C, C)
    at::Tensor gate_up;  // (K, 2F, C): gate and up side by side
    at::Tensor down;     // (K, C, F)
    int64_t points() const { return qkv.size(0); }  // K
  };
  std::vector<Layer> layers;                                                       // one per block
  int64_t points() const { return layers.empty() ? 0 : layers.front().points(); }  // K; 0 = none
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& cfg);
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
  explicit MlpImpl(const ModelConfig& cfg);
  // (B, T, C) -> (B, T, C), SwiGLU; with `pl`, the layer's point weights (as AttentionImpl).
  at::Tensor forward(const at::Tensor& x, const PointWeights::Layer* pl = nullptr);
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& cfg);
  // As AttentionImpl::forward.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const PointWeights::Layer* pl = nullptr);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& cfg);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& cfg);

  at::Tensor forward(const at::Tensor& ids);  // (B, T) int64 -> logits (B, T, V)
  // Same, also filling `hidden` with the hidden states as Hugging Face's
  // output_hidden_states does: the embedding output, the output of every block but the last,
  // and the last block's output after the final norm (L + 1 tensors of (B, T, C)).
  at::Tensor forward(const at::Tensor& ids, std::vector<at::Tensor>& hidden);
  // A point-batched forward: ids (B, T) of the examples, evaluated at each of the pw.points()
  // points (no autograd) -> logits (K·B, T, V), point-major. The model's own LoRA factors, if
  // any, are bypassed.
  at::Tensor forward(const at::Tensor& ids, const PointWeights& pw);

  const ModelConfig& config() const { return cfg_; }
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

  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  at::Tensor forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden,
                          const PointWeights* pw);
  std::pair<at::Tensor, at::Tensor> rotary(int64_t T, const at::Device& device);
  ModelConfig cfg_;
  LoraConfig lora_;
  bool has_lora_ = false;
  at::Tensor inv_freq_;  // (D/2)
};
TORCH_MODULE(Transformer);

bool is_lora_parameter(const std::string& name);

}  // namespace lorascape::core
