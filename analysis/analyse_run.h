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

// Besides each method's own consecutive stages, two kinds of path compare two learners A and B
// (each "[RUN.h5:]METHOD[/KEY]", RUN.h5 defaulting to the analysed run, KEY to the reported
// adapter; another run must have the same task sequence):
//   cross       A's θ_{t−1} → B's θ_t: does B's minimum lie in the valley that A crosses?
//   same-stage  A's θ_t → B's θ_t (t ≥ 2): e.g. I-LoRA's fast learner against its slow one.
// Every path is summarised with new = task t and old = the tasks 1…t−1 that the path's from
// end learned (its scan's roles; all of them, except for `one`, whose θ_{t−1} learned task
// t−1 alone); a same-stage path takes old = tasks 1…t−1.
struct AnalyseRunOptions {
  ScanOptions scan;                     // space, dtype, …; scan.out is unused (one file per path)
  std::string run;                      // the run file
  std::vector<std::string> methods;     // "METHOD[/KEY]"; empty: every method of the run
  std::vector<std::string> cross;       // "A,B": A's θ_{t−1} → B's θ_t
  std::vector<std::string> same_stage;  // "A,B": A's θ_t → B's θ_t
  int points = 11;                      // points of each line over [0, 1]
  // Scan files "<path>-<t−1>-<t>.h5" (a same-stage path: "<path>-<t>.h5"), summary.txt and
  // summary.csv.
  std::string out_dir;
};

// One consecutive-stage path of one method, summarised.
struct StagePath {
  // The path's label: "seq", "ilora/fast" (consecutive stages), "seq->ilora" (cross),
  // "ilora/fast=ilora" (same stage); kind "consecutive", "cross" or "same-stage".
  std::string method, kind = "consecutive", old_tasks, new_task, file;
  int stage = 0;            // t (1-based): the path runs from stage t−1 to t
  double best_t_loss = 0;   // t minimising (mean old loss + new loss) / 2
  double best_t_exact = 0;  // t maximising (mean old exact match + new exact match) / 2
  double exact_old_from = 0, exact_new_from = 0, exact_old_to = 0,
         exact_new_to = 0;                  // at θ_{t−1}, θ_t
  double exact_best = 0;                    // the average at best_t_exact
  double loss_from = 0, loss_to = 0;        // (old + new loss) / 2 at both ends
  double loss_best = 0;                     // that average at best_t_loss
  double old_barrier = 0, new_barrier = 0;  // loss barriers of the old union and of the new task
  // The same exact-match average with old = the previous task t−1 alone (the task θ_{t−1} was
  // trained on last; for `one` the same as old): the paper's two-task view of each pair.
  std::string prev_task;
  double exact_prev_from = 0, exact_prev_to = 0;  // task t−1's exact match at θ_{t−1}, θ_t
  double best_t_prev = 0;      // t maximising (task t−1 exact match + new exact match) / 2
  double exact_prev_best = 0;  // that average at best_t_prev
};

// Runs (or resumes: every path is a resumable line scan) the analysis; returns one entry per
// path, in method and stage order.
std::vector<StagePath> analyse_run(const AnalyseRunOptions& opt, const core::RunConfig& data,
                                   const std::string& command_line);

// The text summary (also written to out_dir/summary.txt by the CLI).
std::string format_stage_paths(const std::vector<StagePath>& paths);

// The same as CSV, one row per path with every field (also out_dir/summary.csv): for tables
// over seeds. `space` is the scans' parameter space, written in every row.
std::string stage_paths_csv(const std::vector<StagePath>& paths, const std::string& space);

// Writes both into out_dir (summary.txt, summary.csv), atomically; returns the text.
std::string write_stage_summaries(const std::string& out_dir, const std::vector<StagePath>& paths,
                                  const std::string& space);

}  // namespace lorascape::analysis
