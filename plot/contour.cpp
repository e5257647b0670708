#include "plot/contour.h"

#include <cmath>
#include <map>
#include <stdexcept>
#include <utility>

namespace lorascape::plot {

namespace {

struct Point {
  double x, y;
};

// The crossing of the level on the edge between grid points p (x0, y0, z0) and q (x1, y1,
// z1). Always called with p the point of lower index, so that the two cells sharing an edge
// compute the same bits.
Point crossing(double x0, double y0, double z0, double x1, double y1, double z1, double level) {
  const double t = (z1 == z0) ? 0.5 : (level - z0) / (z1 - z0);
  return {x0 + t * (x1 - x0), y0 + t * (y1 - y0)};
}

}  // namespace

std::vector<ContourSegment> contour_segments(const std::vector<double>& xs,
                                             const std::vector<double>& ys,
                                             const std::vector<double>& z, double level) {
  const size_t nx = xs.size(), ny = ys.size();
  if (z.size() != nx * ny)
    throw std::invalid_argument("contour_segments: field has " + std::to_string(z.size()) +
                                " values, expected " + std::to_string(nx) + " x " +
                                std::to_string(ny));
  std::vector<ContourSegment> out;
  if (nx < 2 || ny < 2) return out;
  auto at = [&](size_t i, size_t j) { return z[i * ny + j]; };
  for (size_t i = 0; i + 1 < nx; ++i)
    for (size_t j = 0; j + 1 < ny; ++j) {
      // Corners: a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1).
      const double za = at(i, j), zb = at(i + 1, j), zc = at(i + 1, j + 1), zd = at(i, j + 1);
      if (!std::isfinite(za) || !std::isfinite(zb) || !std::isfinite(zc) || !std::isfinite(zd))
        continue;
      const int code = (za >= level ? 1 : 0) | (zb >= level ? 2 : 0) | (zc >= level ? 4 : 0) |
                       (zd >= level ? 8 : 0);
      if (code == 0 || code == 15) continue;
      const double x0 = xs[i], x1 = xs[i + 1], y0 = ys[j], y1 = ys[j + 1];
      // Edge crossings, each computed from its lower-index end.
      auto bottom = [&] { return crossing(x0, y0, za, x1, y0, zb, level); };  // a-b
      auto right = [&] { return crossing(x1, y0, zb, x1, y1, zc, level); };   // b-c
      auto top = [&] { return crossing(x0, y1, zd, x1, y1, zc, level); };     // d-c
      auto left = [&] { return crossing(x0, y0, za, x0, y1, zd, level); };    // a-d
      auto add = [&](Point p, Point q) { out.push_back({p.x, p.y, q.x, q.y}); };
      switch (code) {
        case 1:
        case 14:
          add(left(), bottom());
          break;
        case 2:
        case 13:
          add(bottom(), right());
          break;
        case 3:
        case 12:
          add(left(), right());
          break;
        case 4:
        case 11:
          add(right(), top());
          break;
        case 6:
        case 9:
          add(bottom(), top());
          break;
        case 7:
        case 8:
          add(left(), top());
          break;
        case 5:
        case 10: {
          // Saddle: a and c on one side, b and d on the other. The cell centre decides which
          // pair is connected through the middle.
          const bool centre_above = (za + zb + zc + zd) / 4 >= level;
          const bool ac_connected = (code == 5) == centre_above;
          if (ac_connected) {  // the lines cut off b and d
            add(bottom(), right());
            add(top(), left());
          } else {  // the lines cut off a and c
            add(left(), bottom());
            add(right(), top());
          }
          break;
        }
        default:
          break;
      }
    }
  return out;
}

std::vector<double> contour_levels(double lo, double hi, int count, bool log) {
  std::vector<double> levels;
  if (count < 1 || !(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) return levels;
  if (log && lo <= 0) return levels;
  const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi;
  for (int k = 1; k <= count; ++k) {
    const double v = a + (b - a) * k / (count + 1);
    levels.push_back(log ? std::pow(10.0, v) : v);
  }
  return levels;
}

std::vector<std::vector<double>> join_segments(const std::vector<ContourSegment>& segments) {
  using Key = std::pair<double, double>;
  // End point -> segments ending there (index·2 + which end).
  std::multimap<Key, size_t> ends;
  for (size_t s = 0; s < segments.size(); ++s) {
    ends.emplace(Key{segments[s].x0, segments[s].y0}, 2 * s);
    ends.emplace(Key{segments[s].x1, segments[s].y1}, 2 * s + 1);
  }
  std::vector<bool> used(segments.size(), false);
  // The unused segment with an end at `p` (other than segment `self`), and which end: -1 if none.
  auto next_at = [&](const Key& p, size_t self) -> long {
    auto [lo, hi] = ends.equal_range(p);
    for (auto it = lo; it != hi; ++it)
      if (it->second / 2 != self && !used[it->second / 2]) return static_cast<long>(it->second);
    return -1;
  };
  std::vector<std::vector<double>> lines;
  for (size_t s = 0; s < segments.size(); ++s) {
    if (used[s]) continue;
    used[s] = true;
    std::vector<Key> pts{{segments[s].x0, segments[s].y0}, {segments[s].x1, segments[s].y1}};
    // Extend forward from the last point, then backward from the first.
    for (int dir = 0; dir < 2; ++dir) {
      for (;;) {
        const Key tip = dir == 0 ? pts.back() : pts.front();
        const long e = next_at(tip, s);
        if (e < 0) break;
        const size_t k = static_cast<size_t>(e) / 2;
        used[k] = true;
        const ContourSegment& g = segments[k];
        const Key other = (e % 2 == 0) ? Key{g.x1, g.y1} : Key{g.x0, g.y0};
        if (dir == 0)
          pts.push_back(other);
        else
          pts.insert(pts.begin(), other);
      }
    }
    std::vector<double> flat;
    flat.reserve(pts.size() * 2);
    for (const auto& p : pts) {
      flat.push_back(p.first);
      flat.push_back(p.second);
    }
    lines.push_back(std::move(flat));
  }
  return lines;
}

}  // namespace lorascape::plot
