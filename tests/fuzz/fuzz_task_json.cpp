// libFuzzer target: a task's split file (core/tasks.cpp load_examples_file), as a JSON array
// (.json) when the input's first byte is even and as JSON lines (.jsonl) when it is odd; the
// rest of the input is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tasks.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  if (size == 0) return 0;
  const std::string path = fuzz::work_dir() + ((data[0] & 1) ? "/train.jsonl" : "/train.json");
  fuzz::write_file(path, data + 1, size - 1);
  fuzz::fuzz_guard("fuzz_task_json", [&] {
    const auto examples = core::load_examples_file(path);
    (void)core::infer_kind(examples);
  });
  return 0;
}
