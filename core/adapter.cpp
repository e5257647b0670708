#include "core/adapter.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/model.h"
#include "core/prompt.h"
#include "core/run.h"
#include "core/safetensors.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;

namespace {
const std::string kPeftPrefix = "base_model.model.";
}

Adapter Adapter::from_model(TransformerImpl& model) {
  if (model.has_prompt()) return prompt_adapter(model.prompt());
  std::vector<Entry> out;
  for (auto& [name, p] : model.lora_parameters()) out.emplace_back(name, p.detach().clone());
  return Adapter(std::move(out));
}

void Adapter::load_into(TransformerImpl& model, const std::string& origin) const {
  if (is_prompt_adapter(*this)) return load_prompt_adapter(model, *this, origin);
  auto params = model.lora_parameters();
  if (params.size() != entries_.size())
    throw FormatError(origin + ": adapter has " + std::to_string(entries_.size()) +
                      " LoRA tensors but the model expects " + std::to_string(params.size()) +
                      " (different lora.targets or n_layers?)");
  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [n, t] : entries_) by_name[n] = &t;
  for (auto& [name, p] : params) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw FormatError(origin + ": tensor '" + name +
                        "' missing (adapter made for another model?)");
    const at::Tensor& t = *it->second;
    if (t.sizes() != p.sizes())
      throw FormatError(origin + ": tensor '" + name + "' has shape " + c10::str(t.sizes()) +
                        " but the model expects " + c10::str(p.sizes()) +
                        " (different rank or model size?)");
  }
  torch::NoGradGuard ng;
  for (auto& [name, p] : params) p.copy_(*by_name[name]);
}

int64_t Adapter::numel() const {
  int64_t n = 0;
  for (const auto& e : entries_) n += e.second.numel();
  return n;
}

Adapter Adapter::clone() const {
  std::vector<Entry> out;
  for (const auto& [n, t] : entries_) out.emplace_back(n, t.clone());
  return Adapter(std::move(out));
}

Adapter Adapter::zeros_like() const {
  std::vector<Entry> out;
  for (const auto& [n, t] : entries_) out.emplace_back(n, at::zeros_like(t));
  return Adapter(std::move(out));
}

Adapter Adapter::to(const at::Device& device) const {
  std::vector<Entry> out;
  for (const auto& [n, t] : entries_) out.emplace_back(n, t.to(device));
  return Adapter(std::move(out));
}

void Adapter::check_compatible(const Adapter& o, const char* op) const {
  if (o.entries_.size() != entries_.size())
    throw Error(std::string("Adapter::") + op + ": adapters have different tensor counts");
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].first != o.entries_[i].first ||
        entries_[i].second.sizes() != o.entries_[i].second.sizes())
      throw Error(std::string("Adapter::") + op + ": tensor '" + entries_[i].first +
                  "' differs in name or shape");
}

Adapter& Adapter::axpy(double a, const Adapter& x) {
  check_compatible(x, "axpy");
  torch::NoGradGuard ng;
  for (size_t i = 0; i < entries_.size(); ++i) entries_[i].second.add_(x.entries_[i].second, a);
  return *this;
}

Adapter& Adapter::scale(double a) {
  torch::NoGradGuard ng;
  for (auto& e : entries_) e.second.mul_(a);
  return *this;
}

double Adapter::dot(const Adapter& x) const {
  check_compatible(x, "dot");
  double s = 0.0;
  for (size_t i = 0; i < entries_.size(); ++i)
    s += (entries_[i].second.to(at::kDouble) * x.entries_[i].second.to(at::kDouble))
             .sum()
             .item<double>();
  return s;
}

double Adapter::norm() const {
  return std::sqrt(dot(*this));
}

at::Tensor Adapter::flatten() const {
  std::vector<at::Tensor> parts;
  for (const auto& e : entries_) parts.push_back(e.second.reshape({-1}));
  return parts.empty() ? at::empty({0}) : at::cat(parts);
}

bool Adapter::equal(const Adapter& o) const {
  if (o.entries_.size() != entries_.size()) return false;
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].first != o.entries_[i].first ||
        !at::equal(entries_[i].second, o.entries_[i].second))
      return false;
  return true;
}

std::string to_peft_key(const std::string& name) {
  return kPeftPrefix + name;
}

namespace {

// "model.layers.N.self_attn.{q,k,v,o}_proj" or "model.layers.N.mlp.{gate,up,down}_proj".
bool is_projection(const std::string& module) {
  const std::string pre = "model.layers.";
  if (module.rfind(pre, 0) != 0) return false;
  size_t i = pre.size();
  const size_t digits = i;
  while (i < module.size() && std::isdigit(static_cast<unsigned char>(module[i]))) ++i;
  if (i == digits || i - digits > 9) return false;
  const std::string rest = module.substr(i);
  for (const char* m : {".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                        ".self_attn.o_proj", ".mlp.gate_proj", ".mlp.up_proj", ".mlp.down_proj"})
    if (rest == m) return true;
  return false;
}

}  // namespace

PeftKey parse_peft_key(const std::string& key, const std::string& origin) {
  const auto fail = [&](const std::string& why) -> PeftKey {
    throw FormatError(origin + ": key '" + key + "' " + why);
  };
  if (key.rfind(kPeftPrefix, 0) != 0)
    return fail("is not a PEFT LoRA key (expected '" + kPeftPrefix +
                "model.layers.N.<module>.lora_A.weight'); is this a LoRA adapter file?");
  const std::string name = key.substr(kPeftPrefix.size());
  PeftKey out;
  for (const char* factor : {".lora_A.", ".lora_B."}) {
    const size_t at = name.rfind(factor);
    if (at == std::string::npos) continue;
    // ".lora_A.weight", or ".lora_A.<adapter name>.weight" as PEFT keeps it in memory.
    const std::string tail = name.substr(at + 8);
    if (tail == "weight") {
    } else if (tail.size() > 7 && tail.compare(tail.size() - 7, 7, ".weight") == 0 &&
               tail.find('.') == tail.size() - 7) {
      out.adapter_name = tail.substr(0, tail.size() - 7);
    } else {
      break;
    }
    out.module = name.substr(0, at);
    out.factor = factor[6];
    if (!is_projection(out.module))
      return fail("adapts '" + out.module +
                  "', which lorascape cannot adapt (LoRA on the q/k/v/o/gate/up/down projections "
                  "of decoder layers only)");
    out.name = out.module + ".lora_" + out.factor + ".weight";
    return out;
  }
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
    return fail(
        "is a bias (adapter_config.json `bias` is not \"none\"): lorascape applies LoRA "
        "factors to the base model's own biases and cannot load trained biases");
  return fail(
      "is not a LoRA factor (lora_A / lora_B weight): the adapter holds tensors of a "
      "PEFT feature lorascape does not implement (DoRA magnitudes, embedding LoRA, "
      "modules_to_save, …)");
}

std::string from_peft_key(const std::string& key, const std::string& origin) {
  return parse_peft_key(key, origin).name;
}

LoraConfig lora_config_of(const LoraConfig& lora, const Adapter& adapter) {
  // The rank of every module as the tensors have it.
  std::vector<std::pair<std::string, int64_t>> ranks;
  bool as_configured = true;
  for (const auto& [name, t] : adapter.entries()) {
    const size_t at = name.find(".lora_A.");
    if (at == std::string::npos) continue;
    ranks.emplace_back(name.substr(0, at), t.size(0));
    as_configured = as_configured && t.size(0) == lora.rank_of(ranks.back().first);
  }
  if (ranks.empty() || as_configured) return lora;
  bool uniform = !lora.per_module();
  for (const auto& r : ranks) uniform = uniform && r.second == ranks.front().second;
  LoraConfig out = lora;
  const auto alpha_for = [&](int64_t r, double s) {
    return s * (lora.rslora ? std::sqrt(static_cast<double>(r)) : static_cast<double>(r));
  };
  if (uniform) {  // one rank everywhere (O-LoRA's T·r, a delta-space point's 2r): keep the scale
    out.rank = ranks.front().second;
    out.alpha = alpha_for(out.rank, lora.scale());
    return out;
  }
  LoraConfig per_module = lora_config_for(lora_scales(lora, adapter), adapter);
  per_module.dropout = lora.dropout;
  return per_module;
}

LoraConfig lora_config_for(const LoraScales& scales, const Adapter& adapter) {
  LoraConfig out;
  out.targets.clear();
  out.dropout = 0.0;
  for (const auto& [name, t] : adapter.entries()) {
    const size_t at = name.find(".lora_A.");
    if (at == std::string::npos) continue;
    const std::string module = name.substr(0, at);
    const int64_t r = t.size(0);
    const double s = scales.of(module);
    if (out.targets.empty()) {
      out.rank = r;
      out.alpha = s * static_cast<double>(r);
    }
    out.targets.push_back(module);  // a full name selects that module alone (PEFT's list rule)
    if (r != out.rank || s != scales.of(out.targets.front())) {
      std::string key;  // the full name as a pattern: dots escaped
      for (char c : module) key += c == '.' ? std::string("\\.") : std::string(1, c);
      out.rank_pattern.emplace_back(key, r);
      out.alpha_pattern.emplace_back(key, s * static_cast<double>(r));
    }
  }
  if (out.targets.empty()) throw Error("lora_config_for: the adapter holds no lora_A factor");
  return out;
}

LoraScales lora_scales(const LoraConfig& lora, const Adapter& adapter) {
  LoraScales s(lora.scale());
  if (!lora.per_module()) return s;
  for (const auto& [name, t] : adapter.entries()) {
    const size_t at = name.find(".lora_A.");
    if (at != std::string::npos)
      s.by_module[name.substr(0, at)] = lora.scale_of(name.substr(0, at));
  }
  return s;
}

void save_peft_adapter(const std::string& dir, const Adapter& adapter, const LoraConfig& lora,
                       const nlohmann::json& extra) {
  if (is_prompt_adapter(adapter)) return save_prompt_adapter(dir, adapter, extra);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw FormatError("cannot create adapter folder " + dir + ": " + ec.message() +
                      " (check the path and permissions)");
  NamedTensors tensors;
  for (const auto& [n, t] : adapter.entries())
    tensors.emplace_back(to_peft_key(n), t.detach().to(at::kCPU).contiguous());
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::ordered_json cfg = lora.to_peft();
  cfg["base_model_name_or_path"] = extra.value("base_model", std::string("lorascape-base"));
  cfg["lorascape"] = nlohmann::ordered_json::parse(extra.dump());
  write_text_atomic(dir + "/adapter_config.json", cfg.dump(2) + "\n");
}

namespace {
bool is_pickle_name(const std::string& name) {
  for (const char* ext : {".bin", ".pt", ".pth", ".pkl"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
      return true;
  }
  return false;
}

}  // namespace

std::string pickle_refusal(const std::string& pickle, const std::string& dir) {
  return pickle +
         " is a pickle file, which can run arbitrary code when it is loaded, so lorascape never "
         "reads one; convert it once in Python, where you trust it: python3 -c \"import torch; "
         "from safetensors.torch import save_file; save_file(torch.load('" +
         pickle + "', weights_only=True), '" + dir +
         "/adapter_model.safetensors')\" (or load the adapter with PEFT and call "
         "save_pretrained(..., safe_serialization=True))";
}

void refuse_pickle_folder(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "adapter_model.safetensors", ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_pickle_name(e.path().filename().string()))
      throw FormatError(pickle_refusal(e.path().string(), dir));
}

namespace {

PeftAdapter load_peft_adapter_unguarded(const std::string& path) {
  fs::path p(path);
  const bool is_dir = fs::is_directory(p);
  fs::path dir = is_dir ? p : p.parent_path();
  fs::path st = is_dir ? p / "adapter_model.safetensors" : p;
  fs::path cj = dir / "adapter_config.json";
  if (!is_dir && is_pickle_name(p.filename().string()))
    throw FormatError(pickle_refusal(p.string(), dir.string()));
  if (is_dir) refuse_pickle_folder(p.string());
  if (!fs::exists(st))
    throw FormatError(st.string() +
                      ": no such file (an adapter folder holds adapter_model.safetensors and "
                      "adapter_config.json)");
  if (!fs::exists(cj))
    throw FormatError(cj.string() +
                      ": no such file (an adapter folder holds adapter_model.safetensors and "
                      "adapter_config.json)");
  // A folder (or device) under the file's name failed inside the stream with a message that
  // named no file (found by tests/fuzz/fuzz_adapter_ref).
  if (!fs::is_regular_file(cj))
    throw FormatError(cj.string() +
                      ": not a regular file (an adapter folder holds the files "
                      "adapter_model.safetensors and adapter_config.json)");
  PeftAdapter out;
  nlohmann::ordered_json cfg;
  {
    std::ifstream f(cj);
    bool too_deep = false;  // bounded, so that no message or copy recurses through the file
    try {
      cfg = nlohmann::ordered_json::parse(f, [&too_deep](int depth, auto, auto&) {
        too_deep = too_deep || depth > 64;
        return !too_deep;
      });
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(cj.string() + ": not valid JSON (" + e.what() + ")");
    } catch (const std::ios_base::failure& e) {
      throw FormatError(cj.string() + ": cannot be read (" + e.what() + ")");
    }
    if (too_deep)
      throw FormatError(cj.string() +
                        ": JSON nested deeper than 64 levels (corrupt adapter_config.json?)");
  }
  if (cfg.contains("lorascape") && cfg["lorascape"].is_object())
    out.extra = nlohmann::json::parse(cfg["lorascape"].dump());
  else
    out.extra = nlohmann::json::object();
  if (is_prompt_peft_type(cfg)) {
    out.adapter = read_prompt_adapter(cfg, cj.string(), st.string());
    if (cfg.contains("top_n") && cfg["top_n"].is_number_integer())
      out.extra["l2p_top_n"] = cfg["top_n"];
    return out;
  }
  out.lora = LoraConfig::from_peft(cfg, cj.string());
  SafetensorsData data = read_safetensors(st.string());
  std::vector<Adapter::Entry> entries;
  std::map<std::string, int> factors;  // module -> bit 1: A, bit 2: B
  std::string adapter_name;
  for (auto& [key, t] : data.tensors) {
    const PeftKey k = parse_peft_key(key, st.string());
    if (!entries.empty() && k.adapter_name != adapter_name)
      throw FormatError(st.string() + ": holds the tensors of two adapters ('" + adapter_name +
                        "' and '" + k.adapter_name +
                        "' in their keys); save each adapter to its own folder");
    adapter_name = k.adapter_name;
    const auto st_ = t.scalar_type();
    if (st_ != at::kFloat && st_ != at::kHalf && st_ != at::kBFloat16 && st_ != at::kDouble)
      throw FormatError(st.string() + ": tensor '" + key + "' has dtype " +
                        std::string(c10::toString(st_)) + ", expected F32, F16, BF16 or F64");
    if (!out.lora.targets_module(k.module))
      throw FormatError(st.string() + ": tensor '" + key + "' adapts " + k.module +
                        ", which the target_modules / exclude_modules / layers_to_transform of " +
                        cj.string() + " do not select (adapter and config do not belong together)");
    const int64_t r = out.lora.rank_of(k.module);
    const bool is_a = k.factor == 'A';
    if (t.dim() != 2 || (is_a ? t.size(0) : t.size(1)) != r)
      throw FormatError(st.string() + ": tensor '" + key + "' has shape " + c10::str(t.sizes()) +
                        " which does not match r=" + std::to_string(r) + " of " + cj.string() +
                        " for " + k.module);
    if (factors[k.module] & (is_a ? 1 : 2))
      throw FormatError(st.string() + ": two tensors for " + k.name);
    factors[k.module] |= is_a ? 1 : 2;
    if (!at::isfinite(t).all().item<bool>())
      throw FormatError(st.string() + ": tensor '" + key +
                        "' holds NaN or infinite values (a diverged training; retrain it)");
    // Factors stored in half precision or bfloat16 (as PEFT saves adapters trained in them)
    // widen to float32 exactly.
    entries.emplace_back(k.name, st_ == at::kFloat ? t : t.to(at::kFloat));
  }
  for (const auto& [module, bits] : factors)
    if (bits != 3)
      throw FormatError(st.string() + ": " + module + " has only its lora_" +
                        (bits == 1 ? "A" : "B") + " factor");
  if (entries.empty())
    throw FormatError(st.string() + ": holds no LoRA tensors (an empty adapter)");
  // Entries stay in file order (model order for files we write); load_into matches by name.
  out.adapter = Adapter(std::move(entries));
  return out;
}

}  // namespace

PeftAdapter load_peft_adapter(const std::string& path) {
  try {
    return load_peft_adapter_unguarded(path);
  } catch (const fs::filesystem_error& e) {
    // A name the system refuses (longer than NAME_MAX: found by tests/fuzz/fuzz_adapter_ref)
    // made std::filesystem throw with a message that was not lorascape's one line.
    throw FormatError(path.substr(0, 300) + (path.size() > 300 ? "…" : "") + ": " +
                      e.code().message() + " (expected a PEFT adapter folder or its " +
                      "adapter_model.safetensors)");
  }
}

}  // namespace lorascape::core
