// The plasticity/stability figure of a run file. Left: across stages t, the score on the task
// just learned (R[t][t], solid) and the mean score on the earlier tasks (mean over i < t of
// R[t][i], dashed), one colour per method (and learner). Right: the trade-off along paths
// between stages: for each 1-D scan whose new task is known, the new task's score against the
// mean of the old tasks' as t moves from θ₀ to θ₁. And the metric table (OP, BWT, FWT,
// forgetting, plasticity, stability) of every method and learner, which the app shows under the
// plot. prepare_stability computes all of it (no drawing); draw_stability draws the two plots.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>
#include <vector>

#include "plot/plot_util.h"
#include "store/run_file.h"

class QCustomPlot;

namespace lorascape::plot {

struct StabilityOptions {
  QString score;  // a score of the run's matrices ("exact_match", "loss", …)
};

// One method ("seq") or one of its learners ("ilora/fast"): its curves across stages.
struct StabilityLearner {
  QString name;
  bool has_score = false;             // false: the learner has no matrix of this score (not drawn)
  QVector<double> stage, plasticity;  // stages 1..T, R[t][t]
  QVector<double> later_stage, earlier;  // stages 2..T, mean over i < t of R[t][i]
};

// One path's trade-off: at each t done, the new task's score and the old tasks' mean.
struct TradeOffPath {
  QString label;
  int color = 0;   // index of the path among those given (its colour when it has no method)
  QString method;  // the method of both ends ("seq"), whose colour it is drawn in; else ""
  QVector<double> t, new_task, old_tasks;
};

// The metric table: one row per learner, "–" where a metric is missing.
struct MetricTable {
  QStringList columns;             // OP, BWT, FWT, forgetting, plasticity, stability
  QStringList rows;                // learner names
  std::vector<QStringList> cells;  // cells[row][column]: the value with three decimals, or "–"
};

struct StabilityFigure {
  bool empty = true;  // no run file
  QString score;
  QStringList tasks;  // the run's tasks, in order
  std::vector<StabilityLearner> learners;
  std::vector<TradeOffPath> paths;  // the paths with this score, a known new task and old tasks
  int path_colors = 0;              // paths given (the colours are spread over them)
  MetricTable metrics;
};

// The paths the trade-off plot can use: 1-D scans whose new task is known (new_task_index).
std::vector<NamedScan> trade_off_paths(std::vector<NamedScan> paths);

// The figure of `run` (nullptr: an empty figure) with the trade-off along `paths`.
StabilityFigure prepare_stability(const store::RunFileData* run,
                                  const std::vector<NamedScan>& paths,
                                  const StabilityOptions& options);

// Draws the figure into `plot`: on first use it lays the plot out (the stage plot, the
// trade-off plot to its right, the legend under the stage plot); then replaces its plottables
// and items and replots. With `table`, the metric table is drawn under the legend (figures for
// export; the app shows it in a widget under the plot).
void draw_stability(QCustomPlot* plot, const StabilityFigure& figure, bool table = false);

// The smallest figure the two plots, their legend and the metric table fit in at readable text
// sizes: 6 × 4 inches (e.g. 1800 × 1200 px at 300 DPI). ConfigError naming the size asked for and
// the smallest one in pixels at that DPI for a smaller figure.
inline constexpr double kStabilityMinWidthIn = 6.0, kStabilityMinHeightIn = 4.0;
void check_stability_size(int width, int height, double dpi);

// The metric table as CSV: method,OP,…, "nan" for a missing value; empty for an empty figure.
QString stability_csv(const StabilityFigure& figure);

}  // namespace lorascape::plot
