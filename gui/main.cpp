// lorascape-gui [FILE…]: the desktop app (gui/main_window.h, docs/gui.md).
//   --screenshots DIR   open the files, show each view and write one PNG of the window per
//                       view into DIR, then quit (scripts/screenshots.sh runs it under Xvfb).
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QStyleFactory>
#include <QTimer>
#include <cstdio>

#include "core/process.h"
#include "gui/file_tree.h"
#include "gui/main_window.h"

using lorascape::gui::MainWindow;
using lorascape::plot::OpenedFile;

namespace {

// Picks what each view shows in the screenshots: two line scans between the same stages of
// two methods (overlay), the first plane (of adapters, not of a curve), the first run's
// stability and matrix (its last method), the first geometry scan.
void prepare_screenshots(MainWindow& w) {
  const auto& files = w.files();
  std::vector<int> lines;
  int plane = -1, run = -1, geo = -1;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    if (f.type == OpenedFile::Type::Run) {
      if (run < 0) run = static_cast<int>(i);
      continue;
    }
    const std::string& kind = f.scan->spec.kind;
    if (kind == "line") lines.push_back(static_cast<int>(i));
    // (a plane of adapters before a curve-vs-line plane)
    if ((kind == "plane" || kind == "random-plane" || kind == "trajectory") &&
        (plane < 0 || (files[static_cast<size_t>(plane)].scan->extras.count("curve_path") &&
                       !f.scan->extras.count("curve_path"))))
      plane = static_cast<int>(i);
    if (kind == "geometry" && geo < 0) geo = static_cast<int>(i);
  }
  // Lines named METHOD-A-B.h5: the first pair with the same A-B.
  std::vector<int> overlay;
  for (size_t a = 0; a < lines.size() && overlay.empty(); ++a)
    for (size_t b = a + 1; b < lines.size(); ++b) {
      auto tail = [&](int k) {
        const QString n = QFileInfo(QString::fromStdString(files[static_cast<size_t>(k)].path))
                              .completeBaseName();
        return n.section('-', 1);
      };
      if (tail(lines[a]) == tail(lines[b])) {
        overlay = {lines[a], lines[b]};
        break;
      }
    }
  if (overlay.empty() && !lines.empty()) overlay = {lines[0]};
  if (!overlay.empty()) w.select_files(overlay);
  if (plane >= 0) w.select_file(plane);
  if (geo >= 0) w.select_file(geo);
  if (run >= 0) {
    w.select_file(run);
    const auto& methods = files[static_cast<size_t>(run)].run->methods;
    if (!methods.empty()) w.show_matrix(run, QString::fromStdString(methods.back().name));
  }
}

}  // namespace

int main(int argc, char** argv) {
  lorascape::core::keep_freed_memory();  // the scans it runs allocate as the CLI's do
  QApplication app(argc, argv);
  QApplication::setApplicationName("lorascape-gui");
  QApplication::setOrganizationName("lorascape");
  QApplication::setStyle(QStyleFactory::create("Fusion"));
  QCommandLineParser cli;
  cli.setApplicationDescription(
      "lorascape desktop app: loss valleys, landscapes and plasticity/stability of run and scan "
      "files");
  cli.addHelpOption();
  cli.addPositionalArgument("files", "run files (run.h5) and scan files to open");
  QCommandLineOption shots("screenshots", "write one PNG per view into DIR and quit", "DIR");
  cli.addOption(shots);
  QCommandLineOption size("size", "window size for --screenshots (WxH)", "WxH", "1280x800");
  cli.addOption(size);
  cli.process(app);

  MainWindow w;
  const bool screenshot_mode = cli.isSet(shots);
  if (screenshot_mode) {
    // Errors are printed, not shown in a dialog nobody can click away.
    w.set_error_handler([](const QString& title, const QString& text) {
      std::fprintf(stderr, "lorascape-gui: %s: %s\n", qPrintable(title), qPrintable(text));
    });
    const QStringList wh = cli.value(size).split('x');
    if (wh.size() == 2) w.resize(wh[0].toInt(), wh[1].toInt());
  }
  w.show();
  for (const QString& f : cli.positionalArguments()) w.open_path(f);
  if (screenshot_mode) {
    prepare_screenshots(w);
    const QStringList written = w.save_screenshots(cli.value(shots));
    for (const auto& p : written) std::printf("wrote %s\n", qPrintable(p));
    return written.isEmpty() ? 1 : 0;
  }
  return app.exec();
}
