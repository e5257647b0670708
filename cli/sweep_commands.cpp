// `lorascape sweep`: a grid of settings × methods × seeds, each a training run evaluated on one
// split (eval for tuning), as one table (store/sweep_file.h), resumable and shardable like the
// scans; `lorascape sweep-merge` combines the shards. docs/user-guide.md, "Tuning: sweep".
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "analysis/scan.h"
#include "cli/cli.h"
#include "core/metrics.h"
#include "core/run.h"
#include "core/strategies.h"
#include "core/version.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/sweep_file.h"

namespace fs = std::filesystem;

namespace lorascape::cli {

using namespace lorascape::core;

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

// "key=v1,v2,…" → key and values; ConfigError naming the option otherwise.
std::pair<std::string, std::vector<std::string>> parse_grid(const std::string& text) {
  const size_t eq = text.find('=');
  const std::string hint = "; hint: write --grid key=v1,v2,... e.g. --grid ewc.lambda=10,100";
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw ConfigError("`grid` '" + text + "': expected key=v1,v2,..." + hint);
  const std::string key = text.substr(0, eq);
  std::vector<std::string> values = split_list(text.substr(eq + 1));
  for (const auto& v : values)
    if (v.empty()) throw ConfigError("`grid` '" + text + "': an empty value" + hint);
  // Linked keys ("train.optimizer,train.lr=adamw:0.003,sgd:0.1"): one axis, each value giving
  // every key its part.
  const std::vector<std::string> keys = split_list(key);
  for (const auto& k : keys) {
    if (k.empty()) throw ConfigError("`grid` '" + text + "': an empty key" + hint);
    for (const char* fixed : {"seed", "out", "train.method", "eval.split"})
      if (k == fixed)
        throw ConfigError("`grid` '" + k +
                          "' is set by the sweep itself; hint: use `seeds`, `out`, `method` or "
                          "`split` instead");
  }
  for (const auto& v : values)
    if (std::count(v.begin(), v.end(), ':') + 1 != static_cast<std::ptrdiff_t>(keys.size()))
      throw ConfigError("`grid` '" + text + "': value '" + v + "' must give " +
                        std::to_string(keys.size()) +
                        " parts separated by ':', one per key; hint: e.g. --grid "
                        "train.optimizer,train.lr=adamw:0.003,sgd:0.1");
  return {key, values};
}

struct SweepOptions {
  std::vector<std::string> methods;
  std::vector<std::string> grids;
  std::string seeds = "1";
  std::string split = "eval";
  std::string out;
  std::string runs;  // run folders; default <out without extension>-runs
  std::string csv;
  std::string shard;
};

std::string fmt(double v) {
  char buf[32];
  if (std::isnan(v))
    std::snprintf(buf, sizeof buf, "%7s", "nan");
  else
    std::snprintf(buf, sizeof buf, "%7.3f", v);
  return buf;
}

// The mean of every metric (and the wall time) over the seeds finished at each (method, point),
// printed, optionally as CSV, with each method's best point: the highest mean OP (first on a tie).
void report(const store::SweepData& d, const std::string& csv) {
  const store::SweepSpec& s = d.spec;
  struct Cell {
    std::vector<double> sum;
    double wall = 0;
    int n = 0;
  };
  std::map<std::pair<std::string, int64_t>, Cell> cells;
  for (const auto& r : d.rows) {
    Cell& c = cells[{r.method, r.point}];
    if (c.sum.empty()) c.sum.assign(s.metrics.size(), 0.0);
    for (size_t m = 0; m < s.metrics.size(); ++m) c.sum[m] += r.metrics[m];
    c.wall += r.wall_s;
    ++c.n;
  }
  std::map<std::string, int64_t> best;
  for (const auto& method : s.methods) {
    double top = -INFINITY;
    for (int64_t p = 0; p < s.num_points(); ++p) {
      const auto it = cells.find({method, p});
      if (it == cells.end()) continue;
      const double op = it->second.sum[0] / it->second.n;
      if (op > top) top = op, best[method] = p;
    }
  }
  std::string table = "method";  // a linked key's parts in columns of their own
  if (s.num_points() > 0)
    for (const auto& kv : s.point_settings(0)) table += "," + kv.first;
  table += ",seeds";
  for (const auto& m : s.metrics) table += "," + m;
  table += ",wall_s,best\n";
  std::printf("\nmeans over seeds (metrics on the %s split, %s):\n%-8s", s.split.c_str(),
              s.score.c_str(), "method");
  for (const auto& k : s.keys) std::printf(" %12s", k.c_str());
  std::printf(" %5s", "seeds");
  for (const auto& m : s.metrics) std::printf(" %7.7s", m.c_str());
  std::printf(" %8s\n", "wall_s");
  for (const auto& method : s.methods)
    for (int64_t p = 0; p < s.num_points(); ++p) {
      const auto it = cells.find({method, p});
      if (it == cells.end()) continue;
      const Cell& c = it->second;
      const bool is_best = best.count(method) && best[method] == p;
      std::printf("%-8s", method.c_str());
      table += method;
      for (const auto& v : s.point_values(p)) std::printf(" %12s", v.c_str());
      for (const auto& kv : s.point_settings(p)) table += "," + kv.second;
      std::printf(" %5d", c.n);
      table += "," + std::to_string(c.n);
      for (double v : c.sum) {
        std::printf(" %s", fmt(v / c.n).c_str());
        char buf[40];
        std::snprintf(buf, sizeof buf, ",%.6g", v / c.n);
        table += buf;
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, ",%.3f,%d\n", c.wall / c.n, is_best ? 1 : 0);
      table += buf;
      std::printf(" %8.1f%s\n", c.wall / c.n, is_best ? "  <- best" : "");
    }
  for (const auto& [method, p] : best) {
    std::string settings;
    const auto pv = s.point_values(p);
    for (size_t k = 0; k < pv.size(); ++k) settings += " " + s.keys[k] + "=" + pv[k];
    std::printf("best %s (highest mean OP on %s):%s\n", method.c_str(), s.split.c_str(),
                settings.empty() ? " (no grid)" : settings.c_str());
  }
  if (!csv.empty()) {
    write_text_atomic(csv, table);
    std::printf("wrote %s\n", csv.c_str());
  }
}

int cmd_sweep(const ConfigOptions& co, const SweepOptions& o) {
  RunConfig base = co.resolve();
  if (o.split != "eval" && o.split != "test")
    throw ConfigError("`split` '" + o.split + "': use eval (tuning) or test (reporting)");
  base.eval.split = o.split;
  store::SweepData d;
  store::SweepSpec& s = d.spec;
  for (const auto& m : o.methods)
    for (const auto& one : split_list(m)) s.methods.push_back(one);
  if (s.methods.empty()) s.methods.push_back(base.train.method);
  for (const auto& g : o.grids) {
    auto [key, values] = parse_grid(g);
    for (const auto& k : s.keys)
      if (k == key)
        throw ConfigError("`grid` '" + key + "' is given twice; hint: give each key once");
    s.keys.push_back(key);
    s.values.push_back(values);
  }
  for (const auto& t : split_list(o.seeds)) {
    try {
      size_t used = 0;
      s.seeds.push_back(std::stoll(t, &used));
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw ConfigError("`seeds` '" + o.seeds + "': expected integers, e.g. 1,2,3");
    }
  }
  if (s.seeds.empty()) throw ConfigError("`seeds` is empty; hint: e.g. --seeds 1,2,3");
  s.split = o.split;
  s.score = "exact_match";
  s.metrics = metric_names();
  s.config_json = base.to_json().dump();
  d.shard = analysis::parse_shard(o.shard);

  // Every run's configuration, checked before any work.
  auto row_config = [&](int64_t r) {
    const int64_t seeds = static_cast<int64_t>(s.seeds.size()), points = s.num_points();
    RunConfig cfg = base;
    cfg.train.method = s.methods[static_cast<size_t>(r / (seeds * points))];
    for (const auto& [key, value] : s.point_settings((r / seeds) % points))
      apply_override(cfg, key + "=" + value);
    cfg.seed = s.seeds[static_cast<size_t>(r % seeds)];
    cfg.validate();
    (void)make_strategy(cfg);
    return cfg;
  };
  const auto mine = store::shard_points(s.num_rows(), d.shard.index, d.shard.count);
  for (int64_t r : mine) (void)row_config(r);

  if (o.out.empty())
    throw ConfigError("`out` is missing; hint: name the sweep file, e.g. sweep.h5");
  check_text_output(o.csv, {o.out}, "csv");
  std::error_code ec;
  if (fs::exists(o.out, ec)) {
    store::SweepData old = store::read_sweep_file(o.out);
    if (!(old.spec == s))
      throw ConfigError(o.out +
                        ": holds another sweep (methods, grid, seeds, split or configuration "
                        "differ); hint: rerun the same command to resume, or use a new `out`");
    if (old.shard != d.shard)
      throw ConfigError(o.out + ": holds shard " + std::to_string(old.shard.index) + "/" +
                        std::to_string(old.shard.count) + "; hint: resume with the same `shard`");
    d = old;
    std::printf("resuming %s: %zu of %zu rows done\n", o.out.c_str(), d.rows.size(), mine.size());
  } else {
    d.software_version = kVersion;
    d.created = store::utc_now();
    d.command_line = command_line();
    store::write_sweep_file(o.out, d);
  }
  const std::string runs =
      o.runs.empty() ? fs::path(o.out).replace_extension("").string() + "-runs" : o.runs;
  std::map<int64_t, bool> done;
  for (const auto& r : d.rows) done[r.row] = true;
  for (int64_t r : mine) {
    if (done.count(r)) continue;
    RunConfig cfg = row_config(r);
    cfg.out = (fs::path(runs) / ("row-" + std::to_string(r))).string();
    std::printf("row %lld/%lld: %s seed %lld", static_cast<long long>(r + 1),
                static_cast<long long>(s.num_rows()), cfg.train.method.c_str(),
                static_cast<long long>(cfg.seed));
    const auto pv = s.point_values((r / static_cast<int64_t>(s.seeds.size())) % s.num_points());
    for (size_t k = 0; k < pv.size(); ++k) std::printf(" %s=%s", s.keys[k].c_str(), pv[k].c_str());
    std::printf("\n");
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    const RunOutput out = run_training(cfg, command_line());
    store::SweepRow row;
    row.row = r;
    row.method = cfg.train.method;
    row.point = (r / static_cast<int64_t>(s.seeds.size())) % s.num_points();
    row.seed = cfg.seed;
    for (const auto& [name, v] : named(out.metrics)) row.metrics.push_back(v);
    row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    d.rows.push_back(row);
    std::sort(d.rows.begin(), d.rows.end(),
              [](const store::SweepRow& a, const store::SweepRow& b) { return a.row < b.row; });
    store::write_sweep_file(o.out, d);  // atomically: a kill leaves the rows before this one
  }
  std::printf("wrote %s (%zu of %lld rows%s; run folders in %s)\n", o.out.c_str(), d.rows.size(),
              static_cast<long long>(s.num_rows()),
              d.shard.count == 1
                  ? ""
                  : (", shard " + std::to_string(d.shard.index) + "/" +
                     std::to_string(d.shard.count) + "; combine with `lorascape sweep-merge`")
                        .c_str(),
              runs.c_str());
  report(d, o.csv);
  return 0;
}

int cmd_sweep_merge(const std::vector<std::string>& inputs, const std::string& out,
                    const std::string& csv) {
  std::vector<std::string> all = inputs;
  check_text_output(csv, all, "csv");
  for (const auto& in : inputs)
    if (fs::exists(out) && fs::equivalent(in, out))
      throw ConfigError("`out` '" + out + "' is one of the shard files; hint: write a new file");
  store::SweepData d = store::merge_sweeps(inputs);
  d.command_line = command_line();
  store::write_sweep_file(out, d);
  std::printf("wrote %s (%zu shards, %zu of %lld rows)\n", out.c_str(), inputs.size(),
              d.rows.size(), static_cast<long long>(d.spec.num_rows()));
  report(d, csv);
  return 0;
}

struct SweepState {
  ConfigOptions co;
  SweepOptions opt;
  std::vector<std::string> merge_inputs;
  std::string merge_out;
  std::string merge_csv;
};

}  // namespace

void add_sweep_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<SweepState>();
  auto* sweep = app.add_subcommand(
      "sweep",
      "train a grid of settings x methods x seeds, evaluated on the eval split, into one table "
      "(resumable: rerun the same command; shardable: --shard k/N, then `lorascape sweep-merge`)");
  s->co.add(sweep, false);
  sweep->add_option("--method,-m", s->opt.methods,
                    "method(s), comma-separated or repeated (default: train.method)");
  sweep->add_option("--grid,-g", s->opt.grids,
                    "key=v1,v2,... a setting and its values (repeatable; the grid is the product)");
  sweep->add_option("--seeds", s->opt.seeds, "seeds, comma-separated")->capture_default_str();
  sweep
      ->add_option("--split", s->opt.split,
                   "split the runs are evaluated on: eval (tuning) | test (reporting)")
      ->capture_default_str();
  sweep->add_option("--out,-o", s->opt.out, "sweep file (.h5) to write or resume")->required();
  sweep->add_option("--runs", s->opt.runs,
                    "folder of the run folders, one per row (default: OUT without .h5 + -runs)");
  sweep->add_option("--csv", s->opt.csv, "also write the table of means per grid point as CSV");
  sweep->add_option("--shard", s->opt.shard, "run only shard k of N (rows r with r % N = k-1)");
  auto* merge = app.add_subcommand("sweep-merge", "combine the shard files of one sweep");
  merge->add_option("shards", s->merge_inputs, "shard sweep files")
      ->required()
      ->check(CLI::ExistingFile);
  merge->add_option("--out,-o", s->merge_out, "full sweep file to write")->required();
  merge->add_option("--csv", s->merge_csv, "also write the table of means as CSV");
  table.push_back({sweep, [s] { return cmd_sweep(s->co, s->opt); }});
  table.push_back(
      {merge, [s] { return cmd_sweep_merge(s->merge_inputs, s->merge_out, s->merge_csv); }});
}

}  // namespace lorascape::cli
