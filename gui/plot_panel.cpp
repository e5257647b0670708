#include "gui/plot_panel.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QVBoxLayout>

#include "plot/plot_util.h"

namespace lorascape::gui {

PlotPanel::PlotPanel(QWidget* parent)
    : QWidget(parent),
      plot_(new QCustomPlot(this)),
      controls_(new QHBoxLayout),
      readout_(new QLabel(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  controls_->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(controls_);
  layout->addWidget(plot_, 1);
  layout->addWidget(readout_);
  readout_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  // A long read-out (every series' value under the mouse) is cut at the panel's edge instead of
  // widening the panel, and with it the window.
  readout_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
  readout_->setMinimumWidth(1);
  readout_->setMinimumHeight(readout_->fontMetrics().height() + 4);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->setNoAntialiasingOnDrag(true);
  plot_->setMinimumSize(320, 240);
  connect(plot_, &QCustomPlot::afterReplot, this, &PlotPanel::redrawn);
  plot::init_plot(plot_);
}

QString PlotPanel::readout_text() const {
  return readout_->text();
}

void PlotPanel::set_readout(const QString& text) {
  readout_->setText(text);
  readout_->setToolTip(text);  // the whole text, where the panel is too narrow for it
}

QComboBox* PlotPanel::add_combo(const QString& label) {
  controls_->addWidget(new QLabel(label, this));
  auto* box = new QComboBox(this);
  box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  controls_->addWidget(box);
  return box;
}

QCheckBox* PlotPanel::add_check(const QString& label, bool checked) {
  auto* box = new QCheckBox(label, this);
  box->setChecked(checked);
  controls_->addWidget(box);
  return box;
}

void PlotPanel::changeEvent(QEvent* e) {
  if (e->type() == QEvent::PaletteChange || e->type() == QEvent::ApplicationPaletteChange) {
    plot::apply_plot_theme(plot_, plot::is_dark(palette()));
    plot_->replot();
  }
  QWidget::changeEvent(e);
}

void refill_combo(QComboBox* box, const QStringList& items, const QString& preferred) {
  const QSignalBlocker block(box);
  const QString keep = box->currentText();
  box->clear();
  box->addItems(items);
  if (!items.isEmpty()) box->setCurrentIndex(items.indexOf(plot::choose(items, keep, preferred)));
}

}  // namespace lorascape::gui
