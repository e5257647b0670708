// MainWindow: the desktop app. The file tree on the left, the views on the right (valley,
// landscape, stability, matrix, geometry), menus with shortcuts, recent files, drag and drop,
// figure and CSV export, "New scan…", and its state remembered in QSettings.
#pragma once

#include <QMainWindow>
#include <QStringList>
#include <functional>
#include <memory>
#include <vector>

#include "plot/document.h"

class QTabWidget;
class QSplitter;
class QMenu;
class QLabel;

namespace lorascape::gui {

class FileTree;
class ValleyView;
class LandscapeView;
class StabilityView;
class MatrixView;
class GeometryView;
class PlotPanel;
class ScanDialog;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens a run or scan file (a run file brings the scans next to it). On failure shows the
  // error dialog (error handler) and returns false; the app never crashes on a file.
  bool open_path(const QString& path);
  // Re-reads a file already open (e.g. a scan that grew), or opens it under its run.
  bool reload_path(const QString& path);
  void close_all();

  // Where errors go: a message box by default; tests capture them.
  using ErrorHandler = std::function<void(const QString& title, const QString& text)>;
  void set_error_handler(ErrorHandler h) { error_handler_ = std::move(h); }

  // Shows the file `index` (a scan in its view, a run in the stability view) as if selected.
  void select_file(int index);
  // Selects several scan files at once (overlay in the valley view).
  void select_files(const std::vector<int>& indices);
  // Shows the run file `index` in the matrix view for `method`.
  void show_matrix(int index, const QString& method);
  // Index of the open file at `path` (absolute or as given), -1 when not open.
  int index_of_path(const QString& path) const;

  // Exports the current view; throws lorascape::Error on failure.
  // The current view as a figure file; `style` "screen" (as shown) or "paper" (plot/style.h);
  // with `table` a view that can (the stability view) draws its data table into the figure.
  // The view is drawn as before afterwards.
  void export_current(const QString& path, int width, int height, double dpi,
                      const QString& style = "screen", bool table = false);
  // The current view's data as CSV.
  QString current_csv() const;
  // What the status bar shows: a recent message (a file written, a scan finished) while it
  // lasts, else the current view's title.
  QString status_text() const;
  // Writes one PNG of the window per view that has data into `dir` (gui-valley.png, …);
  // returns the files written.
  QStringList save_screenshots(const QString& dir);

  const std::vector<plot::OpenedFile>& files() const { return files_; }
  FileTree* tree() const { return tree_; }
  QTabWidget* tabs() const { return tabs_; }
  ValleyView* valley() const { return valley_; }
  LandscapeView* landscape() const { return landscape_; }
  StabilityView* stability() const { return stability_; }
  MatrixView* matrix() const { return matrix_; }
  GeometryView* geometry() const { return geometry_; }
  PlotPanel* current_view() const;
  QStringList recent_files() const;

  // Opens the scan dialog preloaded with the tree's selected adapters (non-modal).
  ScanDialog* new_scan_dialog();

 protected:
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;
  void closeEvent(QCloseEvent* e) override;

 private:
  void build_menus();
  void rebuild_tree();
  void on_selection();
  void add_recent(const QString& path);
  void remove_recent(const QString& path);
  void update_recent_menu();
  void error(const QString& title, const QString& text);
  void update_status();  // the status bar names what the current view shows
  void export_dialog();
  void export_csv_dialog();
  void open_dialog();
  void on_scan_finished(const QString& path, bool complete, const QString& error);
  std::vector<int> path_scans_of(int run) const;
  int run_of(int scan) const;

  std::vector<plot::OpenedFile> files_;
  std::vector<std::vector<int>> scans_of_;  // per file: the scans shown under it (runs only)
  std::vector<std::pair<std::string, std::string>> broken_;
  FileTree* tree_;
  QTabWidget* tabs_;
  QSplitter* splitter_;
  ValleyView* valley_;
  LandscapeView* landscape_;
  StabilityView* stability_;
  MatrixView* matrix_;
  GeometryView* geometry_;
  QMenu* recent_menu_ = nullptr;
  QLabel* status_ = nullptr;
  ErrorHandler error_handler_;
};

}  // namespace lorascape::gui
