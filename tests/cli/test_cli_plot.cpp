// `lorascape plot`: the desktop app's views drawn headless by the CLI (or, in a build without
// the GUI, a one-line refusal with exit code 2).
#include <gtest/gtest.h>

#include <filesystem>

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
