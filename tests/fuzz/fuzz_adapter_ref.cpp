// libFuzzer target: adapter references (analysis/adapter_ref.cpp): the input is a reference
// ("run.h5:seq/2/adapter", "adapter", a pattern "run.h5:*" …), resolved in a folder that holds a
// valid run file (run.h5 and run_lora_config.h5, the corpus seeds of fuzz_run_file) and a PEFT
// adapter folder (adapter/, the seeds of fuzz_peft_config and fuzz_safetensors).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "analysis/adapter_ref.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

void setup() {
  static const bool done = [] {
    const std::string corpus = LORASCAPE_FUZZ_CORPUS;
    const std::string dir = lorascape::fuzz::work_dir();
    fs::create_directories(dir + "/adapter");
    for (const char* f : {"run.h5", "run_lora_config.h5"})
      fs::copy_file(corpus + "/fuzz_run_file/" + f, dir + "/" + f);
    fs::copy_file(corpus + "/fuzz_safetensors/adapter.safetensors",
                  dir + "/adapter/adapter_model.safetensors");
    fs::copy_file(corpus + "/fuzz_peft_config/adapter_config.json",
                  dir + "/adapter/adapter_config.json");
    if (::chdir(dir.c_str()) != 0) std::abort();
    return true;
  }();
  (void)done;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  setup();
  const std::string ref(reinterpret_cast<const char*>(data), size);
  fuzz::fuzz_guard("fuzz_adapter_ref", [&] {
    const auto refs = analysis::expand_adapter_refs(ref);
    for (size_t i = 0; i < refs.size() && i < 4; ++i) {
      analysis::AdapterSource s = analysis::load_adapter_ref(refs[i]);
      std::vector<analysis::AdapterSource> v;
      v.push_back(std::move(s));
      analysis::check_same_space(v, "delta");
    }
  });
  return 0;
}
