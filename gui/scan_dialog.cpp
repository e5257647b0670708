#include "gui/scan_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

#include "plot/document.h"

namespace lorascape::gui {

ScanDialog::ScanDialog(const QStringList& adapters, const QStringList& selected, QWidget* parent)
    : QDialog(parent) {
  setWindowTitle("New scan");
  auto* form = new QFormLayout;
  kind_ = new QComboBox(this);
  kind_->addItems({"line", "curve", "plane"});
  kind_->setToolTip(
      "line: the straight path between two adapters; curve: a trained Bézier bend between them;\n"
      "plane: the plane through three adapters");
  form->addRow("kind", kind_);
  const char* names[3] = {"from", "to", "third (plane)"};
  for (int k = 0; k < 3; ++k) {
    refs_[k] = new QComboBox(this);
    refs_[k]->addItems(adapters);
    refs_[k]->setEditable(true);
    refs_[k]->setMinimumContentsLength(40);
    if (k < selected.size())
      refs_[k]->setCurrentText(selected[k]);
    else if (adapters.size() > k)
      refs_[k]->setCurrentIndex(k);
    ref_labels_[k] = new QLabel(names[k], this);
    form->addRow(ref_labels_[k], refs_[k]);
  }
  if (selected.size() >= 3) kind_->setCurrentText("plane");
  points_ = new QSpinBox(this);
  points_->setRange(2, 1001);
  points_->setValue(11);
  form->addRow("points of t", points_);
  nx_ = new QSpinBox(this);
  ny_ = new QSpinBox(this);
  for (QSpinBox* b : {nx_, ny_}) b->setRange(2, 201), b->setValue(11);
  auto* grid = new QHBoxLayout;
  grid->addWidget(nx_);
  grid->addWidget(new QLabel("x", this));
  grid->addWidget(ny_);
  form->addRow("grid", grid);
  project_ = new QCheckBox("project every adapter of the run into the plane", this);
  project_->setChecked(true);
  form->addRow("", project_);
  epochs_ = new QSpinBox(this);
  epochs_->setRange(0, 100);
  epochs_->setValue(1);
  form->addRow("curve epochs", epochs_);
  space_ = new QComboBox(this);
  space_->addItems({"factors", "delta"});
  space_->setToolTip(
      "factors: interpolate A and B separately; delta: interpolate ΔW = s·B·A (docs/methods.md)");
  form->addRow("space", space_);
  examples_ = new QSpinBox(this);
  examples_->setRange(0, 100000);
  examples_->setValue(40);
  examples_->setSpecialValueText("the run's setting");
  examples_->setToolTip("examples per task evaluated at each point (fewer = faster)");
  form->addRow("examples per task", examples_);
  out_ = new QLineEdit(this);
  form->addRow("output file", out_);
  progress_ = new QProgressBar(this);
  progress_->setRange(0, 1);
  progress_->setValue(0);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  auto* buttons = new QDialogButtonBox(this);
  run_ = buttons->addButton("Run", QDialogButtonBox::AcceptRole);
  cancel_ = buttons->addButton("Cancel scan", QDialogButtonBox::ActionRole);
  auto* close = buttons->addButton(QDialogButtonBox::Close);
  cancel_->setEnabled(false);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(progress_);
  layout->addWidget(status_);
  layout->addWidget(buttons);
  connect(run_, &QPushButton::clicked, this, &ScanDialog::start);
  connect(cancel_, &QPushButton::clicked, this, &ScanDialog::cancel_scan);
  connect(close, &QPushButton::clicked, this, &ScanDialog::reject);
  connect(kind_, &QComboBox::currentTextChanged, this, [this] { update_fields(); });
  for (QComboBox* r : refs_)
    connect(r, &QComboBox::currentTextChanged, this, [this] { suggest_out(); });
  connect(space_, &QComboBox::currentTextChanged, this, [this] { suggest_out(); });
  connect(out_, &QLineEdit::textEdited, this, [this] { out_edited_ = true; });
  update_fields();
}

ScanDialog::~ScanDialog() {
  if (thread_) {
    worker_->cancel();
    thread_->quit();
    thread_->wait();
  }
}

void ScanDialog::update_fields() {
  const QString k = kind_->currentText();
  const bool plane = k == "plane";
  refs_[2]->setVisible(plane);
  ref_labels_[2]->setVisible(plane);
  points_->setEnabled(!plane);
  nx_->setEnabled(plane);
  ny_->setEnabled(plane);
  project_->setEnabled(plane);
  epochs_->setEnabled(k == "curve");
  suggest_out();
}

void ScanDialog::suggest_out() {
  if (out_edited_) return;
  // <run folder>/analysis/<kind>-<method><stage>-<method><stage>[-…]-<space>.h5
  const QString first = refs_[0]->currentText();
  const int colon = first.lastIndexOf(".h5:");
  const QString dir = colon >= 0 ? QFileInfo(first.left(colon + 3)).absolutePath() + "/analysis"
                                 : QDir::currentPath();
  const int n = kind_->currentText() == "plane" ? 3 : 2;
  QString name = kind_->currentText();
  for (int k = 0; k < n; ++k) {
    QString s = QString::fromStdString(plot::short_ref(refs_[k]->currentText().toStdString()));
    s.replace('/', "");
    name += "-" + s;
  }
  if (space_->currentText() != "factors") name += "-" + space_->currentText();
  out_->setText(dir + "/" + name + ".h5");
}

ScanRequest ScanDialog::request() const {
  ScanRequest r;
  r.kind = kind_->currentText().toStdString();
  const int n = r.kind == "plane" ? 3 : 2;
  for (int k = 0; k < n; ++k) r.refs.push_back(refs_[k]->currentText().trimmed().toStdString());
  r.out = out_->text().trimmed().toStdString();
  r.space = space_->currentText().toStdString();
  r.points = points_->value();
  r.nx = nx_->value();
  r.ny = ny_->value();
  r.epochs = epochs_->value();
  r.max_examples = examples_->value();
  if (r.kind == "plane" && project_->isChecked()) {
    const std::string first = r.refs[0];
    const auto colon = first.rfind(".h5:");
    if (colon != std::string::npos) r.project = {first.substr(0, colon + 3) + ":*"};
  }
  return r;
}

void ScanDialog::set_kind(const QString& kind) {
  kind_->setCurrentText(kind);
}
void ScanDialog::set_points(int n) {
  points_->setValue(n);
}
void ScanDialog::set_grid(int nx, int ny) {
  nx_->setValue(nx), ny_->setValue(ny);
}
void ScanDialog::set_max_examples(int n) {
  examples_->setValue(n);
}
void ScanDialog::set_out(const QString& path) {
  out_->setText(path);
  out_edited_ = true;
}

void ScanDialog::start() {
  if (thread_) return;
  const ScanRequest r = request();
  for (const auto& ref : r.refs)
    if (ref.empty()) {
      status_->setText("Pick every adapter first (select them in the tree, or choose them here).");
      return;
    }
  if (r.out.empty()) {
    status_->setText("Give an output file.");
    return;
  }
  QDir().mkpath(QFileInfo(QString::fromStdString(r.out)).absolutePath());
  worker_ = new ScanWorker(r);
  thread_ = new QThread(this);
  worker_->moveToThread(thread_);
  connect(thread_, &QThread::started, worker_, &ScanWorker::run);
  connect(worker_, &ScanWorker::progress, this, [this](qint64 done, qint64 total) {
    progress_->setRange(0, static_cast<int>(std::max<qint64>(total, 1)));
    progress_->setValue(static_cast<int>(done));
    status_->setText(QString("%1 of %2 points").arg(done).arg(total));
  });
  connect(worker_, &ScanWorker::training, this, [this](qint64 step, qint64 steps) {
    progress_->setRange(0, static_cast<int>(std::max<qint64>(steps, 1)));
    progress_->setValue(static_cast<int>(step));
    if (cancel_->isEnabled())
      status_->setText(QString("Training the curve's bend: step %1 of %2").arg(step).arg(steps));
  });
  connect(worker_, &ScanWorker::finished, this, &ScanDialog::on_finished);
  progress_->setRange(0, 0);  // busy until the first batch (model loading, curve training)
  status_->setText(r.kind == "curve" ? "Training the curve's bend, then evaluating…"
                                     : "Loading the model…");
  run_->setEnabled(false);
  cancel_->setEnabled(true);
  thread_->start();
}

void ScanDialog::cancel_scan() {
  if (!worker_) return;
  worker_->cancel();
  cancel_->setEnabled(false);
  status_->setText("Stopping after the current step or batch of points…");
}

void ScanDialog::on_finished(const QString& out, bool complete, const QString& error) {
  thread_->quit();
  thread_->wait();
  delete worker_;
  worker_ = nullptr;
  thread_->deleteLater();
  thread_ = nullptr;
  run_->setEnabled(true);
  cancel_->setEnabled(false);
  progress_->setRange(0, 1);
  progress_->setValue(complete ? 1 : 0);
  if (!error.isEmpty())
    status_->setText("The scan failed: " + error);
  else if (complete)
    status_->setText("Done: " + out);
  else
    status_->setText("Cancelled: " + out +
                     " holds the points finished so far; Run again to resume it.");
  emit scan_finished(out, complete, error);
}

void ScanDialog::reject() {
  if (thread_) {
    cancel_scan();
    return;  // close once the worker has stopped
  }
  QDialog::reject();
}

}  // namespace lorascape::gui
