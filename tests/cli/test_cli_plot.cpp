// `lorascape plot`: the desktop app's views drawn headless by the CLI (or, in a build without
// the GUI, a one-line refusal with exit code 2).
#include <H5Cpp.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
using namespace lorascape;

namespace {
store::ScanData small_line() {
  store::ScanSpec spec;
  spec.kind = "line";
  spec.config_json = R"({"kind":"line"})";
  spec.tasks = {"a", "b"};
  spec.scores = {"loss", "exact_match"};
  spec.axes = {{0.0, 0.5, 1.0}};
  store::ScanData d = store::new_scan(spec, {}, "test", "test");
  for (int64_t p = 0; p < 3; ++p) {
    for (size_t k = 0; k < 4; ++k)
      d.values[static_cast<size_t>(p) * 4 + k] = 1.0 + static_cast<double>(p * 4 + k);
    d.done[static_cast<size_t>(p)] = 1;
  }
  d.text["from"] = "run.h5:seq/1";
  d.text["to"] = "run.h5:seq/2";
  return d;
}
}  // namespace

// A malformed .h5 next to a run file (garbage bytes, or an HDF5 file that is no readable scan)
// does not stop `plot RUN.h5 --view stability`: the figure is drawn and the skip is named (issue
// 18: one such neighbour made plot fail with bad_alloc).
TEST(CliPlot, StabilitySkipsAMalformedNeighbourAndSaysSo) {
  test::TempDir tmp("cli-plot-neighbour");
  store::RunFileData run;
  run.software_version = "test";
  run.created = "2024-01-01T00:00:00Z";
  run.config_json = "{}";
  run.tasks = {"a", "b"};
  run.lora_rank = 2;
  run.lora_alpha = 4;
  run.lora_targets = {"q_proj"};
  store::MethodData m;
  m.name = "seq";
  m.config_json = "{}";
  for (const char* score : {"exact_match", "token_acc", "loss"}) {
    m.R[score] = {{0.9, 0.1}, {0.4, 0.8}};
    m.base[score] = {0.0, 0.0};
  }
  for (int t = 0; t < 2; ++t) {
    store::StageData st;
    st.stage = t;
    st.task = run.tasks[static_cast<size_t>(t)];
    st.adapters["adapter"].tensors.push_back({"x.lora_A.weight", {2, 2}, {1, 2, 3, 4}});
    m.stages.push_back(st);
  }
  run.methods.push_back(m);
  const std::string path = tmp.file("run.h5");
  store::write_run_file(path, run);
  tmp.write("junk.h5", "not an HDF5 file at all");
  {
    // An HDF5 file that claims to be a scan and holds nothing else.
    H5::H5File f(tmp.file("broken-scan.h5"), H5F_ACC_TRUNC);
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    const char* format = "lorascape-scan";
    f.createAttribute("format", type, H5::DataSpace(H5S_SCALAR)).write(type, &format);
  }
  const std::string out = tmp.file("stability.png");
  auto r = test::run_cli("plot " + path + " --view stability --out " + out, tmp.file("cache"));
  if (r.code == 2 && r.out.find("built without the desktop app") != std::string::npos)
    GTEST_SKIP() << "built without the GUI: " << r.out;
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(r.out.find("skipped unreadable broken-scan.h5, junk.h5"), std::string::npos) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
}

TEST(CliPlot, WritesTheFigureOrSaysWhy) {
  test::TempDir tmp("cli-plot");
  const std::string scan = tmp.file("line.h5");
  store::write_scan_file(scan, small_line());
  const std::string out = tmp.file("valley.png");
  auto r =
      test::run_cli("plot " + scan + " --view valley --out " + out + " --width 400 --height 300",
                    tmp.file("cache"));
  if (r.code == 2 && r.out.find("built without the desktop app") != std::string::npos)
    GTEST_SKIP() << "built without the GUI: " << r.out;
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_GT(fs::file_size(out), 500u);
  // PDF and SVG by suffix.
  for (const char* ext : {"pdf", "svg"}) {
    const std::string f = tmp.file(std::string("valley.") + ext);
    r = test::run_cli("plot " + scan + " -v valley -o " + f + " --score exact_match --log",
                      tmp.file("cache"));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_GT(fs::file_size(f), 500u);
  }
  // Errors: one line, exit 2, nothing written.
  const std::string junk = tmp.write("junk.h5", "not hdf5");
  r = test::run_cli("plot " + junk + " --view valley --out " + tmp.file("x.png"),
                    tmp.file("cache"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("not an HDF5 file"), std::string::npos) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
  r = test::run_cli("plot " + scan + " --view landscape --out " + tmp.file("x.png"),
                    tmp.file("cache"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("needs a 2-D scan"), std::string::npos) << r.out;
  r = test::run_cli("plot " + scan + " --view valley --out " + tmp.file("x.bmp"),
                    tmp.file("cache"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(tmp.file("x.png")));
  EXPECT_FALSE(fs::exists(tmp.file("x.bmp")));
}

// `lorascape report --analyse`: analyse-run's lines written next to a copy of the shared run,
// then the report of the run and those scans; a second run resumes (reuses) the scans.
TEST(CliPlot, ReportAnalysesTheRunAndReportsItsScans) {
  const auto& shared = test::shared_cli_run();
  test::TempDir tmp("cli-report");
  const std::string run = tmp.file("run.h5");
  fs::copy_file(shared.h5, run);
  const std::string out = tmp.file("report.html");
  auto r = test::run_cli("report " + run + " --analyse --points 3 --out " + out, shared.cache);
  if (r.code == 2 && r.out.find("built without the desktop app") != std::string::npos)
    GTEST_SKIP() << "built without the GUI: " << r.out;
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(tmp.file("analysis/seq-1-2.h5"))) << r.out;
  EXPECT_TRUE(fs::exists(tmp.file("analysis/er-1-2.h5"))) << r.out;
  EXPECT_NE(r.out.find("no plane"), std::string::npos) << r.out;  // two methods, two stages
  const std::string html = test::slurp(out);
  for (const char* s :
       {"<h2>Metrics</h2>", "<h2>Accuracy matrix: er</h2>", "<h2>Scan seq-1-2.h5 (line)</h2>",
        "<h2>Scan er-1-2.h5 (line)</h2>", "along the line from seq/1 to seq/2"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  // Again: the scans are complete and reused; the PDF.
  r = test::run_cli("report " + run + " --analyse --points 3 --out " + tmp.file("r.pdf"),
                    shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pages"), std::string::npos) << r.out;
  // Bad output: one line, exit 2.
  r = test::run_cli("report " + run + " --out " + tmp.file("r.txt"), shared.cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
}
