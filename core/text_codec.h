// TextCodec: what training, evaluation and analysis need from a tokenizer — a task example
// (prompt, answer) as token ids with the answer-token mask, a prompt as the context of greedy
// generation, generated ids back to text, the EOS and PAD ids. A model carries its codec
// (TransformerImpl::codec, core/model.h).
//
// Two codecs:
//   ByteCodec  lorascape's byte tokenizer (core/tokenizer.h):
//                [BOS] template(prompt) [SEP] answer [EOS]
//              With the default template this is exactly encode_examples / encode_prompt.
//   HfCodec    a Hugging Face tokenizer.json (core/hf_tokenizer.h), joined as LLMCL joins them
//              (its get_dataset.py): prompt and answer tokenised apart, without special tokens,
//                [BOS] encode(template(prompt)) encode(answer) [EOS]
//              BOS whenever the tokenizer names one (as LLMCL, even where encode(…, true) does
//              not add it: Meta's first Llama-3 tokenizer.json); none when it has none (Qwen2).
// Both score the answer tokens and the EOS. A sequence longer than max_len loses tokens from the
// start of the prompt (after BOS); the answer is kept whole, and an answer that alone does not
// fit is a DataError. docs/user-guide.md ("Tasks on Hugging Face models") states the rules.
//
// The prompt template is a string with one `{prompt}` placeholder (config key tasks.template,
// default "{prompt}": the prompt as it stands).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tasks.h"
#include "core/tokenizer.h"

namespace lorascape::core {

class HfTokenizer;
class TransformerImpl;

inline constexpr const char* kDefaultPromptTemplate = "{prompt}";

// Throws ConfigError unless `tmpl` holds exactly one "{prompt}".
void check_prompt_template(const std::string& tmpl);
// tmpl with its "{prompt}" replaced by prompt.
std::string apply_prompt_template(const std::string& tmpl, const std::string& prompt);

// One example as token ids: ids[answer_start..] are the answer tokens and the EOS (scored).
struct EncodedExample {
  std::vector<int64_t> ids;
  int64_t answer_start = 0;
};

class TextCodec {
 public:
  explicit TextCodec(std::string prompt_template);
  virtual ~TextCodec() = default;

  virtual std::string name() const = 0;      // "bytes" or "hf" (ModelConfig::tokenizer)
  virtual std::string describe() const = 0;  // one line, for logs and files
  virtual int64_t vocab_size() const = 0;    // ids are < vocab_size()
  virtual int64_t bos_id() const = 0;        // the first id of every sequence; -1 = none
  virtual int64_t eos_id() const = 0;
  // The id right padding puts after a sequence (never scored, never attended to by the
  // sequence's own tokens: attention is causal).
  virtual int64_t pad_id() const = 0;

  // The example as ids, at most max_len of them: the prompt truncated from the left (after BOS)
  // when needed. Throws DataError when the answer with the fixed tokens does not fit max_len.
  virtual EncodedExample encode_example(const Example& ex, int64_t max_len) const = 0;
  // The context from which an answer is generated: the ids of encode_example before the answer.
  virtual std::vector<int64_t> encode_prompt(const std::string& prompt) const = 0;
  // The answer ids of encode_example (without the EOS).
  virtual std::vector<int64_t> encode_answer(const std::string& answer) const = 0;
  // Generated ids back to text; special tokens are dropped.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The text greedy decoding must produce for an exact match: decode(encode_answer(answer)).
  std::string answer_text(const std::string& answer) const { return decode(encode_answer(answer)); }

  // The same codec with another prompt template.
  virtual std::shared_ptr<const TextCodec> with_template(const std::string& tmpl) const = 0;
  const std::string& prompt_template() const { return template_; }
  std::string apply_template(const std::string& prompt) const {
    return apply_prompt_template(template_, prompt);
  }

  // A right-padded batch of examples (encode_example each, padded with pad_id()).
  TokenBatch encode_examples(const std::vector<const Example*>& examples, int64_t max_len) const;

 private:
  std::string template_;
};

class ByteCodec : public TextCodec {
 public:
  explicit ByteCodec(std::string prompt_template = kDefaultPromptTemplate);
  std::string name() const override { return "bytes"; }
  std::string describe() const override;
  int64_t vocab_size() const override { return tok::kVocab; }
  int64_t bos_id() const override { return tok::kBos; }
  int64_t eos_id() const override { return tok::kEos; }
  int64_t pad_id() const override { return tok::kPad; }
  EncodedExample encode_example(const Example& ex, int64_t max_len) const override;
  std::vector<int64_t> encode_prompt(const std::string& prompt) const override;
  std::vector<int64_t> encode_answer(const std::string& answer) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::shared_ptr<const TextCodec> with_template(const std::string& tmpl) const override;
};

class HfCodec : public TextCodec {
 public:
  // Throws FormatError when the tokenizer has no EOS token.
  HfCodec(std::shared_ptr<const HfTokenizer> tokenizer, std::string prompt_template);
  std::string name() const override { return "hf"; }
  std::string describe() const override;
  int64_t vocab_size() const override;
  int64_t bos_id() const override { return bos_; }
  int64_t eos_id() const override { return eos_; }
  // The tokenizer's PAD, else its EOS (Llama-3 has no PAD; LLMCL sets one by hand).
  int64_t pad_id() const override { return pad_; }
  EncodedExample encode_example(const Example& ex, int64_t max_len) const override;
  std::vector<int64_t> encode_prompt(const std::string& prompt) const override;
  std::vector<int64_t> encode_answer(const std::string& answer) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::shared_ptr<const TextCodec> with_template(const std::string& tmpl) const override;
  const HfTokenizer& tokenizer() const { return *tok_; }

 private:
  std::shared_ptr<const HfTokenizer> tok_;
  int64_t bos_ = -1;  // -1: the tokenizer has none, nothing is put first
  int64_t eos_ = -1, pad_ = -1;
};

// The codec of a Hugging Face model folder (or any folder with tokenizer.json and optionally
// tokenizer_config.json): HfTokenizer::load(dir) with the template. What a model loader hands
// to TransformerImpl::set_codec.
std::shared_ptr<const TextCodec> make_hf_codec(
    const std::string& dir, const std::string& prompt_template = kDefaultPromptTemplate);

// Gives the model its codec with another prompt template (the run's tasks.template); a no-op
// when the template is already that.
void set_prompt_template(TransformerImpl& model, const std::string& prompt_template);

// Checks that every example of every split of the tasks fits max_len under the codec (the
// answer with its fixed tokens); throws DataError naming the task, split, example and
// `model.max_seq` otherwise.
void check_tasks_fit(const TextCodec& codec, const std::vector<Task>& tasks, int64_t max_len);

}  // namespace lorascape::core
