// `lorascape plot`: the figures of the app's views (the renderers of plot/) drawn headless into a
// figure file. No Qt in this header, so that the Qt-free CLI can call it; when the CLI is built
// without Qt (LORASCAPE_BUILD_GUI=OFF) it links cli/plot_unavailable.cpp instead, which says so.
#pragma once

#include <string>
#include <vector>

class QCustomPlot;

namespace lorascape::plot {

struct PlotRequest {
  std::vector<std::string> files;  // run or scan files; several 1-D scans are overlaid (valley)
  std::string view;                // valley | landscape | surface | stability | matrix | geometry
  std::string scan;                // with a run file: one of its scans (file name or stem in its
                                   // folder or analysis/ folder, or a path)
  std::string out;                 // FIG.png | FIG.pdf | FIG.svg | PLANE.vtk
  std::string score;   // loss | token_acc | exact_match | lambda_1 …; "" = the view's default
  std::string task;    // landscape/valley: a task set, or "mean"; "" = default
  std::string method;  // matrix: "seq", "ilora/fast"; "" = the first method
  std::string metric;  // geometry: delta_cosine (default), angle_in, …
  std::string module;  // geometry: a module of the scan; "" = all modules
  bool log = false;    // log scale (valley) / log colours (landscape)
  int width = 1200, height = 800;  // pixels
  double dpi = 96;
  std::string format;     // png | pdf | svg | vtk; "" = the suffix of `out`
  std::string style;      // screen (default) | paper: serif 8–10 pt, thinner lines
  std::string title;      // a title above the figure; "" = none
  std::string legend;     // top-right (default) | top-left | bottom-right | bottom-left | none
  std::string cmap;       // landscape, surface: viridis (default) | cividis | magma | gray
  std::string range;      // landscape, surface: the colour range LO:HI; "" = the data's
  int equal_aspect = -1;  // landscape, surface: axes at equal scale: 1 yes, 0 no, -1 default
                          // (yes for planes)
  bool smooth = false;    // landscape: interpolated display of the grid
  std::string version;    // lorascape's version, written into VTK files (the CLI sets it)
  bool table = true;      // stability: the metric table under the legend
  bool band = false;      // valley: the scans (or each run file's --scan) are seeds of one
                          // configuration: mean ± sd per task set
};

// The views `plot` knows, in the order of --help.
const std::vector<std::string>& plot_views();

// True when this build can draw figures (built with Qt: LORASCAPE_BUILD_GUI=ON).
bool plot_available();

// Creates the QApplication of a headless process when none exists (Qt's offscreen platform, Qt's
// desktop warnings silenced); it lives until the process ends.
void ensure_application();

// Draws the figure of the request into `plot` (created by the caller, after a QApplication
// exists), sized for its export (width/dpi × height/dpi inches at layout_dpi()). Returns what was
// drawn, e.g. "1 scan(s), 4 series". The same checks and errors as render_plot. For `--format
// vtk` nothing is drawn: render_plot writes the file.
std::string draw_plot(QCustomPlot* plot, const PlotRequest& request);

// Draws the figure without a display (Qt's offscreen platform, set before the application object
// is created, when none exists yet) and writes it. Returns a one-line description of what was
// written (naming any unreadable file next to a run file that the stability view skipped). Throws
// lorascape::ConfigError for bad options, FormatError for unreadable files, DeviceError when the
// build has no GUI.
std::string render_plot(const PlotRequest& request);

}  // namespace lorascape::plot
