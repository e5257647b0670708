// Marching squares (plot/contour.h) on fields whose level lines are known.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "plot/contour.h"

using namespace lorascape::plot;

namespace {
std::vector<double> linspace(double a, double b, int n) {
  std::vector<double> v;
  for (int k = 0; k < n; ++k) v.push_back(a + (b - a) * k / (n - 1));
  return v;
}
template <class F>
std::vector<double> field(const std::vector<double>& xs, const std::vector<double>& ys, F f) {
  std::vector<double> z;
  for (double x : xs)
    for (double y : ys) z.push_back(f(x, y));  // z[i·ny + j] = f(xs[i], ys[j])
  return z;
}
}  // namespace

TEST(Contour, PlaneFieldGivesAStraightLineAtTheLevel) {
  // z = x: the level 0.3 is the vertical line x = 0.3, crossing every row of cells once.
  const auto xs = linspace(0, 1, 6), ys = linspace(-1, 1, 5);
  const auto segs =
      contour_segments(xs, ys, field(xs, ys, [](double x, double) { return x; }), 0.3);
  ASSERT_EQ(segs.size(), 4u);  // one per cell row (ny − 1)
  for (const auto& s : segs) {
    EXPECT_NEAR(s.x0, 0.3, 1e-12);
    EXPECT_NEAR(s.x1, 0.3, 1e-12);
  }
  const auto lines = join_segments(segs);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].size(), 10u);  // 5 points: y = -1 … 1
  EXPECT_NEAR(std::abs(lines[0][1] - lines[0][9]), 2.0, 1e-12);
}

TEST(Contour, CircleIsClosedAndOnTheRadius) {
  // z = x² + y²: the level r² is a circle of radius r; linear interpolation puts the points on
  // the cell edges within the grid's curvature error of it.
  const auto xs = linspace(-2, 2, 81), ys = linspace(-2, 2, 81);
  const double r = 1.33;  // passes through no grid point
  const auto segs = contour_segments(
      xs, ys, field(xs, ys, [](double x, double y) { return x * x + y * y; }), r * r);
  ASSERT_GT(segs.size(), 50u);
  for (const auto& s : segs) {
    EXPECT_NEAR(std::hypot(s.x0, s.y0), r, 2e-3);
    EXPECT_NEAR(std::hypot(s.x1, s.y1), r, 2e-3);
  }
  const auto lines = join_segments(segs);
  ASSERT_EQ(lines.size(), 1u);  // one closed line
  const auto& l = lines[0];
  EXPECT_EQ(l.size(), 2 * (segs.size() + 1));
  EXPECT_DOUBLE_EQ(l[0], l[l.size() - 2]);
  EXPECT_DOUBLE_EQ(l[1], l[l.size() - 1]);
}

TEST(Contour, LevelOutsideTheRangeAndNanCellsGiveNothing) {
  const auto xs = linspace(0, 1, 3), ys = linspace(0, 1, 3);
  auto z = field(xs, ys, [](double x, double y) { return x + y; });
  EXPECT_TRUE(contour_segments(xs, ys, z, 5.0).empty());
  EXPECT_TRUE(contour_segments(xs, ys, z, -1.0).empty());
  // Every cell touches the centre point: a NaN there (a point not computed yet) removes all.
  z[1 * 3 + 1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(contour_segments(xs, ys, z, 1.0).empty());
  EXPECT_THROW(contour_segments(xs, ys, std::vector<double>(4, 0.0), 0.5), std::invalid_argument);
}

TEST(Contour, SaddleIsResolvedByTheCellMean) {
  // One cell, corners a=(0,0) 1, b=(1,0) 0, c=(1,1) 1, d=(0,1) 0: a and c above 0.5.
  const std::vector<double> xs{0, 1}, ys{0, 1};
  // z[i·2 + j]: (0,0)=1, (0,1)=0, (1,0)=0, (1,1)=1
  std::vector<double> z{1, 0, 0, 1};
  // Mean 0.5 >= level 0.4: a and c are joined through the middle, the lines cut off b and d.
  auto segs = contour_segments(xs, ys, z, 0.4);
  ASSERT_EQ(segs.size(), 2u);
  for (const auto& s : segs) {
    const double mx = (s.x0 + s.x1) / 2, my = (s.y0 + s.y1) / 2;
    const bool near_b = mx > 0.5 && my < 0.5, near_d = mx < 0.5 && my > 0.5;
    EXPECT_TRUE(near_b || near_d) << mx << "," << my;
  }
  // Mean 0.5 < level 0.6: b and d are joined, the lines cut off a and c.
  segs = contour_segments(xs, ys, z, 0.6);
  ASSERT_EQ(segs.size(), 2u);
  for (const auto& s : segs) {
    const double mx = (s.x0 + s.x1) / 2, my = (s.y0 + s.y1) / 2;
    const bool near_a = mx < 0.5 && my<0.5, near_c = mx> 0.5 && my > 0.5;
    EXPECT_TRUE(near_a || near_c) << mx << "," << my;
  }
}

TEST(Contour, InterpolatesOnTheEdges) {
  // z = 10·y on a 2 x 2 grid with y in {0, 1}: the level 2.5 crosses at y = 0.25.
  const std::vector<double> xs{0, 4}, ys{0, 1};
  const auto segs = contour_segments(xs, ys, {0, 10, 0, 10}, 2.5);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_DOUBLE_EQ(segs[0].y0, 0.25);
  EXPECT_DOUBLE_EQ(segs[0].y1, 0.25);
  EXPECT_DOUBLE_EQ(std::min(segs[0].x0, segs[0].x1), 0.0);
  EXPECT_DOUBLE_EQ(std::max(segs[0].x0, segs[0].x1), 4.0);
}

TEST(Contour, Levels) {
  EXPECT_EQ(contour_levels(0, 10, 4), (std::vector<double>{2, 4, 6, 8}));
  const auto l = contour_levels(1, 1000, 2, true);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NEAR(l[0], 10, 1e-9);
  EXPECT_NEAR(l[1], 100, 1e-9);
  EXPECT_TRUE(contour_levels(0, 10, 3, true).empty());  // log needs lo > 0
  EXPECT_TRUE(contour_levels(5, 5, 3).empty());
}
