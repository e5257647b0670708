// The only GUI file that reaches into the analysis engine (and so LibTorch). LibTorch comes
// first: its headers use the names `slots` and `signals`, which Qt's headers define as macros
// (clang-format would move gui/scan_worker.h first).
// clang-format off

#include "analysis/curve.h"
#include "analysis/line_scan.h"
#include "analysis/plane.h"
#include "analysis/scan.h"
#include "core/config.h"
#include "store/error.h"
#include "core/process.h"
#include "core/progress.h"
#include "gui/scan_worker.h"
// clang-format on

namespace lorascape::gui {

std::string scan_command_line(const ScanRequest& r, const std::vector<std::string>& tasks) {
  std::string c = "lorascape scan " + r.kind;
  if (r.kind == "plane") {
    std::string through;
    for (const auto& ref : r.refs) through += (through.empty() ? "" : ",") + ref;
    c += " --through " + through + " --grid " + std::to_string(r.nx) + "x" + std::to_string(r.ny);
    for (const auto& p : r.project) c += " --project '" + p + "'";
  } else {
    c += " --from " + r.refs.at(0) + " --to " + r.refs.at(1) + " -n " + std::to_string(r.points);
    if (r.kind == "curve") c += " --epochs " + std::to_string(r.epochs);
  }
  c += " --space " + r.space;
  if (r.max_examples > 0) c += " --set eval.max_examples=" + std::to_string(r.max_examples);
  if (r.with_union && !tasks.empty()) {
    std::string list;
    for (const auto& t : tasks) list += (list.empty() ? "" : ",") + t;
    c += " --tasks " + list + " --union " + list;
  }
  return c + " --out " + r.out + "  # from lorascape-gui";
}

ScanWorker::ScanWorker(ScanRequest request, QObject* parent)
    : QObject(parent), request_(std::move(request)) {}

void ScanWorker::run() {
  const ScanRequest& r = request_;
  QString error;
  bool complete = false;
  try {
    const size_t need = r.kind == "plane" ? 3 : 2;
    if (r.refs.size() != need)
      throw ConfigError("a " + r.kind + " scan needs " + std::to_string(need) + " adapters, got " +
                        std::to_string(r.refs.size()) + "; pick them in the dialog");
    core::Progress::set_quiet(true);
    // The task data and evaluation settings of the run the first adapter belongs to.
    const core::RunConfig defaults;  // a named object: GCC 12 misreads a temporary's strings
    core::RunConfig data = analysis::scan_data_config(r.refs[0], defaults, false);
    if (r.max_examples > 0) data.eval.max_examples = r.max_examples;
    analysis::ScanOptions opt;
    opt.space = r.space;
    opt.out = r.out;
    if (r.with_union && !data.tasks.names.empty()) {
      opt.tasks = data.tasks.names;
      opt.union_tasks = data.tasks.names;
    }
    opt.on_progress = [this](int64_t done, int64_t total) { emit progress(done, total); };
    opt.cancelled = [this] { return cancelled_.load(); };
    opt.on_training = [this](int64_t step, int64_t steps) { emit training(step, steps); };
    const std::string cmd = scan_command_line(r, opt.union_tasks);
    store::ScanData d;
    if (r.kind == "line") {
      analysis::LineScanOptions o;
      o.scan = opt;
      o.from = r.refs[0];
      o.to = r.refs[1];
      o.points = r.points;
      d = analysis::run_line_scan(o, data, cmd);
    } else if (r.kind == "curve") {
      analysis::CurveScanOptions o;
      o.scan = opt;
      o.from = r.refs[0];
      o.to = r.refs[1];
      o.points = r.points;
      o.epochs = r.epochs;
      d = analysis::run_curve_scan(o, data, cmd);
    } else if (r.kind == "plane") {
      analysis::PlaneScanOptions o;
      o.scan = opt;
      o.through = r.refs;
      o.nx = r.nx;
      o.ny = r.ny;
      o.margin = r.margin;
      o.project = r.project;
      d = analysis::run_plane_scan(o, data, cmd);
    } else {
      throw ConfigError("scan kind '" + r.kind +
                        "' is not offered by the app; use line, curve or plane");
    }
    complete = d.complete();
  } catch (const Error& e) {
    error = QString::fromStdString(e.what());
  } catch (const std::exception& e) {  // LibTorch's errors too, without their backtrace
    error = QString::fromStdString(core::error_text(e));
  }
  emit finished(QString::fromStdString(r.out), complete, error);
}

}  // namespace lorascape::gui
