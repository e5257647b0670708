// GeometryView: the geometry figure (plot/geometry.h) of a geometry scan with its controls: the
// metric (distance, cosine, principal angle, subspace overlap) and the module (or all modules).
#pragma once

#include <QString>
#include <memory>

#include "gui/plot_panel.h"
#include "plot/geometry.h"
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
  const QVector<double>& values() const { return figure_.values; }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return !figure_.empty(); }

 private:
  void rebuild();
  QString label_;
  std::shared_ptr<const store::ScanData> scan_;
  plot::GeometryFigure figure_;
  QComboBox* metric_;
  QComboBox* module_;
};

}  // namespace lorascape::gui
