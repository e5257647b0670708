#include "plot/style.h"

#include <qcustomplot.h>

#include <QFontDatabase>
#include <cmath>
#include <map>

#include "plot/plot_util.h"
#include "store/error.h"

namespace lorascape::plot {

namespace {
// Okabe & Ito's colour-blind-safe colours (without yellow, too pale on white) and four of Paul
// Tol's "muted" ones: eleven colours told apart with every common colour-vision deficiency.
const QColor kSafe[] = {
    QColor(0x00, 0x72, 0xB2), QColor(0xD5, 0x5E, 0x00), QColor(0x00, 0x9E, 0x73),
    QColor(0xE6, 0x9F, 0x00), QColor(0xCC, 0x79, 0xA7), QColor(0x88, 0x22, 0x55),
    QColor(0x00, 0x00, 0x00), QColor(0x56, 0xB4, 0xE9), QColor(0x99, 0x99, 0x33),
    QColor(0x33, 0x22, 0x88), QColor(0x44, 0xAA, 0x99)};
constexpr int kSafeCount = 11;

// FNV-1a: the same on every machine (std::hash is not).
uint32_t fnv1a(const QString& s) {
  uint32_t h = 2166136261u;
  for (const char c : s.toUtf8()) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

QCPColorGradient gradient_of(const std::vector<QColor>& stops) {
  QCPColorGradient g;
  g.clearColorStops();
  const int n = static_cast<int>(stops.size());
  for (int k = 0; k < n; ++k) g.setColorStopAt(k / (n - 1.0), stops[static_cast<size_t>(k)]);
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  g.setLevelCount(350);
  return g;
}

const QString kPlaces[] = {"top-right", "top-left", "bottom-right", "bottom-left", "none"};
}  // namespace

QColor method_color(const QString& method) {
  static const std::map<QString, int> fixed{{"seq", 0},   {"ilora", 1}, {"er", 2},  {"ewc", 3},
                                            {"agem", 4},  {"gem", 5},   {"mtl", 6}, {"one", 7},
                                            {"olora", 8}, {"l2p", 9},   {"pp", 10}};
  const QString base = method.section('/', 0, 0);
  const QString learner = method.section('/', 1);
  const auto it = fixed.find(base);
  QColor c = kSafe[it != fixed.end() ? it->second : static_cast<int>(fnv1a(base) % kSafeCount)];
  if (learner == "fast") c = c.lighter(140);
  if (learner == "slow") c = c.darker(140);
  if (base == "mtl" && !learner.isEmpty()) c = QColor(0x55, 0x55, 0x55);
  return c;
}

QString method_of(const QString& short_ref) {
  const QStringList parts = short_ref.split('/');
  if (parts.size() < 2) return QString();
  bool stage = false;
  parts[1].toInt(&stage);
  if (!stage) return QString();
  return parts.size() >= 3 ? parts[0] + "/" + parts[2] : parts[0];
}

QString score_label(const QString& score) {
  if (score == "loss") return "loss (nats per token)";
  if (score == "token_acc" || score == "exact_match") return score + " (fraction)";
  return score;
}

QStringList color_map_names() {
  return {"viridis", "cividis", "magma", "gray"};
}

QCPColorGradient color_map(const QString& name) {
  if (name == "viridis") return viridis_gradient();
  if (name == "cividis")
    return gradient_of({QColor(0, 34, 78), QColor(18, 53, 112), QColor(59, 73, 108),
                        QColor(87, 93, 109), QColor(112, 113, 115), QColor(138, 134, 120),
                        QColor(165, 156, 116), QColor(195, 180, 105), QColor(225, 205, 86),
                        QColor(253, 234, 69)});
  if (name == "magma")
    return gradient_of({QColor(0, 0, 4), QColor(28, 16, 68), QColor(79, 18, 123),
                        QColor(129, 37, 129), QColor(181, 54, 122), QColor(229, 80, 100),
                        QColor(251, 135, 97), QColor(254, 194, 135), QColor(252, 253, 191)});
  if (name == "gray") return gradient_of({QColor(20, 20, 20), QColor(245, 245, 245)});
  throw ConfigError("colour map '" + name.toStdString() + "' is unknown; use one of " +
                    color_map_names().join(", ").toStdString());
}

std::pair<double, double> parse_range(const std::string& text) {
  const auto colon = text.find(':');
  double lo = NAN, hi = NAN;
  if (colon != std::string::npos) {
    try {
      size_t a = 0, b = 0;
      lo = std::stod(text.substr(0, colon), &a);
      hi = std::stod(text.substr(colon + 1), &b);
      if (a != colon || b != text.size() - colon - 1) lo = hi = NAN;
    } catch (const std::exception&) {
      lo = hi = NAN;
    }
  }
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw ConfigError("colour range '" + text + "' is not LO:HI with LO < HI (e.g. 0:5)");
  return {lo, hi};
}

PlotStyle screen_style() {
  return PlotStyle{};
}

PlotStyle paper_style() {
  PlotStyle s;
  s.name = "paper";
  const QStringList families = QFontDatabase::families();
  for (const char* f : {"DejaVu Serif", "Nimbus Roman", "Times New Roman", "Liberation Serif"})
    if (families.contains(f)) {
      s.family = f;
      break;
    }
  if (s.family.isEmpty()) s.family = "serif";
  s.label_pt = 9;
  s.tick_pt = 8;
  s.line_scale = 0.75;
  return s;
}

PlotStyle style_named(const std::string& name) {
  if (name.empty() || name == "screen") return screen_style();
  if (name == "paper") return paper_style();
  throw ConfigError("style '" + name + "' is unknown; use screen or paper");
}

double named_width_inches(const std::string& name) {
  if (name == "column") return 3.3;
  if (name == "double") return 6.9;
  return 0;
}

namespace {
QFont styled(const QFont& f, const PlotStyle& s, double pt) {
  QFont out = f;
  if (!s.family.isEmpty()) {
    out.setFamily(s.family);
    out.setStyleHint(QFont::Serif);
  }
  out.setPointSizeF(pt);
  return out;
}
}  // namespace

void apply_style(QCustomPlot* p, const PlotStyle& s) {
  for (QCPAxisRect* r : p->axisRects())
    for (QCPAxis* a : r->axes()) {
      a->setLabelFont(styled(a->labelFont(), s, s.label_pt));
      a->setTickLabelFont(styled(a->tickLabelFont(), s, s.tick_pt));
    }
  for (int i = 0; i < p->plotLayout()->elementCount(); ++i) {
    QCPLayoutElement* e = p->plotLayout()->elementAt(i);
    if (!e) continue;
    if (auto* c = qobject_cast<QCPColorScale*>(e)) {
      c->axis()->setLabelFont(styled(c->axis()->labelFont(), s, s.label_pt));
      c->axis()->setTickLabelFont(styled(c->axis()->tickLabelFont(), s, s.tick_pt));
    }
    if (auto* t = qobject_cast<QCPTextElement*>(e))
      t->setFont(styled(t->font(), s,
                        t->property("lorascape_title").toBool() ? s.label_pt + 1 : s.tick_pt));
    if (e->property("lorascape_font").isValid())
      e->setProperty("lorascape_font",
                     styled(e->property("lorascape_font").value<QFont>(), s, s.tick_pt));
  }
  p->legend->setFont(styled(p->legend->font(), s, s.tick_pt));
  for (int i = 0; i < p->legend->itemCount(); ++i)
    if (QCPAbstractLegendItem* it = p->legend->item(i))
      it->setFont(styled(it->font(), s, s.tick_pt));
  for (int i = 0; i < p->itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(p->item(i)))
      t->setFont(styled(
          t->font(), s,
          std::min(t->font().pointSizeF() > 0 ? t->font().pointSizeF() : s.tick_pt, s.tick_pt)));
  if (s.line_scale != 1) {
    for (int i = 0; i < p->plottableCount(); ++i) {
      QCPAbstractPlottable* pl = p->plottable(i);
      QPen pen = pl->pen();
      pen.setWidthF(pen.widthF() * s.line_scale);
      pl->setPen(pen);
    }
  }
}

StyleSnapshot::StyleSnapshot(QCustomPlot* p) : plot_(p), legend_font_(p->legend->font()) {
  for (QCPAxisRect* r : p->axisRects())
    for (QCPAxis* a : r->axes()) {
      fonts_.push_back({a, a->labelFont()});
      a->setProperty("lorascape_tick_font", a->tickLabelFont());
    }
  for (int i = 0; i < p->plotLayout()->elementCount(); ++i) {
    QCPLayoutElement* e = p->plotLayout()->elementAt(i);
    if (!e) continue;
    if (auto* c = qobject_cast<QCPColorScale*>(e)) {
      fonts_.push_back({c->axis(), c->axis()->labelFont()});
      c->axis()->setProperty("lorascape_tick_font", c->axis()->tickLabelFont());
    }
    if (auto* t = qobject_cast<QCPTextElement*>(e)) fonts_.push_back({t, t->font()});
    if (e->property("lorascape_font").isValid())
      fonts_.push_back({e, e->property("lorascape_font").value<QFont>()});
  }
  for (int i = 0; i < p->legend->itemCount(); ++i)
    if (QCPAbstractLegendItem* it = p->legend->item(i)) fonts_.push_back({it, it->font()});
  for (int i = 0; i < p->itemCount(); ++i)
    if (auto* t = qobject_cast<QCPItemText*>(p->item(i))) fonts_.push_back({t, t->font()});
  for (int i = 0; i < p->plottableCount(); ++i)
    widths_.push_back({p->plottable(i), p->plottable(i)->pen().widthF()});
}

void StyleSnapshot::restore() const {
  for (const auto& [o, f] : fonts_) {
    if (auto* a = qobject_cast<QCPAxis*>(o)) {
      a->setLabelFont(f);
      a->setTickLabelFont(a->property("lorascape_tick_font").value<QFont>());
    } else if (auto* t = qobject_cast<QCPTextElement*>(o)) {
      t->setFont(f);
    } else if (auto* it = qobject_cast<QCPAbstractLegendItem*>(o)) {
      it->setFont(f);
    } else if (auto* tx = qobject_cast<QCPItemText*>(o)) {
      tx->setFont(f);
    } else {
      o->setProperty("lorascape_font", f);
    }
  }
  for (const auto& [o, w] : widths_)
    if (auto* pl = qobject_cast<QCPAbstractPlottable*>(o)) {
      QPen pen = pl->pen();
      pen.setWidthF(w);
      pl->setPen(pen);
    }
  plot_->legend->setFont(legend_font_);
}

void set_title(QCustomPlot* p, const QString& title) {
  QCPLayoutGrid* grid = p->plotLayout();
  if (title.isEmpty()) return;
  if (grid->columnCount() > 1) {
    // The figure's grid moves into a grid of its own under the title, so that the title spans
    // every column.
    auto* body = new QCPLayoutGrid;
    const int rows = grid->rowCount(), cols = grid->columnCount();
    QList<double> rs = grid->rowStretchFactors(), cs = grid->columnStretchFactors();
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c)
        if (QCPLayoutElement* e = grid->element(r, c)) {
          grid->take(e);
          body->addElement(r, c, e);
        }
    body->setRowStretchFactors(rs);
    body->setColumnStretchFactors(cs);
    body->setRowSpacing(grid->rowSpacing());
    body->setColumnSpacing(grid->columnSpacing());
    grid->simplify();
    grid->addElement(0, 0, body);
  }
  grid->insertRow(0);
  auto* t = new QCPTextElement(p, title);
  t->setProperty("lorascape_title", true);
  QFont f = p->font();
  f.setPointSizeF(11);
  f.setBold(true);
  t->setFont(f);
  t->setTextColor(p->property("lorascape_dark").toBool() ? QColor(0xdd, 0xdd, 0xdd)
                                                         : QColor(0x20, 0x20, 0x20));
  grid->addElement(0, 0, t);
  grid->setRowStretchFactor(0, 0.001);
}

QStringList legend_places() {
  QStringList out;
  for (const auto& p : kPlaces) out << p;
  return out;
}

void place_legend(QCustomPlot* p, const std::string& where) {
  const QString w = QString::fromStdString(where);
  if (!legend_places().contains(w))
    throw ConfigError("legend place '" + where + "' is unknown; use one of " +
                      legend_places().join(", ").toStdString());
  if (w == "none") {
    p->legend->setVisible(false);
    return;
  }
  QCPLayoutInset* inset = p->axisRect()->insetLayout();
  for (int i = 0; i < inset->elementCount(); ++i)
    if (inset->elementAt(i) == p->legend) {
      const Qt::Alignment v = w.startsWith("top") ? Qt::AlignTop : Qt::AlignBottom;
      const Qt::Alignment h = w.endsWith("right") ? Qt::AlignRight : Qt::AlignLeft;
      inset->setInsetAlignment(i, v | h);
    }
  p->setProperty("lorascape_legend_placed", true);  // figures keep it where it was asked
}

}  // namespace lorascape::plot
