// libFuzzer target: the HDF5 scan file (store/scan_file.cpp read_scan_file, as `plot`, the app
// and a resumed scan read it; merge_scans of the file as the only shard).
#include <cstddef>
#include <cstdint>
#include <string>

#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lorascape;
  const std::string path = fuzz::work_dir() + "/scan.h5";
  fuzz::write_file(path, data, size);
  fuzz::fuzz_guard("fuzz_scan_file", [&] { (void)store::read_file_format(path); });
  fuzz::fuzz_guard("fuzz_scan_file", [&] {
    const store::ScanData d = store::read_scan_file(path);
    (void)d.num_done();
    (void)d.complete();
  });
  fuzz::fuzz_guard("fuzz_scan_file", [&] { (void)store::merge_scans({path}); });
  return 0;
}
