// Straight paths between adapters in factors space.
#include <gtest/gtest.h>

#include "analysis/path.h"
#include "store/error.h"

using namespace lorascape;

TEST(Path, TsAreEvenAndInclusive) {
  auto ts = analysis::path_ts(5, -0.5, 1.5);
  ASSERT_EQ(ts.size(), 5u);
  EXPECT_DOUBLE_EQ(ts.front(), -0.5);
  EXPECT_DOUBLE_EQ(ts[2], 0.5);
  EXPECT_DOUBLE_EQ(ts.back(), 1.5);
  EXPECT_EQ(analysis::path_ts(1).size(), 1u);
  EXPECT_THROW(analysis::path_ts(0), ConfigError);
}

TEST(Path, FactorInterpolationHitsEndpointsAndMidpoint) {
  core::Adapter a(
      {{"l.lora_A.weight", at::full({2, 3}, 1.0f)}, {"l.lora_B.weight", at::zeros({4, 2})}});
  core::Adapter b(
      {{"l.lora_A.weight", at::full({2, 3}, 3.0f)}, {"l.lora_B.weight", at::ones({4, 2})}});
  EXPECT_TRUE(analysis::interpolate_factors(a, b, 0.0).equal(a));
  EXPECT_TRUE(analysis::interpolate_factors(a, b, 1.0).equal(b));
  auto mid = analysis::interpolate_factors(a, b, 0.5);
  EXPECT_TRUE(at::allclose(mid.entries()[0].second, at::full({2, 3}, 2.0f)));
  EXPECT_TRUE(at::allclose(mid.entries()[1].second, at::full({4, 2}, 0.5f)));
  // Inputs are untouched.
  EXPECT_TRUE(at::equal(a.entries()[0].second, at::full({2, 3}, 1.0f)));
}

TEST(Path, DeltaInterpolationIsLinearInWeightSpace) {
  torch::manual_seed(1);
  core::Adapter a({{"l.lora_A.weight", at::randn({2, 5})}, {"l.lora_B.weight", at::randn({3, 2})}});
  core::Adapter b({{"l.lora_A.weight", at::randn({2, 5})}, {"l.lora_B.weight", at::randn({3, 2})}});
  auto delta = [](const core::Adapter& x) {
    return at::matmul(x.entries()[1].second, x.entries()[0].second);
  };
  for (double t : {-0.5, 0.0, 0.3, 1.0, 1.25}) {
    core::Adapter p = analysis::interpolate_delta(a, b, t);
    EXPECT_EQ(p.entries()[0].second.sizes(), (c10::IntArrayRef{4, 5})) << "rank 2r";
    EXPECT_TRUE(at::allclose(delta(p), (1 - t) * delta(a) + t * delta(b), 1e-5, 1e-6)) << t;
  }
  // Invariant to the factor rescaling B -> 2B, A -> A/2, unlike the factors path.
  core::Adapter b2({{"l.lora_A.weight", b.entries()[0].second / 2},
                    {"l.lora_B.weight", b.entries()[1].second * 2}});
  EXPECT_TRUE(at::allclose(delta(analysis::interpolate_delta(a, b2, 0.5)),
                           delta(analysis::interpolate_delta(a, b, 0.5)), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(delta(analysis::interpolate_factors(a, b2, 0.5)),
                            delta(analysis::interpolate_factors(a, b, 0.5)), 1e-3, 1e-4));
}

TEST(Path, BarrierIsTheLargestRiseAboveTheChord) {
  // f(0) = 1, f(1) = 3: the chord is 1 + 2t; at t = 0.5 the value 4 is 2 above it.
  EXPECT_DOUBLE_EQ(analysis::barrier({0, 0.25, 0.5, 0.75, 1}, {1, 2, 4, 3, 3}), 2.0);
  // A convex valley has a non-positive barrier (0 at the endpoints themselves).
  EXPECT_DOUBLE_EQ(analysis::barrier({0, 0.5, 1}, {1, 0.2, 1}), 0.0);
  // Points beyond [0, 1] count against the extended chord.
  EXPECT_DOUBLE_EQ(analysis::barrier({-0.5, 0, 1, 1.5}, {5, 1, 1, 1}), 4.0);
  EXPECT_THROW(analysis::barrier({0.1, 0.9}, {1, 1}), ConfigError);
}
