// PlotPanel: the frame of every view: a row of controls, the plot, and a read-out line under
// it (hover values, notes). Views derive from it and fill the controls row.
#pragma once

#include <QString>
#include <QWidget>

class QCustomPlot;
class QHBoxLayout;
class QLabel;
class QComboBox;
class QCheckBox;

namespace lorascape::gui {

class PlotPanel : public QWidget {
  Q_OBJECT
 public:
  explicit PlotPanel(QWidget* parent = nullptr);
  QCustomPlot* plot() const { return plot_; }
  // The data behind the current figure as CSV (header line first); empty when nothing is shown.
  virtual QString csv() const = 0;
  // A short description of what is shown, for the window's status bar and file names.
  virtual QString title() const = 0;
  // True when the view shows something (exporting an empty view is refused).
  virtual bool has_data() const = 0;
  QString readout_text() const;
  // Figures that can carry their data as a table in an export (the stability view's metric
  // table): whether this one can, and drawing it with or without the table.
  virtual bool can_draw_table() const { return false; }
  virtual void draw_table(bool /*on*/) {}

 signals:
  // The figure was drawn again (after every rebuild, pan or zoom): what title() says may have
  // changed (the window's status bar follows it).
  void redrawn();

 protected:
  QHBoxLayout* controls() const { return controls_; }
  void set_readout(const QString& text);
  // Helpers that add a labelled control to the row.
  QComboBox* add_combo(const QString& label);
  QCheckBox* add_check(const QString& label, bool checked);
  // Follows the application palette (dark/light) on screen.
  void changeEvent(QEvent* e) override;

 private:
  QCustomPlot* plot_;
  QHBoxLayout* controls_;
  QLabel* readout_;
};

// Fills a combo box with `items`, keeping the current text when it is still there (else
// `preferred` when present, else the first), without emitting change signals.
void refill_combo(QComboBox* box, const QStringList& items, const QString& preferred = QString());

}  // namespace lorascape::gui
