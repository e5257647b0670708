#include "plot/plot_util.h"

#include <qcustomplot.h>

#include <QApplication>
#include <algorithm>
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

namespace {

// Where a label may go around its point, in order of preference.
const Qt::Alignment kPlaces[] = {
    Qt::AlignLeft | Qt::AlignBottom,    Qt::AlignLeft | Qt::AlignTop,
    Qt::AlignRight | Qt::AlignBottom,   Qt::AlignRight | Qt::AlignTop,
    Qt::AlignHCenter | Qt::AlignBottom, Qt::AlignHCenter | Qt::AlignTop};

}  // namespace

QRectF label_box(QCPItemText* t, Qt::Alignment a, double dy) {
  const QPointF at = t->position->pixelPosition() + QPointF(0, dy);
  const QFontMetricsF fm(t->font());
  const QMargins pad = t->padding();
  const double w = fm.horizontalAdvance(t->text()) + pad.left() + pad.right();
  const double h = fm.height() + pad.top() + pad.bottom();
  const double x = a & Qt::AlignLeft ? at.x() : a & Qt::AlignRight ? at.x() - w : at.x() - w / 2;
  const double y = a & Qt::AlignTop ? at.y() : a & Qt::AlignBottom ? at.y() - h : at.y() - h / 2;
  return QRectF(x, y, w, h);
}

QPointF label_point(QCPItemText* t) {
  const QVariant at = t->property("lorascape_label_point");
  const QPointF c = at.isValid() ? at.toPointF() : t->position->coords();
  return QPointF(t->position->keyAxis()->coordToPixel(c.x()),
                 t->position->valueAxis()->coordToPixel(c.y()));
}

QRectF label_reach(QCPItemText* t) {
  QRectF band;
  for (const Qt::Alignment a : kPlaces) band |= label_box(t, a);
  return band;
}

void place_labels(const std::vector<QCPItemText*>& labels, const QRectF& inside,
                  const QRectF& legend, std::vector<QRectF>& taken,
                  const std::function<bool(QCPItemText*)>& keep) {
  for (QCPItemText* t : labels) {  // every label back at its point
    const QVariant at = t->property("lorascape_label_point");
    if (at.isValid())
      t->position->setCoords(at.toPointF());
    else
      t->setProperty("lorascape_label_point", t->position->coords());
  }
  std::vector<QRectF> placed;  // the boxes of the labels placed so far
  for (QCPItemText* t : labels) {
    // Around the point first; where every place there is taken, up to two label heights above
    // or below it (the label then hangs off its point, still next to it).
    const double h = label_box(t, kPlaces[0]).height() + 2;  // a step: a label and a gap
    Qt::Alignment best = kPlaces[0];
    double best_dy = 0;
    int best_score = -1, best_overlaps = 0, best_label_hits = 0;
    for (const double dy : {0.0, -h, h, -2 * h, 2 * h}) {
      for (const Qt::Alignment a : kPlaces) {
        const QRectF box = label_box(t, a, dy);
        const QRectF spaced = box.adjusted(-1, -1, 1, 1);  // a pixel between labels
        // Inside the plot first, then clear of the legend, then over as few other things as
        // possible (none: done).
        const int score = (inside.contains(box) ? 4 : 0) + (legend.intersects(box) ? 0 : 2);
        const auto hits = [&](const std::vector<QRectF>& v) {
          return static_cast<int>(std::count_if(
              v.begin(), v.end(), [&](const QRectF& b) { return b.intersects(spaced); }));
        };
        const int label_hits = hits(placed);
        const int overlaps = hits(taken) + 10 * label_hits;  // over another label: worst
        if (score > best_score || (score == best_score && overlaps < best_overlaps))
          best_score = score, best_overlaps = overlaps, best_label_hits = label_hits, best = a,
          best_dy = dy;
        if (score == 6 && overlaps == 0) break;
      }
      if (best_score == 6 && best_overlaps == 0) break;
    }
    t->setPositionAlignment(best);
    // A kept label may cover points or the legend, never another label.
    const bool shown = (best_score == 6 && best_overlaps == 0) || (best_label_hits == 0 && keep(t));
    t->setVisible(shown);
    if (!shown) continue;
    placed.push_back(label_box(t, best, best_dy));
    if (best_dy != 0) {
      const QPointF at = t->position->pixelPosition() + QPointF(0, best_dy);
      t->position->setCoords(t->position->keyAxis()->pixelToCoord(at.x()),
                             t->position->valueAxis()->pixelToCoord(at.y()));
    }
  }
  taken.insert(taken.end(), placed.begin(), placed.end());
}

}  // namespace lorascape::plot
