#include "gui/valley_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QSignalBlocker>

#include "plot/document.h"

namespace lorascape::gui {

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
  refill_combo(score_, plot::valley_scores(scans_), "loss");
  refill_combo(filter_, plot::valley_task_filters(scans_), plot::kAllTaskSets);
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
  plot::ValleyOptions o;
  o.score = score_->currentText();
  o.task_filter = filter_->currentText();
  o.log_scale = log_->isChecked();
  o.straight_line = line_->isChecked();
  figure_ = plot::prepare_valley(scans_, o);
  plot::draw_valley(plot(), figure_);
  set_readout(figure_.series.empty() ? (scans_.empty() ? "Select a line or curve scan in the tree."
                                                       : "No series for this score and task set.")
                                     : "Hover over the plot to read the values.");
}

QString ValleyView::readout(double t) const {
  return plot::valley_readout(figure_, t);
}

void ValleyView::on_mouse_move(QMouseEvent* e) {
  if (figure_.series.empty()) return;
  set_readout(readout(plot()->xAxis->pixelToCoord(e->position().x())));
}

QString ValleyView::csv() const {
  return plot::valley_csv(figure_);
}

QString ValleyView::title() const {
  if (scans_.empty()) return "valley";
  QString t = "valley: " + scans_[0].label;
  if (scans_.size() > 1) t += QString(" + %1 more").arg(scans_.size() - 1);
  return t + " (" + score_->currentText() + ")";
}

}  // namespace lorascape::gui
