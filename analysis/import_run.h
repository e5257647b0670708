// Run files to and from adapters trained elsewhere (`lorascape import-run`, `export-run`;
// docs/user-guide.md, "Analyse adapters trained elsewhere").
//
// import_run builds a run file (docs/hdf5-schema.md) from PEFT adapter folders, one per task
// and adapter key, in training order; optionally it fills the score matrices R[t][i] and the
// base row by evaluating every stage on every task exactly as training does
// (core::evaluate_tasks / core::evaluate_stage). export_run is its inverse: every stage adapter
// of every method of a run file as a PEFT folder, with a manifest.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/adapter_ref.h"
#include "core/config.h"
#include "core/lora_linear.h"
#include "core/train.h"
#include "store/run_file.h"

namespace lorascape::analysis {

// One adapter to import: the task it was trained on, its adapter key and its PEFT folder.
struct ImportStage {
  std::string task;
  std::string key = "adapter";
  std::string dir;
  std::string label() const { return key == "adapter" ? task : task + "/" + key; }
};

// "TASK=DIR" (key `default_key`) or "TASK/KEY=DIR"; ConfigError naming the spec otherwise.
ImportStage parse_import_stage(const std::string& spec, const std::string& default_key);

// The stages of a folder written by another program, read the way that program writes it
// (`layout`; "llmcl" is the only one): order = the training order (empty: read from the
// folder), key = the adapter key of the program's default adapter. `note` (optional) says
// how the order was found. ConfigError for an unknown layout or a folder that does not match.
std::vector<ImportStage> layout_stages(const std::string& layout, const std::string& dir,
                                       const std::vector<std::string>& order,
                                       const std::string& key, std::string* note = nullptr);
// The names layout_stages knows.
const std::vector<std::string>& import_layouts();

// "" when two LoRA setups are the same for one run file (rank, alpha, target modules), else
// what differs, e.g. "r 8 vs 4". The one place where import-run compares LoRA configurations.
std::string lora_difference(const core::LoraConfig& a, const core::LoraConfig& b);

struct ImportOptions {
  std::string out;                  // `out`: the run file; an existing one gets the method added
  std::string method = "imported";  // `method`: the method's name in the run file
  // `reported`: the adapter key reported as the method's model; "" = the only key, or "slow"
  // when the keys are I-LoRA's fast and slow.
  std::string reported;
  std::vector<ImportStage> stages;  // tasks in order of first appearance; every key every task
  std::string base;                 // `base`: base model file or HF folder ("": see import_run)
  bool evaluate = false;            // `evaluate`: fill R and the base row
  bool force = false;               // `force`: replace a method of the same name in `out`
  nlohmann::json source = nlohmann::json::object();  // where the stages came from (recorded)
};

struct ImportResult {
  std::vector<std::string> tasks;
  std::vector<std::string> keys;
  std::string reported;
  std::string base_path;   // the base model used
  bool added = false;      // the method was added to an existing run file
  core::RunResult result;  // R (NaN when not evaluated), base row, stage adapters
};

// Builds (or adds the method to) the run file `opt.out`. `data` gives the task data and
// evaluation settings, as `lorascape train` takes them (tasks.names is set to the stages'
// order). The base model is `opt.base`, else data.base when it is not "auto", else the
// cached base model the adapters' adapter_config.json names (digest checked). Every adapter is
// checked (folder, no pickle, LoRA setup, base model digest, names and shapes against the
// model) and, with `evaluate`, every score computed before anything is written. Without
// `evaluate`, R, base and metrics are NaN and the method's config_json says
// "import": {"evaluated": false, …}.
ImportResult import_run(const ImportOptions& opt, const core::RunConfig& data,
                        const std::string& command_line);

// Whether a method of a run file was imported without evaluation (its config_json's
// import.evaluated is false): its R, base and metrics hold NaN placeholders.
bool method_not_evaluated(const std::string& method_config_json);

// The PEFT folder of one run-file adapter, as `lorascape export-adapter` writes it: its
// adapter_config.json names the base model (file name and digest), the method, stage, task and
// key, and `ref`.
void save_source_adapter(const AdapterSource& src, const std::string& ref, const std::string& dir);

struct ExportResult {
  std::vector<std::string> dirs;      // every adapter folder written, relative to the folder
  std::vector<std::string> commands;  // the import-run commands that recreate the run
};

// Writes every stage adapter of every method (every key) of the run file `run` under `out`:
// OUT/METHOD/stage-NN-TASK[/KEY]/ (KEY when the method has several adapter keys), plus
// OUT/config.toml (the run's configuration), OUT/stages.json (the manifest) and OUT/README.txt.
// ConfigError when `out` exists and is not empty, unless `force` (then same-named files are
// replaced).
ExportResult export_run(const std::string& run, const std::string& out, bool force);

// One run file holding the methods of several (`lorascape merge-runs`): runs of the same
// experiment trained separately (one method per `train` or `sweep` row). The inputs must
// share the task sequence, the base model (digest), the LoRA setup and the seed; method names
// must be unique across them. The header (configuration, versions) is the first input's, the
// command line this one's; each method keeps its own configuration. ConfigError naming the
// file and what differs otherwise; `out` may not be an input, and is replaced only with
// `force`.
store::RunFileData merge_runs(const std::vector<std::string>& inputs, const std::string& out,
                              bool force, const std::string& command_line);

}  // namespace lorascape::analysis
