// The run file: one HDF5 file holding a whole continual-learning experiment (header, task
// list, and for each method its score matrices, metrics, stage adapters and optional
// training snapshots). docs/hdf5-schema.md is the normative description of the layout;
// this header is its C++ face. No torch and no Qt here: the GUI links this library too.
//
// Sizes used in comments: T = number of tasks, r = LoRA rank.
//
// Errors: every function throws lorascape::FormatError (store/error.h) with one line that
// names the file and the group/dataset/attribute at fault and ends with a hint. HDF5's own
// error printing is switched off in the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorascape::store {

// Value of the root attribute "format" and the current "format_version". Readers reject a
// file whose format differs or whose version is newer than this.
inline constexpr const char* kRunFileFormat = "lorascape-run";
// Version 2 adds the optional root attribute "lora_config"; files without it are still written
// as version 1, so that readers of version 1 keep reading every file they can apply correctly.
inline constexpr int kRunFileFormatVersion = 2;

// One LoRA factor, row-major. values.size() == product(shape); shape has rank >= 1.
struct Tensor {
  std::string name;            // e.g. "model.layers.0.self_attn.q_proj.lora_A.weight"
  std::vector<int64_t> shape;  // (r, in) for lora_A, (out, r) for lora_B
  std::vector<float> values;
};

// The LoRA factors of one adapter, in model order (the order is preserved by the file).
struct AdapterData {
  std::vector<Tensor> tensors;
  // false: read_run_file left this adapter's tensors in the file (a TensorSelection that did
  // not select it); `tensors` is then empty. Such data cannot be written back.
  bool loaded = true;
};

// The adapters at the end of one task.
struct StageData {
  int stage = 0;                                // task index in [0, T); also tasks[stage] == task
  std::string task;                             // task name, equal to the file's tasks[stage]
  std::map<std::string, AdapterData> adapters;  // "adapter", or "fast" / "slow" (I-LoRA)
};

// An adapter captured during training (optional, every N steps).
struct Snapshot {
  int64_t step = 0;  // global optimiser step
  int task = 0;      // index of the task being trained, in [0, T)
  AdapterData adapter;
};

// Scores of the method's other learners (adapter keys other than `reported`, e.g. "fast"
// when "slow" is reported): the same R and metrics as MethodData's, per adapter key.
struct LearnerScores {
  std::map<std::string, std::vector<std::vector<double>>> R;  // score -> (T, T)
  std::map<std::string, std::map<std::string, double>> metrics;
};

// One continual-learning method of the experiment.
struct MethodData {
  std::string name;                  // e.g. "seq", "ilora"; a valid HDF5 link name
  std::string config_json;           // the method's resolved configuration (JSON text)
  std::string reported = "adapter";  // which adapter key is the method's reported model
  // score ("exact_match", "token_acc", "loss") -> R[t][i], score on task i after task t.
  std::map<std::string, std::vector<std::vector<double>>> R;  // each (T, T)
  std::map<std::string, std::vector<double>> base;            // score -> (T,), base model
  // score -> {"OP","BWT","FWT","forgetting","plasticity","stability"}; NaN allowed.
  std::map<std::string, std::map<std::string, double>> metrics;
  // Scores of the method's other learners (adapter keys other than `reported`, e.g. "fast"
  // when "slow" is reported): the same R and metrics as above, per adapter key. Every stage
  // holds an adapter of each key. Empty for single-learner methods.
  std::map<std::string, LearnerScores> learners;
  std::vector<StageData> stages;  // one per finished task, strictly increasing stage
  std::vector<Snapshot> snapshots;
};

// Everything in one run file.
struct RunFileData {
  // What the file said; written as 1, or 2 when lora_config is set.
  int format_version = 1;
  std::string software_version;  // lorascape version that wrote the file
  std::string created;           // ISO 8601 UTC, e.g. "2024-05-01T12:00:00Z"
  std::string command_line;
  std::string config_json;  // the experiment's resolved configuration (JSON text)
  std::string base_model;
  std::string base_model_digest;
  std::vector<std::string> tasks;  // (T,), in training order
  int64_t lora_rank = 0;
  double lora_alpha = 0;
  std::vector<std::string> lora_targets;  // e.g. "q_proj", "v_proj"
  // The PEFT adapter_config.json fields (JSON text) of a LoRA setup that lora_rank, lora_alpha and
  // lora_targets cannot express (rank/alpha patterns, rsLoRA, regex targets, layer selection:
  // runs imported from such adapters); "" otherwise. When set, it is the setup; the file is
  // written as format version 2.
  std::string lora_config;
  std::vector<MethodData> methods;  // in the order they were added

  // The method called `name`, or nullptr.
  const MethodData* find_method(const std::string& name) const;
};

// The current time as every file's `created` holds it: ISO 8601 UTC, "2024-05-01T12:00:00Z".
std::string utc_now();

// Writes `data` to `path` (replacing any file there). Validates first and throws before
// touching the file system (also when an adapter was not loaded: read such a file whole first).
// Crash-safe: writes "<path>.tmp.<pid>", flushes, fsyncs and renames it over `path`, so `path`
// always holds either the old or the new complete file. A killed writer may leave its
// "<path>.tmp.<pid>" behind; readers never look at it.
void write_run_file(const std::string& path, const RunFileData& data);

// Which adapters' tensors read_run_file loads. Everything else (header, tasks, scores, metrics,
// every stage with its adapter keys, every snapshot's step and task) is always read and
// validated; an adapter left out keeps its place with loaded = false and no tensors, unread and
// unchecked. The adapters are most of a run file (GBs for a billion-parameter model with many
// stages): a caller that needs one adapter, or none, reads only that.
struct TensorSelection {
  bool stages = true;     // the stage adapters ...
  bool snapshots = true;  // the training snapshots ...
  std::string method;     // ... of this method only ("" = every method)
  int stage = -1;         // stage adapters of this stage only, 0-based (-1 = every stage)
  std::string key;        // stage adapters under this key only ("" = every key)

  static TensorSelection none();  // no tensors: the header, the scores and the adapter keys
  // One stage adapter: `stage` 0-based, `key` e.g. "adapter" or "slow".
  static TensorSelection one(const std::string& method, int stage, const std::string& key);

  bool wants_stage(const std::string& m, int st, const std::string& k) const;
  bool wants_snapshots(const std::string& m) const;
};

// Reads and validates the file, with the tensors `select` names (default: all). Checks the
// "format" and "format_version" root attributes before anything else. Unknown extra
// groups/datasets/attributes are ignored.
RunFileData read_run_file(const std::string& path, const TensorSelection& select = {});

// The root attribute "format" of the HDF5 file at `path` ("lorascape-run", "lorascape-scan" or
// whatever another program wrote), read without looking at anything else, so that a reader can
// pick read_run_file or read_scan_file. FormatError when the file is missing, unreadable, not
// HDF5 or has no "format" attribute.
std::string read_file_format(const std::string& path);

// Adds `method` to the run file at `path`, or replaces the method of the same name (keeping
// its position), keeping all other methods. When `path` does not exist, the file is created
// from `header_if_new` (its header fields and any methods it already holds) plus `method`.
// The method must agree with the file's tasks. Crash-safe like write_run_file. Not safe
// against concurrent put_method calls on the same file from several processes (the last
// rename wins): serialise those outside.
void put_method(const std::string& path, const MethodData& method,
                const RunFileData& header_if_new);

}  // namespace lorascape::store
