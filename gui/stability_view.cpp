#include "gui/stability_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "plot/document.h"
#include "plot/plot_util.h"

namespace lorascape::gui {

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
}  // namespace

StabilityView::StabilityView(QWidget* parent) : PlotPanel(parent), table_(new QTableWidget(this)) {
  score_ = add_combo("score");
  controls()->addStretch(1);
  connect(score_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  static_cast<QVBoxLayout*>(layout())->insertWidget(2, table_);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setMaximumHeight(170);
  table_->verticalHeader()->setVisible(true);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  trade_ = new QCPAxisRect(plot());
  plot()->plotLayout()->addElement(0, 1, trade_);
  plot()->axisRect(0)->axis(QCPAxis::atBottom)->setLabel("stage (tasks learned)");
  trade_->axis(QCPAxis::atBottom)->setLabel("new task");
  trade_->axis(QCPAxis::atLeft)->setLabel("mean of the old tasks");
  // The legend below the stage plot, in rows of two entries.
  auto* sub = new QCPLayoutGrid;
  plot()->plotLayout()->addElement(1, 0, sub);
  plot()->plotLayout()->setRowStretchFactor(1, 0.001);
  plot()->axisRect(0)->insetLayout()->take(plot()->legend);
  sub->addElement(0, 0, plot()->legend);
  plot()->legend->setFillOrder(QCPLegend::foColumnsFirst);
  plot()->legend->setWrap(4);
  sub->setMargins(QMargins(5, 0, 5, 5));
  plot::apply_plot_theme(plot(), plot()->property("lorascape_dark").toBool());
  rebuild();
}

void StabilityView::set_run(const QString& label, std::shared_ptr<const store::RunFileData> run) {
  label_ = label;
  run_ = std::move(run);
  QStringList scores;
  if (run_)
    for (const auto& m : run_->methods)
      for (const auto& [s, R] : m.R)
        if (!scores.contains(QString::fromStdString(s))) scores << QString::fromStdString(s);
  refill_combo(score_, scores, "exact_match");
  rebuild();
}

void StabilityView::set_paths(std::vector<Path> paths) {
  paths_.clear();
  for (auto& p : paths)
    if (p.scan && p.scan->spec.axes.size() == 1 && plot::new_task_index(*p.scan) >= 0)
      paths_.push_back(std::move(p));
  rebuild();
}

void StabilityView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

void StabilityView::rebuild() {
  QCustomPlot* p = plot();
  p->clearPlottables();
  p->clearItems();
  QCPAxisRect* left = p->axisRect(0);
  QCPAxis* lx = left->axis(QCPAxis::atBottom);
  QCPAxis* ly = left->axis(QCPAxis::atLeft);
  QCPAxis* rx = trade_->axis(QCPAxis::atBottom);
  QCPAxis* ry = trade_->axis(QCPAxis::atLeft);
  const std::string score = score_->currentText().toStdString();
  ly->setLabel(score_->currentText() + ": new task (—), earlier tasks (- -)");
  table_->clear();
  table_->setRowCount(0);
  table_->setColumnCount(kMetrics.size());
  table_->setHorizontalHeaderLabels(kMetrics);
  if (!run_) {
    p->legend->setVisible(false);
    p->replot();
    set_readout("Select a run file (or a method) in the tree.");
    return;
  }
  const size_t T = run_->tasks.size();
  const auto learners = learners_of(*run_);
  int k = 0;
  const int n = static_cast<int>(learners.size());
  for (const auto& l : learners) {
    const QColor c = plot::series_color(k++, n);
    if (!l.R->count(score)) continue;
    const auto& R = l.R->at(score);
    QVector<double> x, plast, xs, stab;
    for (size_t t = 0; t < T && t < R.size(); ++t) {
      x << static_cast<double>(t + 1);
      plast << R[t][t];
      if (t == 0) continue;
      double sum = 0;
      for (size_t i = 0; i < t; ++i) sum += R[t][i];
      xs << static_cast<double>(t + 1);
      stab << sum / static_cast<double>(t);
    }
    auto* g = p->addGraph(lx, ly);
    g->setName(l.name + " new task");
    g->setData(x, plast);
    g->setPen(QPen(c, 2.2));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    auto* h = p->addGraph(lx, ly);
    h->setName(l.name + " earlier tasks");
    h->setData(xs, stab);
    h->setPen(QPen(c, 2.0, Qt::DashLine));
    h->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 6));
  }
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  for (size_t t = 0; t < T; ++t)
    ticks->addTick(static_cast<double>(t + 1),
                   QString("%1\n%2").arg(t + 1).arg(QString::fromStdString(run_->tasks[t])));
  lx->setTicker(ticks);
  lx->setRange(0.6, static_cast<double>(T) + 0.4);
  ly->rescale();
  {
    const QCPRange r = ly->range();
    const double pad = std::max(r.size() * 0.08, 0.02);
    ly->setRange(r.lower - pad, r.upper + pad);
  }
  // Trade-off along paths.
  int shown = 0;
  for (size_t e = 0; e < paths_.size(); ++e) {
    const store::ScanData& d = *paths_[e].scan;
    const int s = plot::index_of(d.spec.scores, score);
    const int neu = plot::new_task_index(d);
    if (s < 0 || neu < 0) continue;
    std::vector<size_t> old;
    for (size_t t = 0; t < d.spec.tasks.size(); ++t)
      if (static_cast<int>(t) != neu && d.spec.tasks[t] != "union") old.push_back(t);
    if (old.empty()) continue;
    QVector<double> idx, nx, oy;
    const auto& ts = d.spec.axes[0];
    for (size_t i = 0; i < ts.size(); ++i) {
      if (!d.done[i]) continue;
      double o = 0;
      for (size_t t : old)
        o += d.values[d.value_index(static_cast<int64_t>(i), t, static_cast<size_t>(s))];
      idx << ts[i];
      nx << d.values[d.value_index(static_cast<int64_t>(i), static_cast<size_t>(neu),
                                   static_cast<size_t>(s))];
      oy << o / static_cast<double>(old.size());
    }
    if (idx.isEmpty()) continue;
    const QColor c = plot::series_color(static_cast<int>(e), static_cast<int>(paths_.size()));
    auto* curve = new QCPCurve(rx, ry);
    curve->setData(idx, nx, oy);
    curve->setName(paths_[e].label);
    curve->setPen(QPen(c, 2));
    curve->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    curve->removeFromLegend();
    for (int end : {0, static_cast<int>(idx.size()) - 1}) {
      auto* t = new QCPItemText(p);
      t->setClipAxisRect(trade_);
      t->position->setAxes(rx, ry);
      t->position->setCoords(nx[end], oy[end]);
      t->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
      t->setText(
          QString("%1 t=%2").arg(end == 0 ? paths_[e].label : QString()).arg(idx[end], 0, 'g', 3));
      t->setFont(QFont(font().family(), 8));
      t->setColor(c);
    }
    ++shown;
  }
  rx->rescale();
  ry->rescale();
  if (shown == 0) rx->setRange(0, 1), ry->setRange(0, 1);
  for (QCPAxis* a : {rx, ry}) {
    const QCPRange r = a->range();
    const double pad = std::max(r.size() * 0.1, 0.02);
    a->setRange(r.lower - pad, r.upper + pad);
  }
  if (shown == 0) {
    auto* t = new QCPItemText(p);
    t->setClipAxisRect(trade_);
    t->position->setAxisRect(trade_);
    t->position->setType(QCPItemPosition::ptAxisRectRatio);
    t->position->setCoords(0.5, 0.5);
    t->setText("trade-off along a path:\nselect a line scan between two stages");
    t->setColor(QColor(128, 128, 128));
  }
  p->legend->setVisible(true);
  p->replot();
  // Metrics table.
  for (const auto& l : learners) {
    const int row = table_->rowCount();
    table_->insertRow(row);
    table_->setVerticalHeaderItem(row, new QTableWidgetItem(l.name));
    for (int c = 0; c < kMetrics.size(); ++c) {
      QString text = "–";
      if (l.metrics->count(score) && l.metrics->at(score).count(kMetrics[c].toStdString())) {
        const double v = l.metrics->at(score).at(kMetrics[c].toStdString());
        if (std::isfinite(v)) text = QString::number(v, 'f', 3);
      }
      auto* item = new QTableWidgetItem(text);
      item->setTextAlignment(Qt::AlignCenter);
      table_->setItem(row, c, item);
    }
  }
  set_readout(QString("%1: %2 methods/learners over %3 tasks; metrics of %4 (docs/metrics.md)")
                  .arg(label_)
                  .arg(learners.size())
                  .arg(T)
                  .arg(score_->currentText()));
}

QString StabilityView::csv() const {
  if (!run_) return QString();
  QString out = "method," + kMetrics.join(",") + "\n";
  for (int r = 0; r < table_->rowCount(); ++r) {
    out += table_->verticalHeaderItem(r)->text();
    for (int c = 0; c < table_->columnCount(); ++c) {
      const QString v = table_->item(r, c)->text();
      out += "," + (v == "–" ? QString("nan") : v);
    }
    out += "\n";
  }
  return out;
}

QString StabilityView::title() const {
  return run_ ? "stability: " + label_ + " (" + score_->currentText() + ")" : "stability";
}

}  // namespace lorascape::gui
