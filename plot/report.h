// `lorascape report`: one document per run file that a researcher can read or attach. The
// configuration and versions, the metric table of every method and learner, each method's
// accuracy matrix, plasticity/stability, and one page per scan file (given, or found next to the
// run) with its figure and a caption generated from the file. The figures are drawn by the
// renderers of the app's views (plot/valley.h, landscape.h, matrix.h, stability.h, geometry.h);
// this file only lays them out. No Qt in this header, so that the Qt-free CLI can call it (a
// build without Qt links cli/plot_unavailable.cpp, which says so).
#pragma once

#include <string>
#include <vector>

namespace lorascape::plot {

struct ReportRequest {
  std::string run;                 // the run file
  std::vector<std::string> scans;  // scan files; none given: the run's (scans_near)
  std::string out;                 // REPORT.pdf, or REPORT.html with its figures in REPORT_files/
  std::string score;               // the run's score for matrices and stability; "" = exact_match
  std::string generator;           // what writes the report, e.g. "lorascape 0.1.0"
};

struct ReportResult {
  std::string out;
  int pages = 0;                      // pages of a PDF (0 for HTML)
  std::vector<std::string> sections;  // the section titles, in order
  std::vector<std::string> figures;   // HTML: the PNG files written next to it
  std::vector<std::string> skipped;   // files that could not be read: "FILE: why"

  // "wrote report.pdf (12 pages: 9 sections, 1 file skipped)".
  std::string message() const;
};

// Writes the report (the format by the suffix: .pdf or .html), atomically: a file that was there
// is replaced only by a complete report. A scan file that cannot be read (broken, foreign, not a
// scan) gets a section saying why and is skipped, never fatal. Throws lorascape::ConfigError for
// a bad --out (another suffix, an input's path, an HDF5 file), FormatError when the run file
// cannot be read or the report cannot be written.
ReportResult write_report(const ReportRequest& request);

}  // namespace lorascape::plot
