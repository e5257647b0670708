// The scan engine shared by every `lorascape scan …` kind: what a scan evaluates (adapters,
// base model, task data, task sets) and the loop that evaluates the missing points of a scan
// file K points per forward (core::Evaluator), flushing after every batch of points so that
// a killed scan resumes where it stopped (store/scan_file.h), restricted to one shard
// (--shard k/N) or split across MPI ranks.
//
// Each kind (line_scan.h, curve.h, plane.h) writes every point as a linear combination of a
// few basis adapters (path.h) and hands the engine a function from point index to adapter.
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "analysis/adapter_ref.h"
#include "core/config.h"
#include "core/model.h"
#include "core/tasks.h"
#include "store/scan_file.h"
#include "store/task_roles.h"

namespace lorascape::analysis {

// Options every scan command takes.
struct ScanOptions {
  std::string space = "factors";         // factors | delta (path.h)
  std::vector<std::string> tasks;        // evaluated tasks; empty = every task of the data config
  std::vector<std::string> union_tasks;  // non-empty: also the task set "union" of these tasks
  std::string base;               // base model file; empty = the one the adapters name (cache)
  std::string out;                // the scan file
  store::Shard shard;             // which points this process computes
  std::string dtype = "float32";  // float32 | bfloat16
  int64_t points_per_batch =
      0;  // K points per forward; 0 = automatic (ScanSetup::points_per_batch)
  // Optional hooks for programs that embed the engine (the desktop app's scan worker); not part
  // of the scan's identity. on_progress(done, total) is called after every batch of points with
  // the points of this run done so far; cancelled() is checked before every batch, and when it
  // returns true the scan stops there: the file holds every point finished so far and resumes
  // like a killed scan. Single process only (ignored under MPI).
  // on_training(step, steps) is called after every step of a curve's bend training, and
  // cancelled() also before every such step: a curve cancelled while training keeps nothing of
  // it (the file holds no control points; the next run trains again).
  std::function<void(int64_t done, int64_t total)> on_progress;
  std::function<void(int64_t step, int64_t steps)> on_training;
  std::function<bool()> cancelled;
};

// The scores every scan stores, in this order.
const std::vector<std::string>& scan_scores();

// Everything a scan evaluates with, resolved and checked.
struct ScanSetup {
  std::vector<AdapterSource> anchors;  // the adapters the scan is built from (same space)
  std::string base_path, base_digest;
  core::RunConfig data;  // task data, seed, evaluation settings, device, threads
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  core::Transformer model{nullptr};  // the base model, on `device` in `dtype`, eval mode;
                                     // loaded by the first evaluation (load_model)
  std::vector<core::Task> tasks;     // every task of the data (training splits for curves)
  core::LoraScales scales;           // s of every module of the anchors (align_anchors)
  // Reported task sets, in order: the tasks, then "union" when asked for.
  std::vector<std::string> set_names;
  // Evaluated example sets (the tasks and any union member not among them) and, per reported
  // set, which evaluated sets it sums.
  std::vector<std::vector<core::Example>> examples;
  std::vector<std::vector<size_t>> set_members;

  // The parts of a scan's identity every kind shares: the anchors' content digests (not their
  // references: a scan is the same whichever path names its adapters), space, tasks, union,
  // base model digest, data settings, device and dtype.
  nlohmann::json identity(const ScanOptions& opt) const;

  // The base model on `device` in `dtype`, loaded on first use.
  core::TransformerImpl& load_model();
  // CPU threads that evaluate points side by side (core::EvaluatorPool): the intra-op thread
  // count on a CPU, 1 on a GPU.
  int64_t workers() const;
  // Points per forward: `requested` when > 0, else 1 on a CPU and what fits on a GPU.
  int64_t points_per_batch(int64_t requested);
};

// Checks the options, loads nothing twice: `anchors` already loaded (load_adapter_ref),
// checked to share one space and to hold only finite values; the base model (from --base or
// the cache), checked against the anchors' digest; the task data of `data`.
ScanSetup prepare_scan(std::vector<AdapterSource> anchors, const ScanOptions& opt,
                       const core::RunConfig& data);

// Every adapter must share one space (check_same_space in `space`) and hold only finite values
// (ConfigError naming the reference and tensor).
void check_adapters(const std::vector<AdapterSource>& adapters, const std::string& space);

// Loads the references in order (ConfigError / FormatError naming the bad one).
std::vector<AdapterSource> load_adapter_refs(const std::vector<std::string>& refs);

// The task data, seed and evaluation settings of a scan: when `ref` is a run-file reference
// (and no --config was given), the run file's configuration with `overrides` ("key=value",
// as --set gives them: e.g. eval.max_examples, eval.split) applied over it and the device and
// threads of `fallback`; else `fallback`.
core::RunConfig scan_data_config(const std::string& ref, const core::RunConfig& fallback,
                                 bool explicit_config,
                                 const std::vector<std::string>& overrides = {});

// The spec of a scan of `kind` evaluated with `setup`: cfg (identity plus the kind's
// settings) gets "kind", tasks are the setup's task sets, scores scan_scores().
store::ScanSpec scan_spec(const std::string& kind, const ScanSetup& setup, nlohmann::json cfg,
                          std::vector<std::vector<double>> axes);

// Opens (or resumes) the scan file of `spec` and returns it, with text `space` and those of
// describe_task_sets added. A file written before the references left the identity (its
// config_json holds `adapters`, and `along` or `run`) is resumed when it differs from `spec`
// in those keys only: its config_json is kept.
store::ScanData open_scan(const ScanOptions& opt, const store::ScanSpec& spec,
                          const std::string& command_line, const ScanSetup& setup);

// What an adapter learned (store/task_roles.h), from what its reference says: the method, the
// stage (or a snapshot's task) and the run's task sequence (info "run_tasks"); not known for
// a PEFT folder that does not carry them.
store::LearnedTasks learned_tasks(const AdapterSource& a);

// Sets the text that says what the scan's task sets are (docs/hdf5-schema.md 16.1): "roles"
// (one per task set, relative to setup.anchors: store::task_roles), "union" (its member tasks,
// one per line) when there is a union, and "adapters" (the anchors' references relative to
// the scan file opt.out, one per line: store::ref_for_scan).
void describe_task_sets(store::ScanData& d, const ScanSetup& setup, const ScanOptions& opt);

// Evaluates every point of opt.shard that `d` does not have yet, K at a time, with the
// point → adapter function `point`, writing the file after every batch of points; shows a
// progress bar labelled `label` with points/s and ETA. Non-finite values are stored as they
// are and counted in d.text["non_finite"]. Returns the data as written last.
store::ScanData evaluate_scan(ScanSetup& setup, const ScanOptions& opt, store::ScanData d,
                              const std::function<core::Adapter(int64_t)>& point,
                              const std::string& label);

// Values (points, task sets, scores) of the adapters, evaluated `points_per_batch` at a
// time (0 = automatic), in this process only, under a progress bar labelled `label`.
std::vector<double> evaluate_adapters(ScanSetup& setup, const std::vector<core::Adapter>& points,
                                      int64_t points_per_batch, const std::string& label);

// FNV-1a of an adapter's values ("fnv1a:…"): the identity of an anchor, so a resumed scan
// never mixes points of adapters that changed under the same reference.
std::string adapter_digest(const core::Adapter& a);

// Parses --shard k/N (ConfigError on a malformed value).
store::Shard parse_shard(const std::string& text);

// A string's comma-separated numbers ("a,b"); ConfigError naming `option` when malformed or
// when there are not `count` of them.
std::vector<double> parse_numbers(const std::string& text, size_t count, const std::string& option);

}  // namespace lorascape::analysis
