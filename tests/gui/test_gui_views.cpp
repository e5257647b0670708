// The desktop app's file model, tree and views on small fixture files, the views' figures
// against `lorascape plot`'s, and broken files (a dialog, never a crash).
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QFile>
#include <QImage>
#include <QTabWidget>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gui/file_tree.h"
#include "gui/geometry_view.h"
#include "gui/landscape_view.h"
#include "gui/main_window.h"
#include "gui/matrix_view.h"
#include "gui/stability_view.h"
#include "gui/valley_view.h"
#include "plot/document.h"
#include "plot/export.h"
#include "plot/plot_command.h"
#include "plot/style.h"
#include "store/error.h"
#include "tests/gui/gui_fixtures.h"
#include "tests/store/sample_run.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::gui;
using namespace lorascape::plot;

namespace {

// The sample run file with a line, a plane and a geometry scan next to it (SampleFilesTest).
class GuiViews : public test::SampleFilesTest {
 protected:
  static void SetUpTestSuite() {
    test::gui_app();
    write_files("gui-views");
  }
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

}  // namespace

TEST_F(GuiViews, OpeningARunFileFillsTheTree) {
  MainWindow w;
  QStringList errors;
  w.set_error_handler([&](const QString& t, const QString& m) { errors << t + m; });
  ASSERT_TRUE(w.open_path(QString::fromStdString(run)));
  EXPECT_TRUE(errors.isEmpty()) << errors.join("\n").toStdString();
  // The run and the three scans next to it.
  ASSERT_EQ(w.files().size(), 4u);
  FileTree* tree = w.tree();
  ASSERT_EQ(tree->topLevelItemCount(), 1);
  QTreeWidgetItem* top = tree->topLevelItem(0);
  EXPECT_EQ(top->text(0), "run.h5");
  // methods → seq, ilora → 3 stages each → adapter keys.
  QTreeWidgetItem* methods = top->child(0);
  ASSERT_EQ(methods->text(0), "methods");
  ASSERT_EQ(methods->childCount(), 2);
  EXPECT_EQ(methods->child(0)->text(0), "seq");
  EXPECT_EQ(methods->child(1)->text(0), "ilora");
  QTreeWidgetItem* stage = methods->child(1)->child(1);
  EXPECT_EQ(stage->text(0), "2 arith");
  ASSERT_EQ(stage->childCount(), 2);
  EXPECT_EQ(stage->child(0)->text(0), "fast");
  EXPECT_EQ(stage->child(1)->text(0), "slow (reported)");
  EXPECT_EQ(stage->child(0)->data(0, FileTree::kRefRole).toString(),
            QString::fromStdString(run) + ":ilora/2/fast");
  // 3 stages x (1 + 2) adapters.
  EXPECT_EQ(tree->all_adapters().size(), 9);
  // Scans grouped by kind.
  QTreeWidgetItem* scans = top->child(1);
  ASSERT_EQ(scans->text(0), "scans");
  QStringList kinds;
  for (int k = 0; k < scans->childCount(); ++k) kinds << scans->child(k)->text(0);
  EXPECT_EQ(kinds, (QStringList{"geometry", "line", "plane"}));
  // Selecting the run shows it in the stability view with its metric table.
  EXPECT_EQ(w.tabs()->currentWidget(), w.stability());
  EXPECT_EQ(w.stability()->metrics_table()->rowCount(), 3);  // seq, ilora, ilora/fast
  EXPECT_EQ(w.stability()->path_count(), 1);                 // seq-1-2: new task known
  // Recent files remember it.
  EXPECT_EQ(w.recent_files().value(0), QFileInfo(QString::fromStdString(run)).absoluteFilePath());
}

TEST_F(GuiViews, ValleyViewHoldsExactlyTheFilesSeriesAndValues) {
  const auto d = std::make_shared<store::ScanData>(store::read_scan_file(line));
  ValleyView v;
  v.set_scans({{"seq-1-2", d}});
  v.set_score("token_acc");
  // weekday, arith, union, and the mean of the two tasks.
  ASSERT_EQ(v.plot()->graphCount(), 4);
  ASSERT_EQ(v.series().size(), 4u);
  const char* names[] = {"weekday (old)", "arith (new)", "union"};
  for (size_t t = 0; t < 3; ++t) {
    QCPGraph* g = v.plot()->graph(static_cast<int>(t));
    EXPECT_EQ(g->name(), names[t]);
    ASSERT_EQ(g->data()->size(), 5);
    for (int p = 0; p < 5; ++p) {
      EXPECT_EQ(g->data()->at(p)->key, d->spec.axes[0][static_cast<size_t>(p)]);
      EXPECT_EQ(g->data()->at(p)->value, test::line_value(p, t, 1));
    }
  }
  EXPECT_EQ(v.series()[1].role, "new");
  EXPECT_EQ(v.series()[0].role, "old");
  QCPGraph* mean = v.plot()->graph(3);
  for (int p = 0; p < 5; ++p)
    EXPECT_DOUBLE_EQ(mean->data()->at(p)->value,
                     (test::line_value(p, 0, 1) + test::line_value(p, 1, 1)) / 2);
  // Loss: the barrier of the union series is annotated (union is linear here: no barrier), the
  // arith bump is read out on hover.
  v.set_score("loss");
  v.set_task_filter("arith");
  ASSERT_EQ(v.plot()->graphCount(), 1);
  EXPECT_NEAR(v.barrier(), 0.5, 1e-12);  // 1 + 0.5·sin(pi/2) above the flat chord at 1
  EXPECT_TRUE(v.readout(0.49).contains("t = 0.5")) << v.readout(0.49).toStdString();
  EXPECT_TRUE(v.readout(0.49).contains("1.5")) << v.readout(0.49).toStdString();
  // Overlay: two scans give two sets of series, labelled by scan.
  v.set_task_filter("all task sets");
  v.set_scans({{"a", d}, {"b", d}});
  EXPECT_EQ(v.plot()->graphCount(), 8);
  EXPECT_TRUE(v.plot()->graph(4)->name().startsWith("b · "));
  // CSV: a header and one row per plotted value.
  const QString csv = v.csv();
  EXPECT_TRUE(csv.startsWith("scan,task_set,role,score,t,value\n"));
  EXPECT_EQ(csv.count('\n'), 1 + 8 * 5);
}

TEST_F(GuiViews, LandscapeColourMapCellsEqualTheScanGrid) {
  const auto d = std::make_shared<store::ScanData>(store::read_scan_file(plane));
  LandscapeView v;
  v.set_scan("plane", d);
  v.set_task("a");
  QCPColorMap* map = v.color_map();
  ASSERT_NE(map, nullptr);
  ASSERT_EQ(map->data()->keySize(), 4);
  ASSERT_EQ(map->data()->valueSize(), 3);
  EXPECT_EQ(map->data()->keyRange().lower, 0);
  EXPECT_EQ(map->data()->keyRange().upper, 3);
  EXPECT_EQ(map->data()->valueRange().lower, -1);
  EXPECT_EQ(map->data()->valueRange().upper, 1);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      const double cell = map->data()->cell(i, j);
      if (i == 3 && j == 2) {
        EXPECT_TRUE(std::isnan(cell));  // not done: transparent
        continue;
      }
      EXPECT_EQ(cell, d->values[d->value_index(i * 3 + j, 0, 0)]) << i << "," << j;
      // The cell's coordinates are the grid's.
      double x = 0, y = 0;
      map->data()->cellToCoord(i, j, &x, &y);
      EXPECT_DOUBLE_EQ(x, d->spec.axes[0][static_cast<size_t>(i)]);
      EXPECT_DOUBLE_EQ(y, d->spec.axes[1][static_cast<size_t>(j)]);
    }
  EXPECT_GT(v.contour_levels_drawn(), 0);
  EXPECT_EQ(v.marker_count(), 5);  // 3 anchors + 2 projected adapters
  v.set_task("b");
  EXPECT_EQ(v.color_map()->data()->cell(2, 0), 2 * 2 - 1 + 10);
  v.set_task("mean");  // of a and b
  EXPECT_EQ(v.color_map()->data()->cell(1, 1), (1.0 + 12.0) / 2);
  EXPECT_TRUE(v.readout(1.1, 0.1).contains("6.5")) << v.readout(1.1, 0.1).toStdString();
  v.set_contours(false);
  EXPECT_EQ(v.contour_levels_drawn(), 0);
  EXPECT_EQ(v.csv().count('\n'), 1 + 12);
}

TEST_F(GuiViews, StabilityMatrixAndGeometryShowTheFilesNumbers) {
  const auto r = std::make_shared<store::RunFileData>(store::read_run_file(run));
  MatrixView m;
  m.set_run("run", r);
  m.set_method("ilora/fast");
  m.set_score("exact_match");
  const auto& R = r->find_method("ilora")->learners.at("fast").R.at("exact_match");
  ASSERT_EQ(m.values().size(), 9);
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(m.values()[t * 3 + i], R[static_cast<size_t>(t)][static_cast<size_t>(i)]);
  // Nine annotations, one per cell.
  EXPECT_EQ(m.plot()->itemCount(), 9);

  StabilityView s;
  s.set_run("run", r);
  s.set_score("exact_match");
  // Per learner: the new task's R[t][t] and the earlier tasks' mean.
  ASSERT_EQ(s.plot()->graphCount(), 6);
  const auto& Rs = r->find_method("seq")->R.at("exact_match");
  EXPECT_EQ(s.plot()->graph(0)->data()->at(2)->value, Rs[2][2]);
  EXPECT_DOUBLE_EQ(s.plot()->graph(1)->data()->at(1)->value, (Rs[2][0] + Rs[2][1]) / 2);
  EXPECT_EQ(s.metrics_table()->item(0, 1)->text(), "-0.250");  // BWT of seq

  GeometryView g;
  g.set_scan("geometry", std::make_shared<store::ScanData>(store::read_scan_file(geo)));
  ASSERT_EQ(g.values().size(), 9);
  EXPECT_DOUBLE_EQ(g.values()[2], 0.8);
  EXPECT_TRUE(g.csv().startsWith("adapter,seq/1,seq/2,er/2\n")) << g.csv().toStdString();
}

TEST_F(GuiViews, TheViewsDrawWhatLorascapePlotDraws) {
  // Each view and `lorascape plot` draw with the same renderer and options: the same figure.
  auto request = [](const std::string& file, const std::string& view) {
    PlotRequest r;
    r.files = {file};
    r.view = view;
    return r;
  };
  auto same = [&](PlotPanel& view, PlotRequest r, const std::string& name) {
    r.out = tmp->file(name + "-cli.png");
    r.width = 600;
    r.height = 400;
    render_plot(r);
    const std::string app = tmp->file(name + "-app.png");
    export_plot(view.plot(), QString::fromStdString(app), 600, 400, 96);
    const QImage a(QString::fromStdString(app)), c(QString::fromStdString(r.out));
    ASSERT_FALSE(a.isNull()) << name;
    EXPECT_TRUE(a == c) << name << ": the app's and the command's figures differ";
  };
  ValleyView valley;
  valley.set_scans({{"seq-1-2", std::make_shared<store::ScanData>(store::read_scan_file(line))}});
  valley.set_score("token_acc");
  PlotRequest r = request(line, "valley");
  r.score = "token_acc";
  same(valley, r, "valley");
  LandscapeView landscape;
  landscape.set_scan("plane", std::make_shared<store::ScanData>(store::read_scan_file(plane)));
  landscape.set_task("b");
  r = request(plane, "landscape");
  r.task = "b";
  same(landscape, r, "landscape");
  const auto data = std::make_shared<store::RunFileData>(store::read_run_file(run));
  StabilityView stability;
  stability.set_run("run", data);
  stability.set_paths(
      {{"seq-1-2", std::make_shared<store::ScanData>(store::read_scan_file(line))}});
  PlotRequest st = request(run, "stability");
  st.table = false;  // the command's figure has the metric table under the legend; the app's not
  same(stability, st, "stability");
  MatrixView matrix;
  matrix.set_run("run", data);
  matrix.set_method("ilora/fast");
  r = request(run, "matrix");
  r.method = "ilora/fast";
  same(matrix, r, "matrix");
  GeometryView geometry;
  geometry.set_scan("geometry", std::make_shared<store::ScanData>(store::read_scan_file(geo)));
  same(geometry, request(geo, "geometry"), "geometry");
}

TEST_F(GuiViews, BrokenFilesRaiseTheErrorDialogNotACrash) {
  MainWindow w;
  QStringList titles, texts;
  w.set_error_handler([&](const QString& t, const QString& m) { titles << t, texts << m; });
  // Not HDF5 at all, a truncated HDF5 file, a missing file, a results.json, an empty file.
  const std::string text = tmp->write("notes.h5", "this is not HDF5\n");
  const std::string full = slurp(line);
  const std::string cut = tmp->write("truncated.h5", full.substr(0, full.size() / 2));
  const std::string json = tmp->write("results.json", "{\"result\": {}}");
  const std::string empty = tmp->write("empty.h5", "");
  for (const auto& p : {text, cut, tmp->file("missing.h5"), json, empty})
    EXPECT_FALSE(w.open_path(QString::fromStdString(p))) << p;
  ASSERT_EQ(texts.size(), 5);
  EXPECT_TRUE(texts[0].contains("notes.h5")) << texts[0].toStdString();
  EXPECT_TRUE(texts[0].contains("not an HDF5 file")) << texts[0].toStdString();
  EXPECT_TRUE(texts[0].contains("How to fix")) << texts[0].toStdString();
  EXPECT_TRUE(texts[1].contains("truncated.h5")) << texts[1].toStdString();
  EXPECT_TRUE(texts[2].contains("does not exist")) << texts[2].toStdString();
  EXPECT_TRUE(texts[3].contains("run.h5 next to this")) << texts[3].toStdString();
  EXPECT_TRUE(w.files().empty());
  // A valid HDF5 file of another program: named, with the hint.
  store::write_scan_file(tmp->file("ok.h5"), test::sample_line());
  EXPECT_TRUE(w.open_path(QString::fromStdString(tmp->file("ok.h5"))));
  EXPECT_EQ(w.files().size(), 1u);
  // A broken file next to a run file is listed as unreadable; the run still opens.
  test::TempDir dir("gui-broken-neighbour");
  store::write_run_file(dir.file("run.h5"), test::sample_run());
  dir.write("bad.h5", "garbage");
  MainWindow w2;
  w2.set_error_handler([&](const QString& t, const QString& m) { titles << t, texts << m; });
  EXPECT_TRUE(w2.open_path(QString::fromStdString(dir.file("run.h5"))));
  EXPECT_EQ(w2.tree()->topLevelItemCount(), 2);
  EXPECT_TRUE(w2.tree()->topLevelItem(1)->text(0).contains("unreadable"));
  // The message helper gives the lock case its own advice.
  const std::string m =
      explain_open_error("x.h5", "x.h5: HDF5 cannot open it (unable to lock file, errno = 11)");
  EXPECT_NE(m.find("Another program has the file open"), std::string::npos);
}

// The export dialog's paper style and metric table: in the file, and the view as shown
// afterwards (its fonts and its figure without the table).
TEST_F(GuiViews, ExportInPaperStyleWithTheMetricTableLeavesTheViewAsShown) {
  MainWindow w;
  ASSERT_TRUE(w.open_path(QString::fromStdString(run)));
  ASSERT_EQ(w.tabs()->currentWidget(), w.stability());
  QCustomPlot* p = w.stability()->plot();
  const QFont before = p->xAxis->labelFont();
  const int items_before = p->itemCount();
  const QString svg = QString::fromStdString(tmp->file("stability.svg"));
  w.export_current(svg, 1200, 800, 150, "paper", true);
  const std::string text = slurp(svg.toStdString());
  for (const char* want : {">BWT<", ">forgetting<", ">ilora/fast<"})
    EXPECT_NE(text.find(want), std::string::npos) << want;
  const std::string serif = paper_style().family.toStdString();
  EXPECT_NE(text.find(serif), std::string::npos) << "no " << serif << " in the SVG";
  EXPECT_EQ(p->xAxis->labelFont(), before);
  EXPECT_EQ(p->itemCount(), items_before);
  // Screen style without the table: no table text in the figure.
  const QString plain = QString::fromStdString(tmp->file("stability-plain.svg"));
  w.export_current(plain, 1200, 800, 150);
  EXPECT_EQ(slurp(plain.toStdString()).find(">forgetting<"), std::string::npos);
  EXPECT_THROW(w.export_current(plain, 1200, 800, 150, "poster"), ConfigError);
  // Smaller than the stability figure can be drawn readably (6 x 4 in): refused.
  EXPECT_THROW(w.export_current(plain, 1200, 800, 300, "paper", true), ConfigError);
  EXPECT_EQ(p->xAxis->labelFont(), before);
}

TEST_F(GuiViews, CsvAndFigureExportOfTheCurrentView) {
  MainWindow w;
  ASSERT_TRUE(w.open_path(QString::fromStdString(line)));
  EXPECT_EQ(w.tabs()->currentWidget(), w.valley());
  EXPECT_TRUE(w.current_csv().startsWith("scan,"));
  w.export_current(QString::fromStdString(tmp->file("current.png")), 320, 200, 96);
  EXPECT_EQ(QImage(QString::fromStdString(tmp->file("current.png"))).size(), QSize(320, 200));
  w.tabs()->setCurrentWidget(w.geometry());  // empty: refused
  EXPECT_THROW(w.export_current(QString::fromStdString(tmp->file("empty.png")), 320, 200, 96),
               ConfigError);
}
