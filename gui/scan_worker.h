// ScanWorker: runs one scan (line, curve or plane) with the same engine as `lorascape scan`
// (lorascape_analysis) in a worker thread, reporting progress and honouring Cancel between
// batches of points. A cancelled scan is a partial scan file that resumes like a killed one.
// This header is torch-free: the request is a plain struct.
#pragma once

#include <QObject>
#include <QString>
#include <atomic>
#include <string>
#include <vector>

namespace lorascape::gui {

struct ScanRequest {
  std::string kind = "line";  // line | curve | plane
  std::vector<std::string>
      refs;         // line/curve: from, to; plane: X, Y, Z (RUN.h5:METHOD/STAGE[/KEY])
  std::string out;  // the scan file (resumed when it holds the same scan)
  std::string space = "factors";     // factors | delta
  int points = 11;                   // line/curve: points of t
  int nx = 11, ny = 11;              // plane: grid
  double margin = 0.2;               // plane: margin around the anchors
  std::vector<std::string> project;  // plane: adapters (patterns) to project, e.g. "RUN.h5:*"
  int epochs = 1;                    // curve: training epochs of the bend
  int64_t max_examples = 40;         // examples per task at each point; 0 = the run's setting
  bool with_union = true;            // also the pooled task set "union" of all evaluated tasks
};

// The `lorascape scan …` command that computes the same scan (recorded in the file, so that
// the scan can be resumed or repeated from the command line). `tasks`: the run's tasks, which a
// scan with the union evaluates and pools (--tasks and --union name them).
std::string scan_command_line(const ScanRequest& r, const std::vector<std::string>& tasks = {});

class ScanWorker : public QObject {
  Q_OBJECT
 public:
  explicit ScanWorker(ScanRequest request, QObject* parent = nullptr);
  const ScanRequest& request() const { return request_; }
  // Thread-safe: the scan stops before its next batch of points (a curve's training: before
  // its next step).
  void cancel() { cancelled_ = true; }

 public slots:
  // Runs the scan in the calling thread (the worker thread); emits finished() at the end.
  void run();

 signals:
  void progress(qint64 done, qint64 total);
  // A curve's bend training: `step` of `steps` done.
  void training(qint64 step, qint64 steps);
  // `error` is empty on success; `complete` false when cancelled (a partial, resumable file).
  void finished(const QString& out, bool complete, const QString& error);

 private:
  ScanRequest request_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace lorascape::gui
