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

// What a method carries from one stage to the next besides the model's LoRA factors, for the
// training checkpoint (core/checkpoint.h): small values in `meta`, tensors by name ('/'-separated
// HDF5 link names, e.g. "ewc/anchor-00/fisher/003").
struct TrainState {
  nlohmann::json meta = nlohmann::json::object();
  std::map<std::string, at::Tensor> tensors;
  // The tensor called `name`; FormatError when the checkpoint lacks it.
  const at::Tensor& tensor(const std::string& name) const;
};

// A training example as (task index, example index in its training split) and back, for state
// that holds examples (replay buffers, episodic memories). example_at: FormatError when out of
// range.
std::pair<int64_t, int64_t> example_ref(const std::vector<Task>& tasks, const Example* ex);
const Example* example_at(const std::vector<Task>& tasks, int64_t task, int64_t index);
// Examples as an int64 tensor (n, 2) of example_ref, and back.
at::Tensor example_refs(const std::vector<Task>& tasks, const std::vector<const Example*>& exs);
std::vector<const Example*> examples_at(const std::vector<Task>& tasks, const at::Tensor& refs);

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
  // The method's state at a stage boundary (after after_task and the evaluation), everything
  // the following stages read besides the model's LoRA factors and torch's generator: replay
  // memories, slow learners, Fisher anchors, the std RNGs' states. load_state puts it into a
  // fresh strategy of the same configuration, so that training goes on exactly as if it had not
  // been interrupted. Default: no state.
  virtual void save_state(const TrainContext&, TrainState&) const {}
  virtual void load_state(TrainContext&, const TrainState&) {}
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

// Where train_continual keeps its checkpoint (core/checkpoint.h).
struct Checkpointing {
  std::string path;    // the checkpoint file, rewritten after every stage; "" = none
  nlohmann::json key;  // what a resume must match (resume_key)
  // Test hook: raise SIGSTOP after the first step of this stage (1-based; 0 = never), so that a
  // test can kill the process in that stage (LORASCAPE_TEST_STOP_AT_STAGE, docs/user-guide.md).
  int64_t stop_at_stage = 0;
};

// Trains `model` (which must carry LoRA) through `tasks`, saving the adapter after each task
// under out_dir/adapters/ and evaluating every task after every task. `identity` (base model
// digest, command line …) is stored in each adapter's config. With a checkpoint path: a
// checkpoint of the same key there is resumed from (the model must be as run_training makes it:
// base model, then LoRA drawn after torch::manual_seed(seed)), and a checkpoint is written after
// every stage; the caller removes it.
RunResult train_continual(const RunConfig& cfg, TransformerImpl& model,
                          const std::vector<Task>& tasks, const std::string& out_dir,
                          const nlohmann::json& identity, const Checkpointing& checkpoint = {});

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
