// Two-dimensional scans: a grid of points on a plane of adapters (scan file axes {xs, ys},
// point p = i·M + j is (xs[i], ys[j])).
//   plane         through three adapters X, Y, Z (Garipov et al.'s construction): origin X,
//                 u = (Y−X)/‖Y−X‖, v = the Gram-Schmidt of Z−X against u; coordinates are
//                 distances in the space's norm; other adapters can be projected onto it.
//   random-plane  around a centre C along two Gaussian directions, filter-normalised per row
//                 of every LoRA factor (Li et al. 2018); coordinates are multiples of the
//                 directions.
//   trajectory    the PCA plane of a method's training trajectory (its snapshots and stage
//                 adapters) centred at its final adapter (Li et al. 2018), with the
//                 trajectory projected and the explained variance stored.
// All three work in either space (path.h): a grid point is a linear combination of a few
// basis adapters, so delta-space planes stay low rank.
#pragma once

#include <string>
#include <vector>

#include "analysis/scan.h"
#include "core/adapter.h"

namespace lorascape::analysis {

// The geometry of a plane in coefficient form over a basis of adapters (path.h combine):
// the point (x, y) is Σ_j coefs(x, y)[j]·basis[j].
struct PlaneFrame {
  std::vector<std::vector<double>> gram;  // ⟨basis_i, basis_j⟩ in the plane's space
  std::vector<double> origin, u, v;       // coefficient vectors; u and v orthonormal under gram
  std::vector<double> coefs(double x, double y) const;
  // Plane coordinates (x, y) of the basis combination c, and its distance to the plane.
  struct Projection {
    double x = 0, y = 0, residual = 0;
  };
  Projection project(const std::vector<double>& c) const;
};

// The frame of the plane through basis[0] (origin), basis[1] (on the x axis) and basis[2]:
// ConfigError when the three are (nearly) on one line. `gram` may be larger than 3×3 (more
// adapters to project later); only its first three rows define the plane.
PlaneFrame plane_through(const std::vector<std::vector<double>>& gram);

// PCA of the rows θ_i − θ_last (i < last) of a trajectory given by its Gram matrix, rows
// centred as sklearn's PCA does: frame with origin θ_last and u, v the first two principal
// directions; `explained` gets (variance, ratio) of the two. ConfigError with fewer than three
// adapters or a trajectory that does not span two dimensions.
PlaneFrame trajectory_pca(const std::vector<std::vector<double>>& gram,
                          std::vector<std::pair<double, double>>& explained);

// Filter-normalised Gaussian direction around `center` (seeded by `seed`): factors space,
// each row k of every LoRA factor d_k ← d_k·‖c_k‖/(‖d_k‖ + 1e−10); delta space, a random
// rank-r ΔD = B_d·A_d per module whose rows are rescaled to the norms of the rows of the
// centre's ΔW (by scaling the rows of B_d). Rows of zero norm in the centre get zero.
core::Adapter filter_normalized_direction(const core::Adapter& center, const std::string& space,
                                          uint64_t seed);

struct PlaneScanOptions {
  ScanOptions scan;
  std::vector<std::string> through;  // X, Y, Z
  int nx = 21, ny = 21;              // grid
  double margin = 0.2;               // fraction of the anchors' extent added on every side
  std::vector<std::string> project;  // references (or patterns, expand_adapter_refs) to place
  // A trained curve scan file (curve.h) to draw in the plane (Garipov et al.'s curve-vs-line
  // plane): its control points join the basis, `curve_points` points of it are projected
  // (extras curve_path). Without `through`, the plane is the curve-vs-line plane: through its
  // `from` (origin), its `to` (on the x axis: the straight line is the x axis) and its middle
  // bend (CURVE.h5:bend/K), which holds a one-bend Bézier curve exactly. The file is read once.
  std::string curve;
  int curve_points = 61;
};

// ConfigError without `through` and without `curve`.
store::ScanData run_plane_scan(const PlaneScanOptions& opt, const core::RunConfig& data,
                               const std::string& command_line);

struct RandomPlaneOptions {
  ScanOptions scan;
  std::string center;
  int nx = 21, ny = 21;
  double radius = 1.0;  // the grid spans [−radius, radius] along both directions
  uint64_t seed = 123;
};
store::ScanData run_random_plane_scan(const RandomPlaneOptions& opt, const core::RunConfig& data,
                                      const std::string& command_line);

struct TrajectoryScanOptions {
  ScanOptions scan;
  std::string run;     // run file
  std::string method;  // method in it
  std::string key;     // adapter key ("" = the reported one)
  int nx = 21, ny = 21;
  double margin = 0.2;
};
store::ScanData run_trajectory_scan(const TrajectoryScanOptions& opt, const core::RunConfig& data,
                                    const std::string& command_line);

// Per task set: the lowest loss of a complete 2-D scan and where it is.
std::string plane_summary(const store::ScanData& d);

}  // namespace lorascape::analysis
