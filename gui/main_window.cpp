#include "gui/main_window.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <cmath>
#include <filesystem>
#include <optional>

#include "gui/file_tree.h"
#include "gui/geometry_view.h"
#include "gui/landscape_view.h"
#include "gui/matrix_view.h"
#include "gui/scan_dialog.h"
#include "gui/stability_view.h"
#include "gui/valley_view.h"
#include "plot/export.h"
#include "plot/plot_util.h"
#include "plot/style.h"
#include "store/error.h"

namespace lorascape::gui {

namespace fs = std::filesystem;

namespace {
constexpr int kMaxRecent = 10;

std::string absolute(const std::string& p) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? p : a.string();
}

QString stem(const plot::OpenedFile& f) {
  return QString::fromStdString(fs::path(f.path).stem().string());
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("lorascape");
  setAcceptDrops(true);
  tree_ = new FileTree(this);
  tabs_ = new QTabWidget(this);
  valley_ = new ValleyView(this);
  landscape_ = new LandscapeView(this);
  stability_ = new StabilityView(this);
  matrix_ = new MatrixView(this);
  geometry_ = new GeometryView(this);
  tabs_->addTab(valley_, "Loss valley");
  tabs_->addTab(landscape_, "Landscape");
  tabs_->addTab(stability_, "Plasticity / stability");
  tabs_->addTab(matrix_, "Accuracy matrix");
  tabs_->addTab(geometry_, "Geometry");
  splitter_ = new QSplitter(this);
  splitter_->addWidget(tree_);
  splitter_->addWidget(tabs_);
  splitter_->setStretchFactor(1, 1);
  splitter_->setSizes({280, 920});
  setCentralWidget(splitter_);
  status_ = new QLabel(this);
  status_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);  // never widens the window
  statusBar()->addWidget(status_, 1);
  status_->setText(
      "Open a run file (run.h5) or a scan file: File → Open (Ctrl+O), or drop it here.");
  connect(tree_, &QTreeWidget::itemSelectionChanged, this, &MainWindow::on_selection);
  connect(tabs_, &QTabWidget::currentChanged, this, [this] { update_status(); });
  // The status bar names what the current view shows, after every change of its figure
  // (a new score, task set, file, …); messages (a file written, a scan finished) show on top
  // of it for a while.
  for (PlotPanel* v :
       std::initializer_list<PlotPanel*>{valley_, landscape_, stability_, matrix_, geometry_})
    connect(v, &PlotPanel::redrawn, this, [this, v] {
      if (v == current_view()) update_status();
    });
  error_handler_ = [this](const QString& title, const QString& text) {
    QMessageBox::critical(this, title, text);
  };
  build_menus();
  QSettings s;
  resize(1200, 780);
  if (s.contains("window/geometry")) restoreGeometry(s.value("window/geometry").toByteArray());
  if (s.contains("window/state")) restoreState(s.value("window/state").toByteArray());
  if (s.contains("window/splitter"))
    splitter_->restoreState(s.value("window/splitter").toByteArray());
  tabs_->setCurrentIndex(s.value("window/tab", 0).toInt());
  update_recent_menu();
}

MainWindow::~MainWindow() = default;

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu("&File");
  file->addAction("&Open…", QKeySequence::Open, this, &MainWindow::open_dialog);
  recent_menu_ = file->addMenu("Open &recent");
  file->addAction("&Reload files", QKeySequence::Refresh, this, [this] {
    std::vector<std::string> paths;
    for (size_t i = 0; i < files_.size(); ++i)
      if (files_[i].type == plot::OpenedFile::Type::Run || run_of(static_cast<int>(i)) < 0)
        paths.push_back(files_[i].path);
    close_all();
    for (const auto& p : paths) open_path(QString::fromStdString(p));
  });
  file->addAction("&Close all", QKeySequence::Close, this, &MainWindow::close_all);
  file->addSeparator();
  file->addAction("&Export figure…", QKeySequence(Qt::CTRL | Qt::Key_E), this,
                  &MainWindow::export_dialog);
  file->addAction("Export &data as CSV…", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E), this,
                  &MainWindow::export_csv_dialog);
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);

  QMenu* view = menuBar()->addMenu("&View");
  const char* names[] = {"Loss &valley", "&Landscape", "&Plasticity / stability",
                         "Accuracy &matrix", "&Geometry"};
  for (int k = 0; k < 5; ++k)
    view->addAction(names[k], QKeySequence(Qt::CTRL | (Qt::Key_1 + k)), this,
                    [this, k] { tabs_->setCurrentIndex(k); });
  view->addSeparator();
  view->addAction("Reset &zoom", QKeySequence(Qt::CTRL | Qt::Key_0), this, [this] {
    if (PlotPanel* v = current_view()) {
      // Rebuilding restores each view's own ranges.
      if (v == valley_)
        valley_->set_score(valley_->score());
      else if (v == landscape_)
        landscape_->reset_view();  // the user's contour and label choices stay
      else
        v->plot()->replot();
    }
  });
  view->addAction("Toggle &log scale", QKeySequence(Qt::CTRL | Qt::Key_L), this, [this] {
    if (current_view() == valley_) valley_->set_log_scale(!valley_->log_scale());
    if (current_view() == landscape_) landscape_->set_log_colors(!landscape_->log_colors());
  });
  view->addAction("&Focus the file tree", QKeySequence(Qt::CTRL | Qt::Key_T), this,
                  [this] { tree_->setFocus(); });

  QMenu* analysis = menuBar()->addMenu("&Analysis");
  analysis->addAction("&New scan…", QKeySequence::New, this, [this] { new_scan_dialog()->show(); });

  QMenu* help = menuBar()->addMenu("&Help");
  help->addAction("&Keyboard shortcuts", QKeySequence::HelpContents, this, [this] {
    QMessageBox::information(
        this, "Keyboard shortcuts",
        "Ctrl+O  open a run or scan file\nCtrl+W  close all files\nF5  reload the files\n"
        "Ctrl+E  export the figure (PNG, PDF, SVG)\nCtrl+Shift+E  export the data (CSV)\n"
        "Ctrl+1…5  valley, landscape, plasticity/stability, matrix, geometry\n"
        "Ctrl+L  log scale\nCtrl+0  reset zoom\nCtrl+T  focus the file tree\n"
        "Ctrl+N  new scan\nCtrl+Q  quit\n\nMouse: drag to pan, wheel to zoom; "
        "Ctrl+click in the tree to overlay several scans.");
  });
  help->addAction("&About", this, [this] {
    QMessageBox::about(this, "lorascape",
                       "lorascape — mode-connectivity analysis of continual LoRA fine-tuning.\n"
                       "Loss valleys, landscapes and plasticity/stability of run and scan files "
                       "(docs/gui.md).");
  });
}

void MainWindow::update_status() {
  if (PlotPanel* v = current_view()) status_->setText(v->title());
}

QString MainWindow::status_text() const {
  const QString message = statusBar()->currentMessage();
  return message.isEmpty() ? status_->text() : message;
}

void MainWindow::error(const QString& title, const QString& text) {
  statusBar()->showMessage(title, 10000);
  if (error_handler_) error_handler_(title, text);
}

PlotPanel* MainWindow::current_view() const {
  return qobject_cast<PlotPanel*>(tabs_->currentWidget());
}

int MainWindow::index_of_path(const QString& path) const {
  const std::string a = absolute(path.toStdString());
  for (size_t i = 0; i < files_.size(); ++i)
    if (absolute(files_[i].path) == a) return static_cast<int>(i);
  return -1;
}

int MainWindow::run_of(int scan) const {
  for (size_t r = 0; r < scans_of_.size(); ++r)
    for (int k : scans_of_[r])
      if (k == scan) return static_cast<int>(r);
  return -1;
}

bool MainWindow::open_path(const QString& qpath) {
  const std::string path = qpath.toStdString();
  if (index_of_path(qpath) >= 0) return reload_path(qpath);
  plot::OpenedFile f;
  try {
    f = plot::open_file(path);
  } catch (const std::exception& e) {
    remove_recent(qpath);
    error("Cannot open " + QString::fromStdString(plot::file_name(path)),
          QString::fromStdString(plot::explain_open_error(path, e.what())));
    return false;
  }
  const int index = static_cast<int>(files_.size());
  files_.push_back(f);
  scans_of_.emplace_back();
  if (f.type == plot::OpenedFile::Type::Run) {
    for (const auto& sp : plot::scans_near(path)) {
      if (index_of_path(QString::fromStdString(sp)) >= 0) continue;
      try {
        plot::OpenedFile s = plot::open_file(sp);
        if (s.type != plot::OpenedFile::Type::Scan) continue;
        scans_of_[static_cast<size_t>(index)].push_back(static_cast<int>(files_.size()));
        files_.push_back(std::move(s));
        scans_of_.emplace_back();
      } catch (const std::exception& e) {
        broken_.emplace_back(sp, e.what());
      }
    }
  }
  add_recent(qpath);
  rebuild_tree();
  select_file(index);
  return true;
}

bool MainWindow::reload_path(const QString& qpath) {
  const int index = index_of_path(qpath);
  if (index < 0) {
    // A new scan next to an open run file goes under that run.
    const std::string path = qpath.toStdString();
    for (size_t r = 0; r < files_.size(); ++r) {
      if (files_[r].type != plot::OpenedFile::Type::Run) continue;
      for (const auto& sp : plot::scans_near(files_[r].path))
        if (absolute(sp) == absolute(path)) {
          try {
            plot::OpenedFile s = plot::open_file(path);
            scans_of_[r].push_back(static_cast<int>(files_.size()));
            files_.push_back(std::move(s));
            scans_of_.emplace_back();
            rebuild_tree();
            select_file(static_cast<int>(files_.size()) - 1);
            return true;
          } catch (const std::exception& e) {
            error("Cannot open " + QString::fromStdString(plot::file_name(path)),
                  QString::fromStdString(plot::explain_open_error(path, e.what())));
            return false;
          }
        }
    }
    return open_path(qpath);
  }
  try {
    files_[static_cast<size_t>(index)] = plot::open_file(files_[static_cast<size_t>(index)].path);
  } catch (const std::exception& e) {
    error("Cannot reload " + QString::fromStdString(plot::file_name(qpath.toStdString())),
          QString::fromStdString(plot::explain_open_error(qpath.toStdString(), e.what())));
    return false;
  }
  rebuild_tree();
  select_file(index);
  return true;
}

void MainWindow::close_all() {
  files_.clear();
  scans_of_.clear();
  broken_.clear();
  rebuild_tree();
  valley_->set_scans({});
  landscape_->set_scan({}, nullptr);
  stability_->set_run({}, nullptr);
  matrix_->set_run({}, nullptr);
  geometry_->set_scan({}, nullptr);
  setWindowTitle("lorascape");
}

void MainWindow::rebuild_tree() {
  const QSignalBlocker block(tree_);
  tree_->rebuild(files_, scans_of_, broken_);
}

std::vector<int> MainWindow::path_scans_of(int run) const {
  std::vector<int> out;
  if (run < 0 || static_cast<size_t>(run) >= scans_of_.size()) return out;
  for (int k : scans_of_[static_cast<size_t>(run)])
    if (files_[static_cast<size_t>(k)].scan->spec.kind == "line" &&
        plot::new_task_index(*files_[static_cast<size_t>(k)].scan) >= 0)
      out.push_back(k);
  return out;
}

void MainWindow::select_file(int index) {
  select_files({index});
}

void MainWindow::select_files(const std::vector<int>& indices) {
  tree_->clearSelection();
  QTreeWidgetItem* last = nullptr;
  for (int i : indices)
    if (QTreeWidgetItem* it = tree_->item_of_file(i)) {
      it->setSelected(true);
      last = it;
    }
  if (last) tree_->scrollToItem(last);
  on_selection();
}

void MainWindow::show_matrix(int index, const QString& method) {
  const plot::OpenedFile& f = files_.at(static_cast<size_t>(index));
  if (f.type != plot::OpenedFile::Type::Run) return;
  matrix_->set_run(stem(f), f.run);
  matrix_->set_method(method);
  tabs_->setCurrentWidget(matrix_);
}

void MainWindow::on_selection() {
  const auto items = tree_->selectedItems();
  if (items.isEmpty()) return;
  // Scans: 1-D ones overlay in the valley view; the first 2-D one in the landscape view.
  std::vector<ValleyView::Entry> paths;
  const plot::OpenedFile* plane = nullptr;
  const plot::OpenedFile* geo = nullptr;
  for (int k : tree_->selected_files()) {
    const plot::OpenedFile& f = files_[static_cast<size_t>(k)];
    if (f.scan->spec.kind == "geometry") {
      if (!geo) geo = &f;
    } else if (plot::is_path_kind(*f.scan)) {
      paths.push_back({stem(f), f.scan});
    } else if (plot::is_plane_kind(*f.scan) && !plane) {
      plane = &f;
    }
  }
  QWidget* show = nullptr;
  if (!paths.empty()) {
    valley_->set_scans(paths);
    show = valley_;
    // Its run's plasticity/stability view gets the selected paths for the trade-off.
    std::vector<StabilityView::Path> sp;
    for (const auto& e : paths) sp.push_back({e.label, e.scan});
    stability_->set_paths(sp);
  }
  if (plane) {
    landscape_->set_scan(stem(*plane), plane->scan);
    if (!show) show = landscape_;
  }
  if (geo) {
    geometry_->set_scan(stem(*geo), geo->scan);
    if (!show) show = geometry_;
  }
  // Runs, methods, stages, adapters: the run's stability and matrix views.
  QTreeWidgetItem* it = items.last();
  const QString kind = it->data(0, FileTree::kNodeRole).toString();
  const int file = it->data(0, FileTree::kFileRole).toInt();
  if (file >= 0 && kind != "scan" && kind != "error" &&
      files_[static_cast<size_t>(file)].type == plot::OpenedFile::Type::Run) {
    const plot::OpenedFile& f = files_[static_cast<size_t>(file)];
    stability_->set_run(stem(f), f.run);
    std::vector<StabilityView::Path> sp;
    for (int k : path_scans_of(file))
      sp.push_back({stem(files_[static_cast<size_t>(k)]), files_[static_cast<size_t>(k)].scan});
    stability_->set_paths(sp);
    matrix_->set_run(stem(f), f.run);
    // The method of the selected item (method, stage or adapter).
    QTreeWidgetItem* m = it;
    while (m && m->data(0, FileTree::kNodeRole).toString() != "method") m = m->parent();
    if (m) matrix_->set_method(m->data(0, FileTree::kRefRole).toString());
    show = (kind == "run" || kind == "group")
               ? static_cast<QWidget*>(stability_)
               : (kind == "method" ? static_cast<QWidget*>(matrix_) : nullptr);
    setWindowTitle("lorascape — " + QString::fromStdString(f.path));
  }
  if (show) tabs_->setCurrentWidget(show);
  update_status();
}

void MainWindow::export_current(const QString& path, int width, int height, double dpi,
                                const QString& style, bool table) {
  PlotPanel* v = current_view();
  if (!v || !v->has_data())
    throw ConfigError(
        "nothing to export: the current view is empty; select a file in the tree first");
  const plot::PlotStyle st = plot::style_named(style.toStdString());
  if (v == stability_) plot::check_stability_size(width, height, dpi);
  table = table && v->can_draw_table();
  // Put the view back as it was shown whatever happens (an export error included).
  struct Restore {
    PlotPanel* v;
    bool table;
    std::optional<plot::StyleSnapshot> snap;
    ~Restore() {
      if (snap) snap->restore();
      if (table) v->draw_table(false);
      v->plot()->replot();
    }
  } restore{v, table, std::nullopt};
  if (table) v->draw_table(true);
  if (st.name != "screen") {
    restore.snap.emplace(v->plot());
    plot::apply_style(v->plot(), st);
  }
  plot::export_plot(v->plot(), path, width, height, dpi);
}

QString MainWindow::current_csv() const {
  PlotPanel* v = current_view();
  return v ? v->csv() : QString();
}

void MainWindow::open_dialog() {
  QSettings s;
  const QStringList paths = QFileDialog::getOpenFileNames(
      this, "Open run or scan files", s.value("paths/last_dir", QDir::currentPath()).toString(),
      "lorascape files (*.h5);;All files (*)");
  for (const auto& p : paths) {
    s.setValue("paths/last_dir", QFileInfo(p).absolutePath());
    open_path(p);
  }
}

void MainWindow::export_dialog() {
  PlotPanel* v = current_view();
  if (!v || !v->has_data()) {
    error("Nothing to export", "The current view is empty. Select a file in the tree first.");
    return;
  }
  QSettings s;
  QDialog dlg(this);
  dlg.setWindowTitle("Export figure");
  auto* form = new QFormLayout(&dlg);
  auto* w = new QSpinBox(&dlg);
  auto* h = new QSpinBox(&dlg);
  auto* dpi = new QDoubleSpinBox(&dlg);
  w->setRange(16, 20000);
  h->setRange(16, 20000);
  dpi->setRange(10, 2400);
  w->setValue(s.value("export/width", 1800).toInt());
  h->setValue(s.value("export/height", 1200).toInt());
  dpi->setValue(s.value("export/dpi", 300).toDouble());
  w->setSuffix(" px");
  h->setSuffix(" px");
  form->addRow("width", w);
  form->addRow("height", h);
  form->addRow("DPI", dpi);
  // A paper's column widths (plot/style.h) set the width from the DPI.
  auto* size = new QComboBox(&dlg);
  size->addItems({"custom", "single column (3.3 in)", "double column (6.9 in)"});
  form->addRow("size", size);
  auto apply_size = [=] {
    const double in = plot::named_width_inches(size->currentIndex() == 1   ? "column"
                                               : size->currentIndex() == 2 ? "double"
                                                                           : "");
    if (in <= 0) return;
    w->setValue(static_cast<int>(std::lround(in * dpi->value())));
    h->setValue(static_cast<int>(std::lround(in * dpi->value() * 2.0 / 3.0)));
  };
  connect(size, &QComboBox::currentIndexChanged, &dlg, apply_size);
  connect(dpi, &QDoubleSpinBox::valueChanged, &dlg, apply_size);
  auto* style = new QComboBox(&dlg);
  style->addItems({"screen", "paper"});
  style->setCurrentText(s.value("export/style", "screen").toString());
  style->setToolTip(
      "paper: serif fonts at 8–10 pt and thinner lines, as `lorascape plot --style paper`");
  form->addRow("style", style);
  QCheckBox* table = nullptr;
  if (v->can_draw_table()) {
    table = new QCheckBox("metric table in the figure", &dlg);
    table->setChecked(s.value("export/table", true).toBool());
    form->addRow("", table);
  }
  form->addRow(new QLabel(
      "PNG: exactly width × height pixels. PDF, SVG: a page of width/DPI × height/DPI inches.",
      &dlg));
  auto* bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
  form->addRow(bb);
  connect(bb, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
  connect(bb, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
  if (dlg.exec() != QDialog::Accepted) return;
  s.setValue("export/width", w->value());
  s.setValue("export/height", h->value());
  s.setValue("export/dpi", dpi->value());
  s.setValue("export/style", style->currentText());
  if (table) s.setValue("export/table", table->isChecked());
  QString name = v->title().section(':', 0, 0);
  const QString path = QFileDialog::getSaveFileName(
      this, "Export figure",
      s.value("paths/export_dir", QDir::currentPath()).toString() + "/" + name + ".pdf",
      "PDF (*.pdf);;PNG (*.png);;SVG (*.svg)");
  if (path.isEmpty()) return;
  s.setValue("paths/export_dir", QFileInfo(path).absolutePath());
  try {
    export_current(path, w->value(), h->value(), dpi->value(), style->currentText(),
                   table && table->isChecked());
    statusBar()->showMessage("Wrote " + path, 10000);
  } catch (const std::exception& e) {
    error("Export failed", QString::fromStdString(e.what()));
  }
}

void MainWindow::export_csv_dialog() {
  const QString csv = current_csv();
  if (csv.isEmpty()) {
    error("Nothing to export", "The current view is empty. Select a file in the tree first.");
    return;
  }
  QSettings s;
  const QString path = QFileDialog::getSaveFileName(
      this, "Export data",
      s.value("paths/export_dir", QDir::currentPath()).toString() + "/data.csv", "CSV (*.csv)");
  if (path.isEmpty()) return;
  try {
    plot::write_text_file(path, csv);
    statusBar()->showMessage("Wrote " + path, 10000);
  } catch (const std::exception& e) {
    error("Export failed", QString::fromStdString(e.what()));
  }
}

ScanDialog* MainWindow::new_scan_dialog() {
  auto* dlg = new ScanDialog(tree_->all_adapters(), tree_->selected_adapters(), this);
  dlg->setAttribute(Qt::WA_DeleteOnClose);
  connect(dlg, &ScanDialog::scan_finished, this, &MainWindow::on_scan_finished);
  return dlg;
}

void MainWindow::on_scan_finished(const QString& path, bool complete, const QString& err) {
  if (!err.isEmpty()) {
    error("The scan failed", err);
    return;
  }
  if (QFileInfo::exists(path)) reload_path(path);
  statusBar()->showMessage(
      (complete ? "Scan complete: " : "Scan cancelled (partial, resumable): ") + path, 10000);
}

QStringList MainWindow::recent_files() const {
  return QSettings().value("recent/files").toStringList();
}

void MainWindow::add_recent(const QString& path) {
  QStringList r = recent_files();
  const QString a = QFileInfo(path).absoluteFilePath();
  r.removeAll(a);
  r.prepend(a);
  while (r.size() > kMaxRecent) r.removeLast();
  QSettings().setValue("recent/files", r);
  update_recent_menu();
}

void MainWindow::remove_recent(const QString& path) {
  QStringList r = recent_files();
  r.removeAll(QFileInfo(path).absoluteFilePath());
  QSettings().setValue("recent/files", r);
  update_recent_menu();
}

void MainWindow::update_recent_menu() {
  if (!recent_menu_) return;
  recent_menu_->clear();
  const QStringList r = recent_files();
  for (int k = 0; k < r.size(); ++k) {
    const QString p = r[k];
    auto* a = recent_menu_->addAction(QString("&%1 %2").arg((k + 1) % 10).arg(p), this,
                                      [this, p] { open_path(p); });
    a->setToolTip(p);
  }
  recent_menu_->setEnabled(!r.isEmpty());
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  for (const QUrl& u : e->mimeData()->urls())
    if (u.isLocalFile()) open_path(u.toLocalFile());
  e->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* e) {
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
  s.setValue("window/splitter", splitter_->saveState());
  s.setValue("window/tab", tabs_->currentIndex());
  QMainWindow::closeEvent(e);
}

QStringList MainWindow::save_screenshots(const QString& dir) {
  QDir().mkpath(dir);
  QStringList written;
  const char* names[] = {"valley", "landscape", "stability", "matrix", "geometry"};
  for (int k = 0; k < tabs_->count(); ++k) {
    auto* v = qobject_cast<PlotPanel*>(tabs_->widget(k));
    if (!v || !v->has_data()) continue;
    tabs_->setCurrentIndex(k);
    QApplication::processEvents();
    v->plot()->replot();
    QApplication::processEvents();
    const QString path = dir + "/gui-" + names[k] + ".png";
    if (grab().save(path)) written << path;
  }
  return written;
}

}  // namespace lorascape::gui
