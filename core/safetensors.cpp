// Strict safetensors reader/writer; see safetensors.h for the format.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <system_error>
#include <tuple>

#include "store/error.h"

// Tensor bytes are copied as-is, and safetensors is little-endian.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lorascape safetensors io requires a little-endian host"
#endif

namespace lorascape::core {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kSupported = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

struct Dtype {
  const char* name;
  at::ScalarType type;
};
const Dtype kDtypes[] = {{"F64", at::kDouble},    {"F32", at::kFloat}, {"F16", at::kHalf},
                         {"BF16", at::kBFloat16}, {"I64", at::kLong},  {"I32", at::kInt},
                         {"I16", at::kShort},     {"I8", at::kChar},   {"U8", at::kByte},
                         {"BOOL", at::kBool}};

const Dtype* dtype_by_name(const std::string& name) {
  for (const Dtype& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}
const Dtype* dtype_by_type(at::ScalarType type) {
  for (const Dtype& d : kDtypes)
    if (type == d.type) return &d;
  return nullptr;
}

[[noreturn]] void fail(const std::string& origin, const std::string& what,
                       const std::string& hint) {
  throw FormatError(origin + ": " + what + " (" + hint + ")");
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// A JSON value as one escaped line (invalid UTF-8 replaced), cut to a readable length.
std::string brief(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}
std::string quote(const std::string& s) {
  return brief(json(s));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Deepest nesting a header may have: the format needs 3 (header, tensor entry, shape). Checked
// while parsing, so that no later code (messages quoting a value) recurses through a hostile
// header.
constexpr int kMaxHeaderDepth = 8;

// Parses the header, rejecting duplicate keys at any nesting level (nlohmann would silently
// keep the last one) and nesting deeper than kMaxHeaderDepth.
json parse_header(const char* begin, const char* end, const std::string& origin) {
  struct Level {
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Level> stack;
  bool duplicate = false;
  std::string dup_key, dup_parent;
  bool too_deep = false;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (too_deep || depth > kMaxHeaderDepth) {
      too_deep = true;
      return false;  // discard: nothing deeper is kept
    }
    if (event == json::parse_event_t::object_start) {
      stack.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!stack.empty()) stack.pop_back();
    } else if (event == json::parse_event_t::key && !stack.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!stack.back().keys.insert(key).second && !duplicate) {
        duplicate = true;
        dup_key = key;
        if (stack.size() > 1) dup_parent = stack[stack.size() - 2].last_key;
      }
      stack.back().last_key = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(begin, end, callback, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    std::string what = e.what();
    const size_t pos = what.find("] ");  // drop "[json.exception.parse_error.101] "
    if (what.rfind("[json.exception", 0) == 0 && pos != std::string::npos) what.erase(0, pos + 2);
    for (char& c : what)  // "last read" may echo raw bytes; keep the message printable ASCII
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    fail(origin, "header is not valid JSON: " + what, "corrupt file or not a safetensors file?");
  }
  if (too_deep)
    fail(origin, "header JSON is nested deeper than " + std::to_string(kMaxHeaderDepth) + " levels",
         "a safetensors header needs 3; corrupt file or not a safetensors file?");
  if (duplicate) {
    fail(origin,
         "duplicate key " + quote(dup_key) + " in header" +
             (dup_parent.empty() ? std::string() : " (inside " + quote(dup_parent) + ")"),
         "each tensor name and field may appear only once; rewrite the file");
  }
  return header;
}

struct Entry {
  std::string name;
  const Dtype* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const json& j, uint64_t buffer_size,
                  const std::string& origin) {
  const std::string t = "tensor " + quote(name);
  const char* fix = "fix or regenerate the file";
  if (!j.is_object())
    fail(origin, t + ": entry must be an object, got " + brief(j),
         "each tensor needs dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!j.contains(field))
      fail(origin, t + ": missing \"" + field + "\"",
           "each tensor needs dtype, shape and data_offsets");
  for (const auto& item : j.items())
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets")
      fail(origin, t + ": unknown field " + quote(item.key()),
           "only dtype, shape and data_offsets are allowed");

  Entry e;
  e.name = name;
  const json& jd = j.at("dtype");
  if (!jd.is_string()) fail(origin, t + ": \"dtype\" must be a string, got " + brief(jd), fix);
  e.dtype = dtype_by_name(jd.get_ref<const std::string&>());
  if (!e.dtype)
    fail(origin, t + ": unknown dtype " + brief(jd), std::string("supported: ") + kSupported);

  const json& js = j.at("shape");
  if (!js.is_array())
    fail(origin, t + ": \"shape\" must be an array of integers, got " + brief(js), fix);
  for (const json& d : js) {
    if (!d.is_number_integer())
      fail(origin, t + ": \"shape\" must be an array of integers, got " + brief(js), fix);
    if (!d.is_number_unsigned())
      fail(origin, t + ": negative dimension " + brief(d) + " in shape " + brief(js), fix);
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(origin, t + ": dimension " + brief(d) + " is too large", fix);
    e.shape.push_back(static_cast<int64_t>(v));
  }

  const json& jo = j.at("data_offsets");
  if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
      !jo[1].is_number_unsigned())
    fail(origin,
         t + ": \"data_offsets\" must be [begin, end] with non-negative integers, got " + brief(jo),
         fix);
  e.begin = jo[0].get<uint64_t>();
  e.end = jo[1].get<uint64_t>();
  const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) fail(origin, t + ": data_offsets " + range + " have begin > end", fix);
  if (e.end > buffer_size)
    fail(origin,
         t + ": data_offsets end " + std::to_string(e.end) + " is past the end of the " +
             std::to_string(buffer_size) + "-byte data buffer",
         "truncated file?");

  // Expected size = product(shape) * element size, with overflow checks.
  uint64_t bytes = c10::elementSize(e.dtype->type);
  bool overflow = false;
  for (int64_t d : e.shape)
    overflow = overflow || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes);
  if (overflow || bytes != e.end - e.begin)
    fail(origin,
         t + ": data_offsets " + range + " hold " + std::to_string(e.end - e.begin) +
             " bytes but dtype " + e.dtype->name + " with shape " + shape_text(e.shape) +
             " needs " + (overflow ? std::string("more than 2^64") : std::to_string(bytes)),
         "shape, dtype and data_offsets disagree; fix or regenerate the file");
  return e;
}

// Requires the entries' byte ranges to tile [0, buffer_size) exactly; sorts them by offset.
void check_tiling(std::vector<Entry>& entries, uint64_t buffer_size, const std::string& origin) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const char* hint =
      "tensor byte ranges must tile the data buffer exactly, with no overlaps or holes";
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      fail(origin,
           "tensors " + quote(prev->name) + " [" + std::to_string(prev->begin) + ", " +
               std::to_string(prev->end) + ") and " + quote(e.name) + " [" +
               std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlap",
           hint);
    if (e.begin > pos)
      fail(origin,
           "hole of " + std::to_string(e.begin - pos) + " bytes at data offset " +
               std::to_string(pos) + " before tensor " + quote(e.name),
           hint);
    pos = e.end;
    prev = &e;
  }
  if (pos != buffer_size)
    fail(origin,
         std::to_string(buffer_size - pos) +
             " trailing byte(s) after the last tensor, at data offset " + std::to_string(pos),
         "the data buffer must end where the last tensor ends; truncate or regenerate the file");
}

// Writer input, validated: the full prefix + padded header, and the CPU tensors to append.
struct Prepared {
  std::string head;
  std::vector<at::Tensor> data;
  uint64_t data_bytes = 0;
};

std::string json_string(const std::string& s, const std::string& what, const std::string& origin) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    fail(origin, what + " " + quote(s) + " is not valid UTF-8",
         "safetensors headers are UTF-8 JSON; use a UTF-8 string");
  }
}

Prepared prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                 const std::string& origin) {
  Prepared p;
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json_string(k, "metadata key", origin) + ":" +
                json_string(v, "metadata value of " + quote(k) + ":", origin);
      first = false;
    }
    header += "}";
  }
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    const std::string t = "tensor " + quote(name);
    if (name == "__metadata__")
      fail(origin, "tensor name \"__metadata__\" is reserved", "rename the tensor");
    if (!seen.insert(name).second)
      fail(origin, "duplicate tensor name " + quote(name), "tensor names must be unique");
    if (!tensor.defined()) fail(origin, t + " is undefined", "pass a defined tensor");
    if (tensor.layout() != at::kStrided || tensor.is_meta())
      fail(origin, t + " is not a dense tensor with data", "convert it with .to_dense()");
    const Dtype* dtype = dtype_by_type(tensor.scalar_type());
    if (!dtype)
      fail(origin, t + " has unsupported dtype " + std::string(c10::toString(tensor.scalar_type())),
           std::string("convert it to one of ") + kSupported);
    at::Tensor cpu = tensor.detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(cpu.numel()) * cpu.element_size();
    std::vector<int64_t> shape(cpu.sizes().begin(), cpu.sizes().end());
    header += (header.size() > 1 ? "," : "") + json_string(name, "tensor name", origin) +
              ":{\"dtype\":\"" + dtype->name + "\",\"shape\":" + shape_text(shape) +
              ",\"data_offsets\":[" + std::to_string(p.data_bytes) + "," +
              std::to_string(p.data_bytes + nbytes) + "]}";
    p.data_bytes += nbytes;
    p.data.push_back(std::move(cpu));
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderBytes)
    fail(origin,
         "header of " + std::to_string(header.size()) + " bytes exceeds the " +
             std::to_string(kMaxHeaderBytes) + "-byte limit",
         "split the tensors or shorten names/metadata");
  uint64_t n = header.size();
  p.head.resize(8);
  for (int i = 0; i < 8; ++i) p.head[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  p.head += header;
  return p;
}

// Writes all of [data, data+size) to fd, retrying short writes and EINTR; returns errno or 0.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t w = ::write(fd, data, std::min<size_t>(size, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += w;
    size -= static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace

const at::Tensor* SafetensorsData::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

std::string encode_safetensors(const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata, "encode_safetensors");
  std::string out = std::move(p.head);
  out.reserve(out.size() + p.data_bytes);
  for (const at::Tensor& t : p.data)
    out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

namespace {
// The format's checks on `size` bytes at `data`. Tensors are copied out, or, with a `mapping`
// that owns the bytes (map_safetensors), views into them that keep the mapping alive.
SafetensorsData decode_bytes(const char* data, uint64_t size, const std::string& origin,
                             const std::shared_ptr<void>& mapping) {
  const std::string_view bytes(data, size);
  const char* not_st = "truncated or not a safetensors file?";
  if (bytes.size() < 8)
    fail(
        origin,
        "file is " + std::to_string(bytes.size()) + " bytes, shorter than the 8-byte header length",
        not_st);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > kMaxHeaderBytes)
    fail(origin,
         "header length " + std::to_string(n) + " exceeds the " + std::to_string(kMaxHeaderBytes) +
             "-byte limit",
         "corrupt file or not a safetensors file?");
  if (n > bytes.size() - 8)
    fail(
        origin,
        "header length " + std::to_string(n) + " exceeds file size " + std::to_string(bytes.size()),
        not_st);
  if (n == 0 || bytes[8] != '{')
    fail(origin, "header does not start with '{'", "not a safetensors file?");

  const json header = parse_header(bytes.data() + 8, bytes.data() + 8 + n, origin);
  if (!header.is_object()) fail(origin, "header is not a JSON object", "not a safetensors file?");

  const uint64_t buffer_size = bytes.size() - 8 - n;
  const char* buffer = bytes.data() + 8 + n;
  SafetensorsData out;
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      if (!item.value().is_object())
        fail(origin, "\"__metadata__\" must be an object, got " + brief(item.value()),
             "metadata maps strings to strings");
      for (const auto& m : item.value().items()) {
        if (!m.value().is_string())
          fail(origin,
               "metadata value of " + quote(m.key()) + " must be a string, got " + brief(m.value()),
               "metadata maps strings to strings; quote the value");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(item.key(), item.value(), buffer_size, origin));
  }
  check_tiling(entries, buffer_size, origin);

  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    const char* src = buffer + e.begin;
    const size_t size = e.end - e.begin;
    if (e.dtype->type == at::kBool) {
      for (size_t i = 0; i < size; ++i)
        if (static_cast<unsigned char>(src[i]) > 1)
          fail(origin,
               "tensor " + quote(e.name) + ": BOOL byte at data offset " +
                   std::to_string(e.begin + i) + " is " +
                   std::to_string(static_cast<unsigned char>(src[i])),
               "BOOL values must be 0 or 1");
    }
    const auto options = at::TensorOptions().dtype(e.dtype->type);
    const auto element = static_cast<uintptr_t>(c10::elementSize(e.dtype->type));
    at::Tensor t;
    if (mapping && size > 0 && reinterpret_cast<uintptr_t>(src) % element == 0) {
      t = at::from_blob(
          const_cast<char*>(src), e.shape, [mapping](void*) {}, options);
    } else {  // copied: no mapping, or data not aligned to its element size
      t = at::empty(e.shape, options);
      if (size > 0) std::memcpy(t.data_ptr(), src, size);
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

// Opens a regular file for reading: its descriptor, and its size in *size.
int open_regular(const std::string& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail(path, "cannot open " + quote(path) + ": " + errno_text(err),
         "check the path and permissions");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "cannot open " + quote(path) + ": not a regular file", "pass a .safetensors file");
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}
}  // namespace

SafetensorsData decode_safetensors(const std::string& bytes, const std::string& origin) {
  return decode_bytes(bytes.data(), bytes.size(), origin, nullptr);
}

SafetensorsData map_safetensors(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_regular(path, &size);
  if (size < 8) {
    ::close(fd);
    fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length",
         "truncated or not a safetensors file?");
  }
  // Private and writable: a tensor written in place (a merged LoRA weight) gets its own copy
  // of the pages it writes; the file is never changed.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED)
    fail(path, "cannot map " + quote(path) + " into memory: " + errno_text(err),
         "check the file and the address space (ulimit -v)");
  std::shared_ptr<void> mapping(p, [size](void* q) { ::munmap(q, size); });
  return decode_bytes(static_cast<const char*>(p), size, path, mapping);
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const Prepared p = prepare(tensors, metadata, path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    fail(path, "cannot create " + quote(tmp) + ": " + errno_text(err),
         "check that the directory exists and is writable");
  }
  auto give_up = [&](const std::string& step, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, step + " " + quote(tmp) + " failed: " + errno_text(err),
         "check free disk space and permissions");
  };
  if (int err = write_all(fd, p.head.data(), p.head.size())) give_up("writing", err);
  for (const at::Tensor& t : p.data)
    if (int err =
            write_all(fd, static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()))
      give_up("writing", err);
  if (::fsync(fd) != 0) give_up("fsync of", errno);
  const int close_rc = ::close(fd);
  fd = -1;
  if (close_rc != 0) give_up("closing", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("renaming over the target", errno);
  // Make the rename durable (best effort).
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

SafetensorsData read_safetensors(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_regular(path, &size);
  std::string bytes(static_cast<size_t>(size), '\0');
  size_t got = 0;
  for (;;) {
    // Fill the presized buffer; past it (file grew), read through a small chunk to find EOF.
    char chunk[4096];
    const bool in_place = got < bytes.size();
    char* dst = in_place ? &bytes[got] : chunk;
    const size_t cap = in_place ? bytes.size() - got : sizeof chunk;
    const ssize_t r = ::read(fd, dst, cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail(path, "reading failed: " + errno_text(err), "check the file and the disk");
    }
    if (r == 0) break;
    if (!in_place) bytes.append(chunk, static_cast<size_t>(r));
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return decode_safetensors(bytes, path);
}

}  // namespace lorascape::core
