#include "core/adapter.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "core/model.h"
#include "core/safetensors.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;

namespace {
const std::string kPeftPrefix = "base_model.model.";
}

Adapter Adapter::from_model(TransformerImpl& model) {
  std::vector<Entry> out;
  for (auto& [name, p] : model.lora_parameters()) out.emplace_back(name, p.detach().clone());
  return Adapter(std::move(out));
}

void Adapter::load_into(TransformerImpl& model, const std::string& origin) const {
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

std::string from_peft_key(const std::string& key, const std::string& origin) {
  if (key.rfind(kPeftPrefix, 0) != 0 || !is_lora_parameter(key))
    throw FormatError(origin + ": key '" + key + "' is not a PEFT LoRA key (expected '" +
                      kPeftPrefix +
                      "model.layers.N.<module>.lora_A.weight'); is this a LoRA adapter file?");
  return key.substr(kPeftPrefix.size());
}

LoraConfig lora_config_of(const LoraConfig& lora, const Adapter& adapter) {
  LoraConfig out = lora;
  for (const auto& [name, t] : adapter.entries())
    if (name.find("lora_A") != std::string::npos) {
      out.rank = t.size(0);
      out.alpha = lora.scale() * static_cast<double>(out.rank);
      break;
    }
  return out;
}

void save_peft_adapter(const std::string& dir, const Adapter& adapter, const LoraConfig& lora,
                       const nlohmann::json& extra) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw FormatError("cannot create adapter folder " + dir + ": " + ec.message() +
                      " (check the path and permissions)");
  NamedTensors tensors;
  for (const auto& [n, t] : adapter.entries())
    tensors.emplace_back(to_peft_key(n), t.detach().to(at::kCPU).contiguous());
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::json cfg = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"r", lora.rank},
      {"lora_alpha", lora.alpha},
      {"lora_dropout", lora.dropout},
      {"target_modules", lora.targets},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"base_model_name_or_path", extra.value("base_model", std::string("lorascape-base"))},
      {"lorascape", extra}};
  const std::string path = dir + "/adapter_config.json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) throw FormatError("cannot write " + tmp + " (check permissions / disk space)");
    f << cfg.dump(2) << "\n";
    if (!f) throw FormatError("cannot write " + tmp + " (disk full?)");
  }
  fs::rename(tmp, path, ec);
  if (ec) throw FormatError("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

PeftAdapter load_peft_adapter(const std::string& path) {
  fs::path p(path);
  fs::path dir = fs::is_directory(p) ? p : p.parent_path();
  fs::path st = fs::is_directory(p) ? p / "adapter_model.safetensors" : p;
  fs::path cj = dir / "adapter_config.json";
  if (!fs::exists(st))
    throw FormatError(st.string() +
                      ": no such file (an adapter folder holds adapter_model.safetensors and "
                      "adapter_config.json)");
  if (!fs::exists(cj))
    throw FormatError(cj.string() +
                      ": no such file (an adapter folder holds adapter_model.safetensors and "
                      "adapter_config.json)");
  PeftAdapter out;
  nlohmann::json cfg;
  {
    std::ifstream f(cj);
    try {
      cfg = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(cj.string() + ": not valid JSON (" + e.what() + ")");
    }
  }
  try {
    if (cfg.value("peft_type", std::string("LORA")) != "LORA")
      throw FormatError(cj.string() + ": peft_type is '" + cfg["peft_type"].get<std::string>() +
                        "', only LORA is supported");
    out.lora.rank = cfg.at("r").get<int64_t>();
    out.lora.alpha = cfg.at("lora_alpha").get<double>();
    out.lora.dropout = cfg.value("lora_dropout", 0.0);
    out.lora.targets = cfg.at("target_modules").get<std::vector<std::string>>();
    out.extra = cfg.value("lorascape", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cj.string() + ": " + e.what() + " (needs r, lora_alpha, target_modules)");
  }
  try {
    out.lora.validate();
  } catch (const ConfigError& e) {
    throw FormatError(cj.string() + ": " + e.what());
  }
  SafetensorsData data = read_safetensors(st.string());
  std::vector<Adapter::Entry> entries;
  for (auto& [key, t] : data.tensors) {
    if (t.scalar_type() != at::kFloat)
      throw FormatError(st.string() + ": tensor '" + key + "' has dtype " +
                        std::string(c10::toString(t.scalar_type())) + ", expected F32");
    const std::string name = from_peft_key(key, st.string());
    const bool is_a = name.find(".lora_A.") != std::string::npos;
    if (t.dim() != 2 || (is_a ? t.size(0) : t.size(1)) != out.lora.rank)
      throw FormatError(st.string() + ": tensor '" + key + "' has shape " + c10::str(t.sizes()) +
                        " which does not match r=" + std::to_string(out.lora.rank) +
                        " of adapter_config.json");
    entries.emplace_back(name, t);
  }
  // Entries stay in file order (model order for files we write); load_into matches by name.
  out.adapter = Adapter(std::move(entries));
  return out;
}

}  // namespace lorascape::core
