#include "analysis/geometry.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>

#include "analysis/scan.h"
#include "core/run.h"
#include "core/version.h"
#include "store/error.h"

namespace lorascape::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kDeg = 180.0 / M_PI;
const std::string kA = ".lora_A.weight", kB = ".lora_B.weight";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// One adapter's factors of one module, in double on the CPU, with what every pair reuses.
struct ModuleFactors {
  at::Tensor A, B;         // (r, in), (out, r)
  at::Tensor theta;        // A and B flattened, in adapter order
  at::Tensor q_in, q_out;  // orthonormal bases of row(A) (in, k) and col(B) (out, k)
  double scale = 1.0;
  double factor_norm = 0.0, delta_norm = 0.0;
};

// Orthonormal basis of the column space of x (d, a): the left singular vectors whose
// singular values exceed max(d, a)·FLT_EPSILON·σ_max. (d, 0) for a zero matrix.
at::Tensor column_basis(const at::Tensor& x) {
  if (x.numel() == 0) return at::zeros({x.size(0), 0}, x.options());
  auto [u, s, vh] = at::linalg_svd(x, /*full_matrices=*/false);
  const double smax = s.max().item<double>();
  if (!(smax > 0)) return u.narrow(1, 0, 0);
  const double tol = static_cast<double>(std::max(x.size(0), x.size(1))) * FLT_EPSILON * smax;
  const int64_t k = (s > tol).sum().item<int64_t>();
  return u.narrow(1, 0, k).contiguous();
}

// R of the thin QR of x (d, a): x = Q R, so ‖x·y‖ = ‖R·y‖ for any y.
at::Tensor qr_r(const at::Tensor& x) {
  return std::get<1>(at::linalg_qr(x, "reduced"));
}

// ‖b·a‖_F for b (out, k), a (k, in) without forming b·a: with b = Q_b R_b and aᵀ = Q_a R_a
// (thin QRs), b·a = Q_b (R_b R_aᵀ) Q_aᵀ and the Q's have orthonormal columns.
double lowrank_norm(const at::Tensor& b, const at::Tensor& a) {
  return at::matmul(qr_r(b), qr_r(a.t()).t()).norm().item<double>();
}

std::vector<double> angles_between_bases(at::Tensor qi, at::Tensor qj) {
  if (qi.size(1) == 0 || qj.size(1) == 0) return {};
  if (qi.size(1) < qj.size(1)) std::swap(qi, qj);  // qi spans at least as many directions
  const at::Tensor m = at::matmul(qi.t(), qj);     // (ki, kj): singular values = cosines
  const at::Tensor cos = at::linalg_svdvals(m).clamp(0.0, 1.0).contiguous();  // descending
  const at::Tensor sin = at::linalg_svdvals(qj - at::matmul(qi, m)).clamp(0.0, 1.0).contiguous();
  const int64_t k = qj.size(1);
  const double* c = cos.data_ptr<double>();
  const double* s = sin.data_ptr<double>();
  std::vector<double> out(static_cast<size_t>(k));
  for (int64_t a = 0; a < k; ++a)
    out[static_cast<size_t>(a)] = c[a] * c[a] < 0.5 ? std::acos(c[a]) : std::asin(s[k - 1 - a]);
  std::sort(out.begin(), out.end());
  return out;
}

double mean_defined(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) sum += x, ++n;
  return n ? sum / n : kNaN;
}

double cosine(double dot, double na, double nb) {
  if (!(na > 0) || !(nb > 0)) return kNaN;
  return std::clamp(dot / (na * nb), -1.0, 1.0);
}

// Index of a metric in geometry_metrics().
size_t metric_index(const std::string& metric) {
  const auto& names = geometry_metrics();
  auto it = std::find(names.begin(), names.end(), metric);
  if (it == names.end()) throw ConfigError("unknown geometry metric '" + metric + "'");
  return static_cast<size_t>(it - names.begin());
}

// The tail of a long label, so tables stay aligned: ".../run.h5:seq/2".
std::string short_label(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  return "..." + s.substr(s.size() - (width - 3));
}

}  // namespace

const std::vector<std::string>& geometry_metrics() {
  static const std::vector<std::string> names{"factor_distance", "factor_cosine", "delta_distance",
                                              "delta_cosine",    "angle_in",      "angle_out",
                                              "overlap_in",      "overlap_out"};
  return names;
}

double Geometry::at(const std::string& metric, size_t i, size_t j) const {
  return overall.at(metric_index(metric)).at(i * n() + j);
}

double Geometry::at(const std::string& metric, size_t mod, size_t i, size_t j) const {
  return per_module.at(metric_index(metric)).at((mod * n() + i) * n() + j);
}

std::vector<std::string> lora_modules(const core::Adapter& adapter, const std::string& origin) {
  std::vector<std::string> modules;
  std::map<std::string, std::pair<const at::Tensor*, const at::Tensor*>> factors;
  for (const auto& [name, t] : adapter.entries()) {
    const bool is_a = ends_with(name, kA), is_b = ends_with(name, kB);
    if (!is_a && !is_b)
      throw FormatError(origin + ": tensor '" + name +
                        "' is not a LoRA factor (…lora_A.weight or …lora_B.weight)");
    const std::string mod = name.substr(0, name.size() - kA.size());
    auto [it, fresh] = factors.emplace(mod, std::make_pair(nullptr, nullptr));
    if (fresh) modules.push_back(mod);
    (is_a ? it->second.first : it->second.second) = &t;
  }
  for (const auto& mod : modules) {
    const auto [a, b] = factors.at(mod);
    if (!a || !b)
      throw FormatError(origin + ": module '" + mod + "' has no " + (a ? "lora_B" : "lora_A") +
                        " factor; an adapter holds both factors of every module");
    if (a->dim() != 2 || b->dim() != 2 || a->size(0) != b->size(1))
      throw FormatError(
          origin + ": module '" + mod + "': lora_A " + std::to_string(a->dim()) + "-D " +
          (a->dim() == 2 ? std::to_string(a->size(0)) + "x" + std::to_string(a->size(1)) : "") +
          " and lora_B " +
          (b->dim() == 2 ? std::to_string(b->size(0)) + "x" + std::to_string(b->size(1)) : "") +
          " do not fit as (r, in) and (out, r)");
  }
  return modules;
}

std::vector<double> principal_angles(const at::Tensor& x, const at::Tensor& y) {
  if (x.size(0) != y.size(0))
    throw ConfigError("principal_angles: the subspaces live in R^" + std::to_string(x.size(0)) +
                      " and R^" + std::to_string(y.size(0)));
  return angles_between_bases(column_basis(x.to(at::kDouble)), column_basis(y.to(at::kDouble)));
}

Geometry compute_geometry(const std::vector<AdapterSource>& sources) {
  if (sources.empty()) throw ConfigError("geometry: no adapters given");
  // Adapters of different ranks and targets compare in delta space and by their subspaces; a
  // module one of them lacks is a rank-0 pair (a zero ΔW, no subspace).
  check_same_space(sources, "any");
  const size_t N = sources.size();
  Geometry g;
  std::map<std::string, std::pair<int64_t, int64_t>> in_out;  // module -> (in, out)
  for (const auto& s : sources)
    for (const auto& m : lora_modules(s.adapter, s.label))
      if (!in_out.count(m)) {
        g.modules.push_back(m);
        in_out[m] = {-1, -1};
      }
  for (const auto& s : sources)
    for (const auto& [name, t] : s.adapter.entries())
      (ends_with(name, kA) ? in_out[name.substr(0, name.size() - kA.size())].first
                           : in_out[name.substr(0, name.size() - kB.size())].second) =
          ends_with(name, kA) ? t.size(1) : t.size(0);
  const size_t M = g.modules.size();
  for (const auto& s : sources) {
    for (const auto& [name, t] : s.adapter.entries()) {
      const int64_t bad = t.numel() - at::isfinite(t).sum().item<int64_t>();
      if (bad > 0)
        throw ConfigError(
            "adapter '" + s.label + "': tensor '" + name + "' holds " + std::to_string(bad) +
            " NaN or inf values (did its training diverge?); geometry needs finite weights");
    }
    g.labels.push_back(s.label);
    g.scales.push_back(s.lora.scale());
  }

  // Per adapter and module: the factors in double and their subspaces.
  std::vector<std::vector<ModuleFactors>> f(N, std::vector<ModuleFactors>(M));
  g.module_factor_norm.assign(M * N, 0.0);
  g.module_delta_norm.assign(M * N, 0.0);
  g.rank_in.assign(M * N, 0.0);
  g.rank_out.assign(M * N, 0.0);
  for (size_t i = 0; i < N; ++i) {
    std::map<std::string, at::Tensor> by_name;
    for (const auto& [name, t] : sources[i].adapter.entries())
      by_name[name] = t.detach().to(at::kCPU).to(at::kDouble).contiguous();
    const core::LoraScales scales = core::lora_scales(sources[i].lora, sources[i].adapter);
    for (size_t m = 0; m < M; ++m) {
      ModuleFactors& x = f[i][m];
      const auto a = by_name.find(g.modules[m] + kA), b = by_name.find(g.modules[m] + kB);
      const auto [in, out] = in_out.at(g.modules[m]);
      x.A = a != by_name.end() ? a->second : at::zeros({0, in}, at::kDouble);
      x.B = b != by_name.end() ? b->second : at::zeros({out, 0}, at::kDouble);
      x.theta = at::cat({x.A.reshape({-1}), x.B.reshape({-1})});
      x.scale = scales.of(g.modules[m]);
      x.q_in = column_basis(x.A.t());
      x.q_out = column_basis(x.B);
      x.factor_norm = x.theta.norm().item<double>();
      x.delta_norm = std::abs(x.scale) * lowrank_norm(x.B, x.A);
      g.module_factor_norm[m * N + i] = x.factor_norm;
      g.module_delta_norm[m * N + i] = x.delta_norm;
      g.rank_in[m * N + i] = static_cast<double>(x.q_in.size(1));
      g.rank_out[m * N + i] = static_cast<double>(x.q_out.size(1));
    }
  }

  const size_t K = geometry_metrics().size();
  enum { kFD, kFC, kDD, kDC, kAI, kAO, kOI, kOO };
  g.per_module.assign(K, std::vector<double>(M * N * N, kNaN));
  g.overall.assign(K, std::vector<double>(N * N, kNaN));
  g.factor_norm.assign(N, 0.0);
  g.delta_norm.assign(N, 0.0);
  for (size_t i = 0; i < N; ++i) {
    double fn = 0, dn = 0;
    for (size_t m = 0; m < M; ++m) {
      fn += f[i][m].factor_norm * f[i][m].factor_norm;
      dn += f[i][m].delta_norm * f[i][m].delta_norm;
    }
    g.factor_norm[i] = std::sqrt(fn);
    g.delta_norm[i] = std::sqrt(dn);
  }

  auto mean_angle = [](const std::vector<double>& angles) {
    if (angles.empty()) return kNaN;
    double sum = 0;
    for (double a : angles) sum += a;
    return sum / static_cast<double>(angles.size()) * kDeg;
  };
  auto mean_cos2 = [](const std::vector<double>& angles) {
    if (angles.empty()) return kNaN;
    double sum = 0;
    for (double a : angles) sum += std::cos(a) * std::cos(a);
    return sum / static_cast<double>(angles.size());
  };

  for (size_t i = 0; i < N; ++i) {
    for (size_t j = i; j < N; ++j) {
      double fd2 = 0, fdot = 0, dd2 = 0, ddot = 0;
      bool all_same = true;
      std::vector<std::vector<double>> by_module(K);
      for (size_t m = 0; m < M; ++m) {
        const ModuleFactors &x = f[i][m], &y = f[j][m];
        double v[8];
        // Factors of different shapes (ranks) have no distance or cosine: NaN, and so overall.
        const bool same_shape = x.A.sizes() == y.A.sizes() && x.B.sizes() == y.B.sizes();
        const double fdot_m = same_shape ? at::dot(x.theta, y.theta).item<double>() : kNaN;
        const double ddot_m =
            x.scale * y.scale *
            (at::matmul(x.B.t(), y.B) * at::matmul(x.A, y.A.t())).sum().item<double>();
        const bool same =
            i == j || (x.scale == y.scale && at::equal(x.A, y.A) && at::equal(x.B, y.B));
        all_same = all_same && same;
        if (same) {
          // The same module: by definition, rather than up to rounding.
          v[kFD] = 0.0;
          v[kDD] = 0.0;
          v[kFC] = x.factor_norm > 0 ? 1.0 : kNaN;
          v[kDC] = x.delta_norm > 0 ? 1.0 : kNaN;
          v[kAI] = x.q_in.size(1) ? 0.0 : kNaN;
          v[kAO] = x.q_out.size(1) ? 0.0 : kNaN;
          v[kOI] = x.q_in.size(1) ? 1.0 : kNaN;
          v[kOO] = x.q_out.size(1) ? 1.0 : kNaN;
        } else {
          v[kFD] = same_shape ? (x.theta - y.theta).norm().item<double>() : kNaN;
          v[kFC] = cosine(fdot_m, x.factor_norm, y.factor_norm);
          // ΔW_i − ΔW_j = [s_i B_i | −s_j B_j] · [A_i; A_j], a rank-2r product.
          v[kDD] =
              lowrank_norm(at::cat({x.B * x.scale, y.B * (-y.scale)}, 1), at::cat({x.A, y.A}, 0));
          v[kDC] = cosine(ddot_m, x.delta_norm, y.delta_norm);
          const std::vector<double> ain = angles_between_bases(x.q_in, y.q_in);
          const std::vector<double> aout = angles_between_bases(x.q_out, y.q_out);
          v[kAI] = mean_angle(ain);
          v[kAO] = mean_angle(aout);
          v[kOI] = mean_cos2(ain);
          v[kOO] = mean_cos2(aout);
        }
        for (size_t k = 0; k < K; ++k) {
          g.per_module[k][(m * N + i) * N + j] = v[k];
          g.per_module[k][(m * N + j) * N + i] = v[k];
          by_module[k].push_back(v[k]);
        }
        fd2 += v[kFD] * v[kFD];
        dd2 += v[kDD] * v[kDD];
        fdot += fdot_m;
        ddot += ddot_m;
      }
      double o[8];
      o[kFD] = std::sqrt(fd2);
      o[kDD] = std::sqrt(dd2);
      o[kFC] = cosine(fdot, g.factor_norm[i], g.factor_norm[j]);
      o[kDC] = cosine(ddot, g.delta_norm[i], g.delta_norm[j]);
      if (all_same) {
        o[kFC] = g.factor_norm[i] > 0 ? 1.0 : kNaN;
        o[kDC] = g.delta_norm[i] > 0 ? 1.0 : kNaN;
      }
      for (size_t k : {kAI, kAO, kOI, kOO}) o[k] = mean_defined(by_module[k]);
      for (size_t k = 0; k < K; ++k) {
        g.overall[k][i * N + j] = o[k];
        g.overall[k][j * N + i] = o[k];
      }
    }
  }
  return g;
}

std::string format_geometry(const Geometry& g) {
  const size_t N = g.n();
  size_t width = 0;
  for (const auto& l : g.labels) width = std::max(width, l.size());
  width = std::min<size_t>(std::max<size_t>(width, 8), 36);
  const int iw = static_cast<int>(std::to_string(N - 1).size());
  char buf[512];
  // "  [i] label      " and blanks of the same width.
  auto head = [&](size_t i) {
    std::snprintf(buf, sizeof buf, "  [%*zu] %-*s", iw, i, static_cast<int>(width),
                  short_label(g.labels[i], width).c_str());
    return std::string(buf);
  };
  const std::string blank(static_cast<size_t>(iw) + width + 5, ' ');
  std::string out;
  std::snprintf(buf, sizeof buf, "%zu adapters, %zu modules\n", N, g.m());
  out += buf;
  std::snprintf(buf, sizeof buf, "%s %12s %12s %8s\n", blank.c_str(), "factor norm", "delta norm",
                "scale");
  out += buf;
  for (size_t i = 0; i < N; ++i) {
    out += head(i);
    std::snprintf(buf, sizeof buf, " %12.6g %12.6g %8.4g\n", g.factor_norm[i], g.delta_norm[i],
                  g.scales[i]);
    out += buf;
  }
  struct Table {
    const char* metric;
    const char* title;
    const char* fmt;
  };
  const Table tables[] = {
      {"factor_distance", "factor-space distance |theta_i - theta_j|", "%11.5g"},
      {"factor_cosine", "factor-space cosine", "%11.4f"},
      {"delta_distance", "delta-space distance |dW_i - dW_j|_F (dW = s*B*A)", "%11.5g"},
      {"delta_cosine", "delta-space cosine <dW_i, dW_j>_F / (|dW_i| |dW_j|)", "%11.4f"},
      {"angle_in",
       "mean principal angle (degrees) between the input subspaces row(A), mean over modules",
       "%11.2f"},
      {"angle_out",
       "mean principal angle (degrees) between the output subspaces col(B), mean over modules",
       "%11.2f"},
  };
  for (const auto& t : tables) {
    out += "\n" + std::string(t.title) + "\n" + blank;
    for (size_t j = 0; j < N; ++j) {
      std::snprintf(buf, sizeof buf, "%11s", ("[" + std::to_string(j) + "]").c_str());
      out += buf;
    }
    out += "\n";
    for (size_t i = 0; i < N; ++i) {
      out += head(i);
      for (size_t j = 0; j < N; ++j) {
        const double v = g.at(t.metric, i, j);
        if (std::isnan(v))
          std::snprintf(buf, sizeof buf, "%11s", "nan");
        else
          std::snprintf(buf, sizeof buf, t.fmt, v);
        out += buf;
      }
      out += "\n";
    }
  }
  return out;
}

std::string geometry_csv(const Geometry& g) {
  const auto& metrics = geometry_metrics();
  std::string out = "module,i,j,label_i,label_j";
  for (const auto& k : metrics) out += "," + k;
  out += "\n";
  char buf[40];
  auto row = [&](const std::string& module, size_t i, size_t j, auto&& value) {
    out += core::csv_field(module) + "," + std::to_string(i) + "," + std::to_string(j) + "," +
           core::csv_field(g.labels[i]) + "," + core::csv_field(g.labels[j]);
    for (const auto& k : metrics) {
      std::snprintf(buf, sizeof buf, ",%.10g", value(k));
      out += buf;
    }
    out += "\n";
  };
  for (size_t i = 0; i < g.n(); ++i)
    for (size_t j = i + 1; j < g.n(); ++j)
      row("overall", i, j, [&](const std::string& k) { return g.at(k, i, j); });
  for (size_t m = 0; m < g.m(); ++m)
    for (size_t i = 0; i < g.n(); ++i)
      for (size_t j = i + 1; j < g.n(); ++j)
        row(g.modules[m], i, j, [&](const std::string& k) { return g.at(k, m, i, j); });
  return out;
}

store::ScanData geometry_scan(const Geometry& g, const std::string& config_json,
                              const std::string& command_line) {
  const auto N = static_cast<int64_t>(g.n()), M = static_cast<int64_t>(g.m());
  store::ScanSpec spec;
  spec.kind = "geometry";
  spec.config_json = config_json;
  spec.tasks = {"overall"};
  spec.scores = {"factor_norm", "delta_norm"};
  std::vector<double> index;
  for (int64_t i = 0; i < N; ++i) index.push_back(static_cast<double>(i));
  spec.axes = {index};
  store::ScanData d = store::new_scan(spec, {}, kVersion, command_line);
  for (size_t i = 0; i < g.n(); ++i) {
    d.values[d.value_index(static_cast<int64_t>(i), 0, 0)] = g.factor_norm[i];
    d.values[d.value_index(static_cast<int64_t>(i), 0, 1)] = g.delta_norm[i];
    d.done[i] = 1;
  }
  const auto& metrics = geometry_metrics();
  for (size_t k = 0; k < metrics.size(); ++k) {
    d.extras[metrics[k]] = {{N, N}, g.overall[k]};
    d.extras["module_" + metrics[k]] = {{M, N, N}, g.per_module[k]};
  }
  d.extras["scale"] = {{N}, g.scales};
  d.extras["module_factor_norm"] = {{M, N}, g.module_factor_norm};
  d.extras["module_delta_norm"] = {{M, N}, g.module_delta_norm};
  d.extras["rank_in"] = {{M, N}, g.rank_in};
  d.extras["rank_out"] = {{M, N}, g.rank_out};
  std::string labels, modules;
  for (const auto& l : g.labels) labels += (labels.empty() ? "" : "\n") + l;
  for (const auto& m : g.modules) modules += (modules.empty() ? "" : "\n") + m;
  d.text["labels"] = labels;
  d.text["modules"] = modules;
  d.text["summary"] = format_geometry(g);
  return d;
}

void check_geometry_out(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string kind;
    try {
      kind = store::read_scan_file(path).spec.kind;
    } catch (const Error&) {
      throw ConfigError(path +
                        ": exists and is not a scan file; not overwriting it (pick another `out`)");
    }
    if (kind != "geometry")
      throw ConfigError(path + ": holds a scan of kind '" + kind +
                        "', not a geometry; not overwriting it (pick another `out`)");
  }
}

void write_geometry_file(const std::string& path, const store::ScanData& d) {
  check_geometry_out(path);
  store::write_scan_file(path, d);
}

std::string geometry_config_json(const std::vector<AdapterSource>& sources) {
  nlohmann::json adapters = nlohmann::json::array();
  for (const auto& s : sources)
    adapters.push_back({{"ref", s.label},
                        {"digest", adapter_digest(s.adapter)},
                        {"rank", s.lora.rank},
                        {"alpha", s.lora.alpha}});
  return nlohmann::json{{"kind", "geometry"},
                        {"adapters", adapters},
                        {"metrics", geometry_metrics()},
                        {"rank_tolerance", "max(rows, cols) * FLT_EPSILON * sigma_max"}}
      .dump();
}

}  // namespace lorascape::analysis
