#include "core/run_file_io.h"

#include <stdexcept>

#include "core/metrics.h"
#include "core/version.h"
#include "store/error.h"

namespace lorascape::core {

store::AdapterData to_store(const Adapter& adapter) {
  store::AdapterData out;
  for (const auto& [name, t] : adapter.entries()) {
    at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous();
    store::Tensor s;
    s.name = name;
    s.shape.assign(c.sizes().begin(), c.sizes().end());
    s.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.tensors.push_back(std::move(s));
  }
  return out;
}

Adapter from_store(const store::AdapterData& data) {
  if (!data.loaded)  // a reader's TensorSelection left it out: never an empty adapter
    throw std::logic_error(
        "an adapter of a run file was used without its tensors (not in the read's "
        "TensorSelection); this is a bug in lorascape, please report it");
  std::vector<Adapter::Entry> entries;
  for (const auto& s : data.tensors)
    entries.emplace_back(s.name, at::tensor(s.values, at::kFloat).reshape(s.shape).clone());
  return Adapter(std::move(entries));
}

store::MethodData method_record(const RunConfig& cfg, const RunResult& result) {
  store::MethodData m;
  m.name = cfg.train.method;
  m.config_json = cfg.to_json().dump();
  m.reported = result.reported;
  for (const char* score : {"exact_match", "token_acc", "loss"})
    m.base[score] = result.base_row(score);
  for (const auto& [key, learner] : result.learners) {
    auto& R = key == result.reported ? m.R : m.learners[key].R;
    auto& metrics = key == result.reported ? m.metrics : m.learners[key].metrics;
    for (const char* score : {"exact_match", "token_acc", "loss"})
      R[score] = result.matrix(score, key);
    for (const char* score : {"exact_match", "token_acc", "loss"})
      for (const auto& [name, v] : named(result.metrics(score, key))) metrics[score][name] = v;
    for (size_t t = 0; t < learner.stages.size(); ++t) {
      if (m.stages.size() <= t) {
        m.stages.emplace_back();
        m.stages[t].stage = static_cast<int>(t);
        m.stages[t].task = result.tasks[t];
      }
      m.stages[t].adapters[key] = to_store(learner.stages[t]);
    }
  }
  for (const auto& s : result.snapshots)
    m.snapshots.push_back({s.step, s.task, to_store(s.adapter)});
  return m;
}

LoraConfig run_lora(const store::RunFileData& run, const std::string& origin) {
  if (!run.lora_config.empty()) {
    const auto j = nlohmann::ordered_json::parse(run.lora_config, nullptr, false);
    if (j.is_discarded())
      throw FormatError(origin + ": /lora_config is not valid JSON (a damaged run file?)");
    return LoraConfig::from_peft(j, origin + ": /lora_config");
  }
  LoraConfig lora;
  lora.rank = run.lora_rank;
  lora.alpha = run.lora_alpha;
  lora.targets = run.lora_targets;
  return lora;
}

void set_run_lora(store::RunFileData& header, const LoraConfig& lora) {
  header.lora_rank = lora.rank;
  header.lora_alpha = lora.alpha;
  header.lora_targets = lora.targets;
  const bool plain =
      !lora.per_module() && !lora.rslora && !lora.fan_in_fan_out && lora.bias == "none";
  header.lora_config = plain ? "" : lora.to_peft().dump();
}

store::RunFileData run_header(const RunConfig& cfg, const LoraConfig& lora,
                              const std::vector<std::string>& tasks, const std::string& base_model,
                              const std::string& base_model_digest,
                              const std::string& command_line) {
  store::RunFileData header;
  header.software_version = kVersion;
  header.created = store::utc_now();
  header.command_line = command_line;
  header.config_json = cfg.to_json().dump();
  header.base_model = base_model;
  header.base_model_digest = base_model_digest;
  header.tasks = tasks;
  set_run_lora(header, lora);
  return header;
}

void record_run(const std::string& path, const RunConfig& cfg, const RunResult& result,
                const nlohmann::json& identity, const std::string& command_line) {
  store::put_method(
      path, method_record(cfg, result),
      run_header(cfg, cfg.lora, result.tasks, identity.value("base_model", std::string()),
                 identity.value("base_model_digest", std::string()), command_line));
}

}  // namespace lorascape::core
