// ScanDialog: "Analysis → New scan…": pick the kind (line, curve, plane), the adapters (two
// endpoints, or three for a plane), points or grid, the space and the evaluation subset; the
// scan runs in a worker thread (ScanWorker) with a progress bar and Cancel, writes its file with
// the same engine as the CLI, and scan_finished() tells the window to show the new scan.
#pragma once

#include <QDialog>
#include <QString>
#include <QStringList>

#include "gui/scan_worker.h"

class QComboBox;
class QSpinBox;
class QDoubleSpinBox;
class QProgressBar;
class QPushButton;
class QLabel;
class QLineEdit;
class QThread;
class QCheckBox;

namespace lorascape::gui {

class ScanDialog : public QDialog {
  Q_OBJECT
 public:
  // `adapters`: the references offered (RUN.h5:METHOD/STAGE/KEY); `selected`: preselected ones
  // (the tree's selection), in order.
  ScanDialog(const QStringList& adapters, const QStringList& selected, QWidget* parent = nullptr);
  ~ScanDialog() override;

  // The request the dialog's fields describe.
  ScanRequest request() const;
  // Field setters, for tests and for callers that prefill the dialog.
  void set_kind(const QString& kind);
  void set_points(int n);
  void set_grid(int nx, int ny);
  void set_max_examples(int n);
  void set_out(const QString& path);
  bool running() const { return thread_ != nullptr; }

 public slots:
  // Starts the scan (the "Run" button); refuses with a message when the fields are incomplete.
  void start();
  // Asks the running scan to stop after its current batch of points.
  void cancel_scan();

 signals:
  // The scan ended: the file at `path` holds it (complete, or partial after Cancel); error is
  // empty on success.
  void scan_finished(const QString& path, bool complete, const QString& error);

 protected:
  void reject() override;

 private:
  void update_fields();
  void suggest_out();
  void on_finished(const QString& out, bool complete, const QString& error);

  QComboBox* kind_;
  QComboBox* refs_[3];
  QLabel* ref_labels_[3];
  QSpinBox* points_;
  QSpinBox* nx_;
  QSpinBox* ny_;
  QSpinBox* examples_;
  QSpinBox* epochs_;
  QComboBox* space_;
  QCheckBox* project_;
  QLineEdit* out_;
  QProgressBar* progress_;
  QLabel* status_;
  QPushButton* run_;
  QPushButton* cancel_;
  QThread* thread_ = nullptr;
  ScanWorker* worker_ = nullptr;
  bool out_edited_ = false;
};

}  // namespace lorascape::gui
