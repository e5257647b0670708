// StabilityView: the plasticity/stability figure (plot/stability.h) of a run file with its
// controls: the score; the stage plot and the trade-off along the selected paths, and the metric
// table (OP, BWT, FWT, forgetting, plasticity, stability) of every method and learner under it.
#pragma once

#include <QString>
#include <memory>
#include <vector>

#include "gui/plot_panel.h"
#include "plot/stability.h"
#include "store/run_file.h"
#include "store/scan_file.h"

class QComboBox;
class QTableWidget;

namespace lorascape::gui {

class StabilityView : public PlotPanel {
  Q_OBJECT
 public:
  using Path = plot::NamedScan;
  explicit StabilityView(QWidget* parent = nullptr);
  void set_run(const QString& label, std::shared_ptr<const store::RunFileData> run);
  // 1-D scans for the trade-off plot (those without a known new task are skipped).
  void set_paths(std::vector<Path> paths);
  void set_score(const QString& score);
  QTableWidget* metrics_table() const { return table_; }
  int path_count() const { return static_cast<int>(paths_.size()); }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return run_ != nullptr; }
  bool can_draw_table() const override { return true; }
  void draw_table(bool on) override;  // the metric table in the figure (for exports)

 private:
  void rebuild();

  QString label_;
  std::shared_ptr<const store::RunFileData> run_;
  std::vector<Path> paths_;
  plot::StabilityFigure figure_;
  QComboBox* score_;
  QTableWidget* table_;
};

}  // namespace lorascape::gui
