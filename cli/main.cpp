// lorascape — command-line front end of core and analysis.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "analysis/adapter_ref.h"
#include "analysis/analyse_run.h"
#include "analysis/bench.h"
#include "analysis/curve.h"
#include "analysis/geometry.h"
#include "analysis/line_scan.h"
#include "analysis/mpi.h"
#include "analysis/plane.h"
#include "analysis/sharpness.h"
#include "cli/doctor.h"
#include "core/adapter.h"
#include "core/base_model.h"
#include "core/config.h"
#include "core/device.h"
#include "core/evaluate.h"
#include "core/progress.h"
#include "core/run.h"
#include "core/run_file_io.h"
#include "core/strategies.h"
#include "core/tasks.h"
#include "core/version.h"
#include "gui/plot_command.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/scan_file.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::core;

namespace {

std::string g_command_line;

// A library message with its settings named as this program's flags: `max_iter` -> --max-iter
// (store/error.h).
std::string cli_message(const std::string& message) {
  static const std::regex setting("`([a-z][a-z0-9_]*)`");
  std::string out;
  auto it = std::sregex_iterator(message.begin(), message.end(), setting);
  size_t pos = 0;
  for (; it != std::sregex_iterator(); ++it) {
    out += message.substr(pos, static_cast<size_t>(it->position()) - pos);
    std::string flag = (*it)[1];
    std::replace(flag.begin(), flag.end(), '_', '-');
    out += "--" + flag;
    pos = static_cast<size_t>(it->position() + it->length());
  }
  return out + message.substr(pos);
}

// --config FILE and --set key=value, shared by every command that takes a RunConfig.
struct ConfigOptions {
  std::string file;
  std::vector<std::string> sets;
  std::string device;
  void add(CLI::App* app, bool config_required) {
    auto* o = app->add_option("--config,-c", file,
                              "TOML configuration (see `lorascape config` and data/configs/)");
    if (config_required) o->required();
    o->check(CLI::ExistingFile);
    app->add_option("--set,-s", sets, "override one key, e.g. --set train.lr=0.001 (repeatable)");
    app->add_option("--device", device, "cpu | cuda | auto (same as --set device=...)");
  }
  RunConfig resolve() const {
    RunConfig cfg = file.empty() ? RunConfig{} : load_config(file);
    for (const auto& s : sets) apply_override(cfg, s);
    if (!device.empty()) cfg.device = device;
    cfg.validate();
    return cfg;
  }
};

void print_result(const RunOutput& out) {
  const RunResult& r = out.result;
  std::printf("\n%s", format_matrix(r, "exact_match").c_str());
  if (r.learners.size() == 1) {
    std::printf("\nmetrics (exact match): %s\n", format_metrics(out.metrics).c_str());
    return;
  }
  // Several learners (I-LoRA): every learner's matrix and metrics, the reported one first.
  for (const auto& [key, l] : r.learners)
    if (key != r.reported) std::printf("\n%s", format_matrix(r, "exact_match", key).c_str());
  std::printf("\nmetrics (exact match), %-5s (reported): %s\n", r.reported.c_str(),
              format_metrics(out.metrics).c_str());
  for (const auto& [key, l] : r.learners)
    if (key != r.reported)
      std::printf("metrics (exact match), %-5s           : %s\n", key.c_str(),
                  format_metrics(r.metrics("exact_match", key)).c_str());
}

int cmd_tasks(int64_t seed) {
  SplitSizes sizes;
  sizes.train = 1;
  sizes.eval = 1;
  sizes.test = 1;
  std::printf(
      "Built-in task suite (seed %lld). Each task: train/eval/test splits generated from the "
      "seed.\n\n",
      static_cast<long long>(seed));
  for (const auto& name : builtin_task_names()) {
    Task t = make_builtin_task(name, static_cast<uint64_t>(seed), sizes);
    std::printf("%-10s %-7s %s\n", t.name.c_str(), to_string(t.kind), t.description.c_str());
    std::printf("           e.g. \"%s\" -> \"%s\"\n", t.train[0].prompt.c_str(),
                t.train[0].answer.c_str());
  }
  std::printf(
      "\nUser data: set tasks.source to a folder <root>/<task>/{train,eval,test}.json[l] "
      "of {\"prompt\", \"answer\"} records.\n");
  return 0;
}

int cmd_config() {
  std::printf(
      "Configuration keys (TOML sections by prefix; defaults shown). Override with --set "
      "key=value.\n\n");
  for (const auto& f : config_fields())
    std::printf("%-22s %-16s %-28s %s\n", f.key.c_str(), f.type.c_str(), f.default_value.c_str(),
                f.help.c_str());
  return 0;
}

int cmd_pretrain(const ConfigOptions& co, const std::string& out) {
  RunConfig cfg = co.resolve();
  set_threads(cfg.threads);
  const auto device = resolve_device(cfg.device);
  if (out.empty()) {
    cfg.base = "auto";
    const std::string path = ensure_base_model(cfg, device);
    std::printf("base model: %s\n", path.c_str());
    return 0;
  }
  PretrainReport rep;
  Transformer m = pretrain_base_model(cfg.model, cfg.pretrain, cfg.seed, device, &rep);
  nlohmann::json info = {{"config", cfg.to_json()},
                         {"first_loss", rep.first_loss},
                         {"final_loss", rep.final_loss},
                         {"command_line", g_command_line}};
  save_base_model(out, *m, info);
  std::printf("base model: %s (loss %.3f -> %.3f in %lld steps, %.1f s)\n", out.c_str(),
              rep.first_loss, rep.final_loss, static_cast<long long>(rep.steps), rep.seconds);
  return 0;
}

int cmd_train(const ConfigOptions& co, const std::string& method) {
  RunConfig cfg = co.resolve();
  if (!method.empty()) cfg.train.method = method;
  RunOutput out = run_training(cfg, g_command_line);
  print_result(out);
  std::printf("\nresults: %s/results.json   adapters: %s/adapters/\n", out.out_dir.c_str(),
              out.out_dir.c_str());
  return 0;
}

// The base model an adapter was trained on: --base, else the cached file named in its config.
std::string base_for_adapter(const PeftAdapter& pa, const std::string& base_opt,
                             const std::string& adapter_path) {
  if (!base_opt.empty()) return base_opt;
  const std::string name = pa.extra.value("base_model", std::string());
  if (name.empty())
    throw ConfigError(adapter_path +
                      ": adapter_config.json names no lorascape base model; pass --base FILE");
  const std::string path = cache_dir() + "/" + name;
  if (!fs::exists(path))
    throw ConfigError(adapter_path + ": its base model " + name + " is not in the cache " +
                      cache_dir() + "; pass --base FILE");
  const std::string want = pa.extra.value("base_model_digest", std::string());
  if (!want.empty() && file_digest(path) != want)
    throw FormatError(path +
                      ": digest differs from the one recorded in the adapter (the cache was "
                      "rebuilt?); pass --base FILE");
  return path;
}

Transformer model_with_adapter(const std::string& adapter_path, const std::string& base_opt,
                               const c10::Device& dev) {
  if (adapter_path.empty()) {
    if (base_opt.empty()) throw ConfigError("give --adapter DIR or --base FILE");
    Transformer m = load_base_model(base_opt);
    m->to(dev);
    return m;
  }
  PeftAdapter pa = load_peft_adapter(adapter_path);
  Transformer m = load_base_model(base_for_adapter(pa, base_opt, adapter_path));
  m->add_lora(pa.lora);
  pa.adapter.load_into(*m, adapter_path);
  m->to(dev);
  return m;
}

int cmd_eval(const ConfigOptions& co, const std::string& adapter, const std::string& base,
             const std::vector<std::string>& task_names, bool greedy) {
  RunConfig cfg = co.resolve();
  if (!task_names.empty()) cfg.tasks.names = task_names;
  set_threads(cfg.threads);
  const auto dev = resolve_device(cfg.device);
  Transformer m = model_with_adapter(adapter, base, dev);
  const auto tasks = load_tasks(cfg);
  std::printf("%-12s %8s %10s %12s%s\n", "task", "loss", "token_acc", "exact_match",
              greedy ? "  greedy_em" : "");
  for (const auto& t : tasks) {
    Scores s = evaluate_examples(*m, eval_split(t, cfg), cfg.eval.max_examples, cfg.eval.batch);
    std::printf("%-12s %8.4f %10.3f %12.3f", t.name.c_str(), s.loss, s.token_acc, s.exact_match);
    if (greedy)
      std::printf("  %9.3f", greedy_exact_match(*m, eval_split(t, cfg), cfg.eval.max_examples));
    std::printf("\n");
  }
  return 0;
}

int cmd_generate(const std::string& adapter, const std::string& base, const std::string& prompt,
                 int64_t max_new, const std::string& device) {
  Transformer m = model_with_adapter(adapter, base, resolve_device(device));
  std::printf("%s\n", greedy_generate(*m, prompt, max_new).c_str());
  return 0;
}

// One row per method (its reported learner), then one per other learner ("ilora/fast").
// Several run files (e.g. one per seed, same tasks): mean ± sample standard deviation.
int cmd_compare(const std::vector<std::string>& paths, const std::string& score,
                const std::string& csv) {
  const auto& names = metric_names();
  std::vector<std::string> labels;                                 // first-seen order
  std::map<std::string, std::vector<std::vector<double>>> values;  // label -> per file -> metric
  std::vector<std::string> tasks;
  for (const auto& path : paths) {
    const store::RunFileData run = store::read_run_file(path);
    if (tasks.empty())
      tasks = run.tasks;
    else if (run.tasks != tasks)
      throw ConfigError(path + ": its tasks differ from " + paths.front() +
                        "'s (compare runs of one task sequence)");
    auto add = [&](const std::string& label,
                   const std::map<std::string, std::map<std::string, double>>& metrics) {
      auto it = metrics.find(score);
      if (it == metrics.end())
        throw ConfigError(path + ": method '" + label + "' has no metrics for score '" + score +
                          "' (use --score exact_match, token_acc or loss)");
      std::vector<double> row;
      for (const auto& n : names) {
        auto v = it->second.find(n);
        row.push_back(v == it->second.end() ? std::nan("") : v->second);
      }
      if (!values.count(label)) labels.push_back(label);
      values[label].push_back(std::move(row));
    };
    for (const auto& m : run.methods) {
      add(m.name, m.metrics);
      for (const auto& [key, l] : m.learners) add(m.name + "/" + key, l.metrics);
    }
  }
  const bool many = paths.size() > 1;
  std::printf("%s: %zu tasks (%s), metrics on %s%s\n\n%-12s",
              many ? (std::to_string(paths.size()) + " run files").c_str() : paths[0].c_str(),
              tasks.size(), tasks.empty() ? "" : (tasks.front() + " … " + tasks.back()).c_str(),
              score.c_str(),
              many ? ", mean ± sd over the files (n = files holding the method)" : "", "method");
  for (const auto& n : names) std::printf(many ? "%17s" : "%12s", n.c_str());
  std::printf(many ? "   n\n" : "\n");
  std::string table = "method";
  for (const auto& n : names) table += "," + n;
  table += "\n";
  for (const auto& label : labels) {
    const auto& rows = values[label];
    std::printf("%-12s", label.c_str());
    table += label;
    for (size_t j = 0; j < names.size(); ++j) {
      double sum = 0, sq = 0;
      for (const auto& r : rows) sum += r[j];
      const double mean = sum / static_cast<double>(rows.size());
      for (const auto& r : rows) sq += (r[j] - mean) * (r[j] - mean);
      if (many)
        std::printf("%9.4f ±%6.4f", mean,
                    rows.size() > 1 ? std::sqrt(sq / static_cast<double>(rows.size() - 1)) : 0.0);
      else
        std::printf("%12.4f", mean);
      char buf[32];
      std::snprintf(buf, sizeof buf, ",%.6g", mean);
      table += buf;
    }
    if (many) std::printf("%4zu", rows.size());
    std::printf("\n");
    table += "\n";
  }
  if (!csv.empty()) {
    write_text_atomic(csv, table);
    std::printf("\nwrote %s%s\n", csv.c_str(), many ? " (means)" : "");
  }
  return 0;
}

int cmd_export_adapter(const std::string& ref, const std::string& out) {
  if (ref.rfind(".h5:") == std::string::npos)
    throw ConfigError(
        "'" + ref + "': expected RUN.h5:METHOD/STAGE[/KEY], e.g. run.h5:seq/2 or run.h5:seq/arith");
  const analysis::AdapterSource src = analysis::load_adapter_ref(ref);
  nlohmann::json extra = src.info;
  extra.erase("run_file");
  extra["base_model"] = src.base_model;
  extra["base_model_digest"] = src.base_model_digest;
  extra["exported_from"] = ref;
  extra["lorascape_version"] = kVersion;
  save_peft_adapter(out, src.adapter, src.lora, extra);
  std::printf("wrote %s (method %s, stage %d: %s, adapter %s)\n", out.c_str(),
              src.info["method"].get<std::string>().c_str(), src.info["stage"].get<int>(),
              src.info["task"].get<std::string>().c_str(),
              src.info["key"].get<std::string>().c_str());
  return 0;
}

// Options every `scan …` kind shares (analysis::ScanOptions), plus --shard's text.
struct ScanCli {
  ConfigOptions co;
  analysis::ScanOptions opt;
  std::string shard;
  void add(CLI::App* app) {
    co.add(app, false);
    app->add_option("--space", opt.space,
                    "factors (interpolate A and B) | delta (interpolate s·BA, kept low rank)")
        ->capture_default_str();
    app->add_option("--tasks,-t", opt.tasks, "tasks to evaluate (default: all of the run's)")
        ->delimiter(',');
    app->add_option("--union", opt.union_tasks,
                    "also evaluate the union of these tasks (task set 'union')")
        ->delimiter(',');
    app->add_option("--base,-b", opt.base,
                    "base model file (default: the one the adapters name, from the cache)");
    app->add_option("--shard", shard,
                    "compute only shard k of N (k = 1..N); combine with `lorascape merge`");
    app->add_option("--dtype", opt.dtype,
                    "float32 | bfloat16 (bfloat16 is meant for --device cuda)")
        ->capture_default_str();
    app->add_option("--points-per-batch", opt.points_per_batch,
                    "points evaluated per batched forward (0 = automatic, up to 8)")
        ->capture_default_str();
    app->add_option("--out,-o", opt.out,
                    "scan file to write, or to resume (rerun the same command)")
        ->required();
  }
  // The options with --shard parsed, and the run configuration giving the task data (that of
  // the run file `ref` points into, unless --config is given).
  analysis::ScanOptions options() const {
    analysis::ScanOptions o = opt;
    o.shard = analysis::parse_shard(shard);
    return o;
  }
  RunConfig data(const std::string& ref) const {
    return analysis::scan_data_config(ref, co.resolve(), !co.file.empty(), co.sets);
  }
};

// What every scan command prints at the end: progress of the file and, once complete, its
// summary.
void report_scan(const store::ScanData& d, const analysis::ScanOptions& opt) {
  std::printf("%s: %lld of %lld points done%s\n", opt.out.c_str(),
              static_cast<long long>(d.num_done()), static_cast<long long>(d.num_points()),
              d.complete()
                  ? ""
                  : (" (shard " + std::to_string(opt.shard.index) + "/" +
                     std::to_string(opt.shard.count) + "; combine shards with `lorascape merge`)")
                        .c_str());
  if (d.complete() && d.text.count("summary")) std::printf("\n%s", d.text.at("summary").c_str());
  if (d.text.count("non_finite")) std::printf("warning: %s\n", d.text.at("non_finite").c_str());
}

// Runs one scan kind (`run`, e.g. analysis::run_line_scan) with the shared options, on the
// task data of the run file `data_ref` points into, and reports on rank 0.
template <class Options, class Run>
int cmd_scan(const ScanCli& sc, Options opt, const std::string& data_ref, Run run) {
  opt.scan = sc.options();
  const store::ScanData d = run(opt, sc.data(data_ref), g_command_line);
  if (analysis::Mpi::instance().rank() == 0) report_scan(d, opt.scan);
  return 0;
}

// Distances, cosines and principal angles between the adapters (analysis/geometry.h).
int cmd_geometry(const std::vector<std::string>& refs, const std::string& out,
                 const std::string& csv) {
  if (refs.size() < 2)
    throw ConfigError(
        "geometry: give at least two adapters (RUN.h5:METHOD/STAGE[/KEY] or PEFT folders), got " +
        std::to_string(refs.size()));
  if (!out.empty()) analysis::check_geometry_out(out);  // before printing anything
  std::vector<analysis::AdapterSource> sources;
  for (const auto& ref : refs) sources.push_back(analysis::load_adapter_ref(ref));
  const analysis::Geometry g = analysis::compute_geometry(sources);
  std::printf("%s", analysis::format_geometry(g).c_str());
  if (!out.empty()) {
    analysis::write_geometry_file(
        out, analysis::geometry_scan(g, analysis::geometry_config_json(sources), g_command_line));
    std::printf("\nwrote %s (per-module matrices and subspace overlaps in its extras)\n",
                out.c_str());
  }
  if (!csv.empty()) {
    write_text_atomic(csv, analysis::geometry_csv(g));
    std::printf("%swrote %s\n", out.empty() ? "\n" : "", csv.c_str());
  }
  return 0;
}

// --grid NxM (also N for a square grid).
std::pair<int, int> parse_grid(const std::string& text) {
  const auto x = text.find('x');
  try {
    size_t used = 0;
    const int n = std::stoi(text.substr(0, x), &used);
    if (used != (x == std::string::npos ? text.size() : x)) throw std::invalid_argument(text);
    if (x == std::string::npos) return {n, n};
    const int m = std::stoi(text.substr(x + 1), &used);
    if (used != text.size() - x - 1) throw std::invalid_argument(text);
    return {n, m};
  } catch (const std::exception&) {
    throw ConfigError("--grid '" + text + "': expected NxM (e.g. 21x21) or N");
  }
}

// Top Hessian eigenvalues at an adapter or along a line scan (analysis/sharpness.h).
int cmd_sharpness(const ConfigOptions& co, analysis::SharpnessOptions opt) {
  analysis::check_sharpness_options(opt);  // before loading anything
  const std::string ref = opt.along.empty() ? opt.at : analysis::read_line_source(opt.along).from;
  const RunConfig data = analysis::scan_data_config(ref, co.resolve(), !co.file.empty(), co.sets);
  const store::ScanData d = analysis::run_sharpness(opt, data, g_command_line);
  std::printf("%s", analysis::sharpness_table(d).c_str());
  if (d.text.count("non_finite")) std::printf("warning: %s\n", d.text.at("non_finite").c_str());
  if (!opt.scan.out.empty())
    std::printf("\nwrote %s (kind sharpness, docs/hdf5-schema.md)\n", opt.scan.out.c_str());
  return 0;
}

int cmd_analyse_run(const ConfigOptions& co, analysis::AnalyseRunOptions opt) {
  if (opt.out_dir.empty()) opt.out_dir = (fs::path(opt.run).parent_path() / "analysis").string();
  const RunConfig data =
      analysis::scan_data_config(opt.run + ":", co.resolve(), !co.file.empty(), co.sets);
  const auto paths = analysis::analyse_run(opt, data, g_command_line);
  if (analysis::Mpi::instance().rank() != 0) return 0;
  const std::string text = analysis::format_stage_paths(paths);
  std::printf("\n%s", text.c_str());
  const std::string summary = opt.out_dir + "/summary.txt";
  std::ofstream(summary) << text;
  std::printf(
      "\nscan files and summary.txt in %s/ (open them with lorascape-gui, or `lorascape plot`)\n",
      opt.out_dir.c_str());
  return 0;
}

int cmd_merge(const std::vector<std::string>& inputs, const std::string& out) {
  store::ScanData d = store::merge_scans(inputs);
  d.command_line = g_command_line;
  if (d.spec.kind == "line" || d.spec.kind == "curve") analysis::finish_path_scan(d);
  store::write_scan_file(out, d);
  std::printf("wrote %s (%zu shards, %lld points)\n", out.c_str(), inputs.size(),
              static_cast<long long>(d.num_points()));
  return 0;
}

// `lorascape plot`: one of the desktop app's views, drawn headless into a figure file.
int cmd_plot(const gui::PlotRequest& req) {
  std::printf("%s\n", gui::render_plot(req).c_str());
  return 0;
}

// The demo's figures (lorascape plot) into DIR/figures/: the valleys of seq's and ilora's first
// path, the curve, the plane, plasticity/stability and ilora's matrix. Skipped with a note when
// the build has no GUI.
void demo_figures(const std::string& out) {
  const std::string dir = out + "/figures", run = out + "/run.h5", an = out + "/analysis/";
  if (!gui::plot_available()) {
    std::printf(
        "\n(no figures: this lorascape was built without the desktop app, which draws them)\n");
    return;
  }
  fs::create_directories(dir);
  std::printf("\n== figures (lorascape plot) ==\n");
  auto plot = [&](std::vector<std::string> files, const std::string& view, const std::string& name,
                  const std::string& score = "") {
    for (const auto& f : files)
      if (!fs::exists(f)) return;
    gui::PlotRequest r;
    r.files = std::move(files);
    r.view = view;
    r.score = score;
    r.out = dir + "/" + name;
    r.width = 1500;
    r.height = 1000;
    r.dpi = 150;
    try {
      std::printf("%s\n", gui::render_plot(r).c_str());
    } catch (const std::exception& e) {
      std::printf("figure %s skipped: %s\n", name.c_str(), e.what());
    }
  };
  plot({an + "seq-1-2.h5", an + "ilora-1-2.h5"}, "valley", "valley-seq-vs-ilora-1-2.png");
  plot({an + "curve-seq-1-2.h5"}, "valley", "valley-curve-seq-1-2.png");
  plot({an + "plane-final.h5"}, "landscape", "landscape-plane-final.png");
  plot({run}, "stability", "stability.png");
  plot({run}, "matrix", "matrix.png");
  std::fflush(stdout);
}

// The quick demo: three methods on four tasks with fewer steps, so it ends in minutes on two
// cores; --full runs every method at the default configuration (docs/results.md).
const std::vector<std::string> kDemoSets{"tasks.names=weekday,translate,compare,topic",
                                         "train.steps=200", "eval.max_examples=100"};
const std::vector<std::string> kDemoMethods{"seq", "er", "ilora"};

// The demo's mode-connectivity part: consecutive-stage lines of seq and ilora (analyse-run),
// one curve and one plane, on a smaller evaluation subset so it stays quick.
void demo_landscapes(RunConfig cfg) {
  const std::string run = cfg.out + "/run.h5", dir = cfg.out + "/analysis";
  cfg.eval.max_examples =
      std::min<int64_t>(cfg.eval.max_examples > 0 ? cfg.eval.max_examples : 40, 40);
  fs::remove_all(dir);  // scans of the adapters trained before this run of the demo
  std::printf("\n== mode connectivity (evaluation on %lld examples per task) ==\n",
              static_cast<long long>(cfg.eval.max_examples));
  std::fflush(stdout);
  analysis::AnalyseRunOptions ar;
  ar.run = run;
  ar.methods = {"seq", "ilora"};
  ar.points = 9;
  ar.out_dir = dir;
  const auto paths = analysis::analyse_run(ar, cfg, g_command_line);
  const std::string text = analysis::format_stage_paths(paths);
  std::ofstream(dir + "/summary.txt") << text;
  std::printf("\n%s", text.c_str());

  const store::RunFileData rf = store::read_run_file(run);
  analysis::CurveScanOptions curve;
  curve.from = run + ":seq/1";
  curve.to = run + ":seq/2";
  curve.points = 9;
  curve.epochs = 1;
  curve.scan.tasks = {rf.tasks[0], rf.tasks[1]};
  curve.scan.union_tasks = curve.scan.tasks;
  curve.scan.out = dir + "/curve-seq-1-2.h5";
  std::printf("\nBezier curve between seq's stages 1 and 2, trained on both tasks (%s):\n",
              curve.scan.out.c_str());
  std::fflush(stdout);
  std::printf("%s",
              analysis::run_curve_scan(curve, cfg, g_command_line).text.at("summary").c_str());

  const std::string last = std::to_string(rf.tasks.size());
  analysis::PlaneScanOptions plane;
  plane.through = {run + ":seq/" + last, run + ":er/" + last, run + ":ilora/" + last};
  plane.nx = plane.ny = 7;
  plane.project = {run + ":*"};
  plane.scan.tasks = rf.tasks;
  plane.scan.union_tasks = rf.tasks;
  plane.scan.out = dir + "/plane-final.h5";
  std::printf(
      "\nPlane through the final adapters of seq, er and ilora, every stage projected (%s):\n",
      plane.scan.out.c_str());
  std::fflush(stdout);
  std::printf("%s",
              analysis::run_plane_scan(plane, cfg, g_command_line).text.at("summary").c_str());
  std::printf("\nThe scan files are in %s/ (docs/hdf5-schema.md, Part II).\n", dir.c_str());
  demo_figures(cfg.out);
}

int cmd_demo(ConfigOptions co, const std::string& out, bool full) {
  // Demo settings first, so the user's --set still wins.
  std::vector<std::string> sets{"out=" + out};
  if (!full) sets.insert(sets.end(), kDemoSets.begin(), kDemoSets.end());
  co.sets.insert(co.sets.begin(), sets.begin(), sets.end());
  RunConfig cfg = co.resolve();
  const std::vector<std::string>& methods = full ? method_names() : kDemoMethods;
  std::string list;
  for (const auto& m : methods) list += (list.empty() ? "" : ", ") + m;
  std::printf(
      "lorascape demo%s: %s over %s built-in tasks, results in %s/\n", full ? " --full" : "",
      list.c_str(),
      cfg.tasks.names.empty() ? "all eight" : std::to_string(cfg.tasks.names.size()).c_str(),
      cfg.out.c_str());
  if (!full)
    std::printf(
        "(quick settings: --set %s %s %s; `lorascape demo --full` runs every method at the "
        "defaults)\n",
        kDemoSets[0].c_str(), kDemoSets[1].c_str(), kDemoSets[2].c_str());
  double seq_bwt = 0;
  for (const auto& m : methods) {
    cfg.train.method = m;
    std::printf("\n== %s ==\n", m.c_str());
    std::fflush(stdout);
    RunOutput res = run_training(cfg, g_command_line);
    if (m == "seq") seq_bwt = res.metrics.bwt;
    print_result(res);
  }
  std::printf("\n== comparison ==\n");
  cmd_compare({cfg.out + "/run.h5"}, "exact_match", cfg.out + "/compare.csv");
  std::printf(
      "\nSeq-LoRA's BWT %+.3f: after the whole sequence it lost on average %.1f points of exact "
      "match on the\n"
      "tasks it had learned earlier (catastrophic forgetting). Replay (er) and I-LoRA's slow "
      "learner (ilora)\n"
      "keep more; OP is the mean final exact match (docs/metrics.md).\n\n"
      "Next:\n"
      "  lorascape compare %s/run.h5        this table again (--csv FILE, --score token_acc)\n"
      "  %s/run.h5                          every method's R, metrics and stage adapters "
      "(docs/hdf5-schema.md)\n"
      "  %s/adapters/METHOD/stage-NN-*/     PEFT adapters (I-LoRA: fast/ and slow/)\n"
      "  lorascape export-adapter %s/run.h5:ilora/2/fast --out DIR   one adapter as a PEFT "
      "folder\n",
      seq_bwt, -100.0 * seq_bwt, cfg.out.c_str(), cfg.out.c_str(), cfg.out.c_str(),
      cfg.out.c_str());
  demo_landscapes(cfg);
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + std::string(argv[i]);
  CLI::App app{"lorascape " + std::string(kVersion) +
               " — mode-connectivity analysis of continual LoRA fine-tuning.\n"
               "Train LoRA adapters over task sequences, evaluate them, and study forgetting."};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       std::string("lorascape ") + kVersion + " (" + kGitDescribe + ")");
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet, "no progress bars");

  auto* doctor =
      app.add_subcommand("doctor", "versions, threads, device, matmul GFLOP/s, BLAS check");

  int64_t task_seed = 1;
  auto* tasks = app.add_subcommand("tasks", "list the built-in task suite with an example each");
  tasks->add_option("--seed", task_seed, "data seed")->capture_default_str();

  auto* config = app.add_subcommand("config", "list every configuration key with its default");

  ConfigOptions pre_co;
  std::string pre_out;
  auto* pretrain = app.add_subcommand("pretrain", "pretrain the base model on the generic corpus");
  pre_co.add(pretrain, false);
  pretrain->add_option("--out,-o", pre_out,
                       "write the base model here (default: the cache used by base = \"auto\")");

  ConfigOptions train_co;
  std::string method;
  auto* train = app.add_subcommand(
      "train", "LoRA fine-tuning over a task sequence (adapters + results.json)");
  train_co.add(train, true);
  std::string methods;
  for (const auto& m : method_names()) methods += (methods.empty() ? "" : " | ") + m;
  train->add_option(
      "--method,-m", method,
      "continual-learning method (overrides train.method): " + methods + " (docs/methods.md)");

  ConfigOptions eval_co;
  std::string eval_adapter, eval_base;
  std::vector<std::string> eval_tasks;
  bool greedy = false;
  auto* eval = app.add_subcommand("eval", "evaluate a saved adapter (or a base model) on tasks");
  eval_co.add(eval, false);
  eval->add_option("--adapter,-a", eval_adapter,
                   "PEFT adapter folder (adapter_model.safetensors + adapter_config.json)");
  eval->add_option("--base,-b", eval_base,
                   "base model .safetensors (default: the one recorded in the adapter)");
  eval->add_option("--tasks,-t", eval_tasks, "tasks to evaluate (default: the config's)")
      ->delimiter(',');
  eval->add_flag("--greedy", greedy, "also compute exact match by greedy decoding (slow)");

  std::string gen_adapter, gen_base, gen_prompt, gen_device = "auto";
  int64_t gen_max = 32;
  auto* generate = app.add_subcommand("generate", "greedy decoding of one prompt");
  generate->add_option("--prompt,-p", gen_prompt, "prompt text")->required();
  generate->add_option("--adapter,-a", gen_adapter, "PEFT adapter folder");
  generate->add_option("--base,-b", gen_base, "base model .safetensors");
  generate->add_option("--max-new", gen_max, "maximum bytes to generate")->capture_default_str();
  generate->add_option("--device", gen_device, "cpu | cuda | auto")->capture_default_str();

  std::vector<std::string> cmp_paths;
  std::string cmp_score = "exact_match", cmp_csv;
  auto* compare =
      app.add_subcommand("compare",
                         "metrics of every method in a run file (RUN.h5); several files "
                         "(e.g. seeds): mean ± sd");
  compare->add_option("run", cmp_paths, "run file(s) (OUT/run.h5)")
      ->required()
      ->check(CLI::ExistingFile);
  compare->add_option("--score", cmp_score, "exact_match | token_acc | loss (lower is better)")
      ->capture_default_str();
  compare->add_option(
      "--csv", cmp_csv,
      "also write the table as CSV (method,OP,BWT,FWT,forgetting,plasticity,stability)");

  std::string exp_ref, exp_out;
  auto* export_adapter =
      app.add_subcommand("export-adapter", "write a stage adapter of a run file as a PEFT folder");
  export_adapter
      ->add_option("ref", exp_ref, "RUN.h5:METHOD/STAGE[/KEY] (STAGE: 1-based number or task name)")
      ->required();
  export_adapter->add_option("--out,-o", exp_out, "PEFT folder to write")->required();

  analysis::LineScanOptions line_opt;
  ScanCli line_cli;
  std::string line_range;
  auto* scan = app.add_subcommand(
      "scan", "loss landscapes between adapters (HDF5 scan files, docs/hdf5-schema.md)");
  scan->require_subcommand(1);
  auto* scan_line = scan->add_subcommand(
      "line",
      "per-task loss, token accuracy and exact match along the straight path between two adapters; "
      "resumable (rerun the same command) and shardable (--shard k/N, then `lorascape merge`)");
  scan_line
      ->add_option("--from", line_opt.from,
                   "adapter at t = 0: RUN.h5:METHOD/STAGE[/KEY] or a PEFT folder")
      ->required();
  scan_line->add_option("--to", line_opt.to, "adapter at t = 1")->required();
  scan_line->add_option("--points,-n", line_opt.points, "points along the path")
      ->capture_default_str();
  scan_line->add_option("--range", line_range, "t range a,b (default 0,1; e.g. -0.25,1.25)");
  line_cli.add(scan_line);

  std::vector<std::string> geo_refs;
  std::string geo_out, geo_csv;
  auto* geometry =
      app.add_subcommand("geometry",
                         "pairwise distances, cosines and principal angles between the LoRA "
                         "updates of adapters, per module and overall");
  geometry
      ->add_option("refs", geo_refs,
                   "two or more adapters: RUN.h5:METHOD/STAGE[/KEY] or PEFT folders")
      ->required();
  geometry->add_option("--out,-o", geo_out,
                       "also write an HDF5 scan file of kind geometry (docs/hdf5-schema.md)");
  geometry->add_option("--csv", geo_csv, "also write every pair, overall and per module, as CSV");

  analysis::CurveScanOptions curve_opt;
  ScanCli curve_cli;
  bool curve_no_line = false;
  auto* scan_curve = scan->add_subcommand("curve",
                                          "trains a Bezier or polygonal-chain curve between two "
                                          "adapters (endpoints fixed) to stay in low "
                                          "loss, then evaluates it like a line and says whether it "
                                          "removed the straight line's barrier");
  scan_curve->add_option("--from", curve_opt.from, "adapter at t = 0")->required();
  scan_curve->add_option("--to", curve_opt.to, "adapter at t = 1")->required();
  scan_curve->add_option("--kind", curve_opt.kind, "bezier | polychain")->capture_default_str();
  scan_curve
      ->add_option("--bends", curve_opt.bends, "trainable control points between the endpoints")
      ->capture_default_str();
  scan_curve->add_option("--points,-n", curve_opt.points, "evaluated points of t in [0, 1]")
      ->capture_default_str();
  scan_curve
      ->add_option(
          "--train-tasks", curve_opt.train_tasks,
          "tasks whose training data trains the bends (default: --union, else the evaluated tasks)")
      ->delimiter(',');
  scan_curve->add_option("--epochs", curve_opt.epochs, "passes over the training data")
      ->capture_default_str();
  scan_curve
      ->add_option("--lr", curve_opt.lr, "Adam learning rate (flat to 50%, linear to 1% at 90%)")
      ->capture_default_str();
  scan_curve
      ->add_option("--weight-decay", curve_opt.weight_decay,
                   "L2 term 0.5·wd·‖w(t)‖² on the factors")
      ->capture_default_str();
  scan_curve->add_option("--batch", curve_opt.batch,
                         "training batch (default: the configuration's train.batch)");
  scan_curve->add_option("--seed", curve_opt.seed,
                         "seed of t and the batches (default: the configuration's seed)");
  scan_curve->add_flag("--no-line", curve_no_line,
                       "do not evaluate the straight line for comparison");
  curve_cli.add(scan_curve);

  analysis::PlaneScanOptions plane_opt;
  ScanCli plane_cli;
  std::string plane_grid = "21x21";
  auto* scan_plane = scan->add_subcommand("plane",
                                          "loss landscape on the plane through three adapters "
                                          "(origin X, x axis towards Y); other adapters "
                                          "(--project) are placed in plane coordinates");
  scan_plane->add_option("--through", plane_opt.through, "three adapters X,Y,Z")
      ->required()
      ->delimiter(',');
  scan_plane->add_option("--grid", plane_grid, "grid NxM over the anchors' extent")
      ->capture_default_str();
  scan_plane
      ->add_option("--margin", plane_opt.margin,
                   "fraction of the anchors' extent added on every side")
      ->capture_default_str();
  scan_plane
      ->add_option("--project", plane_opt.project,
                   "adapters to place in the plane: references, RUN.h5:METHOD/* (every stage and "
                   "learner of a "
                   "method) or RUN.h5:* (of every method)")
      ->delimiter(',');
  plane_cli.add(scan_plane);

  analysis::RandomPlaneOptions rplane_opt;
  ScanCli rplane_cli;
  std::string rplane_grid = "21x21";
  auto* scan_rplane = scan->add_subcommand("random-plane",
                                           "loss landscape around one adapter along two random "
                                           "filter-normalised directions (Li et al. 2018)");
  scan_rplane->add_option("--center", rplane_opt.center, "the adapter at the centre")->required();
  scan_rplane->add_option("--grid", rplane_grid, "grid NxM")->capture_default_str();
  scan_rplane
      ->add_option("--radius", rplane_opt.radius, "the grid spans [-r, r] times each direction")
      ->capture_default_str();
  scan_rplane
      ->add_option("--seed", rplane_opt.seed, "seed of the directions (x: seed, y: seed + 1)")
      ->capture_default_str();
  rplane_cli.add(scan_rplane);

  analysis::TrajectoryScanOptions traj_opt;
  ScanCli traj_cli;
  std::string traj_grid = "21x21";
  auto* scan_traj = scan->add_subcommand(
      "trajectory",
      "loss landscape on the PCA plane of a method's training trajectory (stage adapters and "
      "snapshots), with the trajectory projected");
  scan_traj->add_option("--run", traj_opt.run, "run file")->required()->check(CLI::ExistingFile);
  scan_traj->add_option("--method,-m", traj_opt.method, "method in the run file")->required();
  scan_traj->add_option("--key", traj_opt.key,
                        "adapter key, e.g. fast or slow (default: the method's reported one)");
  scan_traj->add_option("--grid", traj_grid, "grid NxM over the trajectory's extent")
      ->capture_default_str();
  scan_traj
      ->add_option("--margin", traj_opt.margin,
                   "fraction of the trajectory's extent added on every side")
      ->capture_default_str();
  traj_cli.add(scan_traj);

  analysis::SharpnessOptions sharp_opt;
  ConfigOptions sharp_co;
  auto* sharpness = app.add_subcommand(
      "sharpness",
      "top Hessian eigenvalue(s) of the loss w.r.t. the LoRA parameters (power iteration on "
      "Hessian-vector products, as PyHessian), at one adapter or along a line scan");
  sharp_co.add(sharpness, false);
  sharpness->add_option("--at", sharp_opt.at,
                        "the adapter: RUN.h5:METHOD/STAGE[/KEY] or a PEFT folder");
  sharpness->add_option("--along", sharp_opt.along,
                        "a line scan file (`lorascape scan line`): the points of its t axis");
  sharpness->add_option("--every", sharp_opt.every, "with --along: every m-th point of the line")
      ->capture_default_str();
  sharpness
      ->add_option("--top,-k", sharp_opt.settings.top,
                   "eigenvalues to find, by decreasing |lambda| (deflation)")
      ->capture_default_str();
  sharpness
      ->add_option("--tol", sharp_opt.settings.tol,
                   "stop when |change of lambda| / (|lambda| + 1e-6) < tol")
      ->capture_default_str();
  sharpness->add_option("--max-iter", sharp_opt.settings.max_iter, "iteration cap per eigenvalue")
      ->capture_default_str();
  sharpness
      ->add_option("--examples,-n", sharp_opt.examples,
                   "examples per task the loss is taken over (0 = all)")
      ->capture_default_str();
  sharpness->add_option("--split", sharp_opt.split, "train | eval | test")->capture_default_str();
  sharpness
      ->add_option("--tasks,-t", sharp_opt.scan.tasks,
                   "task sets (default: all of the run's; --along: the line's)")
      ->delimiter(',');
  sharpness
      ->add_option("--union", sharp_opt.scan.union_tasks,
                   "also the union of these tasks (task set 'union')")
      ->delimiter(',');
  sharpness->add_option("--base,-b", sharp_opt.scan.base,
                        "base model file (default: the one the adapters name)");
  sharpness->add_option("--seed", sharp_opt.settings.seed, "seed of the starting vectors")
      ->capture_default_str();
  sharpness->add_option("--dtype", sharp_opt.scan.dtype, "float32 | float64")
      ->capture_default_str();
  sharpness->add_option("--out,-o", sharp_opt.scan.out,
                        "also write a scan file of kind sharpness, after every point (rerun the "
                        "same command to resume)");

  analysis::AnalyseRunOptions ar_opt;
  ConfigOptions ar_co;
  auto* analyse = app.add_subcommand(
      "analyse-run",
      "the I-LoRA paper's mode-connectivity experiment: for every method, the line between "
      "consecutive "
      "stage minima on the old tasks and the new one; scan files plus a summary of where the "
      "old+new average is best and the barrier heights");
  analyse->add_option("run", ar_opt.run, "run file (OUT/run.h5)")
      ->required()
      ->check(CLI::ExistingFile);
  ar_co.add(analyse, false);
  analyse
      ->add_option("--methods,-m", ar_opt.methods, "methods to analyse (default: all of the run's)")
      ->delimiter(',');
  analyse->add_option("--points,-n", ar_opt.points, "points of each line over [0, 1]")
      ->capture_default_str();
  analyse->add_option("--space", ar_opt.scan.space, "factors | delta")->capture_default_str();
  analyse->add_option("--dtype", ar_opt.scan.dtype, "float32 | bfloat16")->capture_default_str();
  analyse->add_option("--base,-b", ar_opt.scan.base,
                      "base model file (default: the run's, from the cache)");
  analyse->add_option("--out-dir,-o", ar_opt.out_dir,
                      "folder for the scan files and summary.txt (default: RUN's folder/analysis)");

  analysis::BenchOptions bench_opt;
  auto* bench =
      app.add_subcommand("bench",
                         "throughput benchmarks on a random model, one JSON line each "
                         "(docs/performance.md; tests/bench/ compares with PyTorch eager)");
  bench->require_subcommand(1);
  auto model_flags = [&](CLI::App* b) {
    b->add_option("--d-model", bench_opt.d_model, "model width")->capture_default_str();
    b->add_option("--layers", bench_opt.layers, "transformer blocks")->capture_default_str();
    b->add_option("--heads", bench_opt.heads, "attention heads")->capture_default_str();
    b->add_option("--ffn", bench_opt.ffn, "SwiGLU hidden width")->capture_default_str();
    b->add_option("--vocab", bench_opt.vocab, "vocabulary")->capture_default_str();
    b->add_option("--seq-len", bench_opt.seq_len, "tokens per sequence")->capture_default_str();
    b->add_option("--batch", bench_opt.batch, "sequences per forward")->capture_default_str();
    b->add_option("--rank", bench_opt.rank, "LoRA rank (alpha = 2·rank, on q, k, v, o)")
        ->capture_default_str();
    b->add_option("--threads", bench_opt.threads, "intra-op threads (0 = all cores)")
        ->capture_default_str();
    b->add_option("--blas-threads", bench_opt.blas_threads,
                  "OpenBLAS threads per caller (0 = --threads, -1 = as scans and training use)")
        ->capture_default_str();
    b->add_option("--device", bench_opt.device, "cpu | cuda")->capture_default_str();
    b->add_option("--dtype", bench_opt.dtype, "float32 | bfloat16")->capture_default_str();
    b->add_option("--gemm", bench_opt.gemm,
                  "auto (lorascape's own float32 GEMM for evaluation forwards on AVX-512 CPUs) | "
                  "blas (the BLAS "
                  "only, for comparison)")
        ->capture_default_str();
    b->add_option("--seed", bench_opt.seed, "seed of the weights, adapters and tokens")
        ->capture_default_str();
  };
  auto* bench_scan =
      bench->add_subcommand("scan",
                            "mean next-token loss of random sequences at points of the "
                            "factors-space line between two random adapters");
  model_flags(bench_scan);
  bench_scan->add_option("--eval-seqs", bench_opt.eval_seqs, "sequences evaluated at every point")
      ->capture_default_str();
  bench_scan->add_option("--points", bench_opt.points, "points of the line")->capture_default_str();
  bench_scan
      ->add_option("--grid", bench_opt.grid,
                   "N: evaluate an NxN plane through three random adapters instead")
      ->capture_default_str();
  bench_scan
      ->add_option("--points-per-batch", bench_opt.points_per_batch,
                   "K points per forward (0 = automatic)")
      ->capture_default_str();
  bench_scan
      ->add_option("--mode", bench_opt.mode,
                   "merged (K points merged into W, batched: what scans use) | sidepath (one point "
                   "at a time "
                   "through the LoRA side path)")
      ->capture_default_str();
  bench_scan->add_option(
      "--profile", bench_opt.profile,
      "write a chrome://tracing profile of the timed run (summarise: tests/bench/profile.py)");
  auto* bench_train =
      bench->add_subcommand("train", "LoRA training steps (AdamW) on random sequences");
  model_flags(bench_train);
  bench_train->add_option("--steps", bench_opt.steps, "timed optimiser steps")
      ->capture_default_str();
  bench_train->add_option("--profile", bench_opt.profile,
                          "write a chrome://tracing profile of the timed steps");
  auto* bench_gemm = bench->add_subcommand(
      "gemm",
      "float32 GEMM GFLOP/s of this machine (the peak to compare with), and of the model's "
      "projection "
      "GEMMs run as a CPU scan runs them (model_gemm_gflops: a scan's ceiling)");
  model_flags(bench_gemm);

  std::vector<std::string> merge_inputs;
  std::string merge_out;
  auto* merge =
      app.add_subcommand("merge", "combine the shard files of one scan into the full scan file");
  merge->add_option("shards", merge_inputs, "shard scan files")
      ->required()
      ->check(CLI::ExistingFile);
  merge->add_option("--out,-o", merge_out, "full scan file to write")->required();

  gui::PlotRequest plot_req;
  auto* plot = app.add_subcommand(
      "plot", "draw a view of the desktop app into a figure (PNG, PDF, SVG), headless");
  plot->add_option("files", plot_req.files,
                   "run file or scan file(s); several 1-D scans are overlaid")
      ->required()
      ->check(CLI::ExistingFile);
  plot->add_option("--view,-v", plot_req.view, "valley | landscape | stability | matrix | geometry")
      ->required();
  plot->add_option("--scan", plot_req.scan,
                   "with a run file: one of its scans (name in its analysis/ folder, or a path)");
  plot->add_option("--out,-o", plot_req.out, "figure file: .png, .pdf or .svg")->required();
  plot->add_option(
      "--score", plot_req.score,
      "loss | token_acc | exact_match (default: loss for scans, exact_match for runs)");
  plot->add_option("--task", plot_req.task,
                   "valley/landscape: a task set (e.g. union) or mean (default: all / union)");
  plot->add_option("--method", plot_req.method,
                   "matrix: method or METHOD/LEARNER (default: the first method)");
  plot->add_option("--metric", plot_req.metric,
                   "geometry: delta_cosine, delta_distance, factor_cosine, factor_distance, "
                   "angle_in, angle_out, overlap_in, overlap_out")
      ->capture_default_str();
  plot->add_flag("--log", plot_req.log, "log scale (valley) or log colours (landscape)");
  plot->add_option("--width", plot_req.width, "figure width in pixels")->capture_default_str();
  plot->add_option("--height", plot_req.height, "figure height in pixels")->capture_default_str();
  plot->add_option("--dpi", plot_req.dpi,
                   "resolution: PNG pixels are width x height; PDF/SVG pages are width/dpi inches")
      ->capture_default_str();

  ConfigOptions demo_co;
  std::string demo_out = "lorascape-out/demo";
  bool demo_full = false;
  auto* demo = app.add_subcommand(
      "demo",
      "end-to-end: pretrain (cached), then seq, er and ilora on four built-in tasks, "
      "R and the comparison table, then lines, a curve and a plane between "
      "their adapters, and figures");
  demo_co.add(demo, false);
  demo->add_option("--out,-o", demo_out, "output folder")->capture_default_str();
  demo->add_flag(
      "--full", demo_full,
      "every method over all eight tasks at the default settings (about an hour on 2 cores)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  Progress::set_quiet(quiet);
  try {
    if (*doctor) return cli::run_doctor();
    if (*tasks) return cmd_tasks(task_seed);
    if (*config) return cmd_config();
    if (*pretrain) return cmd_pretrain(pre_co, pre_out);
    if (*train) return cmd_train(train_co, method);
    if (*eval) return cmd_eval(eval_co, eval_adapter, eval_base, eval_tasks, greedy);
    if (*generate) return cmd_generate(gen_adapter, gen_base, gen_prompt, gen_max, gen_device);
    if (*compare) return cmd_compare(cmp_paths, cmp_score, cmp_csv);
    if (*export_adapter) return cmd_export_adapter(exp_ref, exp_out);
    if (*demo) return cmd_demo(demo_co, demo_out, demo_full);
    if (*plot) return cmd_plot(plot_req);
    if (*scan_line) {
      if (!line_range.empty()) {
        const auto r = analysis::parse_numbers(line_range, 2, "--range");
        line_opt.t0 = r[0];
        line_opt.t1 = r[1];
      }
      return cmd_scan(line_cli, line_opt, line_opt.from, analysis::run_line_scan);
    }
    if (*scan_curve) {
      curve_opt.compare_line = !curve_no_line;
      return cmd_scan(curve_cli, curve_opt, curve_opt.from, analysis::run_curve_scan);
    }
    if (*scan_plane) {
      std::tie(plane_opt.nx, plane_opt.ny) = parse_grid(plane_grid);
      return cmd_scan(plane_cli, plane_opt, plane_opt.through.at(0), analysis::run_plane_scan);
    }
    if (*scan_rplane) {
      std::tie(rplane_opt.nx, rplane_opt.ny) = parse_grid(rplane_grid);
      return cmd_scan(rplane_cli, rplane_opt, rplane_opt.center, analysis::run_random_plane_scan);
    }
    if (*scan_traj) {
      std::tie(traj_opt.nx, traj_opt.ny) = parse_grid(traj_grid);
      return cmd_scan(traj_cli, traj_opt, traj_opt.run + ":" + traj_opt.method + "/1",
                      analysis::run_trajectory_scan);
    }
    if (*analyse) return cmd_analyse_run(ar_co, ar_opt);
    if (*bench_scan) return std::printf("%s\n", analysis::bench_scan(bench_opt).dump().c_str()), 0;
    if (*bench_train)
      return std::printf("%s\n", analysis::bench_train(bench_opt).dump().c_str()), 0;
    if (*bench_gemm) return std::printf("%s\n", analysis::bench_gemm(bench_opt).dump().c_str()), 0;
    if (*merge) return cmd_merge(merge_inputs, merge_out);
    if (*geometry) return cmd_geometry(geo_refs, geo_out, geo_csv);
    if (*sharpness) return cmd_sharpness(sharp_co, sharp_opt);
  } catch (const lorascape::Error& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", cli_message(e.what()).c_str());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", e.what_without_backtrace());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lorascape: error: %s\n", e.what());
    return 2;
  }
  return 0;
}

int main(int argc, char** argv) {
  core::keep_freed_memory();
  analysis::Mpi::init(&argc, &argv);
  const int rc = run(argc, argv);
  if (rc != 0 && analysis::Mpi::instance().size() > 1)
    analysis::Mpi::abort(rc);  // never leave ranks waiting
  analysis::Mpi::finalize();
  return rc;
}
