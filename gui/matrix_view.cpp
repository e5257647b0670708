#include "gui/matrix_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <cmath>

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
  QStringList methods, scores;
  if (run_)
    for (const auto& m : run_->methods) {
      methods << QString::fromStdString(m.name);
      for (const auto& [key, l] : m.learners) methods << QString::fromStdString(m.name + "/" + key);
      for (const auto& [s, R] : m.R)
        if (!scores.contains(QString::fromStdString(s))) scores << QString::fromStdString(s);
    }
  refill_combo(method_, methods);
  refill_combo(score_, scores, "exact_match");
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
  values_.clear();
  QCustomPlot* p = plot();
  const QString name = method_->currentText();
  const std::string score = score_->currentText().toStdString();
  const std::vector<std::vector<double>>* R = nullptr;
  if (run_) {
    const QString method = name.section('/', 0, 0), learner = name.section('/', 1);
    if (const auto* m = run_->find_method(method.toStdString())) {
      if (learner.isEmpty()) {
        if (m->R.count(score)) R = &m->R.at(score);
      } else if (m->learners.count(learner.toStdString())) {
        const auto& l = m->learners.at(learner.toStdString());
        if (l.R.count(score)) R = &l.R.at(score);
      }
    }
  }
  if (!R) {
    p->clearPlottables();
    p->clearItems();
    p->replot();
    set_readout(run_ ? "This method has no matrix of this score."
                     : "Select a run file or a method in the tree.");
    return;
  }
  const int T = static_cast<int>(run_->tasks.size());
  QStringList rows, cols;
  for (int t = 0; t < T; ++t) {
    cols << QString::fromStdString(run_->tasks[static_cast<size_t>(t)]);
    rows << QString("after %1").arg(t + 1);
  }
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < T; ++i)
      values_ << ((static_cast<size_t>(t) < R->size() &&
                   static_cast<size_t>(i) < (*R)[static_cast<size_t>(t)].size())
                      ? (*R)[static_cast<size_t>(t)][static_cast<size_t>(i)]
                      : NAN);
  plot::draw_heat_map(p, values_, T, T, rows, cols, "stage (trained through task)",
                      "evaluated task", name + " " + score_->currentText(), true, true,
                      score == "loss" ? 2 : 2);
  plot::apply_plot_theme(p, p->property("lorascape_dark").toBool());
  p->replot();
  set_readout(QString("R[t][i] of %1: %2 on task i after training through task t (diagonal: the "
                      "task just learned).")
                  .arg(name, score_->currentText()));
}

QString MatrixView::csv() const {
  if (values_.isEmpty()) return QString();
  const int T = static_cast<int>(run_->tasks.size());
  QString out = "after_task";
  for (const auto& t : run_->tasks) out += "," + QString::fromStdString(t);
  out += "\n";
  for (int t = 0; t < T; ++t) {
    out += QString::fromStdString(run_->tasks[static_cast<size_t>(t)]);
    for (int i = 0; i < T; ++i) out += "," + QString::number(values_[t * T + i], 'g', 17);
    out += "\n";
  }
  return out;
}

QString MatrixView::title() const {
  return run_ ? "matrix: " + label_ + " " + method_->currentText() + " (" + score_->currentText() +
                    ")"
              : "matrix";
}

}  // namespace lorascape::gui
