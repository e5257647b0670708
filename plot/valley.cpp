#include "plot/valley.h"

#include <qcustomplot.h>

#include <cmath>
#include <limits>

#include "plot/document.h"
#include "plot/style.h"
#include "store/error.h"
#include "store/task_roles.h"

namespace lorascape::plot {

const char* const kAllTaskSets = "all task sets";
const char* const kMeanOfTasks = "mean";

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool higher_is_better(const QString& score) {
  return score == "token_acc" || score == "exact_match";
}

// The barrier of `target` (see ValleyBarrier); value NaN when there is none.
ValleyBarrier barrier_of(const ValleySeries& target, const QString& score) {
  ValleyBarrier b;
  int i0 = -1, i1 = -1;
  for (int i = 0; i < target.t.size(); ++i) {
    if (target.t[i] == 0.0) i0 = i;
    if (target.t[i] == 1.0) i1 = i;
  }
  if (i0 < 0 || i1 < 0) return b;
  const double sign = higher_is_better(score) ? -1.0 : 1.0;  // a drop is the barrier
  double best = -INFINITY;
  int at = -1;
  for (int i = 0; i < target.t.size(); ++i) {
    const double t = target.t[i];
    if (t < 0 || t > 1) continue;
    const double chord = (1 - t) * target.v[i0] + t * target.v[i1];
    const double rise = sign * (target.v[i] - chord);
    if (rise > best) best = rise, at = i;
  }
  if (at < 0 || !std::isfinite(best) || best <= 0) return b;
  b.value = best;
  b.t = target.t[at];
  b.v0 = target.v[i0];
  b.v1 = target.v[i1];
  b.chord = (1 - b.t) * b.v0 + b.t * b.v1;
  b.at = target.v[at];
  return b;
}
}  // namespace

QStringList valley_scores(const std::vector<NamedScan>& scans) {
  QStringList scores;
  for (const auto& e : scans)
    for (const auto& s : e.scan->spec.scores)
      if (!scores.contains(QString::fromStdString(s))) scores << QString::fromStdString(s);
  return scores;
}

QStringList valley_task_filters(const std::vector<NamedScan>& scans) {
  QStringList sets{kAllTaskSets};
  for (const auto& e : scans)
    for (const auto& s : e.scan->spec.tasks)
      if (!sets.contains(QString::fromStdString(s))) sets << QString::fromStdString(s);
  sets << kMeanOfTasks;
  return sets;
}

std::string band_difference(const store::ScanData& a, const store::ScanData& b) {
  const auto text = [](const store::ScanData& d, const char* key) {
    return d.text.count(key) ? d.text.at(key) : std::string();
  };
  if (a.spec.kind != b.spec.kind) return "it is a " + b.spec.kind + ", not a " + a.spec.kind;
  const std::string pa = short_ref(text(a, "from")) + " -> " + short_ref(text(a, "to"));
  const std::string pb = short_ref(text(b, "from")) + " -> " + short_ref(text(b, "to"));
  if (pa != pb) return "its path is " + pb + ", not " + pa;
  if (text(a, "space") != text(b, "space"))
    return "it interpolates in the space '" + text(b, "space") + "', not '" + text(a, "space") +
           "'";
  if (a.spec.tasks != b.spec.tasks) return "its task sets differ";
  if (a.spec.scores != b.spec.scores) return "its scores differ";
  if (a.spec.axes != b.spec.axes) return "its grid of t differs";
  return "";
}

ValleyFigure prepare_valley(const std::vector<NamedScan>& scans, const ValleyOptions& o) {
  if (o.band)
    for (size_t e = 1; e < scans.size(); ++e) {
      const std::string why = band_difference(*scans[0].scan, *scans[e].scan);
      if (!why.empty())
        throw ConfigError("seed band: " + scans[e].label.toStdString() +
                          " is not the same configuration as " + scans[0].label.toStdString() +
                          " (" + why + "); give scans of one path and configuration");
    }
  ValleyFigure f;
  f.overlay = scans.size() > 1;
  f.score = o.score;
  f.log_scale = o.log_scale;
  for (const auto& e : scans) {
    f.scan_labels << e.label;
    // The method of a path within one method ("seq/1" -> "seq/2"): "seq"; else "".
    const auto& t = e.scan->text;
    const QString a =
        t.count("from") ? method_of(QString::fromStdString(short_ref(t.at("from")))) : QString();
    const QString b =
        t.count("to") ? method_of(QString::fromStdString(short_ref(t.at("to")))) : QString();
    f.scan_methods << (a == b ? a : QString());
  }
  const QString& filter = o.task_filter;
  const bool want_all = filter == kAllTaskSets;
  for (size_t e = 0; e < scans.size(); ++e) {
    const store::ScanData& d = *scans[e].scan;
    if (!is_path_kind(d)) continue;
    const int s = index_of(d.spec.scores, o.score.toStdString());
    if (s < 0) continue;
    const auto& ts = d.spec.axes[0];
    const size_t T = d.spec.tasks.size();
    const std::vector<std::string> roles = task_roles(d);
    const QString prefix = f.overlay ? scans[e].label + " · " : QString();
    auto add = [&](const std::vector<double>& vals, int task, const QString& role,
                   const QString& name) {
      ValleySeries sr;
      sr.scan = static_cast<int>(e);
      sr.task = task;
      sr.task_set = task < 0 ? QString("mean")
                             : QString::fromStdString(d.spec.tasks[static_cast<size_t>(task)]);
      sr.role = role;
      sr.name = name;
      for (size_t i = 0; i < ts.size(); ++i) {
        if (!d.done[i]) continue;
        sr.t << ts[i];
        sr.v << vals[i];
      }
      f.series.push_back(std::move(sr));
    };
    // Per task set, the score along the axis; the mean over the individual tasks.
    std::vector<std::vector<double>> per(T, std::vector<double>(ts.size(), kNaN));
    for (size_t t = 0; t < T; ++t)
      for (size_t i = 0; i < ts.size(); ++i)
        per[t][i] = d.values[d.value_index(static_cast<int64_t>(i), t, static_cast<size_t>(s))];
    std::vector<size_t> singles;
    for (size_t t = 0; t < T; ++t)
      if (d.spec.tasks[t] != "union") singles.push_back(t);
    for (size_t t = 0; t < T; ++t) {
      const QString name = QString::fromStdString(d.spec.tasks[t]);
      if (!want_all && filter != name) continue;
      // The stored role (store/task_roles.h); a task of unknown role is a plain "task".
      const QString role =
          roles[t] == store::kRoleUnknown ? QString("task") : QString::fromStdString(roles[t]);
      add(per[t], static_cast<int>(t), role,
          prefix + QString::fromStdString(task_set_caption(d, t)));
    }
    if (singles.size() >= 2 && (want_all || filter == kMeanOfTasks)) {
      std::vector<double> mean(ts.size(), 0.0);
      for (size_t i = 0; i < ts.size(); ++i) {
        for (size_t t : singles) mean[i] += per[t][i];
        mean[i] /= static_cast<double>(singles.size());
      }
      add(mean, -1, "mean", prefix + "mean of tasks");
    }
    // A curve's straight line at the same t.
    if (o.straight_line && d.extras.count("line_values")) {
      const auto& lv = d.extras.at("line_values");
      if (lv.values.size() == ts.size() * T * d.spec.scores.size())
        for (size_t t = 0; t < T; ++t) {
          const QString name = QString::fromStdString(d.spec.tasks[t]);
          if (!want_all && filter != name) continue;
          std::vector<double> vals(ts.size());
          for (size_t i = 0; i < ts.size(); ++i)
            vals[i] = lv.values[(i * T + t) * d.spec.scores.size() + s];
          add(vals, static_cast<int>(t), "line", prefix + name + " (straight line)");
        }
    }
  }
  if (o.band && scans.size() > 1) {
    // One series per task set of the first scan: the mean over the scans at each t done in all
    // of them, and the sample standard deviation.
    std::vector<ValleySeries> band;
    const int n = static_cast<int>(scans.size());
    for (const auto& first : f.series) {
      if (first.scan != 0) continue;
      ValleySeries sr = first;
      sr.name = first.name.section(" · ", 1) + QString(" (mean ± sd of %1)").arg(n);
      sr.t.clear();
      sr.v.clear();
      for (int i = 0; i < first.t.size(); ++i) {
        std::vector<double> at;
        for (const auto& other : f.series)
          if (other.task_set == first.task_set && other.role == first.role)
            for (int k = 0; k < other.t.size(); ++k)
              if (other.t[k] == first.t[i]) at.push_back(other.v[k]);
        if (static_cast<int>(at.size()) != n) continue;
        double mean = 0, var = 0;
        for (double v : at) mean += v / n;
        for (double v : at) var += (v - mean) * (v - mean) / (n - 1);
        sr.t << first.t[i];
        sr.v << mean;
        sr.sd << std::sqrt(var);
      }
      band.push_back(std::move(sr));
    }
    f.series = std::move(band);
    f.overlay = false;
    f.band = n;
  }
  f.x_label =
      scans.empty() ? "t" : QString("t (") + QString::fromStdString(scans[0].scan->spec.kind) + ")";
  if (scans.empty() || f.series.empty()) return f;
  // A log axis cannot show values <= 0 (sharpness eigenvalues can be negative, accuracies 0).
  if (f.log_scale) {
    bool non_positive = false;
    for (const auto& sr : f.series)
      for (double v : sr.v) non_positive = non_positive || v <= 0;
    if (non_positive) {
      f.log_scale = false;
      f.log_refused = true;
    }
  }
  // End points of every scan; the barrier of the first: on union, else the mean, else the first
  // series. A sharpness scan has no barrier (eigenvalues have no chord to rise above).
  for (const auto& e : scans) {
    const store::ScanData& d = *e.scan;
    f.froms << (d.text.count("from") ? QString::fromStdString(short_ref(d.text.at("from")))
                                     : QString());
    f.tos << (d.text.count("to") ? QString::fromStdString(short_ref(d.text.at("to"))) : QString());
  }
  f.from = f.froms.value(0);
  f.to = f.tos.value(0);
  if (scans[0].scan->spec.kind == "sharpness") return f;
  int target = -1;
  for (size_t k = 0; k < f.series.size(); ++k)
    if (f.series[k].scan == 0 && f.series[k].role == "union") target = static_cast<int>(k);
  if (target < 0)
    for (size_t k = 0; k < f.series.size(); ++k)
      if (f.series[k].scan == 0 && f.series[k].role == "mean") target = static_cast<int>(k);
  if (target < 0)
    for (size_t k = 0; k < f.series.size(); ++k)
      if (f.series[k].scan == 0 && f.series[k].role != "line") {
        target = static_cast<int>(k);
        break;
      }
  if (target >= 0) {
    f.barrier = barrier_of(f.series[static_cast<size_t>(target)], o.score);
    if (std::isfinite(f.barrier.value)) f.barrier.series = target;
  }
  return f;
}

void draw_valley(QCustomPlot* p, const ValleyFigure& f) {
  p->clearGraphs();
  p->clearItems();
  const auto& series = f.series;
  const int n_tasks = [&] {
    int n = 0;
    for (const auto& sr : series) n = std::max(n, sr.task + 1);
    return n;
  }();
  const bool overlay = f.overlay;
  // Overlaid scans: each in its method's colour (plot/style.h) when the scans are of different
  // methods, else in distinct colours.
  std::vector<QColor> scan_colors;
  {
    QStringList methods;
    for (const auto& m : f.scan_methods)
      if (!m.isEmpty() && !methods.contains(m)) methods << m;
    const bool by_method = methods.size() == f.scan_methods.size() && !methods.isEmpty();
    for (int k = 0; k < f.scan_labels.size(); ++k)
      scan_colors.push_back(by_method ? method_color(f.scan_methods[k])
                                      : series_color(k, static_cast<int>(f.scan_labels.size())));
  }
  const bool dark = p->property("lorascape_dark").toBool();
  const QColor fg = dark ? QColor(230, 230, 230) : QColor(20, 20, 20);
  for (const ValleySeries& sr : series) {
    QCPGraph* g = p->addGraph();
    g->setName(sr.name);
    g->setData(sr.t, sr.v, true);
    QColor c = overlay ? scan_colors[static_cast<size_t>(sr.scan)]
               : (sr.role == "union" || sr.role == "mean") ? fg
               : sr.role == "new"                          ? QColor(214, 39, 40)
                                  : series_color(sr.task, std::max(n_tasks, 1));
    if (!overlay && sr.role != "new" && c == QColor(214, 39, 40)) c = QColor(23, 190, 207);
    QPen pen(c, 1.6);
    if (sr.role == "new") pen.setWidthF(3.0);
    if (sr.role == "old") pen.setStyle(Qt::DashLine);
    if (sr.role == "future") pen.setStyle(Qt::DashDotDotLine), pen.setWidthF(1.2);
    if (sr.role == "not-seen") pen.setStyle(Qt::DotLine), pen.setWidthF(1.2);
    if (sr.role == "union")
      pen.setWidthF(overlay ? 2.2 : 2.6), pen.setStyle(overlay ? Qt::DashDotLine : Qt::SolidLine);
    if (sr.role == "mean") pen.setStyle(Qt::DotLine), pen.setWidthF(2.2);
    if (sr.role == "line")
      pen.setStyle(Qt::DotLine), pen.setColor(c.lighter(130)), pen.setWidthF(1.2);
    if (overlay && sr.role == "task") pen.setStyle(Qt::SolidLine);
    g->setPen(pen);
    g->setScatterStyle(
        QCPScatterStyle(sr.role == "line" ? QCPScatterStyle::ssNone : QCPScatterStyle::ssDisc,
                        sr.role == "new" ? 6 : 4));
  }
  // Seed band: mean ± sd as a filled area behind each mean (graphs after the series').
  for (const ValleySeries& sr : series) {
    if (sr.sd.isEmpty()) continue;
    QVector<double> lo(sr.v.size()), hi(sr.v.size());
    for (int i = 0; i < sr.v.size(); ++i) lo[i] = sr.v[i] - sr.sd[i], hi[i] = sr.v[i] + sr.sd[i];
    const QColor c = p->graph(static_cast<int>(&sr - series.data()))->pen().color();
    QCPGraph* upper = p->addGraph();
    upper->setData(sr.t, hi, true);
    upper->setPen(Qt::NoPen);
    upper->removeFromLegend();
    QCPGraph* lower = p->addGraph();
    lower->setData(sr.t, lo, true);
    lower->setPen(Qt::NoPen);
    QColor fill = c;
    fill.setAlpha(55);
    lower->setBrush(fill);
    lower->setChannelFillGraph(upper);
    lower->removeFromLegend();
    upper->setName(sr.name + " + sd");
    lower->setName(sr.name + " - sd");
  }
  // Axes.
  const bool log = f.log_scale;
  p->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  else
    p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  p->yAxis->setLabel(f.log_refused ? score_label(f.score) + " (linear: values ≤ 0)"
                                   : score_label(f.score));
  p->xAxis->setLabel(f.x_label);
  p->rescaleAxes();
  if (!series.empty()) {
    QCPRange x = p->xAxis->range(), y = p->yAxis->range();
    const double dx = std::max(x.size() * 0.04, 1e-9);
    p->xAxis->setRange(x.lower - dx, x.upper + dx);
    if (!log) {
      const double dy = std::max(y.size() * 0.08, 1e-9);
      p->yAxis->setRange(y.lower - dy, y.upper + dy * 2.5);  // room for the labels on top
    }
  }
  // Endpoint markers (t = 0 and t = 1), labelled with every scan's end points (one line per
  // distinct end point, "seq/1 (a)" when scans are overlaid).
  if (!series.empty()) {
    auto ends_of = [&](const QStringList& refs) {
      if (!overlay) return refs.value(0);
      QStringList lines;
      for (int e = 0; e < refs.size(); ++e) {
        if (refs[e].isEmpty()) continue;
        const QString line = refs[e] + " (" + f.scan_labels.value(e) + ")";
        if (!lines.contains(line)) lines << line;
      }
      return lines.join("\n");
    };
    const QString ends[2] = {ends_of(f.froms), ends_of(f.tos)};
    for (int k = 0; k < 2; ++k) {
      auto* line = new QCPItemStraightLine(p);
      line->point1->setCoords(k, 0);
      line->point2->setCoords(k, 1);
      line->setPen(QPen(QColor(128, 128, 128), 1, Qt::DashLine));
      auto* label = new QCPItemText(p);
      label->position->setTypeX(QCPItemPosition::ptPlotCoords);
      label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
      label->position->setCoords(k, 0.98);
      label->setPositionAlignment(Qt::AlignBottom | (k == 0 ? Qt::AlignLeft : Qt::AlignRight));
      label->setPadding(QMargins(4, 0, 4, 0));
      label->setText((k == 0 ? "θ₀ " : "θ₁ ") + ends[k]);
      label->setColor(fg);
      label->setClipToAxisRect(false);
    }
    const ValleyBarrier& b = f.barrier;
    if (b.series >= 0) {
      auto* chord_line = new QCPItemLine(p);
      chord_line->start->setCoords(0, b.v0);
      chord_line->end->setCoords(1, b.v1);
      chord_line->setPen(QPen(QColor(128, 128, 128), 1, Qt::DotLine));
      auto* arrow = new QCPItemLine(p);
      arrow->start->setCoords(b.t, b.chord);
      arrow->end->setCoords(b.t, b.at);
      arrow->setPen(QPen(fg, 1.2));
      arrow->setHead(QCPLineEnding::esSpikeArrow);
      auto* label = new QCPItemText(p);
      label->position->setCoords(b.t, (b.chord + b.at) / 2);
      label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
      label->setPadding(QMargins(6, 0, 0, 0));
      label->setText(QString("barrier %1 (%2)")
                         .arg(b.value, 0, 'g', 3)
                         .arg(series[static_cast<size_t>(b.series)].name));
      label->setColor(fg);
    }
  }
  p->legend->setVisible(!series.empty());
  p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  p->replot();
}

QString valley_readout(const ValleyFigure& f, double t) {
  if (f.series.empty()) return QString();
  // The grid t nearest to `t` over all series.
  double best = NAN, dist = INFINITY;
  for (const auto& sr : f.series)
    for (double x : sr.t)
      if (std::abs(x - t) < dist) dist = std::abs(x - t), best = x;
  QString out = QString("t = %1:").arg(best, 0, 'g', 4);
  for (const auto& sr : f.series)
    for (int i = 0; i < sr.t.size(); ++i)
      if (sr.t[i] == best) out += QString("  %1 %2").arg(sr.name).arg(sr.v[i], 0, 'g', 4);
  return out;
}

QString valley_csv(const ValleyFigure& f) {
  if (f.series.empty()) return QString();
  QString out = "scan,task_set,role,score,t,value\n";
  for (const auto& sr : f.series)
    for (int i = 0; i < sr.t.size(); ++i)
      out += QString("%1,%2,%3,%4,%5,%6\n")
                 .arg(f.scan_labels[sr.scan], sr.task_set, sr.role, f.score)
                 .arg(sr.t[i], 0, 'g', 17)
                 .arg(sr.v[i], 0, 'g', 17);
  return out;
}

}  // namespace lorascape::plot
