#include "plot/matrix.h"

#include <qcustomplot.h>

#include <cmath>

#include "plot/export.h"
#include "plot/plot_util.h"

namespace lorascape::plot {

QStringList matrix_methods(const store::RunFileData& run) {
  QStringList methods;
  for (const auto& m : run.methods) {
    methods << QString::fromStdString(m.name);
    for (const auto& [key, l] : m.learners) methods << QString::fromStdString(m.name + "/" + key);
  }
  return methods;
}

MatrixFigure prepare_matrix(const store::RunFileData& run, const MatrixOptions& options) {
  MatrixFigure f;
  const QString& name = options.method;
  f.method = name;
  f.score = options.score;
  const std::string score = options.score.toStdString();
  const std::vector<std::vector<double>>* R = nullptr;
  const QString method = name.section('/', 0, 0), learner = name.section('/', 1);
  if (const auto* m = run.find_method(method.toStdString())) {
    if (learner.isEmpty()) {
      if (m->R.count(score)) R = &m->R.at(score);
    } else if (m->learners.count(learner.toStdString())) {
      const auto& l = m->learners.at(learner.toStdString());
      if (l.R.count(score)) R = &l.R.at(score);
    }
  }
  if (!R) return f;
  const int T = static_cast<int>(run.tasks.size());
  for (const auto& t : run.tasks) f.tasks << QString::fromStdString(t);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < T; ++i)
      f.values << ((static_cast<size_t>(t) < R->size() &&
                    static_cast<size_t>(i) < (*R)[static_cast<size_t>(t)].size())
                       ? (*R)[static_cast<size_t>(t)][static_cast<size_t>(i)]
                       : NAN);
  return f;
}

void draw_matrix(QCustomPlot* p, const MatrixFigure& f) {
  if (f.empty()) return clear_plot(p);
  const int T = static_cast<int>(f.tasks.size());
  QStringList rows;
  for (int t = 0; t < T; ++t) rows << QString("after %1").arg(t + 1);
  draw_heat_map(p, f.values, T, T, rows, f.tasks, "stage (trained through task)", "evaluated task",
                f.method + " " + f.score, true, true, 2);
}

QString matrix_csv(const MatrixFigure& f) {
  return f.empty() ? QString() : square_matrix_csv("after_task", f.tasks, f.values);
}

}  // namespace lorascape::plot
