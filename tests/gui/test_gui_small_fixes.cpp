// The app's smaller fixes of issue 20 (item 6): the hover read-out never widens the window,
// View → Reset zoom keeps the user's contour choice, and the status bar follows what the view
// shows.
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QAction>
#include <QApplication>
#include <QMouseEvent>
#include <QStatusBar>
#include <QTabWidget>

#include "gui/landscape_view.h"
#include "gui/main_window.h"
#include "gui/valley_view.h"
#include "plot/document.h"
#include "tests/gui/gui_fixtures.h"

using namespace lorascape;
using namespace lorascape::gui;

namespace {

class GuiSmallFixes : public test::SampleFilesTest {
 protected:
  static void SetUpTestSuite() {
    test::gui_app();
    write_files("gui-small-fixes");
  }
};

// Moves the mouse over the middle of a view's plot (the hover read-out).
void hover(PlotPanel* v) {
  QCustomPlot* p = v->plot();
  const QPointF at(p->width() / 2.0, p->height() / 2.0);
  QMouseEvent e(QEvent::MouseMove, at, p->mapToGlobal(at), Qt::NoButton, Qt::NoButton,
                Qt::NoModifier);
  QApplication::sendEvent(p, &e);
}

QAction* action_with(const MainWindow& w, const QKeySequence& keys) {
  for (QAction* a : w.findChildren<QAction*>())
    if (a->shortcut() == keys) return a;
  return nullptr;
}

}  // namespace

TEST_F(GuiSmallFixes, TheHoverReadOutDoesNotWidenTheWindow) {
  MainWindow w;
  w.resize(1200, 780);
  w.show();
  // Four overlaid scans: a read-out of every series' value, far wider than the window.
  for (int k = 0; k < 4; ++k) {
    const std::string copy = tmp->file("analysis/copy" + std::to_string(k) + ".h5");
    store::write_scan_file(copy, test::sample_line(run));
    ASSERT_TRUE(w.open_path(QString::fromStdString(copy)));
  }
  std::vector<plot::NamedScan> named;
  for (const auto& f : w.files())
    if (f.scan) named.push_back({QString::fromStdString(plot::file_name(f.path)), f.scan});
  w.valley()->set_scans(named);
  w.tabs()->setCurrentWidget(w.valley());
  QApplication::processEvents();
  const int min_before = w.valley()->minimumSizeHint().width();
  hover(w.valley());
  QApplication::processEvents();
  const QString text = w.valley()->readout_text();
  ASSERT_TRUE(text.startsWith("t = ")) << text.toStdString();
  EXPECT_GT(w.valley()->fontMetrics().horizontalAdvance(text), 1200);
  EXPECT_EQ(w.valley()->minimumSizeHint().width(), min_before);
  EXPECT_LE(w.minimumSizeHint().width(), 1200);
  EXPECT_EQ(w.width(), 1200);
  // The status bar's long messages do not widen it either.
  EXPECT_LE(w.statusBar()->minimumSizeHint().width(), 1200);
}

TEST_F(GuiSmallFixes, ResetZoomKeepsTheContourChoice) {
  MainWindow w;
  ASSERT_TRUE(w.open_path(QString::fromStdString(plane)));
  w.tabs()->setCurrentWidget(w.landscape());
  w.landscape()->set_contours(false);
  EXPECT_EQ(w.landscape()->contour_levels_drawn(), 0);
  // Zoomed in, then View → Reset zoom (Ctrl+0).
  w.landscape()->plot()->xAxis->setRange(1.0, 1.5);
  QAction* reset = action_with(w, QKeySequence(Qt::CTRL | Qt::Key_0));
  ASSERT_NE(reset, nullptr);
  reset->trigger();
  EXPECT_FALSE(w.landscape()->contours());
  EXPECT_EQ(w.landscape()->contour_levels_drawn(), 0);
  EXPECT_LT(w.landscape()->plot()->xAxis->range().lower, 0.5);  // the whole grid again
  // With contours on, they stay on.
  w.landscape()->set_contours(true, 6);
  EXPECT_GT(w.landscape()->contour_levels_drawn(), 0);
  reset->trigger();
  EXPECT_TRUE(w.landscape()->contours());
  EXPECT_GT(w.landscape()->contour_levels_drawn(), 0);
}

TEST_F(GuiSmallFixes, TheStatusBarFollowsTheView) {
  MainWindow w;
  ASSERT_TRUE(w.open_path(QString::fromStdString(line)));
  w.tabs()->setCurrentWidget(w.valley());
  EXPECT_TRUE(w.status_text().contains("(loss)")) << w.status_text().toStdString();
  // Another score chosen in the view: the status bar says so.
  w.valley()->set_score("exact_match");
  EXPECT_TRUE(w.status_text().contains("(exact_match)")) << w.status_text().toStdString();
  // Closing every file empties the view: the status bar no longer names the file.
  w.close_all();
  EXPECT_FALSE(w.status_text().contains("seq-1-2")) << w.status_text().toStdString();
}
