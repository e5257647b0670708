// Byte-level tokenizer: one token per byte (0..255) plus four special tokens.
// A training example is  [BOS] prompt [SEP] answer [EOS];  the loss is taken on the answer
// bytes and the EOS only (answer-only mask).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tasks.h"

namespace lorascape::core {

namespace tok {
inline constexpr int64_t kBos = 256;
inline constexpr int64_t kEos = 257;
inline constexpr int64_t kPad = 258;
inline constexpr int64_t kSep = 259;
inline constexpr int64_t kVocab = 260;
}  // namespace tok

std::vector<int64_t> encode_bytes(const std::string& text);
// Bytes back to text; special tokens are dropped.
std::string decode_bytes(const std::vector<int64_t>& ids);
// [BOS] prompt [SEP] — the context from which the answer is generated.
std::vector<int64_t> encode_prompt(const std::string& prompt);

// A right-padded batch. B = batch size, T = longest sequence in the batch minus one.
struct TokenBatch {
  at::Tensor input;   // (B, T) int64, PAD after the end
  at::Tensor target;  // (B, T) int64, input shifted left by one
  at::Tensor mask;    // (B, T) float, 1 where the target is scored
  int64_t scored_tokens() const { return static_cast<int64_t>(mask.sum().item<double>()); }
};

// Sequences packed into a right-padded batch (padded with `pad`), each scored from its token
// score_from[i] on (that token is the first scored target).
TokenBatch pack_sequences(const std::vector<std::vector<int64_t>>& seqs,
                          const std::vector<int64_t>& score_from, int64_t pad = tok::kPad);

// Examples as [BOS] prompt [SEP] answer [EOS], scoring answer bytes and EOS. A sequence longer
// than max_len loses bytes from the start of its prompt (the answer is always kept whole).
// ByteCodec (core/text_codec.h) with the default template; a model's codec is
// TransformerImpl::codec().
TokenBatch encode_examples(const std::vector<const Example*>& examples, int64_t max_len);
// Plain text lines as [BOS] text [EOS], scoring every position (language-model pretraining).
TokenBatch encode_texts(const std::vector<const std::string*>& texts, int64_t max_len);

}  // namespace lorascape::core
