#include "core/evaluate.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "core/model.h"
#include "core/prompt.h"
#include "core/text_codec.h"
#include "core/tokenizer.h"
#include "kernels/ops.h"
#include "kernels/rows.h"
#include "store/error.h"

namespace lorascape::core {

namespace {
// Restores the module's training flag on scope exit.
struct EvalModeGuard {
  explicit EvalModeGuard(TransformerImpl& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalModeGuard() { m_.train(was_training_); }
  TransformerImpl& m_;
  bool was_training_;
};

c10::Device model_device(TransformerImpl& m) {
  return m.output_weight().device();
}
}  // namespace

ScoreSums::ScoreSums(int64_t points)
    : loss(static_cast<size_t>(points)),
      correct(static_cast<size_t>(points)),
      exact(static_cast<size_t>(points)) {}

namespace {
// Sums of one point's scores on a batch: logits (B, T, V), target and mask (B, T) -> (3) =
// (loss over masked positions, hits over masked positions, exact examples), float.
at::Tensor point_sums(const at::Tensor& logits_in, const at::Tensor& target,
                      const at::Tensor& mask) {
  const at::Tensor logits = logits_in.to(at::kFloat);
  const int64_t V = logits.size(-1);
  at::Tensor ce, hit;  // per position: cross-entropy, and 1 where the arg-max is the target (B, T)
  // One pass per row on a CPU.
  if (logits.is_cpu() && logits.is_contiguous() && target.scalar_type() == at::kLong) {
    const at::Tensor t = target.contiguous();
    ce = at::empty(t.sizes(), logits.options());
    hit = at::empty(t.sizes(), logits.options());
    const float* lp = logits.data_ptr<float>();
    const int64_t* tp = t.data_ptr<int64_t>();
    float *cp = ce.data_ptr<float>(), *hp = hit.data_ptr<float>();
    std::atomic<bool> valid{true};
    at::parallel_for(0, t.numel(), 256, [&](int64_t r0, int64_t r1) {
      if (!kernels::token_scores(lp + r0 * V, r1 - r0, V, tp + r0, cp + r0, hp + r0)) valid = false;
    });
    if (!valid)
      throw DataError("a target token lies outside the model's vocabulary of " + std::to_string(V));
  } else {
    ce = at::cross_entropy_loss(logits.reshape({-1, V}), target.reshape({-1}), {},
                                at::Reduction::None)
             .view(target.sizes());
    hit = (logits.argmax(-1) == target).to(at::kFloat);
  }
  hit.mul_(mask);
  // An example is exact when its scored positions are all hits.
  const at::Tensor exact = (hit.sum(1) == mask.sum(1)).to(at::kFloat).sum();
  return at::stack({(ce * mask).sum(), hit.sum(), exact});
}
}  // namespace

void ScoreSums::add(const at::Tensor& logits, const at::Tensor& target, const at::Tensor& mask) {
  const auto K = static_cast<int64_t>(loss.size());
  // One point at a time (kernels/ops.h per_point): a point's sums are the lone point's, whatever K.
  auto sums = [&](const at::Tensor& lp, int64_t) {
    return point_sums(lp, target, mask).unsqueeze(0);
  };
  const at::Tensor all =
      kernels::per_point(logits, K, sums).to(at::kDouble).cpu().contiguous();  // (K, 3)
  const double* p = all.data_ptr<double>();
  for (int64_t k = 0; k < K; ++k) {
    loss[k] += p[3 * k];
    correct[k] += p[3 * k + 1];
    exact[k] += p[3 * k + 2];
  }
  tokens += mask.sum().item<double>();
  examples += target.size(0);
}

Scores ScoreSums::scores(int64_t point) const {
  Scores sc;
  sc.examples = examples;
  if (examples == 0) return sc;
  const auto k = static_cast<size_t>(point);
  sc.loss = loss[k] / std::max(tokens, 1.0);
  sc.token_acc = correct[k] / std::max(tokens, 1.0);
  sc.exact_match = exact[k] / static_cast<double>(examples);
  return sc;
}

ScoreSums& ScoreSums::operator+=(const ScoreSums& o) {
  if (o.loss.size() != loss.size()) throw Error("ScoreSums += with a different number of points");
  for (size_t k = 0; k < loss.size(); ++k) {
    loss[k] += o.loss[k];
    correct[k] += o.correct[k];
    exact[k] += o.exact[k];
  }
  tokens += o.tokens;
  examples += o.examples;
  return *this;
}

Scores evaluate_examples(TransformerImpl& model, const std::vector<Example>& examples,
                         int64_t max_examples, int64_t batch) {
  EvalModeGuard mode(model);
  torch::NoGradGuard ng;
  const auto dev = model_device(model);
  const size_t n = max_examples > 0 ? std::min(examples.size(), static_cast<size_t>(max_examples))
                                    : examples.size();
  ScoreSums sums;
  for (size_t s = 0; s < n; s += static_cast<size_t>(batch)) {
    std::vector<const Example*> chunk;
    for (size_t i = s; i < std::min(n, s + static_cast<size_t>(batch)); ++i)
      chunk.push_back(&examples[i]);
    TokenBatch b = model.codec().encode_examples(chunk, model.config().max_seq);
    const at::Tensor mask = b.mask.to(dev);  // also bounds an L2P query to the question
    sums.add(model.forward(b.input.to(dev), mask), b.target.to(dev), mask);
  }
  return sums.scores(0);
}

namespace {
struct Generated {
  std::vector<int64_t> ids;  // without the EOS
  bool stopped = false;      // ended by the EOS (not by max_new or max_seq)
};

// Greedy decoding of up to max_new tokens after the context `ids`.
Generated generate_ids(TransformerImpl& model, std::vector<int64_t> ids, int64_t max_new) {
  EvalModeGuard mode(model);
  torch::NoGradGuard ng;
  const auto dev = model_device(model);
  const TextCodec& codec = model.codec();
  const int64_t max_seq = model.config().max_seq;
  if (static_cast<int64_t>(ids.size()) >= max_seq) {  // keep the end of an over-long prompt
    const int64_t keep = !ids.empty() && ids.front() == codec.bos_id() ? 1 : 0;  // and the BOS
    ids.erase(ids.begin() + keep,
              ids.begin() + keep + (static_cast<int64_t>(ids.size()) - max_seq + 1));
  }
  Generated g;
  const int64_t context = static_cast<int64_t>(ids.size());
  for (int64_t k = 0; k < max_new && static_cast<int64_t>(ids.size()) < max_seq; ++k) {
    at::Tensor in = at::tensor(ids, at::kLong).unsqueeze(0).to(dev);  // (1, T)
    // The answer mask of the sequence so far: an L2P query sees the context alone.
    at::Tensor mask = at::zeros({1, in.size(1)}, at::kFloat);
    mask.narrow(1, std::max<int64_t>(context - 1, 0),
                in.size(1) - std::max<int64_t>(context - 1, 0))
        .fill_(1.0);
    const int64_t next =
        model.forward(in, mask.to(dev)).select(1, in.size(1) - 1).argmax(-1).item<int64_t>();
    if (next == codec.eos_id()) {
      g.stopped = true;
      break;
    }
    g.ids.push_back(next);
    ids.push_back(next);
  }
  return g;
}
}  // namespace

std::string greedy_generate(TransformerImpl& model, const std::string& prompt, int64_t max_new) {
  const TextCodec& codec = model.codec();
  return codec.decode(generate_ids(model, codec.encode_prompt(prompt), max_new).ids);
}

bool greedy_matches(const TextCodec& codec, const std::vector<int64_t>& generated,
                    bool stopped_at_eos, const std::string& answer) {
  return stopped_at_eos && codec.decode(generated) == codec.answer_text(answer);
}

double greedy_exact_match(TransformerImpl& model, const std::vector<Example>& examples,
                          int64_t max_examples) {
  const size_t n = max_examples > 0 ? std::min(examples.size(), static_cast<size_t>(max_examples))
                                    : examples.size();
  if (n == 0) return 0;
  const TextCodec& codec = model.codec();
  double hits = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& ex = examples[i];
    // A budget of the answer's tokens + 1: room for the answer and its EOS.
    const int64_t max_new = static_cast<int64_t>(codec.encode_answer(ex.answer).size()) + 1;
    const Generated g = generate_ids(model, codec.encode_prompt(ex.prompt), max_new);
    if (greedy_matches(codec, g.ids, g.stopped, ex.answer)) hits += 1;
  }
  return hits / static_cast<double>(n);
}

Evaluator::Evaluator(TransformerImpl& model, LoraScales scales, int64_t batch,
                     std::shared_ptr<BaseGroups> base_groups)
    : model_(model),
      base_groups_(base_groups ? std::move(base_groups) : std::make_shared<BaseGroups>()),
      scales_(std::move(scales)),
      batch_(batch) {
  if (batch < 1) throw ConfigError("evaluation batch must be >= 1");
}

void Evaluator::load_points(const std::vector<Adapter>& points) {
  pw_ = PointWeights{};
  prompts_.clear();
  if (points.empty()) return;
  size_t n_prompt = 0;
  for (const Adapter& p : points) n_prompt += is_prompt_adapter(p) ? 1 : 0;
  if (n_prompt == points.size()) {  // soft prompts: one point at a time, through the module path
    for (const Adapter& p : points) prompts_.push_back(p.to(model_device(model_)));
    return;
  }
  if (n_prompt > 0)
    throw FormatError("the points mix soft-prompt and LoRA adapters (one scan holds one kind)");
  torch::NoGradGuard ng;
  const std::string a_suffix = ".lora_A.weight", b_suffix = ".lora_B.weight";
  const auto K = static_cast<int64_t>(points.size());
  std::map<std::string, at::Tensor> merged;  // module -> (K, out, in)
  for (auto& [module, layer] : model_.projections()) {
    std::vector<at::Tensor> ws;
    for (const Adapter& p : points) {
      at::Tensor a, b;
      for (const auto& [name, t] : p.entries()) {
        if (name == module + a_suffix) a = t;
        if (name == module + b_suffix) b = t;
      }
      if (!a.defined() && !b.defined()) break;
      if (!a.defined() || !b.defined())
        throw FormatError("adapter has only one of the two LoRA factors of " + module);
      const at::Tensor& w = layer->weight;
      if (b.size(0) != w.size(0) || a.size(1) != w.size(1) || a.size(0) != b.size(1))
        throw FormatError("LoRA factors of " + module + " do not fit the model (shapes " +
                          std::to_string(b.size(0)) + "x" + std::to_string(b.size(1)) + " and " +
                          std::to_string(a.size(0)) + "x" + std::to_string(a.size(1)) + ")");
      // W + s·BA in float, then the model's dtype.
      ws.push_back(at::addmm(w.to(at::kFloat), b.to(w.device(), at::kFloat),
                             a.to(w.device(), at::kFloat), 1.0, scales_.of(module))
                       .to(w.scalar_type()));
    }
    if (ws.empty()) continue;
    if (ws.size() != points.size())
      throw FormatError("the points adapt different projections (" + module + ")");
    merged[module] = at::stack(ws);
  }
  // q|k|v and gate|up side by side, so that each group is one GEMM per point (model.h). A
  // projection no point adapts gets its base weight expanded to K (a view): every product runs
  // per point (kernels/ops.h per_point).
  auto point_weights = [&](const std::string& module, const LoraLinear& layer) {  // (K, out, in)
    auto it = merged.find(module);
    return it != merged.end() ? it->second : layer->weight.unsqueeze(0).expand({K, -1, -1});
  };
  // A group of projections side by side: the points' merged weights, or, where no point adapts
  // any of them, the cached concatenation of their base weights expanded to K.
  auto group = [&](const std::vector<std::pair<std::string, LoraLinear>>& members) {
    bool adapted = false;
    for (const auto& [module, layer] : members) adapted = adapted || merged.count(module);
    if (!adapted) {
      std::lock_guard<std::mutex> lock(base_groups_->mutex);
      at::Tensor& base = base_groups_->groups[members.front().first];
      if (!base.defined()) {
        std::vector<at::Tensor> ws;
        for (const auto& [module, layer] : members) ws.push_back(layer->weight);
        base = at::cat(ws, 0).unsqueeze(0);
      }
      return base.expand({K, -1, -1});
    }
    std::vector<at::Tensor> ws;
    for (const auto& [module, layer] : members) ws.push_back(point_weights(module, layer));
    return at::cat(ws, 1);
  };
  PointWeights pw;
  for (size_t i = 0; i < model_.model->layers->size(); ++i) {
    auto block = model_.model->layers[i]->as<Block>();
    const std::string att = "model.layers." + std::to_string(i) + ".self_attn.";
    const std::string mlp = "model.layers." + std::to_string(i) + ".mlp.";
    const auto& a = block->self_attn;
    const auto& m = block->mlp;
    PointWeights::Layer l;
    l.qkv = group(
        {{att + "q_proj", a->q_proj}, {att + "k_proj", a->k_proj}, {att + "v_proj", a->v_proj}});
    l.o = point_weights(att + "o_proj", a->o_proj);
    l.gate_up = group({{mlp + "gate_proj", m->gate_proj}, {mlp + "up_proj", m->up_proj}});
    l.down = point_weights(mlp + "down_proj", m->down_proj);
    if (a->q_proj->bias.defined())
      l.qkv_bias = at::cat({a->q_proj->bias, a->k_proj->bias, a->v_proj->bias});
    l.o_bias = a->o_proj->bias;
    if (m->gate_proj->bias.defined())
      l.gate_up_bias = at::cat({m->gate_proj->bias, m->up_proj->bias});
    l.down_bias = m->down_proj->bias;
    pw.layers.push_back(std::move(l));
  }
  pw_ = std::move(pw);
}

ScoreSums Evaluator::evaluate(const std::vector<Example>& examples) {
  ScoreSums sums(points());
  for (size_t s = 0; s < examples.size(); s += static_cast<size_t>(batch_)) {
    std::vector<const Example*> chunk;
    for (size_t i = s; i < std::min(examples.size(), s + static_cast<size_t>(batch_)); ++i)
      chunk.push_back(&examples[i]);
    evaluate_batch(model_.codec().encode_examples(chunk, model_.config().max_seq), sums);
  }
  return sums;
}

void Evaluator::evaluate_batch(const TokenBatch& b, ScoreSums& sums) {
  if (points() == 0) throw Error("Evaluator::evaluate before load_points");
  if (static_cast<int64_t>(sums.loss.size()) != points())
    throw Error("Evaluator::evaluate_batch: sums of another point count");
  EvalModeGuard mode(model_);
  torch::NoGradGuard ng;
  const auto dev = model_device(model_);
  if (!prompts_.empty()) {
    const SoftPrompt saved = model_.prompt();
    const at::Tensor input = b.input.to(dev), mask = b.mask.to(dev);
    std::vector<at::Tensor> logits;  // per point (B, T, V), then point-major
    try {
      for (const Adapter& p : prompts_) {
        load_prompt_adapter(model_, p, "scan point");
        logits.push_back(model_.forward(input, mask));
      }
    } catch (...) {
      model_.set_prompt(saved);
      throw;
    }
    if (saved.empty())
      model_.clear_prompt();
    else
      model_.set_prompt(saved);
    sums.add(at::cat(logits, 0), b.target.to(dev), mask);
    return;
  }
  sums.add(model_.forward(b.input.to(dev), pw_), b.target.to(dev), b.mask.to(dev));  // (K·B, T, V)
}

int64_t Evaluator::points_per_batch(int64_t budget_bytes, int64_t max_points) const {
  int64_t per_point = 0;
  for (auto& [name, layer] : model_.projections())
    per_point += layer->weight.numel() * static_cast<int64_t>(layer->weight.element_size());
  return std::max<int64_t>(1, std::min(max_points, budget_bytes / std::max<int64_t>(per_point, 1)));
}

EvaluatorPool::EvaluatorPool(TransformerImpl& model, const LoraScales& scale, int64_t batch,
                             int workers) {
  if (workers <= 1 || !model_device(model).is_cpu()) {
    evaluators_.push_back(std::make_unique<Evaluator>(model, scale, batch));
    return;
  }
  torch::NoGradGuard ng;
  auto groups = std::make_shared<Evaluator::BaseGroups>();
  for (int w = 0; w < workers; ++w) {
    // A replica shares the model's base weights (an evaluation never writes them): a worker
    // costs its activations and point weights, not another copy of the model.
    Transformer r(model.config(), /*random_init=*/false);
    auto src = model.base_parameters();
    auto dst = r->base_parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].second.set_data(src.at(i).second);
    r->eval();
    r->l2p_top_n = model.l2p_top_n;
    if (model.codec_ptr()) r->set_codec(model.codec_ptr());
    replicas_.push_back(r.ptr());
    evaluators_.push_back(std::make_unique<Evaluator>(*r, scale, batch, groups));
  }
}

void EvaluatorPool::for_each(int64_t n, const std::function<void(Evaluator&, int64_t)>& fn) {
  const int W = workers();
  if (W == 1) {
    for (int64_t i = 0; i < n; ++i) fn(*evaluators_[0], i);
    return;
  }
  const int threads = at::get_num_threads();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(W));
  std::vector<std::thread> pool;
  for (int w = 0; w < W; ++w)
    pool.emplace_back([&, w] {
      try {
        at::set_num_threads(1);  // this worker's forwards run on its own thread only
        for (int64_t i = w; i < n; i += W) fn(*evaluators_[static_cast<size_t>(w)], i);
      } catch (...) {
        errors[static_cast<size_t>(w)] = std::current_exception();
      }
    });
  for (auto& t : pool) t.join();
  at::set_num_threads(threads);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace lorascape::core
