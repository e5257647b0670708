// Soft prompts (core/prompt.h) and the prompt methods pp and l2p (core/strategies.h): the
// prepended forward, L2P's selection and matching loss, PP's freezing, the PEFT layout.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/prompt.h"
#include "core/safetensors.h"
#include "core/strategies.h"
#include "core/text_codec.h"
#include "core/train.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::core;

namespace {
Transformer tiny() {
  torch::manual_seed(11);
  return Transformer(test::tiny_model());
}

at::Tensor ids_of(std::vector<int64_t> v) {
  return at::tensor(v, at::kLong).unsqueeze(0);
}

// The model's logits on given input embeddings (B, T, C), computed here from its blocks with
// rotary positions 0..T-1, independently of TransformerImpl's prompt path.
at::Tensor logits_of_embeddings(TransformerImpl& m, const at::Tensor& x0) {
  const ModelConfig& c = m.config();
  const int64_t D = c.head_dim(), T = x0.size(1);
  std::vector<float> inv;
  for (int64_t i = 0; i < D; i += 2)
    inv.push_back(static_cast<float>(
        1.0 / std::pow(c.rope_theta, static_cast<double>(i) / static_cast<double>(D))));
  const at::Tensor freqs =
      at::outer(at::arange(T, at::kFloat), at::tensor(inv, at::kFloat));  // (T, D/2)
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  const at::Tensor cos = emb.cos(), sin = emb.sin();
  at::Tensor x = x0;
  for (size_t l = 0; l < m.model->layers->size(); ++l)
    x = m.model->layers[l]->as<Block>()->forward(x, cos, sin);
  return at::matmul(m.model->norm(x), m.output_weight().t());
}
}  // namespace

TEST(SoftPrompt, PrependingEqualsTheModelOnPromptThenInputEmbeddings) {
  Transformer m = tiny();
  torch::NoGradGuard ng;
  const at::Tensor ids = ids_of({1, 70, 71, 72, 3, 80, 81});
  const at::Tensor plain = m->forward(ids);
  torch::manual_seed(3);
  const at::Tensor p1 = at::randn({2, 32}) * 0.1, p2 = at::randn({3, 32}) * 0.1;
  SoftPrompt sp;
  sp.parts = {p1, p2};
  m->set_prompt(sp);
  EXPECT_EQ(m->prompt().length(), 5);
  const at::Tensor prompted = m->forward(ids);
  ASSERT_EQ(prompted.sizes(), plain.sizes());
  const at::Tensor x = at::cat({p1, p2, m->model->embed_tokens(ids)[0]}, 0).unsqueeze(0);
  const at::Tensor ref = logits_of_embeddings(*m, x).narrow(1, 5, ids.size(1));
  EXPECT_TRUE(at::allclose(prompted, ref, 1e-5, 1e-5))
      << (prompted - ref).abs().max().item<double>();
  EXPECT_FALSE(at::allclose(prompted, plain, 1e-3, 1e-3)) << "the prompt changes the output";
  // A prompt of token embeddings is the same as those tokens put first.
  const at::Tensor pre = ids_of({90, 91, 92});
  sp.parts = {m->model->embed_tokens(pre)[0].clone()};
  m->set_prompt(sp);
  const at::Tensor as_prompt = m->forward(ids);
  m->clear_prompt();
  const at::Tensor as_tokens = m->forward(at::cat({pre, ids}, 1)).narrow(1, 3, ids.size(1));
  EXPECT_TRUE(at::allclose(as_prompt, as_tokens, 1e-5, 1e-5));
  // Hidden states keep the input's positions; no prompt: the plain path, bit for bit.
  std::vector<at::Tensor> hidden;
  m->set_prompt(sp);
  m->forward(ids, hidden);
  ASSERT_EQ(hidden.size(), 3u);
  for (const auto& h : hidden) EXPECT_EQ(h.size(1), ids.size(1));
  m->clear_prompt();
  EXPECT_TRUE(at::equal(m->forward(ids), plain));
}

TEST(SoftPrompt, RefusesWrongShapesAndThePointBatchedPath) {
  Transformer m = tiny();
  SoftPrompt sp;
  sp.parts = {at::zeros({2, 31})};
  EXPECT_THROW(m->set_prompt(sp), ConfigError);
  SoftPrompt pool;
  pool.pool = at::zeros({6, 32});
  pool.keys = at::zeros({4, 32});  // 6 rows are not a multiple of 4 keys
  pool.top_n = 1;
  EXPECT_THROW(m->set_prompt(pool), ConfigError);
  pool.keys = at::zeros({3, 32});
  pool.top_n = 4;
  EXPECT_THROW(m->set_prompt(pool), ConfigError);
  sp.parts = {at::zeros({2, 32})};
  m->set_prompt(sp);
  PointWeights pw;
  EXPECT_THROW(m->forward(ids_of({1, 2}), pw), Error);
}

TEST(L2p, SelectsTheTopNKeysByCosineOnAHandMadePool) {
  // C = 4; queries e0 and e1; keys with known cosines.
  const at::Tensor q = at::tensor({1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f}).view({2, 4});
  const at::Tensor k = at::tensor({1.f,  0.f, 0.f, 0.f,   // k0: cos(e0) 1,     cos(e1) 0
                                   1.f,  1.f, 0.f, 0.f,   // k1: 1/√2,          1/√2
                                   0.f,  3.f, 0.f, 0.f,   // k2: 0,             1
                                   -1.f, 0.f, 0.f, 0.f,   // k3: -1,            0
                                   2.f,  1.f, 0.f, 0.f})  // k4: 2/√5,          1/√5
                           .view({5, 4});
  const at::Tensor sel = TransformerImpl::select_prompts(q, k, 3);
  ASSERT_EQ(sel.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(std::vector<int64_t>(sel[0].data_ptr<int64_t>(), sel[0].data_ptr<int64_t>() + 3),
            (std::vector<int64_t>{0, 4, 1}));
  EXPECT_EQ(std::vector<int64_t>(sel[1].data_ptr<int64_t>(), sel[1].data_ptr<int64_t>() + 3),
            (std::vector<int64_t>{2, 1, 4}));
  // Ties go to the lower index: k0 and k3 both have cosine 0 with e1, k0 comes first.
  const at::Tensor tie = TransformerImpl::select_prompts(q[1].unsqueeze(0), k, 5);
  EXPECT_EQ(tie[0][3].item<int64_t>(), 0);
  EXPECT_EQ(tie[0][4].item<int64_t>(), 3);
  // The matching loss: mean over the batch of Σ over the selected keys of (1 − cos).
  const double s2 = std::sqrt(2.0), s5 = std::sqrt(5.0);
  const double row0 = (1 - 1.0) + (1 - 2 / s5) + (1 - 1 / s2);
  const double row1 = (1 - 1.0) + (1 - 1 / s2) + (1 - 1 / s5);
  const double loss = l2p_matching_loss(q, k, sel).item<double>();
  EXPECT_NEAR(loss, (row0 + row1) / 2, 1e-6);
  // Its gradient reaches the selected keys alone.
  const at::Tensor kk = k.clone().set_requires_grad(true);
  l2p_matching_loss(q, kk, sel).backward();
  EXPECT_EQ(kk.grad()[3].abs().sum().item<double>(), 0.0);  // k3 never selected
  EXPECT_GT(kk.grad()[4].abs().sum().item<double>(), 0.0);
}

TEST(L2p, PoolForwardPrependsTheSelectedPromptsChosenFromTheQuestionAlone) {
  Transformer m = tiny();
  torch::NoGradGuard ng;
  torch::manual_seed(4);
  SoftPrompt sp;
  sp.pool = at::randn({4 * 2, 32}) * 0.1;  // M = 4 prompts of Lp = 2 rows
  sp.keys = at::randn({4, 32});
  sp.top_n = 2;
  const at::Tensor ids =
      at::tensor({1, 70, 71, 3, 80, 81, 1, 72, 73, 3, 90, 91}, at::kLong).view({2, 6});
  at::Tensor mask = at::zeros({2, 6});
  mask.narrow(1, 3, 3).fill_(1);  // targets 4.. are the answer: the question is positions 0..3
  m->set_prompt(sp);
  const at::Tensor logits = m->forward(ids, mask);
  const at::Tensor sel = m->last_selection().clone(), query = m->last_query().clone();
  // The query is the frozen model's mean final hidden state over positions 0..3.
  m->clear_prompt();
  std::vector<at::Tensor> hidden;
  m->forward(ids, hidden);
  EXPECT_TRUE(at::allclose(query, hidden.back().narrow(1, 0, 4).mean(1), 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(sel, TransformerImpl::select_prompts(query, sp.keys, 2)));
  // Each row equals a fixed prompt made of its selected prompts, most similar first.
  for (int64_t b = 0; b < 2; ++b) {
    SoftPrompt fixed;
    for (int64_t j = 0; j < 2; ++j)
      fixed.parts.push_back(sp.pool.narrow(0, sel[b][j].item<int64_t>() * 2, 2));
    m->set_prompt(fixed);
    EXPECT_TRUE(at::allclose(logits[b], m->forward(ids[b].unsqueeze(0))[0], 1e-5, 1e-5)) << b;
  }
  // Changing the answer tokens does not change the selection.
  m->set_prompt(sp);
  at::Tensor other = ids.clone();
  other.narrow(1, 4, 2).fill_(100);
  m->forward(other, mask);
  EXPECT_TRUE(at::equal(m->last_query(), query));
}

namespace {
std::vector<Task> two_tasks() {
  SplitSizes s;
  s.train = 48;
  s.eval = 8;
  s.test = 16;
  return builtin_suite(1, s, {"weekday", "arith"});
}

RunConfig prompt_cfg(const std::string& method) {
  RunConfig c;
  c.model = test::tiny_model();
  c.model.max_seq = 32;
  c.train.method = method;
  c.train.steps = 4;
  c.train.batch = 8;
  c.train.lr = 0.05;
  c.eval.max_examples = 8;
  c.pp.length = 3;
  c.l2p.pool_size = 4;
  c.l2p.length = 2;
  c.l2p.top_n = 2;
  return c;
}

RunResult train_prompts(const RunConfig& c, Transformer& m) {
  Progress::set_quiet(true);
  torch::manual_seed(5);
  m = Transformer(c.model);
  m->add_lora(c.lora);
  test::TempDir tmp("prompts-" + c.train.method);
  return train_continual(c, *m, two_tasks(), tmp.path().string(), {});
}
}  // namespace

TEST(Pp, EarlierPromptsStayBitIdenticalAndAllArePrependedNewestFirst) {
  const RunConfig c = prompt_cfg("pp");
  Transformer m{nullptr};
  const RunResult r = train_prompts(c, m);
  const auto& st = r.main().stages;
  ASSERT_EQ(st.size(), 2u);
  ASSERT_EQ(st[0].size(), 1u);
  EXPECT_EQ(st[0].entries()[0].first, kPromptEmbeddings);
  const at::Tensor p1 = st[0].entries()[0].second, p21 = st[1].entries()[0].second;
  ASSERT_EQ(p1.sizes(), (at::IntArrayRef{3, 32}));
  ASSERT_EQ(p21.sizes(), (at::IntArrayRef{6, 32}));
  EXPECT_TRUE(at::equal(p21.narrow(0, 3, 3), p1)) << "P_1 is frozen after task 1";
  // P_2 was trained: it moved from its sampled-vocabulary start.
  const at::Tensor init2 = sampled_vocab_rows(
      *m, 3, derive_seed(derive_seed(static_cast<uint64_t>(c.seed), "pp-prompts"), "1"));
  EXPECT_FALSE(at::allclose(p21.narrow(0, 0, 3), init2, 1e-6, 1e-6));
  // The LoRA was not trained (B = 0 throughout), the base weights neither.
  for (auto& [n, p] : m->lora_parameters())
    if (n.find("lora_B") != std::string::npos) {
      EXPECT_EQ(p.abs().sum().item<double>(), 0.0) << n;
    }
  EXPECT_EQ(r.main().R.size(), 2u);
  // The stage adapter reloads into a model as its prompt and reproduces the stage's scores.
  st[1].load_into(*m);
  const Scores s = evaluate_examples(*m, two_tasks()[0].test, 8, 100);
  EXPECT_EQ(s.loss, r.main().R[1][0].loss);
}

TEST(L2pTraining, TrainsPoolAndKeysAndStoresThem) {
  const RunConfig c = prompt_cfg("l2p");
  Transformer m{nullptr};
  const RunResult r = train_prompts(c, m);
  const auto& st = r.main().stages;
  ASSERT_EQ(st.size(), 2u);
  ASSERT_EQ(st[1].size(), 2u);
  EXPECT_EQ(st[1].entries()[0].first, kPromptPool);
  EXPECT_EQ(st[1].entries()[1].first, kPromptKeys);
  EXPECT_EQ(st[1].entries()[0].second.sizes(), (at::IntArrayRef{8, 32}));
  EXPECT_EQ(st[1].entries()[1].second.sizes(), (at::IntArrayRef{4, 32}));
  EXPECT_FALSE(st[0].equal(st[1])) << "the pool trains on through task 2";
  st[1].load_into(*m);
  EXPECT_EQ(m->prompt().top_n, 2);
  const Scores s = evaluate_examples(*m, two_tasks()[1].test, 8, 100);
  EXPECT_EQ(s.loss, r.main().R[1][1].loss);
  // Same seed, same run.
  Transformer m2{nullptr};
  EXPECT_TRUE(train_prompts(c, m2).main().stages[1].equal(st[1]));
}

TEST(PromptPeft, PromptTuningFolderRoundTripsInPeftsLayout) {
  test::TempDir tmp("prompt-peft");
  torch::manual_seed(2);
  const Adapter a({{kPromptEmbeddings, at::randn({6, 32})}});
  const std::string dir = (tmp.path() / "pp").string();
  save_peft_adapter(dir, a, LoraConfig{}, {{"base_model", "base.safetensors"}, {"stage", 2}});
  std::ifstream f(dir + "/adapter_config.json");
  const auto cfg = nlohmann::json::parse(f);
  EXPECT_EQ(cfg["peft_type"], "PROMPT_TUNING");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["num_virtual_tokens"], 6);
  EXPECT_EQ(cfg["token_dim"], 32);
  EXPECT_EQ(cfg["num_transformer_submodules"], 1);
  const SafetensorsData st = read_safetensors(dir + "/adapter_model.safetensors");
  ASSERT_EQ(st.tensors.size(), 1u);
  EXPECT_EQ(st.tensors[0].first, "prompt_embeddings");
  const PeftAdapter back = load_peft_adapter(dir);
  EXPECT_TRUE(back.adapter.equal(a));
  EXPECT_EQ(back.extra.value("stage", 0), 2);
  // An L2P pool in lorascape's own layout.
  const Adapter pool({{kPromptPool, at::randn({8, 32})}, {kPromptKeys, at::randn({4, 32})}});
  save_peft_adapter(dir + "2", pool, LoraConfig{}, {{"l2p_top_n", 2}});
  const PeftAdapter pb = load_peft_adapter(dir + "2");
  EXPECT_TRUE(pb.adapter.equal(pool));
  EXPECT_EQ(pb.extra.value("l2p_top_n", 0), 2);
  // Wrong sizes and encoder-decoder prompts are refused with the key named.
  nlohmann::json bad = cfg;
  bad["num_virtual_tokens"] = 5;
  std::ofstream(dir + "/adapter_config.json") << bad.dump();
  try {
    load_peft_adapter(dir);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("num_virtual_tokens"), std::string::npos) << e.what();
  }
  bad = cfg;
  bad["num_transformer_submodules"] = 2;
  std::ofstream(dir + "/adapter_config.json") << bad.dump();
  EXPECT_THROW(load_peft_adapter(dir), FormatError);
}
