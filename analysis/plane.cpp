#include "analysis/plane.h"

#include <ATen/CPUGeneratorImpl.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "analysis/curve.h"
#include "analysis/mpi.h"
#include "analysis/path.h"
#include "store/error.h"
#include "store/references.h"

namespace lorascape::analysis {

namespace {

using Vec = std::vector<double>;
using Mat = std::vector<std::vector<double>>;

double dot(const Mat& g, const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j) s += a[i] * g[i][j] * b[j];
  return s;
}

Vec unit(size_t n, size_t i) {
  Vec e(n, 0.0);
  e[i] = 1.0;
  return e;
}

Vec axpy(const Vec& a, double s, const Vec& b) {  // a + s·b
  Vec out(a);
  for (size_t i = 0; i < out.size(); ++i) out[i] += s * b[i];
  return out;
}

// n evenly spaced values covering [lo, hi] widened by margin·(hi − lo) on both sides.
std::vector<double> grid_axis(const std::vector<double>& coords, double margin, int n) {
  const double lo = *std::min_element(coords.begin(), coords.end());
  const double hi = *std::max_element(coords.begin(), coords.end());
  const double ext = hi - lo;
  return path_ts(n, lo - margin * ext, hi + margin * ext);
}

void check_grid(int nx, int ny) {
  if (nx < 1 || ny < 1)
    throw ConfigError("`grid` must be NxM with N, M >= 1 (got " + std::to_string(nx) + "x" +
                      std::to_string(ny) + ")");
  // Checked before anything is allocated (a scan file holds points x tasks x scores values).
  constexpr int64_t kMaxPoints = 1000000;
  if (static_cast<int64_t>(nx) * ny > kMaxPoints)
    throw ConfigError("`grid` " + std::to_string(nx) + "x" + std::to_string(ny) + " has " +
                      std::to_string(static_cast<int64_t>(nx) * ny) +
                      " points, more than the limit of " + std::to_string(kMaxPoints) +
                      " (1000x1000); scan a coarser grid");
}

// The references, one per line, as the scan file `out` stores them (store::ref_for_scan).
std::string join_refs(const std::vector<std::string>& v, const std::string& out) {
  std::string s;
  for (const auto& x : v) s += store::ref_for_scan(x, out) + "\n";
  return s;
}

// Evaluates a 2-D scan whose point (x, y) is combine(space, basis, coefs(x, y)), then adds the
// summary; writes the file when anything changed.
store::ScanData evaluate_plane(ScanSetup& setup, const ScanOptions& opt, store::ScanData d,
                               const std::vector<core::Adapter>& basis,
                               const std::function<Vec(double, double)>& coefs,
                               const std::string& label) {
  const auto xs = d.spec.axes[0], ys = d.spec.axes[1];
  const size_t M = ys.size();
  d = evaluate_scan(
      setup, opt, std::move(d),
      [&](int64_t p) {
        const auto i = static_cast<size_t>(p) / M, j = static_cast<size_t>(p) % M;
        return combine(opt.space, basis, coefs(xs[i], ys[j]));
      },
      label);
  if (d.complete() && !d.text.count("summary")) {
    d.text["summary"] = plane_summary(d);
    if (Mpi::instance().rank() == 0) store::write_scan_file(opt.out, d);
  }
  return d;
}

// Writes extras/text that are not in the file yet or differ (projections can change between
// runs of the same scan).
void put_extras(store::ScanData& d, const ScanOptions& opt,
                const std::map<std::string, store::ScanArray>& extras,
                const std::map<std::string, std::string>& text) {
  bool changed = false;
  for (const auto& [k, v] : extras) {
    auto it = d.extras.find(k);
    if (it == d.extras.end() || it->second.shape != v.shape || it->second.values != v.values) {
      d.extras[k] = v;
      changed = true;
    }
  }
  for (const auto& [k, v] : text)
    if (d.text[k] != v) {
      d.text[k] = v;
      changed = true;
    }
  if (changed && Mpi::instance().rank() == 0) store::write_scan_file(opt.out, d);
}

store::ScanArray array2(size_t rows, size_t cols, const std::vector<double>& v) {
  return {{static_cast<int64_t>(rows), static_cast<int64_t>(cols)}, v};
}

std::vector<core::Adapter> adapters_of(const std::vector<AdapterSource>& s, size_t n) {
  std::vector<core::Adapter> out;
  for (size_t i = 0; i < n; ++i) out.push_back(s[i].adapter);
  return out;
}

}  // namespace

std::vector<double> PlaneFrame::coefs(double x, double y) const {
  return axpy(axpy(origin, x, u), y, v);
}

PlaneFrame::Projection PlaneFrame::project(const std::vector<double>& c) const {
  const Vec d = axpy(c, -1.0, origin);
  Projection p;
  p.x = dot(gram, u, d);
  p.y = dot(gram, v, d);
  p.residual = std::sqrt(std::max(0.0, dot(gram, d, d) - p.x * p.x - p.y * p.y));
  return p;
}

PlaneFrame plane_through(const Mat& gram) {
  const size_t n = gram.size();
  if (n < 3) throw ConfigError("a plane needs three adapters");
  PlaneFrame f;
  f.gram = gram;
  f.origin = unit(n, 0);
  const Vec d1 = axpy(unit(n, 1), -1.0, f.origin), d2 = axpy(unit(n, 2), -1.0, f.origin);
  const double dx = std::sqrt(std::max(0.0, dot(gram, d1, d1)));
  if (!(dx > 0))
    throw ConfigError(
        "the first two adapters of the plane are the same point; pick three distinct adapters");
  f.u = axpy(Vec(n, 0.0), 1.0 / dx, d1);
  const Vec w = axpy(d2, -dot(gram, f.u, d2), f.u);
  const double dy = std::sqrt(std::max(0.0, dot(gram, w, w))),
               dz = std::sqrt(std::max(0.0, dot(gram, d2, d2)));
  if (!(dy > 1e-6 * std::max(dz, dx)))
    throw ConfigError(
        "the three adapters of the plane lie (almost) on one line; pick three that span a plane");
  f.v = axpy(Vec(n, 0.0), 1.0 / dy, w);
  return f;
}

PlaneFrame trajectory_pca(const Mat& gram, std::vector<std::pair<double, double>>& explained) {
  const size_t n = gram.size();
  if (n < 4)
    throw ConfigError("a trajectory plane needs at least 4 adapters (the method has " +
                      std::to_string(n) + "); train more tasks or set train.snapshot_every");
  const size_t m = n - 1;
  // Rows r_i = e_i − e_last, centred.
  Eigen::MatrixXd R =
      Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
  for (size_t i = 0; i < m; ++i) {
    R(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(i)) = 1.0;
    R(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(n - 1)) = -1.0;
  }
  R.rowwise() -= R.colwise().mean();
  Eigen::MatrixXd G(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      G(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = gram[i][j];
  const Eigen::MatrixXd K = R * G * R.transpose();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(K);
  const Eigen::VectorXd lam = es.eigenvalues();  // ascending
  const auto last = static_cast<Eigen::Index>(m) - 1;
  const double l1 = lam(last), l2 = lam(last - 1), total = std::max(lam.sum(), 0.0);
  if (!(l1 > 0) || !(l2 > 1e-12 * l1))
    throw ConfigError(
        "the trajectory does not span two dimensions (its adapters lie on a line); nothing to plot "
        "in a plane");
  PlaneFrame f;
  f.gram = gram;
  f.origin = unit(n, n - 1);
  auto pc = [&](Eigen::Index k, double l) {
    const Eigen::VectorXd c = R.transpose() * es.eigenvectors().col(k) / std::sqrt(l);
    return Vec(c.data(), c.data() + c.size());
  };
  f.u = pc(last, l1);
  f.v = pc(last - 1, l2);
  const double dof = static_cast<double>(std::max<size_t>(m - 1, 1));
  explained = {{l1 / dof, l1 / total}, {l2 / dof, l2 / total}};
  return f;
}

core::Adapter filter_normalized_direction(const core::Adapter& center, const std::string& space,
                                          uint64_t seed) {
  check_space(space, "space");
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  auto row_norms = [](const at::Tensor& t) {
    return t.to(at::kFloat).norm(2, {1}, true);
  };  // (rows, 1)
  std::vector<core::Adapter::Entry> out;
  if (space == "factors") {
    for (const auto& [name, c] : center.entries()) {
      at::Tensor d = at::randn(c.sizes(), gen, opts);
      out.emplace_back(
          name, (d * row_norms(c).cpu() / (row_norms(d) + 1e-10)).to(c.device(), c.scalar_type()));
    }
    return core::Adapter(std::move(out));
  }
  // Delta space: per module (lora_A entry, then its lora_B), a random B_d·A_d with rescaled rows.
  std::map<std::string, at::Tensor> a_of;
  for (const auto& [name, c] : center.entries())
    if (name.find(".lora_A.") != std::string::npos) a_of[name.substr(0, name.find(".lora_A."))] = c;
  std::map<std::string, at::Tensor> draws;
  for (const auto& [name, c] : center.entries()) draws[name] = at::randn(c.sizes(), gen, opts);
  for (const auto& [name, c] : center.entries()) {
    if (name.find(".lora_B.") == std::string::npos) {
      out.emplace_back(name, draws[name].to(c.device(), c.scalar_type()));
      continue;
    }
    const std::string module = name.substr(0, name.find(".lora_B."));
    const std::string a_name = module + ".lora_A.weight";
    if (!a_of.count(module)) throw ConfigError("adapter has " + name + " without " + a_name);
    const at::Tensor bd = draws[name], ad = draws[a_name];
    const at::Tensor target =
        row_norms(at::matmul(c.to(at::kFloat), a_of[module].to(at::kFloat))).cpu();
    out.emplace_back(
        name,
        (bd * target / (row_norms(at::matmul(bd, ad)) + 1e-10)).to(c.device(), c.scalar_type()));
  }
  return core::Adapter(std::move(out));
}

store::ScanData run_plane_scan(const PlaneScanOptions& opt, const core::RunConfig& data,
                               const std::string& command_line) {
  if (opt.through.empty() && opt.curve.empty())
    throw ConfigError("scan plane: give --through X,Y,Z or --curve CURVE.h5");
  if (!opt.through.empty() && opt.through.size() != 3)
    throw ConfigError("`through` needs exactly three adapters X,Y,Z (got " +
                      std::to_string(opt.through.size()) + ")");
  check_grid(opt.nx, opt.ny);
  if (!(opt.margin >= 0)) throw ConfigError("`margin` must be >= 0");
  if (opt.curve_points < 2 || opt.curve_points > 10001)
    throw ConfigError("`curve_points` must be 2 … 10001");
  StoredCurve curve;  // read once: its control points serve as anchors and as basis
  if (!opt.curve.empty()) {
    curve = load_stored_curve(opt.curve);
    if (curve.space != opt.scan.space)
      throw ConfigError(opt.curve + ": the curve was trained in " + curve.space +
                        " space; scan its plane with --space " + curve.space);
  }
  std::vector<std::string> through = opt.through;
  std::vector<AdapterSource> xyz_sources;
  if (through.empty()) {  // the curve-vs-line plane: from, to, the middle bend
    const size_t middle = (curve.control.size() - 2 + 1) / 2;
    xyz_sources = {curve.control.front(), curve.control.back(), curve.control[middle]};
    for (const auto& a : xyz_sources) through.push_back(a.label);
  } else {
    xyz_sources = load_adapter_refs(through);
  }
  ScanSetup setup = prepare_scan(std::move(xyz_sources), opt.scan, data);
  std::vector<std::string> proj_refs;
  for (const auto& p : opt.project)
    for (const auto& r : expand_adapter_refs(p)) proj_refs.push_back(r);
  std::vector<AdapterSource> all = setup.anchors;
  for (auto& s : load_adapter_refs(proj_refs)) all.push_back(std::move(s));
  const size_t curve_at = all.size();  // the curve's control points follow the projected ones
  for (const auto& c : curve.control) all.push_back(c);
  check_adapters(all, opt.scan.space);
  if (opt.scan.space == "delta") setup.scales = align_for_delta(all);  // the projected ones too
  std::vector<core::Adapter> basis;
  for (const auto& s : all) basis.push_back(s.adapter);
  const PlaneFrame f = plane_through(gram(opt.scan.space, basis, setup.scales));

  std::vector<double> ax, ay, anchors, projected;
  for (size_t i = 0; i < 3; ++i) {
    const auto p = f.project(unit(all.size(), i));
    ax.push_back(p.x);
    ay.push_back(p.y);
    anchors.insert(anchors.end(), {p.x, p.y});
  }
  for (size_t i = 3; i < curve_at; ++i) {
    const auto p = f.project(unit(all.size(), i));
    projected.insert(projected.end(), {p.x, p.y, p.residual});
  }
  // The curve's points as combinations of its control points (the curve's own coefficients).
  std::vector<double> curve_path;
  const int m = static_cast<int>(curve.control.size());
  if (m > 0)
    for (double t : path_ts(opt.curve_points, 0.0, 1.0)) {
      Vec c(all.size(), 0.0);
      const std::vector<double> w = curve_coefs(curve.kind, m, t);
      for (int j = 0; j < m; ++j) c[curve_at + static_cast<size_t>(j)] = w[static_cast<size_t>(j)];
      const auto p = f.project(c);
      curve_path.insert(curve_path.end(), {t, p.x, p.y, p.residual});
      ax.push_back(p.x);  // the grid covers the curve too
      ay.push_back(p.y);
    }
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["grid"] = {opt.nx, opt.ny};
  cfg["margin"] = opt.margin;
  if (m > 0) cfg["curve"] = {{"kind", curve.kind}, {"bends", m - 2}, {"points", opt.curve_points}};
  const auto axes = {grid_axis(ax, opt.margin, opt.nx), grid_axis(ay, opt.margin, opt.ny)};
  store::ScanData d =
      open_scan(opt.scan, scan_spec("plane", setup, cfg, axes), command_line, setup);
  std::map<std::string, store::ScanArray> extras{{"anchors", array2(3, 2, anchors)}};
  extras["projected"] = array2(proj_refs.size(), 3, projected);
  std::map<std::string, std::string> text{{"anchor_labels", join_refs(through, opt.scan.out)},
                                          {"projected_labels", join_refs(proj_refs, opt.scan.out)}};
  if (m > 0) {
    extras["curve_path"] = array2(static_cast<size_t>(opt.curve_points), 4, curve_path);
    text["curve_file"] = store::ref_for_scan(opt.curve, opt.scan.out);
  }
  put_extras(d, opt.scan, extras, text);
  const std::vector<core::Adapter> xyz = adapters_of(all, 3);
  return evaluate_plane(
      setup, opt.scan, std::move(d), xyz,
      [&](double x, double y) {
        Vec c = f.coefs(x, y);
        c.resize(3);  // the frame only involves X, Y and Z
        return c;
      },
      "scan plane");
}

store::ScanData run_random_plane_scan(const RandomPlaneOptions& opt, const core::RunConfig& data,
                                      const std::string& command_line) {
  check_grid(opt.nx, opt.ny);
  if (!(opt.radius > 0)) throw ConfigError("`radius` must be > 0");
  ScanSetup setup = prepare_scan(load_adapter_refs({opt.center}), opt.scan, data);
  const core::Adapter& c = setup.anchors[0].adapter;
  const std::vector<core::Adapter> basis{
      c, filter_normalized_direction(c, opt.scan.space, opt.seed),
      filter_normalized_direction(c, opt.scan.space, opt.seed + 1)};
  const Mat g = gram(opt.scan.space, basis, setup.scales);
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["grid"] = {opt.nx, opt.ny};
  cfg["radius"] = opt.radius;
  cfg["seed"] = opt.seed;
  cfg["normalization"] = "filter";
  const auto axes = {path_ts(opt.nx, -opt.radius, opt.radius),
                     path_ts(opt.ny, -opt.radius, opt.radius)};
  store::ScanData d =
      open_scan(opt.scan, scan_spec("random-plane", setup, cfg, axes), command_line, setup);
  const double nx = std::sqrt(g[1][1]), ny = std::sqrt(g[2][2]);
  put_extras(d, opt.scan,
             {{"anchors", array2(1, 2, {0.0, 0.0})},
              {"direction_norms", {{2}, {nx, ny}}},
              {"direction_cosine", {{}, {g[1][2] / (nx * ny)}}},
              {"center_norm", {{}, {std::sqrt(g[0][0])}}}},
             {{"anchor_labels", join_refs({opt.center}, opt.scan.out)}});
  return evaluate_plane(
      setup, opt.scan, std::move(d), basis,
      [](double x, double y) {
        return Vec{1.0, x, y};
      },
      "scan random-plane");
}

store::ScanData run_trajectory_scan(const TrajectoryScanOptions& opt, const core::RunConfig& data,
                                    const std::string& command_line) {
  check_grid(opt.nx, opt.ny);
  if (!(opt.margin >= 0)) throw ConfigError("`margin` must be >= 0");
  ScanSetup setup = prepare_scan(load_trajectory(opt.run, opt.method, opt.key), opt.scan, data);
  const size_t n = setup.anchors.size();
  const std::vector<core::Adapter> basis = adapters_of(setup.anchors, n);
  std::vector<std::pair<double, double>> explained;
  const PlaneFrame f = trajectory_pca(gram(opt.scan.space, basis, setup.scales), explained);
  std::vector<double> tx, ty, traj;
  std::vector<std::string> labels;
  for (size_t i = 0; i < n; ++i) {
    const auto p = f.project(unit(n, i));
    tx.push_back(p.x);
    ty.push_back(p.y);
    traj.insert(traj.end(), {p.x, p.y, p.residual});
    labels.push_back(setup.anchors[i].label);
  }
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["method"] = opt.method;
  cfg["key"] = opt.key;
  cfg["grid"] = {opt.nx, opt.ny};
  cfg["margin"] = opt.margin;
  const auto axes = {grid_axis(tx, opt.margin, opt.nx), grid_axis(ty, opt.margin, opt.ny)};
  store::ScanData d =
      open_scan(opt.scan, scan_spec("trajectory", setup, cfg, axes), command_line, setup);
  put_extras(d, opt.scan,
             {{"trajectory", array2(n, 3, traj)},
              {"explained_variance", {{2}, {explained[0].first, explained[1].first}}},
              {"explained_variance_ratio", {{2}, {explained[0].second, explained[1].second}}}},
             {{"trajectory_labels", join_refs(labels, opt.scan.out)},
              {"run", store::ref_for_scan(opt.run, opt.scan.out)}});
  return evaluate_plane(
      setup, opt.scan, std::move(d), basis, [&](double x, double y) { return f.coefs(x, y); },
      "scan trajectory");
}

std::string plane_summary(const store::ScanData& d) {
  const auto& xs = d.spec.axes.at(0);
  const auto& ys = d.spec.axes.at(1);
  const size_t T = d.spec.tasks.size();
  std::ostringstream s;
  char buf[200];
  for (size_t t = 0; t < T; ++t) {
    int64_t best = 0;
    for (int64_t p = 1; p < d.num_points(); ++p)
      if (d.values[d.value_index(p, t, 0)] < d.values[d.value_index(best, t, 0)]) best = p;
    const auto i = static_cast<size_t>(best) / ys.size(), j = static_cast<size_t>(best) % ys.size();
    std::snprintf(buf, sizeof buf,
                  "%-12s lowest loss %.4f at (%+.4g, %+.4g); exact match there %.3f\n",
                  d.spec.tasks[t].c_str(), d.values[d.value_index(best, t, 0)], xs[i], ys[j],
                  d.values[d.value_index(best, t, 2)]);
    s << buf;
  }
  return s.str();
}

}  // namespace lorascape::analysis
