#include "plot/plot_command.h"

#include <qcustomplot.h>

#include <QApplication>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "plot/document.h"
#include "plot/export.h"
#include "plot/geometry.h"
#include "plot/landscape.h"
#include "plot/matrix.h"
#include "plot/plot_util.h"
#include "plot/stability.h"
#include "plot/style.h"
#include "plot/surface.h"
#include "plot/valley.h"
#include "plot/vtk.h"
#include "store/error.h"

namespace lorascape::plot {

namespace fs = std::filesystem;

const std::vector<std::string>& plot_views() {
  static const std::vector<std::string> v{"valley",    "landscape", "surface",
                                          "stability", "matrix",    "geometry"};
  return v;
}

bool plot_available() {
  return true;
}

// A QApplication for the rest of the process (never destroyed: the CLI may draw several
// figures, and Qt objects must not outlive it).
void ensure_application() {
  if (QCoreApplication::instance()) return;
  qputenv("QT_QPA_PLATFORM", "offscreen");
  // A command-line tool: Qt's warnings about the desktop session (XDG_RUNTIME_DIR, fonts) are
  // noise here; critical messages still reach stderr.
  qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& msg) {
    if (type == QtCriticalMsg || type == QtFatalMsg)
      std::fprintf(stderr, "lorascape: qt: %s\n", qPrintable(msg));
  });
  static int argc = 1;
  static char name[] = "lorascape";
  static char* argv[] = {name, nullptr};
  new QApplication(argc, argv);
}

namespace {

// The scan file --scan names, next to the run file `run`.
std::string find_scan(const std::string& run, const std::string& id) {
  std::error_code ec;
  if (fs::is_regular_file(id, ec)) return id;
  for (const auto& path : scans_near(run)) {
    const fs::path p(path);
    if (p.filename() == id || p.stem() == id) return path;
  }
  std::string known;
  for (const auto& path : scans_near(run))
    known += (known.empty() ? "" : ", ") + fs::path(path).stem().string();
  throw ConfigError("--scan " + id + ": no such scan next to " + run + " (" +
                    (known.empty() ? std::string("it has none") : "known: " + known) +
                    "); give a scan file's name or path");
}

QString label_of(const OpenedFile& f) {
  return QString::fromStdString(fs::path(f.path).stem().string());
}

// The value of `option` the user gave (`wanted`), one of `valid`; the view's default (`fallback`,
// else the first valid one) when none was given. A value that is not valid is refused, naming
// the valid ones: a typo must not draw the default view.
QString pick(const std::string& option, const QStringList& valid, const std::string& wanted,
             const QString& fallback) {
  if (wanted.empty()) return choose(valid, QString(), fallback);
  const QString w = QString::fromStdString(wanted);
  if (valid.contains(w)) return w;
  QStringList quoted;
  for (const auto& v : valid) quoted << (v.contains(' ') ? "'" + v + "'" : v);
  throw ConfigError(option + " " + wanted + ": not in the file" +
                    (valid.isEmpty() ? std::string("; it has none")
                                     : "; use one of " + quoted.join(", ").toStdString()));
}

}  // namespace

namespace {
// The format of the request: --format, else the suffix of --out.
std::string format_of(const PlotRequest& r) {
  std::string f = r.format;
  if (f.empty()) {
    f = fs::path(r.out).extension().string();
    if (!f.empty()) f = f.substr(1);
    std::transform(f.begin(), f.end(), f.begin(), [](unsigned char c) { return std::tolower(c); });
  }
  if (f != "png" && f != "pdf" && f != "svg" && f != "vtk")
    throw ConfigError("--format " + (f.empty() ? std::string("(none)") : f) +
                      ": unknown figure format; use png, pdf, svg or vtk (or end --out in one)");
  std::string suffix = fs::path(r.out).extension().string();
  std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (suffix != "." + f)
    throw ConfigError("--out " + r.out + ": does not end in ." + f + " (the --format); name it " +
                      fs::path(r.out).replace_extension(f).string());
  return f;
}

void check_request(const PlotRequest& r) {
  const auto& views = plot_views();
  if (std::find(views.begin(), views.end(), r.view) == views.end())
    throw ConfigError("--view " + r.view +
                      ": unknown view; use valley, landscape, surface, stability, matrix or "
                      "geometry");
  if (r.files.empty()) throw ConfigError("plot: no input file; give a run file or a scan file");
  if (r.out.empty())
    throw ConfigError("plot: --out is required (FIG.png, FIG.pdf, FIG.svg or PLANE.vtk)");
  // An option the view has no use for would be silently ignored: refused instead.
  const auto only_for = [&](const std::string& option, const std::string& value,
                            const std::vector<std::string>& users) {
    if (value.empty() || std::find(users.begin(), users.end(), r.view) != users.end()) return;
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : " or ") + u;
    throw ConfigError(option + " " + value + ": the " + r.view +
                      " view has no such choice; it is for --view " + list);
  };
  only_for("--task", r.task, {"valley", "landscape", "surface"});
  only_for("--method", r.method, {"matrix"});
  only_for("--metric", r.metric, {"geometry"});
  only_for("--module", r.module, {"geometry"});
  only_for("--cmap", r.cmap, {"landscape", "surface"});
  only_for("--range", r.range, {"landscape", "surface"});
  if (r.smooth && r.view != "landscape")
    throw ConfigError("--smooth: the " + r.view +
                      " view has no such choice; it is for --view "
                      "landscape");
  if (r.band && r.view != "valley")
    throw ConfigError("--band: the " + r.view +
                      " view has no such choice; it is for --view "
                      "valley");
  if (r.equal_aspect >= 0 && r.view != "landscape" && r.view != "surface")
    throw ConfigError("--equal-aspect: the " + r.view +
                      " view has no such choice; it is for --view landscape or surface");
  if (!r.cmap.empty()) color_map(QString::fromStdString(r.cmap));
  if (!r.range.empty()) parse_range(r.range);
  style_named(r.style);
  if (!r.legend.empty()) {
    const QStringList places = legend_places();
    if (!places.contains(QString::fromStdString(r.legend)))
      throw ConfigError("--legend " + r.legend + ": unknown place; use one of " +
                        places.join(", ").toStdString());
  }
}
}  // namespace

std::string draw_plot(QCustomPlot* plot_ptr, const PlotRequest& r) {
  check_request(r);
  QCustomPlot& plot = *plot_ptr;
  std::vector<OpenedFile> files;
  for (const auto& path : r.files) files.push_back(open_file(path));
  const OpenedFile* run = nullptr;
  std::vector<OpenedFile> scans;
  for (const auto& f : files) {
    if (f.type == OpenedFile::Type::Run && !run) run = &f;
    if (f.type == OpenedFile::Type::Scan) scans.push_back(f);
  }
  if (!r.scan.empty()) {
    if (!run)
      throw ConfigError("--scan " + r.scan +
                        ": needs a run file as input (the scan is looked up next to it)");
    if (r.band) {
      // A seed band: the scan of that name next to every run file given.
      std::vector<OpenedFile> found;
      for (const auto& f : files)
        if (f.type == OpenedFile::Type::Run) found.push_back(open_file(find_scan(f.path, r.scan)));
      scans.insert(scans.begin(), found.begin(), found.end());
    } else {
      scans.insert(scans.begin(), open_file(find_scan(run->path, r.scan)));
    }
  }
  const PlotStyle style = style_named(r.style);
  init_plot(&plot);
  std::string what;
  std::vector<std::string> skipped;  // unreadable files next to the run, named in the result
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError("plot --view " + r.view + ": " + msg);
  };
  if (r.view == "valley") {
    std::vector<NamedScan> entries;
    for (const auto& s : scans)
      if (is_path_kind(*s.scan))
        entries.push_back({r.band ? QString::fromStdString(s.path) : label_of(s), s.scan});
    need(!r.band || entries.size() >= 2, "--band needs two or more scans (seeds) of one path");
    need(!entries.empty(),
         "needs a 1-D scan file (line, curve, sharpness --along), or a run file with --scan");
    ValleyOptions o;
    o.score = pick("--score", valley_scores(entries), r.score, "loss");
    o.task_filter = pick("--task", valley_task_filters(entries), r.task, kAllTaskSets);
    o.log_scale = r.log;
    o.band = r.band;
    const ValleyFigure f = prepare_valley(entries, o);
    need(!f.series.empty(),
         "nothing to draw for score '" + r.score + "' and task set '" + r.task + "'");
    draw_valley(&plot, f);
    what = std::to_string(entries.size()) + " scan(s), " + std::to_string(f.series.size()) +
           " series" + (f.band ? ", mean ± sd" : "");
  } else if (r.view == "landscape" || r.view == "surface") {
    const OpenedFile* s = nullptr;
    for (const auto& f : scans)
      if (is_plane_kind(*f.scan)) {
        s = &f;
        break;
      }
    need(s != nullptr,
         "needs a 2-D scan file (plane, random-plane, trajectory), or a run file with --scan");
    LandscapeOptions o;
    o.task = pick("--task", landscape_tasks(*s->scan), r.task, "union");
    o.score = pick("--score", landscape_scores(*s->scan), r.score, "loss");
    o.log_colors = r.log;
    if (!r.cmap.empty()) o.cmap = QString::fromStdString(r.cmap);
    if (!r.range.empty()) std::tie(o.range_lo, o.range_hi) = parse_range(r.range);
    o.equal_aspect = r.equal_aspect != 0;
    o.smooth = r.smooth;
    if (format_of(r) == "vtk") return "vtk";
    const LandscapeFigure f = prepare_landscape(*s->scan, o);
    if (r.view == "surface")
      draw_surface(&plot, f);
    else
      draw_landscape(&plot, f);
    what = s->scan->spec.kind + " " + std::to_string(s->scan->spec.axes[0].size()) + "x" +
           std::to_string(s->scan->spec.axes[1].size());
  } else if (r.view == "stability") {
    need(run != nullptr, "needs a run file");
    check_stability_size(r.width, r.height, r.dpi);
    std::vector<NamedScan> paths;
    if (r.scan.empty() && scans.empty()) {
      for (const auto& path : scans_near(run->path)) {
        try {
          OpenedFile f = open_file(path);
          if (f.type == OpenedFile::Type::Scan && f.scan->spec.kind == "line" &&
              new_task_index(*f.scan) >= 0)
            paths.push_back({label_of(f), f.scan});
        } catch (const std::exception&) {  // a broken neighbour (even one too large to
          skipped.push_back(fs::path(path).filename().string());  // read) does not spoil
        }                                                         // the figure
      }
    } else {
      for (const auto& f : scans) paths.push_back({label_of(f), f.scan});
    }
    paths = trade_off_paths(std::move(paths));
    StabilityOptions o;
    o.score = pick("--score", run_scores(*run->run), r.score, "exact_match");
    draw_stability(&plot, prepare_stability(run->run.get(), paths, o), r.table);
    what = std::to_string(run->run->methods.size()) + " methods, " + std::to_string(paths.size()) +
           " paths";
  } else if (r.view == "matrix") {
    need(run != nullptr, "needs a run file");
    need(!run->run->methods.empty(), "the run file holds no method yet");
    MatrixOptions o;
    o.method = choose(matrix_methods(*run->run), QString::fromStdString(r.method));
    need(r.method.empty() || o.method == QString::fromStdString(r.method),
         "--method " + r.method + ": not in the run file");
    o.score = pick("--score", run_scores(*run->run), r.score, "exact_match");
    const MatrixFigure f = prepare_matrix(*run->run, o);
    need(!f.empty(), "no matrix of score '" + r.score + "' for method " + o.method.toStdString());
    draw_matrix(&plot, f);
    what = "R of " + o.method.toStdString();
  } else {
    const OpenedFile* s = nullptr;
    for (const auto& f : scans)
      if (f.scan->spec.kind == "geometry") {
        s = &f;
        break;
      }
    need(s != nullptr, "needs a geometry scan file (lorascape geometry … --out F.h5)");
    GeometryOptions o;
    o.metric = pick("--metric", geometry_metrics(*s->scan), r.metric, "delta_cosine");
    o.module = pick("--module", geometry_modules(*s->scan), r.module, kAllModules);
    const GeometryFigure f = prepare_geometry(*s->scan, o);
    need(!f.empty(), "no matrix '" + r.metric + "' in the geometry file");
    draw_geometry(&plot, f);
    what = "geometry of " + std::to_string(s->scan->spec.axes[0].size()) + " adapters";
  }
  if (!r.legend.empty() && r.view != "stability" && r.view != "surface")
    place_legend(&plot, r.legend);
  if (!r.legend.empty() && r.legend == "none") plot.legend->setVisible(false);
  set_title(&plot, QString::fromStdString(r.title));
  if (style.name != "screen") apply_style(&plot, style);
  const double scale = r.dpi > 0 ? r.dpi / layout_dpi() : 1.0;
  plot.resize(static_cast<int>(r.width / scale), static_cast<int>(r.height / scale));
  plot.replot();
  for (const auto& s : skipped)
    what += (what.find("; skipped") == std::string::npos ? "; skipped unreadable " : ", ") + s;
  return what;
}

std::string render_plot(const PlotRequest& r) {
  ensure_application();  // (the paper style looks up fonts)
  check_request(r);
  const std::string format = format_of(r);
  if (format == "vtk") {
    if (r.view != "landscape" && r.view != "surface")
      throw ConfigError("--format vtk: the " + r.view +
                        " view has no plane; VTK export is for --view landscape or surface");
    std::string path;
    for (const auto& f : r.files) {
      const OpenedFile o = open_file(f);
      if (o.type == OpenedFile::Type::Scan && is_plane_kind(*o.scan)) {
        write_plane_vtk(r.out, *o.scan, f, r.version);
        return "wrote " + r.out + " (VTK rectilinear grid of " + o.scan->spec.kind + " " +
               std::to_string(o.scan->spec.axes[0].size()) + "x" +
               std::to_string(o.scan->spec.axes[1].size()) + ", " +
               std::to_string(o.scan->spec.tasks.size() * o.scan->spec.scores.size()) + " fields)";
      }
      if (o.type == OpenedFile::Type::Run && !r.scan.empty()) {
        const OpenedFile sc = open_file(find_scan(f, r.scan));
        if (is_plane_kind(*sc.scan)) {
          write_plane_vtk(r.out, *sc.scan, sc.path, r.version);
          return "wrote " + r.out + " (VTK rectilinear grid of " + sc.scan->spec.kind + ")";
        }
      }
    }
    throw ConfigError("--format vtk: needs a 2-D scan file (plane, random-plane, trajectory)");
  }
  QCustomPlot plot;
  const std::string what = draw_plot(&plot, r);
  export_plot(&plot, QString::fromStdString(r.out), r.width, r.height, r.dpi);
  // `what` may end in "; skipped unreadable …" (draw_plot): after the size.
  const auto cut = what.find("; skipped");
  const std::string note = cut == std::string::npos ? "" : what.substr(cut);
  return "wrote " + r.out + " (" + r.view + ": " + what.substr(0, cut) + ", " +
         std::to_string(r.width) + "x" + std::to_string(r.height) + " px at " +
         std::to_string(static_cast<int>(r.dpi)) + " dpi" + note + ")";
}

}  // namespace lorascape::plot
