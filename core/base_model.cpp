#include "core/base_model.h"

#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "core/corpus.h"
#include "core/hf_model.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/tokenizer.h"
#include "core/version.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;

double scheduled_lr(int64_t step, int64_t total, double peak, double warmup,
                    const std::string& schedule) {
  const int64_t w = static_cast<int64_t>(std::floor(warmup * static_cast<double>(total)));
  if (step < w) return peak * static_cast<double>(step + 1) / static_cast<double>(w);
  if (schedule == "constant" || total - w <= 1) return peak;
  const double p = static_cast<double>(step - w) / static_cast<double>(total - w - 1);  // 0..1
  const double floor = 0.1 * peak;
  if (schedule == "linear") return floor + (peak - floor) * (1.0 - p);
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * p));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

at::Tensor masked_cross_entropy(const at::Tensor& logits, const at::Tensor& target,
                                const at::Tensor& mask) {
  const int64_t V = logits.size(-1);
  at::Tensor ce =
      at::cross_entropy_loss(logits.reshape({-1, V}).to(at::kFloat), target.reshape({-1}), {},
                             at::Reduction::None);  // (B*T)
  at::Tensor m = mask.reshape({-1});
  return (ce * m).sum() / m.sum().clamp_min(1.0);
}

Transformer pretrain_base_model(const ModelConfig& mcfg, const PretrainConfig& pre, int64_t seed,
                                const c10::Device& device, PretrainReport* report) {
  if (mcfg.tokenizer != "bytes")
    throw ConfigError("pretraining is for byte-tokenizer models only (`model.tokenizer` is \"" +
                      mcfg.tokenizer +
                      "\"); fine-tune a pretrained Hugging Face model from its folder instead");
  torch::manual_seed(static_cast<uint64_t>(seed));
  Transformer model(mcfg);
  model->to(device);
  model->train();
  const auto corpus = generic_corpus(derive_seed(static_cast<uint64_t>(seed), "pretrain-corpus"),
                                     static_cast<int>(pre.corpus_lines));
  torch::optim::AdamW opt(model->parameters(),
                          torch::optim::AdamWOptions(pre.lr).weight_decay(0.01));
  ShuffledCycle order(corpus.size(), derive_seed(static_cast<uint64_t>(seed), "pretrain-order"));
  PretrainReport rep;
  const auto t0 = std::chrono::steady_clock::now();
  Progress bar("pretrain", pre.steps);
  double ema = 0;
  for (int64_t step = 0; step < pre.steps; ++step) {
    std::vector<const std::string*> lines;
    for (int64_t b = 0; b < pre.batch; ++b) lines.push_back(&corpus[order.next()]);
    TokenBatch batch = encode_texts(lines, mcfg.max_seq);
    set_lr(opt, scheduled_lr(step, pre.steps, pre.lr, pre.warmup, "cosine"));
    opt.zero_grad();
    at::Tensor loss = masked_cross_entropy(model->forward(batch.input.to(device)),
                                           batch.target.to(device), batch.mask.to(device));
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    opt.step();
    const double l = loss.item<double>();
    if (step == 0) rep.first_loss = ema = l;
    ema = 0.95 * ema + 0.05 * l;
    char info[64];
    std::snprintf(info, sizeof info, "loss %.3f", ema);
    bar.update(step + 1, info);
  }
  char info[64];
  std::snprintf(info, sizeof info, "loss %.3f", ema);
  bar.finish(info);
  rep.final_loss = ema;
  rep.steps = pre.steps;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report) *report = rep;
  model->eval();
  return model;
}

void save_base_model(const std::string& path, TransformerImpl& model, const nlohmann::json& info) {
  NamedTensors tensors;
  for (auto& [name, p] : model.base_parameters())
    tensors.emplace_back(name, p.detach().to(at::kCPU).contiguous());
  std::map<std::string, std::string> meta{{"format", "lorascape-base"},
                                          {"model_config", model.config().to_json().dump()},
                                          {"lorascape_version", kVersion},
                                          {"info", info.dump()}};
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
  }
  write_safetensors(path, tensors, meta);
}

Transformer load_base_model(const std::string& path) {
  if (is_hf_model_dir(path)) return load_hf_model(path);
  SafetensorsData d = read_safetensors(path);
  auto it = d.metadata.find("model_config");
  if (it == d.metadata.end())
    throw FormatError(path +
                      ": no 'model_config' in the safetensors metadata (not a lorascape base "
                      "model; create one with `lorascape pretrain`)");
  ModelConfig mc;
  try {
    mc = ModelConfig::from_json(nlohmann::json::parse(it->second));
  } catch (const nlohmann::json::exception&) {
    throw FormatError(path + ": metadata 'model_config' is not valid JSON (file damaged?)");
  }
  try {
    mc.validate();
  } catch (const ConfigError& e) {
    throw FormatError(path + ": model_config is invalid: " + e.what());
  }
  // Nothing is allocated for a model_config whose sizes the file cannot hold (4 bytes per
  // parameter): a few-KB file cannot make lorascape reserve terabytes.
  double bytes = 0;
  for (const auto& [name, t] : d.tensors)
    bytes += static_cast<double>(t.numel()) * static_cast<double>(t.element_size());
  if (4.0 * static_cast<double>(mc.parameter_count()) > bytes)
    throw FormatError(path + ": model_config implies " + std::to_string(mc.parameter_count()) +
                      " parameters, but the file holds only " +
                      std::to_string(static_cast<int64_t>(bytes)) +
                      " bytes of tensors (file damaged or edited?)");
  Transformer model(mc);
  auto params = model->base_parameters();
  std::set<std::string> expected;
  torch::NoGradGuard ng;
  for (auto& [name, p] : params) {
    expected.insert(name);
    const at::Tensor* t = d.find(name);
    if (!t)
      throw FormatError(path + ": tensor '" + name +
                        "' is missing (file made for another model layout?)");
    if (t->scalar_type() != at::kFloat)
      throw FormatError(path + ": tensor '" + name + "' has dtype " +
                        std::string(c10::toString(t->scalar_type())) + ", expected F32");
    if (t->sizes() != p.sizes())
      throw FormatError(path + ": tensor '" + name + "' has shape " + c10::str(t->sizes()) +
                        ", model_config implies " + c10::str(p.sizes()));
    if (!at::isfinite(*t).all().item<bool>())
      throw FormatError(path + ": tensor '" + name +
                        "' holds NaN or infinite values (a diverged or damaged model; "
                        "pretrain it again)");
    p.copy_(*t);
  }
  for (const auto& [name, t] : d.tensors)
    if (!expected.count(name))
      throw FormatError(path + ": unexpected tensor '" + name +
                        "' (a base model file holds only base weights)");
  model->eval();
  return model;
}

std::string file_digest(const std::string& path) {
  if (is_hf_model_dir(path)) return hf_model_digest(path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError("cannot open " + path + " (check the path)");
  uint64_t h = 1469598103934665603ULL;
  char buf[1 << 16];
  while (f) {
    f.read(buf, sizeof buf);
    for (std::streamsize i = 0; i < f.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string cache_dir() {
  if (const char* c = std::getenv("LORASCAPE_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/lorascape";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/lorascape";
  return ".lorascape-cache";
}

std::string cached_base_model(const std::string& name, const std::string& origin) {
  if (name.empty())
    throw ConfigError(origin +
                      ": adapter_config.json names no lorascape base model; set `base` to the base "
                      "model file or Hugging Face model folder it was trained on");
  const std::string path = cache_dir() + "/" + name;
  if (!fs::exists(path))
    throw ConfigError(origin + ": its base model " + name + " is not in the cache " + cache_dir() +
                      "; set `base`");
  return path;
}

std::string ensure_base_model(const RunConfig& cfg, const c10::Device& device) {
  if (cfg.base != "auto") {
    if (!fs::exists(cfg.base))
      throw ConfigError("base: file '" + cfg.base +
                        "' does not exist (run `lorascape pretrain --out " + cfg.base +
                        "` or set base = \"auto\")");
    return cfg.base;
  }
  // The cache key covers everything that determines the pretrained weights.
  nlohmann::json key = {{"model", cfg.model.to_json()},
                        {"steps", cfg.pretrain.steps},
                        {"batch", cfg.pretrain.batch},
                        {"lr", cfg.pretrain.lr},
                        {"warmup", cfg.pretrain.warmup},
                        {"corpus_lines", cfg.pretrain.corpus_lines},
                        {"seed", cfg.seed},
                        {"version", kVersion}};
  const std::string k = key.dump();
  uint64_t h = derive_seed(0, k);
  char name[64];
  std::snprintf(name, sizeof name, "base-%016llx.safetensors", static_cast<unsigned long long>(h));
  const std::string path = cache_dir() + "/" + name;
  if (fs::exists(path)) {
    try {
      (void)load_base_model(path);
      return path;
    } catch (const FormatError& e) {
      std::cerr << "[lorascape] cached base model is damaged, pretraining again: " << e.what()
                << "\n";
    }
  }
  std::cerr << "[lorascape] pretraining the base model (cached afterwards in " << path << ")\n";
  PretrainReport rep;
  Transformer m = pretrain_base_model(cfg.model, cfg.pretrain, cfg.seed, device, &rep);
  nlohmann::json info = key;
  info["first_loss"] = rep.first_loss;
  info["final_loss"] = rep.final_loss;
  info["seconds"] = rep.seconds;
  save_base_model(path, *m, info);
  return path;
}

}  // namespace lorascape::core
