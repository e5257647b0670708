// The training checkpoint file (docs/hdf5-schema.md, Part III).
#include "store/checkpoint_file.h"

#include "store/error.h"
#include "store/hdf5_io.h"

namespace lorascape::store {

using detail::H5Reader;
using detail::H5Writer;

namespace {

constexpr const char* kHintWrite = "this is a bug in lorascape; please report it";

// The file type and memory type of a dtype; false for an unknown dtype.
bool h5_types(const std::string& dtype, H5::PredType& file, H5::PredType& mem) {
  if (dtype == "float32") {
    file = H5::PredType::IEEE_F32LE;
    mem = H5::PredType::NATIVE_FLOAT;
  } else if (dtype == "float64") {
    file = H5::PredType::IEEE_F64LE;
    mem = H5::PredType::NATIVE_DOUBLE;
  } else if (dtype == "bfloat16" || dtype == "float16") {
    // The 16-bit patterns, unchanged (HDF5 has no bfloat16; the attribute "dtype" says which).
    file = H5::PredType::STD_U16LE;
    mem = H5::PredType::NATIVE_UINT16;
  } else if (dtype == "int64") {
    file = H5::PredType::STD_I64LE;
    mem = H5::PredType::NATIVE_INT64;
  } else if (dtype == "uint8") {
    file = H5::PredType::STD_U8LE;
    mem = H5::PredType::NATIVE_UINT8;
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t cut = path.find('/', start);
    parts.push_back(path.substr(start, cut == std::string::npos ? std::string::npos : cut - start));
    if (cut == std::string::npos) break;
    start = cut + 1;
  }
  return parts;
}

size_t elements(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

void validate(const std::string& path, const CheckpointData& d) {
  auto bad = [&](const std::string& object, const std::string& problem) {
    detail::fail(path, object, problem, kHintWrite);
  };
  if (d.stages_total < 1 || d.stages_done < 1 || d.stages_done > d.stages_total)
    bad("/stages_done", std::to_string(d.stages_done) + " of " + std::to_string(d.stages_total) +
                            " stages is not a valid count");
  for (const auto& a : d.arrays) {
    const std::string object = "/state/" + a.path;
    for (const auto& part : split_path(a.path))
      if (!detail::valid_name(part)) bad(object, "is not a valid path of HDF5 names");
    const size_t size = checkpoint_dtype_size(a.dtype);
    if (size == 0) bad(object, "unknown dtype '" + a.dtype + "'");
    for (int64_t dim : a.shape)
      if (dim < 0) bad(object, "negative dimension in shape " + detail::shape_str(a.shape));
    if (a.bytes.size() != elements(a.shape) * size)
      bad(object, std::to_string(a.bytes.size()) + " bytes do not match shape " +
                      detail::shape_str(a.shape) + " of " + a.dtype);
  }
}

void str_dataset(H5::Group& g, const std::string& name, const std::string& value,
                 const H5::DSetCreatPropList& dcpl) {
  H5::StrType type = detail::utf8_vlen();
  H5::DataSet ds = g.createDataSet(name, type, H5::DataSpace(H5S_SCALAR), dcpl);
  const char* p = value.c_str();
  ds.write(&p, type);
}

class Writer : public H5Writer {
 public:
  using H5Writer::H5Writer;

  void write(const std::string& out_path, const CheckpointData& d) {
    guard([&] {
      H5::H5File f = create(out_path);
      {
        str_attr(f, "/", "format", kCheckpointFormat);
        int_attr(f, "/", "format_version", kCheckpointFormatVersion, H5::PredType::STD_I32LE);
        str_attr(f, "/", "software_version", d.software_version);
        str_attr(f, "/", "created", d.created);
        str_attr(f, "/", "method", d.method);
        int_attr(f, "/", "stages_done", d.stages_done, H5::PredType::STD_I64LE);
        int_attr(f, "/", "stages_total", d.stages_total, H5::PredType::STD_I64LE);
        where_ = "/key_json";
        str_dataset(f, "key_json", d.key_json, dcpl_);
        where_ = "/state_json";
        str_dataset(f, "state_json", d.state_json, dcpl_);
        H5::Group state = group(f, "/", "state");
        for (const auto& a : d.arrays) array(state, a);
      }
      finish(f);
    });
  }

 private:
  void array(H5::Group& state, const CheckpointArray& a) {
    const auto parts = split_path(a.path);
    H5::Group g = state;
    std::string gp = "/state";
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (g.nameExists(parts[i])) {
        where_ = detail::join(gp, parts[i]);
        g = g.openGroup(parts[i]);
      } else {
        g = group(g, gp, parts[i]);
      }
      gp = detail::join(gp, parts[i]);
    }
    where_ = detail::join(gp, parts.back());
    H5::PredType file = H5::PredType::STD_U8LE, mem = H5::PredType::NATIVE_UINT8;
    h5_types(a.dtype, file, mem);
    std::vector<hsize_t> dims(a.shape.begin(), a.shape.end());
    H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR)
                                       : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
    H5::DataSet ds = g.createDataSet(parts.back(), file, space, dcpl_);
    if (!a.bytes.empty()) ds.write(a.bytes.data(), mem);
    str_attr(ds, where_, "dtype", a.dtype);
  }
};

class Reader : public H5Reader {
 public:
  explicit Reader(std::string file) : H5Reader(std::move(file), "checkpoint file") {}

  CheckpointData read() {
    return read_whole([&](H5::H5File& f) {
      CheckpointData d;
      check_format(f, kCheckpointFormat, kCheckpointFormatVersion);
      d.software_version = str_attr(f, "/", "software_version");
      d.created = str_attr(f, "/", "created");
      d.method = str_attr(f, "/", "method");
      d.stages_done = int_attr(f, "/", "stages_done");
      d.stages_total = int_attr(f, "/", "stages_total");
      if (d.stages_total < 1 || d.stages_done < 1 || d.stages_done > d.stages_total)
        bad("/stages_done", std::to_string(d.stages_done) + " of " +
                                std::to_string(d.stages_total) + " stages is not a valid count");
      d.key_json = str_dataset(f, "key_json");
      d.state_json = str_dataset(f, "state_json");
      H5::Group state = open_group(f, "/", "state");
      arrays(state, "/state", "", d.arrays);
      return d;
    });
  }

 private:
  std::string str_dataset(H5::Group& g, const std::string& name) {
    H5::DataSet ds = open_dataset(g, "/", name);
    if (ds.getTypeClass() != H5T_STRING) bad(where_, "is not a string dataset");
    H5::StrType type = detail::utf8_vlen();
    std::string value;
    ds.read(value, type);
    return value;
  }

  void arrays(H5::Group& g, const std::string& gp, const std::string& prefix,
              std::vector<CheckpointArray>& out) {
    for (const auto& name : children(g, gp, H5O_TYPE_GROUP)) {
      H5::Group sub = open_group(g, gp, name);
      arrays(sub, detail::join(gp, name), prefix + name + "/", out);
    }
    for (const auto& name : children(g, gp, H5O_TYPE_DATASET)) {
      CheckpointArray a;
      a.path = prefix + name;
      H5::DataSet ds = open_dataset(g, gp, name);
      const std::string object = where_;
      a.dtype = str_attr(ds, object, "dtype");
      where_ = object;
      H5::PredType file = H5::PredType::STD_U8LE, mem = H5::PredType::NATIVE_UINT8;
      if (!h5_types(a.dtype, file, mem)) bad(object, "unknown dtype '" + a.dtype + "'");
      H5::DataSpace space = ds.getSpace();
      a.shape = dims_of(space, object);
      a.bytes.resize(elements(a.shape) * checkpoint_dtype_size(a.dtype));
      if (!a.bytes.empty()) ds.read(a.bytes.data(), mem);
      out.push_back(std::move(a));
    }
  }
};

}  // namespace

size_t checkpoint_dtype_size(const std::string& dtype) {
  if (dtype == "float32") return 4;
  if (dtype == "float64" || dtype == "int64") return 8;
  if (dtype == "bfloat16" || dtype == "float16") return 2;
  if (dtype == "uint8") return 1;
  return 0;
}

void write_checkpoint_file(const std::string& path, const CheckpointData& data) {
  H5::Exception::dontPrint();
  validate(path, data);
  detail::write_atomically(path, [&](const std::string& tmp) { Writer(path).write(tmp, data); });
}

CheckpointData read_checkpoint_file(const std::string& path) {
  H5::Exception::dontPrint();
  return Reader(path).read();
}

}  // namespace lorascape::store
