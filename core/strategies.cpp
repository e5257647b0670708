#include "core/strategies.h"

#include "core/error.h"
#include "core/model.h"

namespace lorascape::core {

namespace {
class SeqStrategy : public Strategy {
 public:
  std::string name() const override { return "seq"; }
};

at::Tensor flat_grads(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> parts;
  for (const auto& p : params)
    parts.push_back(p.grad().defined() ? p.grad().reshape({-1}) : at::zeros({p.numel()}, p.options()));
  return at::cat(parts);
}

void set_flat_grads(const std::vector<at::Tensor>& params, const at::Tensor& flat) {
  int64_t off = 0;
  for (const auto& p : params) {
    const int64_t n = p.numel();
    at::Tensor g = flat.narrow(0, off, n).view_as(p);
    if (p.grad().defined()) p.mutable_grad().copy_(g);
    else p.mutable_grad() = g.clone();
    off += n;
  }
}

void zero_grads(const std::vector<at::Tensor>& params) {
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad().zero_();
}
}  // namespace

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names{"seq", "er", "ewc", "agem"};
  return names;
}

std::unique_ptr<Strategy> make_strategy(const RunConfig& cfg) {
  const std::string& m = cfg.train.method;
  if (m == "seq") return std::make_unique<SeqStrategy>();
  if (m == "er") return std::make_unique<ErStrategy>(cfg);
  if (m == "ewc") return std::make_unique<EwcStrategy>(cfg);
  if (m == "agem") return std::make_unique<AgemStrategy>(cfg);
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("train.method: unknown method '" + m + "' (available: " + known + ")");
}

ReplayStrategy::ReplayStrategy(const RunConfig& cfg)
    : buffer_(static_cast<size_t>(cfg.replay.buffer), derive_seed(static_cast<uint64_t>(cfg.seed), "replay-buffer")),
      seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "replay-offer")) {}

void ReplayStrategy::after_task(TrainContext& ctx) {
  const auto& train = ctx.tasks[ctx.task].train;
  ShuffledCycle order(train.size(), derive_seed(seed_, ctx.tasks[ctx.task].name));
  for (size_t i = 0; i < train.size(); ++i) buffer_.offer(&train[order.next()]);
}

at::Tensor ErStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  if (buffer_.size() == 0) return examples_loss(ctx.model, batch, ctx.device);
  std::vector<const Example*> joint = batch;
  for (const Example* ex : buffer_.sample(batch.size())) joint.push_back(ex);
  return examples_loss(ctx.model, joint, ctx.device);
}

at::Tensor AgemStrategy::project(const at::Tensor& g, const at::Tensor& g_ref) {
  const double dot = at::dot(g, g_ref).item<double>();
  if (dot >= 0) return g;
  const double ref = at::dot(g_ref, g_ref).item<double>();
  if (ref <= 0) return g;
  return g - (dot / ref) * g_ref;
}

void AgemStrategy::after_backward(TrainContext& ctx) {
  if (buffer_.size() == 0) return;
  at::Tensor g = flat_grads(ctx.params).clone();
  zero_grads(ctx.params);
  examples_loss(ctx.model, buffer_.sample(static_cast<size_t>(ctx.cfg.train.batch)), ctx.device).backward();
  at::Tensor g_ref = flat_grads(ctx.params);
  set_flat_grads(ctx.params, project(g, g_ref));
}

at::Tensor EwcStrategy::penalty(const std::vector<at::Tensor>& params) const {
  at::Tensor total = at::zeros({}, params.empty() ? at::TensorOptions() : params[0].options().requires_grad(false));
  for (const auto& a : anchors_)
    for (size_t i = 0; i < params.size(); ++i) total = total + (a.fisher[i] * (params[i] - a.theta[i]).pow(2)).sum();
  return 0.5 * lambda_ * total;
}

at::Tensor EwcStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  at::Tensor ce = examples_loss(ctx.model, batch, ctx.device);
  return anchors_.empty() ? ce : ce + penalty(ctx.params);
}

void EwcStrategy::after_task(TrainContext& ctx) {
  // F = mean over batches of the squared gradient of the task loss (empirical Fisher).
  const auto& train = ctx.tasks[ctx.task].train;
  Anchor a;
  for (const auto& p : ctx.params) a.fisher.push_back(at::zeros_like(p, at::TensorOptions().requires_grad(false)));
  const size_t B = static_cast<size_t>(ctx.cfg.train.batch);
  int64_t used = 0;
  for (int64_t b = 0; b < fisher_batches_ && static_cast<size_t>(b) * B < train.size(); ++b, ++used) {
    std::vector<const Example*> batch;
    for (size_t i = static_cast<size_t>(b) * B; i < std::min(train.size(), (static_cast<size_t>(b) + 1) * B); ++i)
      batch.push_back(&train[i]);
    zero_grads(ctx.params);
    examples_loss(ctx.model, batch, ctx.device).backward();
    torch::NoGradGuard ng;
    for (size_t i = 0; i < ctx.params.size(); ++i)
      if (ctx.params[i].grad().defined()) a.fisher[i].add_(ctx.params[i].grad().pow(2));
  }
  zero_grads(ctx.params);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < ctx.params.size(); ++i) {
    a.fisher[i].div_(static_cast<double>(std::max<int64_t>(used, 1)));
    a.theta.push_back(ctx.params[i].detach().clone());
  }
  anchors_.push_back(std::move(a));
}

}  // namespace lorascape::core
