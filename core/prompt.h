// Soft-prompt adapters (docs/methods.md `pp` and `l2p`, docs/hdf5-schema.md): an Adapter whose
// tensors are prompt tensors instead of LoRA factors.
//   prompt_embeddings  (P, C)      a prompt prepended to every example (`pp`: all task prompts
//                                  so far, newest first; PEFT prompt tuning)
//   prompt_pool        (M·Lp, C)   `l2p`: M prompts of Lp rows, prompt j = rows j·Lp..j·Lp+Lp-1
//   prompt_keys        (M, C)      `l2p`: prompt j's key
// Adapter::from_model / load_into carry them to and from the model's SoftPrompt (core/model.h);
// save_peft_adapter / load_peft_adapter write and read them as PEFT's prompt-tuning folder
// (adapter_config.json peft_type PROMPT_TUNING, adapter_model.safetensors with the one key
// prompt_embeddings) or, for a pool, lorascape's own peft_type LORASCAPE_L2P (no PEFT type holds
// a key-selected pool).
#pragma once

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/adapter.h"

namespace lorascape::core {

class TransformerImpl;
struct SoftPrompt;

inline constexpr const char* kPromptEmbeddings = "prompt_embeddings";
inline constexpr const char* kPromptPool = "prompt_pool";
inline constexpr const char* kPromptKeys = "prompt_keys";
inline constexpr const char* kPeftPromptTuning = "PROMPT_TUNING";
inline constexpr const char* kPeftL2p = "LORASCAPE_L2P";

// True when the adapter's tensors are prompt tensors (its first tensor's name is one).
bool is_prompt_adapter(const Adapter& adapter);
// The adapter of a model's prompt (detached copies; the fixed parts concatenated).
Adapter prompt_adapter(const SoftPrompt& prompt);
// The model's prompt from a prompt adapter (copies, no autograd). A pool takes
// TransformerImpl::l2p_top_n prompts per example. FormatError naming
// `origin` for anything else than one prompt_embeddings or a prompt_pool with prompt_keys that
// fit the model.
void load_prompt_adapter(TransformerImpl& model, const Adapter& adapter, const std::string& origin);

// L2P's key-query matching loss (Wang et al. 2022, eq. 5 as the reference code averages it):
// the mean over the batch of Σ_{j ∈ selection_b} (1 − cos(query_b, keys_j)).
// query (B, C) (no gradient needed), keys (M, C), selection (B, N) int64 -> scalar.
at::Tensor l2p_matching_loss(const at::Tensor& query, const at::Tensor& keys,
                             const at::Tensor& selection);

// PEFT folder of a prompt adapter (see above); `extra` goes under "lorascape" as for LoRA.
void save_prompt_adapter(const std::string& dir, const Adapter& adapter,
                         const nlohmann::json& extra);
// The prompt tensors of a folder whose adapter_config.json (already parsed, `cfg`, from
// `config_path`) names a prompt peft_type; `st` is its adapter_model.safetensors.
Adapter read_prompt_adapter(const nlohmann::ordered_json& cfg, const std::string& config_path,
                            const std::string& st);
// True for the peft_type of a prompt folder (PROMPT_TUNING, LORASCAPE_L2P).
bool is_prompt_peft_type(const nlohmann::ordered_json& cfg);

}  // namespace lorascape::core
