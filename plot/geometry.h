// The geometry figure: a geometry scan (docs/hdf5-schema.md section 14) as an annotated heat
// map of the pairwise distance, cosine, principal-angle or subspace-overlap matrix of N adapters,
// over all modules or for one module. prepare_geometry picks the numbers (no drawing);
// draw_geometry draws them into a QCustomPlot.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

#include "store/scan_file.h"

class QCustomPlot;

namespace lorascape::plot {

extern const char* const kAllModules;  // "all modules"

struct GeometryOptions {
  QString metric;                // "delta_cosine", "angle_in", …
  QString module = kAllModules;  // kAllModules or a module of the scan
};

struct GeometryFigure {
  QString metric;          // "delta_cosine", "angle_in", …
  int module = -1;         // index in the scan's modules; -1: over all modules
  QString module_name;     // kAllModules or the module's name
  QStringList labels;      // the adapters' short references (or their numbers)
  QVector<double> values;  // n·n row-major; empty: the scan has no such matrix
  bool degrees = false;    // an angle: shown in degrees with one decimal

  bool empty() const { return values.isEmpty(); }
};

// The metrics the scan holds, and kAllModules followed by its modules: the figure's choices.
QStringList geometry_metrics(const store::ScanData& scan);
QStringList geometry_modules(const store::ScanData& scan);

// The matrix of the metric over all modules (the module kAllModules or not a module of the scan)
// or of one module; empty when the scan (a geometry scan) has no such matrix.
GeometryFigure prepare_geometry(const store::ScanData& scan, const GeometryOptions& options);

// Draws the figure into `plot` (cleared for an empty one) and replots.
void draw_geometry(QCustomPlot* plot, const GeometryFigure& figure);

// The matrix as CSV: adapter,LABEL…, one row per adapter; empty for an empty figure.
QString geometry_csv(const GeometryFigure& figure);

}  // namespace lorascape::plot
