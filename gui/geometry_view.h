// GeometryView: a geometry scan (docs/hdf5-schema.md section 14): the pairwise distance,
// cosine, principal-angle or subspace-overlap matrix of N adapters as an annotated heat map,
// over all modules or for one module.
#pragma once

#include <QString>
#include <memory>

#include "gui/plot_panel.h"
#include "store/scan_file.h"

class QComboBox;

namespace lorascape::gui {

class GeometryView : public PlotPanel {
  Q_OBJECT
 public:
  explicit GeometryView(QWidget* parent = nullptr);
  void set_scan(const QString& label, std::shared_ptr<const store::ScanData> scan);
  void set_metric(const QString& metric);  // "delta_cosine", "angle_in", …
  void set_module(const QString& module);  // "all modules" or a module name
  const QVector<double>& values() const { return values_; }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return !values_.isEmpty(); }

 private:
  void rebuild();
  QString label_;
  std::shared_ptr<const store::ScanData> scan_;
  QComboBox* metric_;
  QComboBox* module_;
  QVector<double> values_;
  QStringList labels_;
};

}  // namespace lorascape::gui
