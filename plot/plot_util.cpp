#include "plot/plot_util.h"

#include <qcustomplot.h>

#include <QApplication>
#include <cmath>

namespace lorascape::plot {

QString choose(const QStringList& items, const QString& wanted, const QString& fallback) {
  if (items.contains(wanted)) return wanted;
  if (items.contains(fallback)) return fallback;
  return items.value(0);
}

QStringList run_scores(const store::RunFileData& run) {
  QStringList scores;
  for (const auto& m : run.methods)
    for (const auto& [s, R] : m.R)
      if (!scores.contains(QString::fromStdString(s))) scores << QString::fromStdString(s);
  return scores;
}

bool is_dark(const QPalette& palette) {
  return palette.color(QPalette::Window).lightness() < 128;
}

namespace {
void theme_axis(QCPAxis* a, const QColor& fg, const QColor& grid) {
  a->setBasePen(QPen(fg));
  a->setTickPen(QPen(fg));
  a->setSubTickPen(QPen(fg));
  a->setTickLabelColor(fg);
  a->setLabelColor(fg);
  a->grid()->setPen(QPen(grid, 0, Qt::DotLine));
  a->grid()->setZeroLinePen(QPen(grid, 0, Qt::SolidLine));
}
}  // namespace

void apply_plot_theme(QCustomPlot* plot, bool dark) {
  const QColor bg = dark ? QColor(0x23, 0x26, 0x2b) : Qt::white;
  const QColor fg = dark ? QColor(0xdd, 0xdd, 0xdd) : QColor(0x20, 0x20, 0x20);
  const QColor grid = dark ? QColor(0x55, 0x58, 0x5e) : QColor(0xc8, 0xc8, 0xc8);
  plot->setBackground(bg);
  for (QCPAxisRect* r : plot->axisRects())
    for (QCPAxis* a : r->axes()) theme_axis(a, fg, grid);
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* s = qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i)))
      theme_axis(s->axis(), fg, grid);
  plot->legend->setBrush(QBrush(dark ? QColor(0x2d, 0x30, 0x36, 230) : QColor(255, 255, 255, 230)));
  plot->legend->setBorderPen(QPen(grid));
  plot->legend->setTextColor(fg);
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i)))
      t->setTextColor(fg);
  plot->setProperty("lorascape_dark", dark);
}

void init_plot(QCustomPlot* plot) {
  plot->legend->setFont(QFont(plot->font().family(), 8));
  apply_plot_theme(plot, is_dark(QApplication::palette()));
}

QColor series_color(int index, int count) {
  // Tableau-like qualitative colours first, then evenly spread hues.
  static const QColor kColors[] = {
      QColor(31, 119, 180),  QColor(255, 127, 14), QColor(44, 160, 44),   QColor(214, 39, 40),
      QColor(148, 103, 189), QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127),
      QColor(188, 189, 34),  QColor(23, 190, 207)};
  if (index < 10 && count <= 10) return kColors[index];
  return QColor::fromHsv((index * 360 / std::max(count, 1)) % 360, 200, 210);
}

QCPColorGradient viridis_gradient() {
  QCPColorGradient g;
  g.clearColorStops();
  const QColor stops[] = {QColor(68, 1, 84),    QColor(72, 40, 120),  QColor(62, 74, 137),
                          QColor(49, 104, 142), QColor(38, 130, 142), QColor(31, 158, 137),
                          QColor(53, 183, 121), QColor(109, 205, 89), QColor(180, 222, 44),
                          QColor(253, 231, 37)};
  for (int k = 0; k < 10; ++k) g.setColorStopAt(k / 9.0, stops[k]);
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  g.setLevelCount(350);
  return g;
}

QCPColorScale* right_color_scale(QCustomPlot* plot, bool* created) {
  QCPColorScale* scale = nullptr;
  if (plot->plotLayout()->hasElement(0, 1))
    scale = qobject_cast<QCPColorScale*>(plot->plotLayout()->element(0, 1));
  if (created) *created = !scale;
  if (!scale) {
    scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(0, 1, scale);
    scale->setType(QCPAxis::atRight);
    auto* margins = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  }
  return scale;
}

void clear_plot(QCustomPlot* plot) {
  plot->clearPlottables();
  plot->clearItems();
  plot->replot();
}

HeatMap draw_heat_map(QCustomPlot* plot, const QVector<double>& values, int rows, int cols,
                      const QStringList& row_labels, const QStringList& col_labels,
                      const QString& row_title, const QString& col_title,
                      const QString& scale_label, bool annotate, bool rows_down, int decimals) {
  plot->clearPlottables();
  plot->clearItems();
  plot->legend->setVisible(false);
  HeatMap h;
  h.map = new QCPColorMap(plot->xAxis, plot->yAxis);
  h.map->data()->setSize(cols, rows);
  h.map->data()->setRange(QCPRange(0, std::max(cols - 1, 0)), QCPRange(0, std::max(rows - 1, 0)));
  double lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double v = values[r * cols + c];
      h.map->data()->setCell(c, r, v);
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (lo == hi) lo -= 0.5, hi += 0.5;
  h.map->setInterpolate(false);
  QCPColorScale* scale = right_color_scale(plot);
  scale->setVisible(true);
  scale->setDataScaleType(QCPAxis::stLinear);
  h.map->setColorScale(scale);
  // The scale owns the gradient and the range of the maps attached to it.
  scale->setGradient(viridis_gradient());
  scale->setDataRange(QCPRange(lo, hi));
  scale->axis()->setLabel(scale_label);
  h.scale = scale;

  auto ticks = [](QCPAxis* axis, const QStringList& labels) {
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    for (int k = 0; k < labels.size(); ++k) t->addTick(k, labels[k]);
    axis->setTicker(t);
    axis->setSubTicks(false);
    axis->grid()->setVisible(false);
  };
  ticks(plot->xAxis, col_labels);
  ticks(plot->yAxis, row_labels);
  plot->xAxis->setTickLabelRotation(col_labels.join("").size() > 6 * std::max(cols, 1) ? 30 : 0);
  plot->xAxis->setLabel(col_title);
  plot->yAxis->setLabel(row_title);
  plot->xAxis->setRange(-0.5, cols - 0.5);
  plot->yAxis->setRange(-0.5, rows - 0.5);
  plot->yAxis->setRangeReversed(rows_down);
  if (annotate) {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const double v = values[r * cols + c];
        auto* t = new QCPItemText(plot);
        t->position->setCoords(c, r);
        t->setText(std::isfinite(v) ? QString::number(v, 'f', decimals) : QString("–"));
        // Dark text on the bright end of viridis, light text on the dark end.
        const double frac = std::isfinite(v) ? (v - lo) / (hi - lo) : 1.0;
        t->setColor(frac > 0.6 ? Qt::black : Qt::white);
        t->setClipToAxisRect(true);
      }
  }
  apply_plot_theme(plot, plot->property("lorascape_dark").toBool());
  plot->replot();
  return h;
}

}  // namespace lorascape::plot
