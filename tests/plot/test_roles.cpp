// Task roles in the figures (issue 20, items 3 and 6): stored roles drive legends and the
// old-task mean, the union says what it pools, older files get roles derived where they can,
// sharpness scans get no barrier and no broken log axis, every overlaid scan's end points are
// labelled, and only HDF5's lock error gets the "another program" advice.
#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <cmath>
#include <memory>

#include "plot/document.h"
#include "plot/landscape.h"
#include "plot/stability.h"
#include "plot/valley.h"
#include "tests/plot/plot_fixtures.h"
#include "tests/store/sample_run.h"

using namespace lorascape;
using namespace lorascape::plot;

namespace {

std::shared_ptr<const store::ScanData> shared(store::ScanData d) {
  return std::make_shared<const store::ScanData>(std::move(d));
}

ValleyOptions valley_options(const QString& score, const QString& filter = kAllTaskSets) {
  ValleyOptions o;
  o.score = score;
  o.task_filter = filter;
  return o;
}

// A line over tasks a, b, c and union between `from` and `to` (run-file references), loss of
// task k at point p = k + 1 + p, union 10; no roles stored.
store::ScanData three_task_line(const std::string& from, const std::string& to) {
  store::ScanSpec spec;
  spec.kind = "line";
  spec.config_json = R"({"kind":"line","union":["a","b","c"]})";
  spec.tasks = {"a", "b", "c", "union"};
  spec.scores = {"loss"};
  spec.axes = {{0.0, 0.5, 1.0}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  for (int64_t p = 0; p < 3; ++p) {
    for (size_t t = 0; t < 4; ++t)
      d.values[d.value_index(p, t, 0)] = t == 3 ? 10.0 : static_cast<double>(t) + 1 + p;
    d.done[static_cast<size_t>(p)] = 1;
  }
  d.text["from"] = from;
  d.text["to"] = to;
  return d;
}

QStringList names(const ValleyFigure& f) {
  QStringList out;
  for (const auto& s : f.series) out << s.name;
  return out;
}

}  // namespace

TEST(TaskRolesInFigures, StoredRolesNameEveryTaskAndTheUnionSaysWhatItHolds) {
  // What sharpness --at seq/1 stores: weekday is its own stage's task, arith not learned yet.
  store::ScanData d = test::sample_line();
  d.text["roles"] = "new\nfuture\nunion\n";
  d.text["union"] = "weekday\narith\n";
  EXPECT_EQ(task_roles(d), (std::vector<std::string>{"new", "future", "union"}));
  EXPECT_EQ(new_task_index(d), 0);
  ValleyFigure f = prepare_valley({{"s", shared(d)}}, valley_options("loss"));
  EXPECT_EQ(names(f),
            (QStringList{"weekday (new)", "arith (future)", "union (all tasks)", "mean of tasks"}));
  EXPECT_EQ(f.series[1].role, "future");  // never "old"
  // The union of the old tasks (analyse-run) says so; another union names its members.
  d.text["roles"] = "old\nnew\nunion\n";
  d.text["union"] = "weekday\n";
  EXPECT_EQ(task_set_caption(d, 2), "union (old tasks)");
  d.text["union"] = "arith\n";
  EXPECT_EQ(task_set_caption(d, 2), "union (arith)");
  // Without a text "union", the configuration's list.
  d.text.erase("union");
  d.spec.config_json = R"({"union":["weekday","arith"]})";
  EXPECT_EQ(union_members(d), (std::vector<std::string>{"weekday", "arith"}));
  EXPECT_EQ(task_set_caption(d, 2), "union (all tasks)");
  // Two tasks learned on the way: no single new task.
  d.text["roles"] = "new\nnew\nunion\n";
  EXPECT_EQ(new_task_index(d), -1);
  d.text["roles"] = "unknown\nnot-seen\nunion\n";
  EXPECT_EQ(task_set_caption(d, 0), "weekday");
  EXPECT_EQ(task_set_caption(d, 1), "arith (not seen)");
}

TEST(TaskRolesInFigures, OlderFilesGetRolesDerivedFromTheirStagesElseUnknown) {
  // seq/1 -> seq/2 over a, b, c: c is not learned by either end (future, not old).
  store::ScanData d = three_task_line("run.h5:seq/1", "run.h5:seq/2");
  EXPECT_EQ(task_roles(d), (std::vector<std::string>{"old", "new", "future", "union"}));
  const ValleyFigure f = prepare_valley({{"l", shared(d)}}, valley_options("loss"));
  EXPECT_EQ(names(f), (QStringList{"a (old)", "b (new)", "c (future)", "union (all tasks)",
                                   "mean of tasks"}));
  // seq/1 -> seq/3: b and c both learned on the way.
  EXPECT_EQ(task_roles(three_task_line("run.h5:seq/1", "run.h5:seq/3")),
            (std::vector<std::string>{"old", "new", "new", "union"}));
  // A `to` stage named by its task: that task is new, the others unknown; PEFT folders: unknown.
  EXPECT_EQ(task_roles(three_task_line("run.h5:seq/a", "run.h5:seq/b")),
            (std::vector<std::string>{"unknown", "new", "unknown", "union"}));
  EXPECT_EQ(task_roles(three_task_line("peft/x", "peft/y")),
            (std::vector<std::string>{"unknown", "unknown", "unknown", "union"}));
  // Roles that do not fit the task sets are not trusted.
  d.text["roles"] = "old\n";
  EXPECT_EQ(task_roles(d)[2], "future");
}

TEST(TaskRolesInFigures, TheTradeOffAveragesOnlyTheOldTasks) {
  // seq/1 -> seq/2 over a, b, c: old = a only (c, not learned yet, is left out).
  store::RunFileData run = test::sample_run();
  const auto path = shared(three_task_line("run.h5:seq/1", "run.h5:seq/2"));
  StabilityOptions o;
  o.score = "loss";
  const StabilityFigure f = prepare_stability(&run, trade_off_paths({{"l", path}}), o);
  ASSERT_EQ(f.paths.size(), 1u);
  EXPECT_EQ(f.paths[0].old_tasks, (QVector<double>{1, 2, 3}));  // a's loss only
  EXPECT_EQ(f.paths[0].new_task, (QVector<double>{2, 3, 4}));   // b's
}

TEST(TaskRolesInFigures, SharpnessHasNoBarrierAndNoLogAxisForNonPositiveValues) {
  store::ScanSpec spec;
  spec.kind = "sharpness";
  spec.config_json = R"({"kind":"sharpness"})";
  spec.tasks = {"a"};
  spec.scores = {"lambda_1"};
  spec.axes = {{0.0, 0.5, 1.0}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  const double v[] = {2.0, 5.0, -1.0};  // a "bump" and a negative eigenvalue
  for (int64_t p = 0; p < 3; ++p)
    d.values[d.value_index(p, 0, 0)] = v[p], d.done[static_cast<size_t>(p)] = 1;
  ValleyOptions o = valley_options("lambda_1");
  o.log_scale = true;
  const ValleyFigure f = prepare_valley({{"s", shared(d)}}, o);
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.barrier.series, -1);
  EXPECT_TRUE(std::isnan(f.barrier.value));
  EXPECT_FALSE(f.log_scale);
  EXPECT_TRUE(f.log_refused);
  test::plot_app();
  QCustomPlot plot;
  draw_valley(&plot, f);
  EXPECT_EQ(plot.yAxis->scaleType(), QCPAxis::stLinear);
  EXPECT_TRUE(plot.yAxis->label().contains("linear")) << plot.yAxis->label().toStdString();
  EXPECT_LT(plot.yAxis->range().lower, -1.0);  // the negative eigenvalue is on the axis
  // All positive: the log axis is kept.
  d.values[d.value_index(2, 0, 0)] = 1.0;
  const ValleyFigure g = prepare_valley({{"s", shared(d)}}, o);
  EXPECT_TRUE(g.log_scale);
  EXPECT_FALSE(g.log_refused);
}

TEST(TaskRolesInFigures, EveryOverlaidScanHasItsEndPointsLabelled) {
  store::ScanData other = test::sample_line();
  other.text["from"] = "run.h5:er/1";
  other.text["to"] = "run.h5:er/2";
  const ValleyFigure f = prepare_valley({{"a", shared(test::sample_line())}, {"b", shared(other)}},
                                        valley_options("loss"));
  EXPECT_EQ(f.froms, (QStringList{"seq/1", "er/1"}));
  EXPECT_EQ(f.tos, (QStringList{"seq/2", "er/2"}));
  test::plot_app();
  QCustomPlot plot;
  draw_valley(&plot, f);
  QString texts;
  for (int i = 0; i < plot.itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(plot.item(i))) texts += t->text() + "|";
  for (const char* s : {"seq/1 (a)", "er/1 (b)", "seq/2 (a)", "er/2 (b)"})
    EXPECT_TRUE(texts.contains(s)) << s << " in " << texts.toStdString();
}

TEST(TaskRolesInFigures, TheLandscapeNamesItsTaskSetWithItsRole) {
  store::ScanData d = test::sample_plane();
  d.text["roles"] = "old\nnew\n";
  LandscapeOptions o;
  o.task = "b";
  o.score = "loss";
  EXPECT_EQ(prepare_landscape(d, o).task_caption, "b (new)");
  o.task = "mean";
  EXPECT_EQ(prepare_landscape(d, o).task_caption, "mean of tasks");
}

TEST(OpenErrorAdvice, OnlyHdf5sLockErrorIsAnotherProgramsLock) {
  const std::string lock =
      explain_open_error("x.h5", "x.h5: HDF5 cannot open it (unable to lock file, errno = 11)");
  EXPECT_NE(lock.find("Another program"), std::string::npos);
  // A truncated file: HDF5 talks of the superblock ("sblock"), which is no lock.
  for (const char* m : {"x.h5: HDF5 cannot open it (H5Fsuper.c: unable to load superblock "
                        "(truncated file: eof = 96, sblock->base_addr = 0))",
                        "x.h5: HDF5 cannot open it (unable to read sblock)"}) {
    const std::string t = explain_open_error("x.h5", m);
    EXPECT_EQ(t.find("Another program"), std::string::npos) << t;
  }
}
