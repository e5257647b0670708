// ValleyView: the valley figure (plot/valley.h) of 1-D scans (lines, curves, sharpness along a
// line) with its controls: the score, the task sets shown, log scale, a curve's straight line;
// a hover read-out and CSV export.
#pragma once

#include <QString>
#include <vector>

#include "gui/plot_panel.h"
#include "plot/valley.h"

class QComboBox;
class QCheckBox;
class QMouseEvent;

namespace lorascape::gui {

class ValleyView : public PlotPanel {
  Q_OBJECT
 public:
  using Entry = plot::NamedScan;
  using Series = plot::ValleySeries;

  explicit ValleyView(QWidget* parent = nullptr);
  // Shows these scans (1-D only; others are skipped), overlaid, the first one annotated.
  void set_scans(std::vector<Entry> scans);
  void set_score(const QString& score);
  void set_task_filter(const QString& filter);  // "all task sets", a task set name, or "mean"
  void set_log_scale(bool on);
  void set_show_line(bool on);  // curves: the straight line at the same t (extras/line_values)
  QString score() const;
  bool log_scale() const;
  // The plotted series: graph k of plot() shows series()[k].
  const std::vector<Series>& series() const { return figure_.series; }
  // The values of every series at the grid t nearest to `t`, as shown under the plot on hover.
  QString readout(double t) const;
  // The barrier annotated on the plot (NaN when none).
  double barrier() const { return figure_.barrier.value; }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return !figure_.series.empty(); }

 private:
  void rebuild();
  void on_mouse_move(QMouseEvent* e);

  std::vector<Entry> scans_;
  plot::ValleyFigure figure_;
  QComboBox* score_;
  QComboBox* filter_;
  QCheckBox* log_;
  QCheckBox* line_;
};

}  // namespace lorascape::gui
