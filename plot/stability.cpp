#include "plot/stability.h"

#include <qcustomplot.h>

#include <cmath>
#include <cstdio>

#include "plot/document.h"
#include "plot/plot_util.h"
#include "plot/style.h"
#include "store/error.h"
#include "store/task_roles.h"

namespace lorascape::plot {

namespace {
const QStringList kMetrics{"OP", "BWT", "FWT", "forgetting", "plasticity", "stability"};

// One learner's scores: the method's reported one, or one of its other learners.
struct Learner {
  QString name;  // "seq", "ilora", "ilora/fast"
  const std::map<std::string, std::vector<std::vector<double>>>* R;
  const std::map<std::string, std::map<std::string, double>>* metrics;
};

std::vector<Learner> learners_of(const store::RunFileData& run) {
  std::vector<Learner> out;
  for (const auto& m : run.methods) {
    out.push_back({QString::fromStdString(m.name), &m.R, &m.metrics});
    for (const auto& [key, l] : m.learners)
      out.push_back({QString::fromStdString(m.name + "/" + key), &l.R, &l.metrics});
  }
  return out;
}

// The trade-off plot's path end labels, after every layout: the start labels (they name the
// path) first, shown unless they would cover another label (many paths in a small plot), then
// the end labels where they find room; the path ends themselves are obstacles, and the legend
// when it lies over the plot.
void place_trade_labels(QCustomPlot* p) {
  std::vector<QCPItemText*> labels;
  for (int kind : {1, 2})
    for (int i = 0; i < p->itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(p->item(i)))
        if (t->property("lorascape_end_label").toInt() == kind) labels.push_back(t);
  if (labels.empty() || !labels.front()->clipAxisRect()) return;
  const QRectF area = QRectF(labels.front()->clipAxisRect()->rect());
  if (area.width() < 2 || area.height() < 2) return;
  const QRectF legend =
      p->legend && p->legend->visible() ? QRectF(p->legend->outerRect()) : QRectF();
  std::vector<QRectF> taken;
  for (QCPItemText* t : labels) {
    const QPointF px = label_point(t);
    taken.push_back(QRectF(px.x() - 3, px.y() - 3, 6, 6));
  }
  place_labels(labels, area.adjusted(2, 2, -2, -2), legend, taken,
               [](QCPItemText* t) { return t->property("lorascape_end_label").toInt() == 1; });
}

// How the stage axis names the tasks: the stage number over the name, the names in one row
// (rows = 1) or alternating between two rows (2); or "N name" turned upright (0), on every
// `every`-th stage when even upright lines are too close.
struct StageLabels {
  int rows = 1, every = 1;
  bool operator==(const StageLabels& o) const { return rows == o.rows && every == o.every; }
};

void set_stage_ticks(QCPAxis* x, const QStringList& names, StageLabels l) {
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  for (int t = 0; t < names.size(); ++t) {
    QString label;
    if (l.rows != 0)
      label = QString(l.rows == 2 && t % 2 ? "%1\n\n%2" : "%1\n%2").arg(t + 1).arg(names[t]);
    else if (t % l.every == 0)
      label = QString("%1 %2").arg(t + 1).arg(names[t]);
    ticks->addTick(static_cast<double>(t + 1), label);
  }
  x->setTicker(ticks);
  x->setTickLabelRotation(l.rows == 0 ? -90 : 0);
  x->setProperty("lorascape_stage_rows", l.rows);
  x->setProperty("lorascape_stage_every", l.every);
}

// The labels the laid-out stage axis has room for: names side by side with a gap between
// neighbours (one row) or between every second one (two rows), else upright lines a gap apart.
StageLabels stage_labels(const QCPAxis* x, const QStringList& names) {
  const double step = x->axisRect()->width() / x->range().size();  // pixels per stage
  const QFontMetricsF fm(x->tickLabelFont());
  const double gap = 0.5 * fm.height();
  const auto fits = [&](int k) {
    for (int i = 0; i + k < names.size(); ++i)
      if ((fm.horizontalAdvance(names[i]) + fm.horizontalAdvance(names[i + k])) / 2 + gap >
          k * step)
        return false;
    return true;
  };
  if (fits(1)) return {1, 1};
  if (fits(2)) return {2, 1};
  return {0, std::max(1, static_cast<int>(std::ceil((fm.height() + gap) / step)))};
}

// After every layout: the stage labels in as few rows as fit the axis's width, laid out again
// when that changes the labels (which changes only the bottom margin, not the width).
void fit_stage_labels(QCustomPlot* p) {
  for (QCPAxisRect* r : p->axisRects()) {
    QCPAxis* x = r->axis(QCPAxis::atBottom);
    const QStringList names = x->property("lorascape_stage_names").toStringList();
    if (names.isEmpty() || r->width() < 2) continue;
    const StageLabels l = stage_labels(x, names);
    if (l == StageLabels{x->property("lorascape_stage_rows").toInt(),
                         x->property("lorascape_stage_every").toInt()})
      continue;
    set_stage_ticks(x, names, l);
    for (auto phase :
         {QCPLayoutElement::upPreparation, QCPLayoutElement::upMargins, QCPLayoutElement::upLayout})
      p->plotLayout()->update(phase);
  }
}

// The stage plot's axis rect is the layout's (0, 0), the trade-off plot's (0, 1); created with
// the legend's row on first use.
QCPAxisRect* trade_off_rect(QCustomPlot* p) {
  for (QCPAxisRect* r : p->axisRects())
    if (r->property("lorascape_trade").toBool()) return r;
  // The two plots side by side in a grid of their own (the stage plot wider), the legend and
  // the metric table in rows under both, as wide as the figure.
  QCPLayoutGrid* top = p->plotLayout();
  QCPAxisRect* stage = p->axisRect(0);
  top->take(stage);
  top->simplify();
  auto* plots = new QCPLayoutGrid;
  top->addElement(0, 0, plots);
  plots->addElement(0, 0, stage);
  auto* trade = new QCPAxisRect(p);
  trade->setProperty("lorascape_trade", true);
  plots->addElement(0, 1, trade);
  plots->setColumnStretchFactors({3, 2});
  auto* bottoms = new QCPMarginGroup(p);
  stage->setMarginGroup(QCP::msBottom | QCP::msTop, bottoms);
  trade->setMarginGroup(QCP::msBottom | QCP::msTop, bottoms);
  stage->axis(QCPAxis::atBottom)->setLabel("stage (tasks learned)");
  trade->axis(QCPAxis::atBottom)->setLabel("new task");
  trade->axis(QCPAxis::atLeft)->setLabel("old tasks (mean)");
  for (QCPAxis* a : {trade->axis(QCPAxis::atBottom), trade->axis(QCPAxis::atLeft)})
    a->ticker()->setTickCount(4);
  // The legend below the plots, in rows of three entries.
  auto* sub = new QCPLayoutGrid;
  top->addElement(1, 0, sub);
  top->setRowStretchFactor(1, 0.001);
  stage->insetLayout()->take(p->legend);
  sub->addElement(0, 0, p->legend);
  p->legend->setFillOrder(QCPLegend::foColumnsFirst);
  p->legend->setWrap(3);
  sub->setMargins(QMargins(5, 0, 5, 5));
  apply_plot_theme(p, p->property("lorascape_dark").toBool());
  return trade;
}

// The metric table as a layout element: a header row and one row per learner, the learner's
// name in its colour, the numbers right-aligned.
class TableElement : public QCPLayoutElement {
 public:
  TableElement(QCustomPlot* p, MetricTable t) : QCPLayoutElement(p), t_(std::move(t)) {
    QFont font = p->font();
    font.setPointSizeF(8);
    setProperty("lorascape_font", font);
    setProperty("lorascape_table", true);
  }
  QSize minimumOuterSizeHint() const override {
    const QFontMetricsF fm(property("lorascape_font").value<QFont>());
    double w = 0;
    for (double c : widths(fm)) w += c;
    return QSize(static_cast<int>(std::ceil(w)) + mMargins.left() + mMargins.right(),
                 static_cast<int>(std::ceil(fm.height() * (t_.rows.size() + 2))) + mMargins.top() +
                     mMargins.bottom());
  }

 protected:
  std::vector<double> widths(const QFontMetricsF& fm) const {
    const double gap = fm.horizontalAdvance("   ");
    QFont bold_font = property("lorascape_font").value<QFont>();
    bold_font.setBold(true);
    const QFontMetricsF bold(bold_font);
    std::vector<double> w(static_cast<size_t>(t_.columns.size()) + 1, 0.0);
    w[0] = bold.horizontalAdvance("method");
    for (const auto& r : t_.rows) w[0] = std::max(w[0], fm.horizontalAdvance(r));
    for (int c = 0; c < t_.columns.size(); ++c) {
      double m = bold.horizontalAdvance(t_.columns[c]) * 1.1;
      for (const auto& row : t_.cells) m = std::max(m, fm.horizontalAdvance(row.value(c)));
      w[static_cast<size_t>(c) + 1] = m;
    }
    for (auto& x : w) x += gap;
    return w;
  }
  void draw(QCPPainter* painter) override {
    const QFont font = property("lorascape_font").value<QFont>();
    const QFontMetricsF fm(font);
    const bool dark = mParentPlot->property("lorascape_dark").toBool();
    const QColor fg = dark ? QColor(0xdd, 0xdd, 0xdd) : QColor(0x20, 0x20, 0x20);
    const auto w = widths(fm);
    double total = 0;
    for (double x : w) total += x;
    const QRectF r = QRectF(rect());
    double x0 = r.left() + std::max(0.0, (r.width() - total) / 2);
    const double h = fm.height();
    painter->setFont(font);
    QFont bold = font;
    bold.setBold(true);
    for (int row = -1; row < t_.rows.size(); ++row) {
      double x = x0;
      const double y = r.top() + (row + 1) * h + (row >= 0 ? 0.4 * h : 0);
      for (size_t c = 0; c < w.size(); ++c) {
        QString text =
            row < 0 ? (c == 0 ? QString("method") : t_.columns[static_cast<int>(c) - 1])
                    : (c == 0 ? t_.rows[row]
                              : t_.cells[static_cast<size_t>(row)].value(static_cast<int>(c) - 1));
        painter->setFont(row < 0 ? bold : font);
        painter->setPen(row >= 0 && c == 0 ? method_color(t_.rows[row]) : fg);
        painter->drawText(QRectF(x, y, w[c], h),
                          (c == 0 ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter, text);
        x += w[c];
      }
      if (row < 0) {
        painter->setPen(QPen(fg, 0.6));
        painter->drawLine(QPointF(x0, y + h + 0.2 * h), QPointF(x0 + total, y + h + 0.2 * h));
      }
    }
  }

 private:
  MetricTable t_;
};
}  // namespace

std::vector<NamedScan> trade_off_paths(std::vector<NamedScan> paths) {
  std::vector<NamedScan> out;
  for (auto& p : paths)
    if (p.scan && p.scan->spec.axes.size() == 1 && new_task_index(*p.scan) >= 0)
      out.push_back(std::move(p));
  return out;
}

StabilityFigure prepare_stability(const store::RunFileData* run,
                                  const std::vector<NamedScan>& paths,
                                  const StabilityOptions& options) {
  StabilityFigure f;
  f.score = options.score;
  f.metrics.columns = kMetrics;
  if (!run) return f;
  f.empty = false;
  const std::string score = options.score.toStdString();
  for (const auto& t : run->tasks) f.tasks << QString::fromStdString(t);
  const size_t T = run->tasks.size();
  for (const auto& l : learners_of(*run)) {
    StabilityLearner out;
    out.name = l.name;
    out.has_score = l.R->count(score) > 0;
    if (out.has_score) {
      const auto& R = l.R->at(score);
      for (size_t t = 0; t < T && t < R.size(); ++t) {
        out.stage << static_cast<double>(t + 1);
        out.plasticity << R[t][t];
        if (t == 0) continue;
        double sum = 0;
        for (size_t i = 0; i < t; ++i) sum += R[t][i];
        out.later_stage << static_cast<double>(t + 1);
        out.earlier << sum / static_cast<double>(t);
      }
    }
    f.learners.push_back(std::move(out));
    // Its row of the metric table.
    QStringList row;
    for (const auto& metric : kMetrics) {
      QString text = "–";
      if (l.metrics->count(score) && l.metrics->at(score).count(metric.toStdString())) {
        const double v = l.metrics->at(score).at(metric.toStdString());
        if (std::isfinite(v)) text = QString::number(v, 'f', 3);
      }
      row << text;
    }
    f.metrics.rows << l.name;
    f.metrics.cells.push_back(row);
  }
  // Trade-off along paths.
  f.path_colors = static_cast<int>(paths.size());
  for (size_t e = 0; e < paths.size(); ++e) {
    const store::ScanData& d = *paths[e].scan;
    const int s = index_of(d.spec.scores, score);
    const int neu = new_task_index(d);
    if (s < 0 || neu < 0) continue;
    // The old tasks by role: tasks not learned yet (future, not seen) are not averaged in.
    const std::vector<std::string> roles = task_roles(d);
    std::vector<size_t> old;
    for (size_t t = 0; t < d.spec.tasks.size(); ++t)
      if (roles[t] == store::kRoleOld) old.push_back(t);
    if (old.empty()) continue;
    TradeOffPath path;
    path.label = paths[e].label;
    path.color = static_cast<int>(e);
    {
      const auto ref = [&](const char* key) {
        return d.text.count(key) ? method_of(QString::fromStdString(short_ref(d.text.at(key))))
                                 : QString();
      };
      if (ref("from") == ref("to")) path.method = ref("from");
    }
    const auto& ts = d.spec.axes[0];
    for (size_t i = 0; i < ts.size(); ++i) {
      if (!d.done[i]) continue;
      double o = 0;
      for (size_t t : old)
        o += d.values[d.value_index(static_cast<int64_t>(i), t, static_cast<size_t>(s))];
      path.t << ts[i];
      path.new_task << d.values[d.value_index(static_cast<int64_t>(i), static_cast<size_t>(neu),
                                              static_cast<size_t>(s))];
      path.old_tasks << o / static_cast<double>(old.size());
    }
    if (!path.t.isEmpty()) f.paths.push_back(std::move(path));
  }
  return f;
}

void check_stability_size(int width, int height, double dpi) {
  if (!(dpi > 0) ||
      (width >= kStabilityMinWidthIn * dpi - 0.5 && height >= kStabilityMinHeightIn * dpi - 0.5))
    return;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "the stability figure needs at least %.0f x %.0f inches to be readable (%ld x %ld "
                "px at %g DPI); %d x %d px at %g DPI is %.2g x %.2g inches: ask for a larger "
                "--width/--height (or a lower --dpi)",
                kStabilityMinWidthIn, kStabilityMinHeightIn,
                std::lround(kStabilityMinWidthIn * dpi), std::lround(kStabilityMinHeightIn * dpi),
                dpi, width, height, dpi, width / dpi, height / dpi);
  throw ConfigError(buf);
}

void draw_stability(QCustomPlot* p, const StabilityFigure& f, bool table) {
  QCPAxisRect* trade = trade_off_rect(p);
  p->clearPlottables();
  p->clearItems();
  QCPAxisRect* left = nullptr;
  for (QCPAxisRect* r : p->axisRects())
    if (r != trade && !left) left = r;
  QCPAxis* lx = left->axis(QCPAxis::atBottom);
  QCPAxis* ly = left->axis(QCPAxis::atLeft);
  QCPAxis* rx = trade->axis(QCPAxis::atBottom);
  QCPAxis* ry = trade->axis(QCPAxis::atLeft);
  ly->setLabel(score_label(f.score));
  if (f.empty) {
    p->legend->setVisible(false);
    p->replot();
    return;
  }
  const int n = static_cast<int>(f.learners.size());
  for (int k = 0; k < n; ++k) {
    const StabilityLearner& l = f.learners[static_cast<size_t>(k)];
    const QColor c = method_color(l.name);
    if (!l.has_score) continue;
    auto* g = p->addGraph(lx, ly);
    g->setName(l.name + " new task");
    g->setData(l.stage, l.plasticity);
    g->setPen(QPen(c, 2.2));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    auto* h = p->addGraph(lx, ly);
    h->setName(l.name + " earlier tasks");
    h->setData(l.later_stage, l.earlier);
    h->setPen(QPen(c, 2.0, Qt::DashLine));
    h->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 6));
  }
  const int T = static_cast<int>(f.tasks.size());
  lx->setProperty("lorascape_stage_names", f.tasks);
  set_stage_ticks(lx, f.tasks, {});  // fit_stage_labels fits them to the width after the layout
  lx->setRange(0.6, static_cast<double>(T) + 0.4);
  ly->rescale();
  {
    const QCPRange r = ly->range();
    const double pad = std::max(r.size() * 0.08, 0.02);
    ly->setRange(r.lower - pad, r.upper + pad);
  }
  // Trade-off along paths.
  const QFont label_font(p->font().family(), 8);
  for (const TradeOffPath& path : f.paths) {
    const QColor c =
        path.method.isEmpty() ? series_color(path.color, f.path_colors) : method_color(path.method);
    auto* curve = new QCPCurve(rx, ry);
    curve->setData(path.t, path.new_task, path.old_tasks);
    curve->setName(path.label);
    curve->setPen(QPen(c, 2));
    curve->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    curve->removeFromLegend();
    for (int end : {0, static_cast<int>(path.t.size()) - 1}) {
      auto* t = new QCPItemText(p);
      t->setClipAxisRect(trade);
      t->position->setAxes(rx, ry);
      t->position->setCoords(path.new_task[end], path.old_tasks[end]);
      t->setProperty("lorascape_end_label", end == 0 ? 1 : 2);  // start (named) or end
      t->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
      t->setText(
          QString("%1 t=%2").arg(end == 0 ? path.label : QString()).arg(path.t[end], 0, 'g', 3));
      t->setFont(label_font);
      t->setColor(c);
    }
  }
  rx->rescale();
  ry->rescale();
  if (f.paths.empty()) rx->setRange(0, 1), ry->setRange(0, 1);
  for (QCPAxis* a : {rx, ry}) {
    const QCPRange r = a->range();
    const double pad = std::max(r.size() * 0.1, 0.02);
    a->setRange(r.lower - pad, r.upper + pad);
  }
  // After every layout: the stage labels fitted to the width, then the end labels placed where
  // they overlap nothing.
  if (!p->property("lorascape_trade_hook").toBool()) {
    p->setProperty("lorascape_trade_hook", true);
    QObject::connect(p, &QCustomPlot::afterLayout, p, [p] {
      fit_stage_labels(p);
      place_trade_labels(p);
    });
  }
  if (f.paths.empty()) {
    auto* t = new QCPItemText(p);
    t->setClipAxisRect(trade);
    t->position->setAxisRect(trade);
    t->position->setType(QCPItemPosition::ptAxisRectRatio);
    t->position->setCoords(0.5, 0.5);
    t->setText("trade-off along a path:\nadd a line scan\nbetween two stages");
    t->setColor(QColor(128, 128, 128));
  }
  p->legend->setVisible(true);
  // The metric table in a row of its own under the legend (exports: the app shows it under the
  // plot as a widget).
  QCPLayoutGrid* grid = p->plotLayout();
  for (int i = 0; i < grid->elementCount(); ++i)
    if (QCPLayoutElement* e = grid->elementAt(i))
      if (e->property("lorascape_table").toBool()) {
        grid->remove(e);
        grid->simplify();
        break;
      }
  if (table && !f.metrics.rows.isEmpty()) {
    const int row = grid->rowCount();
    grid->addElement(row, 0, new TableElement(p, f.metrics));
    grid->setRowStretchFactor(row, 0.001);
  }
  p->replot();
}

QString stability_csv(const StabilityFigure& f) {
  if (f.empty) return QString();
  QString out = "method," + f.metrics.columns.join(",") + "\n";
  for (int r = 0; r < f.metrics.rows.size(); ++r) {
    out += f.metrics.rows[r];
    for (const QString& v : f.metrics.cells[static_cast<size_t>(r)])
      out += "," + (v == "–" ? QString("nan") : v);
    out += "\n";
  }
  return out;
}

}  // namespace lorascape::plot
