// Strict reader/writer for the Hugging Face safetensors format: an 8-byte little-endian header
// length N, N bytes of JSON header (name -> {dtype, shape, data_offsets}, optional
// "__metadata__"), then the data buffer. The reader rejects anything malformed with a
// lorascape::FormatError that names the file and the key/offset at fault.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lorascape::core {

// Ordered name -> tensor list (order is preserved on write; on read, tensors come back sorted by
// their data offset).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct SafetensorsData {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" object (string -> string)
  const at::Tensor* find(const std::string& name) const;  // nullptr if absent
};

// Serialise to bytes / parse from bytes (`origin` is the file name used in error messages).
// Writable dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. Tensors are detached,
// moved to CPU and made contiguous; the header is space-padded to a multiple of 8 bytes.
std::string encode_safetensors(const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata = {});
SafetensorsData decode_safetensors(const std::string& bytes, const std::string& origin);

// File versions. write is atomic: it writes "<path>.tmp.<pid>", fsyncs, and renames it over
// path, so a crash never leaves a half-written file.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});
SafetensorsData read_safetensors(const std::string& path);
// The same checks, without reading the tensor data: the file is memory-mapped (privately) and
// each tensor is a view into the mapping, which lives as long as any of them (a tensor whose
// data is not aligned to its element size is copied). Loads a model of any size without a copy
// in memory: pages are read from the file as they are used.
SafetensorsData map_safetensors(const std::string& path);

}  // namespace lorascape::core
