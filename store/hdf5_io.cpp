// The HDF5 plumbing shared by the run and scan files. The HDF5 C++ API does the work; the C
// API fills its gaps in 1.10 (group creation property lists for link creation order, object
// time tracking, link iteration by creation order).
#include "store/hdf5_io.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store/error.h"

namespace lorascape::store::detail {

namespace fs = std::filesystem;

void fail(const std::string& file, const std::string& object, const std::string& problem,
          const std::string& hint) {
  std::string msg = file + ": ";
  if (!object.empty()) msg += object + ": ";
  throw FormatError(msg + problem + "; " + hint);
}

std::string join(const std::string& parent, const std::string& child) {
  return parent == "/" ? "/" + child : parent + "/" + child;
}

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

bool valid_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

std::string index_name(size_t index, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*zu", width, index);
  return buf;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void check(int64_t status, const char* what) {
  if (status < 0) throw H5::Exception(what, "HDF5 C call failed");
}

namespace {

// The innermost message on this thread's HDF5 error stack (where the library detected the
// problem, e.g. "truncated file: eof = ..."), or "" when the stack is empty.
std::string hdf5_cause() {
  std::string cause;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc) *static_cast<std::string*>(data) = err->desc;
        return 0;
      },
      &cause);
  return cause;
}

// A group creation property list: links kept in creation order (so the order of tensors and
// methods survives), no object timestamps (so the file bytes are deterministic).
H5::PropList group_create_plist() {
  H5::PropList gcpl(H5P_GROUP_CREATE);  // a property list class id: creates a new list
  check(H5Pset_link_creation_order(gcpl.getId(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order");
  check(H5Pset_obj_track_times(gcpl.getId(), 0), "H5Pset_obj_track_times");
  return gcpl;
}

// fsyncs a file or folder; returns 0 or the errno of the failure.
int sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

std::string describe(const H5::Exception& e) {
  std::string s = e.getFuncName().empty() ? "" : e.getFuncName() + ": ";
  s += e.getDetailMsg();
  const std::string cause = hdf5_cause();
  if (!cause.empty()) s += " (" + cause + ")";
  return s;
}

H5::StrType utf8_vlen() {
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  return t;
}

void write_atomically(const std::string& path,
                      const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
    if (int err = sync_path(tmp, false))
      fail(path, "", std::string("cannot sync ") + tmp + ": " + std::strerror(err),
           "check the disk and the folder's permissions");
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      fail(path, "", std::string("cannot rename ") + tmp + " over it: " + std::strerror(errno),
           "check that the folder is writable");
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fs::path dir = fs::path(path).parent_path();
  (void)sync_path(dir.empty() ? "." : dir.string(), true);  // best effort: some refuse it
}

// ------------------------------------------------------------------------------------------
// H5Writer.

H5Writer::H5Writer(std::string file) : file_(std::move(file)), gcpl_(group_create_plist()) {
  check(H5Pset_obj_track_times(dcpl_.getId(), 0), "H5Pset_obj_track_times");
}

void H5Writer::guard(const std::function<void()>& body) {
  try {
    body();
  } catch (const H5::Exception& e) {
    fail(file_, where_, "HDF5 error while writing (" + describe(e) + ")",
         "check that the disk has free space");
  }
}

H5::H5File H5Writer::create(const std::string& out_path) {
  where_ = "/";
  H5::FileCreatPropList fcpl;
  check(H5Pset_link_creation_order(fcpl.getId(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order");
  check(H5Pset_obj_track_times(fcpl.getId(), 0), "H5Pset_obj_track_times");
  try {
    return H5::H5File(out_path, H5F_ACC_TRUNC, fcpl);
  } catch (const H5::Exception& e) {
    fail(file_, "", "cannot create " + out_path + " (" + describe(e) + ")",
         "check that the folder exists and is writable");
  }
}

void H5Writer::finish(H5::H5File& f) {
  where_ = "/";
  f.flush(H5F_SCOPE_GLOBAL);
  f.close();
}

H5::Group H5Writer::group(H5::Group& parent, const std::string& pp, const std::string& name) {
  where_ = join(pp, name);
  hid_t id = H5Gcreate2(parent.getId(), name.c_str(), H5P_DEFAULT, gcpl_.getId(), H5P_DEFAULT);
  check(id, "H5Gcreate2");
  H5::Group g(id);  // takes its own reference
  H5Gclose(id);
  return g;
}

void H5Writer::str_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                        const std::string& value) {
  where_ = join(op, name);
  H5::StrType type = utf8_vlen();
  H5::Attribute a = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  const char* p = value.c_str();
  a.write(type, &p);
}

void H5Writer::int_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                        int64_t value, const H5::PredType& file_type) {
  where_ = join(op, name);
  H5::Attribute a = obj.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
  a.write(H5::PredType::NATIVE_INT64, &value);
}

void H5Writer::f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                        double value) {
  where_ = join(op, name);
  H5::Attribute a = obj.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
  a.write(H5::PredType::NATIVE_DOUBLE, &value);
}

void H5Writer::str_list(H5::Group& g, const std::string& gp, const std::string& name,
                        const std::vector<std::string>& values) {
  where_ = join(gp, name);
  hsize_t n = values.size();
  H5::StrType type = utf8_vlen();
  H5::DataSet ds = g.createDataSet(name, type, H5::DataSpace(1, &n), dcpl_);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) ds.write(ptrs.data(), type);
}

namespace {

H5::DataSpace space_of(const std::vector<hsize_t>& dims) {
  return dims.empty() ? H5::DataSpace(H5S_SCALAR)
                      : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
}

}  // namespace

void H5Writer::f64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                           const std::vector<hsize_t>& dims, const std::vector<double>& values) {
  where_ = join(gp, name);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F64LE, space_of(dims), dcpl_);
  if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_DOUBLE);
}

void H5Writer::u8_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                          const std::vector<hsize_t>& dims, const std::vector<uint8_t>& values) {
  where_ = join(gp, name);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::STD_U8LE, space_of(dims), dcpl_);
  if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_UINT8);
}

void H5Writer::f32_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                           const std::vector<hsize_t>& dims, const std::vector<float>& values) {
  where_ = join(gp, name);
  H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F32LE, space_of(dims), dcpl_);
  if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
}

// ------------------------------------------------------------------------------------------
// H5Reader.

H5Reader::H5Reader(std::string file, std::string what)
    : file_(std::move(file)), what_(std::move(what)) {}

void H5Reader::bad(const std::string& object, const std::string& problem,
                   const std::string& hint) const {
  fail(file_, object, problem, hint);
}

H5::H5File H5Reader::open() {
  std::error_code ec;
  if (!fs::exists(file_, ec)) fail(file_, "", "file does not exist", "check the path");
  if (fs::is_directory(file_, ec))
    fail(file_, "", "is a directory, not a " + what_, "point to the .h5 " + what_);
  if (::access(file_.c_str(), R_OK) != 0)
    fail(file_, "", std::string("cannot be read (") + std::strerror(errno) + ")",
         "check the file's permissions");
  if (H5Fis_hdf5(file_.c_str()) <= 0)
    fail(file_, "", "not an HDF5 file (truncated, or a different format)",
         "point to a lorascape " + what_ + " (.h5)");
  H5::H5File f;
  try {
    f.openFile(file_, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    fail(file_, "", "HDF5 cannot open it (" + describe(e) + ")",
         "the file is truncated or damaged; rewrite it with lorascape");
  }
  return f;
}

namespace {

// Debian 12's HDF5 (1.10.8) itself crashes on some damaged files (a segmentation fault inside
// H5F__accum_read or H5HG_read, found by tests/fuzz/fuzz_scan_file and fuzz_run_file) before it
// returns any error. While a reader runs, a SIGSEGV or SIGBUS therefore ends the process with
// the one-line error naming the file and exit code 2 instead of a crash: nothing is being
// written, and the HDF5 library's state cannot be trusted after such a fault.
char g_crash_line[1024];
size_t g_crash_len = 0;
std::atomic<int> g_crash_depth{0};
struct sigaction g_old_segv, g_old_bus;

extern "C" void on_hdf5_crash(int) {
  ssize_t ignored = ::write(2, g_crash_line, g_crash_len);
  (void)ignored;
  ::_exit(2);
}

class CrashLine {
 public:
  explicit CrashLine(const std::string& file) {
    if (g_crash_depth.fetch_add(1) != 0) return;  // the outermost reader's file is named
    const int n = std::snprintf(g_crash_line, sizeof g_crash_line,
                                "lorascape: error: %s: the HDF5 library crashed reading it (the "
                                "file is damaged or was not written by lorascape; rewrite it "
                                "with lorascape)\n",
                                file.c_str());
    g_crash_len = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof g_crash_line - 1);
    if (n >= static_cast<int>(sizeof g_crash_line)) g_crash_line[g_crash_len - 1] = '\n';
    struct sigaction sa {};
    sa.sa_handler = on_hdf5_crash;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &g_old_segv);
    ::sigaction(SIGBUS, &sa, &g_old_bus);
  }
  ~CrashLine() {
    if (g_crash_depth.fetch_sub(1) != 1) return;
    ::sigaction(SIGSEGV, &g_old_segv, nullptr);
    ::sigaction(SIGBUS, &g_old_bus, nullptr);
  }
  CrashLine(const CrashLine&) = delete;
  CrashLine& operator=(const CrashLine&) = delete;
};

}  // namespace

void H5Reader::guard(const std::function<void()>& body) {
  const CrashLine crash_line(file_);
  try {
    body();
  } catch (const H5::Exception& e) {
    fail(file_, where_, "HDF5 error while reading (" + describe(e) + ")", kHintRead);
  }
}

int H5Reader::check_format(H5::H5File& f, const std::string& format, int newest) {
  where_ = "/";
  if (!f.attrExists("format"))
    bad("/format", "missing root attribute, this is not a lorascape " + what_,
        "open a " + what_ + " written by lorascape");
  const std::string found = str_attr(f, "/", "format");
  if (found != format) {
    // The sibling formats get a precise hint.
    std::string hint = "this is not a lorascape " + what_ + "; open it with the tool that wrote it";
    if (found == "lorascape-run") hint = "this is a lorascape run file, not a " + what_;
    if (found == "lorascape-scan") hint = "this is a lorascape scan file, not a " + what_;
    bad("/format", "is '" + found + "', expected '" + format + "'", hint);
  }
  const int64_t version = int_attr(f, "/", "format_version");
  if (version > newest)
    bad("/format_version",
        std::to_string(version) + " is newer than this lorascape (" + std::to_string(newest) + ")",
        "upgrade lorascape");
  if (version < 1)
    bad("/format_version", std::to_string(version) + " is not a valid version (>= 1)");
  return static_cast<int>(version);
}

std::vector<int64_t> H5Reader::dims_of(const H5::DataSpace& space, const std::string& object) {
  if (space.getSimpleExtentType() == H5S_NULL) bad(object, "has a null dataspace");
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  // Sizes are checked before anything is allocated: an empty dataset of shape (2^40, 0) made
  // the readers build 2^40 empty rows; a never-written dataset of 2^40 elements takes a few
  // bytes on disk.
  bool empty = false;
  double elements = 1;
  for (hsize_t d : dims) {
    empty = empty || d == 0;
    elements *= static_cast<double>(d);
  }
  constexpr hsize_t kMaxEmptyDim = hsize_t{1} << 24;
  if (empty)
    for (hsize_t d : dims)
      if (d > kMaxEmptyDim)
        bad(object, "is empty but has a dimension of " + std::to_string(d) + " (at most " +
                        std::to_string(kMaxEmptyDim) + ")");
  const double memory =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (!empty && elements * 8 > memory)
    bad(object,
        "has " + std::to_string(static_cast<uint64_t>(std::min(elements, 1.8e19))) +
            " elements, more than this machine's memory holds (" +
            std::to_string(static_cast<uint64_t>(memory / (1 << 20))) + " MiB)",
        "the file is damaged, or was written for a larger machine");
  return std::vector<int64_t>(dims.begin(), dims.end());
}

H5::Group H5Reader::open_group(H5::Group& parent, const std::string& pp, const std::string& name) {
  where_ = join(pp, name);
  if (!parent.nameExists(name)) bad(where_, "required group is missing");
  if (parent.childObjType(name) != H5O_TYPE_GROUP) bad(where_, "is not a group");
  return parent.openGroup(name);
}

std::vector<std::string> H5Reader::children(H5::Group& g, const std::string& gp, H5O_type_t type) {
  where_ = gp;
  H5_index_t index = H5_INDEX_NAME;
  {
    hid_t gcpl = H5Gget_create_plist(g.getId());
    check(gcpl, "H5Gget_create_plist");
    unsigned flags = 0;
    herr_t status = H5Pget_link_creation_order(gcpl, &flags);
    H5Pclose(gcpl);
    check(status, "H5Pget_link_creation_order");
    if (flags & H5P_CRT_ORDER_INDEXED) index = H5_INDEX_CRT_ORDER;
  }
  H5G_info_t info;
  check(H5Gget_info(g.getId(), &info), "H5Gget_info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    check(n, "H5Lget_name_by_idx");
    std::vector<char> buf(static_cast<size_t>(n) + 1, '\0');
    check(H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, buf.data(), buf.size(),
                             H5P_DEFAULT),
          "H5Lget_name_by_idx");
    const std::string name(buf.data(), static_cast<size_t>(n));
    H5L_info_t linfo;
    check(H5Lget_info(g.getId(), name.c_str(), &linfo, H5P_DEFAULT), "H5Lget_info");
    if (linfo.type != H5L_TYPE_HARD) continue;  // soft/external links: ignored
    if (g.childObjType(name) == type) names.push_back(name);
  }
  return names;
}

std::vector<std::string> H5Reader::attr_names(H5::H5Object& obj, const std::string& op) {
  where_ = op;
  std::vector<std::string> names;
  const int n = obj.getNumAttrs();
  for (int i = 0; i < n; ++i) {
    ssize_t len = H5Aget_name_by_idx(obj.getId(), ".", H5_INDEX_NAME, H5_ITER_INC,
                                     static_cast<hsize_t>(i), nullptr, 0, H5P_DEFAULT);
    check(len, "H5Aget_name_by_idx");
    std::vector<char> buf(static_cast<size_t>(len) + 1, '\0');
    check(H5Aget_name_by_idx(obj.getId(), ".", H5_INDEX_NAME, H5_ITER_INC, static_cast<hsize_t>(i),
                             buf.data(), buf.size(), H5P_DEFAULT),
          "H5Aget_name_by_idx");
    names.emplace_back(buf.data(), static_cast<size_t>(len));
  }
  return names;
}

H5::Attribute H5Reader::open_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                                  H5T_class_t want, const char* what) {
  where_ = join(op, name);
  if (!obj.attrExists(name)) bad(where_, "required attribute is missing");
  H5::Attribute a = obj.openAttribute(name);
  H5T_class_t c = a.getTypeClass();
  bool ok = c == want || (want == H5T_FLOAT && c == H5T_INTEGER);
  if (!ok) bad(where_, std::string("attribute is not ") + what);
  if (a.getSpace().getSimpleExtentNpoints() != 1)
    bad(where_, "attribute holds " + std::to_string(a.getSpace().getSimpleExtentNpoints()) +
                    " values, expected one");
  return a;
}

std::string H5Reader::str_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
  H5::Attribute a = open_attr(obj, op, name, H5T_STRING, "a string");
  H5::StrType type = a.getStrType();
  std::string s;
  a.read(type, s);  // variable- or fixed-length, chosen from the file type
  return s;
}

int64_t H5Reader::int_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
  H5::Attribute a = open_attr(obj, op, name, H5T_INTEGER, "an integer");
  int64_t v = 0;
  a.read(H5::PredType::NATIVE_INT64, &v);
  return v;
}

double H5Reader::f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
  H5::Attribute a = open_attr(obj, op, name, H5T_FLOAT, "a number");
  double v = 0;
  a.read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

H5::DataSet H5Reader::open_dataset(H5::Group& g, const std::string& gp, const std::string& name) {
  where_ = join(gp, name);
  if (!g.nameExists(name) || g.childObjType(name) != H5O_TYPE_DATASET)
    bad(where_, "required dataset is missing");
  return g.openDataSet(name);
}

std::vector<std::string> H5Reader::str_list(H5::Group& g, const std::string& gp,
                                            const std::string& name) {
  H5::DataSet ds = open_dataset(g, gp, name);
  if (ds.getTypeClass() != H5T_STRING) bad(where_, "is not a string dataset");
  H5::DataSpace space = ds.getSpace();
  std::vector<int64_t> dims = dims_of(space, where_);
  if (dims.size() != 1) bad(where_, "has shape " + shape_str(dims) + ", expected 1-D");
  const size_t n = static_cast<size_t>(dims[0]);
  std::vector<std::string> out;
  if (n == 0) return out;
  H5::StrType file_type = ds.getStrType();
  if (file_type.isVariableStr()) {
    H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
    mem.setCset(file_type.getCset());
    std::vector<char*> ptrs(n, nullptr);
    ds.read(ptrs.data(), mem);
    for (char* p : ptrs) {
      out.emplace_back(p ? p : "");
      if (p) H5free_memory(p);
    }
  } else {
    const size_t size = file_type.getSize();
    std::vector<char> buf(n * size);
    ds.read(buf.data(), file_type);
    for (size_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * size;
      out.emplace_back(p, strnlen(p, size));
    }
  }
  return out;
}

std::vector<double> H5Reader::f64_dataset(H5::Group& g, const std::string& gp,
                                          const std::string& name, std::vector<int64_t>& dims) {
  H5::DataSet ds = open_dataset(g, gp, name);
  H5T_class_t c = ds.getTypeClass();
  if (c != H5T_FLOAT && c != H5T_INTEGER) bad(where_, "is not a numeric dataset");
  H5::DataSpace space = ds.getSpace();
  dims = dims_of(space, where_);
  std::vector<double> v(static_cast<size_t>(space.getSimpleExtentNpoints()));
  if (!v.empty()) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
  return v;
}

std::vector<int64_t> H5Reader::i64_dataset(H5::Group& g, const std::string& gp,
                                           const std::string& name, std::vector<int64_t>& dims) {
  H5::DataSet ds = open_dataset(g, gp, name);
  if (ds.getTypeClass() != H5T_INTEGER) bad(where_, "is not an integer dataset");
  H5::DataSpace space = ds.getSpace();
  dims = dims_of(space, where_);
  std::vector<int64_t> v(static_cast<size_t>(space.getSimpleExtentNpoints()));
  if (!v.empty()) ds.read(v.data(), H5::PredType::NATIVE_INT64);
  return v;
}

}  // namespace lorascape::store::detail
