// The soft-prompt methods `pp` and `l2p` (core/strategies.h, docs/methods.md).
#include <torch/nn/init.h>

#include "core/base_model.h"
#include "core/model.h"
#include "core/prompt.h"
#include "core/rng.h"
#include "core/strategies.h"
#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

namespace {
// The prompt methods train prompts alone: the LoRA factors (B = 0) get no gradient.
void freeze_lora(TransformerImpl& model) {
  for (auto& [n, p] : model.lora_parameters()) {
    (void)n;
    p.set_requires_grad(false);
  }
}
}  // namespace

at::Tensor sampled_vocab_rows(TransformerImpl& model, int64_t n, uint64_t seed) {
  const at::Tensor& emb = model.model->embed_tokens->weight;  // (V, C)
  const int64_t vocab =
      model.codec_ptr() ? std::min(model.codec().vocab_size(), emb.size(0)) : emb.size(0);
  Rng rng(seed);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(rng.uniform_int(0, vocab - 1));
  torch::NoGradGuard ng;
  return emb.index_select(0, at::tensor(ids, at::kLong).to(emb.device())).to(at::kFloat).clone();
}

PpStrategy::PpStrategy(const RunConfig& cfg)
    : length_(cfg.pp.length), seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "pp-prompts")) {}

void PpStrategy::before_task(TrainContext& ctx) {
  freeze_lora(ctx.model);
  if (prompts_.size() == ctx.task) {
    at::Tensor p =
        sampled_vocab_rows(ctx.model, length_, derive_seed(seed_, std::to_string(ctx.task)));
    prompts_.push_back(p.set_requires_grad(true));
  }
  SoftPrompt sp;
  for (auto it = prompts_.rbegin(); it != prompts_.rend(); ++it) sp.parts.push_back(*it);
  ctx.model.set_prompt(std::move(sp));
  ctx.params = {prompts_.back()};
}

void PpStrategy::after_task(TrainContext& ctx) {
  if (prompts_.size() != ctx.task + 1) return;
  prompts_.back() = prompts_.back().detach().clone();  // frozen from here on
  SoftPrompt sp;
  for (auto it = prompts_.rbegin(); it != prompts_.rend(); ++it) sp.parts.push_back(*it);
  ctx.model.set_prompt(std::move(sp));
}

void PpStrategy::save_state(const TrainContext&, TrainState& state) const {
  state.meta["pp_prompts"] = prompts_.size();
  for (size_t k = 0; k < prompts_.size(); ++k)
    state.tensors["pp/prompt-" + std::to_string(k)] = prompts_[k];
}

void PpStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  prompts_.clear();
  if (!state.meta.contains("pp_prompts"))
    throw FormatError("the checkpoint holds no prompts (written before pp resumed)");
  const size_t n = state.meta.at("pp_prompts").get<size_t>();
  const int64_t C = ctx.model.config().d_model;
  for (size_t k = 0; k < n; ++k) {
    const at::Tensor& p = state.tensor("pp/prompt-" + std::to_string(k));
    if (p.dim() != 2 || p.size(0) != length_ || p.size(1) != C)
      throw FormatError("training checkpoint: prompt " + std::to_string(k + 1) +
                        " does not fit pp.length and the model; delete the checkpoint");
    prompts_.push_back(p.to(ctx.device).clone());  // frozen: a finished task's prompt
  }
}

L2pStrategy::L2pStrategy(const RunConfig& cfg)
    : pool_size_(cfg.l2p.pool_size),
      length_(cfg.l2p.length),
      top_n_(cfg.l2p.top_n),
      lambda_(cfg.l2p.lambda),
      seed_(derive_seed(static_cast<uint64_t>(cfg.seed), "l2p-pool")) {}

void L2pStrategy::before_task(TrainContext& ctx) {
  freeze_lora(ctx.model);
  if (!pool_.defined()) {
    pool_ = sampled_vocab_rows(ctx.model, pool_size_ * length_, derive_seed(seed_, "prompts"))
                .set_requires_grad(true);
    // Keys uniform in [-1, 1), as the reference code initialises them.
    Rng rng(derive_seed(seed_, "keys"));
    const int64_t C = ctx.model.config().d_model;
    std::vector<float> k(static_cast<size_t>(pool_size_ * C));
    for (auto& v : k) v = static_cast<float>(2.0 * rng.uniform() - 1.0);
    keys_ = at::tensor(k, at::kFloat).view({pool_size_, C}).to(ctx.device).set_requires_grad(true);
  }
  ctx.model.l2p_top_n = top_n_;
  SoftPrompt sp;
  sp.pool = pool_;
  sp.keys = keys_;
  sp.top_n = top_n_;
  ctx.model.set_prompt(std::move(sp));
  ctx.params = {pool_, keys_};
}

at::Tensor L2pStrategy::loss(TrainContext& ctx, const std::vector<const Example*>& batch) {
  TokenBatch b = ctx.model.codec().encode_examples(batch, ctx.model.config().max_seq);
  const at::Tensor mask = b.mask.to(ctx.device);
  const at::Tensor ce = masked_cross_entropy(ctx.model.forward(b.input.to(ctx.device), mask),
                                             b.target.to(ctx.device), mask);
  if (lambda_ == 0) return ce;
  return ce +
         lambda_ * l2p_matching_loss(ctx.model.last_query(), keys_, ctx.model.last_selection());
}

void L2pStrategy::save_state(const TrainContext&, TrainState& state) const {
  state.meta["l2p_pool"] = pool_.defined();
  if (!pool_.defined()) return;
  state.tensors["l2p/pool"] = pool_.detach();
  state.tensors["l2p/keys"] = keys_.detach();
}

void L2pStrategy::load_state(TrainContext& ctx, const TrainState& state) {
  if (!state.meta.contains("l2p_pool"))
    throw FormatError("the checkpoint holds no prompt pool (written before l2p resumed)");
  if (!state.meta.at("l2p_pool").get<bool>()) return;
  const at::Tensor& p = state.tensor("l2p/pool");
  const at::Tensor& k = state.tensor("l2p/keys");
  const int64_t C = ctx.model.config().d_model;
  if (p.dim() != 2 || p.size(0) != pool_size_ * length_ || p.size(1) != C || k.dim() != 2 ||
      k.size(0) != pool_size_ || k.size(1) != C)
    throw FormatError(
        "training checkpoint: the L2P pool or keys do not fit l2p.pool_size, l2p.length and the "
        "model; delete the checkpoint");
  pool_ = p.to(ctx.device).clone().set_requires_grad(true);
  keys_ = k.to(ctx.device).clone().set_requires_grad(true);
}

}  // namespace lorascape::core
