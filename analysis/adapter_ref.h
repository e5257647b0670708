// Adapters named by reference, as every scan and export names them:
//   RUN.h5:METHOD/STAGE[/KEY]   a stage of a run file; STAGE is a 1-based index or a task
//                               name, KEY an adapter key ("fast", "slow"; default: the
//                               method's reported one)
//   CURVE.h5:bend/K             the K-th trained bend (1-based) of a curve scan file
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
  std::string base_model_path;    // the base model as the run was given it (`base` of its
                                  // configuration, a file or model folder; "" for "auto")
  std::string label;              // the reference as given
  nlohmann::json info;            // method, stage (1-based), task, key … where known
};

// Loads one reference; ConfigError / FormatError with one line naming what is wrong.
AdapterSource load_adapter_ref(const std::string& ref);

// The references a pattern stands for: "RUN.h5:*" every stage adapter (every key) of every
// method of the run file, "RUN.h5:METHOD/*" those of one method, anything else itself.
std::vector<std::string> expand_adapter_refs(const std::string& pattern);

// A method's training trajectory in a run file, in training order: for every task, the
// snapshots taken while training it (train.snapshot_every; they hold the trained learner,
// so they are included for the key "adapter" of single-learner methods and for I-LoRA's
// "fast"), then the stage adapter of `key` ("" = the reported one). Labels are references
// ("RUN.h5:M/2/fast") or "RUN.h5:M/snapshot/STEP".
std::vector<AdapterSource> load_trajectory(const std::string& run_path, const std::string& method,
                                           const std::string& key = "");

// All sources must be points of one space: the same base model (digest, where both know it),
// and in factors space the same modules, ranks and scales. In delta space (and for `geometry`,
// space "any") ranks, targets and scales may differ; a module's input and output sizes may
// not. ConfigError naming the first two references that differ and in what (factors space:
// with the hint that delta space combines them).
void check_same_space(const std::vector<AdapterSource>& sources,
                      const std::string& space = "factors");

// Makes the sources points of one delta space: every adapter gets the union of the sources'
// modules, in one order (a module an adapter lacks becomes a rank-0 factor pair: A (0, in),
// B (out, 0), a zero ΔW), and where an adapter's scale of a module differs from the returned
// one (the first source's that has the module) its B is multiplied by the ratio, so that ΔW is
// unchanged. Sources that already share modules and scales are left as they are. Returns the
// scale of every module.
core::LoraScales align_for_delta(std::vector<AdapterSource>& sources);

}  // namespace lorascape::analysis
