// A plane scan as a legacy VTK file (ASCII RECTILINEAR_GRID) for ParaView and VisIt: the grid's
// coordinates and every task set's every score as POINT_DATA scalars ("loss_union", …). No Qt:
// only the scan file's data.
#pragma once

#include <string>

#include "store/scan_file.h"

namespace lorascape::plot {

// The file's text: "# vtk DataFile Version 3.0", a header line naming the writing lorascape's
// `version` (else the scan's), the scan's kind, grid, source and the version that wrote the scan;
// DATASET RECTILINEAR_GRID with DIMENSIONS nx ny 1, the x and y coordinates of the grid (z = 0),
// then POINT_DATA nx·ny with one SCALARS array per (task set, score), named TASK_SCORE (characters
// other than letters, digits, '-' and '_' as '_'), values in VTK's order (x fastest) with 17
// significant digits. Throws ConfigError for a scan that is not a 2-D plane (plane, random-plane,
// trajectory), one whose points are not all done ("finish it first"), or one with non-finite values
// (VTK's reader cannot read them).
std::string plane_vtk(const store::ScanData& scan, const std::string& source,
                      const std::string& version = "");

// Writes plane_vtk(scan, source) to `path`; FormatError when it cannot.
void write_plane_vtk(const std::string& path, const store::ScanData& scan,
                     const std::string& source, const std::string& version = "");

}  // namespace lorascape::plot
