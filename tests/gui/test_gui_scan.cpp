// "New scan…" end to end: a tiny run trained through the CLI, a line scan run from the dialog
// in its worker thread with progress, the new scan in the tree; Cancel leaves a partial,
// resumable file.
#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTabWidget>
#include <cstdlib>
#include <filesystem>

#include "gui/file_tree.h"
#include "gui/main_window.h"
#include "gui/scan_dialog.h"
#include "gui/valley_view.h"
#include "tests/common/cli_util.h"
#include "tests/gui/gui_fixtures.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::gui;

namespace {

class GuiScan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    test::gui_app();
    tmp = new test::TempDir("gui-scan");
    const std::string cache = tmp->file("cache");
    const std::string cfg = tmp->write("tiny.toml", test::tiny_run_toml());
    const auto r = test::run_cli(
        "-q train --config " + cfg + " --method seq --set out=" + tmp->file("run"), cache);
    ASSERT_EQ(r.code, 0) << r.out;
    run = tmp->file("run/run.h5");
    // The worker evaluates in this process: it finds the base model in the same cache.
    setenv("LORASCAPE_CACHE", cache.c_str(), 1);
  }
  static void TearDownTestSuite() { delete tmp; }
  static test::TempDir* tmp;
  static std::string run;
};
test::TempDir* GuiScan::tmp = nullptr;
std::string GuiScan::run;

// Waits for the dialog's scan_finished (the worker thread posts it to this thread's loop).
QList<QVariant> wait_finished(QSignalSpy& spy, int ms = 60000) {
  if (spy.isEmpty()) spy.wait(ms);
  return spy.isEmpty() ? QList<QVariant>{} : spy.takeFirst();
}

}  // namespace

TEST_F(GuiScan, DialogRunsALineScanAndTheNewScanAppears) {
  MainWindow w;
  QStringList errors;
  w.set_error_handler([&](const QString& t, const QString& m) { errors << t + ": " + m; });
  ASSERT_TRUE(w.open_path(QString::fromStdString(run)));
  const size_t before = w.files().size();
  // Select the two stage adapters in the tree: the dialog starts with them.
  const QString a = QString::fromStdString(run) + ":seq/1/adapter",
                b = QString::fromStdString(run) + ":seq/2/adapter";
  w.tree()->clearSelection();
  for (QTreeWidgetItemIterator it(w.tree()); *it; ++it) {
    const QString ref = (*it)->data(0, FileTree::kRefRole).toString();
    if ((*it)->data(0, FileTree::kNodeRole).toString() == "adapter" && (ref == a || ref == b))
      (*it)->setSelected(true);
  }
  ScanDialog* dlg = w.new_scan_dialog();
  const ScanRequest req0 = dlg->request();
  ASSERT_EQ(req0.refs.size(), 2u);
  EXPECT_EQ(QString::fromStdString(req0.refs[0]), a);
  EXPECT_EQ(QString::fromStdString(req0.refs[1]), b);
  // Suggested output: next to the run, in analysis/.
  EXPECT_EQ(fs::path(req0.out).parent_path(), fs::path(tmp->file("run/analysis")));
  dlg->set_points(3);
  dlg->set_max_examples(4);
  QSignalSpy spy(dlg, &ScanDialog::scan_finished);
  dlg->start();
  EXPECT_TRUE(dlg->running());
  const auto args = wait_finished(spy);
  ASSERT_EQ(args.size(), 3) << "the scan did not finish in time";
  EXPECT_TRUE(args[2].toString().isEmpty()) << args[2].toString().toStdString();
  EXPECT_TRUE(args[1].toBool());
  const QString out = args[0].toString();
  ASSERT_TRUE(fs::exists(out.toStdString()));
  const auto d = store::read_scan_file(out.toStdString());
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(d.spec.kind, "line");
  EXPECT_EQ(d.spec.axes[0].size(), 3u);
  EXPECT_NE(d.command_line.find("lorascape scan line"), std::string::npos);
  // The command line names the tasks it evaluated and pooled, so that it can resume the scan.
  std::string tasks;
  for (const auto& t : d.spec.tasks)
    if (t != "union") tasks += (tasks.empty() ? "" : ",") + t;
  EXPECT_NE(d.command_line.find(" --tasks " + tasks + " --union " + tasks + " "), std::string::npos)
      << d.command_line;
  EXPECT_EQ(d.command_line.find("(all tasks)"), std::string::npos) << d.command_line;
  // The new scan is in the tree under the run, and shown in the valley view.
  ASSERT_EQ(w.files().size(), before + 1);
  const int k = w.index_of_path(out);
  ASSERT_GE(k, 0);
  QTreeWidgetItem* item = w.tree()->item_of_file(k);
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->parent()->text(0), "line");
  EXPECT_EQ(item->parent()->parent()->text(0), "scans");
  EXPECT_EQ(w.tabs()->currentWidget(), w.valley());
  EXPECT_GE(w.valley()->series().size(), 3u);  // weekday, arith, union
  EXPECT_TRUE(errors.isEmpty()) << errors.join("\n").toStdString();
  dlg->close();
}

TEST_F(GuiScan, CancelLeavesAPartialResumableScan) {
  MainWindow w;
  ASSERT_TRUE(w.open_path(QString::fromStdString(run)));
  ScanDialog* dlg = w.new_scan_dialog();
  dlg->set_kind("line");
  dlg->set_points(50);
  dlg->set_max_examples(2);
  const std::string out = tmp->file("run/analysis/cancelled.h5");
  dlg->set_out(QString::fromStdString(out));
  QSignalSpy spy(dlg, &ScanDialog::scan_finished);
  dlg->start();
  dlg->cancel_scan();  // before the first batch of points
  const auto args = wait_finished(spy);
  ASSERT_EQ(args.size(), 3);
  EXPECT_TRUE(args[2].toString().isEmpty()) << args[2].toString().toStdString();
  EXPECT_FALSE(args[1].toBool());
  const auto d = store::read_scan_file(out);
  EXPECT_FALSE(d.complete());
  EXPECT_LT(d.num_done(), d.num_points());
  // It appears in the tree as a partial scan.
  const int k = w.index_of_path(QString::fromStdString(out));
  ASSERT_GE(k, 0);
  EXPECT_TRUE(w.tree()->item_of_file(k)->text(0).contains("done"))
      << w.tree()->item_of_file(k)->text(0).toStdString();
  dlg->close();
}

TEST_F(GuiScan, CurveTrainingReportsProgressAndCancelStopsWithinAStep) {
  ScanRequest r;
  r.kind = "curve";
  r.refs = {run + ":seq/1", run + ":seq/2"};
  r.out = tmp->file("run/analysis/curve-cancelled.h5");
  fs::create_directories(fs::path(r.out).parent_path());  // the dialog would make it
  r.points = 3;
  r.epochs = 100000;  // hours of training, were Cancel to wait for its end
  r.max_examples = 2;
  ScanWorker worker(r);
  qint64 last = 0, steps = 0;
  int reports = 0;
  QObject::connect(&worker, &ScanWorker::training, [&](qint64 step, qint64 total) {
    ++reports, last = step, steps = total;
    if (step == 3) worker.cancel();
  });
  bool complete = true;
  QString error = "not finished";
  QObject::connect(&worker, &ScanWorker::finished,
                   [&](const QString&, bool c, const QString& e) { complete = c, error = e; });
  QElapsedTimer clock;
  clock.start();
  worker.run();  // in this thread: the signals arrive directly
  EXPECT_TRUE(error.isEmpty()) << error.toStdString();
  EXPECT_FALSE(complete);
  EXPECT_EQ(reports, 3);
  EXPECT_EQ(last, 3);
  EXPECT_GE(steps, 100000);
  EXPECT_LT(clock.elapsed(), 60000);
  // Nothing of the cut training is kept: a rerun trains the bends from the start.
  const auto d = store::read_scan_file(r.out);
  EXPECT_EQ(d.num_done(), 0);
  EXPECT_FALSE(d.extras.count("control_points"));
}
