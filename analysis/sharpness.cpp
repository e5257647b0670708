#include "analysis/sharpness.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include "analysis/path.h"
#include "core/base_model.h"
#include "core/progress.h"
#include "core/run.h"
#include "core/text_codec.h"
#include "core/version.h"
#include "store/error.h"
#include "store/references.h"

namespace lorascape::analysis {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
}  // namespace

// ---------------------------------------------------------------------------------------
// LossHessian

LossHessian::LossHessian(core::TransformerImpl& model,
                         const std::vector<const core::Example*>& examples, int64_t batch)
    : model_(model) {
  if (!model.has_lora()) throw Error("LossHessian: the model carries no LoRA factors (add_lora)");
  if (batch < 1) throw ConfigError("sharpness: the batch (eval.batch) must be >= 1");
  if (examples.empty()) throw ConfigError("sharpness: no examples to take the loss over");
  model_.eval();
  const at::Tensor& w = model_.output_weight();
  for (size_t s = 0; s < examples.size(); s += static_cast<size_t>(batch)) {
    const size_t e = std::min(examples.size(), s + static_cast<size_t>(batch));
    std::vector<const core::Example*> chunk(examples.begin() + static_cast<std::ptrdiff_t>(s),
                                            examples.begin() + static_cast<std::ptrdiff_t>(e));
    core::TokenBatch b = model_.codec().encode_examples(chunk, model_.config().max_seq);
    tokens_ += b.mask.sum().item<double>();
    b.input = b.input.to(w.device());
    b.target = b.target.to(w.device());
    b.mask = b.mask.to(w.device(), w.scalar_type());
    batches_.push_back(std::move(b));
  }
  for (const at::Tensor& p : params()) dim_ += p.numel();
  if (dim_ == 0) throw ConfigError("sharpness: the model has no LoRA parameters");
}

std::vector<at::Tensor> LossHessian::params() {
  std::vector<at::Tensor> out;
  for (auto& [name, p] : model_.lora_parameters()) out.push_back(p);
  return out;
}

at::Tensor LossHessian::batch_loss(const core::TokenBatch& b) {
  const at::Tensor logits = model_.forward(b.input);  // (B, T, V)
  const int64_t V = logits.size(-1);
  const at::Tensor ce = at::cross_entropy_loss(logits.reshape({-1, V}), b.target.reshape({-1}), {},
                                               at::Reduction::None);  // (B·T)
  return (ce * b.mask.reshape({-1})).sum() / tokens_;
}

double LossHessian::loss() {
  model_.eval();
  torch::NoGradGuard ng;
  double l = 0;
  for (const auto& b : batches_) l += batch_loss(b).item<double>();
  return l;
}

namespace {
// Per-parameter tensors (on the parameters' device, in float64) flattened into one (dim)
// float64 CPU vector; undefined entries are zeros.
at::Tensor flatten_sum(const std::vector<at::Tensor>& acc, const std::vector<at::Tensor>& ps) {
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < ps.size(); ++i)
    parts.push_back(acc[i].defined()
                        ? acc[i].reshape({-1})
                        : at::zeros({ps[i].numel()}, ps[i].options().dtype(at::kDouble)));
  return at::cat(parts).to(at::kCPU).contiguous();
}

void accumulate(std::vector<at::Tensor>& acc, const std::vector<at::Tensor>& add) {
  for (size_t i = 0; i < acc.size(); ++i) {
    if (!add[i].defined()) continue;
    const at::Tensor a = add[i].detach().to(at::kDouble);
    acc[i] = acc[i].defined() ? acc[i] + a : a;
  }
}
}  // namespace

at::Tensor LossHessian::gradient() {
  model_.eval();
  torch::AutoGradMode grad_on(true);
  const std::vector<at::Tensor> ps = params();
  std::vector<at::Tensor> acc(ps.size());
  for (const auto& b : batches_)
    accumulate(acc,
               torch::autograd::grad({batch_loss(b)}, ps, {}, false, false, /*allow_unused=*/true));
  return flatten_sum(acc, ps);
}

at::Tensor LossHessian::hvp(const at::Tensor& v) {
  if (v.dim() != 1 || v.numel() != dim_)
    throw Error("LossHessian::hvp: vector of " + std::to_string(v.numel()) + " values, expected " +
                std::to_string(dim_));
  model_.eval();
  torch::AutoGradMode grad_on(true);
  const std::vector<at::Tensor> ps = params();
  // v split into the parameters' shapes, on their device and in their dtype.
  std::vector<at::Tensor> vs;
  {
    const at::Tensor vv = v.detach().to(ps[0].device(), ps[0].scalar_type());
    int64_t off = 0;
    for (const at::Tensor& p : ps) {
      vs.push_back(vv.narrow(0, off, p.numel()).view(p.sizes()));
      off += p.numel();
    }
  }
  std::vector<at::Tensor> acc(ps.size());
  for (const auto& b : batches_) {
    const at::Tensor l = batch_loss(b);
    const auto g = torch::autograd::grad({l}, ps, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                         /*allow_unused=*/true);
    at::Tensor gv;
    for (size_t i = 0; i < ps.size(); ++i) {
      if (!g[i].defined()) continue;
      const at::Tensor term = (g[i] * vs[i]).sum();
      gv = gv.defined() ? gv + term : term;
    }
    if (!gv.defined() || !gv.requires_grad()) continue;  // the gradient does not depend on θ here
    accumulate(acc, torch::autograd::grad({gv}, ps, {}, false, false, /*allow_unused=*/true));
  }
  return flatten_sum(acc, ps);
}

// ---------------------------------------------------------------------------------------
// Power iteration

Eigenpairs top_eigenvalues(const LinearOperator& op, int64_t dim, int k, double tol, int max_iter,
                           uint64_t seed, const IterationCallback& on_iteration) {
  if (dim < 1) throw ConfigError("power iteration needs a space of dimension >= 1");
  if (k < 1 || k > dim)
    throw ConfigError("`top` must be between 1 and the number of parameters (" +
                      std::to_string(dim) + "), got " + std::to_string(k));
  if (!(tol > 0) || !std::isfinite(tol))
    throw ConfigError("`tol` must be > 0 (got " + fmt("%g", tol) + ")");
  if (max_iter < 1)
    throw ConfigError("`max_iter` must be >= 1 (got " + std::to_string(max_iter) + ")");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Eigenpairs out;
  for (int j = 0; j < k; ++j) {
    at::Tensor v = at::randn({dim}, gen, f64);
    v = v / v.norm();
    double lambda = kNaN;
    bool converged = false;
    int it = 0;
    while (it < max_iter) {
      ++it;
      // Deflation: orthonormalise against the eigenvectors already found (PyHessian's
      // orthnormal, modified Gram-Schmidt).
      for (const at::Tensor& u : out.vectors) v = v - at::dot(v, u) * u;
      const double vn = v.norm().item<double>();
      if (!(vn >
            0)) {  // v fell into the span of the found vectors (k = dim): the operator's rest is 0
        lambda = 0;
        converged = true;
        break;
      }
      v = v / vn;
      const at::Tensor hv = op(v).to(at::kCPU, at::kDouble).reshape({-1});
      if (hv.numel() != dim)
        throw Error("power iteration: the operator returned " + std::to_string(hv.numel()) +
                    " values, expected " + std::to_string(dim));
      const double l = at::dot(hv, v).item<double>();  // Rayleigh quotient, signed
      const double hn = hv.norm().item<double>();
      if (on_iteration) on_iteration(j, it, l);
      if (!std::isfinite(l) || !std::isfinite(hn)) {  // a diverged loss: stop, report NaN
        lambda = kNaN;
        break;
      }
      if (hn == 0) {  // v is in the null space
        lambda = 0;
        converged = true;
        break;
      }
      v = hv / hn;
      // PyHessian's rule: relative change against the previous estimate.
      const bool stop = it > 1 && std::abs(lambda - l) / (std::abs(lambda) + 1e-6) < tol;
      lambda = l;
      if (stop) {
        converged = true;
        break;
      }
    }
    out.values.push_back(lambda);
    out.vectors.push_back(v);
    out.iterations.push_back(it);
    out.converged.push_back(converged);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// One point

core::Transformer sharpness_model(const std::string& base_path, core::LoraConfig lora,
                                  const c10::Device& device, at::ScalarType dtype) {
  core::Transformer m = core::load_base_model(base_path);
  lora.dropout = 0.0;
  m->add_lora(lora);
  m->to(device, dtype);
  m->eval();
  return m;
}

PointSharpness sharpness_at(core::TransformerImpl& model, const core::Adapter& adapter,
                            const std::vector<const core::Example*>& examples,
                            const SharpnessSettings& s, const IterationCallback& on_iteration) {
  adapter.load_into(model, "sharpness");
  LossHessian h(model, examples, s.batch);
  PointSharpness r;
  r.loss = h.loss();
  r.eig = top_eigenvalues([&](const at::Tensor& v) { return h.hvp(v); }, h.dim(), s.top, s.tol,
                          s.max_iter, s.seed, on_iteration);
  return r;
}

// ---------------------------------------------------------------------------------------
// The command

void check_sharpness_options(const SharpnessOptions& opt) {
  if (opt.at.empty() == opt.along.empty())
    throw ConfigError(
        "sharpness: give exactly one of `at` (an adapter) and `along` (a line scan file)");
  const SharpnessSettings& s = opt.settings;
  if (s.top < 1) throw ConfigError("`top` must be >= 1 (got " + std::to_string(s.top) + ")");
  if (!(s.tol > 0) || !std::isfinite(s.tol))
    throw ConfigError("`tol` must be > 0 (got " + fmt("%g", s.tol) + ")");
  if (s.max_iter < 1)
    throw ConfigError("`max_iter` must be >= 1 (got " + std::to_string(s.max_iter) + ")");
  if (opt.every < 1)
    throw ConfigError("`every` must be >= 1 (got " + std::to_string(opt.every) + ")");
  if (opt.examples < 0)
    throw ConfigError("`examples` must be >= 0 (0 = all; got " + std::to_string(opt.examples) +
                      ")");
  if (opt.split != "train" && opt.split != "eval" && opt.split != "test")
    throw ConfigError("`split` must be train, eval or test (got '" + opt.split + "')");
  if (opt.scan.dtype != "float32" && opt.scan.dtype != "float64")
    throw ConfigError("`dtype` must be float32 or float64 for sharpness (got '" + opt.scan.dtype +
                      "')");
}

LineSource read_line_source(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError("`along` " + path +
                      ": no such file (give a line scan file from `lorascape scan line`)");
  const store::ScanData d = store::read_scan_file(path);
  if (d.spec.kind != "line")
    throw ConfigError("`along` " + path + ": a scan of kind '" + d.spec.kind +
                      "', not a line scan (give a file from `lorascape scan line`)");
  LineSource s;
  for (const char* key : {"from", "to", "space"})
    if (!d.text.count(key))
      throw FormatError(path + ": line scan without text '" + key +
                        "' (rerun `lorascape scan line`)");
  // Stored relative to the line scan file (older files: as typed, store::resolve_ref).
  s.from = store::resolve_ref(d.text.at("from"), path);
  s.to = store::resolve_ref(d.text.at("to"), path);
  s.space = d.text.at("space");
  if (d.spec.axes.size() != 1 || d.spec.axes[0].empty())
    throw FormatError(path + ": a line scan needs one t axis");
  s.ts = d.spec.axes[0];
  try {
    const nlohmann::json cfg = nlohmann::json::parse(d.spec.config_json);
    if (cfg.contains("union")) s.union_tasks = cfg.at("union").get<std::vector<std::string>>();
    s.tasks = d.spec.tasks;
    if (!s.union_tasks.empty() && !s.tasks.empty() && s.tasks.back() == "union") s.tasks.pop_back();
    if (cfg.contains("adapter_digests"))
      s.adapter_digests = cfg.at("adapter_digests").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": config_json is not a line scan's configuration (" + e.what() + ")");
  }
  return s;
}

namespace {

// The first `n` (0 = all) training examples of every evaluated example set of `setup`, in
// its order (slot k of setup.examples is the task named by the set that uses it).
std::vector<std::vector<core::Example>> train_examples(const ScanSetup& setup,
                                                       const ScanOptions& opt,
                                                       const core::RunConfig& data, int64_t n) {
  std::vector<std::string> slot_task(setup.examples.size());
  const size_t plain = setup.set_names.size() - (opt.union_tasks.empty() ? 0 : 1);
  for (size_t t = 0; t < plain; ++t) slot_task[setup.set_members[t][0]] = setup.set_names[t];
  if (!opt.union_tasks.empty())
    for (size_t m = 0; m < opt.union_tasks.size(); ++m)
      slot_task[setup.set_members.back()[m]] = opt.union_tasks[m];
  const std::vector<core::Task> all = core::load_tasks(data);
  std::vector<std::vector<core::Example>> out;
  for (const std::string& name : slot_task) {
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const core::Task& t) { return t.name == name; });
    if (it == all.end()) throw ConfigError("unknown task '" + name + "'");
    const size_t k = n > 0 ? std::min(it->train.size(), static_cast<size_t>(n)) : it->train.size();
    if (k == 0)
      throw ConfigError("task '" + name + "' has no train examples to take the loss over");
    out.emplace_back(it->train.begin(), it->train.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return out;
}

store::ScanArray nan_array(std::vector<int64_t> shape) {
  store::ScanArray a;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  a.shape = std::move(shape);
  a.values.assign(static_cast<size_t>(n), kNaN);
  return a;
}

}  // namespace

store::ScanData run_sharpness(const SharpnessOptions& opt_in, const core::RunConfig& data_in,
                              const std::string& command_line) {
  check_sharpness_options(opt_in);
  SharpnessOptions opt = opt_in;
  const bool along = !opt.along.empty();
  LineSource line;
  std::vector<std::string> refs;
  if (along) {
    line = read_line_source(opt.along);
    opt.scan.space = line.space;
    if (opt.scan.tasks.empty() && opt.scan.union_tasks.empty()) {
      opt.scan.tasks = line.tasks;
      opt.scan.union_tasks = line.union_tasks;
    }
    refs = {line.from, line.to};
  } else {
    opt.scan.space = "factors";
    refs = {opt.at};
  }
  core::RunConfig data = data_in;
  data.eval.max_examples = opt.examples;
  if (opt.split != "train") data.eval.split = opt.split;
  SharpnessSettings s = opt.settings;
  s.batch = data.eval.batch;

  // prepare_scan checks the adapters, finds the base model and resolves the task sets; it
  // knows scans' dtypes and wants an output name, which sharpness handles itself.
  ScanOptions prep = opt.scan;
  prep.out = prep.out.empty() ? "(none)" : prep.out;
  prep.dtype = "float32";
  prep.shard = {};
  ScanSetup setup = prepare_scan(load_adapter_refs(refs), prep, data);
  if (along && line.adapter_digests.size() == 2)
    for (size_t i = 0; i < 2; ++i)
      if (adapter_digest(setup.anchors[i].adapter) != line.adapter_digests[i])
        throw ConfigError(
            "`along` " + opt.along + ": adapter '" + refs[i] +
            "' is not the one the line scan used (its values changed); rerun the line scan");
  if (opt.split == "train") setup.examples = train_examples(setup, opt.scan, data, opt.examples);

  // The points.
  std::vector<double> axis;
  if (along)
    for (size_t i = 0; i < line.ts.size(); i += static_cast<size_t>(opt.every))
      axis.push_back(line.ts[i]);
  else
    axis = {0.0};
  auto point = [&](int64_t p) -> core::Adapter {
    if (!along) return setup.anchors[0].adapter;
    const double t = axis[static_cast<size_t>(p)];
    return combine(opt.scan.space, {setup.anchors[0].adapter, setup.anchors[1].adapter},
                   {1.0 - t, t});
  };

  // The scan's identity: everything that changes the numbers.
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["kind"] = "sharpness";
  cfg["data"]["split"] = opt.split;
  cfg["data"]["max_examples"] = opt.examples;
  cfg["mode"] = along ? "along" : "at";
  if (along) {
    cfg["line_ts"] = line.ts;
    cfg["every"] = opt.every;
  }
  cfg["top"] = s.top;
  cfg["tol"] = s.tol;
  cfg["max_iter"] = s.max_iter;
  cfg["seed"] = s.seed;
  cfg["loss"] = "token-weighted mean answer-token cross-entropy";
  cfg["stopping"] = "|lambda - lambda_prev| / (|lambda_prev| + 1e-6) < tol, or max_iter";
  store::ScanSpec spec;
  spec.kind = "sharpness";
  spec.config_json = cfg.dump();
  spec.tasks = setup.set_names;
  for (int j = 1; j <= s.top; ++j) spec.scores.push_back("lambda_" + std::to_string(j));
  spec.axes = {axis};

  const bool to_file = !opt.scan.out.empty();
  store::ScanData d = to_file ? open_scan(opt.scan, spec, command_line, setup)
                              : store::new_scan(spec, {}, kVersion, command_line);
  if (!to_file) describe_task_sets(d, setup, opt.scan);
  d.text["space"] = opt.scan.space;
  if (along) {
    d.text["along"] = store::ref_for_scan(opt.along, opt.scan.out);
    d.text["from"] = store::ref_for_scan(line.from, opt.scan.out);
    d.text["to"] = store::ref_for_scan(line.to, opt.scan.out);
  } else {
    d.text["at"] = store::ref_for_scan(opt.at, opt.scan.out);
  }
  const int64_t P = d.num_points();
  const auto T = static_cast<int64_t>(setup.set_names.size());
  const int64_t K = s.top;
  if (!d.extras.count("iterations")) d.extras["iterations"] = nan_array({P, T, K});
  if (!d.extras.count("converged")) d.extras["converged"] = nan_array({P, T, K});
  if (!d.extras.count("loss")) d.extras["loss"] = nan_array({P, T});

  std::vector<int64_t> todo;
  for (int64_t p = 0; p < P; ++p)
    if (!d.done[static_cast<size_t>(p)]) todo.push_back(p);
  if (!todo.empty()) {
    const at::ScalarType dtype = opt.scan.dtype == "float64" ? at::kDouble : at::kFloat;
    core::Transformer model = sharpness_model(
        setup.base_path, core::lora_config_for(setup.scales, point(todo[0])), setup.device, dtype);
    core::set_prompt_template(*model, setup.data.tasks.prompt_template);
    std::vector<std::vector<const core::Example*>> sets(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t)
      for (size_t m : setup.set_members[static_cast<size_t>(t)])
        for (const core::Example& e : setup.examples[m]) sets[static_cast<size_t>(t)].push_back(&e);

    core::Progress bar("sharpness", static_cast<int64_t>(todo.size()) * T, true, "points");
    int64_t finished = 0;
    for (int64_t p : todo) {
      const core::Adapter a = point(p).to(setup.device);
      for (int64_t t = 0; t < T; ++t) {
        const std::string& name = setup.set_names[static_cast<size_t>(t)];
        const PointSharpness r =
            sharpness_at(*model, a, sets[static_cast<size_t>(t)], s, [&](int j, int it, double l) {
              bar.update(finished, name + " lambda_" + std::to_string(j + 1) + " " +
                                       fmt("%.4g", l) + " (it " + std::to_string(it) + ")");
            });
        d.extras["loss"].values[static_cast<size_t>(p * T + t)] = r.loss;
        for (int64_t j = 0; j < K; ++j) {
          const auto i = static_cast<size_t>((p * T + t) * K + j);
          d.values[i] = r.eig.values[static_cast<size_t>(j)];
          d.extras["iterations"].values[i] = r.eig.iterations[static_cast<size_t>(j)];
          d.extras["converged"].values[i] = r.eig.converged[static_cast<size_t>(j)] ? 1.0 : 0.0;
        }
        bar.update(++finished);
      }
      d.done[static_cast<size_t>(p)] = 1;
      if (to_file)
        store::write_scan_file(opt.scan.out, d);  // atomic: a kill loses at most this point
    }
    bar.finish();
  }
  bool changed = false;
  size_t bad = 0;
  for (size_t p = 0; p < d.done.size(); ++p)
    if (d.done[p])
      for (int64_t j = 0; j < T * K; ++j)
        if (!std::isfinite(d.values[p * static_cast<size_t>(T * K) + static_cast<size_t>(j)]))
          ++bad;
  if (bad > 0) {
    const std::string note = std::to_string(bad) + " eigenvalues are NaN or inf (a diverged loss)";
    if (d.text["non_finite"] != note) {
      d.text["non_finite"] = note;
      changed = true;
    }
  }
  if (d.complete() && !d.text.count("summary")) {
    d.text["summary"] = sharpness_table(d);
    changed = true;
  }
  if (changed && to_file) store::write_scan_file(opt.scan.out, d);
  return d;
}

std::string sharpness_table(const store::ScanData& d) {
  if (d.spec.kind != "sharpness")
    throw FormatError("not a sharpness scan (kind '" + d.spec.kind + "')");
  const bool along = d.text.count("along") > 0;
  const size_t P = static_cast<size_t>(d.num_points()), T = d.spec.tasks.size(),
               K = d.spec.scores.size();
  auto extra = [&](const char* name, size_t i) {
    const auto it = d.extras.find(name);
    return it != d.extras.end() && i < it->second.values.size() ? it->second.values[i] : kNaN;
  };
  std::ostringstream s;
  char buf[256];
  if (along)
    s << "sharpness along " << d.text.at("along") << " ("
      << (d.text.count("from") ? d.text.at("from") : "?") << " -> "
      << (d.text.count("to") ? d.text.at("to") : "?") << ", "
      << (d.text.count("space") ? d.text.at("space") : "?") << " space)\n";
  else
    s << "sharpness at " << (d.text.count("at") ? d.text.at("at") : "?") << "\n";
  try {
    const nlohmann::json cfg = nlohmann::json::parse(d.spec.config_json);
    const int64_t n = cfg.at("data").at("max_examples").get<int64_t>();
    std::snprintf(
        buf, sizeof buf,
        "loss over %s %s examples per task; top %lld by |lambda|, tol %g, at most %d iterations\n",
        n > 0 ? std::to_string(n).c_str() : "all",
        cfg.at("data").at("split").get<std::string>().c_str(), static_cast<long long>(K),
        cfg.at("tol").get<double>(), cfg.at("max_iter").get<int>());
    s << buf;
  } catch (const nlohmann::json::exception&) {
  }
  s << "\n";
  size_t width = 8;
  for (const auto& t : d.spec.tasks) width = std::max(width, t.size());
  std::string head = along ? "       t " : "";
  std::snprintf(buf, sizeof buf, "%-*s %10s", static_cast<int>(width), "task set", "loss");
  head += buf;
  for (const auto& score : d.spec.scores) {
    std::snprintf(buf, sizeof buf, "  %12s %5s", score.c_str(), "iters");
    head += buf;
  }
  s << head << "\n";
  bool unconverged = false;
  for (size_t p = 0; p < P; ++p)
    for (size_t t = 0; t < T; ++t) {
      if (along) {
        std::snprintf(buf, sizeof buf, "%+8.3f ", d.spec.axes.at(0).at(p));
        s << buf;
      }
      if (!d.done[p]) {
        std::snprintf(buf, sizeof buf, "%-*s (not computed)\n", static_cast<int>(width),
                      d.spec.tasks[t].c_str());
        s << buf;
        continue;
      }
      std::snprintf(buf, sizeof buf, "%-*s %10.4f", static_cast<int>(width),
                    d.spec.tasks[t].c_str(), extra("loss", p * T + t));
      s << buf;
      for (size_t j = 0; j < K; ++j) {
        const size_t i = (p * T + t) * K + j;
        const bool ok = extra("converged", i) == 1.0;
        unconverged = unconverged || !ok;
        std::snprintf(buf, sizeof buf, "  %11.5g%s %5.0f", d.values[i], ok ? " " : "*",
                      extra("iterations", i));
        s << buf;
      }
      s << "\n";
    }
  if (unconverged) s << "* not converged within the iteration cap (raise --max-iter or --tol)\n";
  return s.str();
}

}  // namespace lorascape::analysis
