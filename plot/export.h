// Figure export: a plot written as PNG, PDF or SVG at a given size and resolution, and the CSV
// text of a figure written to a file.
#pragma once

#include <QRectF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <vector>

class QCustomPlot;

namespace lorascape::plot {

// Writes the plot as a figure: the format by the suffix (.png, .pdf, .svg), `width`×`height`
// pixels at `dpi` (PNG: exactly that many pixels, with the DPI recorded; PDF and SVG: a page of
// width/dpi × height/dpi inches). The figure has the layout the plot would have on a screen of
// layout_dpi() (96 on most) at width/dpi × height/dpi inches, scaled to the device, so a font of
// P points is P points at any DPI: 1800×1200 at 300 DPI is the 600×400 figure at 96 DPI with
// three times the pixels per inch. Always in the light theme. Throws lorascape::ConfigError for a
// bad suffix or size, FormatError when the file cannot be written.
void export_plot(QCustomPlot* plot, const QString& path, int width, int height, double dpi = 96);

// The resolution QCustomPlot lays text out with: the one QFontMetrics uses without a device
// (the primary screen's logical DPI; 96 under the offscreen platform and on most screens).
int layout_dpi();

// One text item of a figure as it is painted: its text, its box in device pixels (of a
// width × height figure), its font size in points, and whether it reaches outside the clip region
// it is drawn under (truncated on the page).
struct FigureText {
  QString text;
  QRectF box;
  double point_size = 0;
  bool clipped = false;
};

// The text items of the plot painted as export_plot paints it at `width`×`height` pixels and
// `dpi`, on a device that records them (nothing is written): what the layout tests check, for
// every view, resolution and format.
std::vector<FigureText> figure_texts(QCustomPlot* plot, int width, int height, double dpi);

// The text items of an SVG file written by export_plot: each <text> with its box in the
// viewBox (the font measured as the file names it).
std::vector<FigureText> svg_texts(const QString& path);

// A square matrix as CSV: `corner`,LABEL… on the first line, then one line per row, LABEL,value…
// (values with 17 significant digits); values[r·n + c] is row r, column c of n = labels.size().
QString square_matrix_csv(const QString& corner, const QStringList& labels,
                          const QVector<double>& values);

// Writes `text` to `path` (CSV export); FormatError when it cannot.
void write_text_file(const QString& path, const QString& text);

}  // namespace lorascape::plot
