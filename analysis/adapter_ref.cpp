#include "analysis/adapter_ref.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/error.h"
#include "core/run_file_io.h"
#include "core/store/run_file.h"

namespace lorascape::analysis {

namespace {

const char* kRefHelp = "expected RUN.h5:METHOD/STAGE[/KEY] (e.g. run.h5:seq/2, run.h5:ilora/arith/fast) or a PEFT folder";

AdapterSource from_run_file(const std::string& ref, size_t colon) {
  const std::string path = ref.substr(0, colon + 3);
  std::vector<std::string> parts;
  std::stringstream ss(ref.substr(colon + 4));
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw ConfigError("'" + ref + "': " + kRefHelp);
  const store::RunFileData run = store::read_run_file(path);
  const store::MethodData* m = run.find_method(parts[0]);
  if (!m) {
    std::string known;
    for (const auto& x : run.methods) known += (known.empty() ? "" : ", ") + x.name;
    throw ConfigError(path + ": no method '" + parts[0] + "' (the file has: " + known + ")");
  }
  const store::StageData* stage = nullptr;
  const bool by_index = std::all_of(parts[1].begin(), parts[1].end(), ::isdigit) && parts[1].size() < 6;
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
    throw ConfigError(path + ": stage " + parts[1] + " of '" + parts[0] + "' has no adapter '" + key +
                      "' (it has: " + keys + ")");
  }
  AdapterSource s;
  s.adapter = core::from_store(it->second);
  core::LoraConfig lora;
  lora.rank = run.lora_rank;
  lora.alpha = run.lora_alpha;
  lora.targets = run.lora_targets;
  s.lora = core::lora_config_of(lora, s.adapter);
  s.base_model = run.base_model;
  s.base_model_digest = run.base_model_digest;
  s.label = ref;
  s.info = {{"run_file", path}, {"method", m->name}, {"stage", stage->stage + 1}, {"task", stage->task}, {"key", key}};
  return s;
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

void check_same_space(const std::vector<AdapterSource>& sources) {
  for (size_t i = 1; i < sources.size(); ++i) {
    const AdapterSource& a = sources[0];
    const AdapterSource& b = sources[i];
    auto differ = [&](const std::string& what) {
      throw ConfigError("adapters '" + a.label + "' and '" + b.label + "' differ in " + what +
                        " (every adapter of one scan must come from the same base model and LoRA setup)");
    };
    if (!a.base_model_digest.empty() && !b.base_model_digest.empty() && a.base_model_digest != b.base_model_digest)
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
