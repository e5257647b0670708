// The run file in HDF5. docs/hdf5-schema.md is the normative layout; keep the two in step.
//
// The HDF5 plumbing (typed getters and setters that keep `where_`, the HDF5 path being worked
// on, so that errors name the object at fault; crash-safe writes) is shared with the scan
// file: store/hdf5_io.{h,cpp}.
#include "store/run_file.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "store/error.h"
#include "store/hdf5_io.h"

namespace lorascape::store {

const MethodData* RunFileData::find_method(const std::string& name) const {
  for (const auto& m : methods)
    if (m.name == name) return &m;
  return nullptr;
}

TensorSelection TensorSelection::none() {
  TensorSelection s;
  s.stages = s.snapshots = false;
  return s;
}

TensorSelection TensorSelection::one(const std::string& method, int stage, const std::string& key) {
  TensorSelection s;
  s.snapshots = false;
  s.method = method;
  s.stage = stage;
  s.key = key;
  return s;
}

bool TensorSelection::wants_stage(const std::string& m, int st, const std::string& k) const {
  return stages && (method.empty() || method == m) && (stage < 0 || stage == st) &&
         (key.empty() || key == k);
}

bool TensorSelection::wants_snapshots(const std::string& m) const {
  return snapshots && (method.empty() || method == m);
}

namespace {

namespace fs = std::filesystem;
using namespace detail;

constexpr const char* kHintWrite = "fix the data passed to the run-file writer";

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

class Validator {
 public:
  // writing: the data is about to be written, so every adapter must have been loaded.
  Validator(std::string file, std::string hint, bool writing)
      : file_(std::move(file)), hint_(std::move(hint)), writing_(writing) {}

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
    // As core::LoraConfig::validate: 1 <= r <= 65536, alpha finite and > 0 (rank 0 divides by
    // zero, 2^40 allocates terabytes, a negative alpha flips the update).
    if (d.lora_rank < 1 || d.lora_rank > 65536)
      bad("/lora_rank", "is " + std::to_string(d.lora_rank) + ", outside 1..65536");
    if (!std::isfinite(d.lora_alpha) || !(d.lora_alpha > 0))
      bad("/lora_alpha", "is not a finite number > 0");
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
    if (!a.loaded && writing_)
      bad(gp,
          "adapter was not loaded (read_run_file with a TensorSelection that left it out); "
          "read the file whole before writing it");
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
  bool writing_;
};

// ------------------------------------------------------------------------------------------
// Writer.

class Writer : public H5Writer {
 public:
  using H5Writer::H5Writer;

  void write(const std::string& out_path, const RunFileData& d) {
    guard([&] { write_file(out_path, d); });
  }

 private:
  void write_file(const std::string& out_path, const RunFileData& d) {
    H5::H5File f = create(out_path);
    {
      // Header (schema section 2.1); the format attributes first.
      str_attr(f, "/", "format", kRunFileFormat);
      int_attr(f, "/", "format_version", d.lora_config.empty() ? 1 : kRunFileFormatVersion,
               H5::PredType::STD_I32LE);
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
      if (!d.lora_config.empty()) str_attr(f, "/", "lora_config", d.lora_config);
      H5::Group methods = group(f, "/", "methods");
      for (const auto& m : d.methods) method(methods, m);
    }
    finish(f);
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
    for (const auto& t : a.tensors)
      f32_dataset(g, gp, t.name, std::vector<hsize_t>(t.shape.begin(), t.shape.end()), t.values);
  }
};

// ------------------------------------------------------------------------------------------
// Reader.

class Reader : public H5Reader {
 public:
  Reader(std::string file, TensorSelection select)
      : H5Reader(std::move(file), "run file"), select_(std::move(select)) {}

  RunFileData read() {
    RunFileData d = read_whole([&](H5::H5File& f) { return read_file(f); });
    Validator(file_, kHintRead, false).run(d);
    return d;
  }

 private:
  TensorSelection select_;

  RunFileData read_file(H5::H5File& f) {
    RunFileData d;
    // The format and its version come first: nothing else is looked at in a foreign file.
    d.format_version = check_format(f, kRunFileFormat, kRunFileFormatVersion);

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
    if (f.attrExists("lora_config")) d.lora_config = str_attr(f, "/", "lora_config");

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
          if (!select_.wants_stage(name, s.stage, key)) {
            s.adapters[key].loaded = false;
            continue;
          }
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
        if (select_.wants_snapshots(name))
          s.adapter = tensors(sg, sp);
        else
          s.adapter.loaded = false;
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
};

}  // namespace

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_run_file(const std::string& path, const RunFileData& data) {
  H5::Exception::dontPrint();  // per thread in a thread-safe HDF5 build
  Validator(path, kHintWrite, true).run(data);
  write_atomically(path, [&](const std::string& tmp) { Writer(path).write(tmp, data); });
}

RunFileData read_run_file(const std::string& path, const TensorSelection& select) {
  H5::Exception::dontPrint();
  return Reader(path, select).read();
}

namespace {
// Opens a file only to read its root attribute "format".
class FormatProbe : public detail::H5Reader {
 public:
  explicit FormatProbe(std::string file) : detail::H5Reader(std::move(file), "run or scan file") {}
  std::string read() {
    std::string format;
    guard([&] {
      H5::H5File f = open();
      where_ = "/";
      if (!f.attrExists("format"))
        bad("/format", "missing root attribute, this is not a lorascape file",
            "open a run or scan file written by lorascape");
      format = str_attr(f, "/", "format");
      f.close();
    });
    return format;
  }
};
}  // namespace

std::string read_file_format(const std::string& path) {
  H5::Exception::dontPrint();
  return FormatProbe(path).read();
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
