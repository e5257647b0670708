// Tests of the text codecs (core/text_codec.h): the byte codec is the byte tokenizer exactly; the
// Hugging Face codec joins prompt and answer as LLMCL does with the real Llama-2 and Llama-3
// tokenizers (./lorascape.sh setup caches them), masks exactly the answer tokens and the EOS,
// truncates the prompt from the left; greedy decoding on tiny HF-vocabulary models stops at the
// EOS; the exact-match rule; a few training steps lower the loss.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <memory>
#include <string>
#include <vector>

#include "core/base_model.h"
#include "core/config.h"
#include "core/evaluate.h"
#include "core/hf_tokenizer.h"
#include "core/model.h"
#include "core/text_codec.h"
#include "core/tokenizer.h"
#include "core/train.h"
#include "store/error.h"
#include "tests/common/reference_tokenizers.h"

using namespace lorascape::core;
using lorascape::ConfigError;
using lorascape::DataError;
namespace t = lorascape::test;

namespace {

using Ids = std::vector<int64_t>;

// The reference tokenizer's codec, failing the test (with the fix) when it is not in the cache.
#define LOAD_CODEC(var, name, tmpl)                             \
  const std::string var##_missing = t::missing_reference(name); \
  ASSERT_TRUE(var##_missing.empty()) << var##_missing;          \
  const auto var##_ptr = make_hf_codec(t::reference_tokenizer(name), tmpl);
#define HF(var) (static_cast<const HfCodec&>(*var##_ptr))

Ids row(const at::Tensor& t, int64_t i, int64_t n) {
  const at::Tensor r = t[i].contiguous();
  return Ids(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + n);
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- the byte codec --------------------------------------------------------------------------

TEST(ByteCodec, IsTheByteTokenizer) {
  const ByteCodec c;
  EXPECT_EQ(c.name(), "bytes");
  EXPECT_EQ(c.prompt_template(), "{prompt}");
  const Example a{"arith: 7+5=", "12"}, b{"a much longer prompt than fits here", "ab"};
  for (int64_t max_len : {64, 12}) {
    const TokenBatch x = c.encode_examples({&a, &b}, max_len);
    const TokenBatch y = encode_examples({&a, &b}, max_len);
    EXPECT_TRUE(x.input.equal(y.input));
    EXPECT_TRUE(x.target.equal(y.target));
    EXPECT_TRUE(x.mask.equal(y.mask));
  }
  EXPECT_EQ(c.encode_prompt("ab"), encode_prompt("ab"));
  EXPECT_EQ(c.decode({tok::kBos, 'h', 'i', tok::kSep}), "hi");
  EXPECT_EQ(c.answer_text("12"), "12");
  EXPECT_EQ(c.pad_id(), tok::kPad);
  EXPECT_EQ(c.eos_id(), tok::kEos);
  // A template goes around the prompt, inside BOS … SEP.
  const auto q = c.with_template("Q: {prompt}\nA:");
  EXPECT_EQ(q->encode_prompt("x"), encode_prompt("Q: x\nA:"));
  // The answer with BOS, SEP and EOS must fit.
  EXPECT_THROW(c.encode_example({"p", "abc"}, 5), DataError);
  EXPECT_NO_THROW(c.encode_example({"p", "abc"}, 6));
}

TEST(TextCodec, TemplateNeedsOnePlaceholder) {
  EXPECT_EQ(apply_prompt_template("Q: {prompt} A:", "x"), "Q: x A:");
  EXPECT_THROW(check_prompt_template("no placeholder"), ConfigError);
  EXPECT_THROW(check_prompt_template("{prompt}{prompt}"), ConfigError);
  EXPECT_THROW(ByteCodec("{prompt"), ConfigError);
  RunConfig cfg;
  apply_override(cfg, "tasks.template=Question: {prompt}");
  EXPECT_EQ(cfg.tasks.prompt_template, "Question: {prompt}");
  cfg.tasks.prompt_template = "x";
  EXPECT_THROW(cfg.validate(), ConfigError);
  bool listed = false;
  for (const auto& f : config_fields())
    if (f.key == "tasks.template") listed = f.default_value.find("{prompt}") != std::string::npos;
  EXPECT_TRUE(listed);
}

TEST(TextCodec, TasksThatDoNotFitNameTheTaskAndMaxSeq) {
  Task task;
  task.name = "longanswers";
  task.train = {{"p", "ok"}};
  task.test = {{"p", "ok"}, {"p", std::string(70, 'x')}};
  try {
    check_tasks_fit(ByteCodec(), {task}, 64);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'longanswers'"), std::string::npos) << m;
    EXPECT_NE(m.find("test example 1"), std::string::npos) << m;
    EXPECT_NE(m.find("`model.max_seq` 64"), std::string::npos) << m;
  }
}

// ---- the Hugging Face codec on real tokenizers -----------------------------------------------

// [BOS] tokens(template(prompt)) tokens(answer) [EOS], the answer tokens and EOS scored.
void check_layout(const HfCodec& c) {
  const HfTokenizer& tok = c.tokenizer();
  const std::vector<Example> examples = {{"arith: 7+5=", "12"},
                                         {"Which is larger, 3 or 9? Answer:", " B"},
                                         {"Übersetze: Haus", "house"},
                                         {"x", "a longer free-text answer, with punctuation."}};
  std::vector<const Example*> ptrs;
  for (const auto& e : examples) ptrs.push_back(&e);
  const TokenBatch b = c.encode_examples(ptrs, 128);
  ASSERT_GE(tok.bos_id(), 0);  // put first even where encode(…, true) does not (Llama-3)
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& ex = examples[i];
    const Ids prompt = tok.encode(c.apply_template(ex.prompt), false);
    const Ids answer = tok.encode(ex.answer, false);
    const Ids want = concat({{tok.bos_id()}, prompt, answer, {tok.eos_id()}});
    const EncodedExample e = c.encode_example(ex, 128);
    EXPECT_EQ(e.ids, want) << ex.prompt;
    EXPECT_EQ(e.answer_start, static_cast<int64_t>(1 + prompt.size()));
    // The batch: input = ids but the last, target = ids but the first, the mask exactly on the
    // targets that are answer tokens or the EOS, padding (the codec's pad) unscored.
    const auto n = static_cast<int64_t>(want.size()) - 1;
    EXPECT_EQ(row(b.input, static_cast<int64_t>(i), n), Ids(want.begin(), want.end() - 1));
    EXPECT_EQ(row(b.target, static_cast<int64_t>(i), n), Ids(want.begin() + 1, want.end()));
    const at::Tensor m = b.mask[static_cast<int64_t>(i)];
    EXPECT_EQ(m.sum().item<float>(), static_cast<float>(answer.size() + 1));
    EXPECT_EQ(m.narrow(0, 0, static_cast<int64_t>(prompt.size())).sum().item<float>(), 0.0f);
    EXPECT_EQ(
        m.narrow(0, static_cast<int64_t>(prompt.size()), static_cast<int64_t>(answer.size() + 1))
            .sum()
            .item<float>(),
        static_cast<float>(answer.size() + 1));
    for (int64_t t = n; t < b.input.size(1); ++t)
      EXPECT_EQ(b.input[static_cast<int64_t>(i)][t].item<int64_t>(), c.pad_id());
    // The generation context is the example's ids before the answer.
    EXPECT_EQ(c.encode_prompt(ex.prompt), Ids(want.begin(), want.begin() + e.answer_start));
    // The answer as exact match compares it: the answer itself (the tokenizers round-trip).
    EXPECT_EQ(c.answer_text(ex.answer), ex.answer);
  }
}

// A long prompt loses tokens from its start (after BOS), the answer stays whole; an answer that
// alone does not fit is a DataError naming max_seq.
void check_truncation(const HfCodec& c) {
  const HfTokenizer& tok = c.tokenizer();
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "word" + std::to_string(i) + " ";
  const Example ex{prompt + "end:", "the answer"};
  const Ids answer = tok.encode(ex.answer, false);
  const Ids full = tok.encode(c.apply_template(ex.prompt), false);
  const int64_t max_len = 24;
  const EncodedExample e = c.encode_example(ex, max_len);
  ASSERT_EQ(static_cast<int64_t>(e.ids.size()), max_len);
  EXPECT_EQ(e.ids.front(), tok.bos_id());
  EXPECT_EQ(e.ids.back(), tok.eos_id());
  const auto kept = static_cast<size_t>(max_len) - 2 - answer.size();
  EXPECT_EQ(Ids(e.ids.begin() + 1, e.ids.begin() + 1 + static_cast<int64_t>(kept)),
            Ids(full.end() - static_cast<int64_t>(kept), full.end()));
  EXPECT_EQ(Ids(e.ids.begin() + e.answer_start, e.ids.end() - 1), answer);
  // BOS + answer + EOS exactly fill max_len: no prompt left, still fine; one less is an error.
  const auto tight = static_cast<int64_t>(answer.size()) + 2;
  EXPECT_EQ(c.encode_example(ex, tight).answer_start, 1);
  try {
    (void)c.encode_example(ex, tight - 1);
    FAIL() << "no DataError";
  } catch (const DataError& err) {
    EXPECT_NE(std::string(err.what()).find("`model.max_seq` " + std::to_string(tight - 1)),
              std::string::npos)
        << err.what();
  }
}

TEST(HfCodec, Llama3LayoutMaskAndTruncation) {
  LOAD_CODEC(c, "llama3", "Question: {prompt}\nAnswer:");
  EXPECT_EQ(HF(c).name(), "hf");
  EXPECT_EQ(HF(c).eos_id(), *HF(c).tokenizer().token_to_id("<|end_of_text|>"));
  EXPECT_EQ(HF(c).pad_id(), HF(c).eos_id());  // Llama-3 has no PAD
  check_layout(HF(c));
  check_truncation(HF(c));
}

TEST(HfCodec, Llama2LayoutMaskAndTruncation) {
  LOAD_CODEC(c, "llama2", "{prompt}");
  EXPECT_EQ(HF(c).eos_id(), *HF(c).tokenizer().token_to_id("</s>"));
  check_layout(HF(c));
  check_truncation(HF(c));
  // With a template, the default and another template give the same answer ids.
  const auto q = c_ptr->with_template("Q: {prompt}");
  EXPECT_EQ(q->encode_answer("42"), c_ptr->encode_answer("42"));
  EXPECT_EQ(q->encode_prompt("x"),
            concat({{HF(c).tokenizer().bos_id()}, HF(c).tokenizer().encode("Q: x", false)}));
}

// The exact-match rule: stopped at EOS, and the generated text equals decode(encode(answer)).
TEST(HfCodec, ExactMatchRule) {
  LOAD_CODEC(l2, "llama2", "{prompt}");
  LOAD_CODEC(l3, "llama3", "{prompt}");
  for (const TextCodec* c : {l2_ptr.get(), l3_ptr.get()}) {
    const Ids a = c->encode_answer("42");
    EXPECT_TRUE(greedy_matches(*c, a, true, "42"));
    EXPECT_FALSE(greedy_matches(*c, a, false, "42"));  // did not stop at EOS
    EXPECT_FALSE(greedy_matches(*c, c->encode_answer("421"), true, "42"));
    EXPECT_FALSE(greedy_matches(*c, c->encode_answer(" 42"), true, "42"));  // no stripping
    EXPECT_FALSE(greedy_matches(*c, c->encode_answer("B"), true, " B"));
    EXPECT_TRUE(greedy_matches(*c, c->encode_answer(" B"), true, " B"));
  }
  // Another tokenisation of the same text matches (text is compared, not ids).
  const HfTokenizer& t3 = HF(l3).tokenizer();
  const Ids split = {*t3.token_to_id("4"), *t3.token_to_id("2")};
  ASSERT_NE(split, l3_ptr->encode_answer("42"));
  EXPECT_TRUE(greedy_matches(*l3_ptr, split, true, "42"));
  // Special tokens are dropped before comparing (BOS generated before the answer).
  EXPECT_TRUE(greedy_matches(*l3_ptr, concat({{t3.bos_id()}, split}), true, "42"));
  // Llama-2: the answer is tokenised apart, as a word of its own ("▁42"), and decodes to "42"
  // (the decoder strips the leading space).
  const HfTokenizer& t2 = HF(l2).tokenizer();
  EXPECT_EQ(t2.id_to_token(l2_ptr->encode_answer("42").front()).rfind("\xe2\x96\x81", 0), 0u);
  EXPECT_TRUE(greedy_matches(*l2_ptr, l2_ptr->encode_answer("42"), true, "42"));
  // Bytes: the same rule.
  const ByteCodec b;
  EXPECT_TRUE(greedy_matches(b, encode_bytes("42"), true, "42"));
  EXPECT_FALSE(greedy_matches(b, encode_bytes("42"), false, "42"));
}

// ---- the codec on a model --------------------------------------------------------------------

ModelConfig tiny_hf(int64_t vocab) {
  ModelConfig c;
  c.tokenizer = "hf";
  c.vocab = vocab;
  c.d_model = 16;
  c.n_layers = 1;
  c.n_heads = 2;
  c.d_ff = 32;
  c.max_seq = 48;
  return c;
}

TEST(HfCodec, ModelCarriesItsCodec) {
  LOAD_CODEC(c, "llama2", "{prompt}");
  torch::manual_seed(1);
  Transformer bytes_model(ModelConfig{});
  EXPECT_EQ(bytes_model->codec().name(), "bytes");
  EXPECT_THROW(bytes_model->set_codec(c_ptr), ConfigError);  // an hf codec on a byte model
  Transformer m(tiny_hf(HF(c).vocab_size()));
  EXPECT_THROW((void)m->codec(), ConfigError);  // none attached yet
  EXPECT_THROW(m->set_codec(std::make_shared<ByteCodec>()), ConfigError);
  Transformer small(tiny_hf(1000));
  EXPECT_THROW(small->set_codec(c_ptr), ConfigError);  // ids beyond model.vocab
  m->set_codec(c_ptr);
  EXPECT_EQ(&m->codec(), c_ptr.get());
  set_prompt_template(*m, "Q: {prompt}");
  EXPECT_EQ(m->codec().prompt_template(), "Q: {prompt}");
  EXPECT_EQ(m->codec().name(), "hf");
  // Pretraining is for byte models only.
  EXPECT_THROW(
      pretrain_base_model(tiny_hf(HF(c).vocab_size()), PretrainConfig{}, 1, c10::Device(c10::kCPU)),
      ConfigError);
}

// Trains a tiny model on examples with the codec, returning (first, last) loss.
std::pair<double, double> train_steps(TransformerImpl& m, const std::vector<Example>& examples,
                                      int steps, double lr) {
  std::vector<const Example*> batch;
  for (const auto& e : examples) batch.push_back(&e);
  torch::optim::AdamW opt(m.parameters(), torch::optim::AdamWOptions(lr).weight_decay(0));
  m.train();
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    at::Tensor loss = examples_loss(m, batch, c10::Device(c10::kCPU));
    loss.backward();
    opt.step();
    (s == 0 ? first : last) = loss.item<double>();
  }
  return {first, last};
}

// A tiny Llama-2-vocabulary model learns two examples; greedy decoding then reproduces the
// answers, stops at the EOS (a budget far beyond the answer), and the greedy and teacher-forced
// exact matches agree.
TEST(HfCodec, TrainAndGreedyDecodeLlama2) {
  LOAD_CODEC(c, "llama2", "Q: {prompt}\nA:");
  torch::manual_seed(3);
  Transformer m(tiny_hf(HF(c).vocab_size()));
  m->set_codec(c_ptr);
  const std::vector<Example> examples = {{"capital of France?", "Paris"}, {"2+2=", " 4, surely"}};
  const auto [first, last] = train_steps(*m, examples, 150, 1e-2);
  EXPECT_LT(last, 0.05 * first) << first << " -> " << last;
  for (const auto& ex : examples) EXPECT_EQ(greedy_generate(*m, ex.prompt, 30), ex.answer);
  EXPECT_EQ(greedy_exact_match(*m, examples, 0), 1.0);
  const Scores s = evaluate_examples(*m, examples, 0, 2);
  EXPECT_EQ(s.exact_match, 1.0);
  EXPECT_EQ(s.token_acc, 1.0);
}

// Llama-3's 128k vocabulary: greedy decoding runs on an untrained model; a few steps lower the
// loss and teach the answer.
TEST(HfCodec, TrainStepsLlama3) {
  LOAD_CODEC(c, "llama3", "{prompt}");
  torch::manual_seed(4);
  Transformer m(tiny_hf(HF(c).vocab_size()));
  m->set_codec(c_ptr);
  (void)greedy_generate(*m, "hello", 3);  // an untrained model: runs, whatever it makes
  const std::vector<Example> examples = {{"weekday after Monday:", " Tuesday"}};
  const auto [first, last] = train_steps(*m, examples, 40, 1e-2);
  EXPECT_LT(last, 0.5 * first) << first << " -> " << last;
  EXPECT_EQ(greedy_generate(*m, examples[0].prompt, 20), examples[0].answer);
}

}  // namespace
