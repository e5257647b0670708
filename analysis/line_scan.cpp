#include "analysis/line_scan.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include "analysis/adapter_ref.h"
#include "analysis/path.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/run.h"
#include "core/store/run_file.h"
#include "core/train.h"
#include "core/version.h"

namespace lorascape::analysis {

namespace {

const std::vector<std::string> kScores{"loss", "token_acc", "exact_match"};

// FNV-1a over an adapter's float values: the identity of a scan's endpoint, so a resumed scan
// never mixes points of adapters that changed under the same reference.
std::string adapter_digest(const core::Adapter& a) {
  at::Tensor f = a.flatten().to(at::kCPU).to(at::kFloat).contiguous();
  const auto* p = reinterpret_cast<const unsigned char*>(f.data_ptr<float>());
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < f.numel() * 4; ++i) h = (h ^ p[i]) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string base_model_for(const LineScanOptions& opt, const AdapterSource& a) {
  if (!opt.base.empty()) return opt.base;
  if (a.base_model.empty())
    throw ConfigError("'" + a.label + "' does not name its base model; pass --base FILE");
  const std::string path = core::cache_dir() + "/" + a.base_model;
  if (!std::filesystem::exists(path))
    throw ConfigError("base model '" + a.base_model + "' of '" + a.label + "' is not in the cache (" +
                      core::cache_dir() + "); pass --base FILE");
  return path;
}

}  // namespace

core::RunConfig scan_data_config(const std::string& from, const core::RunConfig& fallback, bool explicit_config) {
  const auto colon = from.rfind(".h5:");
  if (explicit_config || colon == std::string::npos) return fallback;
  const std::string path = from.substr(0, colon + 3);
  const store::RunFileData run = store::read_run_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(run.config_json);
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": /config_json is not valid JSON (pass --config to give the task data)");
  }
  core::RunConfig cfg = core::config_from_json(j, path + ": /config_json");
  // Device and threads are properties of this machine, not of the run.
  cfg.device = fallback.device;
  cfg.threads = fallback.threads;
  return cfg;
}

store::ScanData run_line_scan(const LineScanOptions& opt, const core::RunConfig& data, const std::string& command_line) {
  if (opt.points < 1) throw ConfigError("--points must be >= 1");
  if (opt.space != "factors" && opt.space != "delta")
    throw ConfigError("--space must be factors or delta (got '" + opt.space + "')");
  if (opt.out.empty()) throw ConfigError("--out FILE.h5 is required");
  if (opt.shard.count < 1 || opt.shard.index < 1 || opt.shard.index > opt.shard.count)
    throw ConfigError("--shard k/N needs 1 <= k <= N");
  const AdapterSource a = load_adapter_ref(opt.from), b = load_adapter_ref(opt.to);
  check_same_space({a, b});
  const std::string base = base_model_for(opt, a);
  const std::string digest = core::file_digest(base);
  for (const AdapterSource* s : {&a, &b})
    if (!s->base_model_digest.empty() && s->base_model_digest != digest)
      throw ConfigError("base model " + base + " (digest " + digest + ") is not the one '" + s->label +
                        "' was trained on (" + s->base_model_digest + "); pass the right --base");

  core::set_threads(data.threads);
  const c10::Device device = core::resolve_device(data.device);
  const std::vector<core::Task> all = core::load_tasks(data);
  auto find = [&](const std::string& name) -> const core::Task& {
    for (const auto& t : all)
      if (t.name == name) return t;
    std::string known;
    for (const auto& t : all) known += (known.empty() ? "" : ", ") + t.name;
    throw ConfigError("--tasks: unknown task '" + name + "' (the data has: " + known + ")");
  };
  auto split = [&](const core::Task& t) {
    const auto& ex = core::eval_split(t, data);
    const size_t n = data.eval.max_examples > 0 ? std::min(ex.size(), static_cast<size_t>(data.eval.max_examples)) : ex.size();
    return std::vector<core::Example>(ex.begin(), ex.begin() + static_cast<std::ptrdiff_t>(n));
  };
  std::vector<std::string> names = opt.tasks;
  if (names.empty())
    for (const auto& t : all) names.push_back(t.name);
  std::vector<std::pair<std::string, std::vector<core::Example>>> sets;
  for (const auto& n : names) sets.emplace_back(n, split(find(n)));
  if (!opt.union_tasks.empty()) {
    std::vector<core::Example> u;
    for (const auto& n : opt.union_tasks) {
      auto s = split(find(n));
      u.insert(u.end(), s.begin(), s.end());
    }
    sets.emplace_back("union", std::move(u));
  }

  const std::vector<double> ts = path_ts(opt.points, opt.t0, opt.t1);
  auto point = [&](double t) { return opt.space == "delta" ? interpolate_delta(a.adapter, b.adapter, t)
                                                           : interpolate_factors(a.adapter, b.adapter, t); };
  nlohmann::json cfg = {
      {"kind", "line"}, {"from", opt.from}, {"to", opt.to}, {"from_digest", adapter_digest(a.adapter)},
      {"to_digest", adapter_digest(b.adapter)}, {"points", opt.points}, {"range", {opt.t0, opt.t1}},
      {"space", opt.space}, {"tasks", names}, {"union", opt.union_tasks}, {"base_model_digest", digest},
      {"data", {{"seed", data.seed}, {"source", data.tasks.source}, {"train", data.tasks.train},
                {"eval", data.tasks.eval}, {"test", data.tasks.test}, {"split", data.eval.split},
                {"max_examples", data.eval.max_examples}, {"batch", data.eval.batch}}},
      {"device", device.str()}, {"dtype", "float32"}};
  store::ScanSpec spec;
  spec.kind = "line";
  spec.config_json = cfg.dump();
  for (const auto& s : sets) spec.tasks.push_back(s.first);
  spec.scores = kScores;
  spec.axes = {ts};
  store::ScanData d = store::open_or_create_scan(opt.out, spec, opt.shard, kVersion, command_line);
  d.text["space"] = opt.space;
  d.text["from"] = opt.from;
  d.text["to"] = opt.to;

  std::vector<int64_t> todo;
  for (int64_t p : store::shard_points(spec.num_points(), opt.shard.index, opt.shard.count))
    if (!d.done[static_cast<size_t>(p)]) todo.push_back(p);
  if (!todo.empty()) {
    core::Transformer model = core::load_base_model(base);
    model->add_lora(core::lora_config_of(a.lora, point(ts[0])));
    model->to(device);
    model->eval();
    const size_t T = sets.size(), S = kScores.size();
    core::Progress bar("scan line", static_cast<int64_t>(todo.size()));
    for (size_t i = 0; i < todo.size(); ++i) {
      const auto p = static_cast<size_t>(todo[i]);
      point(ts[p]).to(device).load_into(*model, "scan point");
      for (size_t s = 0; s < T; ++s) {
        const core::Scores sc = core::evaluate_examples(*model, sets[s].second, 0, data.eval.batch);
        const double v[] = {sc.loss, sc.token_acc, sc.exact_match};
        for (size_t k = 0; k < S; ++k) d.values[(p * T + s) * S + k] = v[k];
      }
      d.done[p] = 1;
      store::write_scan_file(opt.out, d);  // atomic: a kill loses at most this point
      char info[48];
      std::snprintf(info, sizeof info, "t = %+.3f", ts[p]);
      bar.update(static_cast<int64_t>(i + 1), info);
    }
    bar.finish();
  }
  if (d.complete() && !d.extras.count("barrier")) {
    d.extras["barrier"] = line_barriers(d);
    d.text["summary"] = line_summary(d);
    store::write_scan_file(opt.out, d);
  }
  return d;
}

store::ScanArray line_barriers(const store::ScanData& d) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size(), S = d.spec.scores.size();
  store::ScanArray out;
  out.shape = {static_cast<int64_t>(T), static_cast<int64_t>(S)};
  for (size_t t = 0; t < T; ++t)
    for (size_t s = 0; s < S; ++s) {
      const double sign = d.spec.scores[s] == "loss" ? 1.0 : -1.0;
      std::vector<double> v;
      for (size_t p = 0; p < ts.size(); ++p) v.push_back(sign * d.values[(p * T + t) * S + s]);
      try {
        out.values.push_back(barrier(ts, v));
      } catch (const ConfigError&) {
        out.values.push_back(std::numeric_limits<double>::quiet_NaN());  // the range misses 0 or 1
      }
    }
  return out;
}

std::string line_summary(const store::ScanData& d) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size(), S = d.spec.scores.size();
  const store::ScanArray b = line_barriers(d);
  auto index = [&](const std::string& score) {
    for (size_t k = 0; k < S; ++k)
      if (d.spec.scores[k] == score) return k;
    throw FormatError("scan has no score '" + score + "'");
  };
  const size_t L = index("loss"), E = index("exact_match");
  std::ostringstream s;
  char buf[200];
  for (size_t t = 0; t < T; ++t) {
    size_t best = 0;
    for (size_t p = 1; p < ts.size(); ++p)
      if (d.values[(p * T + t) * S + L] < d.values[(best * T + t) * S + L]) best = p;
    std::snprintf(buf, sizeof buf, "%-12s loss barrier %+.4f, lowest loss %.4f at t = %+.3f; exact-match barrier %+.3f\n",
                  d.spec.tasks[t].c_str(), b.values[t * S + L], d.values[(best * T + t) * S + L], ts[best],
                  b.values[t * S + E]);
    s << buf;
  }
  return s.str();
}

}  // namespace lorascape::analysis
