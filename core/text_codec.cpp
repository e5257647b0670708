#include "core/text_codec.h"

#include <algorithm>

#include "core/hf_tokenizer.h"
#include "core/model.h"
#include "store/error.h"

namespace lorascape::core {

namespace {
constexpr const char* kPlaceholder = "{prompt}";

// The answer of `answer_tokens` tokens plus `fixed` tokens (BOS, SEP, EOS) must fit max_len.
void check_answer_fits(int64_t answer_tokens, int64_t fixed, int64_t max_len, const char* unit) {
  if (answer_tokens + fixed > max_len)
    throw DataError("example answer of " + std::to_string(answer_tokens) + " " + unit + " (+ " +
                    std::to_string(fixed) + " special tokens) does not fit `model.max_seq` " +
                    std::to_string(max_len) + " (raise model.max_seq or shorten the answers)");
}
}  // namespace

void check_prompt_template(const std::string& tmpl) {
  const auto first = tmpl.find(kPlaceholder);
  if (first == std::string::npos || tmpl.find(kPlaceholder, first + 1) != std::string::npos)
    throw ConfigError("`tasks.template` must hold \"{prompt}\" exactly once (got \"" + tmpl +
                      "\"; e.g. \"Question: {prompt}\\nAnswer:\")");
}

std::string apply_prompt_template(const std::string& tmpl, const std::string& prompt) {
  if (tmpl == kPlaceholder) return prompt;
  const auto at = tmpl.find(kPlaceholder);
  if (at == std::string::npos) check_prompt_template(tmpl);  // throws
  return tmpl.substr(0, at) + prompt +
         tmpl.substr(at + std::char_traits<char>::length(kPlaceholder));
}

TextCodec::TextCodec(std::string prompt_template) : template_(std::move(prompt_template)) {
  check_prompt_template(template_);
}

TokenBatch TextCodec::encode_examples(const std::vector<const Example*>& examples,
                                      int64_t max_len) const {
  std::vector<std::vector<int64_t>> seqs;
  std::vector<int64_t> from;
  seqs.reserve(examples.size());
  from.reserve(examples.size());
  for (const Example* ex : examples) {
    EncodedExample e = encode_example(*ex, max_len);
    seqs.push_back(std::move(e.ids));
    from.push_back(e.answer_start);
  }
  return pack_sequences(seqs, from, pad_id());
}

// ---- ByteCodec ----------------------------------------------------------------------------

ByteCodec::ByteCodec(std::string prompt_template) : TextCodec(std::move(prompt_template)) {}

std::string ByteCodec::describe() const {
  return "bytes: [BOS] " + prompt_template() + " [SEP] answer [EOS], one token per byte";
}

EncodedExample ByteCodec::encode_example(const Example& ex, int64_t max_len) const {
  const int64_t answer_len = static_cast<int64_t>(ex.answer.size()) + 1;  // + EOS
  check_answer_fits(static_cast<int64_t>(ex.answer.size()), 3, max_len, "bytes");
  std::string prompt = apply_template(ex.prompt);
  const int64_t room = max_len - answer_len - 2;  // BOS and SEP
  if (static_cast<int64_t>(prompt.size()) > room)
    prompt = prompt.substr(prompt.size() - static_cast<size_t>(room));
  EncodedExample e;
  e.ids.reserve(prompt.size() + ex.answer.size() + 3);
  e.ids.push_back(tok::kBos);
  for (unsigned char c : prompt) e.ids.push_back(c);
  e.ids.push_back(tok::kSep);
  e.answer_start = static_cast<int64_t>(e.ids.size());
  for (unsigned char c : ex.answer) e.ids.push_back(c);
  e.ids.push_back(tok::kEos);
  return e;
}

std::vector<int64_t> ByteCodec::encode_prompt(const std::string& prompt) const {
  return core::encode_prompt(apply_template(prompt));
}

std::vector<int64_t> ByteCodec::encode_answer(const std::string& answer) const {
  return encode_bytes(answer);
}

std::string ByteCodec::decode(const std::vector<int64_t>& ids) const {
  return decode_bytes(ids);
}

std::shared_ptr<const TextCodec> ByteCodec::with_template(const std::string& tmpl) const {
  return std::make_shared<ByteCodec>(tmpl);
}

// ---- HfCodec ------------------------------------------------------------------------------

HfCodec::HfCodec(std::shared_ptr<const HfTokenizer> tokenizer, std::string prompt_template)
    : TextCodec(std::move(prompt_template)), tok_(std::move(tokenizer)) {
  if (!tok_) throw Error("HfCodec: no tokenizer");
  eos_ = tok_->eos_id();
  if (eos_ < 0)
    throw FormatError(
        "tokenizer.json: the tokenizer names no EOS token (tokenizer_config.json `eos_token`); "
        "lorascape ends every answer with it (use a tokenizer that has one)");
  bos_ = tok_->bos_id();  // as LLMCL: whether or not encode(…, true) would add it
  pad_ = tok_->pad_id() >= 0 ? tok_->pad_id() : eos_;
}

std::string HfCodec::describe() const {
  return "hf (" + tok_->kind() + ", " + std::to_string(tok_->vocab_size()) +
         " ids): " + (bos_ >= 0 ? "[BOS] " : "") + "tokens(" + prompt_template() +
         ") tokens(answer) [EOS]";
}

int64_t HfCodec::vocab_size() const {
  return tok_->vocab_size();
}

EncodedExample HfCodec::encode_example(const Example& ex, int64_t max_len) const {
  const std::vector<int64_t> answer = encode_answer(ex.answer);
  const int64_t fixed = (bos_ >= 0 ? 1 : 0) + 1;  // BOS, EOS
  check_answer_fits(static_cast<int64_t>(answer.size()), fixed, max_len, "tokens");
  std::vector<int64_t> prompt = tok_->encode(apply_template(ex.prompt), false);
  const int64_t room = max_len - fixed - static_cast<int64_t>(answer.size());
  if (static_cast<int64_t>(prompt.size()) > room)  // keep the end of the prompt
    prompt.erase(prompt.begin(), prompt.end() - room);
  EncodedExample e;
  e.ids.reserve(prompt.size() + answer.size() + 2);
  if (bos_ >= 0) e.ids.push_back(bos_);
  e.ids.insert(e.ids.end(), prompt.begin(), prompt.end());
  e.answer_start = static_cast<int64_t>(e.ids.size());
  e.ids.insert(e.ids.end(), answer.begin(), answer.end());
  e.ids.push_back(eos_);
  return e;
}

std::vector<int64_t> HfCodec::encode_prompt(const std::string& prompt) const {
  std::vector<int64_t> ids;
  if (bos_ >= 0) ids.push_back(bos_);
  const std::vector<int64_t> p = tok_->encode(apply_template(prompt), false);
  ids.insert(ids.end(), p.begin(), p.end());
  return ids;
}

std::vector<int64_t> HfCodec::encode_answer(const std::string& answer) const {
  return tok_->encode(answer, false);
}

std::string HfCodec::decode(const std::vector<int64_t>& ids) const {
  return tok_->decode(ids, /*skip_special_tokens=*/true);
}

std::shared_ptr<const TextCodec> HfCodec::with_template(const std::string& tmpl) const {
  return std::make_shared<HfCodec>(tok_, tmpl);
}

std::shared_ptr<const TextCodec> make_hf_codec(const std::string& dir,
                                               const std::string& prompt_template) {
  return std::make_shared<HfCodec>(std::make_shared<HfTokenizer>(HfTokenizer::load(dir)),
                                   prompt_template);
}

void set_prompt_template(TransformerImpl& model, const std::string& prompt_template) {
  if (model.codec().prompt_template() != prompt_template)
    model.set_codec(model.codec().with_template(prompt_template));
}

void check_tasks_fit(const TextCodec& codec, const std::vector<Task>& tasks, int64_t max_len) {
  for (const Task& t : tasks) {
    const std::pair<const char*, const std::vector<Example>*> splits[] = {
        {"train", &t.train}, {"eval", &t.eval}, {"test", &t.test}};
    for (const auto& [split, examples] : splits)
      for (size_t i = 0; i < examples->size(); ++i) {
        try {
          // Only the answer decides whether it fits (a long prompt is truncated).
          (void)codec.encode_example(Example{"", (*examples)[i].answer}, max_len);
        } catch (const DataError& e) {
          throw DataError("task '" + t.name + "', " + split + " example " + std::to_string(i) +
                          ": " + e.what());
        }
      }
  }
}

}  // namespace lorascape::core
