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
  int64_t d_ff = 344;
  int64_t max_seq = 64;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;

  int64_t head_dim() const { return d_model / n_heads; }
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

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& cfg);
  // x (B, T, C); cos/sin (T, D) rotary tables. In a point-batched forward, B = K·B' rows of
  // `points` = K points, point-major (TransformerImpl::set_points).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     int64_t points = 1);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  // Point-batched evaluation (core::Evaluator): the per-point weights of q, k and v side by
  // side, (K, 3C, C) (the base weights expanded to K where no point adapts them); q/k/v_proj's
  // point weights are views into it. When defined, forward computes the three projections as
  // one GEMM per point (otherwise as one GEMM with the base weights side by side,
  // docs/model.md).
  at::Tensor qkv_point_weights;

 private:
  int64_t n_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const ModelConfig& cfg);
  at::Tensor forward(const at::Tensor& x);  // (B, T, C) -> (B, T, C), SwiGLU
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  // As AttentionImpl::qkv_point_weights for gate and up: (K, 2F, C), one GEMM per point.
  at::Tensor gate_up_point_weights;
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const ModelConfig& cfg);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     int64_t points = 1);
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
  // Point-batched evaluation (core::Evaluator, which also sets every projection's per-point
  // weights): the batch's rows belong to `points` points, point-major; products, attention and
  // every reduction over a point's values run on one point's rows at a time (per_point,
  // kernels/ops.h), so a point's logits do not depend on the other points of its batch. 1 = off.
  void set_points(int64_t points);
  int64_t points() const { return points_; }

  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  at::Tensor forward_impl(const at::Tensor& ids, std::vector<at::Tensor>* hidden);
  std::pair<at::Tensor, at::Tensor> rotary(int64_t T, const at::Device& device);
  ModelConfig cfg_;
  LoraConfig lora_;
  bool has_lora_ = false;
  int64_t points_ = 1;
  at::Tensor inv_freq_;  // (D/2)
};
TORCH_MODULE(Transformer);

bool is_lora_parameter(const std::string& name);

}  // namespace lorascape::core
