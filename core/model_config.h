// The model's and LoRA's settings as plain structs, without LibTorch: what configurations,
// front ends and file readers need to know of a model (core/config.h, gui/). The model itself is
// core/model.h; the methods declared here are defined in core/model.cpp and
// core/lora_linear.cpp.
#pragma once

#include <cstdint>
#include <map>
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

// Which projections get an adapter and with what rank r and alpha: lorascape's own settings
// (rank, alpha, targets) plus PEFT's LoraConfig fields that change the arithmetic, applied by
// PEFT's rules (core/lora_config.cpp; docs/user-guide.md "Analyse adapters trained
// elsewhere"). Module names are full names, "model.layers.0.self_attn.q_proj".
struct LoraConfig {
  int64_t rank = 8;     // PEFT `r`
  double alpha = 16.0;  // PEFT `lora_alpha`
  double dropout = 0.0;
  // PEFT `target_modules` as a list: a module is targeted when its full name is in the list or
  // ends with "." + an entry (any of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj in
  // lorascape's own configurations).
  std::vector<std::string> targets{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                   "gate_proj", "up_proj", "down_proj"};
  // PEFT `target_modules` as a string: a regular expression the full name must match as a
  // whole (Python re.fullmatch); replaces `targets` when non-empty. ("all-linear" is read as
  // the list of every projection.)
  std::string target_regex;
  // PEFT `exclude_modules`: a list (full name or "." + entry suffix) or a regex (fullmatch).
  std::vector<std::string> exclude;
  std::string exclude_regex;
  // PEFT `layers_to_transform` (empty = every layer) and `layers_pattern`: only modules of these
  // layers, the layer index being the number after the first "<name>." (or after one of
  // layers_pattern) in the module's name. Only with a list of targets, as in PEFT.
  std::vector<int64_t> layers;
  std::vector<std::string> layers_pattern;
  // PEFT `rank_pattern` / `alpha_pattern`: per-module r and alpha; the first key (in file order)
  // that matches the module's name as (.*\.)?(KEY)$ wins.
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
  bool rslora = false;  // PEFT `use_rslora`: s = alpha/√r instead of alpha/r
  // Written back as read; no effect on lorascape's (nn.Linear) projections, as in PEFT, which
  // resets fan_in_fan_out to false for them, and `bias` is honoured only as "none" or when the
  // adapter holds no bias tensors.
  bool fan_in_fan_out = false;
  std::string bias = "none";

  // s of a module with the default r and alpha.
  double scale() const;
  bool targets_module(const std::string& module) const;
  int64_t rank_of(const std::string& module) const;
  double alpha_of(const std::string& module) const;
  double scale_of(const std::string& module) const;  // alpha_of / rank_of (or / √rank_of)
  // True when some module may get another r or alpha than the default (patterns), or targets
  // are chosen by anything but a list of projection names.
  bool per_module() const;
  // Throws ConfigError naming the `lora.*` setting. lorascape's own configurations (`strict`)
  // name their targets from lora_target_names() and use no PEFT-only field.
  void validate(bool strict = false) const;
  // PEFT adapter_config.json fields <-> LoraConfig. from_peft throws FormatError naming
  // `origin` and the field for malformed values and for every PEFT feature lorascape does not
  // implement (DoRA, modules_to_save, other peft_types, initialisations that change the base
  // model, …).
  // (Ordered JSON: the order of pattern keys decides which one matches, as in PEFT.)
  nlohmann::ordered_json to_peft() const;
  static LoraConfig from_peft(const nlohmann::ordered_json& cfg, const std::string& origin);
  bool operator==(const LoraConfig& o) const { return to_peft() == o.to_peft(); }
  bool operator!=(const LoraConfig& o) const { return !(*this == o); }
};

// The scale s of every adapted module of one adapter, by full module name; modules not listed
// have `fallback`. What evaluators that merge adapters into the base weights need of a
// LoraConfig (core/evaluate.h).
struct LoraScales {
  LoraScales(double s = 1.0) : fallback(s) {}  // NOLINT: a uniform scale converts implicitly
  double fallback;
  std::map<std::string, double> by_module;
  double of(const std::string& module) const {
    auto it = by_module.find(module);
    return it == by_module.end() ? fallback : it->second;
  }
};

// All module names LoRA can target, in model order.
const std::vector<std::string>& lora_target_names();

}  // namespace lorascape::core
