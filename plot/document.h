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
// another program holds open for writing, a newer format, a results.json).
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

// Task-set roles along a 1-D scan between two stages: the task learned at the `to` end is
// "new", the other tasks are "old", "union" is the pooled set. new_task_index is the index in
// spec.tasks of the new task, or -1 when the scan does not say (the `to` reference's stage is
// a task name of the scan, or a 1-based stage number n whose task is spec.tasks[n-1], as for
// the scans of analyse-run and the demo, whose task sets follow the run's order).
int new_task_index(const store::ScanData& d);

// Index of `name` in `list`, or -1.
int index_of(const std::vector<std::string>& list, const std::string& name);

// True for kinds shown as a path (the valley figure) / as a plane (the landscape figure).
bool is_path_kind(const store::ScanData& d);
bool is_plane_kind(const store::ScanData& d);

}  // namespace lorascape::plot
