// PEFT adapter folders and base-model files: round trips and strict rejection.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::core;
namespace fs = std::filesystem;

namespace {
using lorascape::test::tiny_model;

class AdapterIo : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(3); }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const std::filesystem::path& dir = tmp.path();
};
}  // namespace

TEST_F(AdapterIo, PeftRoundTripIsBitIdentical) {
  Transformer m(tiny_model());
  LoraConfig lc;
  lc.rank = 4;
  lc.alpha = 8;
  lc.targets = {"q_proj", "k_proj", "up_proj"};
  m->add_lora(lc);
  {
    torch::NoGradGuard ng;
    for (auto& [n, p] : m->lora_parameters()) {
      (void)n;
      p.normal_();
    }
  }
  Adapter a = Adapter::from_model(*m);
  save_peft_adapter((dir / "ad").string(), a, lc, {{"base_model", "x.safetensors"}});
  ASSERT_TRUE(fs::exists(dir / "ad" / "adapter_model.safetensors"));
  ASSERT_TRUE(fs::exists(dir / "ad" / "adapter_config.json"));
  PeftAdapter back = load_peft_adapter((dir / "ad").string());
  EXPECT_TRUE(back.adapter.equal(a));
  EXPECT_EQ(back.lora.rank, 4);
  EXPECT_EQ(back.lora.alpha, 8);
  EXPECT_EQ(back.lora.targets, lc.targets);
  EXPECT_EQ(back.extra.value("base_model", ""), "x.safetensors");
  // Keys on disk are PEFT keys.
  SafetensorsData raw = read_safetensors((dir / "ad" / "adapter_model.safetensors").string());
  EXPECT_EQ(raw.tensors.front().first,
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  // And it loads into a fresh model with the same config.
  Transformer m2(tiny_model());
  m2->add_lora(lc);
  back.adapter.load_into(*m2);
  EXPECT_TRUE(Adapter::from_model(*m2).equal(a));
}

TEST_F(AdapterIo, AdapterForAnotherModelIsRejected) {
  Transformer m(tiny_model());
  LoraConfig lc;
  m->add_lora(lc);
  save_peft_adapter((dir / "ad").string(), Adapter::from_model(*m), lc);
  PeftAdapter back = load_peft_adapter((dir / "ad").string());
  ModelConfig wider = tiny_model();
  wider.d_model = 64;
  Transformer other(wider);
  other->add_lora(lc);
  EXPECT_THROW(back.adapter.load_into(*other), FormatError);
  LoraConfig fewer;
  fewer.targets = {"q_proj"};
  Transformer third(tiny_model());
  third->add_lora(fewer);
  EXPECT_THROW(back.adapter.load_into(*third), FormatError);
}

TEST_F(AdapterIo, BrokenAdapterFoldersAreRejected) {
  EXPECT_THROW(load_peft_adapter((dir / "missing").string()), FormatError);
  Transformer m(tiny_model());
  LoraConfig lc;
  m->add_lora(lc);
  save_peft_adapter((dir / "ad").string(), Adapter::from_model(*m), lc);
  // Config that lies about the rank.
  {
    std::ofstream f(dir / "ad" / "adapter_config.json");
    f << R"({"peft_type":"LORA","r":3,"lora_alpha":16,"target_modules":["q_proj"]})";
  }
  EXPECT_THROW(load_peft_adapter((dir / "ad").string()), FormatError);
  {
    std::ofstream f(dir / "ad" / "adapter_config.json");
    f << "{ not json";
  }
  EXPECT_THROW(load_peft_adapter((dir / "ad").string()), FormatError);
  // Non-LoRA keys.
  save_peft_adapter((dir / "bad").string(), Adapter::from_model(*m), lc);
  write_safetensors((dir / "bad" / "adapter_model.safetensors").string(),
                    {{"model.embed_tokens.weight", at::zeros({2, 2})}});
  EXPECT_THROW(load_peft_adapter((dir / "bad").string()), FormatError);
}

TEST_F(AdapterIo, BaseModelRoundTripAndStrictChecks) {
  Transformer m(tiny_model());
  const std::string path = (dir / "base.safetensors").string();
  save_base_model(path, *m, {{"note", "test"}});
  Transformer back = load_base_model(path);
  EXPECT_TRUE(back->config() == m->config());
  auto a = m->base_parameters(), b = back->base_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_EQ(file_digest(path).size(), 16u);

  // Missing tensor, wrong shape, missing config.
  SafetensorsData d = read_safetensors(path);
  NamedTensors t = d.tensors;
  t.pop_back();
  write_safetensors((dir / "missing.safetensors").string(), t, d.metadata);
  EXPECT_THROW(load_base_model((dir / "missing.safetensors").string()), FormatError);
  t = d.tensors;
  t[0].second = at::zeros({3, 3});
  write_safetensors((dir / "shape.safetensors").string(), t, d.metadata);
  EXPECT_THROW(load_base_model((dir / "shape.safetensors").string()), FormatError);
  write_safetensors((dir / "nocfg.safetensors").string(), d.tensors, {});
  EXPECT_THROW(load_base_model((dir / "nocfg.safetensors").string()), FormatError);
}
