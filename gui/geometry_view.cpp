#include "gui/geometry_view.h"

#include <qcustomplot.h>

#include <QComboBox>

namespace lorascape::gui {

GeometryView::GeometryView(QWidget* parent) : PlotPanel(parent) {
  metric_ = add_combo("metric");
  module_ = add_combo("module");
  controls()->addStretch(1);
  connect(metric_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(module_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  plot()->setInteractions(QCP::Interactions());
}

void GeometryView::set_scan(const QString& label, std::shared_ptr<const store::ScanData> scan) {
  label_ = label;
  scan_ = (scan && scan->spec.kind == "geometry") ? std::move(scan) : nullptr;
  refill_combo(metric_, scan_ ? plot::geometry_metrics(*scan_) : QStringList(), "delta_cosine");
  refill_combo(module_, scan_ ? plot::geometry_modules(*scan_) : QStringList{plot::kAllModules},
               plot::kAllModules);
  rebuild();
}

void GeometryView::set_metric(const QString& metric) {
  const int k = metric_->findText(metric);
  if (k >= 0) metric_->setCurrentIndex(k);
  rebuild();
}

void GeometryView::set_module(const QString& module) {
  const int k = module_->findText(module);
  if (k >= 0) module_->setCurrentIndex(k);
  rebuild();
}

void GeometryView::rebuild() {
  figure_ = scan_ ? plot::prepare_geometry(*scan_, {metric_->currentText(), module_->currentText()})
                  : plot::GeometryFigure();
  plot::draw_geometry(plot(), figure_);
  if (figure_.empty()) {
    set_readout(scan_ ? "This geometry file has no such matrix."
                      : "Select a geometry scan (lorascape geometry --out) in the tree.");
    return;
  }
  set_readout(QString("%1 between %2 adapters, %3 (docs/user-guide.md, Adapter geometry)")
                  .arg(metric_->currentText())
                  .arg(figure_.labels.size())
                  .arg(figure_.module < 0 ? QString("over all modules") : module_->currentText()));
}

QString GeometryView::csv() const {
  return plot::geometry_csv(figure_);
}

QString GeometryView::title() const {
  return scan_ ? "geometry: " + label_ + " (" + metric_->currentText() + ")" : "geometry";
}

}  // namespace lorascape::gui
