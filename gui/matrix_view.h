// MatrixView: the accuracy-matrix figure (plot/matrix.h) of one method (or one of its learners)
// of a run file, with its controls: the method and the score.
#pragma once

#include <QString>
#include <memory>

#include "gui/plot_panel.h"
#include "plot/matrix.h"
#include "store/run_file.h"

class QComboBox;

namespace lorascape::gui {

class MatrixView : public PlotPanel {
  Q_OBJECT
 public:
  explicit MatrixView(QWidget* parent = nullptr);
  void set_run(const QString& label, std::shared_ptr<const store::RunFileData> run);
  // "seq", or "ilora/fast" for a learner.
  void set_method(const QString& method);
  void set_score(const QString& score);
  QString method() const;
  // The matrix shown, row-major (T·T), NaN where missing.
  const QVector<double>& values() const { return figure_.values; }

  QString csv() const override;
  QString title() const override;
  bool has_data() const override { return run_ != nullptr && !figure_.empty(); }

 private:
  void rebuild();
  QString label_;
  std::shared_ptr<const store::RunFileData> run_;
  plot::MatrixFigure figure_;
  QComboBox* method_;
  QComboBox* score_;
};

}  // namespace lorascape::gui
