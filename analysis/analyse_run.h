// `lorascape analyse-run RUN.h5`: the I-LoRA paper's mode-connectivity experiment on every
// method of a run. For each method and each task t ≥ 2, the line from the stage minimum
// θ_{t−1} to θ_t is scanned on the old tasks 1…t−1 (each, and their union "union") and the
// new task t; the scan files go to a folder, and a short text says where along each path the
// average of old and new is best and how high the barriers are.
#pragma once

#include <string>
#include <vector>

#include "analysis/scan.h"

namespace lorascape::analysis {

struct AnalyseRunOptions {
  ScanOptions scan;                  // space, dtype, …; scan.out is unused (one file per path)
  std::string run;                   // the run file
  std::vector<std::string> methods;  // empty: every method of the run
  int points = 11;                   // points of each line over [0, 1]
  std::string out_dir;               // scan files "<method>-<t−1>-<t>.h5" and summary.txt
};

// One consecutive-stage path of one method, summarised.
struct StagePath {
  std::string method, old_tasks, new_task, file;
  int stage = 0;            // t (1-based): the path runs from stage t−1 to t
  double best_t_loss = 0;   // t minimising (mean old loss + new loss) / 2
  double best_t_exact = 0;  // t maximising (mean old exact match + new exact match) / 2
  double exact_old_from = 0, exact_new_from = 0, exact_old_to = 0,
         exact_new_to = 0;                  // at θ_{t−1}, θ_t
  double exact_best = 0;                    // the average at best_t_exact
  double old_barrier = 0, new_barrier = 0;  // loss barriers of the old union and of the new task
};

// Runs (or resumes: every path is a resumable line scan) the analysis; returns one entry per
// path, in method and stage order.
std::vector<StagePath> analyse_run(const AnalyseRunOptions& opt, const core::RunConfig& data,
                                   const std::string& command_line);

// The text summary (also written to out_dir/summary.txt by the CLI).
std::string format_stage_paths(const std::vector<StagePath>& paths);

}  // namespace lorascape::analysis
