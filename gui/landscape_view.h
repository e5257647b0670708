// LandscapeView: the landscape figure (plot/landscape.h) of a 2-D scan (plane, random-plane,
// trajectory) with its controls: the task set (or the mean of the tasks), the score, log
// colours, contour lines and their number, the markers' labels; a hover read-out and CSV export.
#pragma once

#include <QString>
#include <memory>
#include <vector>

#include "gui/plot_panel.h"
#include "plot/landscape.h"
#include "store/scan_file.h"

class QComboBox;
class QCheckBox;
class QSpinBox;
class QMouseEvent;
class QCPColorMap;

namespace lorascape::gui {

class LandscapeView : public PlotPanel {
  Q_OBJECT
 public:
  explicit LandscapeView(QWidget* parent = nullptr);
  // Shows a 2-D scan (others are refused: nothing shown).
  void set_scan(const QString& label, std::shared_ptr<const store::ScanData> scan);
  void set_task(const QString& task_set);  // a task set of the scan, or "mean"
  void set_score(const QString& score);
  void set_log_colors(bool on);
  void set_contours(bool on, int levels = 10);
  // Redraws the figure at its own ranges (View → Reset zoom), keeping every control as it is.
  void reset_view() { rebuild(); }
  bool log_colors() const;
  bool contours() const;  // the contour lines' check box

  QCPColorMap* color_map() const { return map_; }
  // The field shown: z[i·ny + j] at (xs[i], ys[j]), NaN where not done.
  const std::vector<double>& field() const { return figure_.z; }
  // Number of contour levels drawn (levels with at least one line).
  int contour_levels_drawn() const { return figure_.levels_drawn; }
  // Number of labelled markers (anchors, projected adapters, trajectory points).
  int marker_count() const { return figure_.marker_count(); }
  QString readout(double x, double y) const;

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return scan_ != nullptr; }

 private:
  void rebuild();
  void on_mouse_move(QMouseEvent* e);

  QString label_;
  std::shared_ptr<const store::ScanData> scan_;
  plot::LandscapeFigure figure_;
  QComboBox* task_;
  QComboBox* score_;
  QCheckBox* log_;
  QCheckBox* contours_;
  QCheckBox* labels_;
  QSpinBox* levels_;
  QCPColorMap* map_ = nullptr;
};

}  // namespace lorascape::gui
