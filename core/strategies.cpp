#include "core/strategies.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

#include "core/base_model.h"
#include "core/model.h"
#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

namespace {
class SeqStrategy : public Strategy {
 public:
  std::string name() const override { return "seq"; }
};

at::Tensor flat_grads(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> parts;
  for (const auto& p : params)
    parts.push_back(p.grad().defined() ? p.grad().reshape({-1})
                                       : at::zeros({p.numel()}, p.options()));
  return at::cat(parts);
}

void set_flat_grads(const std::vector<at::Tensor>& params, const at::Tensor& flat) {
  int64_t off = 0;
  for (const auto& p : params) {
    const int64_t n = p.numel();
    at::Tensor g = flat.narrow(0, off, n).view_as(p);
    if (p.grad().defined())
      p.mutable_grad().copy_(g);
    else
      p.mutable_grad() = g.clone();
    off += n;
  }
}

void zero_grads(const std::vector<at::Tensor>& params) {
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

void reset_all_lora(TransformerImpl& model) {
  for (auto& [n, layer] : model.lora_layers()) {
    (void)n;
    layer->reset_lora();
  }
}

// one: a fresh adapter for every task; task i is evaluated with its own adapter.
class OneStrategy : public Strategy {
 public:
  std::string name() const override { return "one"; }
  void before_task(TrainContext& ctx) override {
    if (ctx.task > 0) reset_all_lora(ctx.model);
  }
  bool task_aware() const override { return true; }
};

}  // namespace

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names{"seq", "one",   "mtl",   "er", "ewc", "agem",
                                              "gem", "olora", "ilora", "pp", "l2p"};
  return names;
}

std::unique_ptr<Strategy> make_strategy(const RunConfig& cfg) {
  const std::string& m = cfg.train.method;
  if (m == "seq") return std::make_unique<SeqStrategy>();
  if (m == "er") return std::make_unique<ErStrategy>(cfg);
  if (m == "ewc") return std::make_unique<EwcStrategy>(cfg);
  if (m == "agem") return std::make_unique<AgemStrategy>(cfg);
  if (m == "one") return std::make_unique<OneStrategy>();
  if (m == "mtl") return std::make_unique<MtlStrategy>(cfg);
  if (m == "gem") return std::make_unique<GemStrategy>(cfg);
  if (m == "olora") return std::make_unique<OLoraStrategy>(cfg);
  if (m == "ilora") return std::make_unique<ILoraStrategy>(cfg);
  if (m == "pp") return std::make_unique<PpStrategy>(cfg);
  if (m == "l2p") return std::make_unique<L2pStrategy>(cfg);
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("train.method: unknown method '" + m + "' (available: " + known + ")");
}

ReplayStrategy::ReplayStrategy(const RunConfig& cfg)
    : buffer_(static_cast<size_t>(cfg.replay.buffer),
              derive_seed(static_cast<uint64_t>(cfg.seed), "replay-buffer")),
      seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "replay-offer")) {}

void ReplayStrategy::after_task(TrainContext& ctx) {
  const auto& train = ctx.tasks[ctx.task].train;
  ShuffledCycle order(train.size(), derive_seed(seed_, ctx.tasks[ctx.task].name));
  for (size_t i = 0; i < train.size(); ++i) buffer_.offer(&train[order.next()]);
}

void ReplayStrategy::save_state(const TrainContext& ctx, TrainState& state) const {
  // The generator state as a string: JSON numbers above 2^53 would not come back exactly.
  state.meta["replay"] = {{"seen", std::to_string(buffer_.seen())},
                          {"rng", std::to_string(buffer_.rng_state())}};
  state.tensors["replay/items"] = example_refs(ctx.tasks, buffer_.items());
}

void ReplayStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  const auto& r = state.meta.at("replay");
  buffer_.restore(std::stoull(r.at("seen").get<std::string>()),
                  examples_at(ctx.tasks, state.tensor("replay/items")),
                  std::stoull(r.at("rng").get<std::string>()));
}

std::vector<const Example*> ReplayStrategy::with_replay(const std::vector<const Example*>& batch) {
  std::vector<const Example*> joint = batch;
  for (const Example* ex : buffer_.sample(batch.size())) joint.push_back(ex);
  return joint;
}

at::Tensor ErStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  if (buffer_.size() == 0) return examples_loss(ctx.model, batch, ctx.device);
  return examples_loss(ctx.model, with_replay(batch), ctx.device);
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
  examples_loss(ctx.model, buffer_.sample(static_cast<size_t>(ctx.cfg.train.batch)), ctx.device)
      .backward();
  at::Tensor g_ref = flat_grads(ctx.params);
  set_flat_grads(ctx.params, project(g, g_ref));
}

// ---- MTL -----------------------------------------------------------------------------

MtlStrategy::MtlStrategy(const RunConfig& cfg)
    : seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "mtl")) {}

void MtlStrategy::before_task(TrainContext& ctx) {
  if (pool_.empty())
    for (const auto& task : ctx.tasks)
      for (const auto& ex : task.train) pool_.push_back(&ex);
  order_ =
      std::make_unique<ShuffledCycle>(pool_.size(), derive_seed(seed_, std::to_string(ctx.task)));
}

std::vector<const Example*> MtlStrategy::draw(size_t n) {
  if (!order_) throw Error("MtlStrategy::draw before the first task");
  std::vector<const Example*> out;
  for (size_t i = 0; i < n; ++i) out.push_back(pool_[order_->next()]);
  return out;
}

at::Tensor MtlStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  // Twice the batch: the examples per step of er, agem and ilora (current + replay batch), so
  // that the multi-task reference does not see fewer examples than the methods it bounds.
  return examples_loss(ctx.model, draw(2 * batch.size()), ctx.device);
}

// ---- GEM -----------------------------------------------------------------------------

GemStrategy::GemStrategy(const RunConfig& cfg)
    : memory_(cfg.gem.memory),
      margin_(cfg.gem.margin),
      seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "gem-memory")) {}

void GemStrategy::after_task(TrainContext& ctx) {
  // The memory of a task: gem.memory of its training examples, in a seeded random order.
  const auto& train = ctx.tasks[ctx.task].train;
  ShuffledCycle order(train.size(), derive_seed(seed_, ctx.tasks[ctx.task].name));
  std::vector<const Example*> mem;
  for (size_t i = 0; i < std::min(train.size(), static_cast<size_t>(memory_)); ++i)
    mem.push_back(&train[order.next()]);
  memories_.push_back(std::move(mem));
}

void GemStrategy::save_state(const TrainContext& ctx, TrainState& state) const {
  state.meta["gem_memories"] = memories_.size();
  for (size_t k = 0; k < memories_.size(); ++k)
    state.tensors["gem/memory-" + std::to_string(k)] = example_refs(ctx.tasks, memories_[k]);
}

void GemStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  memories_.clear();
  const size_t n = state.meta.at("gem_memories").get<size_t>();
  for (size_t k = 0; k < n; ++k)
    memories_.push_back(examples_at(ctx.tasks, state.tensor("gem/memory-" + std::to_string(k))));
}

at::Tensor GemStrategy::memory_gradient(TrainContext& ctx, size_t k) {
  const auto& mem = memories_.at(k);
  const size_t B = static_cast<size_t>(ctx.cfg.train.batch);
  std::vector<TokenBatch> chunks;
  std::vector<double> tokens;
  double total = 0;
  for (size_t s = 0; s < mem.size(); s += B) {
    const std::vector<const Example*> chunk(
        mem.begin() + static_cast<std::ptrdiff_t>(s),
        mem.begin() + static_cast<std::ptrdiff_t>(std::min(mem.size(), s + B)));
    chunks.push_back(ctx.model.codec().encode_examples(chunk, ctx.model.config().max_seq));
    tokens.push_back(chunks.back().mask.sum().item<double>());
    total += tokens.back();
  }
  zero_grads(ctx.params);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const TokenBatch& b = chunks[c];
    // The chunk's mean CE times its share of the tokens: the gradients sum to the gradient
    // of the mean over all the memory's answer tokens.
    at::Tensor ce = masked_cross_entropy(ctx.model.forward(b.input.to(ctx.device)),
                                         b.target.to(ctx.device), b.mask.to(ctx.device));
    (ce * (tokens[c] / std::max(total, 1.0))).backward();
  }
  return flat_grads(ctx.params).clone();
}

void GemStrategy::after_backward(TrainContext& ctx) {
  if (memories_.empty()) return;
  at::Tensor g = flat_grads(ctx.params).clone();
  std::vector<at::Tensor> rows;
  for (size_t k = 0; k < memories_.size(); ++k) rows.push_back(memory_gradient(ctx, k));
  set_flat_grads(ctx.params, project(g, at::stack(rows), margin_));
}

Eigen::VectorXd GemStrategy::solve_dual(const Eigen::MatrixXd& P, const Eigen::VectorXd& q,
                                        double lower) {
  const Eigen::Index n = q.size();
  Eigen::VectorXd v = Eigen::VectorXd::Constant(n, lower);
  Eigen::VectorXd grad = P * v + q;  // kept up to date
  const double scale = std::max(P.diagonal().maxCoeff(), 1e-300);
  for (int sweep = 0; sweep < 100000; ++sweep) {
    double moved = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double vi = std::max(lower, v(i) - grad(i) / P(i, i));
      const double d = vi - v(i);
      if (d != 0) {
        grad += d * P.col(i);
        v(i) = vi;
        moved = std::max(moved, std::abs(d) * P(i, i));
      }
    }
    if (moved <= 1e-14 * scale * std::max(1.0, v.cwiseAbs().maxCoeff())) break;
  }
  return v;
}

at::Tensor GemStrategy::project(const at::Tensor& g, const at::Tensor& G, double margin) {
  at::Tensor Gd = G.to(at::kDouble).contiguous(), gd = g.to(at::kDouble).contiguous();
  at::Tensor dots = at::mv(Gd, gd);
  if (dots.min().item<double>() >= 0) return g;
  const int64_t k = G.size(0);
  at::Tensor Pt = at::mm(Gd, Gd.t()).contiguous();
  Eigen::MatrixXd P =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          Pt.data_ptr<double>(), k, k);
  Eigen::VectorXd q = Eigen::Map<const Eigen::VectorXd>(dots.data_ptr<double>(), k);
  // A tiny ridge keeps P definite when memory gradients are (nearly) parallel.
  P.diagonal().array() += 1e-10 * std::max(P.diagonal().maxCoeff(), 1e-300);
  Eigen::VectorXd v = solve_dual(P, q, margin);
  at::Tensor vt = at::from_blob(v.data(), {k}, at::kDouble).clone();
  return (at::mv(Gd.t(), vt) + gd).to(g.scalar_type());
}

// ---- O-LoRA ---------------------------------------------------------------------------

void OLoraStrategy::before_task(TrainContext& ctx) {
  if (ctx.task == 0) return;
  for (auto& [n, layer] : ctx.model.lora_layers()) {
    (void)n;
    layer->freeze_into_past();
    layer->reset_lora();
  }
}

at::Tensor OLoraStrategy::penalty(TransformerImpl& model) const {
  at::Tensor total;
  for (auto& [n, layer] : model.lora_layers()) {
    (void)n;
    at::Tensor term = at::zeros({}, layer->lora_A->weight.options().requires_grad(false));
    if (lambda1_ > 0 && layer->frozen_A().defined())
      term = term + lambda1_ * at::matmul(layer->frozen_A(), layer->lora_A->weight.t()).abs().sum();
    if (lambda2_ > 0)
      term = term + lambda2_ * (layer->lora_A->weight.norm() + layer->lora_B->weight.norm());
    total = total.defined() ? total + term : term;
  }
  return total;
}

at::Tensor OLoraStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  at::Tensor ce = examples_loss(ctx.model, batch, ctx.device);
  if (ctx.task == 0 && lambda2_ == 0) return ce;
  return ce + penalty(ctx.model);
}

Adapter OLoraStrategy::stored(TrainContext& ctx, const Adapter& learner) {
  std::map<std::string, LoraLinear> layers;
  for (auto& [n, layer] : ctx.model.lora_layers()) layers.emplace(n, layer);
  const int64_t r = ctx.model.lora_config().rank,
                total = r * static_cast<int64_t>(ctx.tasks.size());
  std::vector<Adapter::Entry> out;
  for (const auto& [name, t] : learner.entries()) {
    const bool is_a = name.find(".lora_A.") != std::string::npos;
    const std::string path = name.substr(0, name.find(is_a ? ".lora_A." : ".lora_B."));
    const LoraLinear& layer = layers.at(path);
    const at::Tensor& past = is_a ? layer->frozen_A() : layer->frozen_B();
    const int dim = is_a ? 0 : 1;
    std::vector<at::Tensor> parts;
    if (past.defined()) parts.push_back(past);
    parts.push_back(t.detach());
    const int64_t have = (past.defined() ? past.size(dim) : 0) + t.size(dim);
    std::vector<int64_t> pad(t.sizes().begin(), t.sizes().end());
    pad[dim] = total - have;
    if (pad[dim] > 0) parts.push_back(at::zeros(pad, t.options()));
    out.emplace_back(name, at::cat(parts, dim).clone());
  }
  return Adapter(std::move(out));
}

// ---- I-LoRA ---------------------------------------------------------------------------

ILoraStrategy::ILoraStrategy(const RunConfig& cfg)
    : ReplayStrategy(cfg),
      lambda_(cfg.ilora.lambda),
      gamma_(cfg.ilora.gamma),
      target_(cfg.ilora.target),
      layers_(cfg.ilora.layers),
      report_(cfg.ilora.report) {}

void ILoraStrategy::before_task(TrainContext& ctx) {
  if (slow_.empty()) slow_ = Adapter::from_model(ctx.model);  // both learners start equal
}

double ILoraStrategy::interpolation_weight(int64_t step, double lambda) {
  return std::min(1.0 - 1.0 / (static_cast<double>(step) + 1.0), lambda);
}

at::Tensor ILoraStrategy::consistency(const std::vector<at::Tensor>& fast,
                                      const std::vector<at::Tensor>& slow, const at::Tensor& valid,
                                      const std::string& target) {
  if (fast.empty() || fast.size() != slow.size())
    throw Error("I-LoRA consistency: hidden states do not pair up");
  at::Tensor m = valid.unsqueeze(-1);  // (B, T, 1)
  const double denom =
      std::max(valid.sum().item<double>(), 1.0) * static_cast<double>(fast[0].size(-1));
  at::Tensor total;
  for (size_t l = 0; l < fast.size(); ++l) {
    at::Tensor s = slow[l].detach();
    // max: only elements where the slow state exceeds the fast one pull (LLMCL's target).
    at::Tensor tgt = target == "max" ? at::maximum(fast[l].detach(), s) : s;
    at::Tensor mse = ((fast[l] - tgt).pow(2) * m).sum() / denom;
    total = total.defined() ? total + mse : mse;
  }
  return total / static_cast<double>(fast.size());
}

at::Tensor ILoraStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  if (buffer_.size() == 0) return examples_loss(ctx.model, batch, ctx.device);
  // One batch of current + replay examples, exactly as er; the replay rows also feed the
  // consistency loss.
  const std::vector<const Example*> joint = with_replay(batch);
  if (gamma_ == 0) return examples_loss(ctx.model, joint, ctx.device);
  TokenBatch b = ctx.model.codec().encode_examples(joint, ctx.model.config().max_seq);
  at::Tensor input = b.input.to(ctx.device);
  const int64_t B = static_cast<int64_t>(batch.size()),
                nrep = static_cast<int64_t>(joint.size()) - B;
  at::Tensor replay_input = input.narrow(0, B, nrep);
  std::vector<at::Tensor> slow_states;
  {
    // The slow learner's states: swap it in without gradients, then restore the fast one
    // (before the graph of the fast forward exists, so no saved tensor is modified).
    torch::NoGradGuard ng;
    const Adapter fast = Adapter::from_model(ctx.model);
    slow_.load_into(ctx.model);
    ctx.model.forward(replay_input, slow_states);
    fast.load_into(ctx.model);
  }
  std::vector<at::Tensor> hidden;
  at::Tensor logits = ctx.model.forward(input, hidden);
  at::Tensor ce = masked_cross_entropy(logits, b.target.to(ctx.device), b.mask.to(ctx.device));
  std::vector<at::Tensor> fast_states;
  for (const auto& h : hidden) fast_states.push_back(h.narrow(0, B, nrep));
  if (layers_ == "last") {
    fast_states = {fast_states.back()};
    slow_states = {slow_states.back()};
  }
  at::Tensor valid = (replay_input != ctx.model.codec().pad_id()).to(at::kFloat);
  return ce + gamma_ * consistency(fast_states, slow_states, valid, target_);
}

void ILoraStrategy::after_step(TrainContext& ctx) {
  const double w = interpolation_weight(ctx.global_step + 1, lambda_);
  torch::NoGradGuard ng;
  slow_.scale(w).axpy(1.0 - w, Adapter::from_model(ctx.model));
}

void ILoraStrategy::save_state(const TrainContext& ctx, TrainState& state) const {
  ReplayStrategy::save_state(ctx, state);
  state.meta["ilora_slow"] = nlohmann::json::array();
  for (const auto& [name, t] : slow_.entries()) {
    state.meta["ilora_slow"].push_back(name);
    state.tensors["ilora/slow/" + name] = t;
  }
}

void ILoraStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  ReplayStrategy::load_state(ctx, state);
  std::vector<Adapter::Entry> slow;
  for (const auto& name : state.meta.at("ilora_slow")) {
    const std::string n = name.get<std::string>();
    slow.emplace_back(n, state.tensor("ilora/slow/" + n).to(ctx.device));
  }
  slow_ = Adapter(std::move(slow));
}

std::vector<std::pair<std::string, Adapter>> ILoraStrategy::learners(TrainContext& ctx) {
  return {{"fast", Adapter::from_model(ctx.model)}, {"slow", slow_.clone()}};
}

// ---- EWC ------------------------------------------------------------------------------

EwcStrategy::EwcStrategy(const RunConfig& cfg)
    : lambda_(cfg.ewc.lambda),
      gamma_(cfg.ewc.gamma),
      fisher_examples_(cfg.ewc.fisher_examples),
      true_fisher_(cfg.ewc.fisher == "true"),
      online_(cfg.ewc.online),
      seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "ewc-fisher")) {}

at::Tensor EwcStrategy::penalty(const std::vector<at::Tensor>& params) const {
  at::Tensor total = at::zeros(
      {}, params.empty() ? at::TensorOptions() : params[0].options().requires_grad(false));
  for (const auto& a : anchors_)
    for (size_t i = 0; i < params.size(); ++i)
      total = total + (a.fisher[i] * (params[i] - a.theta[i]).pow(2)).sum();
  return 0.5 * lambda_ * total;
}

at::Tensor EwcStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  at::Tensor ce = examples_loss(ctx.model, batch, ctx.device);
  return anchors_.empty() ? ce : ce + penalty(ctx.params);
}

void EwcStrategy::save_state(const TrainContext&, TrainState& state) const {
  state.meta["ewc_anchors"] = anchors_.size();
  for (size_t k = 0; k < anchors_.size(); ++k)
    for (size_t i = 0; i < anchors_[k].fisher.size(); ++i) {
      const std::string p = "ewc/anchor-" + std::to_string(k) + "/";
      state.tensors[p + "fisher/" + std::to_string(i)] = anchors_[k].fisher[i];
      state.tensors[p + "theta/" + std::to_string(i)] = anchors_[k].theta[i];
    }
}

void EwcStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  anchors_.clear();
  const size_t n = state.meta.at("ewc_anchors").get<size_t>();
  for (size_t k = 0; k < n; ++k) {
    Anchor a;
    const std::string p = "ewc/anchor-" + std::to_string(k) + "/";
    for (size_t i = 0; i < ctx.params.size(); ++i) {
      const at::Tensor& f = state.tensor(p + "fisher/" + std::to_string(i));
      const at::Tensor& t = state.tensor(p + "theta/" + std::to_string(i));
      if (f.sizes() != ctx.params[i].sizes() || t.sizes() != ctx.params[i].sizes())
        throw FormatError("training checkpoint: EWC anchor " + std::to_string(k) +
                          " does not fit the LoRA parameters; delete the checkpoint");
      a.fisher.push_back(f.to(ctx.device));
      a.theta.push_back(t.to(ctx.device));
    }
    anchors_.push_back(std::move(a));
  }
}

std::vector<const Example*> EwcStrategy::fisher_sample(const TrainContext& ctx) const {
  const Task& task = ctx.tasks[ctx.task];
  ShuffledCycle order(task.train.size(), derive_seed(seed_, "sample:" + task.name));
  std::vector<const Example*> out;
  const size_t n = std::min(task.train.size(), static_cast<size_t>(fisher_examples_));
  for (size_t i = 0; i < n; ++i) out.push_back(&task.train[order.next()]);
  return out;
}

std::vector<int64_t> EwcStrategy::sample_answer(TransformerImpl& model,
                                                const std::vector<int64_t>& context,
                                                int64_t max_len, Rng& rng) {
  torch::NoGradGuard ng;
  const c10::Device device = model.output_weight().device();
  const int64_t eos = model.codec().eos_id();
  std::vector<int64_t> ids = context, answer;
  while (static_cast<int64_t>(ids.size()) < max_len) {
    at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0).to(device);  // (1, T)
    at::Tensor p =
        at::softmax(model.forward(input)[0][-1].to(at::kCPU, at::kDouble), 0).contiguous();  // (V)
    const double* pp = p.data_ptr<double>();
    const int64_t V = p.size(0);
    const double u = rng.uniform();
    double cdf = 0;
    int64_t tok = V - 1;
    for (int64_t v = 0; v < V; ++v) {
      cdf += pp[v];
      if (u < cdf) {
        tok = v;
        break;
      }
    }
    ids.push_back(tok);
    answer.push_back(tok);
    if (tok == eos) break;
  }
  return answer;
}

std::vector<at::Tensor> EwcStrategy::fisher(TrainContext& ctx,
                                            const std::vector<const Example*>& examples,
                                            Rng& rng) const {
  TransformerImpl& model = ctx.model;
  const bool was_training = model.is_training();
  model.eval();  // no dropout: the gradients of the model as evaluated
  std::vector<at::Tensor> F;
  for (const auto& p : ctx.params)
    F.push_back(at::zeros_like(p, at::TensorOptions().requires_grad(false)));
  const int64_t max_len = model.config().max_seq;
  for (const Example* ex : examples) {
    const EncodedExample enc = model.codec().encode_example(*ex, max_len);
    // The sequence: the prompt's tokens, then y (the answer and EOS, or a sampled answer).
    std::vector<int64_t> ids(enc.ids.begin(), enc.ids.begin() + enc.answer_start);
    std::vector<int64_t> y(enc.ids.begin() + enc.answer_start, enc.ids.end());
    if (true_fisher_) y = sample_answer(model, ids, max_len, rng);
    ids.insert(ids.end(), y.begin(), y.end());
    const int64_t T = static_cast<int64_t>(ids.size()) - 1,
                  n = static_cast<int64_t>(y.size());  // y = ids[T+1-n .. T]
    at::Tensor input = at::tensor(std::vector<int64_t>(ids.begin(), ids.end() - 1), at::kLong)
                           .unsqueeze(0)
                           .to(ctx.device);                       // (1, T)
    at::Tensor target = at::tensor(y, at::kLong).to(ctx.device);  // (n)
    // log p(y | x) = Σ over y's tokens of the log-probability given everything before it.
    at::Tensor logits = model.forward(input)[0].narrow(0, T - n, n);  // (n, V)
    at::Tensor logp =
        at::log_softmax(logits.to(at::kFloat), -1).gather(1, target.unsqueeze(1)).sum();
    const auto grads = torch::autograd::grad({logp}, ctx.params, {}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < F.size(); ++i)
      if (grads[i].defined()) F[i].add_(grads[i].pow(2));
  }
  torch::NoGradGuard ng;
  for (auto& f : F) f.div_(static_cast<double>(std::max<size_t>(examples.size(), 1)));
  if (was_training) model.train();
  return F;
}

void EwcStrategy::after_task(TrainContext& ctx) {
  Rng rng(derive_seed(seed_, "true-fisher:" + ctx.tasks[ctx.task].name));
  std::vector<at::Tensor> F = fisher(ctx, fisher_sample(ctx), rng);
  torch::NoGradGuard ng;
  Anchor a;
  for (const auto& p : ctx.params) a.theta.push_back(p.detach().clone());
  if (online_ && !anchors_.empty()) {
    // Online EWC (Schwarz et al. 2018): one penalty, the old Fisher decayed by γ.
    for (size_t i = 0; i < F.size(); ++i) F[i].add_(anchors_[0].fisher[i], gamma_);
    anchors_.clear();
  }
  a.fisher = std::move(F);
  anchors_.push_back(std::move(a));
}

}  // namespace lorascape::core
