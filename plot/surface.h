// The 3-D surface of a plane scan: the landscape figure's field (plot/landscape.h) drawn as a
// shaded, wireframed surface seen from an angle, with a box, axis labels and a colour bar.
// QCustomPlot has no 3-D, so the surface is a layout element that paints itself with QPainter
// (orthographic projection, quads sorted back to front); it lives in a QCustomPlot like every
// other view, so `lorascape plot --view surface` and the app export it the same way.
#pragma once

#include <QColor>
#include <QPolygonF>
#include <QRectF>
#include <vector>

#include "plot/landscape.h"

class QCustomPlot;

namespace lorascape::plot {

struct SurfaceOptions {
  double azimuth = -60;   // degrees, the view's rotation about the vertical axis
  double elevation = 30;  // degrees above the plane
};

// One cell of the grid (four done points) projected into a rectangle: its polygon, its shaded
// colour and its depth (larger = further from the viewer).
struct SurfaceQuad {
  QPolygonF polygon;
  QColor color;
  double depth = 0;
  double value = 0;  // the mean of its four values
};

// The cells of the figure's grid, projected into `area` (pixels), sorted back to front (the
// order they are painted in). Cells with a point not done are left out. Values are clamped to
// the figure's colour range (range_lo:range_hi when given, else lo:hi).
std::vector<SurfaceQuad> surface_quads(const LandscapeFigure& figure, const SurfaceOptions& options,
                                       const QRectF& area);

// Draws the figure into `plot` as a surface: the plot's axis rect is taken out of its layout and
// a surface element put in its place (for a plot used only for this figure: the CLI's). Replots.
void draw_surface(QCustomPlot* plot, const LandscapeFigure& figure,
                  const SurfaceOptions& options = {});

}  // namespace lorascape::plot
