// A whole training run as the CLI and the demo start it: threads, seed and device, base
// model (pretrained and cached when needed), task data, continual training, and the run
// folder (config.toml, results.json, adapters/).
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/metrics.h"
#include "core/tasks.h"
#include "core/train.h"

namespace lorascape::core {

// The tasks a config names, from the built-in suite or a TRACE/LLMCL folder.
std::vector<Task> load_tasks(const RunConfig& cfg);

struct RunOutput {
  RunResult result;
  ClMetrics metrics;  // on exact match
  std::string out_dir;
};

struct RunOptions {
  // Keep the method's training checkpoint once its results are written (lorascape demo, which
  // removes them all at its end): a rerun then finds the method done and does not retrain it.
  bool keep_checkpoint = false;
};

// `command_line` is recorded in results.json. Writes into cfg.out (created if missing). When
// cfg.base names a file, the [model] section is taken from that file. Resumable: a checkpoint is
// written after every stage to cfg.out/.resume/<method>.h5 (core/checkpoint.h); a rerun with the
// same configuration goes on from it, and it is removed once run.h5, config.toml and
// results.json are written.
RunOutput run_training(const RunConfig& cfg, const std::string& command_line,
                       const RunOptions& options = {});

// R[t][i] of one score as an aligned text table, with the base row and the metrics.
// `learner`: an adapter key of r.learners; default the reported one.
std::string format_matrix(const RunResult& r, const std::string& score,
                          const std::string& learner = "");
std::string format_metrics(const ClMetrics& m);

// A CSV field (RFC 4180): as is, or quoted with inner quotes doubled where it holds a comma, a
// quote or a line break.
std::string csv_field(const std::string& s);

// Writes text to path atomically (temporary file + rename); FormatError on failure.
void write_text_atomic(const std::string& path, const std::string& text);

// Refuses (ConfigError naming `setting`) a text output (CSV, JSON, summary) at `path` that would
// replace one of the command's `inputs` (file paths or references FILE:…), a folder or special
// file, or a file of another kind (HDF5, safetensors, binary; names ending in .h5, .hdf5 or
// .safetensors). Call it before any work, then write with write_text_atomic.
void check_text_output(const std::string& path, const std::vector<std::string>& inputs,
                       const std::string& setting);

}  // namespace lorascape::core
