// The model's and LoRA's settings as plain structs, without LibTorch: what configurations,
// front ends and file readers need to know of a model (core/config.h, gui/). The model itself is
// core/model.h; the methods declared here are defined in core/model.cpp and
// core/lora_linear.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lorascape::core {

// Rotary position embedding scaling, as transformers' `rope_scaling`: "none", "linear"
// (every frequency divided by factor) or "llama3" (low frequencies divided by factor, high ones
// kept, a smooth blend between; Llama-3.1's long context).
struct RopeScaling {
  enum class Type { None, Linear, Llama3 } type = Type::None;
  static const char* name(Type t);  // "none", "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_positions = 8192;                 // llama3
  bool operator==(const RopeScaling& o) const;
};

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
  // The architecture features of Hugging Face models (core/hf_model.h); lorascape's own
  // models have none of them.
  int64_t head_dim_override = 0;  // D when it is not d_model / n_heads (HF `head_dim`); 0 = that
  bool qkv_bias = false;          // q, k, v projections carry a bias (Qwen2, `attention_bias`)
  bool o_bias = false;            // o_proj carries a bias (`attention_bias`)
  bool mlp_bias = false;          // gate, up and down projections carry a bias (`mlp_bias`)
  bool tie_embeddings = false;    // the output head is embed_tokens' weight (no lm_head)
  RopeScaling rope_scaling;
  // "bytes": lorascape's byte tokenizer (core/tokenizer.h), vocab >= 260; "hf": the model
  // folder's tokenizer.json.
  std::string tokenizer = "bytes";

  int64_t head_dim() const { return head_dim_override > 0 ? head_dim_override : d_model / n_heads; }
  int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int64_t q_dim() const { return n_heads * head_dim(); }      // width of q (and o_proj's input)
  int64_t kv_dim() const { return kv_heads() * head_dim(); }  // width of k and of v
  // Parameters of the base model (no LoRA).
  int64_t parameter_count() const;
  void validate() const;  // throws ConfigError
  // Keys of the architecture features only where they differ from lorascape's own model, so
  // files of models without them stay as they were (and their digests and cache names).
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // throws FormatError on missing keys
  bool operator==(const ModelConfig& o) const { return to_json() == o.to_json(); }
};

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Module names that get an adapter (any of q_proj k_proj v_proj o_proj gate_proj up_proj
  // down_proj).
  std::vector<std::string> targets{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                   "gate_proj", "up_proj", "down_proj"};
  double scale() const { return alpha / static_cast<double>(rank); }
  void validate() const;  // throws ConfigError
};

// All module names LoRA can target, in model order.
const std::vector<std::string>& lora_target_names();

}  // namespace lorascape::core
