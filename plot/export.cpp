#include "plot/export.h"

#include <qcustomplot.h>

#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QPdfWriter>
#include <QScreen>
#include <QSvgGenerator>
#include <algorithm>
#include <cmath>

#include "plot/plot_util.h"
#include "store/error.h"

namespace lorascape::plot {

int layout_dpi() {
  // What QFontMetrics(font) without a device uses (Qt's qt_defaultDpiY): QCustomPlot measures
  // its text with it while laying out.
  if (QCoreApplication::testAttribute(Qt::AA_Use96Dpi)) return 96;
  if (const QScreen* screen = QGuiApplication::primaryScreen())
    return std::max(1, static_cast<int>(std::lround(screen->logicalDotsPerInchY())));
  return 96;
}

void export_plot(QCustomPlot* plot, const QString& path, int width, int height, double dpi) {
  if (width < 16 || height < 16 || width > 20000 || height > 20000)
    throw ConfigError(path.toStdString() + ": figure size " + std::to_string(width) + "x" +
                      std::to_string(height) +
                      " is out of range; give --width and --height in 16..20000 pixels");
  if (!(dpi >= 10 && dpi <= 2400))
    throw ConfigError(path.toStdString() + ": dpi " + std::to_string(dpi) +
                      " is out of range; use 10..2400 (e.g. 300)");
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix != "png" && suffix != "pdf" && suffix != "svg")
    throw ConfigError(path.toStdString() + ": unknown figure format '" + suffix.toStdString() +
                      "'; end the file name in .png, .pdf or .svg");
  // The plot is laid out at the resolution QCustomPlot measures its text with (layout_dpi(),
  // 96 on most screens), then scaled onto the device: a P-point font is P·dpi/72 device pixels,
  // like every other length, and the layout is that of the same figure at that resolution. The
  // device must report that same resolution while it is painted on, or QPainter converts point
  // sizes with the device's DPI and the text comes out dpi/layout_dpi times too large (and is
  // clipped by the space the layout reserved for it): the PNG gets its DPI only afterwards, the
  // PDF and SVG writers paint at layout_dpi() and get their page size in physical units.
  const int ldpi = layout_dpi();
  const double scale = dpi / ldpi;
  const int lw = std::max(1, static_cast<int>(std::lround(width / scale)));
  const int lh = std::max(1, static_cast<int>(std::lround(height / scale)));
  // Paper colours for the figure, the screen's restored afterwards.
  const bool dark = plot->property("lorascape_dark").toBool();
  apply_plot_theme(plot, false);
  bool ok = true;
  if (suffix == "png") {
    QImage img(width, height, QImage::Format_ARGB32);
    img.fill(Qt::white);
    const auto dpm = [](double d) { return static_cast<int>(std::lround(d / 0.0254)); };
    img.setDotsPerMeterX(dpm(ldpi));
    img.setDotsPerMeterY(dpm(ldpi));
    {
      QCPPainter painter(&img);
      painter.setRenderHint(QPainter::Antialiasing);
      painter.scale(static_cast<double>(width) / lw, static_cast<double>(height) / lh);
      plot->toPainter(&painter, lw, lh);
    }
    img.setDotsPerMeterX(dpm(dpi));
    img.setDotsPerMeterY(dpm(dpi));
    ok = img.save(path, "PNG");
  } else if (suffix == "pdf") {
    QPdfWriter pdf(path);
    pdf.setCreator("lorascape");
    pdf.setResolution(ldpi);
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    pdf.setPageSize(QPageSize(QSizeF(width * 72.0 / dpi, height * 72.0 / dpi), QPageSize::Point,
                              QString(), QPageSize::ExactMatch));
    QCPPainter painter;
    if (!painter.begin(&pdf)) {
      ok = false;
    } else {
      painter.setMode(QCPPainter::pmVectorized);
      painter.setMode(QCPPainter::pmNoCaching);
      const QRect page = pdf.pageLayout().paintRectPixels(pdf.resolution());
      painter.scale(static_cast<double>(page.width()) / lw,
                    static_cast<double>(page.height()) / lh);
      plot->toPainter(&painter, lw, lh);
      ok = painter.end();
    }
  } else {
    QSvgGenerator svg;
    svg.setFileName(path);
    // The page: lw × lh pixels at layout_dpi() = width/dpi × height/dpi inches; the drawing in
    // a viewBox of width × height units.
    svg.setSize(QSize(lw, lh));
    svg.setViewBox(QRect(0, 0, width, height));
    svg.setResolution(ldpi);
    svg.setTitle("lorascape figure");
    QCPPainter painter;
    if (!painter.begin(&svg)) {
      ok = false;
    } else {
      painter.setMode(QCPPainter::pmVectorized);
      painter.setMode(QCPPainter::pmNoCaching);
      painter.scale(static_cast<double>(width) / lw, static_cast<double>(height) / lh);
      plot->toPainter(&painter, lw, lh);
      ok = painter.end();
    }
  }
  apply_plot_theme(plot, dark);
  plot->replot();
  if (!ok || !QFileInfo(path).exists() || QFileInfo(path).size() == 0)
    throw FormatError(path.toStdString() +
                      ": cannot write the figure; check that the folder exists and is writable");
}

QString square_matrix_csv(const QString& corner, const QStringList& labels,
                          const QVector<double>& values) {
  const int n = static_cast<int>(labels.size());
  QString out = corner + "," + labels.join(",") + "\n";
  for (int r = 0; r < n; ++r) {
    out += labels[r];
    for (int c = 0; c < n; ++c) out += "," + QString::number(values[r * n + c], 'g', 17);
    out += "\n";
  }
  return out;
}

void write_text_file(const QString& path, const QString& text) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text) ||
      f.write(text.toUtf8()) < 0)
    throw FormatError(path.toStdString() + ": cannot write (" + f.errorString().toStdString() +
                      "); check that the folder exists and is writable");
}

}  // namespace lorascape::plot
