#include "gui/valley_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QSignalBlocker>
#include <cmath>
#include <limits>

#include "plot/document.h"
#include "plot/plot_util.h"

namespace lorascape::gui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kAll = "all task sets";
const char* kMean = "mean";

QStringList to_qt(const std::vector<std::string>& v) {
  QStringList out;
  for (const auto& s : v) out << QString::fromStdString(s);
  return out;
}

bool higher_is_better(const QString& score) {
  return score == "token_acc" || score == "exact_match";
}
}  // namespace

ValleyView::ValleyView(QWidget* parent) : PlotPanel(parent) {
  score_ = add_combo("score");
  filter_ = add_combo("show");
  log_ = add_check("log scale", false);
  line_ = add_check("straight line (curves)", false);
  controls()->addStretch(1);
  connect(score_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(filter_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(log_, &QCheckBox::toggled, this, [this] { rebuild(); });
  connect(line_, &QCheckBox::toggled, this, [this] { rebuild(); });
  connect(plot(), &QCustomPlot::mouseMove, this, &ValleyView::on_mouse_move);
  plot()->legend->setVisible(true);
  plot()->xAxis->setLabel("t");
}

void ValleyView::set_scans(std::vector<Entry> scans) {
  scans_.clear();
  for (auto& e : scans)
    if (e.scan && plot::is_path_kind(*e.scan)) scans_.push_back(std::move(e));
  QStringList scores, sets{kAll};
  for (const auto& e : scans_) {
    for (const auto& s : to_qt(e.scan->spec.scores))
      if (!scores.contains(s)) scores << s;
    for (const auto& s : to_qt(e.scan->spec.tasks))
      if (!sets.contains(s)) sets << s;
  }
  sets << kMean;
  refill_combo(score_, scores, "loss");
  refill_combo(filter_, sets, kAll);
  rebuild();
}

void ValleyView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

void ValleyView::set_task_filter(const QString& filter) {
  const int k = filter_->findText(filter);
  if (k >= 0) filter_->setCurrentIndex(k);
  rebuild();
}

void ValleyView::set_log_scale(bool on) {
  const QSignalBlocker b(log_);
  log_->setChecked(on);
  rebuild();
}

void ValleyView::set_show_line(bool on) {
  const QSignalBlocker b(line_);
  line_->setChecked(on);
  rebuild();
}

QString ValleyView::score() const {
  return score_->currentText();
}

bool ValleyView::log_scale() const {
  return log_->isChecked();
}

void ValleyView::rebuild() {
  QCustomPlot* p = plot();
  p->clearGraphs();
  p->clearItems();
  series_.clear();
  barrier_ = kNaN;
  const QString score = score_->currentText();
  const QString filter = filter_->currentText();
  const bool overlay = scans_.size() > 1;
  for (size_t e = 0; e < scans_.size(); ++e) {
    const store::ScanData& d = *scans_[e].scan;
    const int s = plot::index_of(d.spec.scores, score.toStdString());
    if (s < 0) continue;
    const auto& ts = d.spec.axes[0];
    const size_t T = d.spec.tasks.size();
    const int neu = plot::new_task_index(d);
    const QString prefix = overlay ? scans_[e].label + " · " : QString();
    auto make = [&](const std::vector<double>& vals, int task, const QString& role,
                    const QString& name, bool use_done) {
      Series sr;
      sr.scan = static_cast<int>(e);
      sr.task = task;
      sr.role = role;
      sr.name = name;
      for (size_t i = 0; i < ts.size(); ++i) {
        if (use_done && !d.done[i]) continue;
        sr.t << ts[i];
        sr.v << vals[i];
      }
      return sr;
    };
    // Per task set, the score along the axis; the mean over the individual tasks.
    std::vector<std::vector<double>> per(T, std::vector<double>(ts.size(), kNaN));
    for (size_t t = 0; t < T; ++t)
      for (size_t i = 0; i < ts.size(); ++i)
        per[t][i] = d.values[d.value_index(static_cast<int64_t>(i), t, static_cast<size_t>(s))];
    std::vector<size_t> singles;
    for (size_t t = 0; t < T; ++t)
      if (d.spec.tasks[t] != "union") singles.push_back(t);
    const bool want_all = filter == kAll;
    for (size_t t = 0; t < T; ++t) {
      const QString name = QString::fromStdString(d.spec.tasks[t]);
      if (!want_all && filter != name) continue;
      QString role = name == "union"              ? "union"
                     : neu < 0                    ? "task"
                     : static_cast<int>(t) == neu ? "new"
                                                  : "old";
      QString label = prefix + name;
      if (role == "new") label += " (new)";
      if (role == "old") label += " (old)";
      series_.push_back(make(per[t], static_cast<int>(t), role, label, true));
    }
    if (singles.size() >= 2 && (want_all || filter == kMean)) {
      std::vector<double> mean(ts.size(), 0.0);
      for (size_t i = 0; i < ts.size(); ++i) {
        for (size_t t : singles) mean[i] += per[t][i];
        mean[i] /= static_cast<double>(singles.size());
      }
      series_.push_back(make(mean, -1, "mean", prefix + "mean of tasks", true));
    }
    // A curve's straight line at the same t.
    if (line_->isChecked() && d.extras.count("line_values")) {
      const auto& lv = d.extras.at("line_values");
      if (lv.values.size() == ts.size() * T * d.spec.scores.size())
        for (size_t t = 0; t < T; ++t) {
          const QString name = QString::fromStdString(d.spec.tasks[t]);
          if (!want_all && filter != name) continue;
          std::vector<double> vals(ts.size());
          for (size_t i = 0; i < ts.size(); ++i)
            vals[i] = lv.values[(i * T + t) * d.spec.scores.size() + s];
          series_.push_back(
              make(vals, static_cast<int>(t), "line", prefix + name + " (straight line)", true));
        }
    }
  }
  // Draw.
  const int n_tasks = [&] {
    int n = 0;
    for (const auto& sr : series_) n = std::max(n, sr.task + 1);
    return n;
  }();
  const bool dark = p->property("lorascape_dark").toBool();
  const QColor fg = dark ? QColor(230, 230, 230) : QColor(20, 20, 20);
  for (const Series& sr : series_) {
    QCPGraph* g = p->addGraph();
    g->setName(sr.name);
    g->setData(sr.t, sr.v, true);
    QColor c = overlay ? plot::series_color(sr.scan, static_cast<int>(scans_.size()))
               : (sr.role == "union" || sr.role == "mean") ? fg
               : sr.role == "new"                          ? QColor(214, 39, 40)
                                  : plot::series_color(sr.task, std::max(n_tasks, 1));
    if (!overlay && sr.role == "old" && c == QColor(214, 39, 40)) c = QColor(23, 190, 207);
    QPen pen(c, 1.6);
    if (sr.role == "new") pen.setWidthF(3.0);
    if (sr.role == "old") pen.setStyle(Qt::DashLine);
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
  // Axes.
  const bool log = log_->isChecked();
  p->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  else
    p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  p->yAxis->setLabel(score.isEmpty() ? QString() : score);
  p->xAxis->setLabel(scans_.empty() ? "t"
                                    : QString("t (") +
                                          QString::fromStdString(scans_[0].scan->spec.kind) + ")");
  p->rescaleAxes();
  if (!series_.empty()) {
    QCPRange x = p->xAxis->range(), y = p->yAxis->range();
    const double dx = std::max(x.size() * 0.04, 1e-9);
    p->xAxis->setRange(x.lower - dx, x.upper + dx);
    if (!log) {
      const double dy = std::max(y.size() * 0.08, 1e-9);
      p->yAxis->setRange(y.lower - dy, y.upper + dy * 2.5);  // room for the labels on top
    }
  }
  // Endpoint markers (t = 0 and t = 1) of the first scan.
  if (!scans_.empty() && !series_.empty()) {
    const store::ScanData& d = *scans_[0].scan;
    auto text_of = [&](const char* key, size_t adapter) -> QString {
      if (d.text.count(key)) return QString::fromStdString(plot::short_ref(d.text.at(key)));
      (void)adapter;
      return QString();
    };
    const QString ends[2] = {text_of("from", 0), text_of("to", 1)};
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
    // Barrier of the first scan: on union, else the mean, else the only series.
    const Series* target = nullptr;
    for (const auto& sr : series_)
      if (sr.scan == 0 && sr.role == "union") target = &sr;
    if (!target)
      for (const auto& sr : series_)
        if (sr.scan == 0 && sr.role == "mean") target = &sr;
    if (!target)
      for (const auto& sr : series_)
        if (sr.scan == 0 && sr.role != "line") {
          target = &sr;
          break;
        }
    if (target) {
      int i0 = -1, i1 = -1;
      for (int i = 0; i < target->t.size(); ++i) {
        if (target->t[i] == 0.0) i0 = i;
        if (target->t[i] == 1.0) i1 = i;
      }
      if (i0 >= 0 && i1 >= 0) {
        const double sign = higher_is_better(score) ? -1.0 : 1.0;  // a drop is the barrier
        double best = -INFINITY;
        int at = -1;
        for (int i = 0; i < target->t.size(); ++i) {
          const double t = target->t[i];
          if (t < 0 || t > 1) continue;
          const double chord = (1 - t) * target->v[i0] + t * target->v[i1];
          const double b = sign * (target->v[i] - chord);
          if (b > best) best = b, at = i;
        }
        if (at >= 0 && std::isfinite(best) && best > 0) {
          barrier_ = best;
          const double t = target->t[at];
          const double chord = (1 - t) * target->v[i0] + t * target->v[i1];
          auto* chord_line = new QCPItemLine(p);
          chord_line->start->setCoords(0, target->v[i0]);
          chord_line->end->setCoords(1, target->v[i1]);
          chord_line->setPen(QPen(QColor(128, 128, 128), 1, Qt::DotLine));
          auto* arrow = new QCPItemLine(p);
          arrow->start->setCoords(t, chord);
          arrow->end->setCoords(t, target->v[at]);
          arrow->setPen(QPen(fg, 1.2));
          arrow->setHead(QCPLineEnding::esSpikeArrow);
          auto* label = new QCPItemText(p);
          label->position->setCoords(t, (chord + target->v[at]) / 2);
          label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
          label->setPadding(QMargins(6, 0, 0, 0));
          label->setText(QString("barrier %1 (%2)").arg(best, 0, 'g', 3).arg(target->name));
          label->setColor(fg);
        }
      }
    }
  }
  p->legend->setVisible(!series_.empty());
  p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  p->replot();
  set_readout(series_.empty() ? (scans_.empty() ? "Select a line or curve scan in the tree."
                                                : "No series for this score and task set.")
                              : "Hover over the plot to read the values.");
}

QString ValleyView::readout(double t) const {
  if (series_.empty()) return QString();
  // The grid t nearest to `t` over all series.
  double best = NAN, dist = INFINITY;
  for (const auto& sr : series_)
    for (double x : sr.t)
      if (std::abs(x - t) < dist) dist = std::abs(x - t), best = x;
  QString out = QString("t = %1:").arg(best, 0, 'g', 4);
  for (const auto& sr : series_)
    for (int i = 0; i < sr.t.size(); ++i)
      if (sr.t[i] == best) out += QString("  %1 %2").arg(sr.name).arg(sr.v[i], 0, 'g', 4);
  return out;
}

void ValleyView::on_mouse_move(QMouseEvent* e) {
  if (series_.empty()) return;
  set_readout(readout(plot()->xAxis->pixelToCoord(e->position().x())));
}

QString ValleyView::csv() const {
  if (series_.empty()) return QString();
  QString out = "scan,task_set,role,score,t,value\n";
  for (const auto& sr : series_) {
    const store::ScanData& d = *scans_[static_cast<size_t>(sr.scan)].scan;
    const QString set = sr.task < 0
                            ? QString("mean")
                            : QString::fromStdString(d.spec.tasks[static_cast<size_t>(sr.task)]);
    for (int i = 0; i < sr.t.size(); ++i)
      out +=
          QString("%1,%2,%3,%4,%5,%6\n")
              .arg(scans_[static_cast<size_t>(sr.scan)].label, set, sr.role, score_->currentText())
              .arg(sr.t[i], 0, 'g', 17)
              .arg(sr.v[i], 0, 'g', 17);
  }
  return out;
}

QString ValleyView::title() const {
  if (scans_.empty()) return "valley";
  QString t = "valley: " + scans_[0].label;
  if (scans_.size() > 1) t += QString(" + %1 more").arg(scans_.size() - 1);
  return t + " (" + score_->currentText() + ")";
}

}  // namespace lorascape::gui
