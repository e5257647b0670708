#include "plot/plot_command.h"

#include <qcustomplot.h>

#include <QApplication>
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "plot/document.h"
#include "plot/export.h"
#include "plot/geometry.h"
#include "plot/landscape.h"
#include "plot/matrix.h"
#include "plot/plot_util.h"
#include "plot/stability.h"
#include "plot/valley.h"
#include "store/error.h"

namespace lorascape::plot {

namespace fs = std::filesystem;

const std::vector<std::string>& plot_views() {
  static const std::vector<std::string> v{"valley", "landscape", "stability", "matrix", "geometry"};
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

std::string render_plot(const PlotRequest& r) {
  const auto& views = plot_views();
  if (std::find(views.begin(), views.end(), r.view) == views.end())
    throw ConfigError("--view " + r.view +
                      ": unknown view; use valley, landscape, stability, matrix or geometry");
  if (r.files.empty()) throw ConfigError("plot: no input file; give a run file or a scan file");
  if (r.out.empty()) throw ConfigError("plot: --out is required (FIG.png, FIG.pdf or FIG.svg)");
  // An option the view has no use for would be silently ignored: refused instead.
  const auto only_for = [&](const std::string& option, const std::string& value,
                            const std::vector<std::string>& users) {
    if (value.empty() || std::find(users.begin(), users.end(), r.view) != users.end()) return;
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : " or ") + u;
    throw ConfigError(option + " " + value + ": the " + r.view +
                      " view has no such choice; it is for --view " + list);
  };
  only_for("--task", r.task, {"valley", "landscape"});
  only_for("--method", r.method, {"matrix"});
  only_for("--metric", r.metric, {"geometry"});
  std::vector<OpenedFile> files;
  for (const auto& path : r.files) files.push_back(open_file(path));
  ensure_application();
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
    scans.insert(scans.begin(), open_file(find_scan(run->path, r.scan)));
  }
  QCustomPlot plot;
  init_plot(&plot);
  std::string what;
  std::vector<std::string> skipped;  // unreadable files next to the run, named in the result
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError("plot --view " + r.view + ": " + msg);
  };
  if (r.view == "valley") {
    std::vector<NamedScan> entries;
    for (const auto& s : scans)
      if (is_path_kind(*s.scan)) entries.push_back({label_of(s), s.scan});
    need(!entries.empty(),
         "needs a 1-D scan file (line, curve, sharpness --along), or a run file with --scan");
    ValleyOptions o;
    o.score = pick("--score", valley_scores(entries), r.score, "loss");
    o.task_filter = pick("--task", valley_task_filters(entries), r.task, kAllTaskSets);
    o.log_scale = r.log;
    const ValleyFigure f = prepare_valley(entries, o);
    need(!f.series.empty(),
         "nothing to draw for score '" + r.score + "' and task set '" + r.task + "'");
    draw_valley(&plot, f);
    what =
        std::to_string(entries.size()) + " scan(s), " + std::to_string(f.series.size()) + " series";
  } else if (r.view == "landscape") {
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
    draw_landscape(&plot, prepare_landscape(*s->scan, o));
    what = s->scan->spec.kind + " " + std::to_string(s->scan->spec.axes[0].size()) + "x" +
           std::to_string(s->scan->spec.axes[1].size());
  } else if (r.view == "stability") {
    need(run != nullptr, "needs a run file");
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
    draw_stability(&plot, prepare_stability(run->run.get(), paths, o));
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
    const GeometryFigure f = prepare_geometry(*s->scan, o);
    need(!f.empty(), "no matrix '" + r.metric + "' in the geometry file");
    draw_geometry(&plot, f);
    what = "geometry of " + std::to_string(s->scan->spec.axes[0].size()) + " adapters";
  }
  const double scale = r.dpi > 0 ? r.dpi / layout_dpi() : 1.0;
  plot.resize(static_cast<int>(r.width / scale), static_cast<int>(r.height / scale));
  export_plot(&plot, QString::fromStdString(r.out), r.width, r.height, r.dpi);
  std::string note;
  for (const auto& s : skipped) note += (note.empty() ? "; skipped unreadable " : ", ") + s;
  return "wrote " + r.out + " (" + r.view + ": " + what + ", " + std::to_string(r.width) + "x" +
         std::to_string(r.height) + " px at " + std::to_string(static_cast<int>(r.dpi)) + " dpi" +
         note + ")";
}

}  // namespace lorascape::plot
