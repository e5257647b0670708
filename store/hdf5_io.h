// Internal to lorascape_store: the HDF5 plumbing shared by the run file (run_file.cpp) and the
// scan file (scan_file.cpp). Not part of the public API; include the file headers instead.
//
// Both writers and readers keep `where_`, the HDF5 path they are working on, so that an
// H5::Exception turns into a FormatError naming the object at fault. Every message has the
// form "<file>: <object>: <problem>; <hint>" (docs/hdf5-schema.md).
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lorascape::store::detail {

// Throws FormatError("<file>: <object>: <problem>; <hint>"); `object` may be empty.
[[noreturn]] void fail(const std::string& file, const std::string& object,
                       const std::string& problem, const std::string& hint);

// "/a" + "b" -> "/a/b", "/" + "b" -> "/b".
std::string join(const std::string& parent, const std::string& child);

// "(2, 3)".
std::string shape_str(const std::vector<int64_t>& dims);

// A name usable as one HDF5 link or attribute name: non-empty, no '/', not "." or "..".
bool valid_name(const std::string& s);

// Zero-padded decimal index, at least `width` digits: index_name(3, 2) == "03".
std::string index_name(size_t index, int width);

// True for a non-empty string of at most 9 decimal digits (an index_name).
bool is_index(const std::string& s);

// Throws an H5::Exception when a C API call returned a negative status.
void check(int64_t status, const char* what);

// "H5Fopen failed: truncated file: ..." from an exception of the C++ API, with the innermost
// message of this thread's HDF5 error stack.
std::string describe(const H5::Exception& e);

// Variable-length UTF-8 string type.
H5::StrType utf8_vlen();

// Writes a file crash-safely: `write(tmp)` writes the complete file to "<path>.tmp.<pid>",
// which is then fsynced and renamed over `path`, and the folder is fsynced (best effort). On
// any failure the temp file is removed and a FormatError naming `path` is thrown, so `path`
// always holds either the old or the new complete file.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write);

// ------------------------------------------------------------------------------------------
// Writer base: creation property lists that make the bytes deterministic (no timestamps,
// link creation order tracked) and typed helpers that keep `where_` up to date.

class H5Writer {
 public:
  explicit H5Writer(std::string file);

 protected:
  // Creates (truncates) `out_path` with creation order tracked in the root group.
  H5::H5File create(const std::string& out_path);
  // Flushes and closes `f`.
  void finish(H5::H5File& f);
  // Converts an H5::Exception thrown by `body` into a FormatError naming `where_`.
  void guard(const std::function<void()>& body);

  H5::Group group(H5::Group& parent, const std::string& pp, const std::string& name);
  void str_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                const std::string& value);
  void int_attr(H5::H5Object& obj, const std::string& op, const std::string& name, int64_t value,
                const H5::PredType& file_type);
  void f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name, double value);
  void str_list(H5::Group& g, const std::string& gp, const std::string& name,
                const std::vector<std::string>& values);
  // float64 dataset of shape `dims` (rank 0 = scalar dataspace); values row-major.
  void f64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                   const std::vector<hsize_t>& dims, const std::vector<double>& values);
  // uint8 dataset of shape `dims`.
  void u8_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                  const std::vector<hsize_t>& dims, const std::vector<uint8_t>& values);
  // float32 dataset of shape `dims`.
  void f32_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                   const std::vector<hsize_t>& dims, const std::vector<float>& values);

  std::string file_;
  std::string where_;
  H5::PropList gcpl_;
  H5::DSetCreatPropList dcpl_;
};

// ------------------------------------------------------------------------------------------
// Reader base: opening with clean errors, the format check, and typed getters that convert
// whatever numeric and string types the file uses.

class H5Reader {
 public:
  // `what` names the kind of file in messages: "run file", "scan file".
  H5Reader(std::string file, std::string what);

 protected:
  static constexpr const char* kHintRead =
      "the file is damaged or was not written by lorascape; rewrite it with lorascape";

  [[noreturn]] void bad(const std::string& object, const std::string& problem,
                        const std::string& hint = kHintRead) const;

  // Checks existence, readability and the HDF5 signature, then opens read-only.
  H5::H5File open();
  // Runs `body`, converting an H5::Exception into a FormatError naming `where_`.
  void guard(const std::function<void()>& body);
  // The whole file as read_file(f) reads it, under guard: opened (open()), read, closed.
  template <class ReadFile>
  auto read_whole(ReadFile read_file) {
    decltype(read_file(std::declval<H5::H5File&>())) d;
    guard([&] {
      H5::H5File f = open();
      d = read_file(f);
      where_ = "/";
      f.close();
    });
    return d;
  }
  // Checks the root attributes "format" (== `format`) and "format_version" (in [1, newest])
  // before anything else; returns the version.
  int check_format(H5::H5File& f, const std::string& format, int newest);

  H5::Group open_group(H5::Group& parent, const std::string& pp, const std::string& name);
  // Names of the hard links of `g` to objects of `type`, in creation order when tracked,
  // otherwise in name order.
  std::vector<std::string> children(H5::Group& g, const std::string& gp, H5O_type_t type);
  std::vector<std::string> attr_names(H5::H5Object& obj, const std::string& op);
  H5::Attribute open_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                          H5T_class_t want, const char* what);
  std::string str_attr(H5::H5Object& obj, const std::string& op, const std::string& name);
  int64_t int_attr(H5::H5Object& obj, const std::string& op, const std::string& name);
  double f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name);
  H5::DataSet open_dataset(H5::Group& g, const std::string& gp, const std::string& name);
  std::vector<std::string> str_list(H5::Group& g, const std::string& gp, const std::string& name);
  // Any integer or floating-point dataset, converted to float64; `dims` receives its shape.
  std::vector<double> f64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                                  std::vector<int64_t>& dims);
  // Any integer dataset, converted to int64; `dims` receives its shape.
  std::vector<int64_t> i64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                                   std::vector<int64_t>& dims);
  std::vector<int64_t> dims_of(const H5::DataSpace& space, const std::string& object);

  std::string file_;
  std::string what_;
  std::string where_;
};

}  // namespace lorascape::store::detail
