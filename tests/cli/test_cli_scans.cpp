// The scan kinds end to end on a tiny run: curves (bends on the line give the line; trained
// bends are kept and not retrained), planes through three adapters (anchors and in-plane
// adapters land where they belong and the grid holds their losses), random planes (centre
// value, filter normalisation), trajectory planes, and MPI (2 ranks = 1 process, bit for bit).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "analysis/adapter_ref.h"
#include "core/adapter.h"
#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
using namespace lorascape;
using test::run_cli;
using test::same_bits;

namespace {

// One tiny run with seq and er (snapshots every step) shared by every test process
// (tests/common/fixtures.h); each process writes its scans into its own folder.
class CliScans : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp = new test::TempDir("cli-scans");
    const auto& shared = test::shared_cli_run();
    cache = shared.cache;
    h5 = shared.h5;
    config = shared.config;
  }
  static void TearDownTestSuite() { delete tmp; }
  static test::CliResult run(const std::string& args) { return run_cli(args, cache); }
  static std::string file(const std::string& name) { return tmp->file(name); }
  static store::ScanData scan(const std::string& args, const std::string& out) {
    const auto r = run("-q " + args + " --out " + out);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    return store::read_scan_file(out);
  }
  static double value(const store::ScanData& d, int64_t p, size_t t, size_t s) {
    return d.values[d.value_index(p, t, s)];
  }
  // The prefix that runs a command on two MPI ranks; empty when built without MPI or when
  // mpirun is missing.
  static std::string mpirun_2() {
    if (!LORASCAPE_TEST_MPI || std::system("command -v mpirun > /dev/null 2>&1") != 0) return "";
    return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
           "OMPI_MCA_rmaps_base_oversubscribe=1 "
           "OMPI_MCA_plm=isolated OMPI_MCA_btl=self,vader mpirun -n 2 ";
  }

  static test::TempDir* tmp;
  static std::string cache, h5, config;
};
test::TempDir* CliScans::tmp = nullptr;
std::string CliScans::cache, CliScans::h5, CliScans::config;

}  // namespace

TEST_F(CliScans, CurveWithBendsOnTheLineIsTheLine) {
  const std::string ends = " --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 5";
  const auto line = scan("scan line" + ends, file("line.h5"));
  for (const char* kind : {"bezier", "polychain"})
    for (const char* space : {"factors", "delta"}) {
      const std::string args = "scan curve" + ends + " --kind " + kind +
                               " --bends 2 --epochs 0 --no-line --space " + space;
      const auto c = scan(args, file(std::string("c0-") + kind + space + ".h5"));
      ASSERT_TRUE(c.complete());
      const auto l = std::string(space) == "factors"
                         ? line
                         : scan("scan line" + ends + " --space delta", file("ld.h5"));
      for (size_t k = 0; k < c.values.size(); ++k)
        EXPECT_NEAR(c.values[k], l.values[k], 2e-5) << kind << space << k;
      // The straight segments of an untrained curve have the line's length.
      const auto& dl = c.extras.at("segment_lengths").values;
      ASSERT_EQ(dl.size(), 4u);
      for (double x : dl) EXPECT_NEAR(x, dl[0], 1e-6 * dl[0]);
    }
}

TEST_F(CliScans, TrainedCurveKeepsItsBendsAndComparesWithTheLine) {
  const std::string out = file("curve.h5");
  const std::string args =
      "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 5 --bends 1 --epochs 1 --batch 8";
  auto r = run(args + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("straight line"), std::string::npos) << r.out;
  const auto d = store::read_scan_file(out);
  ASSERT_TRUE(d.complete());
  EXPECT_EQ(d.spec.kind, "curve");
  // 2 tasks × 40 examples, batch 8, one epoch: 10 steps.
  EXPECT_EQ(d.extras.at("loss_history").values.size(), 10u);
  EXPECT_EQ(d.extras.at("t_history").values.size(), 10u);
  EXPECT_EQ(d.extras.at("control_points").shape.at(0), 1);
  EXPECT_EQ(d.extras.at("line_values").shape, (std::vector<int64_t>{5, 2, 3}));
  EXPECT_EQ(d.extras.at("length_weighted_mean").shape, (std::vector<int64_t>{2, 3}));
  // The endpoints are fixed: the curve's and the line's values agree there.
  const auto& lv = d.extras.at("line_values").values;
  for (size_t k = 0; k < 6; ++k) {
    EXPECT_NEAR(d.values[k], lv[k], 1e-5);
    EXPECT_NEAR(d.values[4 * 6 + k], lv[4 * 6 + k], 1e-5);
  }
  // The bends moved off the line: the middle differs.
  EXPECT_GT(std::abs(d.values[2 * 6] - lv[2 * 6]), 1e-6);
  // Rerunning finds the trained bends in the file: nothing is retrained or rewritten.
  const std::string before = test::slurp(out);
  r = run("-q " + args + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::slurp(out), before);
}

TEST_F(CliScans, PlaneHoldsItsAnchorsAndProjectsInPlaneAdapters) {
  // X = seq/1, Y = seq/2 and Z = (X + Y)/2 + 0.2·(er/2 − seq/2): Z projects between X and Y
  // on the x axis, so with margin 0 the 2×2 grid's corners (0,0) and (dx,0) are X and Y.
  const auto X = analysis::load_adapter_ref(h5 + ":seq/1"),
             Y = analysis::load_adapter_ref(h5 + ":seq/2");
  const auto E = analysis::load_adapter_ref(h5 + ":er/2");
  core::Adapter z = X.adapter.clone(), mid = X.adapter.clone();
  mid.scale(0.5).axpy(0.5, Y.adapter);
  z.scale(0.5).axpy(0.5, Y.adapter).axpy(0.2, E.adapter).axpy(-0.2, Y.adapter);
  nlohmann::json extra = X.info;
  extra["base_model"] = X.base_model;
  extra["base_model_digest"] = X.base_model_digest;
  core::save_peft_adapter(file("z"), z, X.lora, extra);
  core::save_peft_adapter(file("mid"), mid, X.lora, extra);
  const std::string through = " --through " + h5 + ":seq/1," + h5 + ":seq/2," + file("z");
  const auto line =
      scan("scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 2", file("pl-line.h5"));
  const auto d = scan("scan plane" + through + " --grid 2x2 --margin 0 --project " + h5 +
                          ":seq/1," + file("mid") + "," + h5 + ":er/*",
                      file("plane.h5"));
  ASSERT_TRUE(d.complete());
  const auto& a = d.extras.at("anchors").values;  // (3, 2)
  const double dx = a[2], dy = a[5];
  EXPECT_EQ(a[0], 0.0);
  EXPECT_EQ(a[1], 0.0);
  EXPECT_NEAR(a[3], 0.0, 1e-9);
  EXPECT_GT(dy, 0.0);
  EXPECT_EQ(d.spec.axes[0], (std::vector<double>{0.0, dx}));
  EXPECT_NEAR(d.spec.axes[1][0], 0.0, 1e-12);
  // Grid point (0,0) is X and (dx,0) is Y: their losses are the line's endpoints'.
  for (size_t t = 0; t < 2; ++t)
    for (size_t s = 0; s < 3; ++s) {
      EXPECT_NEAR(value(d, 0, t, s), value(line, 0, t, s), 1e-5);
      EXPECT_NEAR(value(d, 2, t, s), value(line, 1, t, s), 1e-5);
    }
  // Projections: X at the origin, the midpoint of X and Y at (dx/2, 0), both in the plane;
  // er's stages (2 of them) off it.
  const auto& p = d.extras.at("projected");
  ASSERT_EQ(p.shape, (std::vector<int64_t>{4, 3}));
  EXPECT_NEAR(p.values[0], 0.0, 1e-6 * dx);
  EXPECT_NEAR(p.values[2], 0.0, 1e-3 * dx);
  EXPECT_NEAR(p.values[3], dx / 2, 1e-6 * dx);
  EXPECT_NEAR(p.values[4], 0.0, 1e-6 * dx);
  EXPECT_NEAR(p.values[5], 0.0, 1e-3 * dx);
  EXPECT_NE(d.text.at("projected_labels").find(":er/2/adapter"), std::string::npos);
  // The same plane in delta space: the same anchors' losses at (0,0).
  const auto dd =
      scan("scan plane" + through + " --grid 2x2 --margin 0 --space delta", file("plane-delta.h5"));
  for (size_t s = 0; s < 3; ++s) EXPECT_NEAR(value(dd, 0, 0, s), value(d, 0, 0, s), 1e-4);
  // Three adapters on one line do not make a plane.
  const auto r = run("scan plane --through " + h5 + ":seq/1," + h5 + ":seq/2," + file("mid") +
                     " --out " + file("bad.h5"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("one line"), std::string::npos) << r.out;
}

// Garipov et al.'s curve-vs-line plane: through a trained curve's ends and bend, the line on
// the x axis, the one-bend Bézier curve in the plane (its points project with no residual).
TEST_F(CliScans, CurveVsLinePlaneHoldsTheCurveAndTheLine) {
  const std::string curve = file("cvl-curve.h5");
  const auto c = scan(
      "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 3 --bends 1 --epochs 1 --batch 8",
      curve);
  ASSERT_TRUE(c.complete());
  // The bend as an adapter: the stored control point.
  const auto bend = analysis::load_adapter_ref(curve + ":bend/1");
  const at::Tensor flat = bend.adapter.flatten().to(at::kDouble).contiguous();
  const auto& cp = c.extras.at("control_points").values;
  ASSERT_EQ(static_cast<size_t>(flat.numel()), cp.size());
  for (size_t k = 0; k < cp.size(); k += 97) EXPECT_NEAR(flat[k].item<double>(), cp[k], 1e-6);

  const auto d = scan("scan plane --curve " + curve + " --grid 2x2 --margin 0 --curve-points 5",
                      file("cvl-plane.h5"));
  ASSERT_TRUE(d.complete());
  const auto& a = d.extras.at("anchors").values;  // from, to, bend
  const double dx = a[2], bx = a[4], by = a[5];
  EXPECT_EQ(a[0], 0.0);
  EXPECT_NEAR(a[3], 0.0, 1e-9 * dx);
  EXPECT_GT(by, 0.0);
  const auto& path = d.extras.at("curve_path");
  ASSERT_EQ(path.shape, (std::vector<int64_t>{5, 4}));
  const auto& v = path.values;  // rows t, x, y, distance from the plane
  for (int k = 0; k < 5; ++k) {
    const double t = 0.25 * k;
    EXPECT_NEAR(v[k * 4], t, 1e-12);
    // B(t) = (1−t)²·from + 2t(1−t)·bend + t²·to, in plane coordinates.
    EXPECT_NEAR(v[k * 4 + 1], 2 * t * (1 - t) * bx + t * t * dx, 1e-6 * dx) << t;
    EXPECT_NEAR(v[k * 4 + 2], 2 * t * (1 - t) * by, 1e-6 * dx) << t;
    EXPECT_LT(v[k * 4 + 3], 1e-4 * dx) << t;
  }
  EXPECT_EQ(d.text.at("curve_file"), "cvl-curve.h5");
  EXPECT_NE(d.text.at("anchor_labels").find("cvl-curve.h5:bend/1"), std::string::npos);
  // Grid point 0 is the curve's start: the curve's loss at t = 0.
  for (size_t t = 0; t < 2; ++t) EXPECT_NEAR(value(d, 0, t, 0), value(c, 0, t, 0), 1e-4);
  // The figure draws it.
  const auto r =
      run("plot " + file("cvl-plane.h5") + " --view landscape --out " + file("cvl-plane.png"));
  EXPECT_EQ(r.code, 0) << r.out;

  // Bad references and options: one-line errors.
  for (const auto& [args, want] : std::vector<std::pair<std::string, std::string>>{
           {"scan plane --curve " + curve + " --space delta",
            "scan its plane with --space factors"},
           {"scan plane --curve " + file("cvl-plane.h5"), "not a curve"},
           {"scan plane --through " + h5 + ":seq/1," + curve + ":bend/2," + h5 + ":er/2",
            "the curve has 1 bend(s)"},
           {"scan plane --grid 2x2", "give --through X,Y,Z or --curve"}}) {
    const auto e = run(args + " --out " + file("cvl-bad.h5"));
    EXPECT_EQ(e.code, 2) << args << "\n" << e.out;
    EXPECT_NE(e.out.find(want), std::string::npos) << args << "\n" << e.out;
  }
}

TEST_F(CliScans, RandomPlaneIsCentredAndFilterNormalised) {
  const auto line =
      scan("scan line --from " + h5 + ":er/2 --to " + h5 + ":seq/2 -n 2", file("rp-line.h5"));
  const auto d = scan("scan random-plane --center " + h5 + ":er/2 --grid 3x3 --radius 0.5 --seed 7",
                      file("rp.h5"));
  ASSERT_TRUE(d.complete());
  EXPECT_EQ(d.spec.axes[0], (std::vector<double>{-0.5, 0.0, 0.5}));
  for (size_t s = 0; s < 3; ++s)
    EXPECT_NEAR(value(d, 4, 0, s), value(line, 0, 0, s), 1e-5);  // centre (0,0)
  // Every row of every direction has its centre row's norm, so the whole direction too.
  const double c = d.extras.at("center_norm").values[0];
  for (double n : d.extras.at("direction_norms").values) EXPECT_NEAR(n, c, 1e-4 * c);
  // Another seed, other directions, other values.
  const auto e = scan("scan random-plane --center " + h5 + ":er/2 --grid 3x3 --radius 0.5 --seed 8",
                      file("rp8.h5"));
  EXPECT_NE(value(e, 0, 0, 0), value(d, 0, 0, 0));
}

TEST_F(CliScans, TrajectoryPlaneProjectsTheTrainingPath) {
  const auto d = scan("scan trajectory --run " + h5 + " --method seq --grid 3x3", file("traj.h5"));
  ASSERT_TRUE(d.complete());
  // 3 snapshots + 1 stage adapter per task, 2 tasks.
  const auto& tr = d.extras.at("trajectory");
  ASSERT_EQ(tr.shape, (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(tr.values[7 * 3], 0.0);  // the final adapter is the origin
  EXPECT_EQ(tr.values[7 * 3 + 1], 0.0);
  const auto& r = d.extras.at("explained_variance_ratio").values;
  EXPECT_GT(r[0], 0.0);
  EXPECT_GE(r[0], r[1]);
  EXPECT_LE(r[0] + r[1], 1.0 + 1e-9);
  EXPECT_NE(d.text.at("trajectory_labels").find("seq/snapshot/1"), std::string::npos);
}

TEST_F(CliScans, BadGridsAndReferencesAreOneLineErrors) {
  for (const std::string& args :
       {"scan plane --through " + h5 + ":seq/1," + h5 + ":seq/2 --out " + file("x.h5"),
        "scan random-plane --center " + h5 + ":seq/1 --grid 0x3 --out " + file("x.h5"),
        "scan random-plane --center " + h5 + ":seq/1 --grid 3y3 --out " + file("x.h5"),
        "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":seq/9 --out " + file("x.h5"),
        "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 --kind spline --out " +
            file("x.h5"),
        "scan trajectory --run " + h5 + " --method nope --out " + file("x.h5")}) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_EQ(test::count_lines(r.out), 1u) << args << "\n" << r.out;
  }
  // The libraries name settings (`through`, `grid`, `kind`); the CLI names them as its flags.
  for (const auto& [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"scan plane --through " + h5 + ":seq/1 --out " + file("x.h5"), "--through needs"},
           {"scan random-plane --center " + h5 + ":seq/1 --grid 0x3 --out " + file("x.h5"),
            "--grid must be"},
           {"scan curve --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 --weight-decay -1 --out " +
                file("x.h5"),
            "--weight-decay must be"}}) {
    const auto r = run(args);
    EXPECT_NE(r.out.find(flag), std::string::npos) << args << "\n" << r.out;
    EXPECT_EQ(r.out.find('`'), std::string::npos) << args << "\n" << r.out;
  }
}

// analyse-run's three kinds of path: a learner's consecutive stages, A's θ_{t−1} → B's θ_t across
// runs (a copy of the run file stands for another run of the same tasks) and A's θ_t → B's θ_t.
// The paths share their ends, so their end points agree bit for bit; summary.csv holds one row
// per path with the scans' numbers; bad learners are one-line errors.
TEST_F(CliScans, AnalyseRunComparesLearnersAcrossRunsAndStages) {
  const std::string other = file("other-run.h5"), dir = file("ar");
  fs::copy_file(h5, other, fs::copy_options::overwrite_existing);
  const auto r = run("-q analyse-run " + h5 + " -m seq --cross " + other + ":seq,er --same-stage " +
                     "er," + other + ":seq -n 3 -o " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto seq = store::read_scan_file(dir + "/seq-1-2.h5");
  const auto cross = store::read_scan_file(dir + "/seq-to-er-1-2.h5");
  const auto same = store::read_scan_file(dir + "/er-vs-seq-2.h5");
  ASSERT_TRUE(seq.complete() && cross.complete() && same.complete());
  const int64_t last = 2;
  const size_t T = seq.spec.tasks.size(), S = seq.spec.scores.size();
  ASSERT_EQ(T, 3u);  // weekday, arith, union (of weekday)
  for (size_t t = 0; t < T; ++t)
    for (size_t k = 0; k < S; ++k) {
      EXPECT_EQ(value(cross, 0, t, k), value(seq, 0, t, k));       // seq/1
      EXPECT_EQ(value(cross, last, t, k), value(same, 0, t, k));   // er/2
      EXPECT_EQ(value(same, last, t, k), value(seq, last, t, k));  // seq/2
    }

  const auto lines = [&] {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(test::slurp(dir + "/summary.csv"));
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> cells;
      std::istringstream l(line);
      for (std::string c; std::getline(l, c, ',');) cells.push_back(c);
      rows.push_back(cells);
    }
    return rows;
  }();
  ASSERT_EQ(lines.size(), 4u);  // header + one path of each kind
  const auto& head = lines[0];
  const auto col = [&](const std::string& name) {
    const auto it = std::find(head.begin(), head.end(), name);
    EXPECT_NE(it, head.end()) << name;
    return static_cast<size_t>(it - head.begin());
  };
  const std::vector<std::pair<std::string, std::string>> want = {
      {"seq", "consecutive"}, {"seq->er", "cross"}, {"er=seq", "same-stage"}};
  const std::vector<const store::ScanData*> scans = {&seq, &cross, &same};
  const size_t ex = 2;  // exact match
  ASSERT_EQ(seq.spec.scores[ex], "exact_match");
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& row = lines[i + 1];
    ASSERT_EQ(row.size(), head.size()) << i;
    EXPECT_EQ(row[col("path")], want[i].first);
    EXPECT_EQ(row[col("kind")], want[i].second);
    EXPECT_EQ(row[col("t")], "2");
    EXPECT_EQ(row[col("new_task")], "arith");
    EXPECT_EQ(row[col("old_tasks")], "weekday");
    // Old = weekday (task 0), new = arith (task 1), whatever the ends learned.
    const auto& d = *scans[i];
    EXPECT_NEAR(std::stod(row[col("exact_old_from")]), value(d, 0, 0, ex), 1e-8);
    EXPECT_NEAR(std::stod(row[col("exact_new_to")]), value(d, last, 1, ex), 1e-8);
    double best = -1;
    for (int64_t p = 0; p <= last; ++p)
      best = std::max(best, (value(d, p, 0, ex) + value(d, p, 1, ex)) / 2);
    EXPECT_NEAR(std::stod(row[col("exact_avg_best")]), best, 1e-8);
    const double gain =
        best - std::max(std::stod(row[col("exact_avg_from")]), std::stod(row[col("exact_avg_to")]));
    EXPECT_NEAR(std::stod(row[col("exact_gain")]), gain, 1e-8);
    EXPECT_GE(std::stod(row[col("loss_gain")]), 0.0);
    // The previous task (t−1 = weekday) is here the only old task: the same numbers.
    EXPECT_EQ(row[col("prev_task")], "weekday");
    EXPECT_NEAR(std::stod(row[col("exact_prev_from")]), value(d, 0, 0, ex), 1e-8);
    EXPECT_NEAR(std::stod(row[col("exact_prev_to")]), value(d, last, 0, ex), 1e-8);
    EXPECT_NEAR(std::stod(row[col("exact_prev_best")]), best, 1e-8);
    EXPECT_NEAR(std::stod(row[col("prev_gain")]), gain, 1e-8);
    EXPECT_EQ(row[col("best_t_prev")], row[col("best_t_exact")]);
  }

  for (const std::string& args : {"analyse-run " + h5 + " --cross seq -o " + dir,
                                  "analyse-run " + h5 + " -m seq/fast -o " + dir,
                                  "analyse-run " + h5 + " --same-stage nope,seq -o " + dir,
                                  "analyse-run " + h5 + " --cross seq,er,seq -o " + dir}) {
    const auto e = run(args);
    EXPECT_EQ(e.code, 2) << args << "\n" << e.out;
    EXPECT_EQ(test::count_lines(e.out), 1u) << args << "\n" << e.out;
  }
}

// Adapters of different ranks and scales (a PEFT folder of rank 2r and half the scale, with the
// same ΔW as stage 2): delta space combines them exactly, so the line equals the line between the
// stages; factors space refuses, naming --space delta. Planes take them too.
TEST_F(CliScans, DeltaSpaceTakesAdaptersOfDifferentRanks) {
  ASSERT_EQ(run("export-adapter " + h5 + ":seq/1 --out " + file("r1")).code, 0);
  ASSERT_EQ(run("export-adapter " + h5 + ":seq/2 --out " + file("r2")).code, 0);
  const core::PeftAdapter two = core::load_peft_adapter(file("r2"));
  std::vector<core::Adapter::Entry> wide;  // A' = [A; A], B' = [B | B], s' = s/2
  for (const auto& [n, t] : two.adapter.entries())
    wide.emplace_back(n, at::cat({t, t}, n.find(".lora_A.") != std::string::npos ? 0 : 1));
  core::LoraConfig lc = two.lora;
  lc.rank *= 2;  // alpha unchanged: half the scale
  core::save_peft_adapter(file("wide"), core::Adapter(wide), lc, two.extra);

  const auto ref = scan(
      "scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 5 --space delta -c " + config,
      file("ref-delta.h5"));
  const auto mixed = scan("scan line --from " + file("r1") + " --to " + file("wide") +
                              " -n 5 --space delta -c " + config,
                          file("mixed-delta.h5"));
  ASSERT_EQ(mixed.values.size(), ref.values.size());
  for (size_t k = 0; k < ref.values.size(); ++k)
    EXPECT_NEAR(mixed.values[k], ref.values[k], 1e-4 * (1 + std::abs(ref.values[k]))) << k;
  const auto r = run("scan line --from " + file("r1") + " --to " + file("wide") + " -c " + config +
                     " --out " + file("mixed-factors.h5"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("--space delta"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(file("mixed-factors.h5")));
  const auto plane = scan("scan plane --through " + file("r1") + "," + file("wide") + "," + h5 +
                              ":seq/2 --grid 3x3 --space delta -c " + config,
                          file("mixed-plane.h5"));
  EXPECT_TRUE(plane.complete());
}

TEST_F(CliScans, TwoWorkerThreadsGiveTheOneThreadArrays) {
  const std::string args =
      "scan plane --through " + h5 + ":seq/1," + h5 + ":seq/2," + h5 + ":er/2 --grid 3x3";
  const auto one = scan(args + " --set threads=1", file("w1.h5"));
  const auto two = scan(args + " --set threads=2", file("w2.h5"));
  EXPECT_TRUE(same_bits(two.values, one.values));
}

TEST_F(CliScans, MpiRanksGiveTheSingleProcessArrays) {
  const std::string mpirun = mpirun_2();
  if (mpirun.empty()) GTEST_SKIP() << "built without MPI, or mpirun not found";
  const std::string args =
      "scan line --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 7 --range -0.5,1.5";
  const auto one = scan(args, file("mpi-1.h5"));
  auto r = run_cli("-q " + args + " --out " + file("mpi-2.h5"), cache, mpirun);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto two = store::read_scan_file(file("mpi-2.h5"));
  ASSERT_TRUE(two.complete());
  EXPECT_TRUE(same_bits(two.values, one.values));
  EXPECT_TRUE(same_bits(two.extras.at("barrier").values, one.extras.at("barrier").values));
  // A curve: rank 0 trains the bends, both ranks evaluate.
  const std::string curve =
      "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 5 --epochs 1 --batch 16";
  const auto c1 = scan(curve, file("mpi-c1.h5"));
  r = run_cli("-q " + curve + " --out " + file("mpi-c2.h5"), cache, mpirun);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto c2 = store::read_scan_file(file("mpi-c2.h5"));
  EXPECT_TRUE(same_bits(c2.values, c1.values));
  EXPECT_TRUE(
      same_bits(c2.extras.at("control_points").values, c1.extras.at("control_points").values));
}

// A point's values do not depend on the points evaluated with it (issue 13), on a model as
// wide as the default one, where a change in the order of a sum shows: any --points-per-batch,
// shards whose last forward holds a single point, and MPI ranks give the arrays of the default
// single-process scan, bit for bit.
TEST_F(CliScans, PointsPerBatchShardsAndMpiRanksGiveTheSingleProcessArrays) {
  std::string toml = test::tiny_run_toml();
  const std::string tiny_model = "[model]\nd_model = 32\nn_layers = 1\nn_heads = 2\nd_ff = 64\n";
  ASSERT_NE(toml.find(tiny_model), std::string::npos);
  toml.replace(toml.find(tiny_model), tiny_model.size(),
               "[model]\nd_model = 128\nn_layers = 1\nn_heads = 4\nd_ff = 344\n");
  const std::string out = file("wide-run");
  auto r = run("-q train --config " + tmp->write("wide.toml", toml) + " --set out=" + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string w = out + "/run.h5";
  const std::string line =
      "scan line --from " + w + ":seq/1 --to " + w + ":seq/2 -n 7 --range -0.5,1.5";
  const auto one = scan(line, file("ppb-default.h5"));
  ASSERT_TRUE(one.complete());
  for (int K : {1, 2, 3, 8}) {
    const auto d = scan(line + " --points-per-batch " + std::to_string(K),
                        file("ppb-" + std::to_string(K) + ".h5"));
    EXPECT_TRUE(same_bits(d.values, one.values)) << K << " points per batch";
  }
  // Shard 1/2 holds points 0–3: a forward of three points, then one alone.
  for (const char* s : {"1/2", "2/2"}) {
    r = run("-q " + line + " --points-per-batch 3 --shard " + s + " --out " +
            file(std::string("ppb-shard") + s[0] + ".h5"));
    ASSERT_EQ(r.code, 0) << r.out;
  }
  r = run("merge " + file("ppb-shard1.h5") + " " + file("ppb-shard2.h5") + " --out " +
          file("ppb-merged.h5"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto merged = store::read_scan_file(file("ppb-merged.h5"));
  EXPECT_TRUE(same_bits(merged.values, one.values));
  EXPECT_TRUE(same_bits(merged.extras.at("barrier").values, one.extras.at("barrier").values));
  const std::string mpirun = mpirun_2();
  if (mpirun.empty()) GTEST_SKIP() << "built without MPI, or mpirun not found";
  r = run_cli("-q " + line + " --points-per-batch 3 --out " + file("ppb-mpi.h5"), cache, mpirun);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto mpi = store::read_scan_file(file("ppb-mpi.h5"));
  ASSERT_TRUE(mpi.complete());
  EXPECT_TRUE(same_bits(mpi.values, one.values));
}

// `--set eval.*` applies to scans of run references: the run's configuration with the
// override gives what the same settings in a --config file give; 7 examples per task.
TEST_F(CliScans, EvaluationOverridesApplyToRunReferences) {
  const std::string line = "scan line --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 3";
  const auto seven = scan(line + " --set eval.max_examples=7", file("max7.h5"));
  const auto all =
      scan(line, file("max-all.h5"));  // the run's setting: every one of the 20 test examples
  const auto cfg =
      scan(line + " --config " + config + " --set eval.max_examples=7", file("max7-cfg.h5"));
  ASSERT_TRUE(seven.complete() && all.complete() && cfg.complete());
  EXPECT_EQ(nlohmann::json::parse(seven.spec.config_json)["data"]["max_examples"], 7);
  EXPECT_TRUE(same_bits(seven.values, cfg.values));
  EXPECT_FALSE(same_bits(seven.values, all.values));
  // Exact match is a count of the 7 examples.
  for (int64_t p = 0; p < 3; ++p)
    for (size_t t = 0; t < seven.spec.tasks.size(); ++t) {
      const double em = value(seven, p, t, 2) * 7;
      EXPECT_NEAR(em, std::round(em), 1e-9) << p << " " << t;
    }
  // The evaluation split too; a bad override is one line and exit code 2.
  const auto eval = scan(line + " --set eval.split=eval", file("split-eval.h5"));
  EXPECT_EQ(nlohmann::json::parse(eval.spec.config_json)["data"]["split"], "eval");
  EXPECT_FALSE(same_bits(eval.values, all.values));
  const auto bad = run(line + " --set eval.split=nope --out " + file("bad.h5"));
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_EQ(test::count_lines(bad.out), 1u) << bad.out;
}

// On a GPU (skipped without one): a line and a curve in float32 give the CPU's values to float
// rounding, bfloat16 to its precision; training the tiny run there gives the CPU run's
// scores to within what a different summation order makes of a few steps; the benchmarks run.
TEST_F(CliScans, ScansAndTrainingOnTheGpuMatchTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const std::string line =
      "scan line --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 5 --range -0.5,1.5";
  const auto cpu = scan(line, file("cuda-line-cpu.h5"));
  const auto gpu = scan(line + " --device cuda", file("cuda-line-gpu.h5"));
  const auto b16 = scan(line + " --device cuda --dtype bfloat16", file("cuda-line-b16.h5"));
  ASSERT_TRUE(gpu.complete() && b16.complete());
  ASSERT_EQ(gpu.values.size(), cpu.values.size());
  for (size_t i = 0; i < cpu.values.size(); ++i) {
    EXPECT_NEAR(gpu.values[i], cpu.values[i], 1e-4 * std::max(1.0, std::fabs(cpu.values[i]))) << i;
    EXPECT_NEAR(b16.values[i], cpu.values[i], 0.05 * std::max(1.0, std::fabs(cpu.values[i]))) << i;
  }
  const std::string curve =
      "scan curve --from " + h5 + ":seq/1 --to " + h5 + ":er/2 -n 5 --epochs 1 --batch 16";
  const auto ccpu = scan(curve, file("cuda-curve-cpu.h5"));
  const auto cgpu = scan(curve + " --device cuda", file("cuda-curve-gpu.h5"));
  ASSERT_TRUE(cgpu.complete());
  for (size_t i = 0; i < ccpu.values.size(); ++i)
    EXPECT_NEAR(cgpu.values[i], ccpu.values[i], 0.02 * std::max(1.0, std::fabs(ccpu.values[i])))
        << i;

  const std::string cfg = tmp->write("cuda.toml", test::tiny_run_toml());
  for (const char* device : {"cpu", "cuda"}) {
    const auto r = run("-q train --config " + cfg + " --method seq --set out=" +
                       file(std::string("cuda-run-") + device) + " --set device=" + device);
    ASSERT_EQ(r.code, 0) << device << "\n" << r.out;
  }
  const auto rc = store::read_run_file(file("cuda-run-cpu") + "/run.h5");
  const auto rg = store::read_run_file(file("cuda-run-cuda") + "/run.h5");
  const auto& lc = rc.find_method("seq")->R.at("loss");
  const auto& lg = rg.find_method("seq")->R.at("loss");
  for (size_t t = 0; t < lc.size(); ++t)
    for (size_t i = 0; i < lc[t].size(); ++i)
      EXPECT_NEAR(lg[t][i], lc[t][i], 0.05 * lc[t][i]) << t << "," << i;

  for (const std::string bench : {"bench scan --points 3 --eval-seqs 32", "bench train --steps 3"})
    for (const char* dtype : {"float32", "bfloat16"}) {
      const auto r = run(bench + " --d-model 128 --ffn 344 --device cuda --dtype " + dtype);
      EXPECT_EQ(r.code, 0) << bench << " " << dtype << "\n" << r.out;
      EXPECT_NE(r.out.find("\"device\":\"cuda"), std::string::npos) << r.out;
    }
}
