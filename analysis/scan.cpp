#include "analysis/scan.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "analysis/mpi.h"
#include "analysis/path.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/evaluate.h"
#include "core/progress.h"
#include "core/run.h"
#include "core/text_codec.h"
#include "core/train.h"
#include "core/version.h"
#include "store/error.h"
#include "store/references.h"
#include "store/run_file.h"
#include "store/task_roles.h"

namespace lorascape::analysis {

const std::vector<std::string>& scan_scores() {
  static const std::vector<std::string> s{"loss", "token_acc", "exact_match"};
  return s;
}

std::string adapter_digest(const core::Adapter& a) {
  at::Tensor f = a.flatten().to(at::kCPU).to(at::kFloat).contiguous();
  const auto* p = reinterpret_cast<const unsigned char*>(f.data_ptr<float>());
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < f.numel() * 4; ++i) h = (h ^ p[i]) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

store::Shard parse_shard(const std::string& text) {
  store::Shard s;
  if (text.empty()) return s;
  const auto slash = text.find('/');
  size_t used_k = 0, used_n = 0;
  try {
    if (slash == std::string::npos) throw std::invalid_argument(text);
    s.index = std::stoi(text.substr(0, slash), &used_k);
    s.count = std::stoi(text.substr(slash + 1), &used_n);
  } catch (const std::exception&) {
    throw ConfigError("`shard` '" + text + "': expected k/N (e.g. 2/4)");
  }
  if (used_k != slash || used_n != text.size() - slash - 1)
    throw ConfigError("`shard` '" + text + "': expected k/N (e.g. 2/4)");
  if (s.count < 1 || s.index < 1 || s.index > s.count)
    throw ConfigError("`shard` k/N needs 1 <= k <= N (got " + text + ")");
  return s;
}

std::vector<double> parse_numbers(const std::string& text, size_t count,
                                  const std::string& option) {
  std::vector<double> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    size_t used = 0;
    try {
      out.push_back(std::stod(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(out.back()))
      throw ConfigError(option + " '" + text + "': '" + item + "' is not a number");
  }
  if (out.size() != count)
    throw ConfigError(option + " '" + text + "': expected " + std::to_string(count) +
                      " comma-separated numbers");
  return out;
}

std::vector<AdapterSource> load_adapter_refs(const std::vector<std::string>& refs) {
  std::vector<AdapterSource> out;
  for (const auto& r : refs) out.push_back(load_adapter_ref(r));
  return out;
}

core::RunConfig scan_data_config(const std::string& ref, const core::RunConfig& fallback,
                                 bool explicit_config, const std::vector<std::string>& overrides) {
  const auto colon = ref.rfind(".h5:");
  if (explicit_config || colon == std::string::npos) return fallback;
  const std::string path = ref.substr(0, colon + 3);
  const store::RunFileData run = store::read_run_file(path, store::TensorSelection::none());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(run.config_json);
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": /config_json is not valid JSON (give the task data with `config`)");
  }
  core::RunConfig cfg = core::config_from_json(j, path + ": /config_json");
  // The command's own settings win: its overrides (e.g. eval.max_examples), then the device
  // and threads of this machine.
  for (const auto& o : overrides) core::apply_override(cfg, o);
  cfg.device = fallback.device;
  cfg.threads = fallback.threads;
  cfg.validate();
  return cfg;
}

namespace {

std::string base_model_for(const ScanOptions& opt, const AdapterSource& a) {
  if (!opt.base.empty()) {
    if (!std::filesystem::exists(opt.base))
      throw ConfigError("`base` " + opt.base + ": no such file");
    return opt.base;
  }
  if (a.base_model.empty())
    throw ConfigError("'" + a.label +
                      "' does not name its base model; set `base` to the base model file");
  const std::string path = core::cache_dir() + "/" + a.base_model;
  // A run trained on a given base (a file or model folder): that path, if it still holds the
  // model the run recorded.
  if (!std::filesystem::exists(path) && !a.base_model_path.empty() &&
      std::filesystem::exists(a.base_model_path) &&
      (a.base_model_digest.empty() || core::file_digest(a.base_model_path) == a.base_model_digest))
    return a.base_model_path;
  if (!std::filesystem::exists(path))
    throw ConfigError("base model '" + a.base_model + "' of '" + a.label +
                      "' is not in the cache (" + core::cache_dir() +
                      "); set `base` to the base model file");
  return path;
}

}  // namespace

void check_adapters(const std::vector<AdapterSource>& adapters, const std::string& space) {
  check_same_space(adapters, space);
  for (const auto& s : adapters)
    for (const auto& [name, t] : s.adapter.entries())
      if (!at::isfinite(t).all().item<bool>())
        throw ConfigError("'" + s.label + "': tensor " + name +
                          " holds NaN or inf values; a scan needs finite adapters");
}

ScanSetup prepare_scan(std::vector<AdapterSource> anchors, const ScanOptions& opt,
                       const core::RunConfig& data) {
  check_space(opt.space);
  if (opt.out.empty()) throw ConfigError("`out` (the scan file to write) is required");
  if (opt.shard.count < 1 || opt.shard.index < 1 || opt.shard.index > opt.shard.count)
    throw ConfigError("`shard` k/N needs 1 <= k <= N");
  if (opt.dtype != "float32" && opt.dtype != "bfloat16")
    throw ConfigError("`dtype` must be float32 or bfloat16 (got '" + opt.dtype + "')");
  if (opt.points_per_batch < 0)
    throw ConfigError("`points_per_batch` must be >= 0 (0 = automatic)");
  if (anchors.empty()) throw ConfigError("a scan needs at least one adapter");
  check_adapters(anchors, opt.space);

  ScanSetup s;
  s.base_path = base_model_for(opt, anchors[0]);
  s.base_digest = core::file_digest(s.base_path);
  for (const AdapterSource& a : anchors)
    if (!a.base_model_digest.empty() && a.base_model_digest != s.base_digest)
      throw ConfigError("base model " + s.base_path + " (digest " + s.base_digest +
                        ") is not the one '" + a.label + "' was trained on (" +
                        a.base_model_digest + "); pass the right `base`");
  // Delta space takes adapters of different ranks and targets: one list of modules for all.
  s.scales = opt.space == "delta" ? align_for_delta(anchors)
                                  : core::lora_scales(anchors[0].lora, anchors[0].adapter);
  s.anchors = std::move(anchors);
  s.data = data;
  core::set_threads(data.threads);
  s.device = core::resolve_device(data.device);
  // MPI ranks on a GPU node share its GPUs: local rank % devices.
  if (s.device.is_cuda() && Mpi::instance().size() > 1)
    s.device = c10::Device(
        c10::kCUDA, static_cast<c10::DeviceIndex>(Mpi::instance().local_rank() %
                                                  std::max<int64_t>(1, core::cuda_device_count())));
  s.dtype = opt.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;

  const std::vector<core::Task> all = core::load_tasks(data);
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].name == name) return i;
    std::string known;
    for (const auto& t : all) known += (known.empty() ? "" : ", ") + t.name;
    throw ConfigError("unknown task '" + name + "' in `tasks`/`union` (the data has: " + known +
                      ")");
  };
  std::vector<size_t> evaluated;  // task indices, in order of first use
  auto slot = [&](const std::string& name) {
    const size_t t = index_of(name);
    for (size_t k = 0; k < evaluated.size(); ++k)
      if (evaluated[k] == t) return k;
    evaluated.push_back(t);
    return evaluated.size() - 1;
  };
  std::vector<std::string> names = opt.tasks;
  if (names.empty())
    for (const auto& t : all) names.push_back(t.name);
  for (const auto& n : names) {
    s.set_names.push_back(n);
    s.set_members.push_back({slot(n)});
  }
  if (!opt.union_tasks.empty()) {
    s.set_names.push_back("union");
    s.set_members.emplace_back();
    for (const auto& n : opt.union_tasks) s.set_members.back().push_back(slot(n));
  }
  s.tasks = all;
  for (size_t t : evaluated) {
    const auto& ex = core::eval_split(all[t], data);
    const size_t n = data.eval.max_examples > 0
                         ? std::min(ex.size(), static_cast<size_t>(data.eval.max_examples))
                         : ex.size();
    if (n == 0)
      throw ConfigError("task '" + all[t].name + "' has no " + data.eval.split +
                        " examples to evaluate");
    s.examples.emplace_back(ex.begin(), ex.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return s;
}

nlohmann::json ScanSetup::identity(const ScanOptions& opt) const {
  nlohmann::json digests = nlohmann::json::array();
  for (const auto& a : anchors) digests.push_back(adapter_digest(a.adapter));
  nlohmann::json id = {{"adapter_digests", digests},
                       {"space", opt.space},
                       {"tasks", set_names},
                       {"union", opt.union_tasks},
                       {"base_model_digest", base_digest},
                       {"data",
                        {{"seed", data.seed},
                         {"source", data.tasks.source},
                         {"train", data.tasks.train},
                         {"eval", data.tasks.eval},
                         {"test", data.tasks.test},
                         {"split", data.eval.split},
                         {"max_examples", data.eval.max_examples},
                         {"batch", data.eval.batch}}},
                       {"device", device.type() == c10::kCUDA ? "cuda" : "cpu"},
                       {"dtype", opt.dtype}};
  // Only a template other than the default is named, so the identities of earlier scans stand.
  if (data.tasks.prompt_template != core::kDefaultPromptTemplate)
    id["data"]["template"] = data.tasks.prompt_template;
  return id;
}

store::ScanSpec scan_spec(const std::string& kind, const ScanSetup& setup, nlohmann::json cfg,
                          std::vector<std::vector<double>> axes) {
  cfg["kind"] = kind;
  store::ScanSpec spec;
  spec.kind = kind;
  spec.config_json = cfg.dump();
  spec.tasks = setup.set_names;
  spec.scores = scan_scores();
  spec.axes = std::move(axes);
  return spec;
}

namespace {

// `spec`, or the spec of the file at `out` when that file was written before references left
// the identity and holds the same scan otherwise (open_scan).
store::ScanSpec adopt_older_identity(const std::string& out, store::ScanSpec spec) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(out, ec)) return spec;
  store::ScanData old;
  try {
    old = store::read_scan_file(out);
  } catch (const Error&) {
    return spec;  // open_or_create_scan says what is wrong with it
  }
  if (old.spec.kind != spec.kind || old.spec.config_json == spec.config_json) return spec;
  const auto was = nlohmann::json::parse(old.spec.config_json, nullptr, false);
  auto now = nlohmann::json::parse(spec.config_json, nullptr, false);
  if (!was.is_object() || !now.is_object() || !was.contains("adapters")) return spec;
  for (const char* key : {"adapters", "along", "run"})
    if (was.contains(key) && !now.contains(key)) now[key] = was[key];
  if (now.dump() == old.spec.config_json) spec.config_json = old.spec.config_json;
  return spec;
}

}  // namespace

store::LearnedTasks learned_tasks(const AdapterSource& a) {
  const nlohmann::json& info = a.info;
  if (!info.is_object() || !info.contains("run_tasks") || !info["run_tasks"].is_array() ||
      !info.contains("method") || !info["method"].is_string())
    return {};
  std::vector<std::string> sequence;
  for (const auto& t : info["run_tasks"]) {
    if (!t.is_string()) return {};
    sequence.push_back(t.get<std::string>());
  }
  const std::string method = info["method"].get<std::string>();
  int stage = 0;
  if (info.contains("stage") && info["stage"].is_number_integer()) {
    stage = info["stage"].get<int>();
  } else if (info.contains("task") && info["task"].is_string()) {  // a snapshot while training it
    const auto it = std::find(sequence.begin(), sequence.end(), info["task"].get<std::string>());
    if (it != sequence.end()) stage = static_cast<int>(it - sequence.begin()) + 1;
  }
  return store::learned_at_stage(method, stage, sequence);
}

void describe_task_sets(store::ScanData& d, const ScanSetup& setup, const ScanOptions& opt) {
  std::vector<store::LearnedTasks> learned;
  std::vector<std::string> refs;
  for (const auto& a : setup.anchors) {
    learned.push_back(learned_tasks(a));
    refs.push_back(store::ref_for_scan(a.label, opt.out));
  }
  d.text["roles"] = store::join_lines(store::task_roles(setup.set_names, learned));
  if (!opt.union_tasks.empty())
    d.text["union"] = store::join_lines(opt.union_tasks);
  else
    d.text.erase("union");
  d.text["adapters"] = store::join_lines(refs);
}

store::ScanData open_scan(const ScanOptions& opt, const store::ScanSpec& spec_in,
                          const std::string& command_line, const ScanSetup& setup) {
  // Under MPI rank 0 creates the file; the others open it once it exists.
  Mpi& mpi = Mpi::instance();
  const store::ScanSpec spec = adopt_older_identity(opt.out, spec_in);
  store::ScanData d;
  if (mpi.rank() == 0)
    d = store::open_or_create_scan(opt.out, spec, opt.shard, kVersion, command_line);
  mpi.barrier();
  if (mpi.rank() != 0)
    d = store::open_or_create_scan(opt.out, spec, opt.shard, kVersion, command_line);
  d.text["space"] = opt.space;
  describe_task_sets(d, setup, opt);
  return d;
}

core::TransformerImpl& ScanSetup::load_model() {
  if (!model) {
    model = core::load_base_model(base_path);
    core::set_prompt_template(*model, data.tasks.prompt_template);
    model->l2p_top_n = data.l2p.top_n;  // the N of l2p pool points (the run's setting)
    model->to(device, dtype);
    model->eval();
  }
  return *model;
}

namespace {

// Values (points, T, S) of the adapters with the points loaded into `ev` at once.
std::vector<double> evaluate_with(core::Evaluator& ev, const ScanSetup& setup,
                                  const std::vector<core::Adapter>& adapters) {
  const size_t T = setup.set_names.size(), S = scan_scores().size();
  std::vector<double> values(adapters.size() * T * S);
  if (adapters.empty()) return values;
  std::vector<core::Adapter> on_device;
  for (const auto& a : adapters) on_device.push_back(a.to(setup.device));
  ev.load_points(on_device);
  std::vector<core::ScoreSums> sums;
  for (const auto& ex : setup.examples) sums.push_back(ev.evaluate(ex));
  for (size_t t = 0; t < T; ++t) {
    core::ScoreSums total = sums[setup.set_members[t][0]];
    for (size_t m = 1; m < setup.set_members[t].size(); ++m) total += sums[setup.set_members[t][m]];
    for (size_t k = 0; k < adapters.size(); ++k) {
      const core::Scores sc = total.scores(static_cast<int64_t>(k));
      const double v[] = {sc.loss, sc.token_acc, sc.exact_match};
      for (size_t j = 0; j < S; ++j) values[(k * T + t) * S + j] = v[j];
    }
  }
  return values;
}

}  // namespace

namespace {

// Values (points, T, S) of the adapters: chunks of K points spread over the pool's workers.
std::vector<double> evaluate_points(core::EvaluatorPool& pool, const ScanSetup& setup,
                                    const std::vector<core::Adapter>& adapters, int64_t K) {
  const size_t width = setup.set_names.size() * scan_scores().size();
  std::vector<double> values(adapters.size() * width);
  const auto chunks =
      static_cast<int64_t>((adapters.size() + static_cast<size_t>(K) - 1) / static_cast<size_t>(K));
  pool.for_each(chunks, [&](core::Evaluator& ev, int64_t c) {
    const size_t from = static_cast<size_t>(c * K),
                 to = std::min(adapters.size(), from + static_cast<size_t>(K));
    const std::vector<core::Adapter> chunk(adapters.begin() + static_cast<std::ptrdiff_t>(from),
                                           adapters.begin() + static_cast<std::ptrdiff_t>(to));
    const std::vector<double> v = evaluate_with(ev, setup, chunk);
    std::copy(v.begin(), v.end(), values.begin() + static_cast<std::ptrdiff_t>(from * width));
  });
  return values;
}

}  // namespace

int64_t ScanSetup::workers() const {
  return device.is_cpu() ? at::get_num_threads() : 1;
}

int64_t ScanSetup::points_per_batch(int64_t requested) {
  if (requested > 0) return requested;
  // On CPUs batching points does not pay (docs/performance.md): one point per forward, and
  // the cores split the points (workers). On a GPU, as many points as fit the budget.
  return device.is_cpu()
             ? 1
             : core::Evaluator(load_model(), scales, data.eval.batch).points_per_batch();
}

std::vector<double> evaluate_adapters(ScanSetup& setup, const std::vector<core::Adapter>& points,
                                      int64_t points_per_batch, const std::string& label) {
  core::EvaluatorPool pool(setup.load_model(), setup.scales, setup.data.eval.batch,
                           static_cast<int>(setup.workers()));
  const int64_t K = setup.points_per_batch(points_per_batch);
  const auto round = static_cast<size_t>(K * pool.workers());
  core::Progress bar(label, static_cast<int64_t>(points.size()), true, "points");
  std::vector<double> out;
  for (size_t i = 0; i < points.size(); i += round) {
    const std::vector<core::Adapter> part(
        points.begin() + static_cast<std::ptrdiff_t>(i),
        points.begin() + static_cast<std::ptrdiff_t>(std::min(points.size(), i + round)));
    const auto v = evaluate_points(pool, setup, part, K);
    out.insert(out.end(), v.begin(), v.end());
    bar.update(static_cast<int64_t>(i + part.size()));
  }
  bar.finish();
  return out;
}

store::ScanData evaluate_scan(ScanSetup& setup, const ScanOptions& opt, store::ScanData d,
                              const std::function<core::Adapter(int64_t)>& point,
                              const std::string& label) {
  Mpi& mpi = Mpi::instance();
  // MPI: every rank takes an interleaved share of this shard's points; rank 0 writes.
  std::vector<int64_t> todo;
  {
    const auto mine = store::shard_points(d.num_points(), opt.shard.index, opt.shard.count);
    std::vector<int64_t> missing;
    for (int64_t p : mine)
      if (!d.done[static_cast<size_t>(p)]) missing.push_back(p);
    for (size_t i = 0; i < missing.size(); ++i)
      if (static_cast<int>(i % static_cast<size_t>(mpi.size())) == mpi.rank())
        todo.push_back(missing[i]);
  }
  core::EvaluatorPool pool(setup.load_model(), setup.scales, setup.data.eval.batch,
                           static_cast<int>(setup.workers()));
  const int64_t per_forward = setup.points_per_batch(opt.points_per_batch);
  const int64_t K = per_forward * pool.workers();  // points per round of this rank
  const size_t T = setup.set_names.size(), S = scan_scores().size();
  // Rounds of K points per rank; every rank runs the same number of rounds so rank 0 can
  // collect a round's results from all ranks before writing.
  const int64_t rounds_mine = (static_cast<int64_t>(todo.size()) + K - 1) / K;
  const int64_t rounds = mpi.max_over_ranks(rounds_mine);
  core::Progress bar(
      mpi.size() > 1 ? label + " (" + std::to_string(mpi.size()) + " MPI ranks)" : label,
      mpi.sum_over_ranks(static_cast<int64_t>(todo.size())), mpi.rank() == 0, "points");
  int64_t finished = 0;
  const bool hooks = mpi.size() == 1;
  for (int64_t r = 0; r < rounds; ++r) {
    if (hooks && opt.cancelled && opt.cancelled()) break;  // the file holds every finished batch
    std::vector<int64_t> batch;
    for (int64_t i = r * K; i < std::min<int64_t>((r + 1) * K, static_cast<int64_t>(todo.size()));
         ++i)
      batch.push_back(todo[static_cast<size_t>(i)]);
    std::vector<core::Adapter> adapters;
    for (int64_t p : batch) adapters.push_back(point(p));
    const std::vector<double> values =
        evaluate_points(pool, setup, adapters, per_forward);  // (points, T, S)
    // Rank 0 gathers every rank's (points, values) of this round; a single process has itself.
    std::vector<int64_t> all_points;
    std::vector<double> all_values;
    mpi.gather_to_root(batch, values, all_points, all_values);
    if (mpi.rank() == 0) {
      for (size_t k = 0; k < all_points.size(); ++k) {
        const auto p = static_cast<size_t>(all_points[k]);
        for (size_t t = 0; t < T * S; ++t) d.values[p * T * S + t] = all_values[k * T * S + t];
        d.done[p] = 1;
      }
      store::write_scan_file(opt.out, d);  // atomic: a kill loses at most this round
    }
    finished += mpi.sum_over_ranks(static_cast<int64_t>(batch.size()));
    bar.update(finished);
    if (hooks && opt.on_progress) opt.on_progress(finished, static_cast<int64_t>(todo.size()));
  }
  bar.finish();
  if (mpi.size() > 1) d = mpi.broadcast_scan(d, opt.out);
  size_t bad = 0;
  for (size_t p = 0; p < d.done.size(); ++p)
    if (d.done[p])
      for (size_t j = 0; j < T * S; ++j)
        if (!std::isfinite(d.values[p * T * S + j])) ++bad;
  if (bad > 0) {
    const std::string note =
        std::to_string(bad) + " stored values are NaN or inf (a diverged evaluation)";
    if (d.text["non_finite"] != note) {
      d.text["non_finite"] = note;
      if (mpi.rank() == 0) store::write_scan_file(opt.out, d);
    }
  }
  return d;
}

}  // namespace lorascape::analysis
