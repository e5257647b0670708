#include "plot/landscape.h"

#include <qcustomplot.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "plot/contour.h"
#include "plot/document.h"
#include "plot/plot_util.h"
#include "plot/style.h"

namespace lorascape::plot {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// The markers of extras `extra` (N x 2 or wider: plane coordinates first), labelled by the lines
// of text `labels_key`; false when the scan has none.
bool markers_of(const store::ScanData& d, const char* extra, const char* labels_key, MarkerSet& m) {
  if (!d.extras.count(extra)) return false;
  const auto& a = d.extras.at(extra);
  if (a.shape.size() != 2 || a.shape[1] < 2) return false;
  const auto n = static_cast<size_t>(a.shape[0]), w = static_cast<size_t>(a.shape[1]);
  const auto labels = lines_of(d.text, labels_key);
  for (size_t k = 0; k < n; ++k) {
    m.x << a.values[k * w];
    m.y << a.values[k * w + 1];
    // Projected adapters: the third column is the distance from the plane (docs/hdf5-schema.md).
    m.off << (m.kind == MarkerSet::Kind::Projected && w >= 3 ? a.values[k * w + 2] : kNaN);
    m.labels << (k < labels.size() ? QString::fromStdString(short_ref(labels[k])) : QString());
    // (a curve's bend, "C.h5:bend/1", is no stage of a method)
    m.methods << (k < labels.size() && labels[k].find(".h5:bend/") != std::string::npos
                      ? QString()
                      : method_of(m.labels.back()));
  }
  return true;
}

// The text items the layout hook places: a marker's label (kind 1) or a contour's (kind 2).
const char* const kLabelKind = "lorascape_label_kind";

// After every layout: equal scale (the plane's extent fitted into the axis rect, or the user's
// zoom kept along x), then the labels placed where they overlap neither each other nor the edges.
void layout_landscape(QCustomPlot* p) {
  QCPAxisRect* r = p->axisRect();
  if (!r || r->width() < 2 || r->height() < 2) return;
  // The legend goes to the corner of the axis rect where it covers the fewest markers and
  // curve points (top right first), unless a corner was asked for (place_legend); below the
  // plot when it covers some in every corner (a small figure).
  QCPLayoutInset* inset = p->axisRect()->insetLayout();
  if (p->legend && p->legend->visible() && !p->property("lorascape_legend_placed").toBool() &&
      inset->elementCount() > 0 && inset->elementAt(0) == p->legend) {
    std::vector<QPointF> points;
    for (int i = 0; i < p->plottableCount(); ++i)
      if (auto* c = qobject_cast<QCPCurve*>(p->plottable(i)))
        if (c->scatterStyle().shape() != QCPScatterStyle::ssNone ||
            c->property("lorascape_obstacle").toBool())
          for (auto it = c->data()->constBegin(); it != c->data()->constEnd(); ++it)
            points.emplace_back(p->xAxis->coordToPixel(it->key), p->yAxis->coordToPixel(it->value));
    // The anchors' labels (always shown) count too, over every place they may take.
    std::vector<QRectF> bands;
    for (int i = 0; i < p->itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(p->item(i)))
        if (t->property("lorascape_anchor_label").toBool()) {
          bands.push_back(label_reach(t));
        }
    const QSizeF size = QRectF(p->legend->outerRect()).size();
    const QRectF area = QRectF(r->rect());
    int best_count = -1;
    Qt::Alignment best = Qt::AlignTop | Qt::AlignRight;
    for (const Qt::Alignment a :
         {Qt::AlignTop | Qt::AlignRight, Qt::AlignTop | Qt::AlignLeft,
          Qt::AlignBottom | Qt::AlignRight, Qt::AlignBottom | Qt::AlignLeft}) {
      const double x = a & Qt::AlignLeft ? area.left() : area.right() - size.width();
      const double y = a & Qt::AlignTop ? area.top() : area.bottom() - size.height();
      const QRectF box(QPointF(x, y), size);
      const int count =
          static_cast<int>(std::count_if(
              points.begin(), points.end(),
              [&](const QPointF& q) { return box.adjusted(-6, -6, 6, 6).contains(q); })) +
          static_cast<int>(std::count_if(bands.begin(), bands.end(),
                                         [&](const QRectF& b) { return box.intersects(b); }));
      if (best_count < 0 || count < best_count) best_count = count, best = a;
      if (count == 0) break;
    }
    if (best_count > 0) {  // no corner is free: below the plot, in as few rows as fit
      const double room = r->outerRect().width() - 20;
      std::vector<double> widths;
      for (int i = 0; i < p->legend->itemCount(); ++i)
        widths.push_back(p->legend->item(i)->minimumOuterSizeHint().width() +
                         p->legend->columnSpacing());
      std::sort(widths.rbegin(), widths.rend());
      int columns = 1;
      for (double used = widths.empty() ? 0 : widths[0]; columns < static_cast<int>(widths.size());
           ++columns) {
        used += widths[static_cast<size_t>(columns)];
        if (used > room) break;
      }
      inset->take(p->legend);
      auto* below = new QCPLayoutGrid;  // a margin under the legend, as in the stability view
      const int row = p->plotLayout()->rowCount();
      p->plotLayout()->addElement(row, 0, below);
      p->plotLayout()->setRowStretchFactor(row, 0.001);
      below->addElement(0, 0, p->legend);
      below->setMargins(QMargins(5, 0, 5, 5));
      p->legend->setWrap(columns);  // (first: the fill order rearranges the entries by it)
      p->legend->setFillOrder(QCPLegend::foColumnsFirst);
      p->setProperty("lorascape_legend_below", true);
      p->plotLayout()->update(QCPLayoutElement::upPreparation);
      p->plotLayout()->update(QCPLayoutElement::upMargins);
      p->plotLayout()->update(QCPLayoutElement::upLayout);
    } else if (inset->insetAlignment(0) != best) {
      inset->setInsetAlignment(0, best);
      inset->updateLayout();
    }
  }
  if (p->property("lorascape_equal_aspect").toBool()) {
    // Twice: the new ranges change the tick labels and with them the axis rect; the second pass
    // fits the rect they give (so the figure does not depend on the ranges it had before).
    for (int pass = 0; pass < 2; ++pass) {
      if (pass == 1) {
        p->plotLayout()->update(QCPLayoutElement::upPreparation);
        p->plotLayout()->update(QCPLayoutElement::upMargins);
        p->plotLayout()->update(QCPLayoutElement::upLayout);
      }
      const QRectF ext = p->property("lorascape_extent").toRectF();
      const QRectF last = p->property("lorascape_aspect_ranges").toRectF();
      const QCPRange x = p->xAxis->range(), y = p->yAxis->range();
      const bool fitted =
          last.isNull() ||
          (std::abs(last.left() - x.lower) < 1e-12 && std::abs(last.right() - x.upper) < 1e-12 &&
           std::abs(last.top() - y.lower) < 1e-12 && std::abs(last.bottom() - y.upper) < 1e-12);
      const double w = r->width(), h = r->height();
      double cx = ext.center().x(), cy = ext.center().y(),
             u = std::max(ext.width() / w, ext.height() / h);
      if (!fitted) cx = x.center(), cy = y.center(), u = x.size() / w;  // the user's zoom
      p->xAxis->setRange(cx - u * w / 2, cx + u * w / 2);
      p->yAxis->setRange(cy - u * h / 2, cy + u * h / 2);
      const QCPRange nx = p->xAxis->range(), ny = p->yAxis->range();
      p->setProperty("lorascape_aspect_ranges",
                     QRectF(QPointF(nx.lower, ny.lower), QPointF(nx.upper, ny.upper)));
    }
  }
  // The colour scale's label: the longest of its labels that fits along the scale.
  for (QCPLayoutElement* e : p->plotLayout()->elements(true))
    if (auto* scale = qobject_cast<QCPColorScale*>(e)) {
      const QStringList labels = scale->property("lorascape_labels").toStringList();
      const QFontMetricsF fm(scale->axis()->labelFont());
      for (const QString& l : labels)
        if (fm.horizontalAdvance(l) <= scale->rect().height() || l == labels.back()) {
          scale->axis()->setLabel(l);
          break;
        }
    }
  // Contour labels stay on their line; the markers' labels go around them.
  std::vector<QRectF> taken;
  const QRectF legend =
      p->legend && p->legend->visible() ? QRectF(p->legend->outerRect()) : QRectF();
  if (!legend.isNull()) taken.push_back(legend);
  const QRectF inside = QRectF(r->rect()).adjusted(2, 2, -2, -2);
  for (int i = 0; i < p->itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(p->item(i)))
      if (t->property(kLabelKind).toInt() == 2) {
        const QRectF box = label_box(t, Qt::AlignCenter);
        const bool free = inside.contains(box) &&
                          std::none_of(taken.begin(), taken.end(),
                                       [&](const QRectF& b) { return b.intersects(box); });
        t->setVisible(free);
        if (free) taken.push_back(box);
      }
  // The markers themselves are obstacles too (the legend is one already).
  std::vector<QCPItemText*> marker_labels;
  for (int i = 0; i < p->itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(p->item(i)))
      if (t->property(kLabelKind).toInt() == 1) marker_labels.push_back(t);
  for (QCPItemText* t : marker_labels) {
    const QPointF px = label_point(t);
    taken.push_back(QRectF(px.x() - 4, px.y() - 4, 8, 8));
  }
  // The anchors' labels first (shown unless they would cover one another), then the others'.
  std::stable_partition(marker_labels.begin(), marker_labels.end(), [](QCPItemText* t) {
    return t->property("lorascape_anchor_label").toBool();
  });
  place_labels(marker_labels, inside, legend, taken,
               [](QCPItemText* t) { return t->property("lorascape_anchor_label").toBool(); });
}

void install_layout_hook(QCustomPlot* p) {
  if (p->property("lorascape_landscape_hook").toBool()) return;
  p->setProperty("lorascape_landscape_hook", true);
  QObject::connect(p, &QCustomPlot::afterLayout, p, [p] { layout_landscape(p); });
}
}  // namespace

int LandscapeFigure::marker_count() const {
  int n = 0;
  for (const auto& m : markers) n += static_cast<int>(m.x.size());
  return n;
}

QStringList landscape_tasks(const store::ScanData& scan) {
  QStringList tasks;
  for (const auto& t : scan.spec.tasks) tasks << QString::fromStdString(t);
  if (scan.spec.tasks.size() > 1) tasks << "mean";
  return tasks;
}

QStringList landscape_scores(const store::ScanData& scan) {
  QStringList scores;
  for (const auto& s : scan.spec.scores) scores << QString::fromStdString(s);
  return scores;
}

LandscapeFigure prepare_landscape(const store::ScanData& d, const LandscapeOptions& o) {
  LandscapeFigure f;
  if (!is_plane_kind(d)) return f;
  f.xs = d.spec.axes[0];
  f.ys = d.spec.axes[1];
  f.task = o.task;
  f.score = o.score;
  f.labels = o.labels;
  f.cmap = o.cmap;
  f.range_lo = o.range_lo;
  f.range_hi = o.range_hi;
  f.equal_aspect = o.equal_aspect && d.spec.kind == "plane";
  f.smooth = o.smooth;
  f.contour_labels = o.contour_labels;
  const auto& xs = f.xs;
  const auto& ys = f.ys;
  const size_t nx = xs.size(), ny = ys.size(), S = d.spec.scores.size();
  const int s = std::max(0, index_of(d.spec.scores, o.score.toStdString()));
  const int t = index_of(d.spec.tasks, o.task.toStdString());
  f.task_caption = t >= 0 ? QString::fromStdString(task_set_caption(d, static_cast<size_t>(t)))
                          : QString("mean of tasks");
  std::vector<size_t> mean_of;
  if (t < 0)
    for (size_t k = 0; k < d.spec.tasks.size(); ++k)
      if (d.spec.tasks[k] != "union") mean_of.push_back(k);
  f.z.assign(nx * ny, kNaN);
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
      f.z[i * ny + j] = v;
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  if (std::isfinite(lo)) f.lo = lo, f.hi = hi;
  f.log_colors = o.log_colors && lo > 0;
  f.inverted = o.score != "loss" && !o.score.startsWith("lambda");

  // Contours over the colour range where one is given (within the data's).
  const double clo = std::isfinite(o.range_lo) ? std::max(lo, o.range_lo) : lo;
  const double chi = std::isfinite(o.range_hi) ? std::min(hi, o.range_hi) : hi;
  if (o.contours && std::isfinite(clo) && chi > clo) {
    for (double level : contour_levels(clo, chi, o.levels, f.log_colors && clo > 0)) {
      const auto lines = join_segments(contour_segments(xs, ys, f.z, level));
      if (!lines.empty()) ++f.levels_drawn;
      for (const auto& line : lines) {
        ContourLine c;
        c.level = level;
        for (size_t k = 0; k + 1 < line.size(); k += 2) c.x << line[k], c.y << line[k + 1];
        f.contours.push_back(std::move(c));
      }
    }
  }

  const struct {
    MarkerSet::Kind kind;
    const char *extra, *labels_key, *name;
  } sets[] = {{MarkerSet::Kind::Trajectory, "trajectory", "trajectory_labels", "trajectory"},
              {MarkerSet::Kind::Projected, "projected", "projected_labels", "projected adapters"},
              {MarkerSet::Kind::Anchors, "anchors", "anchor_labels", "anchors"}};
  for (const auto& set : sets) {
    MarkerSet m;
    m.kind = set.kind;
    m.name = set.name;
    if (markers_of(d, set.extra, set.labels_key, m)) f.markers.push_back(std::move(m));
  }
  if (d.extras.count("curve_path")) {
    const auto& a = d.extras.at("curve_path");  // rows (t, x, y, distance from the plane)
    if (a.shape.size() == 2 && a.shape[1] == 4 && a.shape[0] >= 2) {
      double off = 0;
      for (size_t k = 0; k < static_cast<size_t>(a.shape[0]); ++k) {
        f.curve_x << a.values[k * 4 + 1];
        f.curve_y << a.values[k * 4 + 2];
        if (std::isfinite(a.values[k * 4 + 3])) off = std::max(off, a.values[k * 4 + 3]);
      }
      f.curve_off = off;
      const auto cfg = nlohmann::json::parse(d.spec.config_json, nullptr, false);
      std::string kind = "curve";
      int bends = 0;
      if (cfg.is_object() && cfg.contains("curve") && cfg["curve"].is_object()) {
        kind = cfg["curve"].value("kind", kind);
        const auto b = cfg["curve"].value("bends", nlohmann::json());
        if (b.is_number_integer()) bends = b.get<int>();
      }
      f.curve_name = kind == "bezier"      ? "Bézier curve"
                     : kind == "polychain" ? "polygonal chain"
                                           : QString::fromStdString(kind);
      if (bends > 0) f.curve_name += QString(" (%1 bend%2)").arg(bends).arg(bends > 1 ? "s" : "");
    }
  }
  const double diagonal = std::hypot(xs.back() - xs.front(), ys.back() - ys.front());
  // Markers at one place (an anchor also projected, or stages that coincide, such as every
  // method's first stage before replay starts) get one label naming them all, on the marker
  // drawn last (anchors before projected adapters before the trajectory).
  {
    std::vector<std::pair<size_t, int>> order;  // (set, k), last drawn first
    for (size_t m = f.markers.size(); m-- > 0;)
      for (int k = 0; k < f.markers[m].x.size(); ++k) order.emplace_back(m, k);
    const double tol = 1e-3 * diagonal;
    for (size_t i = 0; i < order.size(); ++i) {
      MarkerSet& a = f.markers[order[i].first];
      const int ka = order[i].second;
      if (a.labels[ka].isEmpty()) continue;
      QStringList names{a.labels[ka]};
      for (size_t j = i + 1; j < order.size(); ++j) {
        MarkerSet& b = f.markers[order[j].first];
        const int kb = order[j].second;
        if (b.labels[kb].isEmpty() || std::abs(b.x[kb] - a.x[ka]) > tol ||
            std::abs(b.y[kb] - a.y[ka]) > tol)
          continue;
        if (!names.contains(b.labels[kb])) names << b.labels[kb];
        b.labels[kb].clear();
      }
      a.labels[ka] = names.join(", ");
    }
  }
  if (f.curve_off > kFarOffPlane * diagonal)
    f.curve_name += QString(" (up to %1 off)").arg(f.curve_off, 0, 'g', 2);
  for (auto& m : f.markers)
    for (int k = 0; k < m.x.size(); ++k) {
      const bool far = std::isfinite(m.off[k]) && m.off[k] > kFarOffPlane * diagonal;
      m.far << far;
      if (far && !m.labels[k].isEmpty())
        m.labels[k] += QString(" (%1 off)").arg(m.off[k], 0, 'g', 2);
    }

  const std::string kind = d.spec.kind;
  f.x_label = kind == "random-plane" ? "α (direction 1)"
              : kind == "trajectory" ? "PC 1"
                                     : "x (towards the 2nd anchor)";
  f.y_label = kind == "random-plane" ? "β (direction 2)" : kind == "trajectory" ? "PC 2" : "y";
  return f;
}

QCPColorMap* draw_landscape(QCustomPlot* p, const LandscapeFigure& f) {
  p->clearPlottables();
  p->clearItems();
  if (f.empty()) {
    if (p->plotLayout()->hasElement(0, 1)) p->plotLayout()->element(0, 1)->setVisible(false);
    p->replot();
    return nullptr;
  }
  const auto& xs = f.xs;
  const auto& ys = f.ys;
  const size_t nx = xs.size(), ny = ys.size();
  const bool log = f.log_colors;
  // Heat map: cell (i, j) of the colour map is the grid point (xs[i], ys[j]).
  auto* map = new QCPColorMap(p->xAxis, p->yAxis);
  map->data()->setSize(static_cast<int>(nx), static_cast<int>(ny));
  map->data()->setRange(QCPRange(xs.front(), xs.back()), QCPRange(ys.front(), ys.back()));
  for (size_t i = 0; i < nx; ++i)
    for (size_t j = 0; j < ny; ++j)
      map->data()->setCell(static_cast<int>(i), static_cast<int>(j), f.z[i * ny + j]);
  QCPColorGradient g = color_map(f.cmap);
  if (f.inverted) g = g.inverted();
  map->setInterpolate(f.smooth);
  map->setName(f.task + " " + f.score);
  map->removeFromLegend();
  bool created = false;
  QCPColorScale* scale = right_color_scale(p, &created);
  if (created) apply_plot_theme(p, p->property("lorascape_dark").toBool());
  scale->setVisible(true);
  map->setColorScale(scale);
  scale->setGradient(g);  // the scale owns the gradient and range of its maps
  scale->setDataScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    scale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  else
    scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  scale->axis()->setLabel(f.task_caption + " " + score_label(f.score));
  // Shorter labels for a scale too short for the full one (layout_landscape).
  scale->setProperty("lorascape_labels",
                     QStringList{f.task_caption + " " + score_label(f.score),
                                 f.task_caption + " " + f.score, score_label(f.score), f.score});
  if (std::isfinite(f.range_lo) && std::isfinite(f.range_hi))
    scale->setDataRange(QCPRange(f.range_lo, f.range_hi));
  else if (std::isfinite(f.lo))
    scale->setDataRange(QCPRange(f.lo, f.hi > f.lo ? f.hi : f.lo + 1e-12));

  // The longest line of each level, for its label.
  std::map<double, const ContourLine*> longest;
  for (const auto& line : f.contours) {
    auto* c = new QCPCurve(p->xAxis, p->yAxis);
    c->setData(line.x, line.y);
    c->setPen(QPen(QColor(255, 255, 255, 170), 1.0));
    c->setName(QString("contour %1").arg(line.level, 0, 'g', 3));
    c->removeFromLegend();
    c->setSelectable(QCP::stNone);
    auto& l = longest[line.level];
    if (!l || l->x.size() < line.x.size()) l = &line;
  }
  if (f.contour_labels) {
    int k = 0;
    for (const auto& [level, line] : longest) {
      if (k++ % 2 || line->x.size() < 4) continue;
      auto* t = new QCPItemText(p);
      const int mid = static_cast<int>(line->x.size()) / 2;
      t->position->setCoords(line->x[mid], line->y[mid]);
      t->setPositionAlignment(Qt::AlignCenter);
      t->setText(QString::number(level, 'g', 3));
      t->setFont(QFont(p->font().family(), 7));
      t->setColor(Qt::black);
      t->setBrush(QBrush(QColor(255, 255, 255, 170)));
      t->setPadding(QMargins(1, 0, 1, 0));
      t->setClipToAxisRect(true);
      t->setProperty(kLabelKind, 2);
    }
  }

  // The curve and the straight line between its ends (its first and last points).
  if (!f.curve_x.isEmpty()) {
    // Black dashes on a white line: visible on every colour of the map and in the legend.
    for (const bool under : {true, false}) {
      auto* line = new QCPCurve(p->xAxis, p->yAxis);
      line->setData({f.curve_x.front(), f.curve_x.back()}, {f.curve_y.front(), f.curve_y.back()});
      line->setPen(under ? QPen(QColor(255, 255, 255), 3.2) : QPen(Qt::black, 1.6, Qt::DashLine));
      line->setName("line");
      line->setSelectable(QCP::stNone);
      if (under) line->removeFromLegend();
    }
    auto* curve = new QCPCurve(p->xAxis, p->yAxis);
    curve->setData(f.curve_x, f.curve_y);
    curve->setPen(QPen(QColor(0xE6, 0x9F, 0x00), 2.2));
    curve->setName(f.curve_name);
    curve->setSelectable(QCP::stNone);
    curve->setProperty("lorascape_obstacle", true);  // for the legend's place
  }

  // Markers, each set after its labels.
  const QFont label_font(p->font().family(), 8);
  for (const auto& m : f.markers) {
    QVector<double> idx;
    for (int k = 0; k < m.x.size(); ++k) {
      idx << static_cast<double>(k);
      if (!f.labels || m.labels[k].isEmpty()) continue;
      auto* l = new QCPItemText(p);
      l->position->setCoords(m.x[k], m.y[k]);
      l->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
      l->setPadding(QMargins(2, 0, 2, 0));
      l->setText(m.labels[k]);
      l->setFont(label_font);
      l->setColor(Qt::black);
      l->setBrush(QBrush(QColor(255, 255, 255, 200)));
      l->setClipToAxisRect(true);
      l->setProperty(kLabelKind, 1);
      l->setProperty("lorascape_anchor_label", m.kind == MarkerSet::Kind::Anchors);
    }
    if (m.kind == MarkerSet::Kind::Trajectory) {
      auto* c = new QCPCurve(p->xAxis, p->yAxis);
      c->setData(idx, m.x, m.y);
      c->setName(m.name);
      c->setLineStyle(QCPCurve::lsLine);
      c->setPen(QPen(QColor(255, 255, 255), 1.5));
      c->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::white, 1.2),
                                         QBrush(QColor(255, 127, 14)), 6));
      continue;
    }
    // Anchors and projected adapters are filled with their method's colour (plot/style.h),
    // one curve per method out of the legend; the set's legend entry is a neutral marker of its
    // shape. Projected adapters far off the plane are hollow (outlined in the method's colour),
    // with a legend entry of their own.
    const bool anchors = m.kind == MarkerSet::Kind::Anchors;
    const auto shape = anchors ? QCPScatterStyle::ssCircle : QCPScatterStyle::ssDiamond;
    const double size = anchors ? 11 : 8;
    // Markers without a method (PEFT folders) and the legend's entries: neutral colours.
    const QColor neutral = anchors ? QColor(120, 120, 120) : QColor(255, 255, 255);
    const QColor neutral_outline(90, 90, 90);
    auto legend_entry = [&](const QString& name, const QCPScatterStyle& style) {
      auto* c = new QCPCurve(p->xAxis, p->yAxis);
      c->setName(name);
      c->setLineStyle(QCPCurve::lsNone);
      c->setScatterStyle(style);
    };
    bool near_any = false, far_any = false;
    for (int k = 0; k < m.x.size(); ++k) (m.far.value(k) ? far_any : near_any) = true;
    const QPen outline = anchors ? QPen(Qt::white, 2) : QPen(Qt::black, 1);
    // (short names: a small figure has its legend in one row under it)
    if (near_any)
      legend_entry(anchors ? m.name : "projected",
                   QCPScatterStyle(shape, outline, QBrush(neutral), size));
    if (far_any)
      legend_entry("off the plane",
                   QCPScatterStyle(shape, QPen(neutral_outline, 2), Qt::NoBrush, 9));
    std::map<std::pair<bool, QString>, std::array<QVector<double>, 3>> groups;
    for (int k = 0; k < m.x.size(); ++k) {
      auto& g = groups[{m.far.value(k), m.methods.value(k)}];
      g[0] << k, g[1] << m.x[k], g[2] << m.y[k];
    }
    for (const auto& [key, g] : groups) {
      const auto& [far, method] = key;
      const QColor fill = method.isEmpty() ? neutral : method_color(method);
      auto* c = new QCPCurve(p->xAxis, p->yAxis);
      c->setData(g[0], g[1], g[2]);
      c->setName(m.name + (method.isEmpty() ? QString() : ": " + method));
      c->setLineStyle(QCPCurve::lsNone);
      c->setScatterStyle(far ? QCPScatterStyle(shape,
                                               QPen(method.isEmpty() ? neutral_outline : fill, 2),
                                               Qt::NoBrush, 9)
                             : QCPScatterStyle(shape, outline, QBrush(fill), size));
      c->removeFromLegend();
    }
  }
  p->legend->setVisible(f.marker_count() > 0 || !f.curve_x.isEmpty());
  if (p->property("lorascape_legend_below").toBool()) {  // back inside (layout_landscape)
    QCPLayoutGrid* below = qobject_cast<QCPLayoutGrid*>(p->legend->layout());
    if (below) below->take(p->legend);
    if (below) p->plotLayout()->remove(below);
    p->plotLayout()->simplify();
    p->axisRect()->insetLayout()->addElement(p->legend, Qt::AlignTop | Qt::AlignRight);
    p->legend->setWrap(0);
    p->legend->setFillOrder(QCPLegend::foRowsFirst);
    p->setProperty("lorascape_legend_below", false);
  }
  p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

  p->xAxis->setLabel(f.x_label);
  p->yAxis->setLabel(f.y_label);
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
  p->setProperty("lorascape_equal_aspect", f.equal_aspect);
  p->setProperty("lorascape_extent", QRectF(QPointF(xs.front() - hx, ys.front() - hy),
                                            QPointF(xs.back() + hx, ys.back() + hy)));
  p->setProperty("lorascape_aspect_ranges", QRectF());
  install_layout_hook(p);
  p->replot();
  return map;
}

QString landscape_readout(const LandscapeFigure& f, double x, double y) {
  if (f.empty()) return QString();
  auto nearest = [](const std::vector<double>& a, double v) {
    size_t best = 0;
    for (size_t k = 1; k < a.size(); ++k)
      if (std::abs(a[k] - v) < std::abs(a[best] - v)) best = k;
    return best;
  };
  const size_t i = nearest(f.xs, x), j = nearest(f.ys, y);
  const double v = f.z[i * f.ys.size() + j];
  return QString("x = %1, y = %2: %3 %4 = %5")
      .arg(f.xs[i], 0, 'g', 4)
      .arg(f.ys[j], 0, 'g', 4)
      .arg(f.task, f.score)
      .arg(std::isnan(v) ? QString("not computed") : QString::number(v, 'g', 5));
}

QString landscape_csv(const LandscapeFigure& f) {
  if (f.empty()) return QString();
  QString out = "x,y,task_set,score,value\n";
  for (size_t i = 0; i < f.xs.size(); ++i)
    for (size_t j = 0; j < f.ys.size(); ++j)
      out += QString("%1,%2,%3,%4,%5\n")
                 .arg(f.xs[i], 0, 'g', 17)
                 .arg(f.ys[j], 0, 'g', 17)
                 .arg(f.task, f.score)
                 .arg(f.z[i * f.ys.size() + j], 0, 'g', 17);
  return out;
}

}  // namespace lorascape::plot
