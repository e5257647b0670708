// Hugging Face tokenizers (`tokenizer.json` + `tokenizer_config.json`, the format of the
// `tokenizers` library) read and run in C++, ids identical to the reference implementation.
//
// Two families of BPE tokenizers are supported, which between them cover the Llama-like models
// lorascape loads:
//   - "sentencepiece-bpe": SentencePiece-style BPE with byte fallback (Llama-2, Mistral,
//     TinyLlama): a Prepend("▁") + Replace(" " -> "▁") normalizer, no pre-tokenizer, <0xNN>
//     tokens for characters outside the vocabulary; decoded by Replace/ByteFallback/Fuse/Strip.
//   - "byte-level-bpe": GPT-2 style byte-level BPE (Llama-3, Qwen2): a Split pre-tokenizer with
//     a Unicode regex (run by PCRE2), every byte mapped to a printable character, merges on
//     those; decoded by ByteLevel.
// Other models (WordPiece, Unigram, WordLevel) and components that would change the result and
// are not implemented are refused on load with a FormatError naming the file and the key.
//
// How a text is encoded (as the `tokenizers` library does):
//   1. the added tokens (special or not; tokenizer.json "added_tokens") are split out of the
//      raw text, longest match first, and become their ids directly;
//   2. every other piece is normalised, pre-tokenised into words, and each word is encoded by
//      BPE (merges applied in rank order, lowest rank first, leftmost first among equal ranks);
//   3. with add_special_tokens, the post-processor's template adds BOS/EOS around the ids.
// The text may hold any bytes: invalid UTF-8 is encoded byte by byte (byte-level BPE maps every
// byte; SentencePiece BPE falls back to <0xNN> tokens), and decode() then gives U+FFFD for the
// invalid sequences. decode() never applies `clean_up_tokenization_spaces`: decode(encode(s))
// is s for every text without added-token text in it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lorascape::core {

class HfTokenizer {
 public:
  // dir holds tokenizer.json and optionally tokenizer_config.json. Throws lorascape::FormatError
  // (store/error.h) naming the file and key for anything malformed or unsupported (WordPiece,
  // Unigram, unknown normalizer/pre-tokenizer/decoder types that change the result).
  static HfTokenizer load(const std::string& dir);
  // The same from the two files' contents; config_json may be empty (no tokenizer_config.json).
  // `origin` names the files in error messages.
  static HfTokenizer from_json(const std::string& tokenizer_json, const std::string& config_json,
                               const std::string& origin = "tokenizer.json");

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens) const;
  // Ids outside the vocabulary are skipped; invalid UTF-8 in the result becomes U+FFFD.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const;

  int64_t bos_id() const;      // -1 when the tokenizer has none
  int64_t eos_id() const;      // -1 when none
  int64_t pad_id() const;      // -1 when none
  int64_t vocab_size() const;  // model vocabulary + added tokens (max id + 1)
  std::string kind() const;    // "sentencepiece-bpe" or "byte-level-bpe"
  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;  // "" for an id that names no token
  // Whether encode(…, true) adds BOS / EOS: tokenizer_config.json's `add_bos_token` /
  // `add_eos_token` when it sets them (as transformers' Llama tokenizers do), else what the
  // post-processor's template adds.
  bool add_bos() const;
  bool add_eos() const;
  // Whether the id is an added token marked special (dropped by skip_special_tokens).
  bool is_special(int64_t id) const;
  // tokenizer_config.json's clean_up_tokenization_spaces (transformers applies it after
  // decoding; decode() does not).
  bool clean_up_tokenization_spaces() const;

  struct Impl;

 private:
  explicit HfTokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable after load; copies share it
};

}  // namespace lorascape::core
