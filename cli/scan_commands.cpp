#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <tuple>

#include "analysis/adapter_ref.h"
#include "analysis/analyse_run.h"
#include "analysis/curve.h"
#include "analysis/geometry.h"
#include "analysis/line_scan.h"
#include "analysis/mpi.h"
#include "analysis/path.h"
#include "analysis/plane.h"
#include "analysis/scan.h"
#include "analysis/sharpness.h"
#include "cli/cli.h"
#include "core/run_file_io.h"
#include "store/error.h"
#include "store/references.h"
#include "store/scan_file.h"

namespace fs = std::filesystem;

namespace lorascape::cli {

using namespace lorascape::core;

namespace {

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
  const store::ScanData d = run(opt, sc.data(data_ref), command_line());
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
  check_text_output(csv, refs, "csv");
  std::vector<analysis::AdapterSource> sources;
  for (const auto& ref : refs) sources.push_back(analysis::load_adapter_ref(ref));
  const analysis::Geometry g = analysis::compute_geometry(sources);
  std::printf("%s", analysis::format_geometry(g).c_str());
  if (!out.empty()) {
    analysis::write_geometry_file(
        out, analysis::geometry_scan(g, analysis::geometry_config_json(sources), command_line()));
    std::printf("\nwrote %s (per-module matrices and subspace overlaps in its extras)\n",
                out.c_str());
  }
  if (!csv.empty()) {
    write_text_atomic(csv, analysis::geometry_csv(g));
    std::printf("%swrote %s\n", out.empty() ? "\n" : "", csv.c_str());
  }
  return 0;
}

// Top Hessian eigenvalues at an adapter or along a line scan (analysis/sharpness.h).
int cmd_sharpness(const ConfigOptions& co, analysis::SharpnessOptions opt) {
  analysis::check_sharpness_options(opt);  // before loading anything
  const std::string ref = opt.along.empty() ? opt.at : analysis::read_line_source(opt.along).from;
  const RunConfig data = analysis::scan_data_config(ref, co.resolve(), !co.file.empty(), co.sets);
  const store::ScanData d = analysis::run_sharpness(opt, data, command_line());
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
  const auto paths = analysis::analyse_run(opt, data, command_line());
  if (analysis::Mpi::instance().rank() != 0) return 0;
  const std::string text = analysis::write_stage_summaries(opt.out_dir, paths, opt.scan.space);
  std::printf("\n%s", text.c_str());
  std::printf(
      "\nscan files, summary.txt and summary.csv in %s/ (open them with lorascape-gui, or "
      "`lorascape plot`)\n",
      opt.out_dir.c_str());
  return 0;
}

int cmd_merge(const std::vector<std::string>& inputs, const std::string& out) {
  store::ScanData d = store::merge_scans(inputs);
  d.command_line = command_line();
  // References are stored relative to the scan file: relative to the output now.
  if (!inputs.empty()) store::rebase_reference_text(d.text, inputs[0], out);
  if (d.spec.kind == "line" || d.spec.kind == "curve") analysis::finish_path_scan(d);
  store::write_scan_file(out, d);
  std::printf("wrote %s (%zu shards, %lld points)\n", out.c_str(), inputs.size(),
              static_cast<long long>(d.num_points()));
  return 0;
}

// The options of this file's commands, kept alive by the command table.
struct ScanState {
  analysis::LineScanOptions line_opt;
  ScanCli line_cli;
  std::string line_range;
  std::vector<std::string> geo_refs;
  std::string geo_out;
  std::string geo_csv;
  analysis::CurveScanOptions curve_opt;
  ScanCli curve_cli;
  bool curve_no_line = false;
  analysis::PlaneScanOptions plane_opt;
  ScanCli plane_cli;
  std::string plane_grid = "21x21";
  analysis::RandomPlaneOptions rplane_opt;
  ScanCli rplane_cli;
  std::string rplane_grid = "21x21";
  analysis::TrajectoryScanOptions traj_opt;
  ScanCli traj_cli;
  std::string traj_grid = "21x21";
  analysis::SharpnessOptions sharp_opt;
  ConfigOptions sharp_co;
  analysis::AnalyseRunOptions ar_opt;
  ConfigOptions ar_co;
  std::vector<std::string> merge_inputs;
  std::string merge_out;
};

}  // namespace

void add_scan_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<ScanState>();
  auto* scan = app.add_subcommand(
      "scan", "loss landscapes between adapters (HDF5 scan files, docs/hdf5-schema.md)");
  scan->require_subcommand(1);
  auto* scan_line = scan->add_subcommand(
      "line",
      "per-task loss, token accuracy and exact match along the straight path between two adapters; "
      "resumable (rerun the same command) and shardable (--shard k/N, then `lorascape merge`)");
  scan_line
      ->add_option("--from", s->line_opt.from,
                   "adapter at t = 0: RUN.h5:METHOD/STAGE[/KEY] or a PEFT folder")
      ->required();
  scan_line->add_option("--to", s->line_opt.to, "adapter at t = 1")->required();
  scan_line->add_option("--points,-n", s->line_opt.points, "points along the path")
      ->capture_default_str();
  scan_line->add_option("--range", s->line_range, "t range a,b (default 0,1; e.g. -0.25,1.25)");
  s->line_cli.add(scan_line);

  auto* geometry =
      app.add_subcommand("geometry",
                         "pairwise distances, cosines and principal angles between the LoRA "
                         "updates of adapters, per module and overall");
  geometry
      ->add_option("refs", s->geo_refs,
                   "two or more adapters: RUN.h5:METHOD/STAGE[/KEY] or PEFT folders")
      ->required();
  geometry->add_option("--out,-o", s->geo_out,
                       "also write an HDF5 scan file of kind geometry (docs/hdf5-schema.md)");
  geometry->add_option("--csv", s->geo_csv,
                       "also write every pair, overall and per module, as CSV");

  auto* scan_curve = scan->add_subcommand("curve",
                                          "trains a Bezier or polygonal-chain curve between two "
                                          "adapters (endpoints fixed) to stay in low "
                                          "loss, then evaluates it like a line and says whether it "
                                          "removed the straight line's barrier");
  scan_curve->add_option("--from", s->curve_opt.from, "adapter at t = 0")->required();
  scan_curve->add_option("--to", s->curve_opt.to, "adapter at t = 1")->required();
  scan_curve->add_option("--kind", s->curve_opt.kind, "bezier | polychain")->capture_default_str();
  scan_curve
      ->add_option("--bends", s->curve_opt.bends, "trainable control points between the endpoints")
      ->capture_default_str();
  scan_curve->add_option("--points,-n", s->curve_opt.points, "evaluated points of t in [0, 1]")
      ->capture_default_str();
  scan_curve
      ->add_option(
          "--train-tasks", s->curve_opt.train_tasks,
          "tasks whose training data trains the bends (default: --union, else the evaluated tasks)")
      ->delimiter(',');
  scan_curve->add_option("--epochs", s->curve_opt.epochs, "passes over the training data")
      ->capture_default_str();
  scan_curve
      ->add_option("--lr", s->curve_opt.lr, "Adam learning rate (flat to 50%, linear to 1% at 90%)")
      ->capture_default_str();
  scan_curve
      ->add_option("--weight-decay", s->curve_opt.weight_decay,
                   "L2 term 0.5·wd·‖w(t)‖² on the factors")
      ->capture_default_str();
  scan_curve->add_option("--batch", s->curve_opt.batch,
                         "training batch (default: the configuration's train.batch)");
  scan_curve->add_option("--seed", s->curve_opt.seed,
                         "seed of t and the batches (default: the configuration's seed)");
  scan_curve->add_flag("--no-line", s->curve_no_line,
                       "do not evaluate the straight line for comparison");
  s->curve_cli.add(scan_curve);

  auto* scan_plane = scan->add_subcommand("plane",
                                          "loss landscape on the plane through three adapters "
                                          "(origin X, x axis towards Y); other adapters "
                                          "(--project) are placed in plane coordinates");
  scan_plane
      ->add_option("--through", s->plane_opt.through,
                   "three adapters X,Y,Z (required unless --curve gives them)")
      ->delimiter(',');
  scan_plane->add_option(
      "--curve", s->plane_opt.curve,
      "a trained curve scan file drawn in the plane; without --through the plane through its "
      "ends and middle bend (the curve-vs-line plane: the line is the x axis)");
  scan_plane
      ->add_option("--curve-points", s->plane_opt.curve_points,
                   "points of the curve projected into the plane")
      ->capture_default_str();
  scan_plane->add_option("--grid", s->plane_grid, "grid NxM over the anchors' extent")
      ->capture_default_str();
  scan_plane
      ->add_option("--margin", s->plane_opt.margin,
                   "fraction of the anchors' extent added on every side")
      ->capture_default_str();
  scan_plane
      ->add_option("--project", s->plane_opt.project,
                   "adapters to place in the plane: references, RUN.h5:METHOD/* (every stage and "
                   "learner of a "
                   "method) or RUN.h5:* (of every method)")
      ->delimiter(',');
  s->plane_cli.add(scan_plane);

  auto* scan_rplane = scan->add_subcommand("random-plane",
                                           "loss landscape around one adapter along two random "
                                           "filter-normalised directions (Li et al. 2018)");
  scan_rplane->add_option("--center", s->rplane_opt.center, "the adapter at the centre")
      ->required();
  scan_rplane->add_option("--grid", s->rplane_grid, "grid NxM")->capture_default_str();
  scan_rplane
      ->add_option("--radius", s->rplane_opt.radius, "the grid spans [-r, r] times each direction")
      ->capture_default_str();
  scan_rplane
      ->add_option("--seed", s->rplane_opt.seed, "seed of the directions (x: seed, y: seed + 1)")
      ->capture_default_str();
  s->rplane_cli.add(scan_rplane);

  auto* scan_traj = scan->add_subcommand(
      "trajectory",
      "loss landscape on the PCA plane of a method's training trajectory (stage adapters and "
      "snapshots), with the trajectory projected");
  scan_traj->add_option("--run", s->traj_opt.run, "run file")->required()->check(CLI::ExistingFile);
  scan_traj->add_option("--method,-m", s->traj_opt.method, "method in the run file")->required();
  scan_traj->add_option("--key", s->traj_opt.key,
                        "adapter key, e.g. fast or slow (default: the method's reported one)");
  scan_traj->add_option("--grid", s->traj_grid, "grid NxM over the trajectory's extent")
      ->capture_default_str();
  scan_traj
      ->add_option("--margin", s->traj_opt.margin,
                   "fraction of the trajectory's extent added on every side")
      ->capture_default_str();
  s->traj_cli.add(scan_traj);

  auto* sharpness = app.add_subcommand(
      "sharpness",
      "top Hessian eigenvalue(s) of the loss w.r.t. the LoRA parameters (power iteration on "
      "Hessian-vector products, as PyHessian), at one adapter or along a line scan");
  s->sharp_co.add(sharpness, false);
  sharpness->add_option("--at", s->sharp_opt.at,
                        "the adapter: RUN.h5:METHOD/STAGE[/KEY] or a PEFT folder");
  sharpness->add_option("--along", s->sharp_opt.along,
                        "a line scan file (`lorascape scan line`): the points of its t axis");
  sharpness->add_option("--every", s->sharp_opt.every, "with --along: every m-th point of the line")
      ->capture_default_str();
  sharpness
      ->add_option("--top,-k", s->sharp_opt.settings.top,
                   "eigenvalues to find, by decreasing |lambda| (deflation)")
      ->capture_default_str();
  sharpness
      ->add_option("--tol", s->sharp_opt.settings.tol,
                   "stop when |change of lambda| / (|lambda| + 1e-6) < tol")
      ->capture_default_str();
  sharpness
      ->add_option("--max-iter", s->sharp_opt.settings.max_iter, "iteration cap per eigenvalue")
      ->capture_default_str();
  sharpness
      ->add_option("--examples,-n", s->sharp_opt.examples,
                   "examples per task the loss is taken over (0 = all)")
      ->capture_default_str();
  sharpness->add_option("--split", s->sharp_opt.split, "train | eval | test")
      ->capture_default_str();
  sharpness
      ->add_option("--tasks,-t", s->sharp_opt.scan.tasks,
                   "task sets (default: all of the run's; --along: the line's)")
      ->delimiter(',');
  sharpness
      ->add_option("--union", s->sharp_opt.scan.union_tasks,
                   "also the union of these tasks (task set 'union')")
      ->delimiter(',');
  sharpness->add_option("--base,-b", s->sharp_opt.scan.base,
                        "base model file (default: the one the adapters name)");
  sharpness->add_option("--seed", s->sharp_opt.settings.seed, "seed of the starting vectors")
      ->capture_default_str();
  sharpness->add_option("--dtype", s->sharp_opt.scan.dtype, "float32 | float64")
      ->capture_default_str();
  sharpness->add_option("--out,-o", s->sharp_opt.scan.out,
                        "also write a scan file of kind sharpness, after every point (rerun the "
                        "same command to resume)");

  auto* analyse = app.add_subcommand(
      "analyse-run",
      "the I-LoRA paper's mode-connectivity experiment: for every method, the line between "
      "consecutive "
      "stage minima on the old tasks and the new one; scan files plus a summary of where the "
      "old+new average is best and the barrier heights");
  analyse->add_option("run", s->ar_opt.run, "run file (OUT/run.h5)")
      ->required()
      ->check(CLI::ExistingFile);
  s->ar_co.add(analyse, false);
  analyse
      ->add_option("--methods,-m", s->ar_opt.methods,
                   "learners whose consecutive stages to analyse, METHOD or METHOD/KEY (e.g. "
                   "ilora/fast); default: every method of the run, unless --cross or "
                   "--same-stage is given")
      ->delimiter(',');
  analyse->add_option("--cross", s->ar_opt.cross,
                      "A,B: the lines from A's stage t-1 to B's stage t (does B's minimum lie in "
                      "the valley A crosses?); A and B are [RUN.h5:]METHOD[/KEY], another run "
                      "over the same tasks allowed; repeatable");
  analyse->add_option("--same-stage", s->ar_opt.same_stage,
                      "A,B: the lines from A's stage t to B's stage t, t >= 2 (e.g. "
                      "ilora/fast,ilora: the fast learner against the slow one); repeatable");
  analyse->add_option("--points,-n", s->ar_opt.points, "points of each line over [0, 1]")
      ->capture_default_str();
  analyse->add_option("--space", s->ar_opt.scan.space, "factors | delta")->capture_default_str();
  analyse->add_option("--dtype", s->ar_opt.scan.dtype, "float32 | bfloat16")->capture_default_str();
  analyse->add_option("--base,-b", s->ar_opt.scan.base,
                      "base model file (default: the run's, from the cache)");
  analyse->add_option("--out-dir,-o", s->ar_opt.out_dir,
                      "folder for the scan files, summary.txt and summary.csv (default: RUN's "
                      "folder/analysis)");

  auto* merge =
      app.add_subcommand("merge", "combine the shard files of one scan into the full scan file");
  merge->add_option("shards", s->merge_inputs, "shard scan files")
      ->required()
      ->check(CLI::ExistingFile);
  merge->add_option("--out,-o", s->merge_out, "full scan file to write")->required();

  table.push_back({scan_line, [s] {
                     if (!s->line_range.empty()) {
                       const auto r = analysis::parse_numbers(s->line_range, 2, "--range");
                       s->line_opt.t0 = r[0];
                       s->line_opt.t1 = r[1];
                     }
                     return cmd_scan(s->line_cli, s->line_opt, s->line_opt.from,
                                     analysis::run_line_scan);
                   }});
  table.push_back({scan_curve, [s] {
                     s->curve_opt.compare_line = !s->curve_no_line;
                     return cmd_scan(s->curve_cli, s->curve_opt, s->curve_opt.from,
                                     analysis::run_curve_scan);
                   }});
  table.push_back(
      {scan_plane, [s] {
         std::tie(s->plane_opt.nx, s->plane_opt.ny) = parse_grid(s->plane_grid);
         // The data of the run the first anchor comes from (the curve's `from`).
         const auto& o = s->plane_opt;
         const std::string data_ref = !o.through.empty() ? o.through[0]
                                      : o.curve.empty()  ? std::string()
                                                         : analysis::curve_origin_ref(o.curve);
         return cmd_scan(s->plane_cli, s->plane_opt, data_ref, analysis::run_plane_scan);
       }});
  table.push_back({scan_rplane, [s] {
                     std::tie(s->rplane_opt.nx, s->rplane_opt.ny) = parse_grid(s->rplane_grid);
                     return cmd_scan(s->rplane_cli, s->rplane_opt, s->rplane_opt.center,
                                     analysis::run_random_plane_scan);
                   }});
  table.push_back({scan_traj, [s] {
                     std::tie(s->traj_opt.nx, s->traj_opt.ny) = parse_grid(s->traj_grid);
                     return cmd_scan(s->traj_cli, s->traj_opt,
                                     s->traj_opt.run + ":" + s->traj_opt.method + "/1",
                                     analysis::run_trajectory_scan);
                   }});
  table.push_back({geometry, [s] { return cmd_geometry(s->geo_refs, s->geo_out, s->geo_csv); }});
  table.push_back({sharpness, [s] { return cmd_sharpness(s->sharp_co, s->sharp_opt); }});
  table.push_back({analyse, [s] { return cmd_analyse_run(s->ar_co, s->ar_opt); }});
  table.push_back({merge, [s] { return cmd_merge(s->merge_inputs, s->merge_out); }});
}

}  // namespace lorascape::cli
