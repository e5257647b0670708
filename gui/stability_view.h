// StabilityView: plasticity against stability of every method of a run file. Left: across
// stages t, the score on the task just learned (R[t][t], solid) and the mean score on the
// earlier tasks (mean over i < t of R[t][i], dashed), one colour per method (and learner).
// Right: the trade-off along paths between stages: for each 1-D scan whose new task is known,
// the new task's score against the mean of the old tasks' as t moves from θ₀ to θ₁. Below: the
// metric table (OP, BWT, FWT, forgetting, plasticity, stability) of every method and learner.
#pragma once

#include <QString>
#include <memory>
#include <vector>

#include "gui/plot_panel.h"
#include "store/run_file.h"
#include "store/scan_file.h"

class QComboBox;
class QTableWidget;
class QCPAxisRect;

namespace lorascape::gui {

class StabilityView : public PlotPanel {
  Q_OBJECT
 public:
  struct Path {
    QString label;
    std::shared_ptr<const store::ScanData> scan;
  };
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

 private:
  void rebuild();

  QString label_;
  std::shared_ptr<const store::RunFileData> run_;
  std::vector<Path> paths_;
  QComboBox* score_;
  QTableWidget* table_;
  QCPAxisRect* trade_;
};

}  // namespace lorascape::gui
