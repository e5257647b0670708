#include "gui/stability_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>

#include "plot/plot_util.h"

namespace lorascape::gui {

StabilityView::StabilityView(QWidget* parent) : PlotPanel(parent), table_(new QTableWidget(this)) {
  score_ = add_combo("score");
  controls()->addStretch(1);
  connect(score_, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  static_cast<QVBoxLayout*>(layout())->insertWidget(2, table_);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setMaximumHeight(170);
  table_->verticalHeader()->setVisible(true);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  rebuild();
}

void StabilityView::set_run(const QString& label, std::shared_ptr<const store::RunFileData> run) {
  label_ = label;
  run_ = std::move(run);
  refill_combo(score_, run_ ? plot::run_scores(*run_) : QStringList(), "exact_match");
  rebuild();
}

void StabilityView::set_paths(std::vector<Path> paths) {
  paths_ = plot::trade_off_paths(std::move(paths));
  rebuild();
}

void StabilityView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

void StabilityView::rebuild() {
  figure_ = plot::prepare_stability(run_.get(), paths_, {score_->currentText()});
  plot::draw_stability(plot(), figure_);
  // The metric table.
  const plot::MetricTable& m = figure_.metrics;
  table_->clear();
  table_->setRowCount(0);
  table_->setColumnCount(m.columns.size());
  table_->setHorizontalHeaderLabels(m.columns);
  if (!run_) {
    set_readout("Select a run file (or a method) in the tree.");
    return;
  }
  for (int row = 0; row < m.rows.size(); ++row) {
    table_->insertRow(row);
    table_->setVerticalHeaderItem(row, new QTableWidgetItem(m.rows[row]));
    const QStringList& cells = m.cells[static_cast<size_t>(row)];
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      item->setTextAlignment(Qt::AlignCenter);
      table_->setItem(row, c, item);
    }
  }
  set_readout(QString("%1: %2 methods/learners over %3 tasks; metrics of %4 (docs/metrics.md)")
                  .arg(label_)
                  .arg(m.rows.size())
                  .arg(figure_.tasks.size())
                  .arg(score_->currentText()));
}

void StabilityView::draw_table(bool on) {
  plot::draw_stability(plot(), figure_, on);
}

QString StabilityView::csv() const {
  return plot::stability_csv(figure_);
}

QString StabilityView::title() const {
  return run_ ? "stability: " + label_ + " (" + score_->currentText() + ")" : "stability";
}

}  // namespace lorascape::gui
