// libFuzzer target: `--set key=value` overrides (core/config.cpp apply_override), one per line
// of the input, applied in order over the defaults as the CLI applies them, then validated.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::fuzz_guard("fuzz_config_set", [&] {
    core::RunConfig cfg;
    size_t begin = 0;
    while (begin <= text.size()) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();
      core::apply_override(cfg, text.substr(begin, end - begin));
      begin = end + 1;
    }
    cfg.validate();
    (void)cfg.to_toml();
  });
  return 0;
}
