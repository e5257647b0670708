#include "core/tokenizer.h"

#include <algorithm>

#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

std::vector<int64_t> encode_bytes(const std::string& text) {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c));
  return ids;
}

std::string decode_bytes(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids)
    if (id >= 0 && id < 256) s.push_back(static_cast<char>(id));
  return s;
}

std::vector<int64_t> encode_prompt(const std::string& prompt) {
  std::vector<int64_t> ids{tok::kBos};
  for (unsigned char c : prompt) ids.push_back(c);
  ids.push_back(tok::kSep);
  return ids;
}

TokenBatch pack_sequences(const std::vector<std::vector<int64_t>>& seqs,
                          const std::vector<int64_t>& score_from, int64_t pad) {
  const int64_t B = static_cast<int64_t>(seqs.size());
  int64_t T = 1;
  for (const auto& s : seqs) T = std::max<int64_t>(T, static_cast<int64_t>(s.size()) - 1);
  TokenBatch b;
  b.input = at::full({B, T}, pad, at::kLong);
  b.target = at::full({B, T}, pad, at::kLong);
  b.mask = at::zeros({B, T}, at::kFloat);
  auto in = b.input.accessor<int64_t, 2>();
  auto tg = b.target.accessor<int64_t, 2>();
  auto mk = b.mask.accessor<float, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = seqs[static_cast<size_t>(i)];
    for (int64_t t = 0; t + 1 < static_cast<int64_t>(s.size()); ++t) {
      in[i][t] = s[static_cast<size_t>(t)];
      tg[i][t] = s[static_cast<size_t>(t + 1)];
      // Position t predicts token t+1; score it when token t+1 is in the scored part.
      if (t + 1 >= score_from[static_cast<size_t>(i)]) mk[i][t] = 1.0f;
    }
  }
  return b;
}

TokenBatch encode_examples(const std::vector<const Example*>& examples, int64_t max_len) {
  return ByteCodec().encode_examples(examples, max_len);
}

TokenBatch encode_texts(const std::vector<const std::string*>& texts, int64_t max_len) {
  std::vector<std::vector<int64_t>> seqs;
  std::vector<int64_t> from;
  for (const std::string* t : texts) {
    std::vector<int64_t> s{tok::kBos};
    for (unsigned char c : *t) {
      if (static_cast<int64_t>(s.size()) + 1 >= max_len) break;
      s.push_back(c);
    }
    s.push_back(tok::kEos);
    seqs.push_back(std::move(s));
    from.push_back(1);
  }
  return pack_sequences(seqs, from);
}

}  // namespace lorascape::core
