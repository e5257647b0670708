// The training checkpoint: what `lorascape train` needs to go on after its last completed stage
// when it was killed (docs/hdf5-schema.md, Part III). One HDF5 file per method,
// <out>/.resume/<method>.h5, replaced atomically after every stage and removed when the method
// is complete. The store knows nothing of torch: the state is a JSON text (counters, random
// number generator states, replay memories as example indices) and named arrays of exact bytes
// (adapters, Fisher matrices, torch's generator state).
//
// Errors: FormatError naming the file and the object at fault, like the run file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorascape::store {

inline constexpr const char* kCheckpointFormat = "lorascape-checkpoint";
inline constexpr int kCheckpointFormatVersion = 1;

// One array of the state, row-major, exactly as it was in memory (native byte order).
struct CheckpointArray {
  std::string path;  // '/'-separated components, each a valid HDF5 link name: "model/lora/<name>"
  // "float32" | "float64" | "bfloat16" | "float16" | "int64" | "uint8"
  std::string dtype;
  std::vector<int64_t> shape;  // rank 0 = a scalar
  std::vector<uint8_t> bytes;  // product(shape) · element size of dtype
};

struct CheckpointData {
  std::string software_version;  // lorascape version that wrote the file
  std::string created;           // ISO 8601 UTC
  std::string method;            // train.method
  // What a resume must match (JSON text): the configuration without `threads` and `out`, the
  // base model digest, a digest of the task data, the lorascape version.
  std::string key_json;
  int64_t stages_done = 0;   // completed stages (tasks), in [1, stages_total]
  int64_t stages_total = 0;  // T
  std::string state_json;    // the loop's and the method's small state (JSON text)
  std::vector<CheckpointArray> arrays;
};

// Size in bytes of one element of a CheckpointArray dtype; 0 for an unknown dtype.
size_t checkpoint_dtype_size(const std::string& dtype);

// Validates `data`, then writes it crash-safely ("<path>.tmp.<pid>", fsync, rename), so that
// `path` holds either the previous or the new complete checkpoint.
void write_checkpoint_file(const std::string& path, const CheckpointData& data);

// Reads and validates the whole file (format and version first).
CheckpointData read_checkpoint_file(const std::string& path);

}  // namespace lorascape::store
