// Straight paths between adapters in factors space.
#include <gtest/gtest.h>

#include "analysis/path.h"
#include "core/error.h"

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
  core::Adapter a({{"l.lora_A.weight", at::full({2, 3}, 1.0f)}, {"l.lora_B.weight", at::zeros({4, 2})}});
  core::Adapter b({{"l.lora_A.weight", at::full({2, 3}, 3.0f)}, {"l.lora_B.weight", at::ones({4, 2})}});
  EXPECT_TRUE(analysis::interpolate_factors(a, b, 0.0).equal(a));
  EXPECT_TRUE(analysis::interpolate_factors(a, b, 1.0).equal(b));
  auto mid = analysis::interpolate_factors(a, b, 0.5);
  EXPECT_TRUE(at::allclose(mid.entries()[0].second, at::full({2, 3}, 2.0f)));
  EXPECT_TRUE(at::allclose(mid.entries()[1].second, at::full({4, 2}, 0.5f)));
  // Inputs are untouched.
  EXPECT_TRUE(at::equal(a.entries()[0].second, at::full({2, 3}, 1.0f)));
}
