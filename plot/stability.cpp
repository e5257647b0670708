#include "plot/stability.h"

#include <qcustomplot.h>

#include <cmath>

#include "plot/document.h"
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

// The stage plot's axis rect is the layout's (0, 0), the trade-off plot's (0, 1); created with
// the legend's row on first use.
QCPAxisRect* trade_off_rect(QCustomPlot* p) {
  if (p->plotLayout()->hasElement(0, 1))
    if (auto* r = qobject_cast<QCPAxisRect*>(p->plotLayout()->element(0, 1))) return r;
  auto* trade = new QCPAxisRect(p);
  p->plotLayout()->addElement(0, 1, trade);
  p->axisRect(0)->axis(QCPAxis::atBottom)->setLabel("stage (tasks learned)");
  trade->axis(QCPAxis::atBottom)->setLabel("new task");
  trade->axis(QCPAxis::atLeft)->setLabel("mean of the old tasks");
  // The legend below the stage plot, in rows of two entries.
  auto* sub = new QCPLayoutGrid;
  p->plotLayout()->addElement(1, 0, sub);
  p->plotLayout()->setRowStretchFactor(1, 0.001);
  p->axisRect(0)->insetLayout()->take(p->legend);
  sub->addElement(0, 0, p->legend);
  p->legend->setFillOrder(QCPLegend::foColumnsFirst);
  p->legend->setWrap(4);
  sub->setMargins(QMargins(5, 0, 5, 5));
  apply_plot_theme(p, p->property("lorascape_dark").toBool());
  return trade;
}
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

void draw_stability(QCustomPlot* p, const StabilityFigure& f) {
  QCPAxisRect* trade = trade_off_rect(p);
  p->clearPlottables();
  p->clearItems();
  QCPAxisRect* left = p->axisRect(0);
  QCPAxis* lx = left->axis(QCPAxis::atBottom);
  QCPAxis* ly = left->axis(QCPAxis::atLeft);
  QCPAxis* rx = trade->axis(QCPAxis::atBottom);
  QCPAxis* ry = trade->axis(QCPAxis::atLeft);
  ly->setLabel(f.score + ": new task (—), earlier tasks (- -)");
  if (f.empty) {
    p->legend->setVisible(false);
    p->replot();
    return;
  }
  const int n = static_cast<int>(f.learners.size());
  for (int k = 0; k < n; ++k) {
    const StabilityLearner& l = f.learners[static_cast<size_t>(k)];
    const QColor c = series_color(k, n);
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
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  for (int t = 0; t < T; ++t)
    ticks->addTick(static_cast<double>(t + 1), QString("%1\n%2").arg(t + 1).arg(f.tasks[t]));
  lx->setTicker(ticks);
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
    const QColor c = series_color(path.color, f.path_colors);
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
  if (f.paths.empty()) {
    auto* t = new QCPItemText(p);
    t->setClipAxisRect(trade);
    t->position->setAxisRect(trade);
    t->position->setType(QCPItemPosition::ptAxisRectRatio);
    t->position->setCoords(0.5, 0.5);
    t->setText("trade-off along a path:\nselect a line scan between two stages");
    t->setColor(QColor(128, 128, 128));
  }
  p->legend->setVisible(true);
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
