// Evaluation of a model (with whatever adapter is loaded) on task examples.
//   loss        mean cross-entropy over answer tokens (answer bytes + EOS), token-weighted
//   token_acc   fraction of answer tokens whose argmax is right (teacher forcing)
//   exact_match fraction of examples whose every answer token and EOS is the argmax.
// Teacher-forced exact match equals greedy-decoding exact match: greedy decoding reproduces
// the answer iff at each answer position the argmax given the true prefix is the true token.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/tasks.h"

namespace lorascape::core {

class TransformerImpl;

struct Scores {
  double loss = 0;
  double token_acc = 0;
  double exact_match = 0;
  int64_t examples = 0;
};

// Evaluates the first max_examples examples (0 = all) in batches, under NoGrad and eval().
Scores evaluate_examples(TransformerImpl& model, const std::vector<Example>& examples,
                         int64_t max_examples, int64_t batch);

// Greedy decoding of up to max_new bytes after [BOS] prompt [SEP]; stops at EOS.
std::string greedy_generate(TransformerImpl& model, const std::string& prompt, int64_t max_new = 32);

// Exact match by greedy decoding (slow; used to check the teacher-forced score).
double greedy_exact_match(TransformerImpl& model, const std::vector<Example>& examples, int64_t max_examples);

}  // namespace lorascape::core
