// The files the figures show: run files and scan files read through lorascape_store (no torch,
// no Qt), with the small interpretations every figure shares (which task of a path is the new
// one, short labels for adapter references, the message of the app's error dialog).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/run_file.h"
#include "store/scan_file.h"

namespace lorascape::plot {

// One file opened in the app: a run file or a scan file, read whole.
struct OpenedFile {
  enum class Type { Run, Scan };
  Type type = Type::Run;
  std::string path;
  std::shared_ptr<const store::RunFileData> run;  // Type::Run
  std::shared_ptr<const store::ScanData> scan;    // Type::Scan

  // "run.h5", or "seq-1-2.h5 (line, 9 points)" for a scan.
  std::string label() const;
};

// Reads a run or scan file (whichever its root "format" says). Throws lorascape::Error with a
// one-line message naming the file and what is wrong with it.
OpenedFile open_file(const std::string& path);

// The text of the error dialog for a file that could not be opened: what went wrong, then a
// line saying how to fix it (the store's hint, with extra advice for common cases: a file
// another program holds open for writing (HDF5's "unable to lock file"), a newer format, a
// results.json).
std::string explain_open_error(const std::string& path, const std::string& message);

// Scan files that belong to a run file: the .h5 files in <run's folder>/analysis/ and, other
// than the run file itself, in the run's folder, sorted by name. Only lists; reads nothing.
std::vector<std::string> scans_near(const std::string& run_path);

// "seq/2" for "/a/b/run.h5:seq/2" (and for "run.h5:seq/2/adapter"), "seq/2/fast" for
// "run.h5:seq/2/fast"; a PEFT folder gives
// its last path component. Used for markers, legends and tree labels.
std::string short_ref(const std::string& ref);

// The file name of a path ("/a/b/seq-1-2.h5" -> "seq-1-2.h5").
std::string file_name(const std::string& path);

// The role of each task set of a scan (store/task_roles.h: old, new, future, not-seen, union,
// unknown), in spec.tasks order: the file's text "roles" when it has them. A file written
// before roles were stored gets them derived from its `from`/`to` references where they name
// stages of a run by number and the task sets follow the run's order (as analyse-run's and the
// demo's scans do): tasks before the `from` stage old, up to the `to` stage new, later ones
// future; a `to` stage named by task: that task new; every other task "unknown".
std::vector<std::string> task_roles(const store::ScanData& d);

// Index in spec.tasks of the scan's new task when there is exactly one, else -1.
int new_task_index(const store::ScanData& d);

// The member tasks of the scan's "union": text "union", else the configuration's `union`.
std::vector<std::string> union_members(const store::ScanData& d);

// How a figure names task set `t` of the scan: "arith (new)", "weekday (old)", "copy
// (future)", "caps (not seen)", a task of unknown role by its name; the union as what it holds:
// "union (old tasks)" when its members are exactly the old tasks, "union (all tasks)" when they
// are every task of the scan, else "union (a+b)".
std::string task_set_caption(const store::ScanData& d, size_t t);

// Index of `name` in `list`, or -1.
int index_of(const std::vector<std::string>& list, const std::string& name);

// True for kinds shown as a path (the valley figure) / as a plane (the landscape figure).
bool is_path_kind(const store::ScanData& d);
bool is_plane_kind(const store::ScanData& d);

}  // namespace lorascape::plot
