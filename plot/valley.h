// The valley figure: 1-D scans (lines, curves, sharpness along a line) as a score against t, one
// series per task set, the new task (learned at the `to` end) drawn solid and bold, the old
// tasks dashed, the pooled "union" and the mean of the tasks; endpoint markers and the barrier
// of the first scan, log scale, several scans overlaid. prepare_valley computes what is drawn
// (no drawing, testable on its own); draw_valley draws it into a QCustomPlot.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>
#include <cmath>
#include <vector>

#include "plot/plot_util.h"

class QCustomPlot;

namespace lorascape::plot {

// The task filters besides the task sets' names: every set, or only the mean of the tasks.
extern const char* const kAllTaskSets;  // "all task sets"
extern const char* const kMeanOfTasks;  // "mean"

struct ValleyOptions {
  QString score;                       // a score of the scans ("loss", "token_acc", …)
  QString task_filter = kAllTaskSets;  // kAllTaskSets, a task set name, or kMeanOfTasks
  bool log_scale = false;              // logarithmic y axis
  bool straight_line = false;          // curves: the straight line at the same t too
  bool band = false;  // several scans of one configuration (seeds): mean ± sd per task set
};

// One plotted series: graph k of the plot shows ValleyFigure::series[k].
struct ValleySeries {
  QString name;      // the legend entry: "arith (new)", "a · union" when overlaid
  int scan = 0;      // index into the scans
  int task = -1;     // task set index in the scan; -1 = mean of the tasks
  QString task_set;  // the task set's name, or "mean"
  QString role;      // the task set's role (store/task_roles.h): "new", "old", "future",
                     // "not-seen", "union"; "task" (role unknown), "mean", "line"
  QVector<double> t, v;
  QVector<double> sd;  // seed band: the sample standard deviation at each t (else empty)
};

// The barrier of the first scan, on its union series, else the mean, else its first series:
// the largest rise above the chord between t = 0 and t = 1 (the largest drop for scores where
// higher is better). value is NaN when there is none (no rise, or t = 0 or 1 not in the grid).
struct ValleyBarrier {
  double value = NAN;
  int series = -1;           // index into ValleyFigure::series
  double t = 0;              // where it is largest
  double chord = 0, at = 0;  // the chord's and the series' value at t
  double v0 = 0, v1 = 0;     // the series' values at t = 0 and t = 1
};

struct ValleyFigure {
  std::vector<ValleySeries> series;
  QStringList scan_labels;   // per scan: the label given with it
  QStringList scan_methods;  // per scan: its method when both ends are of one ("seq"), else ""
  int band = 0;              // seed band: the number of scans averaged (0: none)
  bool overlay = false;      // several scans: coloured by scan, names prefixed by the scan's label
  QString score;
  bool log_scale = false;    // the y axis is logarithmic
  bool log_refused = false;  // asked for, but a value is <= 0: linear, and the axis says so
  QString x_label;           // "t (line)": the first scan's kind
  QString from, to;          // the first scan's end points, short ("seq/1"); drawn with series
  QStringList froms, tos;    // every scan's end points ("" where it has none); all are labelled
  ValleyBarrier barrier;     // none for a sharpness scan
};

// The scores and the task filters (kAllTaskSets, the task sets, kMeanOfTasks) of these scans, in
// order of first appearance: the choices of the valley figure.
QStringList valley_scores(const std::vector<NamedScan>& scans);
QStringList valley_task_filters(const std::vector<NamedScan>& scans);

// "" when the 1-D scans `a` and `b` are of the same configuration (kind, path between the same
// stages, space, task sets, scores and grid: seeds of one experiment), else what differs.
std::string band_difference(const store::ScanData& a, const store::ScanData& b);

// The series of 1-D scans (others are skipped) for these options: per scan that has the score,
// the task sets the filter lets through, the mean of the individual tasks (when there are two or
// more), and a curve's straight line (extras/line_values) when asked for; points not done left
// out. Then the barrier and end points of the first scan. With options.band: one series per task
// set, the mean over the scans and its standard deviation (ConfigError, naming the scan and what
// differs, for scans of different configurations).
ValleyFigure prepare_valley(const std::vector<NamedScan>& scans, const ValleyOptions& options);

// Draws the figure into `plot` (its graphs and items replaced; graph k is series k), colours for
// the plot's theme, and replots.
void draw_valley(QCustomPlot* plot, const ValleyFigure& figure);

// The values of every series at the grid t nearest to `t` ("t = 0.5:  arith (new) 1.5 …"); empty
// when there is no series.
QString valley_readout(const ValleyFigure& figure, double t);

// The series as CSV: scan,task_set,role,score,t,value, one row per plotted point.
QString valley_csv(const ValleyFigure& figure);

}  // namespace lorascape::plot
