// The run file in HDF5. docs/hdf5-schema.md is the normative layout; keep the two in step.
//
// The HDF5 C++ API does the work; the C API fills its gaps in 1.10 (group creation
// property lists for link creation order, object time tracking, link iteration by creation
// order). Every reader/writer keeps `where_`, the HDF5 path it is working on, so that an
// H5::Exception turns into a FormatError naming the object at fault.
#include "core/store/run_file.h"

#include <H5Cpp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace lorascape::store {

const MethodData* RunFileData::find_method(const std::string& name) const {
  for (const auto& m : methods)
    if (m.name == name) return &m;
  return nullptr;
}

namespace {

namespace fs = std::filesystem;

constexpr const char* kHintRead =
    "the file is damaged or was not written by lorascape; rewrite it with lorascape";
constexpr const char* kHintWrite = "fix the data passed to the run-file writer";

[[noreturn]] void fail(const std::string& file, const std::string& object,
                       const std::string& problem, const std::string& hint) {
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

std::string stage_name(int stage) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", stage);
  return buf;
}

std::string snapshot_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06zu", index);
  return buf;
}

// ------------------------------------------------------------------------------------------
// Validation, shared by the writer (before touching the file) and the reader (after parsing).

// A name usable as one HDF5 link or attribute name.
bool valid_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

class Validator {
 public:
  Validator(std::string file, std::string hint) : file_(std::move(file)), hint_(std::move(hint)) {}

  void run(const RunFileData& d) {
    const size_t T = d.tasks.size();
    if (T == 0) bad("/tasks", "is empty, a run needs at least one task");
    std::set<std::string> seen;
    for (size_t i = 0; i < T; ++i) {
      if (d.tasks[i].empty()) bad("/tasks", "entry " + std::to_string(i) + " is empty");
      if (!seen.insert(d.tasks[i]).second) bad("/tasks", "task '" + d.tasks[i] + "' appears twice");
    }
    for (const auto& t : d.lora_targets)
      if (t.empty()) bad("/lora_targets", "has an empty entry");
    if (d.lora_rank < 0) bad("/lora_rank", "is negative (" + std::to_string(d.lora_rank) + ")");
    if (!std::isfinite(d.lora_alpha)) bad("/lora_alpha", "is not finite");
    json("/config_json", d.config_json);
    std::set<std::string> names;
    for (const auto& m : d.methods) {
      const std::string mp = "/methods/" + m.name;
      if (!valid_name(m.name))
        bad("/methods", "method name '" + m.name + "' is not a valid HDF5 name (empty or '/')");
      if (!names.insert(m.name).second) bad(mp, "method appears twice");
      method(m, mp, d.tasks);
    }
  }

 private:
  [[noreturn]] void bad(const std::string& object, const std::string& problem) const {
    fail(file_, object, problem, hint_);
  }

  void json(const std::string& object, const std::string& text) const {
    if (!text.empty() && !nlohmann::json::accept(text)) bad(object, "is not valid JSON");
  }

  void name(const std::string& object, const std::string& what, const std::string& n) const {
    if (!valid_name(n)) bad(object, what + " '" + n + "' is not a valid HDF5 name (empty or '/')");
  }

  void method(const MethodData& m, const std::string& mp,
              const std::vector<std::string>& tasks) const {
    const int64_t T = static_cast<int64_t>(tasks.size());
    json(mp + "/config_json", m.config_json);
    name(mp + "/reported", "reported adapter", m.reported);
    matrices(mp, m.R, T);
    for (const auto& [score, b] : m.base) {
      name(mp + "/base", "score", score);
      if (static_cast<int64_t>(b.size()) != T)
        bad(mp + "/base/" + score, "shape " + shape_str({static_cast<int64_t>(b.size())}) +
                                       ", expected " + shape_str({T}) + " for " +
                                       std::to_string(T) + " tasks");
    }
    metrics(mp, m.metrics);
    int previous = -1;
    for (const auto& s : m.stages) {
      const std::string sp = mp + "/stages/" + stage_name(s.stage);
      if (s.stage < 0 || s.stage >= T)
        bad(sp, "stage " + std::to_string(s.stage) + " is outside [0, " + std::to_string(T) +
                    ") for " + std::to_string(T) + " tasks");
      if (s.stage <= previous) bad(sp, "stages must be strictly increasing and unique");
      previous = s.stage;
      if (s.task != tasks[s.stage])
        bad(sp, "task '" + s.task + "' disagrees with the file's task " + std::to_string(s.stage) +
                    " '" + tasks[s.stage] + "' (/tasks)");
      if (s.adapters.empty()) bad(sp, "has no adapters");
      if (!s.adapters.count(m.reported))
        bad(sp, "has no adapter '" + m.reported + "', the method's reported adapter");
      for (const auto& [key, adapter] : s.adapters) {
        name(sp, "adapter key", key);
        tensors(sp + "/" + key, adapter);
      }
    }
    for (size_t i = 0; i < m.snapshots.size(); ++i) {
      const auto& s = m.snapshots[i];
      const std::string sp = mp + "/snapshots/" + snapshot_name(i);
      if (s.task < 0 || s.task >= T)
        bad(sp,
            "task index " + std::to_string(s.task) + " is outside [0, " + std::to_string(T) + ")");
      if (s.step < 0) bad(sp, "step is negative");
      tensors(sp, s.adapter);
    }
    for (const auto& [key, scores] : m.learners) {
      name(mp + "/learners", "learner key", key);
      const std::string lp = mp + "/learners/" + key;
      if (key == m.reported)
        bad(lp, "is the method's reported adapter '" + m.reported + "', whose scores belong in " +
                    mp + "/R and " + mp + "/metrics");
      for (const auto& s : m.stages)
        if (!s.adapters.count(key))
          bad(lp, "stage " + stage_name(s.stage) + " has no adapter '" + key + "' (" + mp +
                      "/stages/" + stage_name(s.stage) + "/" + key + ")");
      matrices(lp, scores.R, T);
      metrics(lp, scores.metrics);
    }
  }

  // The R/<score> matrices of a method or learner at `op`: each (T, T).
  void matrices(const std::string& op,
                const std::map<std::string, std::vector<std::vector<double>>>& R, int64_t T) const {
    for (const auto& [score, rows] : R) {
      name(op + "/R", "score", score);
      const std::string p = op + "/R/" + score;
      int64_t cols = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
      for (const auto& row : rows)
        if (static_cast<int64_t>(row.size()) != cols) bad(p, "rows have different lengths");
      if (static_cast<int64_t>(rows.size()) != T || cols != T)
        bad(p, "shape " + shape_str({static_cast<int64_t>(rows.size()), cols}) + ", expected " +
                   shape_str({T, T}) + " for " + std::to_string(T) + " tasks");
    }
  }

  // The metrics/<score> groups of a method or learner at `op`: names only, NaN allowed.
  void metrics(const std::string& op,
               const std::map<std::string, std::map<std::string, double>>& all) const {
    for (const auto& [score, values] : all) {
      name(op + "/metrics", "score", score);
      for (const auto& kv : values) name(op + "/metrics/" + score, "metric", kv.first);
    }
  }

  void tensors(const std::string& gp, const AdapterData& a) const {
    std::set<std::string> seen;
    for (const auto& t : a.tensors) {
      name(gp, "tensor name", t.name);
      const std::string tp = gp + "/" + t.name;
      if (!seen.insert(t.name).second) bad(tp, "tensor appears twice");
      if (t.shape.empty()) bad(tp, "tensor has rank 0, expected rank >= 1");
      uint64_t n = 1;
      bool overflow = false;
      for (int64_t dim : t.shape) {
        if (dim < 0) bad(tp, "negative dimension in shape " + shape_str(t.shape));
        if (dim != 0 && n > UINT64_MAX / static_cast<uint64_t>(dim)) overflow = true;
        n *= static_cast<uint64_t>(dim);
      }
      if (overflow || n != t.values.size())
        bad(tp, "shape " + shape_str(t.shape) + " needs " +
                    (overflow ? std::string("too many") : std::to_string(n)) + " values, got " +
                    std::to_string(t.values.size()));
    }
  }

  std::string file_, hint_;
};

// ------------------------------------------------------------------------------------------
// HDF5 helpers.

H5::StrType utf8_vlen() {
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  return t;
}

void check(int64_t status, const char* what) {
  if (status < 0) throw H5::Exception(what, "HDF5 C call failed");
}

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

// "H5Fopen failed: truncated file: ..." from an exception of the C++ API.
std::string describe(const H5::Exception& e) {
  std::string s = e.getFuncName().empty() ? "" : e.getFuncName() + ": ";
  s += e.getDetailMsg();
  const std::string cause = hdf5_cause();
  if (!cause.empty()) s += " (" + cause + ")";
  return s;
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

// ------------------------------------------------------------------------------------------
// Writer.

class Writer {
 public:
  explicit Writer(std::string file) : file_(std::move(file)) {
    check(H5Pset_obj_track_times(dcpl_.getId(), 0), "H5Pset_obj_track_times");
  }

  void write(const std::string& out_path, const RunFileData& d) {
    try {
      write_file(out_path, d);
    } catch (const H5::Exception& e) {
      fail(file_, where_, "HDF5 error while writing (" + describe(e) + ")",
           "check that the disk has free space");
    }
  }

 private:
  void write_file(const std::string& out_path, const RunFileData& d) {
    where_ = "/";
    H5::FileCreatPropList fcpl;
    check(H5Pset_link_creation_order(fcpl.getId(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
          "H5Pset_link_creation_order");
    check(H5Pset_obj_track_times(fcpl.getId(), 0), "H5Pset_obj_track_times");
    H5::H5File f = create(out_path, fcpl);
    {
      // Header (schema section 2.1); the format attributes first.
      str_attr(f, "/", "format", kRunFileFormat);
      int_attr(f, "/", "format_version", kRunFileFormatVersion, H5::PredType::STD_I32LE);
      str_attr(f, "/", "software_version", d.software_version);
      str_attr(f, "/", "created", d.created);
      str_attr(f, "/", "command_line", d.command_line);
      str_attr(f, "/", "config_json", d.config_json);
      str_attr(f, "/", "base_model", d.base_model);
      str_attr(f, "/", "base_model_digest", d.base_model_digest);
      int_attr(f, "/", "lora_rank", d.lora_rank, H5::PredType::STD_I64LE);
      f64_attr(f, "/", "lora_alpha", d.lora_alpha);
      str_list(f, "/", "tasks", d.tasks);
      str_list(f, "/", "lora_targets", d.lora_targets);
      H5::Group methods = group(f, "/", "methods");
      for (const auto& m : d.methods) method(methods, m);
    }
    where_ = "/";
    f.flush(H5F_SCOPE_GLOBAL);
    f.close();
  }

  H5::H5File create(const std::string& out_path, const H5::FileCreatPropList& fcpl) {
    try {
      return H5::H5File(out_path, H5F_ACC_TRUNC, fcpl);
    } catch (const H5::Exception& e) {
      fail(file_, "", "cannot create " + out_path + " (" + describe(e) + ")",
           "check that the folder exists and is writable");
    }
  }

  void method(H5::Group& methods, const MethodData& m) {
    const std::string mp = "/methods/" + m.name;
    H5::Group g = group(methods, "/methods", m.name);
    str_attr(g, mp, "config_json", m.config_json);
    str_attr(g, mp, "reported", m.reported);
    matrices(g, mp, m.R);
    {
      H5::Group b = group(g, mp, "base");
      for (const auto& [score, v] : m.base) f64_dataset(b, mp + "/base", score, {v.size()}, v);
    }
    metrics(g, mp, m.metrics);
    if (!m.learners.empty()) {  // OPTIONAL: written only for methods with other learners
      H5::Group lg = group(g, mp, "learners");
      for (const auto& [key, scores] : m.learners) {
        const std::string lp = mp + "/learners/" + key;
        H5::Group kg = group(lg, mp + "/learners", key);
        matrices(kg, lp, scores.R);
        metrics(kg, lp, scores.metrics);
      }
    }
    {
      H5::Group stages = group(g, mp, "stages");
      for (const auto& s : m.stages) {
        const std::string sp = mp + "/stages/" + stage_name(s.stage);
        H5::Group sg = group(stages, mp + "/stages", stage_name(s.stage));
        int_attr(sg, sp, "stage", s.stage, H5::PredType::STD_I32LE);
        str_attr(sg, sp, "task", s.task);
        for (const auto& [key, adapter] : s.adapters) {
          H5::Group ag = group(sg, sp, key);
          tensors(ag, sp + "/" + key, adapter);
        }
      }
    }
    {
      H5::Group snaps = group(g, mp, "snapshots");
      for (size_t i = 0; i < m.snapshots.size(); ++i) {
        const auto& s = m.snapshots[i];
        const std::string sp = mp + "/snapshots/" + snapshot_name(i);
        H5::Group sg = group(snaps, mp + "/snapshots", snapshot_name(i));
        int_attr(sg, sp, "step", s.step, H5::PredType::STD_I64LE);
        int_attr(sg, sp, "task", s.task, H5::PredType::STD_I32LE);
        tensors(sg, sp, s.adapter);
      }
    }
  }

  // The R group (one (T, T) float64 dataset per score) of the method or learner `g` at `op`.
  void matrices(H5::Group& g, const std::string& op,
                const std::map<std::string, std::vector<std::vector<double>>>& R) {
    H5::Group r = group(g, op, "R");
    for (const auto& [score, rows] : R) {
      std::vector<double> flat;
      for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
      f64_dataset(r, op + "/R", score, {rows.size(), rows.size()}, flat);
    }
  }

  // The metrics group (one group per score, one float64 attribute per metric) of `g` at `op`.
  void metrics(H5::Group& g, const std::string& op,
               const std::map<std::string, std::map<std::string, double>>& all) {
    H5::Group mg = group(g, op, "metrics");
    for (const auto& [score, values] : all) {
      H5::Group s = group(mg, op + "/metrics", score);
      for (const auto& [metric, v] : values) f64_attr(s, op + "/metrics/" + score, metric, v);
    }
  }

  void tensors(H5::Group& g, const std::string& gp, const AdapterData& a) {
    for (const auto& t : a.tensors) {
      where_ = join(gp, t.name);
      std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
      H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
      H5::DataSet ds = g.createDataSet(t.name, H5::PredType::IEEE_F32LE, space, dcpl_);
      if (!t.values.empty()) ds.write(t.values.data(), H5::PredType::NATIVE_FLOAT);
    }
  }

  H5::Group group(H5::Group& parent, const std::string& pp, const std::string& name) {
    where_ = join(pp, name);
    hid_t id = H5Gcreate2(parent.getId(), name.c_str(), H5P_DEFAULT, gcpl_.getId(), H5P_DEFAULT);
    check(id, "H5Gcreate2");
    H5::Group g(id);  // takes its own reference
    H5Gclose(id);
    return g;
  }

  void str_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
                const std::string& value) {
    where_ = join(op, name);
    H5::StrType type = utf8_vlen();
    H5::Attribute a = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
    const char* p = value.c_str();
    a.write(type, &p);
  }

  void int_attr(H5::H5Object& obj, const std::string& op, const std::string& name, int64_t value,
                const H5::PredType& file_type) {
    where_ = join(op, name);
    H5::Attribute a = obj.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
    a.write(H5::PredType::NATIVE_INT64, &value);
  }

  void f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name, double value) {
    where_ = join(op, name);
    H5::Attribute a =
        obj.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
    a.write(H5::PredType::NATIVE_DOUBLE, &value);
  }

  void str_list(H5::Group& g, const std::string& gp, const std::string& name,
                const std::vector<std::string>& values) {
    where_ = join(gp, name);
    hsize_t n = values.size();
    H5::StrType type = utf8_vlen();
    H5::DataSet ds = g.createDataSet(name, type, H5::DataSpace(1, &n), dcpl_);
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    if (!ptrs.empty()) ds.write(ptrs.data(), type);
  }

  void f64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                   std::vector<hsize_t> dims, const std::vector<double>& values) {
    where_ = join(gp, name);
    H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
    H5::DataSet ds = g.createDataSet(name, H5::PredType::IEEE_F64LE, space, dcpl_);
    if (!values.empty()) ds.write(values.data(), H5::PredType::NATIVE_DOUBLE);
  }

  std::string file_;
  std::string where_;
  H5::PropList gcpl_ = group_create_plist();
  H5::DSetCreatPropList dcpl_;
};

// ------------------------------------------------------------------------------------------
// Reader.

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  RunFileData read() {
    std::error_code ec;
    if (!fs::exists(file_, ec)) fail(file_, "", "file does not exist", "check the path");
    if (fs::is_directory(file_, ec))
      fail(file_, "", "is a directory, not a run file", "point to the .h5 run file");
    if (::access(file_.c_str(), R_OK) != 0)
      fail(file_, "", std::string("cannot be read (") + std::strerror(errno) + ")",
           "check the file's permissions");
    if (H5Fis_hdf5(file_.c_str()) <= 0)
      fail(file_, "", "not an HDF5 file (truncated, or a different format)",
           "point to a lorascape run file (.h5)");
    try {
      H5::H5File f;
      try {
        f.openFile(file_, H5F_ACC_RDONLY);
      } catch (const H5::Exception& e) {
        fail(file_, "", "HDF5 cannot open it (" + describe(e) + ")",
             "the file is truncated or damaged; rewrite it with lorascape");
      }
      RunFileData d = read_file(f);
      where_ = "/";
      f.close();
      Validator(file_, kHintRead).run(d);
      return d;
    } catch (const H5::Exception& e) {
      fail(file_, where_, "HDF5 error while reading (" + describe(e) + ")", kHintRead);
    }
  }

 private:
  [[noreturn]] void bad(const std::string& object, const std::string& problem,
                        const std::string& hint = kHintRead) const {
    fail(file_, object, problem, hint);
  }

  RunFileData read_file(H5::H5File& f) {
    RunFileData d;
    where_ = "/";
    // The format and its version come first: nothing else is looked at in a foreign file.
    if (!f.attrExists("format"))
      bad("/format", "missing root attribute, this is not a lorascape run file",
          "open a run file written by lorascape");
    const std::string format = str_attr(f, "/", "format");
    if (format != kRunFileFormat)
      bad("/format", "is '" + format + "', expected '" + kRunFileFormat + "'",
          "this is not a lorascape run file; open it with the tool that wrote it");
    const int64_t version = int_attr(f, "/", "format_version");
    if (version > kRunFileFormatVersion)
      bad("/format_version",
          std::to_string(version) + " is newer than this lorascape (" +
              std::to_string(kRunFileFormatVersion) + ")",
          "upgrade lorascape");
    if (version < 1)
      bad("/format_version", std::to_string(version) + " is not a valid version (>= 1)");
    d.format_version = static_cast<int>(version);

    d.software_version = str_attr(f, "/", "software_version");
    d.created = str_attr(f, "/", "created");
    d.command_line = str_attr(f, "/", "command_line");
    d.config_json = str_attr(f, "/", "config_json");
    d.base_model = str_attr(f, "/", "base_model");
    d.base_model_digest = str_attr(f, "/", "base_model_digest");
    d.lora_rank = int_attr(f, "/", "lora_rank");
    d.lora_alpha = f64_attr(f, "/", "lora_alpha");
    d.tasks = str_list(f, "/", "tasks");
    d.lora_targets = str_list(f, "/", "lora_targets");

    H5::Group methods = open_group(f, "/", "methods");
    for (const auto& name : children(methods, "/methods", H5O_TYPE_GROUP)) {
      H5::Group g = open_group(methods, "/methods", name);
      d.methods.push_back(method(g, name));
    }
    return d;
  }

  MethodData method(H5::Group& g, const std::string& name) {
    const std::string mp = "/methods/" + name;
    MethodData m;
    m.name = name;
    m.config_json = str_attr(g, mp, "config_json");
    m.reported = str_attr(g, mp, "reported");
    m.R = matrices(g, mp);
    {
      H5::Group b = open_group(g, mp, "base");
      for (const auto& score : children(b, mp + "/base", H5O_TYPE_DATASET)) {
        std::vector<int64_t> dims;
        std::vector<double> v = f64_dataset(b, mp + "/base", score, dims);
        if (dims.size() != 1)
          bad(mp + "/base/" + score, "has shape " + shape_str(dims) + ", expected (T,)");
        m.base[score] = std::move(v);
      }
    }
    m.metrics = metrics(g, mp);
    const std::string lp = mp + "/learners";
    where_ = lp;
    if (g.nameExists("learners")) {  // OPTIONAL: absent = no other learners
      H5::Group lg = open_group(g, mp, "learners");
      for (const auto& key : children(lg, lp, H5O_TYPE_GROUP)) {
        H5::Group kg = open_group(lg, lp, key);
        LearnerScores& scores = m.learners[key];
        scores.R = matrices(kg, lp + "/" + key);
        scores.metrics = metrics(kg, lp + "/" + key);
      }
    }
    {
      const std::string gp = mp + "/stages";
      H5::Group stages = open_group(g, mp, "stages");
      for (const auto& sname : children(stages, gp, H5O_TYPE_GROUP)) {
        if (!is_index(sname)) continue;  // not a stage: ignored
        const std::string sp = gp + "/" + sname;
        H5::Group sg = open_group(stages, gp, sname);
        StageData s;
        const int64_t stage = int_attr(sg, sp, "stage");
        if (stage < 0 || stage > INT32_MAX || std::stoll(sname) != stage)
          bad(sp, "attribute stage = " + std::to_string(stage) + " disagrees with the group name");
        s.stage = static_cast<int>(stage);
        s.task = str_attr(sg, sp, "task");
        for (const auto& key : children(sg, sp, H5O_TYPE_GROUP)) {
          H5::Group ag = open_group(sg, sp, key);
          s.adapters[key] = tensors(ag, sp + "/" + key);
        }
        m.stages.push_back(std::move(s));
      }
      std::sort(m.stages.begin(), m.stages.end(),
                [](const StageData& a, const StageData& b) { return a.stage < b.stage; });
    }
    {
      const std::string gp = mp + "/snapshots";
      H5::Group snaps = open_group(g, mp, "snapshots");
      std::vector<std::pair<long long, Snapshot>> found;
      for (const auto& sname : children(snaps, gp, H5O_TYPE_GROUP)) {
        if (!is_index(sname)) continue;  // not a snapshot: ignored
        const std::string sp = gp + "/" + sname;
        H5::Group sg = open_group(snaps, gp, sname);
        Snapshot s;
        s.step = int_attr(sg, sp, "step");
        const int64_t task = int_attr(sg, sp, "task");
        if (task < INT32_MIN || task > INT32_MAX) bad(sp + "/task", "is out of range");
        s.task = static_cast<int>(task);
        s.adapter = tensors(sg, sp);
        found.emplace_back(std::stoll(sname), std::move(s));
      }
      std::stable_sort(found.begin(), found.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& kv : found) m.snapshots.push_back(std::move(kv.second));
    }
    return m;
  }

  // The R group of the method or learner `g` at `op`: score -> rows of a 2-D dataset.
  std::map<std::string, std::vector<std::vector<double>>> matrices(H5::Group& g,
                                                                   const std::string& op) {
    std::map<std::string, std::vector<std::vector<double>>> R;
    H5::Group r = open_group(g, op, "R");
    for (const auto& score : children(r, op + "/R", H5O_TYPE_DATASET)) {
      std::vector<int64_t> dims;
      std::vector<double> v = f64_dataset(r, op + "/R", score, dims);
      if (dims.size() != 2)
        bad(op + "/R/" + score, "has shape " + shape_str(dims) + ", expected (T, T)");
      auto& rows = R[score];
      for (int64_t i = 0; i < dims[0]; ++i)
        rows.emplace_back(v.begin() + i * dims[1], v.begin() + (i + 1) * dims[1]);
    }
    return R;
  }

  // The metrics group of the method or learner `g` at `op`: score -> metric -> value.
  std::map<std::string, std::map<std::string, double>> metrics(H5::Group& g,
                                                               const std::string& op) {
    std::map<std::string, std::map<std::string, double>> all;
    H5::Group mg = open_group(g, op, "metrics");
    for (const auto& score : children(mg, op + "/metrics", H5O_TYPE_GROUP)) {
      H5::Group s = open_group(mg, op + "/metrics", score);
      auto& values = all[score];  // present even when it holds no metric
      for (const auto& metric : attr_names(s, op + "/metrics/" + score)) {
        where_ = op + "/metrics/" + score + "/" + metric;
        H5::Attribute a = s.openAttribute(metric);
        H5T_class_t c = a.getTypeClass();
        if ((c != H5T_FLOAT && c != H5T_INTEGER) || a.getSpace().getSimpleExtentNpoints() != 1)
          continue;  // not a metric value: ignored (schema: unknown attributes)
        double v = 0;
        a.read(H5::PredType::NATIVE_DOUBLE, &v);
        values[metric] = v;
      }
    }
    return all;
  }

  AdapterData tensors(H5::Group& g, const std::string& gp) {
    AdapterData a;
    for (const auto& name : children(g, gp, H5O_TYPE_DATASET)) {
      const std::string tp = join(gp, name);
      where_ = tp;
      H5::DataSet ds = g.openDataSet(name);
      if (ds.getTypeClass() != H5T_FLOAT) bad(tp, "tensor is not a floating-point dataset");
      H5::DataSpace space = ds.getSpace();
      std::vector<int64_t> dims = dims_of(space, tp);
      if (dims.empty()) bad(tp, "tensor is a scalar, expected rank >= 1");
      Tensor t;
      t.name = name;
      t.shape = dims;
      t.values.resize(static_cast<size_t>(space.getSimpleExtentNpoints()));
      if (!t.values.empty()) ds.read(t.values.data(), H5::PredType::NATIVE_FLOAT);
      a.tensors.push_back(std::move(t));
    }
    return a;
  }

  static bool is_index(const std::string& s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  std::vector<int64_t> dims_of(const H5::DataSpace& space, const std::string& object) {
    if (space.getSimpleExtentType() == H5S_NULL) bad(object, "has a null dataspace");
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0) space.getSimpleExtentDims(dims.data());
    return std::vector<int64_t>(dims.begin(), dims.end());
  }

  H5::Group open_group(H5::Group& parent, const std::string& pp, const std::string& name) {
    where_ = join(pp, name);
    if (!parent.nameExists(name)) bad(where_, "required group is missing");
    if (parent.childObjType(name) != H5O_TYPE_GROUP) bad(where_, "is not a group");
    return parent.openGroup(name);
  }

  // Names of the links of `g` that point to objects of `type`, in creation order when the
  // group tracks it (files written by lorascape do), otherwise in name order.
  std::vector<std::string> children(H5::Group& g, const std::string& gp, H5O_type_t type) {
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
      ssize_t n =
          H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
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

  std::vector<std::string> attr_names(H5::H5Object& obj, const std::string& op) {
    where_ = op;
    std::vector<std::string> names;
    const int n = obj.getNumAttrs();
    for (int i = 0; i < n; ++i) {
      ssize_t len = H5Aget_name_by_idx(obj.getId(), ".", H5_INDEX_NAME, H5_ITER_INC,
                                       static_cast<hsize_t>(i), nullptr, 0, H5P_DEFAULT);
      check(len, "H5Aget_name_by_idx");
      std::vector<char> buf(static_cast<size_t>(len) + 1, '\0');
      check(H5Aget_name_by_idx(obj.getId(), ".", H5_INDEX_NAME, H5_ITER_INC,
                               static_cast<hsize_t>(i), buf.data(), buf.size(), H5P_DEFAULT),
            "H5Aget_name_by_idx");
      names.emplace_back(buf.data(), static_cast<size_t>(len));
    }
    return names;
  }

  H5::Attribute open_attr(H5::H5Object& obj, const std::string& op, const std::string& name,
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

  std::string str_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
    H5::Attribute a = open_attr(obj, op, name, H5T_STRING, "a string");
    H5::StrType type = a.getStrType();
    std::string s;
    a.read(type, s);  // variable- or fixed-length, chosen from the file type
    return s;
  }

  int64_t int_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
    H5::Attribute a = open_attr(obj, op, name, H5T_INTEGER, "an integer");
    int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return v;
  }

  double f64_attr(H5::H5Object& obj, const std::string& op, const std::string& name) {
    H5::Attribute a = open_attr(obj, op, name, H5T_FLOAT, "a number");
    double v = 0;
    a.read(H5::PredType::NATIVE_DOUBLE, &v);
    return v;
  }

  H5::DataSet open_dataset(H5::Group& g, const std::string& gp, const std::string& name) {
    where_ = join(gp, name);
    if (!g.nameExists(name) || g.childObjType(name) != H5O_TYPE_DATASET)
      bad(where_, "required dataset is missing");
    return g.openDataSet(name);
  }

  std::vector<std::string> str_list(H5::Group& g, const std::string& gp, const std::string& name) {
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

  std::vector<double> f64_dataset(H5::Group& g, const std::string& gp, const std::string& name,
                                  std::vector<int64_t>& dims) {
    H5::DataSet ds = open_dataset(g, gp, name);
    H5T_class_t c = ds.getTypeClass();
    if (c != H5T_FLOAT && c != H5T_INTEGER) bad(where_, "is not a numeric dataset");
    H5::DataSpace space = ds.getSpace();
    dims = dims_of(space, where_);
    std::vector<double> v(static_cast<size_t>(space.getSimpleExtentNpoints()));
    if (!v.empty()) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
    return v;
  }

  std::string file_;
  std::string where_;
};

// fsyncs a file or folder; returns 0 or the errno of the failure.
int sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

void write_run_file(const std::string& path, const RunFileData& data) {
  H5::Exception::dontPrint();  // per thread in a thread-safe HDF5 build
  Validator(path, kHintWrite).run(data);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    Writer(path).write(tmp, data);
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

RunFileData read_run_file(const std::string& path) {
  H5::Exception::dontPrint();
  return Reader(path).read();
}

void put_method(const std::string& path, const MethodData& method,
                const RunFileData& header_if_new) {
  H5::Exception::dontPrint();
  std::error_code ec;
  RunFileData data = fs::exists(path, ec) ? read_run_file(path) : header_if_new;
  auto it = std::find_if(data.methods.begin(), data.methods.end(),
                         [&](const MethodData& m) { return m.name == method.name; });
  if (it != data.methods.end())
    *it = method;
  else
    data.methods.push_back(method);
  write_run_file(path, data);
}

}  // namespace lorascape::store
