#include "analysis/curve.h"

#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

#include "analysis/line_scan.h"
#include "analysis/mpi.h"
#include "analysis/path.h"
#include "core/base_model.h"
#include "core/progress.h"
#include "core/text_codec.h"
#include "core/train.h"
#include "store/error.h"
#include "store/references.h"

namespace lorascape::analysis {

std::vector<double> curve_coefs(const std::string& kind, int m, double t) {
  if (m < 2) throw ConfigError("a curve needs at least two control points");
  std::vector<double> c(static_cast<size_t>(m));
  const int n = m - 1;
  for (int j = 0; j < m; ++j) {
    if (kind == "bezier") {
      double binom = 1;
      for (int i = 1; i <= j; ++i) binom = binom * (n - j + i) / i;
      c[static_cast<size_t>(j)] = binom * std::pow(t, j) * std::pow(1.0 - t, n - j);
    } else if (kind == "polychain") {
      c[static_cast<size_t>(j)] = std::max(0.0, 1.0 - std::abs(t * n - j));
    } else {
      throw ConfigError("`kind` must be bezier or polychain (got '" + kind + "')");
    }
  }
  return c;
}

namespace {

bool is_a(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos;
}

// The same ΔW at twice the rank: A gets zero rows, B zero columns.
core::Adapter pad_rank(const core::Adapter& a) {
  std::vector<core::Adapter::Entry> out;
  for (const auto& [name, t] : a.entries())
    out.emplace_back(name, at::cat({t, at::zeros_like(t)}, is_a(name) ? 0 : 1));
  return core::Adapter(std::move(out));
}

std::vector<double> flat_values(const std::vector<core::Adapter>& bends) {
  std::vector<double> v;
  for (const auto& b : bends) {
    at::Tensor f = b.flatten().to(at::kCPU).to(at::kDouble).contiguous();
    v.insert(v.end(), f.data_ptr<double>(), f.data_ptr<double>() + f.numel());
  }
  return v;
}

// Bends of the layout of `like` from the stored (n, numel) array.
std::vector<core::Adapter> unflat(const core::Adapter& like, const store::ScanArray& a, int n,
                                  const std::string& file) {
  const int64_t numel = like.numel();
  if (a.shape != std::vector<int64_t>{n, numel})
    throw FormatError(
        file +
        ": /extras/control_points has the wrong shape for this curve (delete the file to retrain)");
  std::vector<core::Adapter> out;
  size_t off = 0;
  for (int j = 0; j < n; ++j) {
    std::vector<core::Adapter::Entry> e;
    for (const auto& [name, t] : like.entries()) {
      at::Tensor x =
          at::tensor(
              std::vector<double>(a.values.begin() + static_cast<std::ptrdiff_t>(off),
                                  a.values.begin() + static_cast<std::ptrdiff_t>(off) + t.numel()),
              at::kDouble)
              .view(t.sizes())
              .to(t.scalar_type());
      off += static_cast<size_t>(t.numel());
      e.emplace_back(name, x);
    }
    out.emplace_back(std::move(e));
  }
  return out;
}

// DMC's schedule: flat to 50% of training, linear down to 1% at 90%, then 1%.
double lr_factor(double frac) {
  if (frac <= 0.5) return 1.0;
  if (frac <= 0.9) return 1.0 - 0.99 * (frac - 0.5) / 0.4;
  return 0.01;
}

struct Trained {
  std::vector<double> loss, t;
  bool cancelled = false;  // ScanOptions::cancelled stopped it: the bends are not trained
};

// Trains cps[1 … m−2] in place (cps[0] and cps[m−1] fixed).
Trained train_bends(const ScanSetup& setup, const CurveScanOptions& opt,
                    std::vector<core::Adapter>& cps,
                    const std::vector<const core::Example*>& pool) {
  const int m = static_cast<int>(cps.size());
  const std::string& space = opt.scan.space;
  core::Transformer model = core::load_base_model(setup.base_path);
  core::set_prompt_template(*model, setup.data.tasks.prompt_template);
  core::LoraConfig lc =
      core::lora_config_for(setup.scales, combine(space, cps, curve_coefs(opt.kind, m, 0.5)));
  lc.dropout = 0;
  model->add_lora(lc);
  model->to(setup.device);
  model->train();
  const int64_t block =
      cps[0].entries()[0].second.size(0);  // rows of one control point's A (delta space)
  std::vector<at::Tensor> params;
  for (int j = 1; j + 1 < m; ++j)
    for (const auto& [name, t] : cps[static_cast<size_t>(j)].entries()) {
      at::Tensor p = t.to(setup.device, at::kFloat).clone();
      p.set_requires_grad(true);
      params.push_back(p);
    }
  torch::optim::Adam adam(params, torch::optim::AdamOptions(opt.lr));
  const int64_t batch = opt.batch > 0 ? opt.batch : setup.data.train.batch;
  const auto per_epoch = static_cast<int64_t>((pool.size() + static_cast<size_t>(batch) - 1) /
                                              static_cast<size_t>(batch));
  const int64_t steps = opt.epochs * per_epoch;
  std::mt19937_64 rng(opt.seed != 0 ? opt.seed : static_cast<uint64_t>(setup.data.seed));
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  std::vector<size_t> order(pool.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Trained hist;
  core::Progress bar("train curve", steps, Mpi::instance().rank() == 0, "steps");
  const size_t E = cps[0].size();
  const bool hooks = Mpi::instance().size() == 1;
  for (int64_t step = 0; step < steps; ++step) {
    if (hooks && opt.scan.cancelled && opt.scan.cancelled()) {
      hist.cancelled = true;  // within one step of the request
      return hist;
    }
    const int64_t in_epoch = step % per_epoch;
    if (in_epoch == 0) std::shuffle(order.begin(), order.end(), rng);
    for (auto& g : adam.param_groups())
      static_cast<torch::optim::AdamOptions&>(g.options())
          .lr(opt.lr * lr_factor(static_cast<double>(step) / steps));
    const double t = unif(rng);
    const std::vector<double> c = curve_coefs(opt.kind, m, t);
    {
      torch::NoGradGuard ng;
      std::vector<core::Adapter> now = cps;
      size_t k = 0;
      for (int j = 1; j + 1 < m; ++j) {
        std::vector<core::Adapter::Entry> e;
        for (const auto& [name, x] : cps[static_cast<size_t>(j)].entries())
          e.emplace_back(name, params[k++].detach());
        now[static_cast<size_t>(j)] = core::Adapter(std::move(e));
      }
      combine(space, now, c).to(setup.device).load_into(*model, "curve point");
    }
    std::vector<const core::Example*> b;
    for (int64_t i = in_epoch * batch;
         i < std::min<int64_t>((in_epoch + 1) * batch, static_cast<int64_t>(pool.size())); ++i)
      b.push_back(pool[order[static_cast<size_t>(i)]]);
    model->zero_grad();
    at::Tensor loss = core::examples_loss(*model, b, setup.device);
    const double ce = loss.item<double>();
    if (opt.weight_decay > 0)
      for (auto& [name, p] : model->lora_parameters())
        loss = loss + 0.5 * opt.weight_decay * p.pow(2).sum();
    loss.backward();
    std::map<std::string, at::Tensor> grad;
    for (auto& [name, p] : model->lora_parameters()) grad[name] = p.grad();
    // Chain rule from w(t) to the bends.
    size_t k = 0;
    for (int j = 1; j + 1 < m; ++j)
      for (size_t e = 0; e < E; ++e, ++k) {
        const std::string& name = cps[static_cast<size_t>(j)].entries()[e].first;
        const at::Tensor& g = grad.at(name);
        at::Tensor gj = space == "factors" ? c[static_cast<size_t>(j)] * g
                        : is_a(name)       ? g.narrow(0, j * block, block).clone()
                                     : c[static_cast<size_t>(j)] * g.narrow(1, j * block, block);
        params[k].mutable_grad() = gj;
      }
    adam.step();
    hist.loss.push_back(ce);
    hist.t.push_back(t);
    char info[48];
    std::snprintf(info, sizeof info, "loss %.4f", ce);
    bar.update(step + 1, info);
    if (hooks && opt.scan.on_training) opt.scan.on_training(step + 1, steps);
  }
  bar.finish();
  size_t k = 0;
  for (int j = 1; j + 1 < m; ++j) {
    std::vector<core::Adapter::Entry> e;
    for (const auto& [name, x] : cps[static_cast<size_t>(j)].entries())
      e.emplace_back(name, params[k++].detach().to(x.device(), x.scalar_type()));
    cps[static_cast<size_t>(j)] = core::Adapter(std::move(e));
  }
  return hist;
}

store::ScanArray vec_array(const std::vector<double>& v) {
  return {{static_cast<int64_t>(v.size())}, v};
}

// A curve scan file with trained bends, read and checked: its data and parsed configuration.
struct CurveFile {
  store::ScanData d;
  nlohmann::json cfg;
};
CurveFile read_curve_file(const std::string& curve_path) {
  store::ScanData d = store::read_scan_file(curve_path);
  if (d.spec.kind != "curve")
    throw ConfigError(curve_path + " is a " + d.spec.kind + " scan, not a curve (`scan curve`)");
  auto cfg = nlohmann::json::parse(d.spec.config_json, nullptr, false);
  if (!cfg.is_object() || !cfg.contains("curve") || !cfg["curve"].is_object() ||
      !cfg["curve"].value("bends", nlohmann::json()).is_number_integer() ||
      !cfg.value("space", nlohmann::json()).is_string() || !d.text.count("from") ||
      !d.text.count("to"))
    throw FormatError(curve_path +
                      ": the curve's configuration (bends, space, from, to) is "
                      "missing or damaged; rerun `scan curve`");
  if (!d.extras.count("control_points"))
    throw ConfigError(curve_path +
                      ": the curve's bends are not trained yet (rerun the `scan "
                      "curve` command that made it: " +
                      d.command_line + ")");
  return {std::move(d), std::move(cfg)};
}

}  // namespace

std::string curve_origin_ref(const std::string& curve_path) {
  return store::resolve_ref(read_curve_file(curve_path).d.text.at("from"), curve_path);
}

StoredCurve load_stored_curve(const std::string& curve_path) {
  // A curve's ends may be bends of other curves; a file naming itself (directly or in a ring)
  // would recurse without end.
  thread_local int depth = 0;
  if (depth >= 16)
    throw FormatError(curve_path +
                      ": its ends name curve bends 16 levels deep (a curve file "
                      "whose ends refer back to itself?)");
  struct Depth {
    Depth() { ++depth; }
    ~Depth() { --depth; }
  } guard;
  const auto [d, cfg] = read_curve_file(curve_path);
  StoredCurve c;
  c.path = curve_path;
  c.kind = cfg["curve"].value("kind", std::string("bezier"));
  c.space = cfg["space"].get<std::string>();
  const int bends = cfg["curve"]["bends"].get<int>();
  curve_coefs(c.kind, 3, 0.5);  // checks the kind
  if (bends < 1 || bends > 64) throw FormatError(curve_path + ": bends must be 1 … 64");
  const std::vector<AdapterSource> ends =
      load_adapter_refs({store::resolve_ref(d.text.at("from"), curve_path),
                         store::resolve_ref(d.text.at("to"), curve_path)});
  const core::Adapter like = c.space == "delta" ? pad_rank(ends[0].adapter) : ends[0].adapter;
  std::vector<core::Adapter> b = unflat(like, d.extras.at("control_points"), bends, curve_path);
  c.control.push_back(ends[0]);
  for (int j = 0; j < bends; ++j) {
    AdapterSource s = ends[0];
    s.adapter = std::move(b[static_cast<size_t>(j)]);
    for (const auto& [name, t] : s.adapter.entries())
      if (!at::isfinite(t).all().item<bool>())
        throw FormatError(curve_path + ": bend " + std::to_string(j + 1) + " tensor '" + name +
                          "' holds NaN or infinite values (retrain the curve)");
    s.lora = core::lora_config_of(ends[0].lora, s.adapter);  // rank 2r in delta space
    s.label = curve_path + ":bend/" + std::to_string(j + 1);
    s.info = {{"curve_file", curve_path}, {"bend", j + 1}, {"kind", c.kind}};
    c.control.push_back(std::move(s));
  }
  c.control.push_back(ends[1]);
  return c;
}

store::ScanData run_curve_scan(const CurveScanOptions& opt, const core::RunConfig& data,
                               const std::string& command_line) {
  curve_coefs(opt.kind, 3, 0.5);  // checks the kind
  if (opt.bends < 1) throw ConfigError("`bends` must be >= 1");
  if (opt.points < 2) throw ConfigError("`points` must be >= 2 for a curve");
  if (opt.epochs < 0) throw ConfigError("`epochs` must be >= 0");
  if (!(opt.lr > 0)) throw ConfigError("`lr` must be > 0");
  if (!(opt.weight_decay >= 0)) throw ConfigError("`weight_decay` must be >= 0");
  ScanSetup setup = prepare_scan(load_adapter_refs({opt.from, opt.to}), opt.scan, data);
  // Training the bends keeps each control point's block of rows; that needs endpoints of one
  // shape (lines and planes take adapters of different ranks and targets in delta space).
  {
    const auto& a = setup.anchors[0].adapter.entries();
    const auto& b = setup.anchors[1].adapter.entries();
    auto rank = [&](size_t e) {  // lora_A (r, in), lora_B (out, r)
      return a[e].second.size(a[e].first.find(".lora_A.") != std::string::npos ? 0 : 1);
    };
    for (size_t e = 0; e < a.size(); ++e) {
      if (a.size() != b.size() || a[e].second.sizes() != b[e].second.sizes() || rank(e) != rank(0))
        throw ConfigError("a curve needs two adapters of one rank on the same modules ('" +
                          a[e].first +
                          "' differs); compare adapters of different ranks or "
                          "targets with a line or plane in delta space");
    }
  }
  std::vector<std::string> train_names = opt.train_tasks;
  if (train_names.empty()) train_names = opt.scan.union_tasks;
  if (train_names.empty())
    for (const auto& n : setup.set_names)
      if (n != "union") train_names.push_back(n);
  std::vector<const core::Example*> pool;
  for (const auto& n : train_names) {
    auto it = std::find_if(setup.tasks.begin(), setup.tasks.end(),
                           [&](const core::Task& t) { return t.name == n; });
    if (it == setup.tasks.end()) throw ConfigError("`train_tasks`: unknown task '" + n + "'");
    for (const auto& ex : it->train) pool.push_back(&ex);
  }
  if (pool.empty() && opt.epochs > 0)
    throw ConfigError("the curve's training tasks have no training examples");

  const std::vector<double> ts = path_ts(opt.points, 0.0, 1.0);
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["curve"] = {{"kind", opt.kind},
                  {"bends", opt.bends},
                  {"train_tasks", train_names},
                  {"epochs", opt.epochs},
                  {"lr", opt.lr},
                  {"weight_decay", opt.weight_decay},
                  {"batch", opt.batch > 0 ? opt.batch : setup.data.train.batch},
                  {"seed", opt.seed != 0 ? opt.seed : static_cast<uint64_t>(setup.data.seed)},
                  {"compare_line", opt.compare_line}};
  cfg["points"] = opt.points;
  const store::ScanSpec spec = scan_spec("curve", setup, cfg, {ts});
  store::ScanData d = open_scan(opt.scan, spec, command_line, setup);
  d.text["from"] = store::ref_for_scan(opt.from, opt.scan.out);
  d.text["to"] = store::ref_for_scan(opt.to, opt.scan.out);
  d.text["curve"] = opt.kind;

  const int m = opt.bends + 2;
  const bool delta = opt.scan.space == "delta";
  const core::Adapter &a0 = setup.anchors[0].adapter, &a1 = setup.anchors[1].adapter;
  std::vector<core::Adapter> cps(static_cast<size_t>(m));
  cps.front() = delta ? pad_rank(a0) : a0;
  cps.back() = delta ? pad_rank(a1) : a1;
  Mpi& mpi = Mpi::instance();
  if (!d.extras.count("control_points")) {
    for (int j = 1; j + 1 < m; ++j) {
      const double tau = static_cast<double>(j) / (m - 1);
      cps[static_cast<size_t>(j)] = combine(opt.scan.space, {a0, a1}, {1.0 - tau, tau});
    }
    if (mpi.rank() == 0) {
      const Trained h = train_bends(setup, opt, cps, pool);
      // Cancelled: nothing of the training is kept (the bends must not depend on when it
      // stopped); the file is the new, empty scan, and a rerun trains from the start.
      if (h.cancelled) return d;
      d.extras["control_points"] = {
          {opt.bends, cps[1].numel()},
          flat_values(std::vector<core::Adapter>(cps.begin() + 1, cps.end() - 1))};
      d.extras["loss_history"] = vec_array(h.loss);
      d.extras["t_history"] = vec_array(h.t);
      store::write_scan_file(opt.scan.out, d);
    }
    d = mpi.broadcast_scan(d, opt.scan.out);
  }
  const std::vector<core::Adapter> bends =
      unflat(cps.front(), d.extras.at("control_points"), opt.bends, opt.scan.out);
  std::copy(bends.begin(), bends.end(), cps.begin() + 1);

  d = evaluate_scan(
      setup, opt.scan, std::move(d),
      [&](int64_t p) { return combine(opt.scan.space, cps, curve_coefs(opt.kind, m, ts[p])); },
      "scan curve");
  if (!d.complete() || d.extras.count("barrier")) return d;

  // Lengths along the curve and length-weighted means (DMC's "int").
  const auto g = gram(opt.scan.space, cps, setup.scales);
  std::vector<double> dl;
  for (size_t i = 1; i < ts.size(); ++i) {
    const auto c1 = curve_coefs(opt.kind, m, ts[i]), c0 = curve_coefs(opt.kind, m, ts[i - 1]);
    double s = 0;
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) s += (c1[a] - c0[a]) * g[a][b] * (c1[b] - c0[b]);
    dl.push_back(std::sqrt(std::max(0.0, s)));
  }
  const size_t T = spec.tasks.size(), S = spec.scores.size();
  double total = 0;
  for (double x : dl) total += x;
  store::ScanArray lw{{static_cast<int64_t>(T), static_cast<int64_t>(S)}, {}};
  for (size_t t = 0; t < T; ++t)
    for (size_t s = 0; s < S; ++s) {
      double acc = 0;
      for (size_t i = 1; i < ts.size(); ++i)
        acc += 0.5 *
               (d.values[d.value_index(static_cast<int64_t>(i), t, s)] +
                d.values[d.value_index(static_cast<int64_t>(i - 1), t, s)]) *
               dl[i - 1];
      lw.values.push_back(total > 0 ? acc / total : std::nan(""));
    }
  d.extras["segment_lengths"] = vec_array(dl);
  d.extras["length_weighted_mean"] = lw;
  finish_path_scan(d);
  std::string verdicts;
  if (opt.compare_line) {
    std::vector<core::Adapter> line;
    for (double t : ts) line.push_back(combine(opt.scan.space, {a0, a1}, {1.0 - t, t}));
    store::ScanData l = d;
    if (mpi.rank() == 0)
      l.values = evaluate_adapters(setup, line, opt.scan.points_per_batch, "straight line");
    d.extras["line_values"] = {
        {static_cast<int64_t>(ts.size()), static_cast<int64_t>(T), static_cast<int64_t>(S)},
        l.values};
    const store::ScanArray lb = line_barriers(l), cb = d.extras.at("barrier");
    d.extras["line_barrier"] = lb;
    char buf[200];
    for (size_t t = 0; t < T; ++t) {
      const double lbv = lb.values[t * S], cbv = cb.values[t * S];
      const char* verdict = lbv <= 0.01        ? "the straight line had no barrier"
                            : cbv <= 0.1 * lbv ? "removed"
                            : cbv < lbv        ? "reduced"
                                               : "not reduced";
      std::snprintf(buf, sizeof buf, "%-12s loss barrier: straight line %+.4f, curve %+.4f: %s\n",
                    spec.tasks[t].c_str(), lbv, cbv, verdict);
      verdicts += buf;
    }
  }
  d.text["summary"] += verdicts;
  if (mpi.rank() == 0) store::write_scan_file(opt.scan.out, d);
  return d;
}

}  // namespace lorascape::analysis
