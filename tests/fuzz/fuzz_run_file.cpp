// libFuzzer target: the HDF5 run file (store/run_file.cpp read_run_file, read_file_format),
// its LoRA setup (core::run_lora) and its adapters as references name them
// (analysis::expand_adapter_refs "RUN.h5:*", load_adapter_ref of the first few).
#include <cstddef>
#include <cstdint>
#include <string>

#include "analysis/adapter_ref.h"
#include "core/run_file_io.h"
#include "store/run_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  const std::string path = fuzz::work_dir() + "/run.h5";
  fuzz::write_file(path, data, size);
  fuzz::fuzz_guard("fuzz_run_file", [&] { (void)store::read_file_format(path); });
  fuzz::fuzz_guard("fuzz_run_file", [&] {
    const store::RunFileData run = store::read_run_file(path);
    (void)core::run_lora(run, path);
  });
  fuzz::fuzz_guard("fuzz_run_file", [&] {
    const auto refs = analysis::expand_adapter_refs(path + ":*");
    for (size_t i = 0; i < refs.size() && i < 4; ++i) (void)analysis::load_adapter_ref(refs[i]);
  });
  return 0;
}
