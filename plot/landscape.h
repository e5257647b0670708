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
  bool log_colors = false;                // logarithmic colour scale (when every value is > 0)
  bool contours = true;                   // contour lines,
  int levels = 10;                        // at this many levels
  bool labels = true;                     // the markers' labels
  QString cmap = "viridis";               // a colour map of color_map_names() (plot/style.h)
  double range_lo = NAN, range_hi = NAN;  // the colour range; NaN: the data's
  bool equal_aspect = true;    // axes at equal scale (for planes; random planes and trajectory
                               // planes have axes of different units and ignore it)
  bool smooth = false;         // interpolated display of the grid (bilinear between points)
  bool contour_labels = true;  // the level on every other contour line
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
  QStringList labels;    // per marker: the adapter's short reference, or "" (none in the file,
                         // or another marker at the same place names it too)
  QStringList methods;   // per marker: its method (plot/style.h method_of), "" when unknown
  QVector<double> off;   // per marker: its distance from the plane (projected adapters; NaN
                         // when the file does not say)
  QVector<bool> far;     // per marker: off the plane by more than kFarOffPlane of the grid's
                         // diagonal: labelled with the distance and drawn hollow
};

// A projected adapter further from the plane than this fraction of the grid's diagonal is marked
// as off the plane (hollow marker, "seq/1 (9.8 off)").
constexpr double kFarOffPlane = 0.05;

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
  QString cmap = "viridis";
  double range_lo = NAN, range_hi = NAN;  // the colour range asked for (NaN: lo..hi)
  bool equal_aspect = false;              // axes at equal scale (asked for, and a plane)
  bool smooth = false;
  bool contour_labels = true;
  // A curve drawn in the plane (scan plane --curve: extras curve_path), with the straight line
  // between its ends; empty when the scan has none.
  QVector<double> curve_x, curve_y;
  double curve_off = NAN;  // the curve's largest distance from the plane
  QString curve_name;      // "trained curve (Bézier, 1 bend)"

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
// map (nullptr for an empty figure). Whenever the plot is laid out (on screen, or at an export's
// size) the axes get equal scale when the figure asks for it, and the labels of the markers and
// contours are placed where they overlap neither each other nor the plot's edges (where they can).
QCPColorMap* draw_landscape(QCustomPlot* plot, const LandscapeFigure& figure);

// The value at the grid point nearest to (x, y): "x = 1, y = 0: a loss = 1"; empty for an empty
// figure.
QString landscape_readout(const LandscapeFigure& figure, double x, double y);

// The field as CSV: x,y,task_set,score,value, one row per grid point (empty for an empty figure).
QString landscape_csv(const LandscapeFigure& figure);

}  // namespace lorascape::plot
