// ValleyView: 1-D scans (lines, curves, sharpness along a line): a score against t, one series
// per task set, the new task (learned at the `to` end) drawn solid and bold, the old tasks
// dashed, the pooled "union" and the mean of the tasks; endpoint markers, the barrier of the
// first scan, log scale, overlay of several scans, a hover read-out and CSV export.
#pragma once

#include <QString>
#include <QVector>
#include <memory>
#include <vector>

#include "gui/plot_panel.h"
#include "store/scan_file.h"

class QComboBox;
class QCheckBox;
class QMouseEvent;

namespace lorascape::gui {

class ValleyView : public PlotPanel {
  Q_OBJECT
 public:
  struct Entry {
    QString label;  // legend prefix when several scans are overlaid (e.g. the file name)
    std::shared_ptr<const store::ScanData> scan;
  };
  // One plotted series: graph k of plot() shows series()[k].
  struct Series {
    QString name;
    int scan = 0;   // index into the entries
    int task = -1;  // task set index in the scan; -1 = mean of the tasks
    QString role;   // "new", "old", "union", "mean", "task" (no known new task), "line"
    QVector<double> t, v;
  };

  explicit ValleyView(QWidget* parent = nullptr);
  // Shows these scans (1-D only; others are skipped), overlaid, the first one annotated.
  void set_scans(std::vector<Entry> scans);
  void set_score(const QString& score);
  void set_task_filter(const QString& filter);  // "all tasks", a task set name, or "mean"
  void set_log_scale(bool on);
  void set_show_line(bool on);  // curves: the straight line at the same t (extras/line_values)
  QString score() const;
  bool log_scale() const;
  const std::vector<Series>& series() const { return series_; }
  // The values of every series at the grid t nearest to `t`, as shown under the plot on hover.
  QString readout(double t) const;
  // The barrier annotated on the plot (NaN when none) and the series it belongs to.
  double barrier() const { return barrier_; }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return !series_.empty(); }

 private:
  void rebuild();
  void on_mouse_move(QMouseEvent* e);

  std::vector<Entry> scans_;
  std::vector<Series> series_;
  QComboBox* score_;
  QComboBox* filter_;
  QCheckBox* log_;
  QCheckBox* line_;
  double barrier_ = 0;
};

}  // namespace lorascape::gui
