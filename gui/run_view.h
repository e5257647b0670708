// RunView: exact match of every task across the stages of one training run (results.json),
// the first view of the desktop app. Reads JSON only (no torch).
#pragma once

#include <QWidget>
#include <QString>

class QCustomPlot;

namespace lorascape::gui {

class RunView : public QWidget {
  Q_OBJECT
 public:
  explicit RunView(QWidget* parent = nullptr);
  // Loads a run's results.json; returns false and sets *error on failure.
  bool load(const QString& path, QString* error);
  QCustomPlot* plot() const { return plot_; }

 private:
  QCustomPlot* plot_;
};

}  // namespace lorascape::gui
