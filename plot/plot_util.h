// What every figure shares: the plot colours (light for paper, or following the application
// palette on screen), task colours, an annotated heat map, the start of every plot, the choice
// of an option among the ones a file offers, and a scan with the label it is shown under.
#pragma once

#include <QColor>
#include <QPalette>
#include <QRectF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <functional>
#include <memory>
#include <vector>

#include "store/run_file.h"
#include "store/scan_file.h"

class QCustomPlot;
class QCPItemText;
class QCPColorMap;
class QCPColorScale;
class QCPColorGradient;

namespace lorascape::plot {

// A scan file's contents and the label it is shown under (the file's stem, say): the input of
// the figures that show several scans.
struct NamedScan {
  QString label;
  std::shared_ptr<const store::ScanData> scan;
};

// `wanted` when it is one of `items`, else `fallback` when it is, else the first item (empty
// when there are none): how a figure's option falls back to what the file offers.
QString choose(const QStringList& items, const QString& wanted,
               const QString& fallback = QString());

// The scores of a run's matrices (R), in order of first appearance: the choices of the matrix
// and stability figures.
QStringList run_scores(const store::RunFileData& run);

// True when the palette's window colour is dark (the system's dark mode).
bool is_dark(const QPalette& palette);

// Colours a plot for a dark or light background: background, axes, grid, tick labels,
// legend, colour scales. Exported figures are always light (export_plot).
void apply_plot_theme(QCustomPlot* plot, bool dark);

// The start of every plot: the legend's font (8 pt of the plot's family) and the theme of the
// application palette (apply_plot_theme).
void init_plot(QCustomPlot* plot);

// The colour of series `index` of `count` (distinct hues, readable on light and dark).
QColor series_color(int index, int count);

// Viridis (perceptually uniform, readable in grey), NaN transparent; QCustomPlot 2.1 lacks it.
QCPColorGradient viridis_gradient();

// The colour scale in the layout cell to the right of the axis rect: the one there, else a new
// one (its top and bottom margins aligned with the axis rect's); *created says which.
QCPColorScale* right_color_scale(QCustomPlot* plot, bool* created = nullptr);

// The box (pixels) a text item covers at its position with alignment `a`, moved down by `dy`.
QRectF label_box(QCPItemText* t, Qt::Alignment a, double dy = 0);

// The pixel position of a label's own point (where place_labels moves it back to).
QPointF label_point(QCPItemText* t);

// The box covering every place around its point that place_labels may give a text item.
QRectF label_reach(QCPItemText* t);

// Places text labels next to their points (after a layout, in pixels): each label, in order,
// takes the first of six places around its point — then the same up to two label heights above
// or below it — that lies inside `inside`, clear of `legend` and clear of `taken` and of the
// labels placed before it; the best compromise otherwise. A label that overlaps something
// wherever it goes is hidden unless `keep(label)` and what it overlaps is no label placed
// before it (labels never cover each other: with too little room, kept labels are hidden too).
// Every label starts from its own point again at each call (an earlier call may have moved it off).
// The boxes placed go into `taken`.
void place_labels(const std::vector<QCPItemText*>& labels, const QRectF& inside,
                  const QRectF& legend, std::vector<QRectF>& taken,
                  const std::function<bool(QCPItemText*)>& keep);

// Removes the plot's plottables and items and replots: the figure of nothing.
void clear_plot(QCustomPlot* plot);

// A heat map with a colour scale to its right, cell (i, j) at key i, value j; text labels on
// the cells when `annotate`. Created in `plot` (which is cleared first).
struct HeatMap {
  QCPColorMap* map = nullptr;
  QCPColorScale* scale = nullptr;
};
// values: rows·cols row-major, cell (r, c) = values[r·cols + c], drawn at x = c, y = r (rows
// top to bottom when `rows_down`). NaN cells are transparent and annotated "–". The plot is
// themed as it was (light or dark) and replotted.
HeatMap draw_heat_map(QCustomPlot* plot, const QVector<double>& values, int rows, int cols,
                      const QStringList& row_labels, const QStringList& col_labels,
                      const QString& row_title, const QString& col_title,
                      const QString& scale_label, bool annotate, bool rows_down = true,
                      int decimals = 2);

}  // namespace lorascape::plot
