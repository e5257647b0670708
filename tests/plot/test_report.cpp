// `lorascape report` (plot/report.h): the document of a run and its scans, as PDF pages and as
// HTML with PNG figures, rendered offscreen.
#include <gtest/gtest.h>

#include <QImage>
#include <filesystem>
#include <fstream>
#include <regex>

#include "plot/report.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/plot/plot_fixtures.h"
#include "tests/store/sample_run.h"

namespace fs = std::filesystem;
using namespace lorascape;
using namespace lorascape::plot;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// Pages of a PDF: its page objects ("/Type /Page", not "/Type /Pages").
int pdf_pages(const std::string& pdf) {
  const std::regex page(R"(/Type\s*/Page[^s])");
  return static_cast<int>(
      std::distance(std::sregex_iterator(pdf.begin(), pdf.end(), page), std::sregex_iterator()));
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The sample run with a line, a plane and a geometry scan in analysis/ (SampleFilesTest), plus a
// curve, a trajectory, sharpness at a point and along the line, and two bad .h5 files.
class Report : public test::SampleFilesTest {
 protected:
  static void SetUpTestSuite() {
    test::plot_app();
    write_files("plot-report");
    store::write_scan_file(tmp->file("analysis/curve-seq-1-2.h5"), test::sample_line(run, "curve"));
    store::ScanData traj = test::sample_plane();
    traj.spec.kind = "trajectory";
    store::write_scan_file(tmp->file("analysis/traj.h5"), traj);
    store::ScanData at = test::sample_line(run, "sharpness");
    at.spec.axes = {{0.0}};
    at.spec.scores = {"lambda_1", "lambda_2"};
    at.values.assign(at.spec.tasks.size() * 2, 0.0);
    for (size_t t = 0; t < at.spec.tasks.size(); ++t)
      for (size_t k = 0; k < 2; ++k) at.values[t * 2 + k] = 10.0 * (t + 1) + k;
    at.done = {1};
    at.text.erase("from");
    at.text.erase("to");
    at.text["at"] = run + ":seq/3";
    store::write_scan_file(tmp->file("analysis/sharp-at.h5"), at);
    store::ScanData along = test::sample_line(run, "sharpness");
    along.spec.scores = {"lambda_1", "loss", "token_acc"};
    store::write_scan_file(tmp->file("analysis/sharp-along.h5"), along);
    std::ofstream(tmp->file("analysis/broken.h5"), std::ios::binary) << "\x89HDF\r\n\x1a\n garbage";
    std::ofstream(tmp->file("analysis/zz-text.h5")) << "not hdf5 at all";
  }
};

}  // namespace

TEST_F(Report, HtmlHasEverySectionCaptionAndFigure) {
  ReportRequest r;
  r.run = run;
  r.out = tmp->file("report.html");
  r.generator = "lorascape test";
  const ReportResult res = write_report(r);
  const std::string html = slurp(r.out);
  for (const char* title :
       {"Run run.h5", "Metrics", "Accuracy matrix: seq", "Accuracy matrix: ilora",
        "Accuracy matrix: ilora/fast", "Plasticity and stability", "Scan seq-1-2.h5 (line)",
        "Scan curve-seq-1-2.h5 (curve)", "Scan plane.h5 (plane)", "Scan traj.h5 (trajectory)",
        "Scan geometry.h5 (geometry)", "Scan sharp-at.h5 (sharpness)",
        "Scan sharp-along.h5 (sharpness)", "Skipped: broken.h5", "Skipped: zz-text.h5"}) {
    EXPECT_TRUE(has(res.sections, title)) << title;
    EXPECT_NE(html.find("<h2>" + QString(title).toHtmlEscaped().toStdString() + "</h2>"),
              std::string::npos)
        << title;
  }
  EXPECT_EQ(res.skipped.size(), 2u);
  EXPECT_EQ(res.pages, 0);
  // The configuration and versions.
  EXPECT_NE(html.find("sha256:0123456789abcdef"), std::string::npos);
  EXPECT_NE(html.find("lorascape 0.1.0 (abc1234)"), std::string::npos);
  EXPECT_NE(html.find("lorascape test"), std::string::npos);
  // Captions computed from the files. The line's mean of its two tasks, (weekday + arith) / 2:
  // 1 at t = 0, 3 at t = 1, lowest inside at t = 0.25: (3 + 1 + 0.5·sin(π/4)) / 2.
  EXPECT_NE(html.find("the mean value is 1.0000 at t = 0 and 3.0000 at t = 1; its best interior "
                      "value is 1.6768 at t* = 0.250: no interior point is better than both ends"),
            std::string::npos);
  EXPECT_NE(html.find("from seq/1 to seq/2 in factors space, 5 points"), std::string::npos);
  // The plane's mean of a and b, (x² + y² + 2x + y + 10) / 2, is lowest (5) at (0, −1).
  EXPECT_NE(html.find("loss of mean on the plane, a 4 × 3 grid"), std::string::npos);
  EXPECT_NE(html.find("lowest 5.0000 at (0.000, -1.000)"), std::string::npos);
  EXPECT_NE(html.find("Only 11 of 12 points are done"), std::string::npos);
  // Sharpness: no barrier; the point's eigenvalues in a table.
  EXPECT_NE(html.find("The top Hessian eigenvalue (lambda_1) along the line"), std::string::npos);
  EXPECT_NE(html.find("<td>21.0000</td>"), std::string::npos);  // lambda_2 of weekday
  EXPECT_NE(html.find("could not be read"), std::string::npos);
  // One PNG per figure: 3 matrices, stability, line, curve, plane, trajectory, geometry, along.
  EXPECT_EQ(res.figures.size(), 10u);
  for (const auto& f : res.figures) {
    ASSERT_TRUE(fs::exists(f)) << f;
    EXPECT_NE(html.find(fs::path(f).parent_path().filename().string() + "/" +
                        fs::path(f).filename().string()),
              std::string::npos)
        << f;
    EXPECT_GT(QImage(QString::fromStdString(f)).width(), 1000) << f;
  }
}

TEST_F(Report, PdfHasAPagePerSectionAtLeast) {
  ReportRequest r;
  r.run = run;
  r.out = tmp->file("report.pdf");
  const ReportResult res = write_report(r);
  const std::string pdf = slurp(r.out);
  ASSERT_EQ(pdf.rfind("%PDF", 0), 0u);
  EXPECT_EQ(pdf_pages(pdf), res.pages);
  EXPECT_GE(res.pages, static_cast<int>(res.sections.size()));
  EXPECT_LE(res.pages, static_cast<int>(res.sections.size()) + 4);
  EXPECT_NE(res.message().find(std::to_string(res.pages) + " pages"), std::string::npos);
}

TEST_F(Report, GivenScansOnlyAndOneTaskRuns) {
  // Only the scans given; a run file among them is refused on its page.
  ReportRequest r;
  r.run = run;
  r.scans = {line, run};
  r.out = tmp->file("given.html");
  ReportResult res = write_report(r);
  EXPECT_TRUE(has(res.sections, "Scan seq-1-2.h5 (line)"));
  EXPECT_FALSE(has(res.sections, "Scan plane.h5 (plane)"));
  EXPECT_TRUE(has(res.sections, "Skipped: run.h5"));

  // A one-task run with one method and no scans.
  test::TempDir one("plot-report-one");
  store::RunFileData d = test::sample_header();
  d.tasks = {"mc"};
  d.methods.push_back(test::sample_method("seq", d.tasks, {"adapter"}, 1));
  const std::string path = one.file("run.h5");
  store::write_run_file(path, d);
  r = {};
  r.run = path;
  r.out = one.file("r.pdf");
  res = write_report(r);
  EXPECT_TRUE(has(res.sections, "Accuracy matrix: seq"));
  EXPECT_TRUE(has(res.sections, "Scans"));  // says that there are none, and how to make them
  EXPECT_EQ(pdf_pages(slurp(r.out)), res.pages);

  // A run with no method yet.
  d.methods.clear();
  store::write_run_file(path, d);
  r.out = one.file("empty.html");
  res = write_report(r);
  EXPECT_NE(slurp(r.out).find("holds no method yet"), std::string::npos);
}

TEST_F(Report, BadOutputsAreRefusedAndNothingIsReplaced) {
  ReportRequest r;
  r.run = run;
  r.out = tmp->file("report.docx");
  EXPECT_THROW(write_report(r), ConfigError);
  const std::string before = slurp(run);
  r.out = run;  // the input itself
  EXPECT_THROW(write_report(r), ConfigError);
  r.out = plane + ".pdf";
  fs::copy_file(plane, r.out);  // an HDF5 file named .pdf
  EXPECT_THROW(write_report(r), ConfigError);
  EXPECT_EQ(slurp(run), before);
  r.out = tmp->file("no/such/folder/r.pdf");
  EXPECT_THROW(write_report(r), FormatError);
  r.run = line;  // a scan file is not a run file
  r.out = tmp->file("x.pdf");
  EXPECT_THROW(write_report(r), ConfigError);
  r.run = run;
  r.score = "bleu";
  EXPECT_THROW(write_report(r), ConfigError);
}
