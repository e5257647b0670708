#include "core/train.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <signal.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>

#include "core/base_model.h"
#include "core/checkpoint.h"
#include "core/device.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/strategies.h"
#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const RunConfig& cfg,
                                                        const std::vector<at::Tensor>& params) {
  if (cfg.train.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(cfg.train.lr)
                                                           .momentum(cfg.train.momentum)
                                                           .weight_decay(cfg.train.weight_decay));
  if (cfg.train.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(cfg.train.lr).weight_decay(cfg.train.weight_decay));
  throw ConfigError("`train.optimizer`: unknown optimiser '" + cfg.train.optimizer +
                    "' (use adamw or sgd)");
}

at::Tensor examples_loss(TransformerImpl& model, const std::vector<const Example*>& batch,
                         const c10::Device& device) {
  TokenBatch b = model.codec().encode_examples(batch, model.config().max_seq);
  return masked_cross_entropy(model.forward(b.input.to(device)), b.target.to(device),
                              b.mask.to(device));
}

at::Tensor Strategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  return examples_loss(ctx.model, batch, ctx.device);
}

const at::Tensor& TrainState::tensor(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end() || !it->second.defined())
    throw FormatError("training checkpoint: the method's state lacks tensor '" + name +
                      "'; delete the checkpoint to train afresh");
  return it->second;
}

std::pair<int64_t, int64_t> example_ref(const std::vector<Task>& tasks, const Example* ex) {
  for (size_t t = 0; t < tasks.size(); ++t) {
    const auto& train = tasks[t].train;
    if (!train.empty() && ex >= train.data() && ex < train.data() + train.size())
      return {static_cast<int64_t>(t), static_cast<int64_t>(ex - train.data())};
  }
  throw Error("example_ref: an example outside the tasks' training splits");
}

const Example* example_at(const std::vector<Task>& tasks, int64_t task, int64_t index) {
  if (task < 0 || task >= static_cast<int64_t>(tasks.size()) || index < 0 ||
      index >= static_cast<int64_t>(tasks[static_cast<size_t>(task)].train.size()))
    throw FormatError(
        "training checkpoint: example (" + std::to_string(task) + ", " + std::to_string(index) +
        ") is not in the tasks' training data; delete the checkpoint to train afresh");
  return &tasks[static_cast<size_t>(task)].train[static_cast<size_t>(index)];
}

at::Tensor example_refs(const std::vector<Task>& tasks, const std::vector<const Example*>& exs) {
  at::Tensor t = at::zeros({static_cast<int64_t>(exs.size()), 2}, at::kLong);
  int64_t* p = t.data_ptr<int64_t>();
  for (const Example* ex : exs) {
    const auto [task, index] = example_ref(tasks, ex);
    *p++ = task;
    *p++ = index;
  }
  return t;
}

std::vector<const Example*> examples_at(const std::vector<Task>& tasks, const at::Tensor& refs) {
  if (refs.dim() != 2 || refs.size(1) != 2)
    throw FormatError("training checkpoint: example references are not of shape (n, 2)");
  const at::Tensor c = refs.to(at::kLong).contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  std::vector<const Example*> out;
  for (int64_t i = 0; i < c.size(0); ++i) out.push_back(example_at(tasks, p[2 * i], p[2 * i + 1]));
  return out;
}

std::vector<std::pair<std::string, Adapter>> Strategy::learners(TrainContext& ctx) {
  return {{"adapter", Adapter::from_model(ctx.model)}};
}

const std::vector<Example>& eval_split(const Task& task, const RunConfig& cfg) {
  return cfg.eval.split == "eval" ? task.eval : task.test;
}

nlohmann::json RunResult::to_json() const {
  auto scores = [](const Scores& s) {
    return nlohmann::json{{"loss", s.loss},
                          {"token_acc", s.token_acc},
                          {"exact_match", s.exact_match},
                          {"examples", s.examples}};
  };
  nlohmann::json j;
  j["tasks"] = tasks;
  j["base"] = nlohmann::json::array();
  for (const auto& s : base) j["base"].push_back(scores(s));
  auto matrix = [&](const Learner& l) {
    nlohmann::json m = nlohmann::json::array();
    for (const auto& row : l.R) {
      nlohmann::json r = nlohmann::json::array();
      for (const auto& s : row) r.push_back(scores(s));
      m.push_back(r);
    }
    return m;
  };
  j["R"] = matrix(main());
  j["adapters"] = main().dirs;
  j["reported"] = reported;
  if (learners.size() > 1) {
    j["learners"] = nlohmann::json::object();
    for (const auto& [key, l] : learners)
      j["learners"][key] = {{"R", matrix(l)}, {"adapters", l.dirs}};
  }
  j["final_train_loss"] = final_train_loss;
  j["seconds"] = seconds;
  return j;
}

namespace {
double pick(const Scores& s, const std::string& score) {
  if (score == "exact_match") return s.exact_match;
  if (score == "token_acc") return s.token_acc;
  if (score == "loss") return s.loss;
  throw Error("unknown score '" + score + "'");
}
}  // namespace

std::vector<std::vector<double>> RunResult::matrix(const std::string& score,
                                                   const std::string& learner) const {
  std::vector<std::vector<double>> m;
  for (const auto& row : learners.at(learner.empty() ? reported : learner).R) {
    m.emplace_back();
    for (const auto& s : row) m.back().push_back(pick(s, score));
  }
  return m;
}

ClMetrics RunResult::metrics(const std::string& score, const std::string& learner) const {
  return compute_score_metrics(score, matrix(score, learner), base_row(score));
}

std::vector<double> RunResult::base_row(const std::string& score) const {
  std::vector<double> b;
  for (const auto& s : base) b.push_back(pick(s, score));
  return b;
}

namespace {

Scores evaluate_task(TransformerImpl& model, const Task& task, const RunConfig& cfg) {
  return evaluate_examples(model, eval_split(task, cfg), cfg.eval.max_examples, cfg.eval.batch);
}

std::string stage_dir(const std::string& method, size_t t, const std::string& task) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "stage-%02zu-", t + 1);
  return "adapters/" + method + "/" + std::string(buf) + task;
}

// torch's generator of `device` (the default CPU one for the CPU): its state, and setting it.
at::Generator default_generator(const c10::Device& device) {
  return device.is_cpu() ? at::detail::getDefaultCPUGenerator()
                         : at::globalContext().defaultGenerator(device);
}
at::Tensor generator_state(const c10::Device& device) {
  at::Generator g = default_generator(device);
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.get_state();
}
void set_generator_state(const c10::Device& device, const at::Tensor& state) {
  at::Generator g = default_generator(device);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(state);
}

// The checkpoint at ck.path when it is one of this key; otherwise nothing, with a line saying
// why a checkpoint there is not used.
std::optional<TrainCheckpoint> resumable(const Checkpointing& ck, const std::string& method) {
  std::error_code ec;
  if (ck.path.empty() || !std::filesystem::exists(ck.path, ec)) return std::nullopt;
  const std::string why = "[lorascape] not resuming " + method + " from " + ck.path + ": ";
  try {
    TrainCheckpoint c = read_train_checkpoint(ck.path);
    const std::string diff = key_difference(c.key, ck.key);
    if (diff.empty() && c.method == method) return c;
    std::cerr << why << "it was made with " << (diff.empty() ? "train.method = " + c.method : diff)
              << "; training from stage 1 (it is replaced)\n";
  } catch (const std::exception& e) {
    std::cerr << why << e.what() << "; training from stage 1 (it is replaced)\n";
  }
  return std::nullopt;
}

}  // namespace

std::vector<Scores> evaluate_tasks(TransformerImpl& model, const std::vector<Task>& tasks,
                                   const RunConfig& cfg) {
  std::vector<Scores> row;
  for (const auto& t : tasks) row.push_back(evaluate_task(model, t, cfg));
  return row;
}

std::vector<Scores> evaluate_stage(TransformerImpl& model, const std::vector<Task>& tasks,
                                   const RunConfig& cfg, const Adapter& learner,
                                   const std::vector<Adapter>& stages, bool task_aware) {
  if (stages.empty()) throw Error("evaluate_stage: no stage adapter");
  const size_t t = stages.size() - 1;
  if (!task_aware) {
    learner.load_into(model);
    return evaluate_tasks(model, tasks, cfg);
  }
  std::vector<Scores> row;
  for (size_t i = 0; i < tasks.size(); ++i) {
    stages[std::min(t, i)].load_into(model);
    row.push_back(evaluate_task(model, tasks[i], cfg));
  }
  learner.load_into(model);
  return row;
}

RunResult train_continual(const RunConfig& cfg, TransformerImpl& model,
                          const std::vector<Task>& tasks, const std::string& out_dir,
                          const nlohmann::json& identity, const Checkpointing& checkpoint) {
  if (!model.has_lora()) throw Error("train_continual: the model carries no LoRA adapter");
  if (tasks.empty())
    throw ConfigError("tasks: the task sequence is empty (set tasks.names or tasks.source)");
  const auto t_start = std::chrono::steady_clock::now();
  auto strategy = make_strategy(cfg);
  const c10::Device device = model.output_weight().device();
  RunResult res;
  TrainContext ctx{model, cfg, tasks, device};
  for (auto& [n, p] : model.lora_parameters()) {
    (void)n;
    if (p.requires_grad()) ctx.params.push_back(p);
  }
  size_t first = 0;           // the first stage to train
  double seconds_before = 0;  // spent before the checkpoint resumed from
  if (std::optional<TrainCheckpoint> c = resumable(checkpoint, cfg.train.method)) {
    // Everything as it was at the end of stage c->stages_done (core/checkpoint.h). A state that
    // does not fit (a damaged checkpoint) puts the start back and trains afresh.
    const Adapter initial = Adapter::from_model(model);
    const at::Tensor initial_cpu_generator = generator_state(c10::Device(c10::kCPU));
    try {
      res = std::move(c->result);
      seconds_before = res.seconds;
      for (auto& [key, l] : res.learners)
        for (auto& a : l.stages) a = a.to(device);
      c->lora.to(device).load_into(model, checkpoint.path);
      for (auto& [name, layer] : model.lora_layers()) {
        const auto it = c->frozen.find(name);
        if (it == c->frozen.end())
          layer->set_frozen({}, {});
        else
          layer->set_frozen(it->second.first.to(device), it->second.second.to(device));
      }
      ctx.global_step = c->global_step;
      strategy->load_state(ctx, c->strategy);
      set_generator_state(c10::Device(c10::kCPU), c->cpu_generator);
      if (!device.is_cpu() && c->device_generator.defined())
        set_generator_state(device, c->device_generator);
      first = static_cast<size_t>(c->stages_done);
    } catch (const std::exception& e) {
      std::cerr << "[lorascape] not resuming " << cfg.train.method << " from " << checkpoint.path
                << ": " << e.what() << "; training from stage 1 (it is replaced)\n";
      initial.load_into(model);
      for (auto& [name, layer] : model.lora_layers()) layer->set_frozen({}, {});
      set_generator_state(c10::Device(c10::kCPU), initial_cpu_generator);
      strategy = make_strategy(cfg);
      ctx.global_step = 0;
      res = RunResult();
      seconds_before = 0;
      first = 0;
    }
    if (first > 0 && first < tasks.size())
      std::cerr << "[lorascape] resuming " << cfg.train.method << " from stage " << first + 1
                << " of " << tasks.size() << " (" << checkpoint.path << ")\n";
    else if (first > 0)
      std::cerr << "[lorascape] " << cfg.train.method << ": all " << tasks.size()
                << " stages were done (" << checkpoint.path << "); writing its results\n";
  }
  if (first == 0) {
    for (const auto& t : tasks) res.tasks.push_back(t.name);
    res.base = evaluate_tasks(model, tasks, cfg);
  }
  // After stage `done` (1-based): everything the next stages need, atomically.
  auto save_checkpoint = [&](size_t done) {
    TrainCheckpoint c;
    c.key = checkpoint.key;
    c.method = cfg.train.method;
    c.stages_done = static_cast<int64_t>(done);
    c.stages_total = static_cast<int64_t>(tasks.size());
    c.result = res;
    c.result.reported = strategy->reported();
    c.result.seconds =
        seconds_before +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    c.global_step = ctx.global_step;
    c.lora = Adapter::from_model(model);
    for (auto& [name, layer] : model.lora_layers())
      if (layer->frozen_A().defined()) c.frozen[name] = {layer->frozen_A(), layer->frozen_B()};
    c.cpu_generator = generator_state(c10::Device(c10::kCPU));
    if (!device.is_cpu()) c.device_generator = generator_state(device);
    strategy->save_state(ctx, c.strategy);
    write_train_checkpoint(checkpoint.path, c);
  };
  const std::vector<at::Tensor>& params = ctx.params;
  for (size_t ti = first; ti < tasks.size(); ++ti) {
    const Task& task = tasks[ti];
    if (task.train.empty()) throw DataError("task '" + task.name + "' has no training examples");
    ctx.task = ti;
    // threads = 0 (auto): the idle cores again at every task, as other programs come and go.
    if (cfg.threads == 0 && device.is_cpu() && ti > first)
      set_training_threads(0, model.config().d_model);
    const int64_t n = static_cast<int64_t>(task.train.size());
    const int64_t per_epoch = (n + cfg.train.batch - 1) / cfg.train.batch;
    ctx.task_steps = cfg.train.steps > 0 ? cfg.train.steps : cfg.train.epochs * per_epoch;
    strategy->before_task(ctx);
    // A fresh optimiser and schedule per task, as the reference trainers do.
    const auto optimizer = make_optimizer(cfg, params);
    torch::optim::Optimizer& opt = *optimizer;
    ctx.optimizer = &opt;
    ShuffledCycle order(task.train.size(),
                        derive_seed(static_cast<uint64_t>(cfg.seed),
                                    "order:" + std::to_string(ti) + ":" + task.name));
    model.train();
    char label[96];
    std::snprintf(label, sizeof label, "task %zu/%zu %-10s", ti + 1, tasks.size(),
                  task.name.c_str());
    Progress bar(label, ctx.task_steps);
    double ema = 0;
    for (int64_t step = 0; step < ctx.task_steps; ++step) {
      ctx.step = step;
      std::vector<const Example*> batch_ex;
      for (int64_t b = 0; b < cfg.train.batch; ++b) batch_ex.push_back(&task.train[order.next()]);
      set_lr(opt, scheduled_lr(step, ctx.task_steps, cfg.train.lr, cfg.train.warmup,
                               cfg.train.schedule));
      opt.zero_grad();
      at::Tensor loss = strategy->loss(ctx, batch_ex);
      loss.backward();
      strategy->after_backward(ctx);
      if (cfg.train.clip > 0) torch::nn::utils::clip_grad_norm_(params, cfg.train.clip);
      opt.step();
      strategy->after_step(ctx);
      ++ctx.global_step;
      if (step == 0 && checkpoint.stop_at_stage == static_cast<int64_t>(ti) + 1) {
        std::cerr << "[lorascape] test hook: stopping in stage " << ti + 1 << "\n";
        ::raise(SIGSTOP);
      }
      if (cfg.train.snapshot_every > 0 && ctx.global_step % cfg.train.snapshot_every == 0)
        res.snapshots.push_back({ctx.global_step, static_cast<int>(ti),
                                 strategy->stored(ctx, Adapter::from_model(model))});
      const double l = loss.item<double>();
      ema = step == 0 ? l : 0.9 * ema + 0.1 * l;
      char info[48];
      std::snprintf(info, sizeof info, "loss %.4f", ema);
      bar.update(step + 1, info);
    }
    char info[48];
    std::snprintf(info, sizeof info, "loss %.4f", ema);
    bar.finish(info);
    res.final_train_loss.push_back(ema);
    strategy->after_task(ctx);
    model.eval();

    const Adapter trained = Adapter::from_model(model);
    const auto learners = strategy->learners(ctx);
    for (const auto& [key, learner] : learners) {
      std::string rel = stage_dir(cfg.train.method, ti, task.name);
      if (learners.size() > 1) rel += "/" + key;
      nlohmann::json extra = identity;
      extra["stage"] = ti + 1;
      extra["task"] = task.name;
      extra["method"] = cfg.train.method;
      extra["learner"] = key;
      if (cfg.train.method == "l2p") extra["l2p_top_n"] = cfg.l2p.top_n;  // the pool's N
      RunResult::Learner& l = res.learners[key];
      l.stages.push_back(strategy->stored(ctx, learner));
      save_peft_adapter(out_dir + "/" + rel, l.stages.back(),
                        lora_config_of(model.lora_config(), l.stages.back()), extra);
      l.dirs.push_back(rel);
      l.R.push_back(evaluate_stage(model, tasks, cfg, learner, l.stages, strategy->task_aware()));
    }
    trained.load_into(model);  // training goes on from the trained learner
    if (!checkpoint.path.empty()) save_checkpoint(ti + 1);
  }
  res.reported = strategy->reported();
  if (!res.learners.count(res.reported))
    throw Error("strategy reports learner '" + res.reported + "' it never produced");
  res.seconds = seconds_before +
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return res;
}

}  // namespace lorascape::core
