// The continual-learning methods (DESIGN.md "Strategy"), all on one LoRA adapter:
//   seq   one adapter trained on the tasks in order
//   er    experience replay: each step adds an equally sized batch drawn from a reservoir
//         of past-task examples (replay.buffer)
//   ewc   elastic weight consolidation: after each task, the Fisher F (mean squared
//         gradients of the LoRA factors) and the anchor θ* are stored; the loss adds
//         Σ_k λ/2 · Σ F_k (θ − θ*_k)² over all finished tasks k
//   agem  averaged GEM: a reference gradient g_ref from a replay batch; when g·g_ref < 0 the
//         step uses g − (g·g_ref)/(g_ref·g_ref) · g_ref
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/replay.h"
#include "core/train.h"

namespace lorascape::core {

const std::vector<std::string>& method_names();
// The strategy cfg.train.method names (ConfigError listing the known ones otherwise).
std::unique_ptr<Strategy> make_strategy(const RunConfig& cfg);

// Strategies that replay past tasks share this: at the end of each task its training
// examples are offered, in a seeded random order, to a reservoir.
class ReplayStrategy : public Strategy {
 public:
  explicit ReplayStrategy(const RunConfig& cfg);
  void after_task(TrainContext& ctx) override;
  ReservoirBuffer& buffer() { return buffer_; }

 protected:
  ReservoirBuffer buffer_;
  uint64_t seed_;
};

class ErStrategy : public ReplayStrategy {
 public:
  using ReplayStrategy::ReplayStrategy;
  std::string name() const override { return "er"; }
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
};

class AgemStrategy : public ReplayStrategy {
 public:
  using ReplayStrategy::ReplayStrategy;
  std::string name() const override { return "agem"; }
  void after_backward(TrainContext& ctx) override;
  // The A-GEM projection of g against g_ref (flat vectors); returns g unchanged when
  // g·g_ref >= 0.
  static at::Tensor project(const at::Tensor& g, const at::Tensor& g_ref);
};

class EwcStrategy : public Strategy {
 public:
  explicit EwcStrategy(const RunConfig& cfg) : lambda_(cfg.ewc.lambda), fisher_batches_(cfg.ewc.fisher_batches) {}
  std::string name() const override { return "ewc"; }
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  void after_task(TrainContext& ctx) override;
  // Σ_k λ/2 · Σ F_k (θ − θ*_k)² for the given parameters (0 before the first task ends).
  at::Tensor penalty(const std::vector<at::Tensor>& params) const;
  struct Anchor {
    std::vector<at::Tensor> fisher, theta;
  };
  const std::vector<Anchor>& anchors() const { return anchors_; }

 private:
  double lambda_;
  int64_t fisher_batches_;
  std::vector<Anchor> anchors_;
};

}  // namespace lorascape::core
