// Issue 18 (hardening), the library half: each bad input the independent test found, fed
// exactly (the big ones generated here), rejected with one clear error and no crash, hang or
// large allocation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/config.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "core/tasks.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::core;
namespace fs = std::filesystem;

namespace {

// The message of the lorascape::Error `fn` throws ("" when none).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lorascape::Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string dotted_key(int parts) {
  std::string k = "a";
  for (int i = 1; i < parts; ++i) k += ".a";
  return k;
}

}  // namespace

TEST(Hardening, TomlKeyOfTensOfThousandsOfDottedPartsIsRejectedBeforeParsing) {
  test::TempDir tmp("hardening-toml");
  const std::string key = dotted_key(60000);
  const std::string cfg = tmp.write("deep.toml", key + " = 1\n");
  std::string m = error_of([&] { load_config(cfg); });
  EXPECT_TRUE(has(m, cfg) && has(m, "dotted parts")) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  const std::string nested = tmp.write("nested.toml", "x = " + std::string(60000, '[') + "\n");
  m = error_of([&] { load_config(nested); });
  EXPECT_TRUE(has(m, nested) && has(m, "nested deeper")) << m.substr(0, 300);

  RunConfig c;
  m = error_of([&] { apply_override(c, key + "=1"); });  // an unknown key, quoted briefly
  EXPECT_TRUE(has(m, "unknown key")) << m.substr(0, 300);
  EXPECT_LT(m.size(), 2000u);
  // A value with such a key is not handed to toml++: a string, refused for a number.
  m = error_of([&] { apply_override(c, "train.lr={" + key + "=1}"); });
  EXPECT_TRUE(has(m, "train.lr") && has(m, "number")) << m.substr(0, 300);
  EXPECT_LT(m.size(), 400u);
  // Paths with dots still are plain strings.
  apply_override(c, "out=../../a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r");
  EXPECT_EQ(c.out, "../../a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r");
}

TEST(Hardening, ConfigThatIsNotARegularTextFileIsRejected) {
  std::string m = error_of([] { load_config("/dev/zero"); });
  EXPECT_TRUE(has(m, "/dev/zero") && has(m, "not a regular file")) << m;
  test::TempDir tmp("hardening-nul");
  const std::string nul = tmp.write("nul.toml", std::string("seed = 1\n\0\0\0", 12));
  m = error_of([&] { load_config(nul); });
  EXPECT_TRUE(has(m, nul) && has(m, "NUL")) << m;
  const std::string big = tmp.write("big.toml", "# " + std::string(2 << 20, 'x') + "\n");
  m = error_of([&] { load_config(big); });
  EXPECT_TRUE(has(m, big) && has(m, "at most")) << m;
}

TEST(Hardening, NonFiniteNumbersAndTooManyThreadsAreRejectedAtValidation) {
  for (const char* set : {"train.lr=inf", "train.lr=nan", "lora.alpha=inf", "pretrain.lr=-inf",
                          "ewc.lambda=nan", "model.rope_theta=inf"}) {
    RunConfig c;
    apply_override(c, set);
    const std::string m = error_of([&] { c.validate(); });
    const std::string key = std::string(set).substr(0, std::string(set).find('='));
    EXPECT_TRUE(has(m, "`" + key + "`") && has(m, "finite")) << set << ": " << m;
  }
  RunConfig c;
  apply_override(c, "threads=1000");
  EXPECT_TRUE(has(error_of([&] { c.validate(); }), "`threads` must be in 0..256"));
  apply_override(c, "threads=256");
  EXPECT_NO_THROW(c.validate());
}

TEST(Hardening, HugeTaskSizesAreReportedAsGiven) {
  RunConfig c;
  apply_override(c, "tasks.train=1000000000000");
  const std::string m = error_of([&] { c.validate(); });
  EXPECT_TRUE(has(m, "`tasks.train` is 1000000000000") && has(m, "at most 1000000")) << m;
  RunConfig f;
  EXPECT_TRUE(has(error_of([&] { apply_override(f, "tasks.train=1e12"); }), "integer"));
}

TEST(Hardening, TaskJsonWithAnOutOfRangeNumberNamesTheFile) {
  test::TempDir tmp("hardening-tasks");
  fs::create_directories(tmp.path() / "t");
  for (const char* split : {"t/eval.json", "t/test.json"})
    tmp.write(split, R"([{"prompt": "p", "answer": "a"}])");
  const std::string file = tmp.write("t/train.json", R"([{"prompt": "p", "answer": 1e999}])");
  std::string m = error_of([&] { load_trace_tasks(tmp.path().string(), {"t"}); });
  EXPECT_TRUE(has(m, file)) << m;
  fs::remove(file);
  const std::string jl = tmp.write("t/train.jsonl", "{\"prompt\": \"p\", \"answer\": -1e999}\n");
  m = error_of([&] { load_trace_tasks(tmp.path().string(), {"t"}); });
  EXPECT_TRUE(has(m, jl) && has(m, "line 1")) << m;
}

TEST(Hardening, BaseModelWithNonFiniteWeightsIsRejectedNamingTheTensor) {
  torch::manual_seed(1);
  test::TempDir tmp("hardening-base");
  Transformer model(test::tiny_model());
  const std::string name = "model.layers.1.mlp.up_proj.weight";
  {
    torch::NoGradGuard ng;
    for (auto& [n, p] : model->base_parameters())
      if (n == name) p[0][3] = std::numeric_limits<float>::infinity();
  }
  const std::string path = tmp.file("inf.safetensors");
  save_base_model(path, *model, nlohmann::json::object());
  const std::string m = error_of([&] { load_base_model(path); });
  EXPECT_TRUE(has(m, path) && has(m, name) && has(m, "NaN or infinite")) << m;
}

TEST(Hardening, BaseModelConfigLargerThanTheFileIsRejectedBeforeAllocating) {
  test::TempDir tmp("hardening-huge");
  ModelConfig mc = test::tiny_model();
  mc.d_model = 65536;
  mc.d_ff = 65536;
  mc.n_heads = 64;
  mc.n_layers = 1000;  // 3e13 parameters: 120 TB
  const std::string path = tmp.file("huge.safetensors");
  write_safetensors(path, {}, {{"model_config", mc.to_json().dump()}});
  const std::string m = error_of([&] { load_base_model(path); });
  EXPECT_TRUE(has(m, path) && has(m, "parameters, but the file holds only")) << m;
}

TEST(Hardening, AdapterWithNanFactorsOrDeeplyNestedConfigIsRejected) {
  test::TempDir tmp("hardening-adapter");
  LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  lora.targets = {"q_proj"};
  at::Tensor a = torch::randn({4, 32});
  a[1][2] = std::numeric_limits<float>::quiet_NaN();
  const std::string A = "model.layers.0.self_attn.q_proj.lora_A.weight";
  Adapter adapter(
      {{A, a}, {"model.layers.0.self_attn.q_proj.lora_B.weight", torch::zeros({32, 4})}});
  const std::string dir = tmp.file("nan");
  save_peft_adapter(dir, adapter, lora);
  std::string m = error_of([&] { load_peft_adapter(dir); });
  EXPECT_TRUE(has(m, "lora_A") && has(m, "NaN or infinite")) << m;

  // adapter_config.json nested 100,000 levels deep.
  const std::string deep = tmp.file("deep");
  save_peft_adapter(
      deep,
      Adapter({{A, torch::zeros({4, 32})},
               {"model.layers.0.self_attn.q_proj.lora_B.weight", torch::zeros({32, 4})}}),
      lora);
  std::ofstream(deep + "/adapter_config.json")
      << "{\"r\": 4, \"x\": " << std::string(100000, '[') << std::string(100000, ']') << "}";
  m = error_of([&] { load_peft_adapter(deep); });
  EXPECT_TRUE(has(m, "adapter_config.json") && has(m, "deeper than 64")) << m;
}
