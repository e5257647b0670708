#include "core/evaluate.h"

#include <algorithm>

#include "core/model.h"
#include "core/tokenizer.h"

namespace lorascape::core {

namespace {
// Restores the module's training flag on scope exit.
struct EvalModeGuard {
  explicit EvalModeGuard(TransformerImpl& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalModeGuard() { m_.train(was_training_); }
  TransformerImpl& m_;
  bool was_training_;
};

c10::Device model_device(TransformerImpl& m) { return m.lm_head->weight.device(); }
}  // namespace

Scores evaluate_examples(TransformerImpl& model, const std::vector<Example>& examples,
                         int64_t max_examples, int64_t batch) {
  EvalModeGuard mode(model);
  torch::NoGradGuard ng;
  const auto dev = model_device(model);
  const size_t n = max_examples > 0 ? std::min(examples.size(), static_cast<size_t>(max_examples)) : examples.size();
  double loss_sum = 0, tokens = 0, correct_tokens = 0, exact = 0;
  for (size_t s = 0; s < n; s += static_cast<size_t>(batch)) {
    std::vector<const Example*> chunk;
    for (size_t i = s; i < std::min(n, s + static_cast<size_t>(batch)); ++i) chunk.push_back(&examples[i]);
    TokenBatch b = encode_examples(chunk, model.config().max_seq);
    at::Tensor input = b.input.to(dev), target = b.target.to(dev), mask = b.mask.to(dev);
    at::Tensor logits = model.forward(input).to(at::kFloat);  // (B, T, V)
    const int64_t V = logits.size(-1);
    at::Tensor ce = at::cross_entropy_loss(logits.reshape({-1, V}), target.reshape({-1}),
                                           {}, at::Reduction::None)
                        .view_as(mask);  // (B, T)
    at::Tensor hit = (logits.argmax(-1) == target).to(at::kFloat) * mask;  // (B, T)
    loss_sum += (ce * mask).sum().item<double>();
    tokens += mask.sum().item<double>();
    correct_tokens += hit.sum().item<double>();
    // An example is exact when its scored positions are all hits.
    exact += ((hit.sum(1) == mask.sum(1))).to(at::kFloat).sum().item<double>();
  }
  Scores sc;
  sc.examples = static_cast<int64_t>(n);
  if (n == 0) return sc;
  sc.loss = loss_sum / std::max(tokens, 1.0);
  sc.token_acc = correct_tokens / std::max(tokens, 1.0);
  sc.exact_match = exact / static_cast<double>(n);
  return sc;
}

std::string greedy_generate(TransformerImpl& model, const std::string& prompt, int64_t max_new) {
  EvalModeGuard mode(model);
  torch::NoGradGuard ng;
  const auto dev = model_device(model);
  const int64_t max_seq = model.config().max_seq;
  std::vector<int64_t> ids = encode_prompt(prompt);
  if (static_cast<int64_t>(ids.size()) >= max_seq)  // keep the end of an over-long prompt
    ids.erase(ids.begin() + 1, ids.begin() + 1 + (static_cast<int64_t>(ids.size()) - max_seq + 1));
  std::vector<int64_t> out;
  for (int64_t k = 0; k < max_new && static_cast<int64_t>(ids.size()) < max_seq; ++k) {
    at::Tensor in = at::tensor(ids, at::kLong).unsqueeze(0).to(dev);  // (1, T)
    const int64_t next = model.forward(in).select(1, in.size(1) - 1).argmax(-1).item<int64_t>();
    if (next == tok::kEos) break;
    out.push_back(next);
    ids.push_back(next);
  }
  return decode_bytes(out);
}

double greedy_exact_match(TransformerImpl& model, const std::vector<Example>& examples, int64_t max_examples) {
  const size_t n = max_examples > 0 ? std::min(examples.size(), static_cast<size_t>(max_examples)) : examples.size();
  if (n == 0) return 0;
  double hits = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& ex = examples[i];
    const int64_t max_new = static_cast<int64_t>(ex.answer.size()) + 1;
    // With a budget of answer + 1 bytes, the output equals the answer only if the model
    // produced the answer and then stopped at EOS.
    if (greedy_generate(model, ex.prompt, max_new) == ex.answer) hits += 1;
  }
  return hits / static_cast<double>(n);
}

}  // namespace lorascape::core
