#include "analysis/adapter_ref.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/run_file_io.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::analysis {

namespace {

const char* kRefHelp =
    "expected RUN.h5:METHOD/STAGE[/KEY] (e.g. run.h5:seq/2, run.h5:ilora/arith/fast) or a PEFT "
    "folder";

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
  core::LoraConfig lora;
  lora.rank = run.lora_rank;
  lora.alpha = run.lora_alpha;
  lora.targets = run.lora_targets;
  s.lora = core::lora_config_of(lora, s.adapter);
  s.base_model = run.base_model;
  s.base_model_digest = run.base_model_digest;
  const auto cfg = nlohmann::json::parse(run.config_json, nullptr, false);
  if (cfg.is_object() && cfg.contains("base") && cfg["base"].is_string() && cfg["base"] != "auto")
    s.base_model_path = cfg["base"].get<std::string>();
  s.label = label;
  s.info = std::move(info);
  return s;
}

AdapterSource from_run_file(const std::string& ref, size_t colon) {
  const std::string path = ref.substr(0, colon + 3);
  std::vector<std::string> parts;
  std::stringstream ss(ref.substr(colon + 4));
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw ConfigError("'" + ref + "': " + kRefHelp);
  const store::RunFileData run = store::read_run_file(path);
  const store::MethodData* m = &find_method(run, path, parts[0]);
  const store::StageData* stage = nullptr;
  const bool by_index =
      std::all_of(parts[1].begin(), parts[1].end(), ::isdigit) && parts[1].size() < 6;
  for (const auto& st : m->stages)
    if ((by_index && std::stoi(parts[1]) == st.stage + 1) || st.task == parts[1]) stage = &st;
  if (!stage)
    throw ConfigError(path + ": method '" + parts[0] + "' has no stage '" + parts[1] +
                      "' (give a 1-based stage number or a task name)");
  const std::string key = parts.size() == 3 ? parts[2] : m->reported;
  auto it = stage->adapters.find(key);
  if (it == stage->adapters.end()) {
    std::string keys;
    for (const auto& kv : stage->adapters) keys += (keys.empty() ? "" : ", ") + kv.first;
    throw ConfigError(path + ": stage " + parts[1] + " of '" + parts[0] + "' has no adapter '" +
                      key + "' (it has: " + keys + ")");
  }
  return run_source(run, it->second, ref,
                    {{"run_file", path},
                     {"method", m->name},
                     {"stage", stage->stage + 1},
                     {"task", stage->task},
                     {"key", key}});
}

}  // namespace

AdapterSource load_adapter_ref(const std::string& ref) {
  if (ref.empty()) throw ConfigError(std::string("empty adapter reference: ") + kRefHelp);
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
  const auto colon = pattern.rfind(".h5:");
  const bool all =
      colon != std::string::npos && pattern.compare(colon + 3, std::string::npos, ":*") == 0;
  const bool one = colon != std::string::npos && !all && pattern.size() > 2 &&
                   pattern.compare(pattern.size() - 2, 2, "/*") == 0;
  if (!all && !one) return {pattern};
  const std::string path = pattern.substr(0, colon + 3);
  const store::RunFileData run = store::read_run_file(path);
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
  const store::RunFileData run = store::read_run_file(run_path);
  const store::MethodData& m = find_method(run, run_path, method);
  const std::string key = key_in.empty() ? m.reported : key_in;
  const bool with_snapshots = key == "fast" || (key == "adapter" && m.learners.empty());
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

void check_same_space(const std::vector<AdapterSource>& sources) {
  for (size_t i = 1; i < sources.size(); ++i) {
    const AdapterSource& a = sources[0];
    const AdapterSource& b = sources[i];
    auto differ = [&](const std::string& what) {
      throw ConfigError(
          "adapters '" + a.label + "' and '" + b.label + "' differ in " + what +
          " (every adapter of one scan must come from the same base model and LoRA setup)");
    };
    if (!a.base_model_digest.empty() && !b.base_model_digest.empty() &&
        a.base_model_digest != b.base_model_digest)
      differ("base model (digest " + a.base_model_digest + " vs " + b.base_model_digest + ")");
    std::vector<std::string> ta = a.lora.targets, tb = b.lora.targets;
    std::sort(ta.begin(), ta.end());
    std::sort(tb.begin(), tb.end());
    if (ta != tb) differ("LoRA targets");
    if (a.lora.rank != b.lora.rank)
      differ("rank (" + std::to_string(a.lora.rank) + " vs " + std::to_string(b.lora.rank) + ")");
    if (a.adapter.size() != b.adapter.size()) differ("number of LoRA tensors");
    for (size_t e = 0; e < a.adapter.size(); ++e) {
      const auto& [na, xa] = a.adapter.entries()[e];
      const auto& [nb, xb] = b.adapter.entries()[e];
      if (na != nb) differ("tensor names ('" + na + "' vs '" + nb + "')");
      if (xa.sizes() != xb.sizes()) differ("the shape of '" + na + "' (model size)");
    }
    if (a.lora.scale() != b.lora.scale()) differ("LoRA scale alpha/rank");
  }
}

}  // namespace lorascape::analysis
