// The figures' data preparation (plot/valley.h, landscape.h, stability.h, matrix.h, geometry.h):
// what each figure shows, computed from hand-made run and scan data, without drawing.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "plot/geometry.h"
#include "plot/landscape.h"
#include "plot/matrix.h"
#include "plot/plot_util.h"
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

// A line over t = 0, 0.5, 1 of one task set "a" with one score, values v0, v1, v2.
store::ScanData three_points(const std::string& score, double v0, double v1, double v2) {
  store::ScanSpec spec;
  spec.kind = "line";
  spec.config_json = R"({"kind":"line"})";
  spec.tasks = {"a"};
  spec.scores = {score};
  spec.axes = {{0.0, 0.5, 1.0}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  const double v[] = {v0, v1, v2};
  for (int64_t p = 0; p < 3; ++p) {
    d.values[d.value_index(p, 0, 0)] = v[p];
    d.done[static_cast<size_t>(p)] = 1;
  }
  return d;
}

ValleyOptions valley_options(const QString& score, const QString& filter = kAllTaskSets) {
  ValleyOptions o;
  o.score = score;
  o.task_filter = filter;
  return o;
}

}  // namespace

TEST(PlotChoose, FallsBackToWhatTheFileOffers) {
  const QStringList items{"loss", "token_acc"};
  EXPECT_EQ(choose(items, "token_acc", "loss"), "token_acc");
  EXPECT_EQ(choose(items, "exact_match", "loss"), "loss");
  EXPECT_EQ(choose(items, "exact_match", "lambda_1"), "loss");  // the first
  EXPECT_EQ(choose({}, "loss", "loss"), "");
}

TEST(ValleyFigure, OneSeriesPerTaskSetWithRolesAndTheMean) {
  const std::vector<NamedScan> scans{{"seq-1-2", shared(test::sample_line())}};
  EXPECT_EQ(valley_scores(scans), (QStringList{"loss", "token_acc", "exact_match"}));
  EXPECT_EQ(valley_task_filters(scans),
            (QStringList{"all task sets", "weekday", "arith", "union", "mean"}));
  const ValleyFigure f = prepare_valley(scans, valley_options("token_acc"));
  ASSERT_EQ(f.series.size(), 4u);
  // The run's stage 2 learned the second task, arith: it is new, weekday is old.
  const char* names[] = {"weekday (old)", "arith (new)", "union", "mean of tasks"};
  const char* roles[] = {"old", "new", "union", "mean"};
  const char* sets[] = {"weekday", "arith", "union", "mean"};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(f.series[k].name, names[k]);
    EXPECT_EQ(f.series[k].role, roles[k]);
    EXPECT_EQ(f.series[k].task_set, sets[k]);
    EXPECT_EQ(f.series[k].scan, 0);
    EXPECT_EQ(f.series[k].t, (QVector<double>{0, 0.25, 0.5, 0.75, 1}));
  }
  EXPECT_EQ(f.series[3].task, -1);
  for (int p = 0; p < 5; ++p) {
    for (size_t t = 0; t < 3; ++t) EXPECT_EQ(f.series[t].v[p], test::line_value(p, t, 1));
    // The mean of the individual tasks leaves the pooled union out.
    EXPECT_DOUBLE_EQ(f.series[3].v[p], (test::line_value(p, 0, 1) + test::line_value(p, 1, 1)) / 2);
  }
  EXPECT_FALSE(f.overlay);
  EXPECT_EQ(f.x_label, "t (line)");
  EXPECT_EQ(f.from, "seq/1");
  EXPECT_EQ(f.to, "seq/2");
  // token_acc is linear in t everywhere: no barrier.
  EXPECT_TRUE(std::isnan(f.barrier.value));
  EXPECT_EQ(f.barrier.series, -1);
}

TEST(ValleyFigure, TheBarrierIsTheFirstScansUnionElseMeanElseFirstSeries) {
  const auto line = shared(test::sample_line());
  // Loss, every task set: the barrier belongs to union, which is linear, although arith bumps.
  ValleyFigure f = prepare_valley({{"l", line}}, valley_options("loss"));
  EXPECT_TRUE(std::isnan(f.barrier.value));
  // Only arith: its bump of 0.5·sin(πt) above the chord at 1 is the barrier, at t = 0.5.
  f = prepare_valley({{"l", line}}, valley_options("loss", "arith"));
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_NEAR(f.barrier.value, 0.5, 1e-12);
  EXPECT_EQ(f.barrier.series, 0);
  EXPECT_EQ(f.barrier.t, 0.5);
  EXPECT_NEAR(f.barrier.chord, 1.0, 1e-12);
  EXPECT_NEAR(f.barrier.at, 1.5, 1e-12);
  EXPECT_NEAR(f.barrier.v0, 1.0, 1e-12);
  EXPECT_NEAR(f.barrier.v1, 1.0, 1e-12);
  // Where higher is better a drop is the barrier, and a rise is none.
  f = prepare_valley({{"a", shared(three_points("exact_match", 0.9, 0.4, 0.8))}},
                     valley_options("exact_match"));
  EXPECT_NEAR(f.barrier.value, 0.85 - 0.4, 1e-12);
  f = prepare_valley({{"a", shared(three_points("loss", 0.9, 0.4, 0.8))}}, valley_options("loss"));
  EXPECT_TRUE(std::isnan(f.barrier.value));
  f = prepare_valley({{"a", shared(three_points("loss", 1, 3, 2))}}, valley_options("loss"));
  EXPECT_NEAR(f.barrier.value, 1.5, 1e-12);
  // Without t = 1 in the grid there is no chord, so no barrier.
  store::ScanData past = three_points("loss", 1, 3, 2);
  past.spec.axes[0] = {-0.5, 0.0, 0.5};
  f = prepare_valley({{"a", shared(past)}}, valley_options("loss"));
  EXPECT_TRUE(std::isnan(f.barrier.value));
}

TEST(ValleyFigure, FiltersOverlaysAndLeavesOutPointsNotDone) {
  store::ScanData partial = test::sample_line();
  partial.done[2] = 0;
  const auto line = shared(test::sample_line());
  // The mean alone; points not done are left out.
  ValleyFigure f = prepare_valley({{"p", shared(partial)}}, valley_options("loss", "mean"));
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].role, "mean");
  EXPECT_EQ(f.series[0].t, (QVector<double>{0, 0.25, 0.75, 1}));
  // Two scans: names prefixed with their labels, series tagged with their scan; the barrier
  // only ever of the first.
  f = prepare_valley({{"a", line}, {"b", line}}, valley_options("loss", "arith"));
  EXPECT_TRUE(f.overlay);
  ASSERT_EQ(f.series.size(), 2u);
  EXPECT_EQ(f.series[0].name, "a · arith (new)");
  EXPECT_EQ(f.series[1].name, "b · arith (new)");
  EXPECT_EQ(f.series[1].scan, 1);
  EXPECT_EQ(f.barrier.series, 0);
  // A scan without the score adds nothing; with no series there are no end points either.
  f = prepare_valley({{"a", line}}, valley_options("lambda_1"));
  EXPECT_TRUE(f.series.empty());
  EXPECT_TRUE(f.from.isEmpty());
  // A 2-D scan is not a path: skipped.
  f = prepare_valley({{"plane", shared(test::sample_plane())}}, valley_options("loss"));
  EXPECT_TRUE(f.series.empty());
}

TEST(ValleyFigure, UnknownNewTaskAndACurvesStraightLine) {
  store::ScanData curve = test::sample_line("run.h5", "curve");
  curve.text.erase("to");
  curve.spec.config_json = R"({"kind":"curve"})";  // no adapters: the new task is unknown
  const size_t P = 5, T = 3, S = 3;
  store::ScanArray lv{{5, 3, 3}, std::vector<double>(P * T * S)};
  for (size_t i = 0; i < P; ++i)
    for (size_t t = 0; t < T; ++t)
      for (size_t s = 0; s < S; ++s) lv.values[(i * T + t) * S + s] = 1000 + 10.0 * i + t + 0.1 * s;
  curve.extras["line_values"] = lv;
  ValleyOptions o = valley_options("token_acc", "weekday");
  o.straight_line = true;
  const ValleyFigure f = prepare_valley({{"c", shared(curve)}}, o);
  ASSERT_EQ(f.series.size(), 2u);
  EXPECT_EQ(f.series[0].role, "task");
  EXPECT_EQ(f.series[0].name, "weekday");
  EXPECT_EQ(f.series[1].role, "line");
  EXPECT_EQ(f.series[1].name, "weekday (straight line)");
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(f.series[1].v[i], 1000 + 10.0 * i + 0.1);
  EXPECT_EQ(f.x_label, "t (curve)");
  // Without asking for it, no straight line.
  o.straight_line = false;
  EXPECT_EQ(prepare_valley({{"c", shared(curve)}}, o).series.size(), 1u);
}

TEST(ValleyFigure, ReadoutAndCsvTellThePlottedValues) {
  const ValleyFigure f =
      prepare_valley({{"seq-1-2", shared(test::sample_line())}}, valley_options("loss", "arith"));
  EXPECT_EQ(valley_readout(f, 0.49), "t = 0.5:  arith (new) 1.5");
  EXPECT_EQ(valley_readout(ValleyFigure(), 0.5), "");
  const QStringList rows = valley_csv(f).split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(rows.size(), 6);
  EXPECT_EQ(rows[0], "scan,task_set,role,score,t,value");
  EXPECT_EQ(rows[3], "seq-1-2,arith,new,loss,0.5,1.5");
}

TEST(LandscapeFigure, TheFieldIsTheScansGridNanWhereNotDone) {
  const store::ScanData d = test::sample_plane();
  EXPECT_EQ(landscape_tasks(d), (QStringList{"a", "b", "mean"}));
  EXPECT_EQ(landscape_scores(d), (QStringList{"loss"}));
  LandscapeOptions o;
  o.task = "a";
  o.score = "loss";
  LandscapeFigure f = prepare_landscape(d, o);
  ASSERT_EQ(f.z.size(), 12u);
  EXPECT_EQ(f.xs, d.spec.axes[0]);
  EXPECT_EQ(f.ys, d.spec.axes[1]);
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 3; ++j) {
      const double x = f.xs[i], y = f.ys[j], z = f.z[i * 3 + j];
      if (i == 3 && j == 2)
        EXPECT_TRUE(std::isnan(z));
      else
        EXPECT_EQ(z, x * x + y * y) << i << "," << j;
    }
  EXPECT_EQ(f.lo, 0);
  EXPECT_EQ(f.hi, 10);  // (3, ±1) is 10; (3, 1) is not done, (3, -1) is
  EXPECT_FALSE(f.inverted);
  EXPECT_EQ(f.x_label, "x (towards the 2nd anchor)");
  EXPECT_EQ(f.y_label, "y");
  // The mean of a and b.
  o.task = "mean";
  f = prepare_landscape(d, o);
  EXPECT_EQ(f.z[1 * 3 + 1], (1.0 + 12.0) / 2);
  EXPECT_EQ(landscape_readout(f, 1.1, 0.1), "x = 1, y = 0: mean loss = 6.5");
  EXPECT_EQ(landscape_readout(f, 2.9, 0.9), "x = 3, y = 1: mean loss = not computed");
  const QStringList rows = landscape_csv(f).split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(rows.size(), 13);
  EXPECT_EQ(rows[0], "x,y,task_set,score,value");
  EXPECT_EQ(rows[5], "1,0,mean,loss,6.5");
  // A 1-D scan gives an empty figure.
  EXPECT_TRUE(prepare_landscape(test::sample_line(), o).empty());
}

TEST(LandscapeFigure, ContoursLieOnTheirLevelAndLogColoursNeedPositiveValues) {
  const store::ScanData d = test::sample_plane();
  LandscapeOptions o;
  o.task = "b";  // 2x + y + 10: linear, so interpolated contour points are exact
  o.score = "loss";
  o.levels = 4;
  o.log_colors = true;
  LandscapeFigure f = prepare_landscape(d, o);
  EXPECT_TRUE(f.log_colors);  // b >= 9 > 0
  EXPECT_EQ(f.lo, 9);
  EXPECT_EQ(f.hi, 16);
  ASSERT_FALSE(f.contours.empty());
  EXPECT_EQ(f.levels_drawn, 4);
  for (const auto& c : f.contours) {
    ASSERT_EQ(c.x.size(), c.y.size());
    for (int k = 0; k < c.x.size(); ++k) EXPECT_NEAR(2 * c.x[k] + c.y[k] + 10, c.level, 1e-9);
  }
  // a is 0 at the origin: no log colours even when asked for.
  o.task = "a";
  EXPECT_FALSE(prepare_landscape(d, o).log_colors);
  o.contours = false;
  f = prepare_landscape(d, o);
  EXPECT_TRUE(f.contours.empty());
  EXPECT_EQ(f.levels_drawn, 0);
  // Scores where higher is better run the colours the other way; lambdas do not.
  store::ScanData acc = d;
  acc.spec.scores = {"exact_match"};
  o.score = "exact_match";
  EXPECT_TRUE(prepare_landscape(acc, o).inverted);
  acc.spec.scores = {"lambda_1"};
  o.score = "lambda_1";
  EXPECT_FALSE(prepare_landscape(acc, o).inverted);
}

TEST(LandscapeFigure, MarkersCarryTheirShortLabels) {
  store::ScanData d = test::sample_plane();
  d.spec.kind = "random-plane";
  d.extras["trajectory"] = {{2, 3}, {0.1, 0.2, 0, 0.3, 0.4, 0}};  // no labels in the file
  LandscapeOptions o;
  o.task = "a";
  o.score = "loss";
  const LandscapeFigure f = prepare_landscape(d, o);
  ASSERT_EQ(f.markers.size(), 3u);  // drawn in this order
  EXPECT_EQ(f.markers[0].kind, MarkerSet::Kind::Trajectory);
  EXPECT_EQ(f.markers[0].labels, (QStringList{"", ""}));
  EXPECT_EQ(f.markers[0].y, (QVector<double>{0.2, 0.4}));
  EXPECT_EQ(f.markers[1].kind, MarkerSet::Kind::Projected);
  EXPECT_EQ(f.markers[1].name, "projected adapters");
  EXPECT_EQ(f.markers[1].x, (QVector<double>{0.5, 1.5}));  // the first two of three columns
  EXPECT_EQ(f.markers[1].y, (QVector<double>{0.5, -0.5}));
  // seq/2 lies 0.2 off the plane (the third column), more than 5% of the grid's diagonal.
  EXPECT_EQ(f.markers[1].labels, (QStringList{"seq/1", "seq/2 (0.2 off)"}));
  EXPECT_EQ(f.markers[2].kind, MarkerSet::Kind::Anchors);
  EXPECT_EQ(f.markers[2].labels, (QStringList{"seq/3", "er/3", "ilora/3"}));
  EXPECT_EQ(f.marker_count(), 7);
  EXPECT_EQ(f.x_label, "α (direction 1)");
  EXPECT_EQ(f.y_label, "β (direction 2)");
}

TEST(StabilityFigure, PlasticityEarlierTasksTradeOffAndMetricTable) {
  const store::RunFileData run = test::sample_run();
  const auto line = shared(test::sample_line());
  // Only 1-D scans whose new task is known can show the trade-off.
  store::ScanData unknown = test::sample_line();
  unknown.text.erase("to");
  unknown.spec.config_json = "{}";
  const auto paths = trade_off_paths(
      {{"seq-1-2", line}, {"unknown", shared(unknown)}, {"plane", shared(test::sample_plane())}});
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].label, "seq-1-2");
  EXPECT_EQ(run_scores(run), (QStringList{"exact_match", "loss", "token_acc"}));

  const StabilityFigure f = prepare_stability(&run, paths, {"exact_match"});
  EXPECT_FALSE(f.empty);
  EXPECT_EQ(f.tasks, (QStringList{"mc", "arith", "strings"}));
  ASSERT_EQ(f.learners.size(), 3u);  // seq, ilora (reports slow), and ilora's other learner
  EXPECT_EQ(f.learners[0].name, "seq");
  EXPECT_EQ(f.learners[2].name, "ilora/fast");
  const auto& R = run.find_method("seq")->R.at("exact_match");
  const StabilityLearner& seq = f.learners[0];
  EXPECT_TRUE(seq.has_score);
  EXPECT_EQ(seq.stage, (QVector<double>{1, 2, 3}));
  EXPECT_EQ(seq.plasticity, (QVector<double>{R[0][0], R[1][1], R[2][2]}));
  EXPECT_EQ(seq.later_stage, (QVector<double>{2, 3}));
  EXPECT_DOUBLE_EQ(seq.earlier[0], R[1][0]);
  EXPECT_DOUBLE_EQ(seq.earlier[1], (R[2][0] + R[2][1]) / 2);
  // The trade-off: the new task's score (arith) against the old tasks' mean (weekday alone).
  ASSERT_EQ(f.paths.size(), 1u);
  EXPECT_EQ(f.paths[0].t, (QVector<double>{0, 0.25, 0.5, 0.75, 1}));
  for (int p = 0; p < 5; ++p) {
    EXPECT_EQ(f.paths[0].new_task[p], test::line_value(p, 1, 2));
    EXPECT_EQ(f.paths[0].old_tasks[p], test::line_value(p, 0, 2));
  }
  // The metric table: three decimals, "–" where missing (FWT is NaN in the sample).
  EXPECT_EQ(f.metrics.columns,
            (QStringList{"OP", "BWT", "FWT", "forgetting", "plasticity", "stability"}));
  EXPECT_EQ(f.metrics.rows, (QStringList{"seq", "ilora", "ilora/fast"}));
  EXPECT_EQ(f.metrics.cells[0], (QStringList{"0.500", "-0.250", "–", "0.300", "0.900", "0.700"}));
  EXPECT_EQ(f.metrics.cells[2], (QStringList{"0.375", "-0.500", "–", "0.600", "–", "–"}));
  const QStringList csv = stability_csv(f).split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(csv.size(), 4);
  EXPECT_EQ(csv[0], "method,OP,BWT,FWT,forgetting,plasticity,stability");
  EXPECT_EQ(csv[1], "seq,0.500,-0.250,nan,0.300,0.900,0.700");

  // token_acc: learners without that matrix are listed but have no curves; a path without
  // the score has no trade-off.
  const StabilityFigure acc = prepare_stability(&run, paths, {"token_acc"});
  EXPECT_TRUE(acc.learners[0].has_score);
  EXPECT_FALSE(acc.learners[2].has_score);
  EXPECT_TRUE(acc.learners[2].stage.isEmpty());
  EXPECT_EQ(acc.paths.size(), 1u);
  EXPECT_TRUE(prepare_stability(&run, paths, {"lambda_1"}).paths.empty());
  // No run: an empty figure.
  const StabilityFigure none = prepare_stability(nullptr, paths, {"exact_match"});
  EXPECT_TRUE(none.empty);
  EXPECT_TRUE(none.learners.empty());
  EXPECT_EQ(stability_csv(none), "");
}

TEST(MatrixFigure, TheMatrixOfAMethodOrLearner) {
  store::RunFileData run = test::sample_run();
  EXPECT_EQ(matrix_methods(run), (QStringList{"seq", "ilora", "ilora/fast"}));
  const MatrixFigure f = prepare_matrix(run, {"ilora/fast", "exact_match"});
  const auto& R = run.find_method("ilora")->learners.at("fast").R.at("exact_match");
  ASSERT_EQ(f.values.size(), 9);
  for (size_t t = 0; t < 3; ++t)
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(f.values[static_cast<int>(t * 3 + i)], R[t][i]);
  EXPECT_EQ(f.tasks, (QStringList{"mc", "arith", "strings"}));
  const QStringList csv = matrix_csv(f).split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(csv.size(), 4);
  EXPECT_EQ(csv[0], "after_task,mc,arith,strings");
  EXPECT_TRUE(csv[2].startsWith("arith,")) << csv[2].toStdString();
  // No such method, learner or score: empty.
  EXPECT_TRUE(prepare_matrix(run, {"ewc", "exact_match"}).empty());
  EXPECT_TRUE(prepare_matrix(run, {"ilora/slow", "exact_match"}).empty());
  EXPECT_TRUE(prepare_matrix(run, {"ilora/fast", "token_acc"}).empty());  // learners lack it
  EXPECT_EQ(matrix_csv(MatrixFigure()), "");
  // A matrix with a missing stage: NaN there.
  run.methods[0].R["loss"].pop_back();
  const MatrixFigure partial = prepare_matrix(run, {"seq", "loss"});
  ASSERT_EQ(partial.values.size(), 9);
  EXPECT_FALSE(std::isnan(partial.values[5]));
  for (int i = 6; i < 9; ++i) EXPECT_TRUE(std::isnan(partial.values[i]));
}

TEST(GeometryFigure, OverallOrPerModuleWithShortLabels) {
  store::ScanData d = test::sample_geometry();
  store::ScanArray angle{{1, 3, 3}, {}};
  for (int k = 0; k < 9; ++k) angle.values.push_back(10.0 * k);
  d.extras["module_angle_in"] = angle;
  d.extras["angle_in"] = {{3, 3}, std::vector<double>(9, 45.0)};
  EXPECT_EQ(geometry_metrics(d), (QStringList{"delta_cosine", "angle_in"}));
  EXPECT_EQ(geometry_modules(d), (QStringList{"all modules", "model.layers.0.self_attn.q_proj"}));
  GeometryFigure f = prepare_geometry(d, {"delta_cosine", kAllModules});
  ASSERT_EQ(f.values.size(), 9);
  EXPECT_DOUBLE_EQ(f.values[2], 0.8);  // 1 - 0.1·|0 - 2|
  EXPECT_EQ(f.labels, (QStringList{"seq/1", "seq/2", "er/2"}));
  EXPECT_EQ(f.module, -1);
  EXPECT_FALSE(f.degrees);
  EXPECT_TRUE(geometry_csv(f).startsWith("adapter,seq/1,seq/2,er/2\nseq/1,1,0.90000000000000002,"))
      << geometry_csv(f).toStdString();
  // One module's matrix of angles, in degrees.
  f = prepare_geometry(d, {"angle_in", "model.layers.0.self_attn.q_proj"});
  EXPECT_EQ(f.module, 0);
  EXPECT_TRUE(f.degrees);
  ASSERT_EQ(f.values.size(), 9);
  EXPECT_EQ(f.values[4], 40.0);
  // An unknown module is all modules; a module without that metric has no matrix.
  f = prepare_geometry(d, {"angle_in", "no such module"});
  EXPECT_EQ(f.module, -1);
  EXPECT_EQ(f.values[4], 45.0);
  EXPECT_TRUE(prepare_geometry(d, {"delta_cosine", "model.layers.0.self_attn.q_proj"}).empty());
  EXPECT_TRUE(prepare_geometry(d, {"overlap_in", kAllModules}).empty());
}
