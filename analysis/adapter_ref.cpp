#include "analysis/adapter_ref.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "analysis/curve.h"
#include "core/prompt.h"
#include "core/run_file_io.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::analysis {

namespace {

const char* kRefHelp =
    "expected RUN.h5:METHOD/STAGE[/KEY] (e.g. run.h5:seq/2, run.h5:ilora/arith/fast), "
    "CURVE.h5:bend/K (a trained bend of a curve scan) or a PEFT folder";

const store::MethodData& find_method(const store::RunFileData& run, const std::string& path,
                                     const std::string& name) {
  const store::MethodData* m = run.find_method(name);
  if (!m) {
    std::string known;
    for (const auto& x : run.methods) known += (known.empty() ? "" : ", ") + x.name;
    throw ConfigError(path + ": no method '" + name + "' (the file has: " + known + ")");
  }
  return *m;
}

// A source for an adapter of a run file.
AdapterSource run_source(const store::RunFileData& run, const store::AdapterData& data,
                         const std::string& label, nlohmann::json info) {
  AdapterSource s;
  s.adapter = core::from_store(data);
  for (const auto& [name, t] : s.adapter.entries())
    if (!at::isfinite(t).all().item<bool>())
      throw FormatError(label + ": tensor '" + name +
                        "' holds NaN or infinite values (a diverged training; retrain it)");
  s.lora = core::lora_config_of(core::run_lora(run, label), s.adapter);
  s.base_model = run.base_model;
  s.base_model_digest = run.base_model_digest;
  const auto cfg = nlohmann::json::parse(run.config_json, nullptr, false);
  if (cfg.is_object() && cfg.contains("base") && cfg["base"].is_string() && cfg["base"] != "auto")
    s.base_model_path = cfg["base"].get<std::string>();
  s.label = label;
  s.info = std::move(info);
  s.info["run_tasks"] = run.tasks;  // what the stage learned (analysis::learned_tasks)
  return s;
}

AdapterSource from_run_file(const std::string& ref, size_t colon) {
  const std::string path = ref.substr(0, colon + 3);
  std::vector<std::string> parts;
  std::stringstream ss(ref.substr(colon + 4));
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw ConfigError("'" + ref + "': " + kRefHelp);
  if (parts[0] == "bend") {  // a trained bend of a curve scan file
    const StoredCurve c = load_stored_curve(path);
    const size_t bends = c.control.size() - 2;
    const bool digits =
        std::all_of(parts[1].begin(), parts[1].end(), ::isdigit) && parts[1].size() < 6;
    const size_t k = digits ? static_cast<size_t>(std::stoi(parts[1])) : 0;
    if (parts.size() != 2 || k < 1 || k > bends)
      throw ConfigError("'" + ref + "': the curve has " + std::to_string(bends) +
                        " bend(s); name one as " + path + ":bend/K with K = 1 … " +
                        std::to_string(bends));
    AdapterSource s = c.control[k];
    s.label = ref;
    return s;
  }
  // The file's layout first, without tensors; then the one adapter named.
  const store::RunFileData layout = store::read_run_file(path, store::TensorSelection::none());
  const store::MethodData* m = &find_method(layout, path, parts[0]);
  const store::StageData* stage = nullptr;
  const bool by_index =
      std::all_of(parts[1].begin(), parts[1].end(), ::isdigit) && parts[1].size() < 6;
  for (const auto& st : m->stages)
    if ((by_index && std::stoi(parts[1]) == st.stage + 1) || st.task == parts[1]) stage = &st;
  if (!stage)
    throw ConfigError(path + ": method '" + parts[0] + "' has no stage '" + parts[1] +
                      "' (give a 1-based stage number or a task name)");
  const std::string key = parts.size() == 3 ? parts[2] : m->reported;
  if (!stage->adapters.count(key)) {
    std::string keys;
    for (const auto& kv : stage->adapters) keys += (keys.empty() ? "" : ", ") + kv.first;
    throw ConfigError(path + ": stage " + parts[1] + " of '" + parts[0] + "' has no adapter '" +
                      key + "' (it has: " + keys + ")");
  }
  const store::RunFileData run =
      store::read_run_file(path, store::TensorSelection::one(m->name, stage->stage, key));
  if (const store::MethodData* mr = run.find_method(m->name))
    for (const auto& st : mr->stages)
      if (st.stage == stage->stage && st.adapters.count(key))
        return run_source(run, st.adapters.at(key), ref,
                          {{"run_file", path},
                           {"method", m->name},
                           {"stage", st.stage + 1},
                           {"task", st.task},
                           {"key", key}});
  throw FormatError(path + ": the file changed while '" + ref + "' was read from it; try again");
}

}  // namespace

namespace {

// A NUL byte cuts a path short at the system's interface, so that a reference named something
// else than it said (found by tests/fuzz/fuzz_adapter_ref; the app and library callers can pass
// one, a command line cannot).
void refuse_nul(const std::string& ref) {
  if (ref.find('\0') == std::string::npos) return;
  std::string shown;
  for (char c : ref.substr(0, 200)) shown += c ? std::string(1, c) : std::string("\\0");
  throw ConfigError("adapter reference '" + shown + "' holds a NUL byte: " + kRefHelp);
}

}  // namespace

AdapterSource load_adapter_ref(const std::string& ref) {
  if (ref.empty()) throw ConfigError(std::string("empty adapter reference: ") + kRefHelp);
  refuse_nul(ref);
  const auto colon = ref.rfind(".h5:");
  if (colon != std::string::npos) return from_run_file(ref, colon);
  core::PeftAdapter pa = core::load_peft_adapter(ref);
  AdapterSource s;
  s.adapter = std::move(pa.adapter);
  s.lora = pa.lora;
  s.base_model = pa.extra.value("base_model", std::string());
  s.base_model_digest = pa.extra.value("base_model_digest", std::string());
  s.label = ref;
  s.info = pa.extra;
  return s;
}

std::vector<std::string> expand_adapter_refs(const std::string& pattern) {
  refuse_nul(pattern);
  const auto colon = pattern.rfind(".h5:");
  const bool all =
      colon != std::string::npos && pattern.compare(colon + 3, std::string::npos, ":*") == 0;
  const bool one = colon != std::string::npos && !all && pattern.size() > 2 &&
                   pattern.compare(pattern.size() - 2, 2, "/*") == 0;
  if (!all && !one) return {pattern};
  const std::string path = pattern.substr(0, colon + 3);
  const store::RunFileData run = store::read_run_file(path, store::TensorSelection::none());
  std::vector<const store::MethodData*> methods;
  if (all)
    for (const auto& m : run.methods) methods.push_back(&m);
  else
    methods.push_back(
        &find_method(run, path, pattern.substr(colon + 4, pattern.size() - colon - 6)));
  std::vector<std::string> out;
  for (const auto* m : methods)
    for (const auto& st : m->stages)
      for (const auto& [key, a] : st.adapters)
        out.push_back(path + ":" + m->name + "/" + std::to_string(st.stage + 1) + "/" + key);
  return out;
}

std::vector<AdapterSource> load_trajectory(const std::string& run_path, const std::string& method,
                                           const std::string& key_in) {
  // The file's layout first, without tensors: which learner, and whether the snapshots are its.
  const store::RunFileData layout = store::read_run_file(run_path, store::TensorSelection::none());
  const store::MethodData& lm = find_method(layout, run_path, method);
  const std::string key = key_in.empty() ? lm.reported : key_in;
  const bool with_snapshots = key == "fast" || (key == "adapter" && lm.learners.empty());
  store::TensorSelection select;  // then this learner's stage adapters (and snapshots)
  select.method = method;
  select.key = key;
  select.snapshots = with_snapshots;
  const store::RunFileData run = store::read_run_file(run_path, select);
  const store::MethodData& m = find_method(run, run_path, method);
  std::vector<AdapterSource> out;
  for (const auto& st : m.stages) {
    if (with_snapshots)
      for (const auto& snap : m.snapshots)
        if (snap.task == st.stage)
          out.push_back(run_source(
              run, snap.adapter, run_path + ":" + method + "/snapshot/" + std::to_string(snap.step),
              {{"run_file", run_path},
               {"method", method},
               {"step", snap.step},
               {"task", st.task}}));
    auto it = st.adapters.find(key);
    if (it == st.adapters.end())
      throw ConfigError(run_path + ": stage " + std::to_string(st.stage + 1) + " of '" + method +
                        "' has no adapter '" + key + "'");
    out.push_back(run_source(
        run, it->second, run_path + ":" + method + "/" + std::to_string(st.stage + 1) + "/" + key,
        {{"run_file", run_path},
         {"method", method},
         {"stage", st.stage + 1},
         {"task", st.task},
         {"key", key}}));
  }
  return out;
}

void check_same_space(const std::vector<AdapterSource>& sources, const std::string& space) {
  // Soft prompts (pp, l2p: core/prompt.h) live in their own space: their tensors themselves.
  size_t prompts = 0;
  for (const auto& s : sources) prompts += core::is_prompt_adapter(s.adapter) ? 1 : 0;
  if (prompts > 0) {
    const AdapterSource& p = sources[0];
    if (prompts != sources.size())
      throw ConfigError(
          "the adapters mix soft prompts (pp, l2p) and LoRA adapters; compare one "
          "kind at a time");
    if (space == "any")
      throw ConfigError("'" + p.label +
                        "' is a soft prompt (pp, l2p): LoRA geometry (ΔW = s·B·A, its subspaces "
                        "and ranks) has no meaning for prompts; scan its stages in factors space "
                        "(scan-line, scan-plane) instead");
    if (space != "factors")
      throw ConfigError("'" + p.label +
                        "' is a soft prompt (pp, l2p), which has no ΔW: scan it in factors space "
                        "(`space` factors)");
    for (const auto& s : sources) {
      bool same = s.adapter.size() == p.adapter.size();
      for (size_t e = 0; same && e < s.adapter.size(); ++e)
        same = s.adapter.entries()[e].first == p.adapter.entries()[e].first &&
               s.adapter.entries()[e].second.sizes() == p.adapter.entries()[e].second.sizes();
      if (!same)
        throw ConfigError("soft prompts '" + p.label + "' and '" + s.label +
                          "' differ in their tensors' names or shapes (pp's stages grow by "
                          "`pp.length` vectors per task: combine stages of equal length)");
    }
    return;
  }
  const bool factors = space == "factors";
  for (size_t i = 1; i < sources.size(); ++i) {
    const AdapterSource& a = sources[0];
    const AdapterSource& b = sources[i];
    auto differ = [&](const std::string& what, bool setup = true) {
      throw ConfigError("adapters '" + a.label + "' and '" + b.label + "' differ in " + what +
                        (factors && setup
                             ? " (factors space needs the same LoRA setup; adapters of different "
                               "ranks or targets combine in delta space: `space` delta)"
                             : " (every adapter must apply to the same base model)"));
    };
    if (!a.base_model_digest.empty() && !b.base_model_digest.empty() &&
        a.base_model_digest != b.base_model_digest)
      differ("base model (digest " + a.base_model_digest + " vs " + b.base_model_digest + ")",
             false);
    std::map<std::string, const at::Tensor*> in_a;
    for (const auto& [n, t] : a.adapter.entries()) in_a[n] = &t;
    for (const auto& [n, t] : b.adapter.entries()) {
      auto it = in_a.find(n);
      if (it == in_a.end()) {
        if (factors) differ("LoRA targets ('" + n + "' only in the second)");
        continue;
      }
      const at::Tensor& x = *it->second;
      const int64_t model_dim = n.find(".lora_A.") != std::string::npos ? 1 : 0;
      if (x.dim() != 2 || t.dim() != 2 || x.size(model_dim) != t.size(model_dim))
        differ("the shape of '" + n + "' (model size)", false);
      if (factors && x.sizes() != t.sizes())
        differ("rank ('" + n + "' has shape " + c10::str(x.sizes()) + " vs " + c10::str(t.sizes()) +
               ")");
    }
    if (!factors) continue;
    if (a.adapter.size() != b.adapter.size()) differ("LoRA targets (number of LoRA tensors)");
    const core::LoraScales sa = core::lora_scales(a.lora, a.adapter),
                           sb = core::lora_scales(b.lora, b.adapter);
    for (const auto& [n, t] : a.adapter.entries()) {
      const std::string module = n.substr(0, n.find(".lora_"));
      if (sa.of(module) != sb.of(module)) differ("LoRA scale alpha/rank of " + module);
    }
  }
}

core::LoraScales align_for_delta(std::vector<AdapterSource>& sources) {
  // The union of modules, in first-seen order, with in/out sizes and the first source's scale.
  struct Module {
    std::string name;
    int64_t in = 0, out = 0;
    double scale = 1.0;
  };
  std::vector<Module> modules;
  std::map<std::string, size_t> index;
  std::vector<core::LoraScales> own;
  for (const auto& s : sources) {
    own.push_back(core::lora_scales(s.lora, s.adapter));
    for (const auto& [n, t] : s.adapter.entries()) {
      const size_t at = n.find(".lora_A.");
      if (at == std::string::npos || index.count(n.substr(0, at))) continue;
      const std::string m = n.substr(0, at);
      index[m] = modules.size();
      modules.push_back({m, t.size(1), 0, own.back().of(m)});
    }
    for (const auto& [n, t] : s.adapter.entries()) {
      const size_t at = n.find(".lora_B.");
      if (at != std::string::npos && index.count(n.substr(0, at)))
        modules[index[n.substr(0, at)]].out = t.size(0);
    }
  }
  core::LoraScales scales(sources.empty() ? 1.0 : sources[0].lora.scale());
  for (const auto& m : modules) scales.by_module[m.name] = m.scale;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::map<std::string, at::Tensor> by_name;
    for (const auto& [n, t] : sources[i].adapter.entries()) by_name[n] = t;
    bool same = sources[i].adapter.size() == 2 * modules.size();
    for (size_t k = 0; same && k < modules.size(); ++k)
      same = sources[i].adapter.entries()[2 * k].first == modules[k].name + ".lora_A.weight" &&
             sources[i].adapter.entries()[2 * k + 1].first == modules[k].name + ".lora_B.weight" &&
             own[i].of(modules[k].name) == modules[k].scale;
    if (same) continue;  // already a point of this space, bit for bit as loaded
    std::vector<core::Adapter::Entry> entries;
    for (const auto& m : modules) {
      auto a = by_name.find(m.name + ".lora_A.weight"), b = by_name.find(m.name + ".lora_B.weight");
      if (a == by_name.end() || b == by_name.end()) {
        entries.emplace_back(m.name + ".lora_A.weight", at::zeros({0, m.in}));
        entries.emplace_back(m.name + ".lora_B.weight", at::zeros({m.out, 0}));
        continue;
      }
      const double ratio = own[i].of(m.name) / m.scale;
      entries.emplace_back(a->first, a->second);
      entries.emplace_back(b->first, ratio == 1.0 ? b->second : b->second * ratio);
    }
    sources[i].adapter = core::Adapter(std::move(entries));
  }
  return scales;
}

}  // namespace lorascape::analysis
