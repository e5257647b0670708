// Evaluation of a model (with whatever adapter is loaded) on task examples, tokenised by the
// model's codec (TransformerImpl::codec, core/text_codec.h).
//   loss        mean cross-entropy over answer tokens (answer tokens + EOS), token-weighted
//   token_acc   fraction of answer tokens whose argmax is right (teacher forcing)
//   exact_match fraction of examples whose every answer token and EOS is the argmax.
// Teacher-forced exact match equals greedy-decoding exact match: greedy decoding reproduces
// the answer iff at each answer position the argmax given the true prefix is the true token.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/model.h"
#include "core/tasks.h"
#include "core/text_codec.h"
#include "core/tokenizer.h"

namespace lorascape::core {

struct Scores {
  double loss = 0;
  double token_acc = 0;
  double exact_match = 0;
  int64_t examples = 0;
};

// Per-point sums of a batch's scores, accumulated over batches: logits (K·B, T, V) of K
// points on the same B sequences (point-major), target and mask (B, T); each point's sums
// are computed from its own logits alone.
struct ScoreSums {
  explicit ScoreSums(int64_t points = 1);
  void add(const at::Tensor& logits, const at::Tensor& target, const at::Tensor& mask);
  Scores scores(int64_t point) const;         // means over everything added
  ScoreSums& operator+=(const ScoreSums& o);  // the sums of both example sets (same points)
  std::vector<double> loss, correct, exact;
  double tokens = 0;
  int64_t examples = 0;
};

// Evaluates the first max_examples examples (0 = all) in batches, under NoGrad and eval().
Scores evaluate_examples(TransformerImpl& model, const std::vector<Example>& examples,
                         int64_t max_examples, int64_t batch);

// Greedy decoding of up to max_new tokens after the codec's prompt context (bytes:
// [BOS] prompt [SEP]); stops at the codec's EOS; the generated ids decoded by the codec.
std::string greedy_generate(TransformerImpl& model, const std::string& prompt,
                            int64_t max_new = 32);

// The exact-match rule of greedy decoding: generation stopped at EOS, and the generated ids
// decode to the text of the answer's own ids, codec.answer_text(answer) (= decode(encode(answer)):
// the answer tokenised apart from the prompt, as in training). Text, not ids, is compared, so a
// different tokenisation of the same text also matches; no whitespace is stripped.
bool greedy_matches(const TextCodec& codec, const std::vector<int64_t>& generated,
                    bool stopped_at_eos, const std::string& answer);

// Exact match by greedy decoding (slow; used to check the teacher-forced score): the budget is
// the answer's tokens + 1, the rule greedy_matches.
double greedy_exact_match(TransformerImpl& model, const std::vector<Example>& examples,
                          int64_t max_examples);

// Evaluator: the same scores for K adapters in one batched forward.
//
// Each point's ΔW_k = s·B_k·A_k is merged into its own copy of every adapted projection,
// W_k = W + ΔW_k (K, out, in), and the model runs once on the examples repeated K times
// (batch K·B, point-major; PointWeights, TransformerImpl::forward). Merging costs 2·out·in·r flops
// per projection and point, far less than the low-rank side path over every token. Every product,
// the attention and every reduction run on one point's rows at a time through the routine a
// lone point uses, on tensors of the lone point's shapes (per_point, kernels/ops.h); only
// operations that treat each row or element by itself span points. So a point's scores are
// bit for bit the same whether it is evaluated alone or with any other points, with
// lorascape's GEMM or any BLAS kernel set, on a CPU or a GPU: a resumed, sharded or MPI-split
// scan, or one with another --points-per-batch, gives the same values (tested).
class Evaluator {
 public:
  // `model`: the base model, on its device and dtype (its own LoRA factors, if any, are
  // bypassed); `scales`: s of every adapted module (alpha/rank; one number when all share it);
  // `batch`: examples per forward (each forward holds K·batch sequences).
  // The concatenated base weights of groups no point adapts (q|k|v, gate|up), made once and
  // shared by the evaluators of one model's pool (its replicas share the base weights).
  struct BaseGroups {
    std::mutex mutex;
    std::map<std::string, at::Tensor> groups;  // first module of the group -> (1, out, in)
  };
  Evaluator(TransformerImpl& model, LoraScales scales, int64_t batch,
            std::shared_ptr<BaseGroups> base_groups = nullptr);
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // Merges the points' weights, W + s·B_k·A_k for every projection (s: the module's scale)
  // (PointWeights; the model itself is not changed), replacing the points loaded before. Every
  // adapter's tensors must name projections of the model, in model.…_proj.lora_A.weight /
  // lora_B.weight pairs (FormatError otherwise). Soft-prompt points (core/prompt.h: every
  // point a prompt adapter of the same kind) cannot be merged into weights: they are held and
  // evaluated one at a time through the model's own forward with that prompt (the model as it
  // stands otherwise; its prompt, if any, restored afterwards), so the scores of a point are
  // still independent of the other points.
  void load_points(const std::vector<Adapter>& points);
  int64_t points() const {
    return prompts_.empty() ? pw_.points() : static_cast<int64_t>(prompts_.size());
  }
  // Sums of the scores of every loaded point on all of `examples` (ScoreSums::scores(k) is
  // point k's Scores).
  ScoreSums evaluate(const std::vector<Example>& examples);
  // The same for one batch of token sequences (input, target, mask; any device), added to
  // `sums` (which must have one entry per loaded point).
  void evaluate_batch(const TokenBatch& batch, ScoreSums& sums);

  // Points per forward that keep the merged weights of one batch of points under
  // `budget_bytes` (at least 1, at most max_points).
  int64_t points_per_batch(int64_t budget_bytes = int64_t{256} << 20, int64_t max_points = 8) const;

 private:
  TransformerImpl& model_;
  PointWeights pw_;               // the loaded points' merged weights (none before load_points)
  std::vector<Adapter> prompts_;  // or the loaded soft-prompt points
  // q|k|v or gate|up base weights side by side, per layer and group, made once: a group no
  // point adapts is this, expanded to K (a view), not a fresh concatenation.
  std::shared_ptr<BaseGroups> base_groups_;
  LoraScales scales_;
  int64_t batch_;
};

// Evaluators on several CPU threads: `workers` copies of the base model, each driven by its
// own thread with one intra-op thread. On the small models of this project one forward uses
// two cores poorly (element-wise ops and small GEMMs do not split well), while independent
// single-threaded forwards of different points scale with the cores (docs/performance.md:
// 1.9× on 2 cores). Each point is evaluated by one worker alone, single-threaded, so its
// scores do not depend on the worker count or on which worker took it. With one worker (or
// on a GPU) the caller's model is used directly, with its thread setting.
class EvaluatorPool {
 public:
  EvaluatorPool(TransformerImpl& model, const LoraScales& scales, int64_t batch, int workers);
  int workers() const { return static_cast<int>(evaluators_.size()); }
  // Calls fn(evaluator, i) for every i in [0, n), item i on worker i % workers, and waits; the
  // first exception thrown by any worker is rethrown here.
  void for_each(int64_t n, const std::function<void(Evaluator&, int64_t)>& fn);

 private:
  std::vector<std::shared_ptr<TransformerImpl>> replicas_;  // the workers' copies of the model
  std::vector<std::unique_ptr<Evaluator>> evaluators_;
};

}  // namespace lorascape::core
