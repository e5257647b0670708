// The landscape figure: a 2-D scan (plane, random-plane, trajectory) as a heat map of one task
// set's score (or the mean of the tasks) with a colour scale, contour lines (marching squares,
// plot/contour.h), and the anchor adapters, projected adapters and the training trajectory as
// labelled markers. prepare_landscape computes what is drawn (no drawing, testable on its own);
// draw_landscape draws it into a QCustomPlot.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>
#include <vector>

#include "store/scan_file.h"

class QCustomPlot;
class QCPColorMap;

namespace lorascape::plot {

struct LandscapeOptions {
  QString task;   // a task set of the scan, or "mean" (any other name: the mean of the tasks)
  QString score;  // a score of the scan (another name: its first score)
  bool log_colors = false;  // logarithmic colour scale (when every value is > 0)
  bool contours = true;     // contour lines,
  int levels = 10;          // at this many levels
  bool labels = true;       // the markers' labels
};

// One contour line: x, y pairs along it at `level`.
struct ContourLine {
  double level = 0;
  QVector<double> x, y;
};

// A set of markers drawn with one style: the scan's anchors, projected adapters or trajectory.
struct MarkerSet {
  enum class Kind { Trajectory, Projected, Anchors };
  Kind kind = Kind::Anchors;
  QString name;          // the legend entry: "anchors", "projected adapters", "trajectory"
  QVector<double> x, y;  // plane coordinates, in the file's order
  QStringList labels;    // per marker: the adapter's short reference, or "" (none in the file)
};

struct LandscapeFigure {
  std::vector<double> xs, ys;  // the grid
  std::vector<double> z;       // the field: z[i·ny + j] at (xs[i], ys[j]), NaN where not done
  double lo = NAN, hi = NAN;   // the finite values' range (NaN when none)
  QString task, score;         // what is shown
  QString task_caption;        // the task set with its role: "union (old tasks)", "arith (new)"
  bool log_colors = false;     // the log colour scale is used (asked for, and lo > 0)
  bool inverted = false;       // higher is better: the colours run the other way
  std::vector<ContourLine> contours;
  int levels_drawn = 0;            // contour levels with at least one line
  std::vector<MarkerSet> markers;  // trajectory, projected adapters, anchors: drawn in this order
  bool labels = true;              // draw the markers' labels
  QString x_label, y_label;

  bool empty() const { return z.empty(); }
  int marker_count() const;  // markers in every set
};

// The task sets (and "mean" with two or more) and the scores of a 2-D scan: the figure's choices.
QStringList landscape_tasks(const store::ScanData& scan);
QStringList landscape_scores(const store::ScanData& scan);

// The figure of a 2-D scan (a scan of another dimension gives an empty figure).
LandscapeFigure prepare_landscape(const store::ScanData& scan, const LandscapeOptions& options);

// Draws the figure into `plot`: its plottables and items replaced, the colour scale to the right
// of the axis rect created on first use (hidden for an empty figure); replots. Returns the colour
// map (nullptr for an empty figure).
QCPColorMap* draw_landscape(QCustomPlot* plot, const LandscapeFigure& figure);

// The value at the grid point nearest to (x, y): "x = 1, y = 0: a loss = 1"; empty for an empty
// figure.
QString landscape_readout(const LandscapeFigure& figure, double x, double y);

// The field as CSV: x,y,task_set,score,value, one row per grid point (empty for an empty figure).
QString landscape_csv(const LandscapeFigure& figure);

}  // namespace lorascape::plot
