// PEFT LoRA adapter configurations: every field that changes the arithmetic, applied as PEFT
// does. Each test writes an adapter folder with one variant and compares the ΔW lorascape applies
// (merged weight − base weight, and the Evaluator's scores) with ΔW = s·B·A computed here from
// PEFT's documented rules, the selected modules, r, alpha and s listed by hand per variant.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "core/adapter.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::core;
using ojson = nlohmann::ordered_json;

namespace {

ModelConfig model_config() {
  ModelConfig c = test::tiny_model();
  c.n_layers = 3;
  return c;
}

std::string module(int layer, const std::string& proj) {
  const bool attn = proj == "q_proj" || proj == "k_proj" || proj == "v_proj" || proj == "o_proj";
  return "model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") + proj;
}

// What PEFT gives one module: its rank and scale s (alpha/r, or alpha/√r with rslora).
struct Expected {
  int64_t r;
  double s;
};

class PeftConfig : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(11); }
  test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  Transformer base{model_config()};

  // (out, in) of a projection of the model.
  std::pair<int64_t, int64_t> shape(const std::string& m) {
    for (auto& [name, layer] : base->projections())
      if (name == m) return {layer->weight.size(0), layer->weight.size(1)};
    throw std::runtime_error("no module " + m);
  }

  // Writes an adapter folder: `config` as adapter_config.json and random factors of the given
  // ranks, keys as PEFT saves them (`key_infix` ".default" as PEFT holds them in memory).
  std::string write(const std::string& name, const ojson& config,
                    const std::map<std::string, Expected>& modules,
                    at::ScalarType dtype = at::kFloat, const std::string& key_infix = "") {
    const std::string dir = tmp.file(name);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/adapter_config.json") << config.dump(2);
    NamedTensors t;
    for (const auto& [m, e] : modules) {
      const auto [out, in] = shape(m);
      t.emplace_back("base_model.model." + m + ".lora_A" + key_infix + ".weight",
                     at::randn({e.r, in}).to(dtype));
      t.emplace_back("base_model.model." + m + ".lora_B" + key_infix + ".weight",
                     at::randn({out, e.r}).to(dtype));
    }
    write_safetensors(dir + "/adapter_model.safetensors", t);
    factors_.clear();
    for (const auto& [k, v] : t) factors_[k] = v.to(at::kDouble);
    infix_ = key_infix;
    return dir;
  }

  // ΔW of every projection as lorascape applies the adapter (merge into a copy of the base)
  // against s·B·A in double from the factors written, for exactly the expected modules.
  void expect_applied(const std::string& dir, const std::map<std::string, Expected>& expected) {
    const PeftAdapter pa = load_peft_adapter(dir);
    Transformer m(model_config(), false);
    copy_base(m);
    m->add_lora(pa.lora);
    pa.adapter.load_into(*m);
    std::map<std::string, at::Tensor> before;
    for (auto& [name, layer] : m->projections()) before[name] = layer->weight.detach().clone();
    m->merge_lora();
    for (auto& [name, layer] : m->projections()) {
      const at::Tensor applied = (layer->weight.detach() - before[name]).to(at::kDouble);
      auto it = expected.find(name);
      if (it == expected.end()) {
        EXPECT_FALSE(layer->has_lora()) << name << " is not selected";
        EXPECT_EQ(applied.abs().max().item<double>(), 0.0) << name;
        continue;
      }
      ASSERT_TRUE(layer->has_lora()) << name;
      EXPECT_EQ(layer->lora_A->weight.size(0), it->second.r) << name;
      const at::Tensor want =
          it->second.s * at::matmul(factor(name, "lora_B"), factor(name, "lora_A"));
      EXPECT_LT((applied - want).abs().max().item<double>(),
                2e-5 * (1 + want.abs().max().item<double>()))
          << name;
    }
    // The Evaluator (scans) merges with the per-module scales: the same scores as a base model
    // whose weights are W + ΔW computed here.
    Transformer ref(model_config(), false);
    copy_base(ref);
    {
      torch::NoGradGuard ng;
      for (auto& [name, layer] : ref->projections()) {
        auto it = expected.find(name);
        if (it != expected.end())
          layer->weight.add_(
              (it->second.s * at::matmul(factor(name, "lora_B"), factor(name, "lora_A")))
                  .to(at::kFloat));
      }
    }
    const std::vector<Example> ex{{"2+2=", "4"}, {"abc ->", "cba"}, {"hello", "world"}};
    Evaluator ev(*base, lora_scales(pa.lora, pa.adapter), 2);
    ev.load_points({pa.adapter});
    const Scores got = ev.evaluate(ex).scores(0);
    const Scores want = evaluate_examples(*ref, ex, 0, 2);
    EXPECT_NEAR(got.loss, want.loss, 1e-4);
  }

 private:
  void copy_base(Transformer& m) {
    torch::NoGradGuard ng;
    auto src = base->base_parameters();
    auto dst = m->base_parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].second.copy_(src[i].second);
  }
  at::Tensor factor(const std::string& m, const std::string& which) {
    return factors_.at("base_model.model." + m + "." + which + infix_ + ".weight");
  }
  std::map<std::string, at::Tensor> factors_;
  std::string infix_;
};

ojson config(int64_t r, double alpha, ojson targets) {
  return ojson{{"peft_type", "LORA"},
               {"r", r},
               {"lora_alpha", alpha},
               {"target_modules", std::move(targets)},
               {"bias", "none"}};
}

// Every (layer, projection) pair of `projs` in `layers`, with rank r and scale s.
std::map<std::string, Expected> modules(std::vector<int> layers, std::vector<std::string> projs,
                                        int64_t r, double s) {
  std::map<std::string, Expected> out;
  for (int l : layers)
    for (const auto& p : projs) out[module(l, p)] = {r, s};
  return out;
}

}  // namespace

TEST_F(PeftConfig, TargetModulesAsAList) {
  const auto want = modules({0, 1, 2}, {"q_proj", "v_proj"}, 4, 8.0 / 4);
  expect_applied(write("list", config(4, 8, {"q_proj", "v_proj"}), want), want);
  // A full module name in the list selects that module alone.
  const auto one = modules({1}, {"down_proj"}, 2, 2.0);
  expect_applied(write("full", config(2, 4, {"model.layers.1.mlp.down_proj"}), one), one);
}

TEST_F(PeftConfig, TargetModulesAsARegexMatchTheWholeName) {
  // re.fullmatch: layers 0 and 2, q and k; "q_proj" alone would match nothing as a whole name.
  const auto want = modules({0, 2}, {"q_proj", "k_proj"}, 3, 6.0 / 3);
  expect_applied(write("regex", config(3, 6, R"(.*\.layers\.[02]\.self_attn\.(q|k)_proj)"), want),
                 want);
  EXPECT_THROW(load_peft_adapter(write("regex-none", config(3, 6, "q_proj"), want)), FormatError);
}

TEST_F(PeftConfig, AllLinearIsEveryProjection) {
  const auto want = modules(
      {0, 1, 2}, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 2,
      16.0 / 2);
  expect_applied(write("all", config(2, 16, "all-linear"), want), want);
}

TEST_F(PeftConfig, RankAndAlphaPatternsFirstMatchingKeyInFileOrderWins) {
  ojson c = config(8, 16, {"q_proj", "v_proj"});
  // Both keys match layer 1's q_proj; the first in the file wins (a sorted reader would take the
  // second). "v_proj" matches every v_proj as (.*\.)?(v_proj)$.
  c["rank_pattern"] =
      ojson{{"self_attn.q_proj", 6}, {"model.layers.1.self_attn.q_proj", 2}, {"v_proj", 4}};
  c["alpha_pattern"] = ojson{{"layers.2.self_attn.q_proj", 3}};
  std::map<std::string, Expected> want;
  for (int l : {0, 1, 2}) {
    want[module(l, "q_proj")] = {6, (l == 2 ? 3.0 : 16.0) / 6};
    want[module(l, "v_proj")] = {4, 16.0 / 4};
  }
  const std::string dir = write("patterns", c, want);
  expect_applied(dir, want);
  // Export writes the same conventions back: the same config (keys in order), the same factors.
  const PeftAdapter pa = load_peft_adapter(dir);
  save_peft_adapter(tmp.file("again"), pa.adapter, pa.lora);
  const PeftAdapter back = load_peft_adapter(tmp.file("again"));
  EXPECT_TRUE(back.lora == pa.lora);
  EXPECT_TRUE(back.adapter.equal(pa.adapter));
  std::ifstream f(tmp.file("again") + "/adapter_config.json");
  const ojson written = ojson::parse(f);
  EXPECT_EQ(written["rank_pattern"].begin().key(), "self_attn.q_proj");
  EXPECT_EQ(written["alpha_pattern"]["layers.2.self_attn.q_proj"], 3.0);
}

TEST_F(PeftConfig, RsLoraScalesByTheSquareRootOfTheRank) {
  ojson c = config(4, 8, {"k_proj"});
  c["use_rslora"] = true;
  c["rank_pattern"] = ojson{{"layers.0.self_attn.k_proj", 16}};
  auto want = modules({1, 2}, {"k_proj"}, 4, 8.0 / 2);  // 8/√4
  want[module(0, "k_proj")] = {16, 8.0 / 4};            // 8/√16
  expect_applied(write("rslora", c, want), want);
}

TEST_F(PeftConfig, LayersToTransformAndLayersPattern) {
  ojson c = config(2, 4, {"o_proj", "up_proj"});
  c["layers_to_transform"] = {0, 2};
  c["layers_pattern"] = "layers";
  const auto want = modules({0, 2}, {"o_proj", "up_proj"}, 2, 2.0);
  expect_applied(write("layers", c, want), want);
  // One index, no pattern: the number after the first "<name>." of the module name.
  ojson one = config(2, 4, {"o_proj"});
  one["layers_to_transform"] = 1;
  const auto want1 = modules({1}, {"o_proj"}, 2, 2.0);
  expect_applied(write("layer1", one, want1), want1);
  // A pattern that names no part of the module names selects nothing: every tensor is refused.
  ojson none = c;
  none["layers_pattern"] = "blocks";
  EXPECT_THROW(load_peft_adapter(write("none", none, want)), FormatError);
}

TEST_F(PeftConfig, ExcludeModulesAsAListAndAsARegex) {
  ojson c = config(2, 2, {"q_proj", "gate_proj"});
  c["exclude_modules"] = {"model.layers.1.self_attn.q_proj", "gate_proj"};
  const auto want = modules({0, 2}, {"q_proj"}, 2, 1.0);
  expect_applied(write("exclude", c, want), want);
  c["exclude_modules"] = R"(.*layers\.1\..*|.*gate_proj)";
  expect_applied(write("exclude-re", c, want), want);
}

TEST_F(PeftConfig, FanInFanOutAndBiasWithoutBiasTensorsChangeNothingOnLinearLayers) {
  // PEFT resets fan_in_fan_out to false for nn.Linear; bias "all" saves no tensors for a model
  // without biases. Both are kept to be written back.
  ojson c = config(4, 4, {"q_proj"});
  c["fan_in_fan_out"] = true;
  c["bias"] = "all";
  const auto want = modules({0, 1, 2}, {"q_proj"}, 4, 1.0);
  const std::string dir = write("fifo", c, want);
  expect_applied(dir, want);
  EXPECT_TRUE(load_peft_adapter(dir).lora.fan_in_fan_out);
  EXPECT_EQ(load_peft_adapter(dir).lora.bias, "all");
}

TEST_F(PeftConfig, KeysWithTheAdapterNameAndHalfPrecisionFactors) {
  const auto want = modules({0, 1, 2}, {"v_proj"}, 4, 2.0);
  expect_applied(write("named", config(4, 8, {"v_proj"}), want, at::kFloat, ".default"), want);
  expect_applied(write("bf16", config(4, 8, {"v_proj"}), want, at::kBFloat16), want);
  expect_applied(write("f16", config(4, 8, {"v_proj"}), want, at::kHalf), want);
}

TEST_F(PeftConfig, UnsupportedFeaturesAreRefusedNamingTheField) {
  const auto mods = modules({0}, {"q_proj"}, 2, 1.0);
  auto expect_refused = [&](const std::string& name, ojson c, const std::string& field) {
    try {
      load_peft_adapter(write(name, c, mods));
      ADD_FAILURE() << name << " accepted";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  const ojson plain = config(2, 2, {"q_proj"});
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, ojson>>{{"use_dora", true},
                                                  {"modules_to_save", {"lm_head"}},
                                                  {"lora_bias", true},
                                                  {"layer_replication", {{0, 2}}},
                                                  {"init_lora_weights", "pissa"},
                                                  {"init_lora_weights", "olora"},
                                                  {"init_lora_weights", "loftq"},
                                                  {"trainable_token_indices", {1, 2}},
                                                  {"peft_type", "LOHA"},
                                                  {"r", 0},
                                                  {"lora_alpha", "x"},
                                                  {"target_modules", 3},
                                                  {"rank_pattern", {{"q_proj", -1}}},
                                                  {"rank_pattern", {{"q_proj(", 2}}}}) {
    ojson c = plain;
    c[field] = value;
    expect_refused(field + "-" + value.dump(), c, field);
  }
  // Settings that do not change the forward are accepted.
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, ojson>>{{"init_lora_weights", "gaussian"},
                                                  {"init_lora_weights", false},
                                                  {"use_dora", false},
                                                  {"modules_to_save", nullptr}}) {
    ojson c = plain;
    c[field] = value;
    EXPECT_NO_THROW(load_peft_adapter(write(field + "-ok-" + value.dump(), c, mods))) << field;
  }
}

TEST_F(PeftConfig, TensorsThatDoNotFitTheConfigAreRefused) {
  const ojson c = config(2, 2, {"q_proj"});
  auto refused = [&](const std::string& dir, const std::string& what) {
    try {
      load_peft_adapter(dir);
      ADD_FAILURE() << what;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  // A module the config does not select.
  refused(write("unselected", c, modules({0}, {"k_proj"}, 2, 1.0)), "do not select");
  // Another rank than the config gives.
  refused(write("rank", c, modules({0}, {"q_proj"}, 3, 1.0)), "r=2");
  // A bias tensor (bias "all" on a model with biases).
  {
    const std::string dir = write("bias", c, modules({0}, {"q_proj"}, 2, 1.0));
    SafetensorsData d = read_safetensors(dir + "/adapter_model.safetensors");
    NamedTensors t(d.tensors.begin(), d.tensors.end());
    t.emplace_back("base_model.model.model.layers.0.self_attn.q_proj.bias", at::zeros({32}));
    write_safetensors(dir + "/adapter_model.safetensors", t);
    refused(dir, "`bias`");
  }
  // lm_head LoRA and two adapters in one file.
  {
    const std::string dir = write("head", c, modules({0}, {"q_proj"}, 2, 1.0));
    write_safetensors(dir + "/adapter_model.safetensors",
                      {{"base_model.model.lm_head.lora_A.weight", at::zeros({2, 32})}});
    refused(dir, "lm_head");
    write_safetensors(dir + "/adapter_model.safetensors",
                      {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
                        at::zeros({2, 32})},
                       {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.ema.weight",
                        at::zeros({32, 2})}});
    refused(dir, "two adapters");
  }
  // A pickle: never read; the message says why and how to convert it.
  {
    const std::string dir = tmp.file("pickle");
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/adapter_config.json") << c.dump();
    std::ofstream(dir + "/adapter_model.bin") << "\x80\x02}q\x00.";
    refused(dir, "can run arbitrary code");
    refused(dir, "save_file");
  }
}
