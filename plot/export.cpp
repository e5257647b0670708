#include "plot/export.h"

#include <qcustomplot.h>

#include <QFile>
#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QPaintEngine>
#include <QPdfWriter>
#include <QScreen>
#include <QSvgGenerator>
#include <QXmlStreamReader>
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

namespace {
// A paint device that draws nothing and records where text goes: the boxes of the text items in
// device pixels, and whether each lies inside the clip region it is drawn under. It reports the
// resolution `dpi` (as the export devices report layout_dpi() while they are painted on).
class TextRecorder : public QPaintDevice {
 public:
  TextRecorder(int width, int height, int dpi) : w_(width), h_(height), dpi_(dpi), engine_(this) {}
  QPaintEngine* paintEngine() const override { return &engine_; }
  std::vector<FigureText> texts;

 protected:
  int metric(PaintDeviceMetric m) const override {
    switch (m) {
      case PdmWidth:
        return w_;
      case PdmHeight:
        return h_;
      case PdmWidthMM:
        return static_cast<int>(std::lround(w_ * 25.4 / dpi_));
      case PdmHeightMM:
        return static_cast<int>(std::lround(h_ * 25.4 / dpi_));
      case PdmNumColors:
        return 1 << 24;
      case PdmDepth:
        return 32;
      case PdmDpiX:
      case PdmDpiY:
      case PdmPhysicalDpiX:
      case PdmPhysicalDpiY:
        return dpi_;
      case PdmDevicePixelRatio:
        return 1;
      case PdmDevicePixelRatioScaled:
        return static_cast<int>(devicePixelRatioFScale());
      default:
        return 0;
    }
  }

 private:
  class Engine : public QPaintEngine {
   public:
    explicit Engine(TextRecorder* d) : QPaintEngine(QPaintEngine::AllFeatures), d_(d) {}
    bool begin(QPaintDevice*) override { return true; }
    bool end() override { return true; }
    void updateState(const QPaintEngineState&) override {}
    void drawPixmap(const QRectF&, const QPixmap&, const QRectF&) override {}
    void drawPolygon(const QPointF*, int, PolygonDrawMode) override {}
    void drawPath(const QPainterPath&) override {}
    Type type() const override { return QPaintEngine::User; }
    void drawTextItem(const QPointF& p, const QTextItem& item) override {
      QPainter* painter = this->painter();
      const QFontMetricsF fm(item.font(), d_);
      const QRectF local(p.x(), p.y() - fm.ascent(), fm.horizontalAdvance(item.text()),
                         fm.ascent() + fm.descent());
      FigureText t;
      t.text = item.text();
      t.box = painter->transform().mapRect(local);
      t.point_size = item.font().pointSizeF() > 0 ? item.font().pointSizeF()
                                                  : item.font().pixelSize() * 72.0 / d_->dpi_;
      t.clipped = false;
      if (painter->hasClipping()) {
        const QRectF clip = painter->transform().mapRect(painter->clipBoundingRect());
        t.clipped = !clip.adjusted(-1, -1, 1, 1).contains(t.box);
      }
      if (!item.text().trimmed().isEmpty()) d_->texts.push_back(t);
    }

   private:
    TextRecorder* d_;
  };
  int w_, h_, dpi_;
  mutable Engine engine_;
};
}  // namespace

std::vector<FigureText> figure_texts(QCustomPlot* plot, int width, int height, double dpi) {
  const int ldpi = layout_dpi();
  const double scale = dpi / ldpi;
  const int lw = std::max(1, static_cast<int>(std::lround(width / scale)));
  const int lh = std::max(1, static_cast<int>(std::lround(height / scale)));
  TextRecorder rec(width, height, ldpi);
  {
    QCPPainter painter(&rec);
    painter.scale(static_cast<double>(width) / lw, static_cast<double>(height) / lh);
    plot->toPainter(&painter, lw, lh);
  }
  return rec.texts;
}

std::vector<FigureText> svg_texts(const QString& path) {
  // The <text> elements of QSvgGenerator's output: each in a <g> with the transform matrix and
  // the font (family, size in user units) it is drawn with; x, y the baseline's start.
  std::vector<FigureText> out;
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return out;
  QXmlStreamReader xml(&file);
  std::vector<std::pair<QTransform, QFont>> stack{{QTransform(), QFont()}};
  while (!xml.atEnd()) {
    xml.readNext();
    if (xml.isStartElement()) {
      auto top = stack.back();
      const auto attr = xml.attributes();
      if (attr.hasAttribute("transform")) {
        const QString m = attr.value("transform").toString();
        const QStringList v = m.mid(m.indexOf('(') + 1).chopped(1).split(',');
        if (m.startsWith("matrix(") && v.size() == 6)
          top.first = QTransform(v[0].toDouble(), v[1].toDouble(), v[2].toDouble(), v[3].toDouble(),
                                 v[4].toDouble(), v[5].toDouble());
      }
      if (attr.hasAttribute("font-family"))
        top.second.setFamily(attr.value("font-family").toString());
      if (attr.hasAttribute("font-size"))
        top.second.setPixelSize(
            std::max(1, static_cast<int>(std::lround(attr.value("font-size").toDouble()))));
      stack.push_back(top);
      if (xml.name() == QLatin1String("text")) {
        const double x = attr.value("x").toDouble(), y = attr.value("y").toDouble();
        const QString text = xml.readElementText(QXmlStreamReader::IncludeChildElements);
        stack.pop_back();
        if (text.trimmed().isEmpty()) continue;
        const QFontMetricsF fm(top.second);
        FigureText t;
        t.text = text;
        t.box = top.first.mapRect(
            QRectF(x, y - fm.ascent(), fm.horizontalAdvance(text), fm.ascent() + fm.descent()));
        t.point_size = top.second.pixelSize() * 72.0 / layout_dpi();
        out.push_back(t);
      }
    } else if (xml.isEndElement()) {
      if (stack.size() > 1) stack.pop_back();
    }
  }
  return out;
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
