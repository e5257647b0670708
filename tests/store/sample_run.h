// Sample run-file contents for the store tests, and a field-by-field comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/run_file.h"

namespace lorascape::test {

// A tensor of the given shape filled with distinct, seed-dependent values.
inline store::Tensor sample_tensor(const std::string& name, std::vector<int64_t> shape,
                                   uint32_t seed) {
  store::Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  size_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  t.values.resize(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (auto& v : t.values) {
    x = x * 1664525u + 1013904223u;
    v = static_cast<float>(x >> 8) / static_cast<float>(1u << 24) - 0.5f;
  }
  return t;
}

// LoRA factors of a 2-layer model with rank r and width C, in model order (which is not
// alphabetical: self_attn.q_proj, self_attn.v_proj, then mlp.down_proj).
inline store::AdapterData sample_adapter(uint32_t seed, int64_t r = 2, int64_t C = 8) {
  store::AdapterData a;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    for (const std::string m : {"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"}) {
      a.tensors.push_back(sample_tensor(p + m + ".lora_A.weight", {r, C}, seed++));  // (r, C)
      a.tensors.push_back(sample_tensor(p + m + ".lora_B.weight", {C, r}, seed++));  // (C, r)
    }
  }
  return a;
}

inline std::vector<std::vector<double>> sample_matrix(size_t T, double offset) {
  std::vector<std::vector<double>> R(T, std::vector<double>(T));
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < T; ++i) R[t][i] = offset + 0.1 * static_cast<double>(t) + 0.01 * i;
  return R;
}

// One method over `tasks`; `keys` are its adapter keys, the last one is reported, and each
// of the others is a learner with its own scores (a subset of the reported one's scores).
inline store::MethodData sample_method(const std::string& name,
                                       const std::vector<std::string>& tasks,
                                       const std::vector<std::string>& keys, uint32_t seed) {
  const size_t T = tasks.size();
  store::MethodData m;
  m.name = name;
  m.config_json = R"({"method":")" + name + R"(","lr":0.001,"epochs":2})";
  m.reported = keys.back();
  for (const char* score : {"exact_match", "token_acc", "loss"}) {
    m.R[score] = sample_matrix(T, seed * 0.5);
    m.base[score] = std::vector<double>(T, 0.125 * seed);
    m.metrics[score] = {{"OP", 0.5},         {"BWT", -0.25},      {"FWT", std::nan("")},
                        {"forgetting", 0.3}, {"plasticity", 0.9}, {"stability", 0.7}};
  }
  for (size_t k = 0; k + 1 < keys.size(); ++k) {
    store::LearnerScores& l = m.learners[keys[k]];
    for (const char* score : {"exact_match", "loss"}) {
      l.R[score] = sample_matrix(T, seed * 0.5 + 0.25 * static_cast<double>(k + 1));
      l.metrics[score] = {{"OP", 0.375 + 0.125 * static_cast<double>(k)},
                          {"BWT", -0.5},
                          {"FWT", std::nan("")},
                          {"forgetting", 0.6}};
    }
  }
  for (size_t t = 0; t < T; ++t) {
    store::StageData s;
    s.stage = static_cast<int>(t);
    s.task = tasks[t];
    for (size_t k = 0; k < keys.size(); ++k)
      s.adapters[keys[k]] = sample_adapter(seed * 100 + static_cast<uint32_t>(t * 10 + k));
    m.stages.push_back(std::move(s));
  }
  for (int i = 0; i < 3; ++i) {
    store::Snapshot s;
    s.step = 50 * (i + 1);
    s.task = i % static_cast<int>(T);
    s.adapter = sample_adapter(seed * 1000 + static_cast<uint32_t>(i));
    m.snapshots.push_back(std::move(s));
  }
  return m;
}

inline store::RunFileData sample_header() {
  store::RunFileData d;
  d.software_version = "0.1.0 (abc1234)";
  d.created = "2024-05-01T12:00:00Z";
  d.command_line = "lorascape train --config data/configs/quick.toml";
  d.config_json = R"({"seed":7,"tasks":["mc","arith","strings"]})";
  d.base_model = "tiny-llama.safetensors";
  d.base_model_digest = "sha256:0123456789abcdef";
  d.tasks = {"mc", "arith", "strings"};
  d.lora_rank = 2;
  d.lora_alpha = 4.0;
  d.lora_targets = {"q_proj", "v_proj", "down_proj"};
  return d;
}

// Two methods: "seq" (one adapter) and "ilora" (fast/slow, reports slow).
inline store::RunFileData sample_run() {
  store::RunFileData d = sample_header();
  d.methods.push_back(sample_method("seq", d.tasks, {"adapter"}, 1));
  d.methods.push_back(sample_method("ilora", d.tasks, {"fast", "slow"}, 2));
  return d;
}

inline bool same_double(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

inline void expect_same_adapter(const store::AdapterData& a, const store::AdapterData& b,
                                const std::string& where) {
  EXPECT_EQ(a.loaded, b.loaded) << where;
  ASSERT_EQ(a.tensors.size(), b.tensors.size()) << where;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name) << where << " tensor " << i;
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape) << where << " " << a.tensors[i].name;
    EXPECT_TRUE(a.tensors[i].values == b.tensors[i].values) << where << " " << a.tensors[i].name;
  }
}

// score -> metric -> value maps, equal with NaN == NaN.
inline void expect_same_metrics(const std::map<std::string, std::map<std::string, double>>& a,
                                const std::map<std::string, std::map<std::string, double>>& b,
                                const std::string& w) {
  ASSERT_EQ(a.size(), b.size()) << w;
  for (const auto& [score, values] : a) {
    ASSERT_TRUE(b.count(score)) << w << " " << score;
    const auto& other = b.at(score);
    ASSERT_EQ(values.size(), other.size()) << w << " " << score;
    for (const auto& [k, v] : values) {
      ASSERT_TRUE(other.count(k)) << w << " " << score << "/" << k;
      EXPECT_TRUE(same_double(v, other.at(k))) << w << " " << score << "/" << k;
    }
  }
}

inline void expect_same_method(const store::MethodData& a, const store::MethodData& b) {
  const std::string w = "method " + a.name;
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.config_json, b.config_json) << w;
  EXPECT_EQ(a.reported, b.reported) << w;
  EXPECT_EQ(a.R, b.R) << w;
  EXPECT_EQ(a.base, b.base) << w;
  expect_same_metrics(a.metrics, b.metrics, w);
  ASSERT_EQ(a.learners.size(), b.learners.size()) << w;
  for (const auto& [key, scores] : a.learners) {
    ASSERT_TRUE(b.learners.count(key)) << w << " learner " << key;
    EXPECT_EQ(scores.R, b.learners.at(key).R) << w << " learner " << key;
    expect_same_metrics(scores.metrics, b.learners.at(key).metrics, w + " learner " + key);
  }
  ASSERT_EQ(a.stages.size(), b.stages.size()) << w;
  for (size_t s = 0; s < a.stages.size(); ++s) {
    EXPECT_EQ(a.stages[s].stage, b.stages[s].stage) << w;
    EXPECT_EQ(a.stages[s].task, b.stages[s].task) << w;
    ASSERT_EQ(a.stages[s].adapters.size(), b.stages[s].adapters.size()) << w;
    for (const auto& [key, adapter] : a.stages[s].adapters) {
      ASSERT_TRUE(b.stages[s].adapters.count(key)) << w << " stage " << s << " " << key;
      expect_same_adapter(adapter, b.stages[s].adapters.at(key),
                          w + " stage " + std::to_string(s) + " " + key);
    }
  }
  ASSERT_EQ(a.snapshots.size(), b.snapshots.size()) << w;
  for (size_t i = 0; i < a.snapshots.size(); ++i) {
    EXPECT_EQ(a.snapshots[i].step, b.snapshots[i].step) << w;
    EXPECT_EQ(a.snapshots[i].task, b.snapshots[i].task) << w;
    expect_same_adapter(a.snapshots[i].adapter, b.snapshots[i].adapter,
                        w + " snapshot " + std::to_string(i));
  }
}

inline void expect_same_run(const store::RunFileData& a, const store::RunFileData& b) {
  EXPECT_EQ(a.format_version, b.format_version);
  EXPECT_EQ(a.software_version, b.software_version);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.command_line, b.command_line);
  EXPECT_EQ(a.config_json, b.config_json);
  EXPECT_EQ(a.base_model, b.base_model);
  EXPECT_EQ(a.base_model_digest, b.base_model_digest);
  EXPECT_EQ(a.tasks, b.tasks);
  EXPECT_EQ(a.lora_rank, b.lora_rank);
  EXPECT_EQ(a.lora_alpha, b.lora_alpha);
  EXPECT_EQ(a.lora_targets, b.lora_targets);
  ASSERT_EQ(a.methods.size(), b.methods.size());
  for (size_t i = 0; i < a.methods.size(); ++i) expect_same_method(a.methods[i], b.methods[i]);
}

}  // namespace lorascape::test
