// What every view shares: the plot colours (light for paper, or following the application
// palette on screen), task colours, an annotated heat map, and figure export to PNG/PDF/SVG.
#pragma once

#include <QColor>
#include <QPalette>
#include <QString>
#include <QStringList>
#include <QVector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPColorGradient;

namespace lorascape::gui {

// True when the palette's window colour is dark (the system's dark mode).
bool is_dark(const QPalette& palette);

// Colours a plot for a dark or light background: background, axes, grid, tick labels,
// legend, colour scales. Exported figures are always light (export_plot).
void apply_plot_theme(QCustomPlot* plot, bool dark);

// The colour of series `index` of `count` (distinct hues, readable on light and dark).
QColor series_color(int index, int count);

// Viridis (perceptually uniform, readable in grey), NaN transparent; QCustomPlot 2.1 lacks it.
QCPColorGradient viridis_gradient();

// A heat map with a colour scale to its right, cell (i, j) at key i, value j; text labels on
// the cells when `annotate`. Created in `plot` (which is cleared first).
struct HeatMap {
  QCPColorMap* map = nullptr;
  QCPColorScale* scale = nullptr;
};
// values: rows·cols row-major, cell (r, c) = values[r·cols + c], drawn at x = c, y = r (rows
// top to bottom when `rows_down`). NaN cells are transparent and annotated "–".
HeatMap draw_heat_map(QCustomPlot* plot, const QVector<double>& values, int rows, int cols,
                      const QStringList& row_labels, const QStringList& col_labels,
                      const QString& row_title, const QString& col_title,
                      const QString& scale_label, bool annotate, bool rows_down = true,
                      int decimals = 2);

// Writes the plot as a figure: the format by the suffix (.png, .pdf, .svg), `width`×`height`
// pixels at `dpi` (PNG: exactly that many pixels, with the DPI recorded; PDF and SVG: a page of
// width/dpi × height/dpi inches). The plot is laid out at width·96/dpi × height·96/dpi logical
// pixels, so fonts keep their size relative to the figure at any DPI, and always in the light
// theme. Throws lorascape::ConfigError for a bad suffix or size, FormatError when the file
// cannot be written.
void export_plot(QCustomPlot* plot, const QString& path, int width, int height, double dpi = 96);

// Writes `text` to `path` (CSV export); FormatError when it cannot.
void write_text_file(const QString& path, const QString& text);

}  // namespace lorascape::gui
