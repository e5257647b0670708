// Continual-learning metrics on hand-computed examples (docs/metrics.md).
#include <gtest/gtest.h>

#include <cmath>

#include "core/metrics.h"
#include "store/error.h"

using namespace lorascape::core;

TEST(Metrics, ThreeTaskGoldenValues) {
  // R[t][i]
  std::vector<std::vector<double>> R{{0.9, 0.1, 0.2}, {0.5, 0.8, 0.3}, {0.3, 0.4, 1.0}};
  std::vector<double> b{0.0, 0.1, 0.1};
  auto m = compute_metrics(R, b);
  EXPECT_NEAR(m.op, (0.3 + 0.4 + 1.0) / 3, 1e-12);
  EXPECT_NEAR(m.bwt, ((0.3 - 0.9) + (0.4 - 0.8)) / 2, 1e-12);
  EXPECT_NEAR(m.fwt, ((0.1 - 0.1) + (0.3 - 0.1)) / 2, 1e-12);
  EXPECT_NEAR(m.forgetting, ((0.9 - 0.3) + (0.8 - 0.4)) / 2, 1e-12);
  EXPECT_NEAR(m.plasticity, (0.9 + 0.8 + 1.0) / 3, 1e-12);
  // t=1: 0.5/0.9 ; t=2: mean(0.3/0.9, 0.4/0.8)
  EXPECT_NEAR(m.stability, (0.5 / 0.9 + (0.3 / 0.9 + 0.5) / 2) / 2, 1e-12);
}

TEST(Metrics, StabilityIsClippedAndSingleTaskHasNaNs) {
  std::vector<std::vector<double>> R{{0.5, 0.0}, {0.9, 0.7}};
  auto m = compute_metrics(R, {0, 0});
  EXPECT_NEAR(m.stability, 1.0, 1e-12);  // 0.9/0.5 clipped to 1
  EXPECT_NEAR(m.bwt, 0.4, 1e-12);
  auto one = compute_metrics({{0.8}}, {0.1});
  EXPECT_NEAR(one.op, 0.8, 1e-12);
  EXPECT_TRUE(std::isnan(one.bwt));
  EXPECT_TRUE(std::isnan(one.stability));
  EXPECT_THROW(compute_metrics({{0.1, 0.2}}, {0, 0}), lorascape::Error);
}

TEST(Metrics, LossMetricsFollowLowerIsBetter) {
  // Losses of 2 tasks: task 0 learned to 0.5, then rises to 2.0 after task 1 (forgotten).
  const std::vector<std::vector<double>> R{{0.5, 3.0}, {2.0, 0.25}};
  const std::vector<double> b{3.5, 4.0};
  const ClMetrics m = compute_loss_metrics(R, b);
  EXPECT_DOUBLE_EQ(m.op, 1.125);
  EXPECT_DOUBLE_EQ(m.bwt, 1.5);         // positive: the old task's loss went up
  EXPECT_DOUBLE_EQ(m.fwt, -1.0);        // 3.0 − 4.0: task 0's adapter already helps task 1
  EXPECT_DOUBLE_EQ(m.forgetting, 1.5);  // 2.0 − min(0.5)
  EXPECT_DOUBLE_EQ(m.plasticity, 0.375);
  EXPECT_TRUE(std::isnan(m.stability));
  EXPECT_DOUBLE_EQ(compute_score_metrics("loss", R, b).forgetting, 1.5);
  EXPECT_DOUBLE_EQ(compute_score_metrics("exact_match", R, b).forgetting,
                   compute_metrics(R, b).forgetting);
}

// A score that is not known (NaN: a stage not evaluated) makes every metric that uses it NaN,
// stability included, never a number computed as if the score were 0.
TEST(Metrics, UnknownScoresGiveUnknownMetrics) {
  const double nan = std::nan("");
  const auto m = compute_metrics({{nan, 0.1}, {0.5, 0.9}}, {0.0, 0.0});
  EXPECT_TRUE(std::isnan(m.bwt));
  EXPECT_TRUE(std::isnan(m.plasticity));
  EXPECT_TRUE(std::isnan(m.stability));
  EXPECT_DOUBLE_EQ(m.op, 0.7);
}
