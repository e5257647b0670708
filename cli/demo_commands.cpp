#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "analysis/analyse_run.h"
#include "analysis/curve.h"
#include "analysis/plane.h"
#include "analysis/scan.h"
#include "cli/cli.h"
#include "core/checkpoint.h"
#include "core/strategies.h"
#include "core/version.h"
#include "plot/plot_command.h"
#include "plot/report.h"
#include "store/error.h"
#include "store/run_file.h"

namespace fs = std::filesystem;

namespace lorascape::cli {

using namespace lorascape::core;

namespace {

// `lorascape plot`: one of the desktop app's views, drawn headless into a figure file.
// --width and --height: pixels, or (width) a column width of a paper: "column" 3.3 in, "double"
// 6.9 in, at --dpi (the height then 3/4 of the width unless given).
int cmd_plot(plot::PlotRequest req, const std::string& width, const std::string& height,
             bool dpi_given) {
  if (req.style == "paper" && !dpi_given) req.dpi = 300;
  req.version = kVersion;
  const auto pixels = [](const std::string& option, const std::string& text) {
    try {
      size_t n = 0;
      const int v = std::stoi(text, &n);
      if (n == text.size()) return v;
    } catch (const std::exception&) {
    }
    throw ConfigError(option + " " + text + ": not a number of pixels" +
                      (option == "--width" ? std::string(" or column | double") : "") +
                      " (e.g. 1200)");
  };
  // (paper: one column, the stability figure two: it needs 6 inches, plot/stability.h)
  std::string w =
      width.empty()
          ? (req.style == "paper" ? (req.view == "stability" ? "double" : "column") : "1200")
          : width;
  double inches = 0;
  if (w == "column" || w == "double") {
    inches = w == "column" ? 3.3 : 6.9;
    req.width = static_cast<int>(std::lround(inches * req.dpi));
  } else {
    req.width = pixels("--width", w);
  }
  if (!height.empty())
    req.height = pixels("--height", height);
  else
    req.height = inches > 0 ? static_cast<int>(std::lround(inches * 0.75 * req.dpi)) : 800;
  std::printf("%s\n", plot::render_plot(req).c_str());
  return 0;
}

// What `lorascape report` needs besides the request: whether to analyse the run first.
struct ReportCli {
  plot::ReportRequest req;
  ConfigOptions co;
  bool analyse = false;
  int points = 11;
  std::string grid = "11x11";
  std::string space = "factors";
};

// The plane through the run's final adapters, every stage projected into it, written to
// `dir`/plane-final.h5 (resumed when it is there): through the final adapters of the first three
// methods, or of the last three stages of a run with fewer methods. Skipped, with a note, when
// the run has fewer than three adapters to span it.
void final_plane(const std::string& run_path, const RunConfig& data, const std::string& dir, int nx,
                 int ny, const std::string& space) {
  const store::RunFileData rf = store::read_run_file(run_path, store::TensorSelection::none());
  analysis::PlaneScanOptions plane;
  const std::string last = std::to_string(rf.tasks.size());
  if (rf.methods.size() >= 3) {
    for (size_t m = 0; m < 3; ++m)
      plane.through.push_back(run_path + ":" + rf.methods[m].name + "/" + last);
  } else if (!rf.methods.empty() && rf.methods[0].stages.size() >= 3) {
    const auto& st = rf.methods[0].stages;
    for (size_t k = st.size() - 3; k < st.size(); ++k)
      plane.through.push_back(run_path + ":" + rf.methods[0].name + "/" +
                              std::to_string(st[k].stage + 1));
  } else {
    std::printf("no plane: the run has fewer than three methods and fewer than three stages\n");
    return;
  }
  plane.nx = nx;
  plane.ny = ny;
  plane.project = {run_path + ":*"};
  plane.scan.tasks = rf.tasks;
  plane.scan.union_tasks = rf.tasks;
  plane.scan.space = space;
  plane.scan.out = dir + "/plane-final.h5";
  std::printf("\nplane through the final adapters, every stage projected (%s):\n",
              plane.scan.out.c_str());
  std::fflush(stdout);
  std::printf("%s",
              analysis::run_plane_scan(plane, data, command_line()).text.at("summary").c_str());
}

// `lorascape report`: with --analyse, first the lines between consecutive stages of every
// method (analyse-run) and the plane through the final adapters, into RUN's folder/analysis/
// (resumed when there); then the report of the run and its scans.
int cmd_report(ReportCli c) {
  c.req.generator = std::string("lorascape ") + kVersion;
  if (c.analyse) {
    if (!c.req.scans.empty())
      throw lorascape::ConfigError(
          "report --analyse writes the scans next to the run and reports them; give "
          "no scan files with it");
    analysis::AnalyseRunOptions ar;
    ar.run = c.req.run;
    ar.points = c.points;
    ar.scan.space = c.space;
    ar.out_dir = (fs::path(c.req.run).parent_path() / "analysis").string();
    const RunConfig data =
        analysis::scan_data_config(ar.run + ":", c.co.resolve(), !c.co.file.empty(), c.co.sets);
    const auto grid = parse_grid(c.grid);
    const auto paths = analysis::analyse_run(ar, data, command_line());
    const std::string text = analysis::write_stage_summaries(ar.out_dir, paths, ar.scan.space);
    std::printf("\n%s", text.c_str());
    final_plane(c.req.run, data, ar.out_dir, grid.first, grid.second, c.space);
  }
  const plot::ReportResult res = plot::write_report(c.req);
  for (const auto& s : res.skipped) std::printf("skipped %s\n", s.c_str());
  std::printf("%s\n", res.message().c_str());
  return 0;
}

// The demo's figures (lorascape plot) into DIR/figures/: the valleys of seq's and ilora's first
// path, the curve, the plane, plasticity/stability and ilora's matrix. Skipped with a note when
// the build has no GUI.
void demo_figures(const std::string& out) {
  const std::string dir = out + "/figures", run = out + "/run.h5", an = out + "/analysis/";
  if (!plot::plot_available()) {
    std::printf(
        "\n(no figures: this lorascape was built without the desktop app, which draws them)\n");
    return;
  }
  fs::create_directories(dir);
  std::printf("\n== figures (lorascape plot) ==\n");
  auto figure = [&](std::vector<std::string> files, const std::string& view,
                    const std::string& name, const std::string& score = "") {
    for (const auto& f : files)
      if (!fs::exists(f)) return;
    plot::PlotRequest r;
    r.files = std::move(files);
    r.view = view;
    r.score = score;
    r.out = dir + "/" + name;
    r.width = 1500;
    r.height = 1000;
    r.dpi = 150;
    try {
      std::printf("%s\n", plot::render_plot(r).c_str());
    } catch (const std::exception& e) {
      std::printf("figure %s skipped: %s\n", name.c_str(), e.what());
    }
  };
  figure({an + "seq-1-2.h5", an + "ilora-1-2.h5"}, "valley", "valley-seq-vs-ilora-1-2.png");
  figure({an + "curve-seq-1-2.h5"}, "valley", "valley-curve-seq-1-2.png");
  figure({an + "plane-final.h5"}, "landscape", "landscape-plane-final.png");
  figure({an + "plane-curve-seq-1-2.h5"}, "landscape", "landscape-curve-seq-1-2.png");
  figure({run}, "stability", "stability.png");
  figure({run}, "matrix", "matrix.png");
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
  const auto paths = analysis::analyse_run(ar, cfg, command_line());
  const std::string text = analysis::write_stage_summaries(dir, paths, ar.scan.space);
  std::printf("\n%s", text.c_str());

  const store::RunFileData rf = store::read_run_file(run, store::TensorSelection::none());
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
              analysis::run_curve_scan(curve, cfg, command_line()).text.at("summary").c_str());

  // The curve-vs-line plane: through the curve's ends and its bend.
  analysis::PlaneScanOptions cplane;
  cplane.curve = curve.scan.out;  // without `through`: its ends and its bend
  cplane.nx = cplane.ny = 7;
  cplane.scan.tasks = curve.scan.tasks;
  cplane.scan.union_tasks = curve.scan.tasks;
  cplane.scan.out = dir + "/plane-curve-seq-1-2.h5";
  std::printf("\nThe curve-vs-line plane of that curve (%s):\n", cplane.scan.out.c_str());
  std::fflush(stdout);
  std::printf("%s",
              analysis::run_plane_scan(cplane, cfg, command_line()).text.at("summary").c_str());

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
              analysis::run_plane_scan(plane, cfg, command_line()).text.at("summary").c_str());
  std::printf("\nThe scan files are in %s/ (docs/hdf5-schema.md, Part II).\n", dir.c_str());
  demo_figures(cfg.out);
  if (plot::plot_available()) {
    plot::ReportRequest r;
    r.run = cfg.out + "/run.h5";
    r.out = cfg.out + "/report.pdf";
    r.generator = std::string("lorascape ") + kVersion;
    std::printf("\n== report ==\n%s\n", plot::write_report(r).message().c_str());
  }
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
    // Checkpoints kept until the demo ends: a rerun after a kill does not retrain the methods
    // it has done (docs/user-guide.md, "Resuming").
    RunOutput res = run_training(cfg, command_line(), {/*keep_checkpoint=*/true});
    if (m == "seq") seq_bwt = res.metrics.bwt;
    print_result(res);
  }
  std::printf("\n== comparison ==\n");
  compare_runs({cfg.out + "/run.h5"}, "exact_match", cfg.out + "/compare.csv");
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
  remove_checkpoints(cfg.out);
  return 0;
}

// The options of this file's commands, kept alive by the command table.
struct DemoState {
  plot::PlotRequest plot_req;
  ReportCli report;
  std::string plot_width, plot_height;
  bool plot_aspect = true;
  ConfigOptions demo_co;
  std::string demo_out = "lorascape-out/demo";
  bool demo_full = false;
};

}  // namespace

void add_demo_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<DemoState>();
  auto* plot = app.add_subcommand(
      "plot", "draw a view of the desktop app into a figure (PNG, PDF, SVG), headless");
  plot->add_option("files", s->plot_req.files,
                   "run file or scan file(s); several 1-D scans are overlaid")
      ->required()
      ->check(CLI::ExistingFile);
  plot->add_option("--view,-v", s->plot_req.view,
                   "valley | landscape | surface (3-D, planes) | stability | matrix | geometry")
      ->required();
  plot->add_option("--scan", s->plot_req.scan,
                   "with a run file: one of its scans (name in its analysis/ folder, or a path)");
  plot->add_option("--out,-o", s->plot_req.out,
                   "figure file: .png, .pdf or .svg; a plane's data as .vtk (ParaView)")
      ->required();
  plot->add_option("--format", s->plot_req.format,
                   "png | pdf | svg | vtk (default: the suffix of --out, which must match)");
  plot->add_option(
      "--score", s->plot_req.score,
      "loss | token_acc | exact_match (default: loss for scans, exact_match for runs)");
  plot->add_option("--task", s->plot_req.task,
                   "valley/landscape: a task set (e.g. union) or mean (default: all / union)");
  plot->add_option("--method", s->plot_req.method,
                   "matrix: method or METHOD/LEARNER (default: the first method)");
  plot->add_option("--metric", s->plot_req.metric,
                   "geometry: delta_cosine, delta_distance, factor_cosine, factor_distance, "
                   "angle_in, angle_out, overlap_in, overlap_out")
      ->capture_default_str();
  plot->add_option("--module", s->plot_req.module,
                   "geometry: one module of the scan (default: all modules)");
  plot->add_flag("--log", s->plot_req.log, "log scale (valley) or log colours (landscape)");
  plot->add_option("--width", s->plot_width,
                   "figure width: pixels, or column (3.3 in) | double (6.9 in) at --dpi "
                   "(default: 1200; column with --style paper)");
  plot->add_option("--height", s->plot_height,
                   "figure height in pixels (default: 800; 3/4 of a column width)");
  auto* dpi_opt =
      plot->add_option("--dpi", s->plot_req.dpi,
                       "resolution: PNG pixels are width x height; PDF/SVG pages are width/dpi "
                       "inches (default: 96; 300 with --style paper)");
  plot->add_option("--style", s->plot_req.style,
                   "screen | paper (serif 8-10 pt, thin lines, column widths)");
  plot->add_option("--title", s->plot_req.title, "a title above the figure");
  plot->add_option("--legend", s->plot_req.legend,
                   "top-right | top-left | bottom-right | bottom-left | none");
  plot->add_option("--cmap", s->plot_req.cmap,
                   "landscape/surface colour map: viridis | cividis | magma | gray");
  plot->add_option("--range", s->plot_req.range,
                   "landscape/surface colour range LO:HI (default: the data's)");
  auto* aspect = plot->add_flag("--equal-aspect,!--free-aspect", s->plot_aspect,
                                "landscape/surface: axes at equal scale (default for planes)");
  plot->add_flag("--smooth", s->plot_req.smooth,
                 "landscape: interpolated display of a coarse grid");
  plot->add_flag("--band", s->plot_req.band,
                 "valley: the scans (or each run file's --scan) are seeds of one configuration: "
                 "draw mean +- sd");

  auto* report = app.add_subcommand(
      "report",
      "one document (PDF, or HTML with PNG figures) for a run: configuration, metrics, "
      "matrices, plasticity/stability and every scan next to it, with captions");
  report->add_option("run", s->report.req.run, "run file (OUT/run.h5)")
      ->required()
      ->check(CLI::ExistingFile);
  report->add_option("scans", s->report.req.scans,
                     "scan files (default: those in the run's folder and its analysis/ folder)");
  report
      ->add_option("--out,-o", s->report.req.out,
                   "REPORT.pdf, or REPORT.html (figures in "
                   "REPORT_files/)")
      ->required();
  report->add_option("--score", s->report.req.score,
                     "the run's score for matrices and stability (default exact_match)");
  report->add_flag("--analyse", s->report.analyse,
                   "first run analyse-run and the plane through the final adapters (scans in "
                   "RUN's folder/analysis/, resumed when there)");
  report->add_option("--points,-n", s->report.points, "--analyse: points of each line")
      ->capture_default_str();
  report->add_option("--grid", s->report.grid, "--analyse: the plane's grid, NXxNY")
      ->capture_default_str();
  report->add_option("--space", s->report.space, "--analyse: factors | delta")
      ->capture_default_str();
  s->report.co.add(report, false);

  auto* demo = app.add_subcommand(
      "demo",
      "end-to-end: pretrain (cached), then seq, er and ilora on four built-in tasks, "
      "R and the comparison table, then lines, a curve and a plane between "
      "their adapters, and figures");
  s->demo_co.add(demo, false);
  demo->add_option("--out,-o", s->demo_out, "output folder")->capture_default_str();
  demo->add_flag(
      "--full", s->demo_full,
      "every method over all eight tasks at the default settings (about an hour on 2 cores)");

  table.push_back({report, [s] { return cmd_report(s->report); }});
  table.push_back({plot, [s, aspect, dpi_opt] {
                     plot::PlotRequest r = s->plot_req;
                     r.equal_aspect = aspect->count() ? (s->plot_aspect ? 1 : 0) : -1;
                     return cmd_plot(r, s->plot_width, s->plot_height, dpi_opt->count() > 0);
                   }});
  table.push_back({demo, [s] { return cmd_demo(s->demo_co, s->demo_out, s->demo_full); }});
}

}  // namespace lorascape::cli
