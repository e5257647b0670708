// The scan file in HDF5. docs/hdf5-schema.md part II is the normative layout; keep the two in
// step. The HDF5 plumbing is shared with the run file: store/hdf5_io.{h,cpp}.
#include "store/scan_file.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "store/error.h"
#include "store/hdf5_io.h"
#include "store/run_file.h"

namespace lorascape::store {

namespace {

namespace fs = std::filesystem;
using namespace detail;

constexpr const char* kHintWrite = "fix the data passed to the scan-file writer";
constexpr const char* kHintOut = "pick another `out`, or delete the file to start this scan afresh";

std::string axis_name(size_t d) {
  return index_name(d, 2);
}

// Shortest text that reads back as exactly `v`.
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool same_bits(const double* a, const double* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(double)) == 0;
}

std::string list_str(const std::vector<std::string>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + ")";
}

// "1, 4, 7, …" with at most `max` entries.
std::string first_points(const std::vector<int64_t>& points, size_t max = 8) {
  std::string s;
  for (size_t i = 0; i < points.size() && i < max; ++i)
    s += (i ? ", " : "") + std::to_string(points[i]);
  if (points.size() > max) s += ", …";
  return s;
}

// Throws ConfigError unless 1 <= index <= count.
void check_shard(const Shard& shard) {
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
    throw ConfigError("shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                      ": the shard index must be in 1..count; use `shard` k/N with 1 <= k <= N");
}

// ------------------------------------------------------------------------------------------
// Validation, shared by the writer (before touching the file) and the reader (after parsing).

class Validator {
 public:
  Validator(std::string file, std::string hint) : file_(std::move(file)), hint_(std::move(hint)) {}

  void run(const ScanData& d) {
    spec(d.spec);
    if (d.shard.count < 1 || d.shard.index < 1 || d.shard.index > d.shard.count)
      bad("/shard_index", "shard " + std::to_string(d.shard.index) + "/" +
                              std::to_string(d.shard.count) + " is not in 1..count");
    const size_t P = static_cast<size_t>(d.spec.num_points());
    const size_t T = d.spec.tasks.size(), S = d.spec.scores.size();
    const size_t TS = T * S;
    if (d.values.size() != P * TS)
      bad("/values", "has " + std::to_string(d.values.size()) + " values, expected " +
                         std::to_string(P * TS) + " = " + std::to_string(P) + " points x " +
                         std::to_string(T) + " task sets x " + std::to_string(S) + " scores");
    if (d.done.size() != P)
      bad("/done", "has " + std::to_string(d.done.size()) + " entries, expected " +
                       std::to_string(P) + " (one per point)");
    for (size_t p = 0; p < P; ++p) {
      if (d.done[p] > 1)
        bad("/done", "entry " + std::to_string(p) + " is " + std::to_string(d.done[p]) +
                         ", expected 0 or 1");
      if (d.done[p]) continue;
      for (size_t k = 0; k < TS; ++k)
        if (!std::isnan(d.values[p * TS + k]))
          bad("/values", "point " + std::to_string(p) +
                             " is not done but holds a value (task set '" + d.spec.tasks[k / S] +
                             "', score '" + d.spec.scores[k % S] +
                             "': " + num(d.values[p * TS + k]) + "); points not done hold NaN");
    }
    for (const auto& [key, a] : d.extras) {
      name("/extras", "extra name", key);
      const std::string ep = "/extras/" + key;
      uint64_t n = 1;
      bool overflow = false;
      for (int64_t dim : a.shape) {
        if (dim < 0) bad(ep, "negative dimension in shape " + shape_str(a.shape));
        if (dim != 0 && n > UINT64_MAX / static_cast<uint64_t>(dim)) overflow = true;
        n *= static_cast<uint64_t>(dim);
      }
      if (overflow || n != a.values.size())
        bad(ep, "shape " + shape_str(a.shape) + " needs " +
                    (overflow ? std::string("too many") : std::to_string(n)) + " values, got " +
                    std::to_string(a.values.size()));
    }
    for (const auto& kv : d.text) name("/text", "text key", kv.first);
  }

  void spec(const ScanSpec& s) const {
    if (!valid_name(s.kind))
      bad("/kind", "'" + s.kind + "' is not a valid scan kind (empty or with '/')");
    if (s.config_json.empty())
      bad("/config_json", "is empty, a scan file holds the scan's resolved configuration");
    if (!nlohmann::json::accept(s.config_json)) bad("/config_json", "is not valid JSON");
    names("/tasks", "task set", s.tasks);
    names("/scores", "score", s.scores);
    if (s.axes.empty()) bad("/axes", "is empty, a scan needs at least one grid axis");
    // P·T·S values of 8 bytes must be addressable.
    uint64_t n = s.tasks.size() * s.scores.size();
    const uint64_t limit = std::numeric_limits<size_t>::max() / sizeof(double);
    for (size_t d = 0; d < s.axes.size(); ++d) {
      const std::string ap = "/axes/" + axis_name(d);
      const auto& axis = s.axes[d];
      if (axis.empty()) bad(ap, "has no points, a grid axis needs at least one");
      for (size_t i = 0; i < axis.size(); ++i)
        if (!std::isfinite(axis[i]))
          bad(ap, "coordinate " + std::to_string(i) + " is not finite (" + num(axis[i]) + ")");
      if (n > limit / axis.size()) bad("/axes", "the grid has too many points");
      n *= axis.size();
    }
  }

 private:
  [[noreturn]] void bad(const std::string& object, const std::string& problem) const {
    fail(file_, object, problem, hint_);
  }

  void name(const std::string& object, const std::string& what, const std::string& n) const {
    if (!valid_name(n)) bad(object, what + " '" + n + "' is not a valid HDF5 name (empty or '/')");
  }

  // A list of at least one distinct, non-empty entries.
  void names(const std::string& object, const std::string& what,
             const std::vector<std::string>& v) const {
    if (v.empty()) bad(object, "is empty, a scan needs at least one " + what);
    std::set<std::string> seen;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].empty()) bad(object, "entry " + std::to_string(i) + " is empty");
      if (!seen.insert(v[i]).second) bad(object, what + " '" + v[i] + "' appears twice");
    }
  }

  std::string file_, hint_;
};

// (N_0, …, N_{D−1}) followed by `tail`, as HDF5 dimensions.
std::vector<hsize_t> grid_dims(const ScanSpec& s, std::vector<hsize_t> tail = {}) {
  std::vector<hsize_t> dims;
  for (const auto& axis : s.axes) dims.push_back(axis.size());
  dims.insert(dims.end(), tail.begin(), tail.end());
  return dims;
}

// ------------------------------------------------------------------------------------------
// Writer.

class Writer : public H5Writer {
 public:
  using H5Writer::H5Writer;

  void write(const std::string& out_path, const ScanData& d) {
    guard([&] { write_file(out_path, d); });
  }

 private:
  void write_file(const std::string& out_path, const ScanData& d) {
    H5::H5File f = create(out_path);
    {
      // Header (docs/hdf5-schema.md 8.1); the format attributes first.
      str_attr(f, "/", "format", kScanFileFormat);
      int_attr(f, "/", "format_version", kScanFileFormatVersion, H5::PredType::STD_I32LE);
      str_attr(f, "/", "software_version", d.software_version);
      str_attr(f, "/", "created", d.created);
      str_attr(f, "/", "command_line", d.command_line);
      str_attr(f, "/", "kind", d.spec.kind);
      str_attr(f, "/", "config_json", d.spec.config_json);
      int_attr(f, "/", "shard_index", d.shard.index, H5::PredType::STD_I32LE);
      int_attr(f, "/", "shard_count", d.shard.count, H5::PredType::STD_I32LE);
      str_list(f, "/", "tasks", d.spec.tasks);
      str_list(f, "/", "scores", d.spec.scores);
      {
        H5::Group axes = group(f, "/", "axes");
        for (size_t i = 0; i < d.spec.axes.size(); ++i)
          f64_dataset(axes, "/axes", axis_name(i), {d.spec.axes[i].size()}, d.spec.axes[i]);
      }
      f64_dataset(f, "/", "values", grid_dims(d.spec, {d.spec.tasks.size(), d.spec.scores.size()}),
                  d.values);
      u8_dataset(f, "/", "done", grid_dims(d.spec), d.done);
      {
        H5::Group extras = group(f, "/", "extras");
        for (const auto& [key, a] : d.extras)
          f64_dataset(extras, "/extras", key, std::vector<hsize_t>(a.shape.begin(), a.shape.end()),
                      a.values);
      }
      {
        H5::Group text = group(f, "/", "text");
        for (const auto& [key, value] : d.text) str_attr(text, "/text", key, value);
      }
    }
    finish(f);
  }
};

// ------------------------------------------------------------------------------------------
// Reader.

class Reader : public H5Reader {
 public:
  explicit Reader(std::string file) : H5Reader(std::move(file), "scan file") {}

  ScanData read() {
    ScanData d = read_whole([&](H5::H5File& f) { return read_file(f); });
    Validator(file_, kHintRead).run(d);
    return d;
  }

 private:
  ScanData read_file(H5::H5File& f) {
    ScanData d;
    // The format and its version come first: nothing else is looked at in a foreign file.
    d.format_version = check_format(f, kScanFileFormat, kScanFileFormatVersion);

    d.software_version = str_attr(f, "/", "software_version");
    d.created = str_attr(f, "/", "created");
    d.command_line = str_attr(f, "/", "command_line");
    d.spec.kind = str_attr(f, "/", "kind");
    d.spec.config_json = str_attr(f, "/", "config_json");
    d.shard.index = small_int(f, "shard_index");
    d.shard.count = small_int(f, "shard_count");
    d.spec.tasks = str_list(f, "/", "tasks");
    d.spec.scores = str_list(f, "/", "scores");
    d.spec.axes = axes(f);
    // Shapes are checked here; everything else by the validator afterwards.
    std::vector<int64_t> grid = d.spec.grid_shape();
    std::vector<int64_t> want = grid;
    want.push_back(static_cast<int64_t>(d.spec.tasks.size()));
    want.push_back(static_cast<int64_t>(d.spec.scores.size()));
    std::vector<int64_t> dims;
    d.values = f64_dataset(f, "/", "values", dims);
    if (dims != want)
      bad("/values", "has shape " + shape_str(dims) + ", expected " + shape_str(want) +
                         " (the axes' lengths, then tasks and scores)");
    std::vector<int64_t> done = i64_dataset(f, "/", "done", dims);
    if (dims != grid)
      bad("/done", "has shape " + shape_str(dims) + ", expected " + shape_str(grid) +
                       " (the axes' lengths)");
    d.done.resize(done.size());
    for (size_t p = 0; p < done.size(); ++p) {
      if (done[p] != 0 && done[p] != 1)
        bad("/done",
            "entry " + std::to_string(p) + " is " + std::to_string(done[p]) + ", expected 0 or 1");
      d.done[p] = static_cast<uint8_t>(done[p]);
    }
    {
      H5::Group g = open_group(f, "/", "extras");
      for (const auto& key : children(g, "/extras", H5O_TYPE_DATASET)) {
        where_ = "/extras/" + key;
        const H5T_class_t c = g.openDataSet(key).getTypeClass();
        if (c != H5T_FLOAT && c != H5T_INTEGER) continue;  // not a numeric extra: ignored
        ScanArray& a = d.extras[key];
        a.values = f64_dataset(g, "/extras", key, a.shape);
      }
    }
    {
      H5::Group g = open_group(f, "/", "text");
      for (const auto& key : attr_names(g, "/text")) {
        where_ = "/text/" + key;
        H5::Attribute a = g.openAttribute(key);
        if (a.getTypeClass() != H5T_STRING || a.getSpace().getSimpleExtentNpoints() != 1)
          continue;  // not a text entry: ignored
        d.text[key] = str_attr(g, "/text", key);
      }
    }
    return d;
  }

  int small_int(H5::H5File& f, const char* name) {
    const int64_t v = int_attr(f, "/", name);
    if (v < INT32_MIN || v > INT32_MAX) bad(join("/", name), "is out of range");
    return static_cast<int>(v);
  }

  // The datasets 00, 01, … of /axes, which must be numbered 0…D−1 and 1-D.
  std::vector<std::vector<double>> axes(H5::H5File& f) {
    H5::Group g = open_group(f, "/", "axes");
    std::vector<std::pair<long long, std::string>> found;
    for (const auto& key : children(g, "/axes", H5O_TYPE_DATASET))
      if (is_index(key)) found.emplace_back(std::stoll(key), key);  // other names: ignored
    std::sort(found.begin(), found.end());
    std::vector<std::vector<double>> out;
    for (size_t i = 0; i < found.size(); ++i) {
      if (found[i].first != static_cast<long long>(i))
        bad("/axes", "axis " + axis_name(i) + " is missing (found " + found[i].second +
                         "); axes are numbered 00, 01, … without gaps");
      std::vector<int64_t> dims;
      out.push_back(f64_dataset(g, "/axes", found[i].second, dims));
      if (dims.size() != 1)
        bad("/axes/" + found[i].second, "has shape " + shape_str(dims) + ", expected 1-D");
    }
    return out;
  }
};

}  // namespace

// ------------------------------------------------------------------------------------------
// Public API.

std::vector<int64_t> ScanSpec::grid_shape() const {
  std::vector<int64_t> shape;
  for (const auto& axis : axes) shape.push_back(static_cast<int64_t>(axis.size()));
  return shape;
}

int64_t ScanSpec::num_points() const {
  if (axes.empty()) return 0;
  int64_t n = 1;
  for (const auto& axis : axes) n *= static_cast<int64_t>(axis.size());
  return n;
}

int64_t ScanData::num_done() const {
  return std::count_if(done.begin(), done.end(), [](uint8_t v) { return v != 0; });
}

bool ScanData::complete() const {
  const int64_t P = num_points();
  return P > 0 && static_cast<int64_t>(done.size()) == P && num_done() == P;
}

ScanData new_scan(const ScanSpec& spec, const Shard& shard, const std::string& software_version,
                  const std::string& command_line) {
  ScanData d;
  d.spec = spec;
  d.shard = shard;
  d.software_version = software_version;
  d.created = utc_now();
  d.command_line = command_line;
  const size_t P = static_cast<size_t>(spec.num_points());
  d.values.assign(P * spec.tasks.size() * spec.scores.size(),
                  std::numeric_limits<double>::quiet_NaN());
  d.done.assign(P, 0);
  return d;
}

std::string scan_spec_difference(const ScanSpec& a, const ScanSpec& b) {
  if (a.kind != b.kind) return "kind '" + a.kind + "' vs '" + b.kind + "'";
  if (a.config_json != b.config_json) {
    size_t i = 0;
    while (i < a.config_json.size() && i < b.config_json.size() &&
           a.config_json[i] == b.config_json[i])
      ++i;
    auto around = [i](const std::string& s) {
      const size_t from = i < 16 ? 0 : i - 16;
      std::string cut = s.substr(from, 40);
      std::replace(cut.begin(), cut.end(), '\n', ' ');
      return (from ? "…" : "") + cut + (from + 40 < s.size() ? "…" : "");
    };
    return "config_json differs from character " + std::to_string(i) + ": " +
           around(a.config_json) + " vs " + around(b.config_json);
  }
  if (a.tasks != b.tasks) return "tasks " + list_str(a.tasks) + " vs " + list_str(b.tasks);
  if (a.scores != b.scores) return "scores " + list_str(a.scores) + " vs " + list_str(b.scores);
  if (a.axes.size() != b.axes.size())
    return std::to_string(a.axes.size()) + " vs " + std::to_string(b.axes.size()) + " grid axes";
  for (size_t d = 0; d < a.axes.size(); ++d) {
    const auto &x = a.axes[d], &y = b.axes[d];
    if (x.size() != y.size())
      return "axis " + std::to_string(d) + " has " + std::to_string(x.size()) + " vs " +
             std::to_string(y.size()) + " points";
    for (size_t i = 0; i < x.size(); ++i)
      if (!same_bits(&x[i], &y[i], 1))
        return "axis " + std::to_string(d) + " differs at index " + std::to_string(i) + " (" +
               num(x[i]) + " vs " + num(y[i]) + ")";
  }
  return "";
}

void write_scan_file(const std::string& path, const ScanData& d) {
  H5::Exception::dontPrint();  // per thread in a thread-safe HDF5 build
  Validator(path, kHintWrite).run(d);
  write_atomically(path, [&](const std::string& tmp) { Writer(path).write(tmp, d); });
}

ScanData read_scan_file(const std::string& path) {
  H5::Exception::dontPrint();
  return Reader(path).read();
}

ScanData open_or_create_scan(const std::string& path, const ScanSpec& spec, const Shard& shard,
                             const std::string& software_version, const std::string& command_line) {
  H5::Exception::dontPrint();
  check_shard(shard);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    ScanData d = read_scan_file(path);  // a file that is not a scan file is never overwritten
    const std::string diff = scan_spec_difference(d.spec, spec);
    if (!diff.empty())
      throw ConfigError(path + ": holds a different scan than this one (in the file vs now: " +
                        diff + "); " + kHintOut);
    if (d.shard != shard)
      throw ConfigError(path + ": holds shard " + std::to_string(d.shard.index) + "/" +
                        std::to_string(d.shard.count) + " of this scan, not shard " +
                        std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                        "; give every shard its own `out`, or delete the file to start afresh");
    return d;
  }
  Validator(path, kHintWrite).spec(spec);
  ScanData d = new_scan(spec, shard, software_version, command_line);
  write_scan_file(path, d);
  return d;
}

std::vector<int64_t> shard_points(int64_t num_points, int index, int count) {
  check_shard({index, count});
  if (num_points < 0)
    throw ConfigError("shard " + std::to_string(index) + "/" + std::to_string(count) + ": " +
                      std::to_string(num_points) + " points is negative; fix the caller");
  std::vector<int64_t> points;
  for (int64_t p = index - 1; p < num_points; p += count) points.push_back(p);
  return points;
}

ScanData merge_scans(const std::vector<std::string>& inputs) {
  H5::Exception::dontPrint();
  if (inputs.empty())
    throw ConfigError("merge: no scan files given; pass the shard files of one scan");
  std::vector<ScanData> all;
  for (const auto& path : inputs) all.push_back(read_scan_file(path));
  const ScanData& first = all[0];
  for (size_t i = 1; i < all.size(); ++i) {
    const std::string diff = scan_spec_difference(first.spec, all[i].spec);
    if (!diff.empty())
      throw ConfigError(inputs[i] + ": holds a different scan than " + inputs[0] + " (" + diff +
                        "); merge only the files of one scan (same command but for `shard`)");
  }

  ScanData out = new_scan(first.spec, Shard{}, first.software_version, first.command_line);
  out.created = first.created;
  const size_t P = static_cast<size_t>(first.spec.num_points());
  const size_t S = first.spec.scores.size();
  const size_t TS = first.spec.tasks.size() * S;
  std::vector<int> source(P, -1);  // the input each point was taken from
  for (size_t i = 0; i < all.size(); ++i) {
    const ScanData& d = all[i];
    for (size_t p = 0; p < P; ++p) {
      if (!d.done[p]) continue;
      const double* v = d.values.data() + p * TS;
      double* o = out.values.data() + p * TS;
      if (source[p] < 0) {
        std::copy(v, v + TS, o);
        out.done[p] = 1;
        source[p] = static_cast<int>(i);
        continue;
      }
      for (size_t k = 0; k < TS; ++k)
        if (!same_bits(v + k, o + k, 1))
          throw ConfigError(inputs[i] + ": point " + std::to_string(p) + " differs from " +
                            inputs[source[p]] + " (task set '" + first.spec.tasks[k / S] +
                            "', score '" + first.spec.scores[k % S] + "': " + num(v[k]) + " vs " +
                            num(o[k]) +
                            "); the files were not computed alike (another lorascape version, "
                            "device or dtype?); recompute one of them");
    }
  }

  // Extras and text: the union, identical where several inputs hold an entry.
  std::map<std::string, size_t> extra_source, text_source;
  for (size_t i = 0; i < all.size(); ++i) {
    for (const auto& [key, a] : all[i].extras) {
      auto [it, fresh] = extra_source.emplace(key, i);
      if (fresh) {
        out.extras[key] = a;
        continue;
      }
      const ScanArray& o = out.extras[key];
      if (a.shape != o.shape || !same_bits(a.values.data(), o.values.data(), a.values.size()))
        throw ConfigError(inputs[i] + ": /extras/" + key + " differs from " + inputs[it->second] +
                          "'s; the files were not computed alike; recompute one of them");
    }
    for (const auto& [key, value] : all[i].text) {
      auto [it, fresh] = text_source.emplace(key, i);
      if (fresh) {
        out.text[key] = value;
        continue;
      }
      if (value != out.text[key])
        throw ConfigError(inputs[i] + ": /text/" + key + " differs from " + inputs[it->second] +
                          "'s ('" + value + "' vs '" + out.text[key] +
                          "'); the files were not computed alike; recompute one of them");
    }
  }

  const int64_t missing = static_cast<int64_t>(P) - out.num_done();
  if (missing > 0) {
    // Name the absent or unfinished shards when the inputs are shards of one split.
    int count = 0;
    bool one_split = true;
    for (const auto& d : all) {
      if (d.shard.count == 1) continue;
      if (count == 0) count = d.shard.count;
      if (d.shard.count != count) one_split = false;
    }
    std::vector<std::string> why;
    if (count > 1 && one_split) {
      for (int k = 1; k <= count; ++k) {
        int64_t lacking = 0, total = 0;
        for (size_t p = static_cast<size_t>(k - 1); p < P; p += static_cast<size_t>(count)) {
          ++total;
          if (!out.done[p]) ++lacking;
        }
        if (lacking == 0) continue;
        std::vector<std::string> files;
        for (size_t i = 0; i < all.size(); ++i)
          if (all[i].shard == Shard{k, count}) files.push_back(inputs[i]);
        const std::string shard = "shard " + std::to_string(k) + "/" + std::to_string(count);
        if (files.empty())
          why.push_back(shard + " is not among the inputs");
        else
          why.push_back(shard + " (" + files[0] + ") is unfinished: " + std::to_string(lacking) +
                        " of its " + std::to_string(total) + " points are not done");
      }
    } else {
      std::vector<int64_t> points;
      for (size_t p = 0; p < P; ++p)
        if (!out.done[p]) points.push_back(static_cast<int64_t>(p));
      why.push_back("points " + first_points(points));
    }
    std::string details;
    for (size_t i = 0; i < why.size() && i < 4; ++i) details += (i ? "; " : "") + why[i];
    if (why.size() > 4) details += "; and " + std::to_string(why.size() - 4) + " more shards";
    throw ConfigError("merge: " + std::to_string(missing) + " of " + std::to_string(P) +
                      " points are done in no input (" + details +
                      "); pass every shard's file, and finish unfinished shards first (rerunning "
                      "a shard's command resumes it)");
  }
  return out;
}

}  // namespace lorascape::store
