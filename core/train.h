// Continual LoRA fine-tuning over a task sequence.
//
// A Strategy is one continual-learning method: hooks around tasks and steps plus its own
// loss. `seq` (one adapter trained through all tasks) is the plain one; the methods of the
// continual-learning issue plug in here.
#pragma once

#include <torch/optim/optimizer.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/config.h"
#include "core/evaluate.h"
#include "core/metrics.h"
#include "core/model.h"
#include "core/tasks.h"
#include "core/tokenizer.h"

namespace lorascape::core {

struct TrainContext {
  TrainContext(TransformerImpl& m, const RunConfig& c, const std::vector<Task>& t, c10::Device d)
      : model(m), cfg(c), tasks(t), device(d) {}
  TransformerImpl& model;
  const RunConfig& cfg;
  const std::vector<Task>& tasks;
  c10::Device device;
  size_t task = 0;          // index of the task being trained
  int64_t step = 0;         // step within the task
  int64_t task_steps = 0;   // steps of this task
  int64_t global_step = 0;  // steps since the start of the run
  torch::optim::Optimizer* optimizer = nullptr;
  std::vector<at::Tensor> params;  // the trainable LoRA factors
};

// The optimiser of cfg.train.optimizer over `params`: AdamW (weight decay decoupled) or plain SGD
// (train.momentum, weight decay as L2), at learning rate cfg.train.lr.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const RunConfig& cfg,
                                                        const std::vector<at::Tensor>& params);

// Mean answer-token cross-entropy of the model on a batch of examples.
at::Tensor examples_loss(TransformerImpl& model, const std::vector<const Example*>& batch,
                         const c10::Device& device);

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  virtual void before_task(TrainContext&) {}
  // The loss of one step on the current task's batch; the default is its answer-token
  // cross-entropy.
  virtual at::Tensor loss(TrainContext& ctx, const std::vector<const Example*>& batch);
  // After backward, before clipping and the optimiser step (gradient surgery goes here).
  virtual void after_backward(TrainContext&) {}
  virtual void after_step(TrainContext&) {}
  virtual void after_task(TrainContext&) {}

  // The learners saved and evaluated at the end of every task, by adapter key, each loadable
  // into the model (same names and shapes as its LoRA). Default: {"adapter": the model's}.
  // I-LoRA has "fast" and "slow".
  virtual std::vector<std::pair<std::string, Adapter>> learners(TrainContext& ctx);
  // The key of the learner that is the method's reported model.
  virtual std::string reported() const { return "adapter"; }
  // What is stored (adapter folders, run file, snapshots) for a learner: by default itself.
  // O-LoRA stores the sum of all its task adapters as one rank-T·r adapter.
  virtual Adapter stored(TrainContext&, const Adapter& learner) { return learner; }
  // Task-aware methods (`one`) evaluate task i after stage t with the adapter of stage
  // min(t, i): every task with its own adapter once it has been trained.
  virtual bool task_aware() const { return false; }
};

struct RunResult {
  std::vector<std::string> tasks;
  std::vector<Scores> base;  // b[i]: the base model (B = 0) on task i
  struct Learner {
    std::vector<std::vector<Scores>> R;  // R[t][i]: after training through task t, on task i
    std::vector<Adapter> stages;         // the stored adapter at the end of each task
    std::vector<std::string> dirs;       // its PEFT folder per stage, relative to the run folder
  };
  std::map<std::string, Learner> learners;  // by adapter key ("adapter", or "fast"/"slow")
  std::string reported = "adapter";         // the key of the method's reported learner
  const Learner& main() const { return learners.at(reported); }
  std::vector<double> final_train_loss;  // smoothed training loss at the end of each task
  struct Snapshot {
    int64_t step;
    int task;
    Adapter adapter;
  };
  std::vector<Snapshot> snapshots;  // every train.snapshot_every steps (0 = none)
  double seconds = 0;
  nlohmann::json to_json() const;
  // Matrix of one score ("exact_match" | "token_acc" | "loss") of a learner (default: the
  // reported one).
  std::vector<std::vector<double>> matrix(const std::string& score,
                                          const std::string& learner = "") const;
  std::vector<double> base_row(const std::string& score) const;
  // The continual-learning metrics of one score (core/metrics.h).
  ClMetrics metrics(const std::string& score, const std::string& learner = "") const;
};

// Trains `model` (which must carry LoRA) through `tasks`, saving the adapter after each task
// under out_dir/adapters/ and evaluating every task after every task. `identity` (base model
// digest, command line …) is stored in each adapter's config.
RunResult train_continual(const RunConfig& cfg, TransformerImpl& model,
                          const std::vector<Task>& tasks, const std::string& out_dir,
                          const nlohmann::json& identity);

// How training scores its stages, shared with `lorascape import-run` (analysis/import_run.h) so
// that an imported run's scores are computed exactly as a trained one's.
// Every task evaluated with the model as it stands: the base row b[i] when its LoRA has B = 0.
std::vector<Scores> evaluate_tasks(TransformerImpl& model, const std::vector<Task>& tasks,
                                   const RunConfig& cfg);
// Row t = stages.size() − 1 of R for one learner: every task evaluated with `learner`, or
// (task-aware methods, Strategy::task_aware) task i with stages[min(t, i)], the learner's stored
// stage adapters so far. Leaves the learner loaded.
std::vector<Scores> evaluate_stage(TransformerImpl& model, const std::vector<Task>& tasks,
                                   const RunConfig& cfg, const Adapter& learner,
                                   const std::vector<Adapter>& stages, bool task_aware);

// The split a RunConfig evaluates on.
const std::vector<Example>& eval_split(const Task& task, const RunConfig& cfg);

}  // namespace lorascape::core
