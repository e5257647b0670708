#include "store/sweep_file.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "store/error.h"
#include "store/hdf5_io.h"

namespace lorascape::store {

using namespace detail;

int64_t SweepSpec::num_points() const {
  int64_t n = 1;
  for (const auto& v : values) n *= static_cast<int64_t>(v.size());
  return n;
}

int64_t SweepSpec::num_rows() const {
  return static_cast<int64_t>(methods.size()) * num_points() * static_cast<int64_t>(seeds.size());
}

std::vector<std::string> SweepSpec::point_values(int64_t p) const {
  std::vector<std::string> out(keys.size());
  for (size_t k = keys.size(); k-- > 0;) {
    const int64_t n = static_cast<int64_t>(values[k].size());
    out[k] = values[k][static_cast<size_t>(p % n)];
    p /= n;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> SweepSpec::point_settings(int64_t p) const {
  auto split = [](const std::string& text, char sep) {
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t at; (at = text.find(sep, from)) != std::string::npos; from = at + 1)
      out.push_back(text.substr(from, at - from));
    out.push_back(text.substr(from));
    return out;
  };
  std::vector<std::pair<std::string, std::string>> out;
  const std::vector<std::string> pv = point_values(p);
  for (size_t k = 0; k < keys.size(); ++k) {
    const std::vector<std::string> names = split(keys[k], ','), parts = split(pv[k], ':');
    for (size_t i = 0; i < names.size(); ++i)
      out.emplace_back(names[i], i < parts.size() ? parts[i] : "");
  }
  return out;
}

bool SweepSpec::operator==(const SweepSpec& o) const {
  return methods == o.methods && keys == o.keys && values == o.values && seeds == o.seeds &&
         split == o.split && score == o.score && config_json == o.config_json &&
         metrics == o.metrics;
}

namespace {

constexpr const char* kHintRewrite = "rerun `lorascape sweep` into a new file";

class Writer : public H5Writer {
 public:
  using H5Writer::H5Writer;
  void write(const std::string& out_path, const SweepData& d) {
    guard([&] { write_file(out_path, d); });
  }

 private:
  void write_file(const std::string& out_path, const SweepData& d) {
    H5::H5File f = create(out_path);
    {
      str_attr(f, "/", "format", kSweepFileFormat);
      int_attr(f, "/", "format_version", kSweepFileFormatVersion, H5::PredType::STD_I32LE);
      str_attr(f, "/", "software_version", d.software_version);
      str_attr(f, "/", "created", d.created);
      str_attr(f, "/", "command_line", d.command_line);
      str_attr(f, "/", "split", d.spec.split);
      str_attr(f, "/", "score", d.spec.score);
      str_attr(f, "/", "config_json", d.spec.config_json);
      int_attr(f, "/", "shard_index", d.shard.index, H5::PredType::STD_I32LE);
      int_attr(f, "/", "shard_count", d.shard.count, H5::PredType::STD_I32LE);
      str_list(f, "/", "methods", d.spec.methods);
      str_list(f, "/", "keys", d.spec.keys);
      str_list(f, "/", "metrics", d.spec.metrics);
      std::vector<double> seeds(d.spec.seeds.begin(), d.spec.seeds.end());
      f64_dataset(f, "/", "seeds", {seeds.size()}, seeds);
      {
        H5::Group g = group(f, "/", "grid");
        for (size_t k = 0; k < d.spec.keys.size(); ++k)
          str_list(g, "/grid", d.spec.keys[k], d.spec.values[k]);
      }
      const size_t n = d.rows.size(), m = d.spec.metrics.size();
      std::vector<double> row(n), point(n), seed(n), wall(n), metrics;
      std::vector<std::string> method(n);
      std::vector<std::vector<std::string>> settings(d.spec.keys.size(),
                                                     std::vector<std::string>(n));
      metrics.reserve(n * m);
      for (size_t i = 0; i < n; ++i) {
        const SweepRow& r = d.rows[i];
        row[i] = static_cast<double>(r.row);
        point[i] = static_cast<double>(r.point);
        seed[i] = static_cast<double>(r.seed);
        wall[i] = r.wall_s;
        method[i] = r.method;
        const auto pv = d.spec.point_values(r.point);
        for (size_t k = 0; k < pv.size(); ++k) settings[k][i] = pv[k];
        metrics.insert(metrics.end(), r.metrics.begin(), r.metrics.end());
      }
      H5::Group g = group(f, "/", "rows");
      f64_dataset(g, "/rows", "row", {n}, row);
      str_list(g, "/rows", "method", method);
      f64_dataset(g, "/rows", "point", {n}, point);
      f64_dataset(g, "/rows", "seed", {n}, seed);
      f64_dataset(g, "/rows", "metrics", {n, m}, metrics);
      f64_dataset(g, "/rows", "wall_s", {n}, wall);
      H5::Group s = group(g, "/rows", "settings");
      for (size_t k = 0; k < d.spec.keys.size(); ++k)
        str_list(s, "/rows/settings", d.spec.keys[k], settings[k]);
    }
    finish(f);
  }
};

class Reader : public H5Reader {
 public:
  explicit Reader(std::string file) : H5Reader(std::move(file), "sweep file") {}

  SweepData read() {
    SweepData d = read_whole([&](H5::H5File& f) { return read_file(f); });
    validate(d);
    return d;
  }

 private:
  int64_t whole(double v, const std::string& object) {
    if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9e15)
      bad(object, "holds " + std::to_string(v) + ", expected an integer");
    return static_cast<int64_t>(v);
  }

  std::vector<double> vector_of(H5::Group& g, const std::string& gp, const std::string& name,
                                size_t n) {
    std::vector<int64_t> dims;
    std::vector<double> v = f64_dataset(g, gp, name, dims);
    if (dims != std::vector<int64_t>{static_cast<int64_t>(n)})
      bad(join(gp, name),
          "has shape " + shape_str(dims) + ", expected (" + std::to_string(n) + ")");
    return v;
  }

  SweepData read_file(H5::H5File& f) {
    SweepData d;
    d.format_version = check_format(f, kSweepFileFormat, kSweepFileFormatVersion);
    d.software_version = str_attr(f, "/", "software_version");
    d.created = str_attr(f, "/", "created");
    d.command_line = str_attr(f, "/", "command_line");
    d.spec.split = str_attr(f, "/", "split");
    d.spec.score = str_attr(f, "/", "score");
    d.spec.config_json = str_attr(f, "/", "config_json");
    d.shard.index = static_cast<int>(int_attr(f, "/", "shard_index"));
    d.shard.count = static_cast<int>(int_attr(f, "/", "shard_count"));
    d.spec.methods = str_list(f, "/", "methods");
    d.spec.keys = str_list(f, "/", "keys");
    d.spec.metrics = str_list(f, "/", "metrics");
    std::vector<int64_t> dims;
    for (double s : f64_dataset(f, "/", "seeds", dims)) d.spec.seeds.push_back(whole(s, "/seeds"));
    {
      H5::Group g = open_group(f, "/", "grid");
      for (const auto& k : d.spec.keys) d.spec.values.push_back(str_list(g, "/grid", k));
    }
    H5::Group g = open_group(f, "/", "rows");
    const std::vector<std::string> method = str_list(g, "/rows", "method");
    const size_t n = method.size(), m = d.spec.metrics.size();
    const auto row = vector_of(g, "/rows", "row", n);
    const auto point = vector_of(g, "/rows", "point", n);
    const auto seed = vector_of(g, "/rows", "seed", n);
    const auto wall = vector_of(g, "/rows", "wall_s", n);
    const auto metrics = f64_dataset(g, "/rows", "metrics", dims);
    if (dims != std::vector<int64_t>{static_cast<int64_t>(n), static_cast<int64_t>(m)})
      bad("/rows/metrics", "has shape " + shape_str(dims) + ", expected (" + std::to_string(n) +
                               ", " + std::to_string(m) + ") (rows, metrics)");
    for (size_t i = 0; i < n; ++i) {
      SweepRow r;
      r.row = whole(row[i], "/rows/row");
      r.method = method[i];
      r.point = whole(point[i], "/rows/point");
      r.seed = whole(seed[i], "/rows/seed");
      r.wall_s = wall[i];
      r.metrics.assign(metrics.begin() + static_cast<std::ptrdiff_t>(i * m),
                       metrics.begin() + static_cast<std::ptrdiff_t>((i + 1) * m));
      d.rows.push_back(std::move(r));
    }
    return d;
  }

  void validate(const SweepData& d) {
    const SweepSpec& s = d.spec;
    if (d.shard.count < 1 || d.shard.index < 1 || d.shard.index > d.shard.count)
      bad("/shard_index", "shard " + std::to_string(d.shard.index) + "/" +
                              std::to_string(d.shard.count) + " is not in 1..count");
    if (s.values.size() != s.keys.size()) bad("/grid", "does not list every key");
    for (size_t k = 0; k < s.values.size(); ++k)
      if (s.values[k].empty()) bad("/grid/" + s.keys[k], "is empty");
    int64_t last = -1;
    for (const SweepRow& r : d.rows) {
      const std::string at = "/rows (row " + std::to_string(r.row) + ")";
      if (r.row <= last || r.row >= s.num_rows())
        bad(at, "row indices must increase and be below " + std::to_string(s.num_rows()));
      last = r.row;
      const int64_t seeds = static_cast<int64_t>(s.seeds.size()), points = s.num_points();
      const int64_t seed_i = r.row % seeds, point = (r.row / seeds) % points,
                    method = r.row / (seeds * points);
      if (r.point != point || r.seed != s.seeds[static_cast<size_t>(seed_i)] ||
          r.method != s.methods[static_cast<size_t>(method)])
        bad(at, "method, point or seed do not match the row index");
      if (r.row % d.shard.count != d.shard.index - 1)
        bad(at, "is not in shard " + std::to_string(d.shard.index) + "/" +
                    std::to_string(d.shard.count));
    }
  }
};

}  // namespace

void write_sweep_file(const std::string& path, const SweepData& d) {
  H5::Exception::dontPrint();
  write_atomically(path, [&](const std::string& tmp) { Writer(path).write(tmp, d); });
}

SweepData read_sweep_file(const std::string& path) {
  H5::Exception::dontPrint();
  return Reader(path).read();
}

SweepData merge_sweeps(const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw ConfigError("merge: no sweep files given; hint: name the shard files");
  SweepData out;
  std::set<int> seen;
  int count = 0;
  for (const auto& path : inputs) {
    SweepData d = read_sweep_file(path);
    if (seen.empty()) {
      out = d;
      out.rows.clear();
      count = d.shard.count;
    } else if (!(d.spec == out.spec)) {
      throw ConfigError(path + ": not a shard of the same sweep as " + inputs[0] +
                        " (methods, grid, seeds, split or configuration differ); hint: merge "
                        "the shards of one sweep command");
    } else if (d.shard.count != count) {
      throw ConfigError(path + ": shard " + std::to_string(d.shard.index) + "/" +
                        std::to_string(d.shard.count) + " does not match " + std::to_string(count) +
                        " shards of " + inputs[0]);
    }
    if (!seen.insert(d.shard.index).second)
      throw ConfigError(path + ": shard " + std::to_string(d.shard.index) +
                        " is given twice; hint: name each shard file once");
    out.rows.insert(out.rows.end(), d.rows.begin(), d.rows.end());
  }
  if (static_cast<int>(seen.size()) != count)
    throw ConfigError("merge: " + std::to_string(seen.size()) + " of " + std::to_string(count) +
                      " shards given; hint: name every shard file");
  std::vector<int64_t> per_shard(static_cast<size_t>(count), 0);
  for (const auto& r : out.rows) ++per_shard[static_cast<size_t>(r.row % count)];
  std::string unfinished;
  for (int k = 0; k < count; ++k)
    if (per_shard[static_cast<size_t>(k)] !=
        static_cast<int64_t>(shard_points(out.spec.num_rows(), k + 1, count).size()))
      unfinished += (unfinished.empty() ? "" : ", ") + std::to_string(k + 1);
  if (!unfinished.empty())
    throw ConfigError(
        "merge: " + std::to_string(out.spec.num_rows() - static_cast<int64_t>(out.rows.size())) +
        " of " + std::to_string(out.spec.num_rows()) + " rows missing (unfinished shards: " +
        unfinished + "); hint: finish them by running their command again");
  std::sort(out.rows.begin(), out.rows.end(),
            [](const SweepRow& a, const SweepRow& b) { return a.row < b.row; });
  out.shard = {};
  return out;
}

}  // namespace lorascape::store
