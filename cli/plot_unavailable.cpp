// `lorascape plot` in a build without Qt (-DLORASCAPE_BUILD_GUI=OFF, no plot/ library): the same
// entry points as plot/plot_command.cpp, saying that figures need the GUI build.
#include "plot/plot_command.h"
#include "plot/report.h"
#include "store/error.h"

namespace lorascape::plot {

const std::vector<std::string>& plot_views() {
  static const std::vector<std::string> v{"valley",    "landscape", "surface",
                                          "stability", "matrix",    "geometry"};
  return v;
}

bool plot_available() {
  return false;
}

std::string render_plot(const PlotRequest&) {
  throw DeviceError(
      "plot: this lorascape was built without the desktop app (LORASCAPE_BUILD_GUI=OFF), which "
      "draws the "
      "figures; rebuild with -DLORASCAPE_BUILD_GUI=ON (Qt6 and QCustomPlot: docs/building.md)");
}

std::string ReportResult::message() const {
  return "wrote " + out;
}

ReportResult write_report(const ReportRequest&) {
  throw DeviceError(
      "report: this lorascape was built without the desktop app (LORASCAPE_BUILD_GUI=OFF), which "
      "draws the figures; rebuild with -DLORASCAPE_BUILD_GUI=ON (Qt6 and QCustomPlot: "
      "docs/building.md)");
}

}  // namespace lorascape::plot
