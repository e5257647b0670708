// Contour lines of a scalar field on a rectilinear grid by marching squares. No Qt and no
// torch: the landscape figure draws what this returns, and tests check it on known fields.
//
// The field uses the scan file's plane layout: z[i·ny + j] is the value at (xs[i], ys[j]),
// i along x (nx = xs.size()), j along y (ny = ys.size()).
#pragma once

#include <vector>

namespace lorascape::plot {

// One straight piece of a contour line, from (x0, y0) to (x1, y1).
struct ContourSegment {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// The pieces of the level line z = `level`. Each grid cell (four neighbouring points) adds 0,
// 1 or 2 segments whose ends are linearly interpolated on the cell's edges; a point counts as
// above the level when z >= level. Saddle cells (diagonal corners on the same side) are
// resolved by the mean of the four corners, as in the usual asymptotic decider. Cells with a
// NaN or infinite corner (points not computed yet) add nothing. Throws std::invalid_argument
// when z.size() != xs.size()·ys.size().
std::vector<ContourSegment> contour_segments(const std::vector<double>& xs,
                                             const std::vector<double>& ys,
                                             const std::vector<double>& z, double level);

// `count` levels strictly inside (lo, hi): evenly spaced, or evenly spaced in log10 when `log`
// (then lo and hi must be > 0; an empty list otherwise). Empty when count < 1 or lo >= hi.
std::vector<double> contour_levels(double lo, double hi, int count, bool log = false);

// Joins segments that share end points into polylines, each a list of x, y pairs flattened:
// {x0, y0, x1, y1, …}; a closed line ends where it started. contour_segments computes a point
// on an edge shared by two cells bit-identically for both, so ends are matched exactly.
std::vector<std::vector<double>> join_segments(const std::vector<ContourSegment>& segments);

}  // namespace lorascape::plot
