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
// width/dpi × height/dpi inches). The plot is laid out at width·96/dpi × height·96/dpi logical
// pixels, so fonts keep their size relative to the figure at any DPI, and always in the light
// theme. Throws lorascape::ConfigError for a bad suffix or size, FormatError when the file
// cannot be written.
void export_plot(QCustomPlot* plot, const QString& path, int width, int height, double dpi = 96);

// A square matrix as CSV: `corner`,LABEL… on the first line, then one line per row, LABEL,value…
// (values with 17 significant digits); values[r·n + c] is row r, column c of n = labels.size().
QString square_matrix_csv(const QString& corner, const QStringList& labels,
                          const QVector<double>& values);

// Writes `text` to `path` (CSV export); FormatError when it cannot.
void write_text_file(const QString& path, const QString& text);

}  // namespace lorascape::plot
