#include "gui/landscape_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QSignalBlocker>
#include <QSpinBox>

#include "plot/document.h"

namespace lorascape::gui {

LandscapeView::LandscapeView(QWidget* parent) : PlotPanel(parent) {
  task_ = add_combo("task set");
  score_ = add_combo("score");
  log_ = add_check("log colours", false);
  contours_ = add_check("contours", true);
  levels_ = new QSpinBox(this);
  levels_->setRange(2, 40);
  levels_->setValue(10);
  levels_->setToolTip("number of contour levels");
  controls()->addWidget(levels_);
  labels_ = add_check("labels", true);
  controls()->addStretch(1);
  for (QComboBox* b : {task_, score_})
    connect(b, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  for (QCheckBox* b : {log_, contours_, labels_})
    connect(b, &QCheckBox::toggled, this, [this] { rebuild(); });
  connect(levels_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { rebuild(); });
  connect(plot(), &QCustomPlot::mouseMove, this, &LandscapeView::on_mouse_move);
}

void LandscapeView::set_scan(const QString& label, std::shared_ptr<const store::ScanData> scan) {
  label_ = label;
  scan_ = (scan && plot::is_plane_kind(*scan)) ? std::move(scan) : nullptr;
  refill_combo(task_, scan_ ? plot::landscape_tasks(*scan_) : QStringList(), "union");
  refill_combo(score_, scan_ ? plot::landscape_scores(*scan_) : QStringList(), "loss");
  rebuild();
}

void LandscapeView::set_task(const QString& task_set) {
  const int k = task_->findText(task_set);
  if (k >= 0) task_->setCurrentIndex(k);
  rebuild();
}

void LandscapeView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

void LandscapeView::set_log_colors(bool on) {
  const QSignalBlocker b(log_);
  log_->setChecked(on);
  rebuild();
}

void LandscapeView::set_contours(bool on, int levels) {
  const QSignalBlocker b1(contours_), b2(levels_);
  contours_->setChecked(on);
  levels_->setValue(levels);
  rebuild();
}

bool LandscapeView::contours() const {
  return contours_->isChecked();
}

bool LandscapeView::log_colors() const {
  return log_->isChecked();
}

void LandscapeView::rebuild() {
  figure_ = plot::LandscapeFigure();
  if (scan_) {
    plot::LandscapeOptions o;
    o.task = task_->currentText();
    o.score = score_->currentText();
    o.log_colors = log_->isChecked();
    o.contours = contours_->isChecked();
    o.levels = levels_->value();
    o.labels = labels_->isChecked();
    figure_ = plot::prepare_landscape(*scan_, o);
  }
  map_ = plot::draw_landscape(plot(), figure_);
  if (!scan_) {
    set_readout("Select a plane, random-plane or trajectory scan in the tree.");
    return;
  }
  set_readout(scan_->complete()
                  ? "Hover over the map to read the values."
                  : QString("Partial scan: %1 of %2 points done (resume it with the same command).")
                        .arg(scan_->num_done())
                        .arg(scan_->num_points()));
}

QString LandscapeView::readout(double x, double y) const {
  return plot::landscape_readout(figure_, x, y);
}

void LandscapeView::on_mouse_move(QMouseEvent* e) {
  if (!scan_) return;
  set_readout(readout(plot()->xAxis->pixelToCoord(e->position().x()),
                      plot()->yAxis->pixelToCoord(e->position().y())));
}

QString LandscapeView::csv() const {
  return plot::landscape_csv(figure_);
}

QString LandscapeView::title() const {
  return scan_ ? "landscape: " + label_ + " (" + task_->currentText() + ", " +
                     score_->currentText() + ")"
               : "landscape";
}

}  // namespace lorascape::gui
