// The scan file: one HDF5 file holding one landscape scan (a line, curve, plane, random plane
// or trajectory plane): what identifies the scan (kind, resolved configuration, tasks,
// scores, grid axes), the per-point results with a done mask, and free-form extras (control
// points, projections, loss history, summaries). docs/hdf5-schema.md part II is the
// normative description of the layout; this header is its C++ face. It holds no scan
// algorithm: the analysis engine computes the points, this file keeps them safe so that a
// killed scan resumes where it stopped and shards merge into the full scan.
//
// Sizes used in comments: D = number of grid axes, N_d = points along axis d,
// P = N_0·…·N_{D−1} grid points, T = number of task sets, S = number of scores.
// Point p is the row-major (last axis fastest) index of the grid cell (i_0, …, i_{D−1}):
// for a plane with axes {xs, ys}, p = i·N_1 + j is the point (xs[i], ys[j]).
//
// Errors: problems with a file (missing, damaged, foreign, newer, inconsistent) throw
// lorascape::FormatError; a file that holds a different scan or another shard than asked
// for, bad shard numbers and merge inputs that do not add up throw lorascape::ConfigError.
// Every message is one line that names the file and the object at fault and ends with a
// hint. HDF5's own error printing is switched off in the calling thread. No torch and no Qt
// here: the GUI links this library too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorascape::store {

// Value of the root attribute "format" and the current "format_version". Readers reject a
// file whose format differs or whose version is newer than this.
inline constexpr const char* kScanFileFormat = "lorascape-scan";
inline constexpr int kScanFileFormatVersion = 1;

// Everything that identifies a scan. Two scans are the same scan when all five fields are
// equal: strings byte for byte, axes bit for bit.
struct ScanSpec {
  std::string kind;                       // "line", "curve", "plane", "random-plane", "trajectory"
  std::string config_json;                // the full resolved scan configuration, JSON text;
                                          // must not mention the shard (shards share a spec)
  std::vector<std::string> tasks;         // (T,) evaluated task sets, e.g. "weekday", "union"
  std::vector<std::string> scores;        // (S,) e.g. "loss", "token_acc", "exact_match"
  std::vector<std::vector<double>> axes;  // D axes of N_d coordinates: {ts} for lines,
                                          // {xs, ys} for planes

  // (N_0, …, N_{D−1}).
  std::vector<int64_t> grid_shape() const;
  // P = N_0·…·N_{D−1}, 0 when there are no axes.
  int64_t num_points() const;
};

// Which part of the points a file is responsible for: shard `index` of `count` (1-based)
// holds the points p with p % count == index − 1 (shard_points). 1/1 is the whole scan.
struct Shard {
  int index = 1;
  int count = 1;
  bool operator==(const Shard& o) const { return index == o.index && count == o.count; }
  bool operator!=(const Shard& o) const { return !(*this == o); }
};

// An array of any rank (rank 0 = a scalar), row-major. values.size() == product(shape).
struct ScanArray {
  std::vector<int64_t> shape;
  std::vector<double> values;
};

// Everything in one scan file.
struct ScanData {
  int format_version = kScanFileFormatVersion;  // what the file said; written as current
  ScanSpec spec;
  Shard shard;
  std::string software_version;  // lorascape version that wrote the file
  std::string created;           // ISO 8601 UTC, e.g. "2024-05-01T12:00:00Z"
  std::string command_line;      // the command that started the scan
  // (P, T, S) row-major: values[(p·T + t)·S + s] is score s on task set t at point p. Done
  // points may hold NaN/inf (a diverged evaluation); points not done hold NaN only.
  std::vector<double> values;
  std::vector<uint8_t> done;  // (P,) 1 where point p is computed, else 0
  // Further results by name: control points, projected coordinates, loss history, …
  std::map<std::string, ScanArray> extras;
  // Short texts by name: a summary, the interpolation space ("factors" / "delta"), …
  std::map<std::string, std::string> text;

  int64_t num_points() const { return spec.num_points(); }
  int64_t num_done() const;
  // True when every point of the grid is done.
  bool complete() const;
  // Index into `values` of (point, task set, score).
  size_t value_index(int64_t point, size_t task, size_t score) const {
    return (static_cast<size_t>(point) * spec.tasks.size() + task) * spec.scores.size() + score;
  }
};

// A fresh scan of `spec`: values all NaN, done all 0, `created` = now. Does not validate.
ScanData new_scan(const ScanSpec& spec, const Shard& shard = {},
                  const std::string& software_version = "", const std::string& command_line = "");

// "" when `a` and `b` identify the same scan, otherwise what differs first, e.g.
// "kind is 'line', not 'plane'" or "axis 0 differs at index 3 (0.5 vs 0.52)".
std::string scan_spec_difference(const ScanSpec& a, const ScanSpec& b);

// Writes `d` to `path` (replacing any file there). Validates first and throws before
// touching the file system. Crash-safe: writes the complete file to "<path>.tmp.<pid>",
// flushes, fsyncs and renames it over `path`, so `path` always holds either the old or the
// new complete file. The scan engine calls this to flush its progress: the whole file is
// rewritten each time (scan files are small; the cost grows with P·T·S).
void write_scan_file(const std::string& path, const ScanData& d);

// Reads and validates the whole file. Checks the "format" and "format_version" root
// attributes before anything else. Unknown extra groups/datasets/attributes are ignored.
ScanData read_scan_file(const std::string& path);

// The scan to work on at `path`. When a file exists there, reads it and returns it as it is
// (header, values, done mask, extras, text) to be resumed: it must hold the same scan (kind,
// config_json, tasks, scores, axes) and the same shard, else ConfigError saying what
// differs and to pick another --out or delete the file; a file that is not a readable scan
// file is a FormatError and is never overwritten. Otherwise validates `spec`, writes a new
// scan (new_scan) to `path` and returns it. Not safe against several processes opening the
// same path at once.
ScanData open_or_create_scan(const std::string& path, const ScanSpec& spec, const Shard& shard,
                             const std::string& software_version, const std::string& command_line);

// The points of shard `index` of `count` (1 <= index <= count) of a scan of `num_points`
// points: p = index − 1, index − 1 + count, … (interleaved, so every shard gets a share of
// each region of the grid). ConfigError on bad numbers.
std::vector<int64_t> shard_points(int64_t num_points, int index, int count);

// Combines scan files of the same scan (normally the shard files of one scan, but any
// files of it, e.g. a partial single-process run plus shards) into the full scan:
//  - every input must hold the same scan (scan_spec_difference), else ConfigError naming
//    the file that differs and how;
//  - a point done in several inputs must have bit-identical values in all of them, else
//    ConfigError naming the point and the two files (never a silent choice);
//  - every point must be done in at least one input, else ConfigError saying how many are
//    missing and which shards are absent or unfinished;
//  - extras and text are united; an entry present in several inputs must be identical.
// The result is shard 1/1 and complete; its header (software_version, created,
// command_line) is the first input's, for the caller to update. Reads only; writes nothing.
ScanData merge_scans(const std::vector<std::string>& inputs);

}  // namespace lorascape::store
