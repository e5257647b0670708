// RunConfig: every setting of a lorascape run, loaded from TOML with `--set key=value`
// overrides. One table of fields (config.cpp) drives parsing, unknown-key errors, overrides,
// the resolved TOML written beside the results, and `lorascape config` documentation.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model_config.h"

namespace lorascape::core {

struct PretrainConfig {
  int64_t steps = 500;  // optimiser steps on the generic corpus
  int64_t batch = 32;
  double lr = 3e-3;
  double warmup = 0.05;  // fraction of steps with linear warm-up
  int64_t corpus_lines = 20000;
};

struct TaskConfig {
  std::string source = "builtin";  // "builtin" or a TRACE/LLMCL root folder
  std::vector<std::string> names;  // task order; empty = every task of the source
  // The prompt as the model reads it: "{prompt}" replaced by the example's prompt
  // (core/text_codec.h).
  std::string prompt_template = "{prompt}";
  int64_t train = 800;  // built-in suite: examples per split
  int64_t eval = 100;
  int64_t test = 200;
};

struct TrainConfig {
  std::string method = "seq";  // seq | one | mtl | er | ewc | agem | gem | olora | ilora | pp | l2p
  int64_t epochs = 12;         // epochs per task (used when steps = 0)
  int64_t steps = 0;           // optimiser steps per task; 0 = epochs × ⌈train / batch⌉
  int64_t batch = 32;
  double lr = 3e-3;
  // adamw | sgd: the optimiser of every method (sgd: plain SGD, GEM's and A-GEM's setting)
  std::string optimizer = "adamw";
  double momentum = 0.0;            // SGD momentum (sgd only)
  double warmup = 0.1;              // fraction of a task's steps with linear warm-up
  std::string schedule = "cosine";  // cosine | linear | constant (after warm-up)
  double clip = 1.0;                // max global gradient norm; 0 = off
  double weight_decay = 0.0;
  int64_t snapshot_every = 0;  // store the adapter every N steps in the run file; 0 = off
};

// Replay memory of past-task examples (er, agem, ilora).
struct ReplayConfig {
  int64_t buffer = 500;  // reservoir capacity in examples
};

struct EwcConfig {
  double lambda = 100;            // penalty weight λ in λ/2 Σ F (θ − θ*)²
  int64_t fisher_examples = 200;  // examples of the finished task the Fisher is averaged over
  // empirical: squared gradients of log p(the example's answer | prompt);
  // true: of log p(an answer sampled from the model | prompt)
  std::string fisher = "empirical";
  bool online = false;  // online EWC: one anchor, F ← γ·F_old + F_new
  double gamma = 0.9;   // online EWC's decay γ
};

struct GemConfig {
  int64_t memory = 62;  // episodic memory per finished task, in examples (8 × 62 ≈ buffer)
  double margin = 0.0;  // GEM's memory_strength: lower bound of the dual variables
};

struct OLoraConfig {
  double lambda1 = 0.5;  // orthogonality weight: lambda1 * sum |A_past A_new^T|
  double lambda2 = 0.0;  // L2 weight: lambda2 * sum ||new factor||_2
};

struct ILoraConfig {
  double lambda = 0.9;  // slow-learner interpolation weight (lambda' = min(1 - 1/(step+1), lambda))
  double gamma = 0.1;   // consistency-loss weight
  std::string target =
      "slow";  // slow | max: MSE target on replay samples (max ratchets: docs/methods.md)
  std::string layers = "all";   // all | last: hidden states in the consistency loss
  std::string report = "slow";  // slow | fast: the learner reported as the method's model
};

// Progressive Prompts (docs/methods.md `pp`): a soft prompt of `length` tokens per task.
struct PpConfig {
  int64_t length = 4;  // prompt tokens per task (the paper: 10 on 256+-token inputs)
};

// L2P (docs/methods.md `l2p`): a pool of pool_size prompts of `length` tokens with keys; top_n
// prompts per example. The paper's M = 10, N = 5, Lp = 5 on 196 ViT patches; scaled to the
// byte model's ~40-token inputs: N·Lp = 9 prompt tokens.
struct L2pConfig {
  int64_t pool_size = 10;  // M
  int64_t length = 3;      // Lp
  int64_t top_n = 3;       // N
  double lambda = 0.1;     // weight of the key-query matching loss (the reference code's 0.1)
};

struct EvalConfig {
  std::string split = "test";  // eval | test
  int64_t max_examples = 200;  // per task; 0 = all
  int64_t batch = 100;
};

struct RunConfig {
  int64_t seed = 1;
  std::string out = "lorascape-out/run";
  std::string base = "auto";    // base model safetensors, or "auto" = pretrain once and cache
  std::string device = "auto";  // cpu | cuda | auto
  int64_t threads = 0;          // intra-op threads; 0 = auto (core/device.h auto_threads)
  ModelConfig model;
  PretrainConfig pretrain;
  LoraConfig lora;
  TaskConfig tasks;
  TrainConfig train;
  ReplayConfig replay;
  EwcConfig ewc;
  GemConfig gem;
  OLoraConfig olora;
  ILoraConfig ilora;
  PpConfig pp;
  L2pConfig l2p;
  EvalConfig eval;

  void validate() const;  // throws ConfigError
  nlohmann::json to_json() const;
  std::string to_toml() const;
};

// Reads a TOML file over the defaults. Unknown keys and wrong types are ConfigErrors naming
// the file and key.
RunConfig load_config(const std::string& path);
// The inverse of RunConfig::to_json (keys missing from `j` keep their defaults); `origin`
// names the source in errors.
RunConfig config_from_json(const nlohmann::json& j, const std::string& origin);
// Applies one "key=value" override (value parsed as TOML, else taken as a string).
void apply_override(RunConfig& cfg, const std::string& assignment);

struct ConfigFieldDoc {
  std::string key, type, default_value, help;
};
std::vector<ConfigFieldDoc> config_fields();

}  // namespace lorascape::core
