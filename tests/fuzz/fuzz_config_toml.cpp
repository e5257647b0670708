// libFuzzer target: the TOML run configuration (core/config.cpp load_config, as `train
// --config` reads it), then its validation and the TOML and JSON it is written back as.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  const std::string path = fuzz::work_dir() + "/fuzz.toml";
  fuzz::write_file(path, data, size);
  fuzz::fuzz_guard("fuzz_config_toml", [&] {
    const core::RunConfig cfg = core::load_config(path);
    (void)cfg.to_toml();
    const auto j = cfg.to_json();
    cfg.validate();
    (void)core::config_from_json(j, "fuzz.json");
  });
  return 0;
}
