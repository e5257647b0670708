#include "plot/surface.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "plot/style.h"

namespace lorascape::plot {

namespace {
struct Projection {
  double cx = 0, cy = 0, sx = 1, sy = 1;  // plane coordinates -> [-1, 1]
  double lo = 0, hi = 1, zs = 1.1;        // values -> [-zs/2, zs/2]
  double ca = 1, sa = 0, ce = 1, se = 0;  // cos/sin of the azimuth and the elevation
  double scale = 1, ox = 0, oy = 0;       // view -> pixels
  struct P {
    double x, y, depth;
  };
  // The view coordinates (x right, y up, depth into the screen) of a normalised point.
  P view(double X, double Y, double Z) const {
    const double xr = X * ca - Y * sa, yr = X * sa + Y * ca;
    return {xr, yr * se + Z * ce, yr * ce - Z * se};
  }
  double X(double x) const { return (x - cx) / sx; }
  double Y(double y) const { return (y - cy) / sy; }
  double Z(double v) const { return (std::clamp(v, lo, hi) - lo) / (hi - lo) * zs - zs / 2; }
  QPointF pixel(const P& p) const { return QPointF(ox + p.x * scale, oy - p.y * scale); }
};

const double kPi = 3.14159265358979323846;

Projection projection_of(const LandscapeFigure& f, const SurfaceOptions& o, const QRectF& area) {
  Projection pr;
  const double x0 = f.xs.front(), x1 = f.xs.back(), y0 = f.ys.front(), y1 = f.ys.back();
  pr.cx = (x0 + x1) / 2;
  pr.cy = (y0 + y1) / 2;
  pr.sx = std::max((x1 - x0) / 2, 1e-12);
  pr.sy = std::max((y1 - y0) / 2, 1e-12);
  if (f.equal_aspect) pr.sx = pr.sy = std::max(pr.sx, pr.sy);
  pr.lo = std::isfinite(f.range_lo) ? f.range_lo : f.lo;
  pr.hi = std::isfinite(f.range_hi) ? f.range_hi : f.hi;
  if (!(pr.hi > pr.lo)) pr.hi = pr.lo + 1;
  pr.ca = std::cos(o.azimuth * kPi / 180);
  pr.sa = std::sin(o.azimuth * kPi / 180);
  pr.ce = std::cos(o.elevation * kPi / 180);
  pr.se = std::sin(o.elevation * kPi / 180);
  // Fit the box's eight corners into the area.
  double l = INFINITY, r = -INFINITY, b = INFINITY, t = -INFINITY;
  for (double X : {pr.X(x0), pr.X(x1)})
    for (double Y : {pr.Y(y0), pr.Y(y1)})
      for (double Z : {-pr.zs / 2, pr.zs / 2}) {
        const auto p = pr.view(X, Y, Z);
        l = std::min(l, p.x), r = std::max(r, p.x), b = std::min(b, p.y), t = std::max(t, p.y);
      }
  pr.scale = std::min(area.width() / (r - l), area.height() / (t - b));
  pr.ox = area.center().x() - (l + r) / 2 * pr.scale;
  pr.oy = area.center().y() + (b + t) / 2 * pr.scale;
  return pr;
}

QCPColorGradient gradient_of(const LandscapeFigure& f) {
  QCPColorGradient g = color_map(f.cmap);
  return f.inverted ? g.inverted() : g;
}

// The layout element that paints the surface.
class SurfaceElement : public QCPLayoutElement {
 public:
  SurfaceElement(QCustomPlot* p, LandscapeFigure f, SurfaceOptions o)
      : QCPLayoutElement(p), f_(std::move(f)), o_(o) {
    QFont font = p->font();
    font.setPointSizeF(9);
    setProperty("lorascape_font", font);
    setMinimumSize(120, 100);
  }

 protected:
  void draw(QCPPainter* painter) override {
    const QFont font = property("lorascape_font").value<QFont>();
    const QFontMetricsF fm(font);
    const bool dark = mParentPlot->property("lorascape_dark").toBool();
    const QColor fg = dark ? QColor(0xdd, 0xdd, 0xdd) : QColor(0x20, 0x20, 0x20);
    const QRectF all = QRectF(rect());
    const double line = fm.height();
    // Room for the colour bar on the right and the axis labels around the box.
    const double bar_w = std::max(10.0, line * 0.8);
    const QString hi_text = QString::number(f_.hi, 'g', 3),
                  lo_text = QString::number(f_.lo, 'g', 3);
    const double bar_text = std::max(fm.horizontalAdvance(hi_text), fm.horizontalAdvance(lo_text));
    const double right = bar_w + bar_text + line * 1.5;
    const QRectF area = all.adjusted(line * 2.5, line * 2, -right - line * 2, -line * 2.5);
    if (area.width() < 20 || area.height() < 20) return;
    const Projection pr = projection_of(f_, o_, area);
    painter->setFont(font);
    // The box's floor and its back edges.
    const double x0 = pr.X(f_.xs.front()), x1 = pr.X(f_.xs.back());
    const double y0 = pr.Y(f_.ys.front()), y1 = pr.Y(f_.ys.back());
    const double zb = -pr.zs / 2, zt = pr.zs / 2;
    painter->setPen(QPen(QColor(150, 150, 150), 0.8));
    const auto px = [&](double X, double Y, double Z) { return pr.pixel(pr.view(X, Y, Z)); };
    painter->drawPolygon(QPolygonF{px(x0, y0, zb), px(x1, y0, zb), px(x1, y1, zb), px(x0, y1, zb)});
    // The vertical edge furthest back.
    double far_depth = -INFINITY, fx = x0, fy = y0;
    for (double X : {x0, x1})
      for (double Y : {y0, y1})
        if (pr.view(X, Y, zb).depth > far_depth)
          far_depth = pr.view(X, Y, zb).depth, fx = X, fy = Y;
    painter->drawLine(px(fx, fy, zb), px(fx, fy, zt));
    // The surface, back to front.
    painter->setRenderHint(QPainter::Antialiasing, true);
    for (const SurfaceQuad& q : surface_quads(f_, o_, area)) {
      painter->setBrush(q.color);
      painter->setPen(QPen(QColor(0, 0, 0, 70), 0.5));
      painter->drawPolygon(q.polygon);
    }
    painter->setBrush(Qt::NoBrush);
    // Axis labels: at the middle of the front edges along x and y, the value on the back edge.
    painter->setPen(fg);
    const auto label_at = [&](QPointF at, const QString& text, Qt::Alignment a) {
      const double w = fm.horizontalAdvance(text) + 4, h = line;
      double x = a & Qt::AlignRight ? at.x() - w : a & Qt::AlignHCenter ? at.x() - w / 2 : at.x();
      double y = a & Qt::AlignBottom ? at.y() - h : at.y();
      x = std::clamp(x, all.left(), all.right() - w);
      y = std::clamp(y, all.top(), all.bottom() - h);
      painter->drawText(QRectF(x, y, w, h), Qt::AlignCenter, text);
    };
    const double near_y = pr.view(0, y0, zb).depth < pr.view(0, y1, zb).depth ? y0 : y1;
    const double near_x = pr.view(x0, 0, zb).depth < pr.view(x1, 0, zb).depth ? x0 : x1;
    label_at(px(0, near_y, zb) + QPointF(0, line * 0.4), f_.x_label,
             Qt::AlignHCenter | Qt::AlignTop);
    label_at(px(near_x, 0, zb) + QPointF(near_x > 0 ? line * 0.4 : -line * 0.4, line * 0.4),
             f_.y_label, (near_x > 0 ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignTop);
    label_at(px(fx, fy, zt) - QPointF(0, line * 0.3), f_.task + " " + f_.score,
             Qt::AlignHCenter | Qt::AlignBottom);
    // The colour bar.
    const QRectF bar(all.right() - right + line * 0.5, area.top() + area.height() * 0.15, bar_w,
                     area.height() * 0.7);
    QCPColorGradient g = gradient_of(f_);
    const int steps = 64;
    painter->setPen(Qt::NoPen);
    for (int k = 0; k < steps; ++k) {
      const double v = pr.lo + (pr.hi - pr.lo) * (k + 0.5) / steps;
      painter->setBrush(QColor::fromRgb(g.color(v, QCPRange(pr.lo, pr.hi))));
      painter->drawRect(QRectF(bar.left(), bar.bottom() - bar.height() * (k + 1) / steps,
                               bar.width(), bar.height() / steps + 0.5));
    }
    painter->setBrush(Qt::NoBrush);
    painter->setPen(QPen(fg, 0.8));
    painter->drawRect(bar);
    const QString top = QString::number(pr.hi, 'g', 3), bottom = QString::number(pr.lo, 'g', 3);
    label_at(QPointF(bar.right() + 3, bar.top() - line / 2), top, Qt::AlignLeft | Qt::AlignTop);
    label_at(QPointF(bar.right() + 3, bar.bottom() - line / 2), bottom,
             Qt::AlignLeft | Qt::AlignTop);
  }

 private:
  LandscapeFigure f_;
  SurfaceOptions o_;
};
}  // namespace

std::vector<SurfaceQuad> surface_quads(const LandscapeFigure& f, const SurfaceOptions& o,
                                       const QRectF& area) {
  std::vector<SurfaceQuad> out;
  if (f.empty() || f.xs.size() < 2 || f.ys.size() < 2 || !std::isfinite(f.lo)) return out;
  const Projection pr = projection_of(f, o, area);
  QCPColorGradient g = gradient_of(f);
  const size_t nx = f.xs.size(), ny = f.ys.size();
  // The light: from the viewer's upper left, in the plane's frame.
  const double L[3] = {-0.4, -0.5, 0.77};
  for (size_t i = 0; i + 1 < nx; ++i)
    for (size_t j = 0; j + 1 < ny; ++j) {
      const size_t id[4][2] = {{i, j}, {i + 1, j}, {i + 1, j + 1}, {i, j + 1}};
      double v[4], X[4], Y[4], Z[4];
      bool ok = true;
      for (int k = 0; k < 4; ++k) {
        v[k] = f.z[id[k][0] * ny + id[k][1]];
        ok = ok && std::isfinite(v[k]);
        X[k] = pr.X(f.xs[id[k][0]]);
        Y[k] = pr.Y(f.ys[id[k][1]]);
        Z[k] = ok ? pr.Z(v[k]) : 0;
      }
      if (!ok) continue;
      SurfaceQuad q;
      double depth = 0;
      for (int k = 0; k < 4; ++k) {
        const auto p = pr.view(X[k], Y[k], Z[k]);
        q.polygon << pr.pixel(p);
        depth += p.depth / 4;
        q.value += v[k] / 4;
      }
      q.depth = depth;
      // Lambert shading with the normal of the two diagonals.
      const double a[3] = {X[2] - X[0], Y[2] - Y[0], Z[2] - Z[0]};
      const double b[3] = {X[3] - X[1], Y[3] - Y[1], Z[3] - Z[1]};
      double n[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]};
      const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
      const double lambert = len > 0 ? std::abs(n[0] * L[0] + n[1] * L[1] + n[2] * L[2]) / len : 1;
      const QColor base =
          QColor::fromRgb(g.color(std::clamp(q.value, pr.lo, pr.hi), QCPRange(pr.lo, pr.hi)));
      const double shade = 0.6 + 0.4 * lambert;
      q.color = QColor::fromRgbF(base.redF() * shade, base.greenF() * shade, base.blueF() * shade);
      out.push_back(std::move(q));
    }
  std::stable_sort(out.begin(), out.end(),
                   [](const SurfaceQuad& a, const SurfaceQuad& b) { return a.depth > b.depth; });
  return out;
}

void draw_surface(QCustomPlot* p, const LandscapeFigure& f, const SurfaceOptions& o) {
  p->clearPlottables();
  p->clearItems();
  QCPLayoutGrid* grid = p->plotLayout();
  for (int i = 0; i < grid->elementCount(); ++i)
    if (QCPLayoutElement* e = grid->elementAt(i)) {
      if (auto* r = qobject_cast<QCPAxisRect*>(e)) {
        grid->take(r);
        r->setVisible(false);
      } else if (dynamic_cast<SurfaceElement*>(e)) {
        grid->remove(e);
      }
    }
  grid->simplify();
  p->legend->setVisible(false);
  grid->addElement(0, 0, new SurfaceElement(p, f, o));
  p->replot();
}

}  // namespace lorascape::plot
