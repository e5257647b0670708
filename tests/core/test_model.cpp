// Model and LoRA behaviour: a fresh adapter is the base model, merge equals side path,
// gradients reach only LoRA factors, names follow Hugging Face / PEFT.
#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>

#include "core/adapter.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "tests/common/tiny_model.h"

using namespace lorascape::core;

namespace {
using lorascape::test::tiny_model;

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    at::set_num_threads(1);
    ids = at::randint(0, 256, {3, 10}, at::kLong);
  }
  at::Tensor ids;
};
}  // namespace

TEST_F(ModelTest, ParameterNamesFollowHuggingFaceLlama) {
  Transformer m(tiny_model());
  std::vector<std::string> names;
  for (auto& p : m->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names.front(), "model.embed_tokens.weight");
  EXPECT_NE(std::find(names.begin(), names.end(), "model.layers.1.self_attn.q_proj.weight"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "model.layers.0.post_attention_layernorm.weight"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "model.layers.0.mlp.down_proj.weight"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "model.norm.weight"), names.end());
  EXPECT_EQ(names.back(), "lm_head.weight");
  EXPECT_EQ(names.size(), 1u + 2u * 9u + 2u);
}

TEST_F(ModelTest, OutputShapeAndCausality) {
  Transformer m(tiny_model());
  m->eval();
  torch::NoGradGuard ng;
  at::Tensor y = m->forward(ids);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 10, 260}));
  // Changing a later token never changes earlier logits.
  at::Tensor ids2 = ids.clone();
  ids2.index_put_({0, 7}, (ids2.index({0, 7}) + 1) % 256);
  at::Tensor y2 = m->forward(ids2);
  EXPECT_TRUE(at::allclose(y.narrow(1, 0, 7), y2.narrow(1, 0, 7), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(y.narrow(1, 7, 3), y2.narrow(1, 7, 3), 1e-5, 1e-6));
}

TEST_F(ModelTest, FreshLoraEqualsBaseModel) {
  Transformer m(tiny_model());
  m->eval();
  torch::NoGradGuard ng;
  at::Tensor base = m->forward(ids);
  m->add_lora(LoraConfig{});
  at::Tensor with = m->forward(ids);
  EXPECT_TRUE(at::equal(base, with)) << "B = 0 must leave the output bit-identical";
  EXPECT_EQ(m->lora_parameters().size(), 2u * 7u * 2u);
}

TEST_F(ModelTest, MergedEqualsUnmerged) {
  Transformer m(tiny_model());
  m->add_lora(LoraConfig{});
  m->eval();
  torch::NoGradGuard ng;
  for (auto& [n, p] : m->lora_parameters()) {
    (void)n;
    p.normal_(0.0, 0.05);
  }
  at::Tensor side = m->forward(ids);
  m->merge_lora();
  at::Tensor merged = m->forward(ids);
  EXPECT_TRUE(at::allclose(side, merged, 1e-4, 1e-5));
  m->unmerge_lora();
  at::Tensor again = m->forward(ids);
  EXPECT_TRUE(at::allclose(side, again, 1e-5, 1e-6));
}

TEST_F(ModelTest, GradientsReachOnlyLoraParameters) {
  Transformer m(tiny_model());
  LoraConfig lc;
  lc.targets = {"q_proj", "v_proj"};
  m->add_lora(lc);
  for (auto& [n, p] : m->lora_parameters()) {
    (void)n;
    torch::NoGradGuard ng;
    p.normal_(0.0, 0.05);  // B != 0 so that A gets a gradient too
  }
  at::Tensor loss = m->forward(ids).logsumexp(-1).mean();
  loss.backward();
  for (auto& item : m->named_parameters()) {
    const bool lora = is_lora_parameter(item.key());
    EXPECT_EQ(item.value().requires_grad(), lora) << item.key();
    if (lora) {
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
    } else {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    }
  }
  // Only the targeted projections carry factors.
  for (auto& [n, p] : m->lora_parameters()) {
    (void)p;
    EXPECT_TRUE(n.find("q_proj") != std::string::npos || n.find("v_proj") != std::string::npos)
        << n;
  }
}

TEST_F(ModelTest, LoraShapesAndInitFollowPeft) {
  Transformer m(tiny_model());
  LoraConfig lc;
  lc.rank = 4;
  m->add_lora(lc);
  for (auto& [n, p] : m->lora_parameters()) {
    if (n.find("lora_A") != std::string::npos) {
      EXPECT_EQ(p.size(0), 4) << n;
      EXPECT_GT(p.abs().sum().item<double>(), 0.0) << n;
    } else {
      EXPECT_EQ(p.size(1), 4) << n;
      EXPECT_EQ(p.abs().sum().item<double>(), 0.0) << n;
    }
  }
}

TEST_F(ModelTest, AdapterVectorOperations) {
  Transformer m(tiny_model());
  m->add_lora(LoraConfig{});
  Adapter a = Adapter::from_model(*m);
  Adapter b = a.clone();
  b.scale(2.0);
  EXPECT_NEAR(b.norm(), 2.0 * a.norm(), 1e-4);
  EXPECT_NEAR(a.dot(b), 2.0 * a.norm() * a.norm(), 1e-3);
  Adapter c = a.clone();
  c.axpy(-0.5, b);  // a - 0.5 * 2a = 0
  EXPECT_NEAR(c.norm(), 0.0, 1e-6);
  EXPECT_EQ(a.flatten().numel(), a.numel());
  EXPECT_TRUE(a.equal(a.clone()));
  // load_into then from_model is the identity.
  b.load_into(*m);
  EXPECT_TRUE(Adapter::from_model(*m).equal(b));
}

TEST(Tokenizer, RoundTripAndAnswerMask) {
  const std::string s = "héllo, wörld\n\t~";
  EXPECT_EQ(decode_bytes(encode_bytes(s)), s);
  Example ex{"ab", "xyz"};
  TokenBatch b = encode_examples({&ex}, 32);
  // [BOS] a b [SEP] x y z [EOS]  -> input 7 tokens; scored targets are x y z EOS.
  ASSERT_EQ(b.input.size(1), 7);
  std::vector<int64_t> in(b.input.data_ptr<int64_t>(), b.input.data_ptr<int64_t>() + 7);
  std::vector<int64_t> tg(b.target.data_ptr<int64_t>(), b.target.data_ptr<int64_t>() + 7);
  std::vector<float> mk(b.mask.data_ptr<float>(), b.mask.data_ptr<float>() + 7);
  EXPECT_EQ(in, (std::vector<int64_t>{tok::kBos, 'a', 'b', tok::kSep, 'x', 'y', 'z'}));
  EXPECT_EQ(tg, (std::vector<int64_t>{'a', 'b', tok::kSep, 'x', 'y', 'z', tok::kEos}));
  EXPECT_EQ(mk, (std::vector<float>{0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(b.scored_tokens(), 4);
}

TEST(Tokenizer, PaddingIsNotScoredAndLongPromptsKeepTheAnswer) {
  Example a{"a", "1"}, b{"a much longer prompt here", "22"};
  TokenBatch t = encode_examples({&a, &b}, 12);
  EXPECT_EQ(t.input.size(1), 11);
  EXPECT_EQ(t.mask[0].sum().item<float>(), 2.0f);  // "1" + EOS
  EXPECT_EQ(t.mask[1].sum().item<float>(), 3.0f);  // "22" + EOS, prompt cut from the left
  EXPECT_EQ(t.input[0][5].item<int64_t>(), tok::kPad);
}
