#include "gui/landscape_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <cmath>
#include <limits>

#include "plot/contour.h"
#include "plot/document.h"
#include "plot/plot_util.h"

namespace lorascape::gui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kMean = "mean";

// The lines of a text entry ("a\nb\n" -> {"a", "b"}).
std::vector<std::string> lines_of(const std::map<std::string, std::string>& text, const char* key) {
  std::vector<std::string> out;
  if (!text.count(key)) return out;
  const std::string& s = text.at(key);
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
}  // namespace

LandscapeView::LandscapeView(QWidget* parent) : PlotPanel(parent) {
  task_ = add_combo("task set");
  score_ = add_combo("score");
  log_ = add_check("log colours", false);
  contours_ = add_check("contours", true);
  levels_ = new QSpinBox(this);
  levels_->setRange(2, 40);
  levels_->setValue(10);
  levels_->setToolTip("number of contour levels");
  controls()->addWidget(levels_);
  labels_ = add_check("labels", true);
  controls()->addStretch(1);
  for (QComboBox* b : {task_, score_})
    connect(b, &QComboBox::currentTextChanged, this, [this] { rebuild(); });
  for (QCheckBox* b : {log_, contours_, labels_})
    connect(b, &QCheckBox::toggled, this, [this] { rebuild(); });
  connect(levels_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { rebuild(); });
  connect(plot(), &QCustomPlot::mouseMove, this, &LandscapeView::on_mouse_move);
}

void LandscapeView::set_scan(const QString& label, std::shared_ptr<const store::ScanData> scan) {
  label_ = label;
  scan_ = (scan && plot::is_plane_kind(*scan)) ? std::move(scan) : nullptr;
  QStringList tasks, scores;
  if (scan_) {
    for (const auto& t : scan_->spec.tasks) tasks << QString::fromStdString(t);
    if (scan_->spec.tasks.size() > 1) tasks << kMean;
    for (const auto& s : scan_->spec.scores) scores << QString::fromStdString(s);
  }
  refill_combo(task_, tasks, "union");
  refill_combo(score_, scores, "loss");
  rebuild();
}

void LandscapeView::set_task(const QString& task_set) {
  const int k = task_->findText(task_set);
  if (k >= 0) task_->setCurrentIndex(k);
  rebuild();
}

void LandscapeView::set_score(const QString& score) {
  const int k = score_->findText(score);
  if (k >= 0) score_->setCurrentIndex(k);
  rebuild();
}

void LandscapeView::set_log_colors(bool on) {
  const QSignalBlocker b(log_);
  log_->setChecked(on);
  rebuild();
}

void LandscapeView::set_contours(bool on, int levels) {
  const QSignalBlocker b1(contours_), b2(levels_);
  contours_->setChecked(on);
  levels_->setValue(levels);
  rebuild();
}

bool LandscapeView::log_colors() const {
  return log_->isChecked();
}

void LandscapeView::rebuild() {
  QCustomPlot* p = plot();
  p->clearPlottables();
  p->clearItems();
  map_ = nullptr;
  z_.clear();
  levels_drawn_ = 0;
  markers_ = 0;
  if (!scan_) {
    if (p->plotLayout()->hasElement(0, 1)) p->plotLayout()->element(0, 1)->setVisible(false);
    p->replot();
    set_readout("Select a plane, random-plane or trajectory scan in the tree.");
    return;
  }
  const store::ScanData& d = *scan_;
  const auto& xs = d.spec.axes[0];
  const auto& ys = d.spec.axes[1];
  const size_t nx = xs.size(), ny = ys.size(), S = d.spec.scores.size();
  const int s = std::max(0, plot::index_of(d.spec.scores, score_->currentText().toStdString()));
  const QString task = task_->currentText();
  const int t = plot::index_of(d.spec.tasks, task.toStdString());
  std::vector<size_t> mean_of;
  if (t < 0)
    for (size_t k = 0; k < d.spec.tasks.size(); ++k)
      if (d.spec.tasks[k] != "union") mean_of.push_back(k);
  z_.assign(nx * ny, kNaN);
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < nx; ++i)
    for (size_t j = 0; j < ny; ++j) {
      const auto pnt = static_cast<int64_t>(i * ny + j);
      if (!d.done[static_cast<size_t>(pnt)]) continue;
      double v = 0;
      if (t >= 0) {
        v = d.values[d.value_index(pnt, static_cast<size_t>(t), static_cast<size_t>(s))];
      } else {
        for (size_t k : mean_of)
          v += d.values[(static_cast<size_t>(pnt) * d.spec.tasks.size() + k) * S + s];
        v /= static_cast<double>(std::max<size_t>(mean_of.size(), 1));
      }
      z_[i * ny + j] = v;
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  const bool log = log_->isChecked() && lo > 0;
  // Heat map: cell (i, j) of the colour map is the grid point (xs[i], ys[j]).
  map_ = new QCPColorMap(p->xAxis, p->yAxis);
  map_->data()->setSize(static_cast<int>(nx), static_cast<int>(ny));
  map_->data()->setRange(QCPRange(xs.front(), xs.back()), QCPRange(ys.front(), ys.back()));
  for (size_t i = 0; i < nx; ++i)
    for (size_t j = 0; j < ny; ++j)
      map_->data()->setCell(static_cast<int>(i), static_cast<int>(j), z_[i * ny + j]);
  QCPColorGradient g = plot::viridis_gradient();
  if (score_->currentText() != "loss" && !score_->currentText().startsWith("lambda"))
    g = g.inverted();
  map_->setInterpolate(false);
  map_->setName(task + " " + score_->currentText());
  map_->removeFromLegend();
  QCPColorScale* scale = nullptr;
  if (p->plotLayout()->hasElement(0, 1))
    scale = qobject_cast<QCPColorScale*>(p->plotLayout()->element(0, 1));
  if (!scale) {
    scale = new QCPColorScale(p);
    p->plotLayout()->addElement(0, 1, scale);
    scale->setType(QCPAxis::atRight);
    auto* margins = new QCPMarginGroup(p);
    p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    plot::apply_plot_theme(p, p->property("lorascape_dark").toBool());
  }
  scale->setVisible(true);
  map_->setColorScale(scale);
  scale->setGradient(g);  // the scale owns the gradient and range of its maps
  scale->setDataScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    scale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  else
    scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  scale->axis()->setLabel(task + " " + score_->currentText());
  if (std::isfinite(lo)) scale->setDataRange(QCPRange(lo, hi > lo ? hi : lo + 1e-12));

  // Contours.
  if (contours_->isChecked() && std::isfinite(lo) && hi > lo) {
    for (double level : plot::contour_levels(lo, hi, levels_->value(), log)) {
      const auto lines = plot::join_segments(plot::contour_segments(xs, ys, z_, level));
      if (!lines.empty()) ++levels_drawn_;
      for (const auto& line : lines) {
        auto* c = new QCPCurve(p->xAxis, p->yAxis);
        QVector<double> cx, cy;
        for (size_t k = 0; k + 1 < line.size(); k += 2) cx << line[k], cy << line[k + 1];
        c->setData(cx, cy);
        c->setPen(QPen(QColor(255, 255, 255, 170), 1.0));
        c->setName(QString("contour %1").arg(level, 0, 'g', 3));
        c->removeFromLegend();
        c->setSelectable(QCP::stNone);
      }
    }
  }

  // Markers: anchors, projected adapters, the trajectory.
  const bool with_labels = labels_->isChecked();
  auto label_at = [&](double x, double y, const QString& text) {
    if (!with_labels || text.isEmpty()) return;
    auto* l = new QCPItemText(p);
    l->position->setCoords(x, y);
    l->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    l->setPadding(QMargins(2, 0, 2, 0));
    l->setText(text);
    l->setFont(QFont(font().family(), 8));
    l->setColor(Qt::black);
    l->setBrush(QBrush(QColor(255, 255, 255, 200)));
    l->setClipToAxisRect(true);
  };
  auto markers = [&](const char* extra, const char* labels_key, QCPScatterStyle style,
                     const QString& legend, bool connect_line) {
    if (!d.extras.count(extra)) return;
    const auto& a = d.extras.at(extra);
    if (a.shape.size() != 2 || a.shape[1] < 2) return;
    const auto n = static_cast<size_t>(a.shape[0]), w = static_cast<size_t>(a.shape[1]);
    const auto labels = lines_of(d.text, labels_key);
    QVector<double> mx, my, idx;
    for (size_t k = 0; k < n; ++k) {
      mx << a.values[k * w];
      my << a.values[k * w + 1];
      idx << static_cast<double>(k);
      label_at(a.values[k * w], a.values[k * w + 1],
               k < labels.size() ? QString::fromStdString(plot::short_ref(labels[k])) : QString());
    }
    markers_ += static_cast<int>(n);
    auto* c = new QCPCurve(p->xAxis, p->yAxis);
    c->setData(idx, mx, my);
    c->setName(legend);
    c->setLineStyle(connect_line ? QCPCurve::lsLine : QCPCurve::lsNone);
    c->setPen(QPen(QColor(255, 255, 255), 1.5));
    c->setScatterStyle(style);
  };
  markers("trajectory", "trajectory_labels",
          QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::white, 1.2),
                          QBrush(QColor(255, 127, 14)), 6),
          "trajectory", true);
  markers("projected", "projected_labels",
          QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(Qt::black, 1),
                          QBrush(QColor(255, 255, 255)), 8),
          "projected adapters", false);
  markers("anchors", "anchor_labels",
          QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::white, 2),
                          QBrush(QColor(214, 39, 40)), 11),
          "anchors", false);
  p->legend->setVisible(markers_ > 0);
  p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

  const std::string kind = d.spec.kind;
  p->xAxis->setLabel(kind == "random-plane" ? "α (direction 1)"
                     : kind == "trajectory" ? "PC 1"
                                            : "x (towards the 2nd anchor)");
  p->yAxis->setLabel(kind == "random-plane" ? "β (direction 2)"
                     : kind == "trajectory" ? "PC 2"
                                            : "y");
  for (QCPAxis* a : {p->xAxis, p->yAxis}) {
    a->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    a->setRangeReversed(false);
    a->setTickLabelRotation(0);
    a->setSubTicks(true);
    a->grid()->setVisible(false);
  }
  const double hx = nx > 1 ? (xs.back() - xs.front()) / (2.0 * (nx - 1)) : 0.5;
  const double hy = ny > 1 ? (ys.back() - ys.front()) / (2.0 * (ny - 1)) : 0.5;
  p->xAxis->setRange(xs.front() - hx, xs.back() + hx);
  p->yAxis->setRange(ys.front() - hy, ys.back() + hy);
  p->replot();
  set_readout(d.complete()
                  ? "Hover over the map to read the values."
                  : QString("Partial scan: %1 of %2 points done (resume it with the same command).")
                        .arg(d.num_done())
                        .arg(d.num_points()));
}

QString LandscapeView::readout(double x, double y) const {
  if (!scan_) return QString();
  const auto& xs = scan_->spec.axes[0];
  const auto& ys = scan_->spec.axes[1];
  auto nearest = [](const std::vector<double>& a, double v) {
    size_t best = 0;
    for (size_t k = 1; k < a.size(); ++k)
      if (std::abs(a[k] - v) < std::abs(a[best] - v)) best = k;
    return best;
  };
  const size_t i = nearest(xs, x), j = nearest(ys, y);
  const double v = z_[i * ys.size() + j];
  return QString("x = %1, y = %2: %3 %4 = %5")
      .arg(xs[i], 0, 'g', 4)
      .arg(ys[j], 0, 'g', 4)
      .arg(task_->currentText(), score_->currentText())
      .arg(std::isnan(v) ? QString("not computed") : QString::number(v, 'g', 5));
}

void LandscapeView::on_mouse_move(QMouseEvent* e) {
  if (!scan_) return;
  set_readout(readout(plot()->xAxis->pixelToCoord(e->position().x()),
                      plot()->yAxis->pixelToCoord(e->position().y())));
}

QString LandscapeView::csv() const {
  if (!scan_) return QString();
  const auto& xs = scan_->spec.axes[0];
  const auto& ys = scan_->spec.axes[1];
  QString out = "x,y,task_set,score,value\n";
  for (size_t i = 0; i < xs.size(); ++i)
    for (size_t j = 0; j < ys.size(); ++j)
      out += QString("%1,%2,%3,%4,%5\n")
                 .arg(xs[i], 0, 'g', 17)
                 .arg(ys[j], 0, 'g', 17)
                 .arg(task_->currentText(), score_->currentText())
                 .arg(z_[i * ys.size() + j], 0, 'g', 17);
  return out;
}

QString LandscapeView::title() const {
  return scan_ ? "landscape: " + label_ + " (" + task_->currentText() + ", " +
                     score_->currentText() + ")"
               : "landscape";
}

}  // namespace lorascape::gui
