// The base language model: pretraining from scratch on a generic corpus (core/corpus.h),
// saving/loading it as safetensors with its ModelConfig in the metadata, and a cache so the
// demo pretrains only once per configuration.
#pragma once

#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"
#include "core/model.h"

namespace lorascape::core {

// Learning rate at `step` (0-based) of `total`: linear warm-up over warmup·total steps, then
// cosine / linear decay to 10% of peak, or constant.
double scheduled_lr(int64_t step, int64_t total, double peak, double warmup,
                    const std::string& schedule);

// Sets the learning rate of every parameter group of an optimiser (AdamW, SGD, …).
void set_lr(torch::optim::Optimizer& opt, double lr);

// Mean cross-entropy over scored positions. logits (B, T, V), target (B, T), mask (B, T).
at::Tensor masked_cross_entropy(const at::Tensor& logits, const at::Tensor& target,
                                const at::Tensor& mask);

struct PretrainReport {
  double first_loss = 0, final_loss = 0, seconds = 0;
  int64_t steps = 0;
};

// Trains all weights of a fresh model (seeded) on the generic corpus.
Transformer pretrain_base_model(const ModelConfig& model, const PretrainConfig& pre, int64_t seed,
                                const c10::Device& device, PretrainReport* report = nullptr);

void save_base_model(const std::string& path, TransformerImpl& model, const nlohmann::json& info);
// Strict: the file's metadata must hold a model_config, and every base tensor must be present
// with the right shape and F32 dtype (FormatError otherwise). A Hugging Face model folder
// (config.json + safetensors weights) loads through load_hf_model (core/hf_model.h).
Transformer load_base_model(const std::string& path);

// 64-bit FNV-1a of a file's bytes, as 16 hex digits: the base model's identity (of a Hugging
// Face model folder: hf_model_digest).
std::string file_digest(const std::string& path);

// $LORASCAPE_CACHE, else $XDG_CACHE_HOME/lorascape, else ~/.cache/lorascape.
std::string cache_dir();
// The cached lorascape base model `name` (the base_model an adapter records): its path in
// cache_dir(). ConfigError naming `origin` when `name` is empty or the cache lacks it (set `base`).
std::string cached_base_model(const std::string& name, const std::string& origin);
// cfg.base when it is a path; for "auto", the cached file for this model+pretrain config and
// seed, pretraining it first when absent.
std::string ensure_base_model(const RunConfig& cfg, const c10::Device& device);

}  // namespace lorascape::core
