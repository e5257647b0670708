#include "plot/geometry.h"

#include <qcustomplot.h>

#include "plot/document.h"
#include "plot/export.h"
#include "plot/plot_util.h"

namespace lorascape::plot {

const char* const kAllModules = "all modules";

namespace {
const QStringList kMetrics{"delta_cosine", "delta_distance", "factor_cosine", "factor_distance",
                           "angle_in",     "angle_out",      "overlap_in",    "overlap_out"};

QStringList lines(const std::map<std::string, std::string>& text, const char* key) {
  if (!text.count(key)) return {};
  return QString::fromStdString(text.at(key)).split('\n', Qt::SkipEmptyParts);
}
}  // namespace

QStringList geometry_metrics(const store::ScanData& scan) {
  QStringList metrics;
  for (const auto& m : kMetrics)
    if (scan.extras.count(m.toStdString())) metrics << m;
  return metrics;
}

QStringList geometry_modules(const store::ScanData& scan) {
  return QStringList{kAllModules} << lines(scan.text, "modules");
}

GeometryFigure prepare_geometry(const store::ScanData& scan, const GeometryOptions& options) {
  const QString& metric_name = options.metric;
  const QString& module_name = options.module;
  GeometryFigure f;
  f.metric = metric_name;
  const auto k = geometry_modules(scan).indexOf(module_name);  // 0: all modules
  f.module = k > 0 ? static_cast<int>(k) - 1 : -1;
  f.module_name = f.module < 0 ? QString(kAllModules) : module_name;
  const int module = f.module;
  const std::string metric = metric_name.toStdString();
  const std::string key = module < 0 ? metric : "module_" + metric;
  const store::ScanArray* a = scan.extras.count(key) ? &scan.extras.at(key) : nullptr;
  const int64_t n = a ? (a->shape.empty() ? 0 : a->shape.back()) : 0;
  const bool shape_ok = a && ((module < 0 && a->shape.size() == 2) ||
                              (module >= 0 && a->shape.size() == 3 && module < a->shape[0]));
  if (!shape_ok || n < 1) return f;
  const size_t off = module < 0 ? 0 : static_cast<size_t>(module) * static_cast<size_t>(n * n);
  for (int64_t k = 0; k < n * n; ++k) f.values << a->values[off + static_cast<size_t>(k)];
  const QStringList refs = lines(scan.text, "labels");
  for (int64_t k = 0; k < n; ++k)
    f.labels << (k < refs.size()
                     ? QString::fromStdString(short_ref(refs[static_cast<int>(k)].toStdString()))
                     : QString::number(k));
  f.degrees = metric.rfind("angle", 0) == 0;
  return f;
}

void draw_geometry(QCustomPlot* p, const GeometryFigure& f) {
  if (f.empty()) return clear_plot(p);
  const int n = static_cast<int>(f.labels.size());
  // The scale names the module shown (or all modules), so an exported figure says which.
  draw_heat_map(p, f.values, n, n, f.labels, f.labels, "adapter", "adapter",
                f.metric + (f.degrees ? " (degrees)" : "") + ", " + f.module_name, true, true,
                f.degrees ? 1 : 2);
}

QString geometry_csv(const GeometryFigure& f) {
  return f.empty() ? QString() : square_matrix_csv("adapter", f.labels, f.values);
}

}  // namespace lorascape::plot
