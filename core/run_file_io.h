// Between training results and the HDF5 run file (store, which knows no torch).
#pragma once

#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/config.h"
#include "core/train.h"
#include "store/run_file.h"

namespace lorascape::core {

store::AdapterData to_store(const Adapter& adapter);
Adapter from_store(const store::AdapterData& data);

// The run's LoRA setup: its `lora_config` (PEFT fields) when set, else lora_rank, lora_alpha and
// lora_targets. FormatError naming `origin` when lora_config is malformed.
LoraConfig run_lora(const store::RunFileData& run, const std::string& origin);
// Writes `lora` into a run file's header: lora_rank, lora_alpha, lora_targets, and lora_config
// when those cannot express it (patterns, rsLoRA, regex targets, layer selection).
void set_run_lora(store::RunFileData& header, const LoraConfig& lora);

// A run file's header: this version, now, the command line, the configuration, the base model,
// the tasks and the LoRA setup (set_run_lora).
store::RunFileData run_header(const RunConfig& cfg, const LoraConfig& lora,
                              const std::vector<std::string>& tasks, const std::string& base_model,
                              const std::string& base_model_digest,
                              const std::string& command_line);

// The method record of one training run: R and base rows for every score, the metrics for
// exact match and token accuracy, the stage adapters and any snapshots.
store::MethodData method_record(const RunConfig& cfg, const RunResult& result);

// Adds (or replaces) the run's method in OUT/run.h5, creating the file when needed.
void record_run(const std::string& path, const RunConfig& cfg, const RunResult& result,
                const nlohmann::json& identity, const std::string& command_line);

}  // namespace lorascape::core
