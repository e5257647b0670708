// `lorascape plot`: the figures of the app's views (the renderers of plot/) drawn headless into a
// figure file. No Qt in this header, so that the Qt-free CLI can call it; when the CLI is built
// without Qt (LORASCAPE_BUILD_GUI=OFF) it links cli/plot_unavailable.cpp instead, which says so.
#pragma once

#include <string>
#include <vector>

namespace lorascape::plot {

struct PlotRequest {
  std::vector<std::string> files;  // run or scan files; several 1-D scans are overlaid (valley)
  std::string view;                // valley | landscape | stability | matrix | geometry
  std::string scan;                // with a run file: one of its scans (file name or stem in its
                                   // folder or analysis/ folder, or a path)
  std::string out;                 // FIG.png | FIG.pdf | FIG.svg
  std::string score;   // loss | token_acc | exact_match | lambda_1 …; "" = the view's default
  std::string task;    // landscape/valley: a task set, or "mean"; "" = default
  std::string method;  // matrix: "seq", "ilora/fast"; "" = the first method
  std::string metric;  // geometry: delta_cosine (default), angle_in, …
  bool log = false;    // log scale (valley) / log colours (landscape)
  int width = 1200, height = 800;  // pixels
  double dpi = 96;
};

// The views `plot` knows, in the order of --help.
const std::vector<std::string>& plot_views();

// True when this build can draw figures (built with Qt: LORASCAPE_BUILD_GUI=ON).
bool plot_available();

// Creates the QApplication of a headless process when none exists (Qt's offscreen platform, Qt's
// desktop warnings silenced); it lives until the process ends.
void ensure_application();

// Draws the figure without a display (Qt's offscreen platform, set before the application object
// is created, when none exists yet) and writes it. Returns a one-line description of what was
// written (naming any unreadable file next to a run file that the stability view skipped). Throws
// lorascape::ConfigError for bad options, FormatError for unreadable files, DeviceError when the
// build has no GUI.
std::string render_plot(const PlotRequest& request);

}  // namespace lorascape::plot
