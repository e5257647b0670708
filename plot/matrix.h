// The accuracy-matrix figure: R[t][i] of one method (or one of its learners) of a run file as an
// annotated heat map, row t = after training through task t, column i = task i.
// prepare_matrix picks the numbers (no drawing); draw_matrix draws them into a QCustomPlot.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

#include "store/run_file.h"

class QCustomPlot;

namespace lorascape::plot {

struct MatrixOptions {
  QString method;  // "seq", or "ilora/fast" for a learner
  QString score;   // "exact_match", "loss", …
};

struct MatrixFigure {
  QString method;  // "seq", or "ilora/fast" for a learner
  QString score;
  QStringList tasks;       // the columns; the rows are "after 1", "after 2", …
  QVector<double> values;  // T·T row-major, NaN where missing; empty: no such matrix

  bool empty() const { return values.isEmpty(); }
};

// The methods and their learners ("seq", "ilora", "ilora/fast"): the figure's choices.
QStringList matrix_methods(const store::RunFileData& run);

// R of the method ("METHOD" or "METHOD/LEARNER") for the score; empty when the run has no such
// matrix.
MatrixFigure prepare_matrix(const store::RunFileData& run, const MatrixOptions& options);

// Draws the figure into `plot` (cleared for an empty one) and replots.
void draw_matrix(QCustomPlot* plot, const MatrixFigure& figure);

// The matrix as CSV: after_task,TASK…, one row per stage named by its task; empty for an empty
// figure.
QString matrix_csv(const MatrixFigure& figure);

}  // namespace lorascape::plot
