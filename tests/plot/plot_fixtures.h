// Shared by the plot/ tests (and the GUI tests): one QApplication on Qt's offscreen platform,
// small scan data made with lorascape_store, and a test suite over files of it.
#pragma once

#include <gtest/gtest.h>

#include <QApplication>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

namespace lorascape::test {

// The application every drawing test uses (created on first use, headless unless the caller chose
// a platform).
inline QApplication* plot_app() {
  static QApplication* app = [] {
    if (!qEnvironmentVariableIsSet("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "lorascape-test";
    static char* argv[] = {name, nullptr};
    return new QApplication(argc, argv);
  }();
  return app;
}

// A complete line scan over t = 0, 0.25, …, 1 between seq/1 and seq/2 of `run`, task sets
// (weekday, arith, union), scores (loss, token_acc, exact_match); value(p, t, s) =
// 1 + p + 10·t + 100·s, except the loss of arith, which has a bump in the middle.
inline double line_value(int64_t p, size_t t, size_t s) {
  if (t == 1 && s == 0) return 1.0 + 0.5 * std::sin(M_PI * static_cast<double>(p) / 4.0);
  return 1.0 + static_cast<double>(p) + 10.0 * static_cast<double>(t) +
         100.0 * static_cast<double>(s);
}

inline store::ScanData sample_line(const std::string& run = "run.h5",
                                   const std::string& kind = "line") {
  store::ScanSpec spec;
  spec.kind = kind;
  spec.config_json =
      R"({"adapters":[")" + run + R"(:seq/1",")" + run + R"(:seq/2"],"kind":")" + kind + R"("})";
  spec.tasks = {"weekday", "arith", "union"};
  spec.scores = {"loss", "token_acc", "exact_match"};
  spec.axes = {{0.0, 0.25, 0.5, 0.75, 1.0}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  for (int64_t p = 0; p < 5; ++p) {
    for (size_t t = 0; t < 3; ++t)
      for (size_t s = 0; s < 3; ++s) d.values[d.value_index(p, t, s)] = line_value(p, t, s);
    d.done[static_cast<size_t>(p)] = 1;
  }
  d.text["from"] = run + ":seq/1";
  d.text["to"] = run + ":seq/2";
  d.text["space"] = "factors";
  return d;
}

// A 4 x 3 plane (xs = 0, 1, 2, 3; ys = -1, 0, 1), task sets (a, b), one score "loss":
// loss of a at (x, y) = x² + y², of b = 2x + y + 10; the point (3, 1) is not done.
inline store::ScanData sample_plane() {
  store::ScanSpec spec;
  spec.kind = "plane";
  spec.config_json = R"({"kind":"plane"})";
  spec.tasks = {"a", "b"};
  spec.scores = {"loss"};
  spec.axes = {{0, 1, 2, 3}, {-1, 0, 1}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 3; ++j) {
      const auto p = static_cast<int64_t>(i * 3 + j);
      if (i == 3 && j == 2) continue;
      const double x = spec.axes[0][i], y = spec.axes[1][j];
      d.values[d.value_index(p, 0, 0)] = x * x + y * y;
      d.values[d.value_index(p, 1, 0)] = 2 * x + y + 10;
      d.done[static_cast<size_t>(p)] = 1;
    }
  d.extras["anchors"] = {{3, 2}, {0, 0, 2, 0, 1, 1}};
  d.text["anchor_labels"] = "run.h5:seq/3\nrun.h5:er/3\nrun.h5:ilora/3";
  d.extras["projected"] = {{2, 3}, {0.5, 0.5, 0.01, 1.5, -0.5, 0.2}};
  d.text["projected_labels"] = "run.h5:seq/1\nrun.h5:seq/2";
  return d;
}

// A geometry scan of three adapters: delta_cosine[i][j] = 1 - 0.1·|i - j|.
inline store::ScanData sample_geometry() {
  store::ScanSpec spec;
  spec.kind = "geometry";
  spec.config_json = R"({"kind":"geometry"})";
  spec.tasks = {"overall"};
  spec.scores = {"factor_norm", "delta_norm"};
  spec.axes = {{0, 1, 2}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  for (int64_t p = 0; p < 3; ++p) {
    d.values[d.value_index(p, 0, 0)] = 1.0 + static_cast<double>(p);
    d.values[d.value_index(p, 0, 1)] = 2.0 + static_cast<double>(p);
    d.done[static_cast<size_t>(p)] = 1;
  }
  store::ScanArray cos{{3, 3}, {}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) cos.values.push_back(1.0 - 0.1 * std::abs(i - j));
  d.extras["delta_cosine"] = cos;
  d.text["labels"] = "run.h5:seq/1\nrun.h5:seq/2\nrun.h5:er/2";
  d.text["modules"] = "model.layers.0.self_attn.q_proj";
  return d;
}

// A test suite over files written once per test binary (write_files, from SetUpTestSuite):
// run.h5 (sample_run: seq and ilora over mc, arith, strings) with analysis/seq-1-2.h5
// (sample_line between its stages 1 and 2), analysis/plane.h5 and analysis/geometry.h5 next to
// it, in the temporary folder `tmp`.
class SampleFilesTest : public ::testing::Test {
 protected:
  static void write_files(const std::string& tag) {
    tmp = new TempDir(tag);
    run = tmp->file("run.h5");
    store::write_run_file(run, sample_run());
    std::filesystem::create_directories(tmp->file("analysis"));
    line = tmp->file("analysis/seq-1-2.h5");
    store::write_scan_file(line, sample_line(run));
    plane = tmp->file("analysis/plane.h5");
    store::write_scan_file(plane, sample_plane());
    geo = tmp->file("analysis/geometry.h5");
    store::write_scan_file(geo, sample_geometry());
  }
  static void TearDownTestSuite() {
    delete tmp;
    tmp = nullptr;
  }
  static inline TempDir* tmp = nullptr;
  static inline std::string run, line, plane, geo;
};

}  // namespace lorascape::test
