// libFuzzer target: the safetensors header and tensor table (core/safetensors.cpp), from bytes
// (decode_safetensors) and from a file (map_safetensors: the memory-mapped reader).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  fuzz::fuzz_guard("fuzz_safetensors", [&] {
    const auto d = core::decode_safetensors(std::string(reinterpret_cast<const char*>(data), size),
                                            "fuzz.safetensors");
    for (const auto& [name, t] : d.tensors) (void)t.sum().item<double>();  // touch every byte
  });
  const std::string path = fuzz::work_dir() + "/fuzz.safetensors";
  fuzz::write_file(path, data, size);
  fuzz::fuzz_guard("fuzz_safetensors (mapped)", [&] {
    const auto d = core::map_safetensors(path);
    for (const auto& [name, t] : d.tensors) (void)t.sum().item<double>();
  });
  return 0;
}
