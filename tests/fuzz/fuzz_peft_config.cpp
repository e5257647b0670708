// libFuzzer target: a PEFT adapter's adapter_config.json (core/lora_config.cpp
// LoraConfig::from_peft, through load_peft_adapter as `eval`, scans and `import-run` read it),
// next to a fixed valid adapter_model.safetensors (q_proj and v_proj of layers 0 and 1, r = 2).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/adapter.h"
#include "core/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const std::string& adapter_dir() {
  static const std::string dir = [] {
    const std::string d = lorascape::fuzz::work_dir() + "/adapter";
    std::filesystem::create_directories(d);
    lorascape::core::NamedTensors t;
    for (int layer = 0; layer < 2; ++layer)
      for (const char* m : {"self_attn.q_proj", "self_attn.v_proj"}) {
        const std::string p =
            "base_model.model.model.layers." + std::to_string(layer) + "." + m + ".lora_";
        t.emplace_back(p + "A.weight", at::full({2, 8}, 0.25f));
        t.emplace_back(p + "B.weight", at::full({8, 2}, -0.5f));
      }
    lorascape::core::write_safetensors(d + "/adapter_model.safetensors", t);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  const std::string& dir = adapter_dir();
  fuzz::write_file(dir + "/adapter_config.json", data, size);
  fuzz::fuzz_guard("fuzz_peft_config", [&] {
    const core::PeftAdapter a = core::load_peft_adapter(dir);
    // What the loaded setup answers for modules in and out of the file.
    for (const char* m : {"model.layers.0.self_attn.q_proj", "model.layers.7.mlp.down_proj",
                          "model.layers.1.self_attn.v_proj"})
      if (a.lora.targets_module(m)) (void)a.lora.scale_of(m);
    (void)a.lora.to_peft().dump();
  });
  return 0;
}
