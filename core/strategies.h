// The continual-learning methods (DESIGN.md "Strategy"), all on LoRA (docs/methods.md):
//   seq   one adapter trained on the tasks in order
//   one   a fresh adapter per task, each task evaluated with its own (task-aware reference)
//   mtl   joint training on the union of all tasks, in T stages (upper reference)
//   er    experience replay: each step adds an equally sized batch drawn from a reservoir
//         of past-task examples (replay.buffer)
//   ewc   elastic weight consolidation: after each task, the diagonal Fisher F (mean over
//         examples of the squared per-example gradient of log p(answer | prompt) w.r.t. the
//         LoRA factors) and the anchor θ* are stored; the loss adds Σ_k λ/2 · Σ F_k (θ − θ*_k)²
//         over all finished tasks k (online: one term, F ← γ·F_old + F_new, θ* the latest)
//   agem  averaged GEM: a reference gradient g_ref from a replay batch; when g·g_ref < 0 the
//         step uses g − (g·g_ref)/(g_ref·g_ref) · g_ref
//   gem   GEM: an episodic memory per finished task; when the gradient conflicts with a
//         memory gradient (the mean over that task's whole memory), it is projected by solving
//         GEM's quadratic programme in its dual
//   olora O-LoRA: a new adapter per task, the past ones frozen and summed in, with the
//         orthogonality penalty λ₁·Σ|A_past A_newᵀ| (+ λ₂ Σ‖new factor‖₂)
//   ilora I-LoRA: a fast adapter trained with replay and a consistency loss towards a slow
//         adapter, which follows the fast one by interpolation after every step
// and two on soft prompts (core/prompt.h; the model's LoRA stays at B = 0, untrained):
//   pp    Progressive Prompts: a new prompt per task, the earlier ones frozen, all of them
//         prepended newest first [P_t; …; P_1] (no task identity at test time)
//   l2p   L2P: a pool of prompts with keys; the top-N by cosine of key and the frozen model's
//         query are prepended per example; loss + λ·Σ(1 − cos(query, selected key))
#pragma once

#include <Eigen/Dense>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/replay.h"
#include "core/rng.h"
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
  // The reservoir: its examples (as (task, index)), offer count and generator state.
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  ReservoirBuffer& buffer() { return buffer_; }

 protected:
  // The batch followed by an equally sized sample of the reservoir (er's and ilora's joint batch).
  std::vector<const Example*> with_replay(const std::vector<const Example*>& batch);

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

// Joint training on the union of all T tasks for T × (a task's steps), cut into T stages of
// a task's length: every batch is drawn from a seeded shuffle of all training examples
// (reshuffled each stage). R[t] is the joint model after stage t; the last row is the
// multi-task upper reference. A step takes 2 × train.batch examples: the examples per step of
// er, agem and ilora (current + replay batch).
class MtlStrategy : public Strategy {
 public:
  explicit MtlStrategy(const RunConfig& cfg);
  std::string name() const override { return "mtl"; }
  void before_task(TrainContext& ctx) override;
  // The current batch is replaced by twice as many examples from the union.
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  std::vector<const Example*> draw(size_t n);

 private:
  uint64_t seed_;
  std::vector<const Example*> pool_;
  std::unique_ptr<ShuffledCycle> order_;
};

class GemStrategy : public Strategy {
 public:
  explicit GemStrategy(const RunConfig& cfg);
  std::string name() const override { return "gem"; }
  void after_backward(TrainContext& ctx) override;
  void after_task(TrainContext& ctx) override;
  // The episodic memories, as (task, index) per finished task.
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  // GEM's projection: the g̃ closest to g with G g̃ ≥ 0 (G's rows: one gradient per past
  // task), through the dual  min_v ½ vᵀ(G Gᵀ)v + (G g)ᵀv  s.t. v ≥ margin,  g̃ = Gᵀv + g.
  // Returns g unchanged when no constraint is violated.
  static at::Tensor project(const at::Tensor& g, const at::Tensor& G, double margin);
  // The box-constrained QP min ½ vᵀPv + qᵀv, v ≥ lower, by cyclic coordinate descent
  // (P symmetric positive definite; exact to ~1e-12 relative).
  static Eigen::VectorXd solve_dual(const Eigen::MatrixXd& P, const Eigen::VectorXd& q,
                                    double lower);
  const std::vector<std::vector<const Example*>>& memories() const { return memories_; }
  // The flat gradient (over ctx.params) of the mean answer-token cross-entropy over the whole
  // memory of finished task k, computed in chunks of train.batch examples, each chunk's mean
  // weighted by its share of the memory's answer tokens (the gradient of one batch holding the
  // whole memory). Leaves the parameters' gradients holding it.
  at::Tensor memory_gradient(TrainContext& ctx, size_t k);

 private:
  int64_t memory_;
  double margin_;
  uint64_t seed_;
  std::vector<std::vector<const Example*>> memories_;
};

class OLoraStrategy : public Strategy {
 public:
  explicit OLoraStrategy(const RunConfig& cfg)
      : lambda1_(cfg.olora.lambda1), lambda2_(cfg.olora.lambda2) {}
  std::string name() const override { return "olora"; }
  void before_task(TrainContext& ctx) override;
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  // The sum of every task adapter so far as one adapter of rank T·r (past tasks' factors,
  // then the current one, then zeros for tasks not yet trained).
  Adapter stored(TrainContext& ctx, const Adapter& learner) override;
  // λ₁·Σ_layers Σ|A_past A_newᵀ| + λ₂·Σ(‖A_new‖₂ + ‖B_new‖₂) of the model's current factors.
  at::Tensor penalty(TransformerImpl& model) const;

 private:
  double lambda1_, lambda2_;
};

class ILoraStrategy : public ReplayStrategy {
 public:
  explicit ILoraStrategy(const RunConfig& cfg);
  std::string name() const override { return "ilora"; }
  void before_task(TrainContext& ctx) override;
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  void after_step(TrainContext& ctx) override;
  std::vector<std::pair<std::string, Adapter>> learners(TrainContext& ctx) override;
  std::string reported() const override { return report_; }
  // The reservoir (ReplayStrategy) and the slow learner.
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  // λ' after optimiser step number `step` (1 for the first step of the run).
  static double interpolation_weight(int64_t step, double lambda);
  // Mean over the given hidden-state pairs of the masked MSE between fast and its target:
  // max(fast, slow) elementwise ("max") or slow ("slow"). valid: (B, T) float, 1 on real tokens.
  static at::Tensor consistency(const std::vector<at::Tensor>& fast,
                                const std::vector<at::Tensor>& slow, const at::Tensor& valid,
                                const std::string& target);
  const Adapter& slow() const { return slow_; }

 private:
  double lambda_, gamma_;
  std::string target_, layers_, report_;
  Adapter slow_;
};

class EwcStrategy : public Strategy {
 public:
  explicit EwcStrategy(const RunConfig& cfg);
  std::string name() const override { return "ewc"; }
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  // Estimates the finished task's Fisher at the current parameters and stores it with the
  // anchor θ* (online: merges it into the one anchor, F ← γ·F_old + F_new, θ* ← θ).
  void after_task(TrainContext& ctx) override;
  // The anchors: each one's Fisher and θ* (online EWC: the one accumulated anchor).
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  // Σ_k λ/2 · Σ F_k (θ − θ*_k)² for the given parameters (0 before the first task ends).
  at::Tensor penalty(const std::vector<at::Tensor>& params) const;
  // The examples the Fisher of task ctx.task is averaged over: the first ewc.fisher_examples
  // of a seeded shuffle of its training split (all of it when it is smaller).
  std::vector<const Example*> fisher_sample(const TrainContext& ctx) const;
  // The diagonal Fisher of ctx.params at their current values: the mean over `examples` of
  // (∂ log p(y | x) / ∂θ)², one backward pass per example (batch 1, so exactly per example),
  // log p(y | x) the sum of the log-probabilities of the answer tokens and the EOS. y is the
  // example's own answer (ewc.fisher = empirical) or an answer sampled from the model given
  // the prompt with `rng` (true; see sample_answer). Dropout is off while it runs.
  std::vector<at::Tensor> fisher(TrainContext& ctx, const std::vector<const Example*>& examples,
                                 Rng& rng) const;
  // Ancestral sampling at temperature 1 from the model given `context` (token ids): tokens are
  // drawn from softmax(logits) by inverse CDF with rng.uniform() until the EOS is drawn
  // (included) or the sequence reaches max_len tokens.
  static std::vector<int64_t> sample_answer(TransformerImpl& model,
                                            const std::vector<int64_t>& context, int64_t max_len,
                                            Rng& rng);
  struct Anchor {
    std::vector<at::Tensor> fisher, theta;
  };
  const std::vector<Anchor>& anchors() const { return anchors_; }

 private:
  double lambda_, gamma_;
  int64_t fisher_examples_;
  bool true_fisher_, online_;
  uint64_t seed_;
  std::vector<Anchor> anchors_;
};

// Prompts are initialised as copies of token-embedding rows drawn uniformly (seeded) from the
// codec's vocabulary ("sampled vocabulary" initialisation of prompt tuning): (n, C) float32
// rows (prompts stay float32 on a bfloat16 base, as LoRA factors do).
at::Tensor sampled_vocab_rows(TransformerImpl& model, int64_t n, uint64_t seed);

class PpStrategy : public Strategy {
 public:
  explicit PpStrategy(const RunConfig& cfg);
  std::string name() const override { return "pp"; }
  // A fresh trainable prompt for the task; the model's prompt becomes [P_t; …; P_1] and the
  // optimiser gets P_t alone.
  void before_task(TrainContext& ctx) override;
  // P_t is frozen (a detached copy) from here on.
  void after_task(TrainContext& ctx) override;
  // The finished tasks' prompts.
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  // The task prompts in task order (P_1 … P_t; the last is trainable during its task).
  const std::vector<at::Tensor>& prompts() const { return prompts_; }

 private:
  int64_t length_;
  uint64_t seed_;
  std::vector<at::Tensor> prompts_;
};

class L2pStrategy : public Strategy {
 public:
  explicit L2pStrategy(const RunConfig& cfg);
  std::string name() const override { return "l2p"; }
  // The pool and keys (made at the first task), installed as the model's prompt and trained.
  void before_task(TrainContext& ctx) override;
  // Answer-token cross-entropy with the selected prompts + λ · l2p_matching_loss.
  at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch) override;
  // The pool and keys as trained so far.
  void save_state(const TrainContext& ctx, TrainState& state) const override;
  void load_state(TrainContext& ctx, const TrainState& state) override;
  const at::Tensor& pool() const { return pool_; }
  const at::Tensor& keys() const { return keys_; }

 private:
  int64_t pool_size_, length_, top_n_;
  double lambda_;
  uint64_t seed_;
  at::Tensor pool_, keys_;
};

}  // namespace lorascape::core
