// The training checkpoint: everything train_continual needs to go on after its last completed
// stage, so that a killed `lorascape train` rerun with the same command finishes with the same R
// matrices and adapters as an uninterrupted run (bit for bit with threads = 1).
//
// It lives in <out>/.resume/<method>.h5 (store/checkpoint_file.h, docs/hdf5-schema.md Part III),
// is replaced atomically after every stage, and is removed once the method's results are
// written. The optimiser is not in it: training makes a fresh optimiser and schedule per task.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/adapter.h"
#include "core/config.h"
#include "core/tasks.h"
#include "core/train.h"

namespace lorascape::core {

// <out_dir>/.resume/<method>.h5
std::string checkpoint_path(const std::string& out_dir, const std::string& method);

// What a checkpoint must match to be resumed from: the resolved configuration without `threads`
// and `out` (neither changes what is computed beyond rounding, and a run folder may be moved),
// the base model's digest, a digest of the task data, and the lorascape version.
nlohmann::json resume_key(const RunConfig& cfg, const std::string& base_model_digest,
                          const std::vector<Task>& tasks);

// The first difference between two keys as "train.lr = 0.001 (now 0.002)"; "" when equal.
std::string key_difference(const nlohmann::json& saved, const nlohmann::json& now);

struct TrainCheckpoint {
  nlohmann::json key;
  std::string method;
  int64_t stages_done = 0, stages_total = 0;
  // What the run has produced so far: tasks, base row, each learner's R rows, stage adapters and
  // folders, final training losses, snapshots, and the seconds spent.
  RunResult result;
  int64_t global_step = 0;
  Adapter lora;  // the model's LoRA factors: the trained learner training goes on from
  // O-LoRA's frozen past factors, by layer path: (F_A, F_B); absent for layers without any.
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> frozen;
  at::Tensor cpu_generator;     // torch's default CPU generator state (uint8)
  at::Tensor device_generator;  // the training device's, when not the CPU; undefined otherwise
  TrainState strategy;          // Strategy::save_state
};

// Writes the checkpoint atomically (a temporary file renamed over `path`); the folder is created.
void write_train_checkpoint(const std::string& path, const TrainCheckpoint& ck);
// Reads it back, tensors on the CPU. FormatError when the file is damaged.
TrainCheckpoint read_train_checkpoint(const std::string& path);

// Removes a method's checkpoint, and the .resume folder when that leaves it empty.
void remove_checkpoint(const std::string& out_dir, const std::string& method);
// Removes every checkpoint in <out_dir>/.resume/ (lorascape demo, once all its methods are done).
void remove_checkpoints(const std::string& out_dir);

}  // namespace lorascape::core
