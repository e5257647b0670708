#include "gui/geometry_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <cmath>

#include "plot/document.h"
#include "plot/plot_util.h"

namespace lorascape::gui {

namespace {
const QStringList kMetrics{"delta_cosine", "delta_distance", "factor_cosine", "factor_distance",
                           "angle_in",     "angle_out",      "overlap_in",    "overlap_out"};
const char* kAllModules = "all modules";

QStringList lines(const std::map<std::string, std::string>& text, const char* key) {
  if (!text.count(key)) return {};
  return QString::fromStdString(text.at(key)).split('\n', Qt::SkipEmptyParts);
}
}  // namespace

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
  QStringList metrics, modules{kAllModules};
  if (scan_) {
    for (const auto& m : kMetrics)
      if (scan_->extras.count(m.toStdString())) metrics << m;
    modules << lines(scan_->text, "modules");
  }
  refill_combo(metric_, metrics, "delta_cosine");
  refill_combo(module_, modules, kAllModules);
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
  values_.clear();
  labels_.clear();
  QCustomPlot* p = plot();
  const std::string metric = metric_->currentText().toStdString();
  const int module = module_->currentIndex() - 1;  // -1: all modules
  const store::ScanArray* a = nullptr;
  if (scan_) {
    const std::string key = module < 0 ? metric : "module_" + metric;
    if (scan_->extras.count(key)) a = &scan_->extras.at(key);
  }
  const int64_t n = a ? (a->shape.empty() ? 0 : a->shape.back()) : 0;
  const bool shape_ok = a && ((module < 0 && a->shape.size() == 2) ||
                              (module >= 0 && a->shape.size() == 3 && module < a->shape[0]));
  if (!shape_ok || n < 1) {
    p->clearPlottables();
    p->clearItems();
    p->replot();
    set_readout(scan_ ? "This geometry file has no such matrix."
                      : "Select a geometry scan (lorascape geometry --out) in the tree.");
    return;
  }
  const size_t off = module < 0 ? 0 : static_cast<size_t>(module) * static_cast<size_t>(n * n);
  for (int64_t k = 0; k < n * n; ++k) values_ << a->values[off + static_cast<size_t>(k)];
  const QStringList refs = lines(scan_->text, "labels");
  for (int64_t k = 0; k < n; ++k)
    labels_ << (k < refs.size() ? QString::fromStdString(
                                      plot::short_ref(refs[static_cast<int>(k)].toStdString()))
                                : QString::number(k));
  const bool degrees = metric.rfind("angle", 0) == 0;
  plot::draw_heat_map(p, values_, static_cast<int>(n), static_cast<int>(n), labels_, labels_,
                      "adapter", "adapter", metric_->currentText() + (degrees ? " (degrees)" : ""),
                      true, true, degrees ? 1 : 2);
  plot::apply_plot_theme(p, p->property("lorascape_dark").toBool());
  p->replot();
  set_readout(QString("%1 between %2 adapters, %3 (docs/user-guide.md, Adapter geometry)")
                  .arg(metric_->currentText())
                  .arg(n)
                  .arg(module < 0 ? QString("over all modules") : module_->currentText()));
}

QString GeometryView::csv() const {
  if (values_.isEmpty()) return QString();
  const int n = static_cast<int>(labels_.size());
  QString out = "adapter," + labels_.join(",") + "\n";
  for (int i = 0; i < n; ++i) {
    out += labels_[i];
    for (int j = 0; j < n; ++j) out += "," + QString::number(values_[i * n + j], 'g', 17);
    out += "\n";
  }
  return out;
}

QString GeometryView::title() const {
  return scan_ ? "geometry: " + label_ + " (" + metric_->currentText() + ")" : "geometry";
}

}  // namespace lorascape::gui
