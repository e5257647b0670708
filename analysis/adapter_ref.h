// Adapters named by reference, as every scan and export names them:
//   RUN.h5:METHOD/STAGE[/KEY]   a stage of a run file; STAGE is a 1-based index or a task
//                               name, KEY an adapter key ("fast", "slow"; default: the
//                               method's reported one)
//   DIR or FILE.safetensors     a PEFT adapter folder (or its adapter_model.safetensors)
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/lora_linear.h"

namespace lorascape::analysis {

struct AdapterSource {
  core::Adapter adapter;
  core::LoraConfig lora;          // rank of the tensors; alpha such that alpha/rank is the scale
  std::string base_model;         // base model file name ("" when the source does not say)
  std::string base_model_digest;  // its digest ("" when unknown)
  std::string label;              // the reference as given
  nlohmann::json info;            // method, stage (1-based), task, key … where known
};

// Loads one reference; ConfigError / FormatError with one line naming what is wrong.
AdapterSource load_adapter_ref(const std::string& ref);

// All sources must be points of one space: the same base model (digest, where both know it),
// the same LoRA targets and tensor names, and the same rank. ConfigError naming the first
// two references that differ and in what.
void check_same_space(const std::vector<AdapterSource>& sources);

}  // namespace lorascape::analysis
