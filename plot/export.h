// Figure export: a plot written as PNG, PDF or SVG at a given size and resolution, and the CSV
// text of a figure written to a file.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

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

// A square matrix as CSV: `corner`,LABEL… on the first line, then one line per row, LABEL,value…
// (values with 17 significant digits); values[r·n + c] is row r, column c of n = labels.size().
QString square_matrix_csv(const QString& corner, const QStringList& labels,
                          const QVector<double>& values);

// Writes `text` to `path` (CSV export); FormatError when it cannot.
void write_text_file(const QString& path, const QString& text);

}  // namespace lorascape::plot
