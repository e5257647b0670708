#include "plot/vtk.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "plot/document.h"
#include "store/error.h"

namespace lorascape::plot {

namespace {
std::string vtk_name(const std::string& s) {
  std::string out;
  for (const char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "_" : out;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

std::string plane_vtk(const store::ScanData& d, const std::string& source,
                      const std::string& version) {
  if (!is_plane_kind(d))
    throw ConfigError(source + ": a " + d.spec.kind +
                      " scan has no plane; VTK export is for plane, random-plane and trajectory "
                      "scans");
  if (!d.complete())
    throw ConfigError(source + ": " + std::to_string(d.num_done()) + " of " +
                      std::to_string(d.num_points()) +
                      " points are done; finish the scan first (run the same command again "
                      "to resume it)");
  for (double v : d.values)
    if (!std::isfinite(v))
      throw ConfigError(source +
                        ": the scan holds non-finite values (a diverged evaluation), which "
                        "VTK files cannot hold; export it as CSV instead (the app's Export data)");
  const auto& xs = d.spec.axes[0];
  const auto& ys = d.spec.axes[1];
  const size_t nx = xs.size(), ny = ys.size();
  std::ostringstream o;
  o << "# vtk DataFile Version 3.0\n";
  std::string header = "lorascape " + (version.empty() ? d.software_version : version) + " " +
                       d.spec.kind + " scan " + std::to_string(nx) + "x" + std::to_string(ny) +
                       " of " + source + " (scan by lorascape " + d.software_version + ")";
  for (char& c : header)
    if (c == '\n' || c == '\r') c = ' ';
  if (header.size() > 255) header.resize(255);
  o << header << "\nASCII\nDATASET RECTILINEAR_GRID\n";
  o << "DIMENSIONS " << nx << " " << ny << " 1\n";
  o << "X_COORDINATES " << nx << " double\n";
  for (size_t i = 0; i < nx; ++i) o << number(xs[i]) << (i + 1 < nx ? " " : "\n");
  o << "Y_COORDINATES " << ny << " double\n";
  for (size_t j = 0; j < ny; ++j) o << number(ys[j]) << (j + 1 < ny ? " " : "\n");
  o << "Z_COORDINATES 1 double\n0\n";
  o << "POINT_DATA " << nx * ny << "\n";
  for (size_t t = 0; t < d.spec.tasks.size(); ++t)
    for (size_t s = 0; s < d.spec.scores.size(); ++s) {
      o << "SCALARS " << vtk_name(d.spec.tasks[t] + "_" + d.spec.scores[s])
        << " double 1\nLOOKUP_TABLE default\n";
      // VTK: x varies fastest; the scan: point i·ny + j is (xs[i], ys[j]).
      for (size_t j = 0; j < ny; ++j)
        for (size_t i = 0; i < nx; ++i)
          o << number(d.values[d.value_index(static_cast<int64_t>(i * ny + j), t, s)])
            << (i + 1 < nx ? " " : "\n");
    }
  return o.str();
}

void write_plane_vtk(const std::string& path, const store::ScanData& d, const std::string& source,
                     const std::string& version) {
  const std::string text = plane_vtk(d, source, version);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f)
    throw FormatError(path +
                      ": cannot write the VTK file; check that the folder exists and is "
                      "writable");
}

}  // namespace lorascape::plot
