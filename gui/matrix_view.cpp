#include "gui/matrix_view.h"

#include <qcustomplot.h>

#include <QComboBox>

#include "plot/plot_util.h"

namespace lorascape::gui {

MatrixView::MatrixView(QWidget* parent) : PlotPanel(parent) {
  method_ = add_combo("method");
  score_ = add_combo("score");
  controls()->addStretch(1);
  connect(method_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  connect(score_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  plot()->setInteractions(QCP::Interactions());
}

void MatrixView::set_run(const QString& label, std::shared_ptr<const store::RunFileData> run) {
  label_ = label;
  run_ = std::move(run);
  refill_combo(method_, run_ ? plot::matrix_methods(*run_) : QStringList());
  refill_combo(score_, run_ ? plot::run_scores(*run_) : QStringList(), "exact_match");
  rebuild();
}

void MatrixView::set_method(const QString& method) {
  const int k = method_->findText(method);
  if (k >= 0) method_->setCurrentIndex(k);
  rebuild();
}

void MatrixView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

QString MatrixView::method() const {
  return method_->currentText();
}

void MatrixView::rebuild() {
  const QString name = method_->currentText();
  figure_ =
      run_ ? plot::prepare_matrix(*run_, {name, score_->currentText()}) : plot::MatrixFigure();
  plot::draw_matrix(plot(), figure_);
  if (figure_.empty()) {
    set_readout(run_ ? "This method has no matrix of this score."
                     : "Select a run file or a method in the tree.");
    return;
  }
  set_readout(QString("R[t][i] of %1: %2 on task i after training through task t (diagonal: the "
                      "task just learned).")
                  .arg(name, score_->currentText()));
}

QString MatrixView::csv() const {
  return plot::matrix_csv(figure_);
}

QString MatrixView::title() const {
  return run_ ? "matrix: " + label_ + " " + method_->currentText() + " (" + score_->currentText() +
                    ")"
              : "matrix";
}

}  // namespace lorascape::gui
