#include "gui/plot_command.h"

#include <qcustomplot.h>

#include <QApplication>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "gui/geometry_view.h"
#include "gui/landscape_view.h"
#include "gui/matrix_view.h"
#include "gui/stability_view.h"
#include "gui/valley_view.h"
#include "plot/document.h"
#include "plot/export.h"
#include "plot/plot_util.h"
#include "store/error.h"

namespace lorascape::gui {

namespace fs = std::filesystem;

const std::vector<std::string>& plot_views() {
  static const std::vector<std::string> v{"valley", "landscape", "stability", "matrix", "geometry"};
  return v;
}

bool plot_available() {
  return true;
}

namespace {

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

// The scan file --scan names, next to the run file `run`.
std::string find_scan(const std::string& run, const std::string& id) {
  std::error_code ec;
  if (fs::is_regular_file(id, ec)) return id;
  for (const auto& path : plot::scans_near(run)) {
    const fs::path p(path);
    if (p.filename() == id || p.stem() == id) return path;
  }
  std::string known;
  for (const auto& path : plot::scans_near(run))
    known += (known.empty() ? "" : ", ") + fs::path(path).stem().string();
  throw ConfigError("--scan " + id + ": no such scan next to " + run + " (" +
                    (known.empty() ? std::string("it has none") : "known: " + known) +
                    "); give a scan file's name or path");
}

QString label_of(const plot::OpenedFile& f) {
  return QString::fromStdString(fs::path(f.path).stem().string());
}

}  // namespace

std::string render_plot(const PlotRequest& r) {
  const auto& views = plot_views();
  if (std::find(views.begin(), views.end(), r.view) == views.end())
    throw ConfigError("--view " + r.view +
                      ": unknown view; use valley, landscape, stability, matrix or geometry");
  if (r.files.empty()) throw ConfigError("plot: no input file; give a run file or a scan file");
  if (r.out.empty()) throw ConfigError("plot: --out is required (FIG.png, FIG.pdf or FIG.svg)");
  std::vector<plot::OpenedFile> files;
  for (const auto& path : r.files) files.push_back(plot::open_file(path));
  ensure_application();
  const plot::OpenedFile* run = nullptr;
  std::vector<plot::OpenedFile> scans;
  for (const auto& f : files) {
    if (f.type == plot::OpenedFile::Type::Run && !run) run = &f;
    if (f.type == plot::OpenedFile::Type::Scan) scans.push_back(f);
  }
  if (!r.scan.empty()) {
    if (!run)
      throw ConfigError("--scan " + r.scan +
                        ": needs a run file as input (the scan is looked up next to it)");
    scans.insert(scans.begin(), plot::open_file(find_scan(run->path, r.scan)));
  }
  const QString score = QString::fromStdString(r.score);
  std::unique_ptr<PlotPanel> view;
  std::string what;
  auto need = [&](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError("plot --view " + r.view + ": " + msg);
  };
  if (r.view == "valley") {
    std::vector<ValleyView::Entry> entries;
    for (const auto& s : scans)
      if (plot::is_path_kind(*s.scan)) entries.push_back({label_of(s), s.scan});
    need(!entries.empty(),
         "needs a 1-D scan file (line, curve, sharpness --along), or a run file with --scan");
    auto v = std::make_unique<ValleyView>();
    v->set_scans(entries);
    if (!score.isEmpty()) v->set_score(score);
    if (!r.task.empty()) v->set_task_filter(QString::fromStdString(r.task));
    v->set_log_scale(r.log);
    need(v->has_data(),
         "nothing to draw for score '" + r.score + "' and task set '" + r.task + "'");
    what = std::to_string(entries.size()) + " scan(s), " + std::to_string(v->series().size()) +
           " series";
    view = std::move(v);
  } else if (r.view == "landscape") {
    const plot::OpenedFile* s = nullptr;
    for (const auto& f : scans)
      if (plot::is_plane_kind(*f.scan)) {
        s = &f;
        break;
      }
    need(s != nullptr,
         "needs a 2-D scan file (plane, random-plane, trajectory), or a run file with --scan");
    auto v = std::make_unique<LandscapeView>();
    v->set_scan(label_of(*s), s->scan);
    if (!r.task.empty()) v->set_task(QString::fromStdString(r.task));
    if (!score.isEmpty()) v->set_score(score);
    v->set_log_colors(r.log);
    what = s->scan->spec.kind + " " + std::to_string(s->scan->spec.axes[0].size()) + "x" +
           std::to_string(s->scan->spec.axes[1].size());
    view = std::move(v);
  } else if (r.view == "stability") {
    need(run != nullptr, "needs a run file");
    auto v = std::make_unique<StabilityView>();
    v->set_run(label_of(*run), run->run);
    std::vector<StabilityView::Path> paths;
    if (r.scan.empty() && scans.empty()) {
      for (const auto& path : plot::scans_near(run->path)) {
        try {
          plot::OpenedFile f = plot::open_file(path);
          if (f.type == plot::OpenedFile::Type::Scan && f.scan->spec.kind == "line" &&
              plot::new_task_index(*f.scan) >= 0)
            paths.push_back({label_of(f), f.scan});
        } catch (const Error&) {  // a broken neighbour does not spoil the figure
        }
      }
    } else {
      for (const auto& f : scans) paths.push_back({label_of(f), f.scan});
    }
    v->set_paths(paths);
    if (!score.isEmpty()) v->set_score(score);
    what = std::to_string(run->run->methods.size()) + " methods, " +
           std::to_string(v->path_count()) + " paths";
    view = std::move(v);
  } else if (r.view == "matrix") {
    need(run != nullptr, "needs a run file");
    need(!run->run->methods.empty(), "the run file holds no method yet");
    auto v = std::make_unique<MatrixView>();
    v->set_run(label_of(*run), run->run);
    if (!r.method.empty()) {
      v->set_method(QString::fromStdString(r.method));
      need(v->method() == QString::fromStdString(r.method),
           "--method " + r.method + ": not in the run file");
    }
    if (!score.isEmpty()) v->set_score(score);
    need(v->has_data(),
         "no matrix of score '" + r.score + "' for method " + v->method().toStdString());
    what = "R of " + v->method().toStdString();
    view = std::move(v);
  } else {
    const plot::OpenedFile* s = nullptr;
    for (const auto& f : scans)
      if (f.scan->spec.kind == "geometry") {
        s = &f;
        break;
      }
    need(s != nullptr, "needs a geometry scan file (lorascape geometry … --out F.h5)");
    auto v = std::make_unique<GeometryView>();
    v->set_scan(label_of(*s), s->scan);
    if (!r.metric.empty()) v->set_metric(QString::fromStdString(r.metric));
    need(v->has_data(), "no matrix '" + r.metric + "' in the geometry file");
    what = "geometry of " + std::to_string(s->scan->spec.axes[0].size()) + " adapters";
    view = std::move(v);
  }
  const double scale = r.dpi > 0 ? r.dpi / 96.0 : 1.0;
  view->resize(static_cast<int>(r.width / scale), static_cast<int>(r.height / scale));
  plot::export_plot(view->plot(), QString::fromStdString(r.out), r.width, r.height, r.dpi);
  return "wrote " + r.out + " (" + r.view + ": " + what + ", " + std::to_string(r.width) + "x" +
         std::to_string(r.height) + " px at " + std::to_string(static_cast<int>(r.dpi)) + " dpi)";
}

}  // namespace lorascape::gui
