#include "core/prompt.h"

#include <filesystem>
#include <fstream>

#include "core/model.h"
#include "core/run.h"
#include "core/safetensors.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;

bool is_prompt_adapter(const Adapter& adapter) {
  if (adapter.empty()) return false;
  const std::string& n = adapter.entries().front().first;
  return n == kPromptEmbeddings || n == kPromptPool || n == kPromptKeys;
}

Adapter prompt_adapter(const SoftPrompt& prompt) {
  std::vector<Adapter::Entry> out;
  if (prompt.is_pool()) {
    out.emplace_back(kPromptPool, prompt.pool.detach().clone());
    out.emplace_back(kPromptKeys, prompt.keys.detach().clone());
  } else if (!prompt.parts.empty()) {
    std::vector<at::Tensor> parts;
    for (const auto& p : prompt.parts) parts.push_back(p.detach());
    out.emplace_back(kPromptEmbeddings, at::cat(parts, 0).clone());
  }
  return Adapter(std::move(out));
}

void load_prompt_adapter(TransformerImpl& model, const Adapter& adapter,
                         const std::string& origin) {
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [n, t] : adapter.entries()) {
    if (n != kPromptEmbeddings && n != kPromptPool && n != kPromptKeys)
      throw FormatError(origin + ": tensor '" + n +
                        "' is not a prompt tensor (a prompt adapter holds prompt_embeddings, or "
                        "prompt_pool with prompt_keys)");
    if (by_name.count(n)) throw FormatError(origin + ": two tensors named '" + n + "'");
    by_name[n] = t;
  }
  const int64_t C = model.config().d_model;
  auto check = [&](const std::string& n) {
    const at::Tensor& t = by_name.at(n);
    if (t.dim() != 2 || t.size(1) != C || t.size(0) < 1)
      throw FormatError(origin + ": tensor '" + n + "' has shape " + c10::str(t.sizes()) +
                        " but the model needs (rows >= 1, d_model = " + std::to_string(C) + ")");
  };
  // Prompts stay float32 on any base (as LoRA factors do); the forward casts them to the
  // model's dtype.
  const at::Device dev = model.output_weight().device();
  const auto dtype = at::kFloat;
  SoftPrompt p;
  if (by_name.count(kPromptEmbeddings)) {
    if (by_name.size() != 1)
      throw FormatError(origin + ": prompt_embeddings comes alone (no pool tensors beside it)");
    check(kPromptEmbeddings);
    p.parts.push_back(by_name.at(kPromptEmbeddings).detach().to(dev, dtype).clone());
  } else {
    if (!by_name.count(kPromptPool) || !by_name.count(kPromptKeys))
      throw FormatError(origin + ": a prompt pool needs both prompt_pool and prompt_keys");
    check(kPromptPool);
    check(kPromptKeys);
    const int64_t M = by_name.at(kPromptKeys).size(0), rows = by_name.at(kPromptPool).size(0);
    if (rows % M != 0)
      throw FormatError(origin + ": prompt_pool has " + std::to_string(rows) +
                        " rows, not a multiple of the " + std::to_string(M) + " keys");
    if (model.l2p_top_n < 1 || model.l2p_top_n > M)
      throw FormatError(origin + ": the pool has " + std::to_string(M) +
                        " prompts, fewer than `l2p.top_n` = " + std::to_string(model.l2p_top_n));
    p.pool = by_name.at(kPromptPool).detach().to(dev, dtype).clone();
    p.keys = by_name.at(kPromptKeys).detach().to(dev, at::kFloat).clone();
    p.top_n = model.l2p_top_n;
  }
  model.set_prompt(std::move(p));
}

at::Tensor l2p_matching_loss(const at::Tensor& query, const at::Tensor& keys,
                             const at::Tensor& selection) {
  const at::Tensor q = query.detach().to(keys.device(), at::kFloat);
  const at::Tensor k = keys.to(at::kFloat);
  const at::Tensor qn = q / q.norm(2, 1, true).clamp_min(1e-12);  // (B, C)
  const at::Tensor kn = k / k.norm(2, 1, true).clamp_min(1e-12);  // (M, C)
  const at::Tensor ks = kn.index_select(0, selection.flatten().to(k.device()))
                            .view({selection.size(0), selection.size(1), k.size(1)});  // (B, N, C)
  const at::Tensor cos = (ks * qn.unsqueeze(1)).sum(-1);                               // (B, N)
  return (1.0 - cos).sum(1).mean();
}

bool is_prompt_peft_type(const nlohmann::ordered_json& cfg) {
  if (!cfg.is_object() || !cfg.contains("peft_type") || !cfg["peft_type"].is_string()) return false;
  const std::string t = cfg["peft_type"].get<std::string>();
  return t == kPeftPromptTuning || t == kPeftL2p;
}

void save_prompt_adapter(const std::string& dir, const Adapter& adapter,
                         const nlohmann::json& extra) {
  if (!is_prompt_adapter(adapter)) throw Error("save_prompt_adapter: not a prompt adapter");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw FormatError("cannot create adapter folder " + dir + ": " + ec.message() +
                      " (check the path and permissions)");
  NamedTensors tensors;
  for (const auto& [n, t] : adapter.entries())
    tensors.emplace_back(n, t.detach().to(at::kCPU, at::kFloat).contiguous());
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  const at::Tensor& first = adapter.entries().front().second;
  const bool pool = adapter.entries().front().first != kPromptEmbeddings;
  nlohmann::ordered_json cfg;
  cfg["peft_type"] = pool ? kPeftL2p : kPeftPromptTuning;
  cfg["task_type"] = "CAUSAL_LM";
  cfg["base_model_name_or_path"] = extra.value("base_model", std::string("lorascape-base"));
  cfg["inference_mode"] = true;
  cfg["num_virtual_tokens"] = first.size(0);
  cfg["token_dim"] = first.size(1);
  cfg["num_transformer_submodules"] = 1;
  cfg["num_attention_heads"] = nullptr;
  cfg["num_layers"] = nullptr;
  if (!pool) {
    cfg["prompt_tuning_init"] = "RANDOM";
    cfg["prompt_tuning_init_text"] = nullptr;
    cfg["tokenizer_name_or_path"] = nullptr;
  } else {
    for (const auto& [n, t] : adapter.entries())
      if (n == kPromptKeys) cfg["pool_size"] = t.size(0);
    if (extra.contains("l2p_top_n")) cfg["top_n"] = extra["l2p_top_n"];
  }
  cfg["lorascape"] = nlohmann::ordered_json::parse(extra.dump());
  write_text_atomic(dir + "/adapter_config.json", cfg.dump(2) + "\n");
}

Adapter read_prompt_adapter(const nlohmann::ordered_json& cfg, const std::string& config_path,
                            const std::string& st) {
  const std::string type = cfg["peft_type"].get<std::string>();
  auto need_int = [&](const char* key) -> int64_t {
    if (!cfg.contains(key) || !cfg[key].is_number_integer() || cfg[key].get<int64_t>() < 1)
      throw FormatError(config_path + ": `" + key + "` must be a positive integer for peft_type " +
                        type);
    return cfg[key].get<int64_t>();
  };
  const int64_t tokens = need_int("num_virtual_tokens"), dim = need_int("token_dim");
  if (cfg.contains("num_transformer_submodules") && !cfg["num_transformer_submodules"].is_null() &&
      cfg["num_transformer_submodules"] != 1)
    throw FormatError(config_path +
                      ": `num_transformer_submodules` must be 1 (a decoder-only model; 2 is for "
                      "encoder-decoder models, which lorascape does not run)");
  if (cfg.contains("task_type") && cfg["task_type"].is_string() &&
      cfg["task_type"].get<std::string>() != "CAUSAL_LM")
    throw FormatError(config_path + ": `task_type` is '" + cfg["task_type"].get<std::string>() +
                      "'; lorascape runs CAUSAL_LM prompts only");
  SafetensorsData data = read_safetensors(st);
  std::vector<Adapter::Entry> entries;
  const std::vector<std::string> want = type == kPeftPromptTuning
                                            ? std::vector<std::string>{kPromptEmbeddings}
                                            : std::vector<std::string>{kPromptPool, kPromptKeys};
  for (const auto& name : want) {
    const at::Tensor* found = nullptr;
    for (const auto& [k, t] : data.tensors)
      if (k == name) found = &t;
    if (!found)
      throw FormatError(st + ": no tensor '" + name + "' (peft_type " + type + " in " +
                        config_path + ")");
    const auto dt = found->scalar_type();
    if (dt != at::kFloat && dt != at::kHalf && dt != at::kBFloat16 && dt != at::kDouble)
      throw FormatError(st + ": tensor '" + name + "' has dtype " + std::string(c10::toString(dt)) +
                        ", expected F32, F16, BF16 or F64");
    if (found->dim() != 2 || found->size(1) != dim)
      throw FormatError(st + ": tensor '" + name + "' has shape " + c10::str(found->sizes()) +
                        " but token_dim is " + std::to_string(dim));
    if (name != kPromptKeys && found->size(0) != tokens)
      throw FormatError(st + ": tensor '" + name + "' has " + std::to_string(found->size(0)) +
                        " rows but num_virtual_tokens is " + std::to_string(tokens));
    if (!at::isfinite(*found).all().item<bool>())
      throw FormatError(st + ": tensor '" + name + "' holds NaN or infinite values");
    entries.emplace_back(name, found->to(at::kFloat));
  }
  if (data.tensors.size() != want.size())
    throw FormatError(st + ": holds " + std::to_string(data.tensors.size()) +
                      " tensors; peft_type " + type + " has exactly " +
                      std::to_string(want.size()));
  return Adapter(std::move(entries));
}

}  // namespace lorascape::core
