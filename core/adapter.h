// Adapter: an ordered name -> tensor map holding only LoRA factors, or only soft-prompt tensors
// (core/prompt.h: `pp` and `l2p`; from_model, load_into and the PEFT folders carry them too). It is
// a point in the space every analysis walks through, so its vector operations (axpy, scale, dot,
// norm, flatten) live here and nowhere else.
//
// Names are the model's parameter names, e.g. "model.layers.0.self_attn.q_proj.lora_A.weight".
// On disk (PEFT layout) they carry the prefix "base_model.model.".
#pragma once

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/lora_linear.h"

namespace lorascape::core {

class TransformerImpl;

class Adapter {
 public:
  using Entry = std::pair<std::string, at::Tensor>;

  Adapter() = default;
  explicit Adapter(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  // A detached copy of the model's current LoRA factors (its prompt tensors when it has a soft
  // prompt).
  static Adapter from_model(TransformerImpl& model);
  // Copies the factors into the model; names and shapes must match exactly (FormatError). A
  // prompt adapter replaces the model's soft prompt instead (load_prompt_adapter).
  void load_into(TransformerImpl& model, const std::string& origin = "adapter") const;

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  int64_t numel() const;

  Adapter clone() const;
  Adapter zeros_like() const;
  Adapter to(const at::Device& device) const;
  // this += a * x  (same names and shapes required)
  Adapter& axpy(double a, const Adapter& x);
  Adapter& scale(double a);
  double dot(const Adapter& x) const;
  double norm() const;
  // All factors concatenated into one float vector, in entry order.
  at::Tensor flatten() const;
  bool equal(const Adapter& o) const;  // same names, shapes, and bit-identical values

 private:
  void check_compatible(const Adapter& o, const char* op) const;
  std::vector<Entry> entries_;
};

// The LoRA config that applies `adapter`'s tensors with lora's scales: `lora` itself when every
// module has the rank lora gives it; else one rank everywhere (O-LoRA's summed adapters have
// rank T·r, a delta-space point 2r) with alpha rescaled to keep the scale, or, for adapters of
// several ranks, a rank and alpha pattern naming every module.
LoraConfig lora_config_of(const LoraConfig& lora, const Adapter& adapter);

// The scale s of every module `adapter` adapts, as `lora` gives it (core::Evaluator's input).
LoraScales lora_scales(const LoraConfig& lora, const Adapter& adapter);
// A LoRA config that applies `adapter` with `scales` to a model: its modules by full name, one
// rank and alpha, plus per-module patterns where ranks or scales differ.
LoraConfig lora_config_for(const LoraScales& scales, const Adapter& adapter);

// PEFT adapter folder: adapter_model.safetensors + adapter_config.json.
// `extra` is stored under the "lorascape" key of adapter_config.json (base model hash etc.).
void save_peft_adapter(const std::string& dir, const Adapter& adapter, const LoraConfig& lora,
                       const nlohmann::json& extra = nlohmann::json::object());
struct PeftAdapter {
  Adapter adapter;       // LoRA factors, or prompt tensors (peft_type PROMPT_TUNING, LORASCAPE_L2P)
  LoraConfig lora;       // the default for a prompt folder
  nlohmann::json extra;  // the "lorascape" object, or {} for adapters from other tools
};
// The line that refuses a pickle (`pickle`, found where `dir`/adapter_model.safetensors was
// expected): why lorascape never reads one, and the one-line conversion.
std::string pickle_refusal(const std::string& pickle, const std::string& dir);
// A folder without adapter_model.safetensors that holds a pickle (.bin, .pt, .pth, .pkl: what
// torch.save and PEFT's legacy save write): FormatError with pickle_refusal.
void refuse_pickle_folder(const std::string& dir);

// Accepts a folder or a path to its adapter_model.safetensors. adapter_config.json is read by
// LoraConfig::from_peft (every PEFT field that changes the arithmetic, refusing what lorascape
// does not implement); every tensor must be a factor of a module the config selects, of the
// rank it gives that module; F16/BF16/F64 factors widen to float32. A pickle (a folder with
// adapter_model.bin or another pickle but no safetensors, or a pickle's path) is refused with
// how to convert it.
PeftAdapter load_peft_adapter(const std::string& path);

// PEFT key <-> model parameter name. A PEFT key is "base_model.model." + the parameter name,
// with or without the adapter's name before ".weight" (".lora_A.weight" as PEFT saves,
// ".lora_A.default.weight" as it holds them in memory and some tools save them).
std::string to_peft_key(const std::string& name);
struct PeftKey {
  std::string name;          // "model.layers.0.self_attn.q_proj.lora_A.weight"
  std::string module;        // "model.layers.0.self_attn.q_proj"
  char factor = 'A';         // 'A' or 'B'
  std::string adapter_name;  // "default" in ".lora_A.default.weight"; "" when absent
};
// FormatError naming `origin` and the key for anything but a LoRA factor of a projection
// (biases, DoRA magnitudes, embedding or lm_head LoRA, other keys), each with why.
PeftKey parse_peft_key(const std::string& key, const std::string& origin);
std::string from_peft_key(const std::string& key, const std::string& origin);

}  // namespace lorascape::core
