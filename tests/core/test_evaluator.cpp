// Evaluator: K adapters in one batched forward give each adapter's own scores, and a point's
// scores do not depend on the other points of its batch (what makes resumed and sharded
// scans bit-identical).
#include <gtest/gtest.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/nn/init.h>

#include <cstring>

#include "core/adapter.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "tests/common/tiny_model.h"

using namespace lorascape::core;

namespace {

std::vector<Example> examples() {
  std::vector<Example> ex;
  const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"};
  for (int i = 0; i < 7; ++i) ex.push_back({std::string("say ") + words[i], words[(i + 2) % 7]});
  return ex;
}

// A random adapter of the model's LoRA layout with non-zero B.
Adapter random_adapter(TransformerImpl& m, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<Adapter::Entry> e;
  for (auto& [name, t] : m.lora_parameters()) e.emplace_back(name, at::randn(t.sizes()) * 0.3);
  return Adapter(std::move(e));
}

bool same_bits(const Scores& a, const Scores& b) {
  return std::memcmp(&a.loss, &b.loss, sizeof(double)) == 0 && a.token_acc == b.token_acc &&
         a.exact_match == b.exact_match;
}

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    torch::manual_seed(3);
    model = Transformer(lorascape::test::tiny_model());
    LoraConfig lora;
    lora.rank = 4;
    lora.alpha = 8;
    lora.targets = {"q_proj", "v_proj", "down_proj"};
    model->add_lora(lora);
    for (uint64_t s = 0; s < 3; ++s) points.push_back(random_adapter(*model, 10 + s));
  }
  // Sums of `pts` on examples(), by a fresh Evaluator over the model as it is now.
  ScoreSums evaluate(const std::vector<Adapter>& pts, int64_t batch) {
    Evaluator ev(*model, model->lora_config().scale(), batch);
    ev.load_points(pts);
    return ev.evaluate(examples());
  }
  Transformer model{nullptr};
  std::vector<Adapter> points;
};

}  // namespace

TEST_F(EvaluatorTest, EachPointGetsItsOwnAdaptersScores) {
  const auto ex = examples();
  const ScoreSums sums = evaluate(points, 3);
  for (size_t k = 0; k < points.size(); ++k) {
    points[k].load_into(*model);
    const Scores direct = evaluate_examples(*model, ex, 0, 3);
    const Scores batched = sums.scores(static_cast<int64_t>(k));
    EXPECT_NEAR(batched.loss, direct.loss, 1e-5) << "point " << k;
    EXPECT_NEAR(batched.token_acc, direct.token_acc, 1e-12);
    EXPECT_NEAR(batched.exact_match, direct.exact_match, 1e-12);
    EXPECT_EQ(batched.examples, 7);
  }
  // Different adapters, different losses: the points really are separate.
  EXPECT_NE(sums.scores(0).loss, sums.scores(1).loss);
}

TEST_F(EvaluatorTest, ScoresDoNotDependOnTheOtherPointsOfTheBatch) {
  const auto ex = examples();
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    Evaluator ev(*model, model->lora_config().scale(), 4);
    ev.load_points(points);
    const ScoreSums all = ev.evaluate(ex);
    for (size_t k = 0; k < points.size(); ++k) {
      ev.load_points({points[k]});
      EXPECT_TRUE(same_bits(ev.evaluate(ex).scores(0), all.scores(static_cast<int64_t>(k)))) << "point " << k;
    }
    ev.load_points({points[2], points[0]});
    const ScoreSums two = ev.evaluate(ex);
    EXPECT_TRUE(same_bits(two.scores(0), all.scores(2))) << threads << " threads";
    EXPECT_TRUE(same_bits(two.scores(1), all.scores(0))) << threads << " threads";
  }
  at::set_num_threads(1);
}

TEST_F(EvaluatorTest, LeavesTheModelAsItWasAndRejectsForeignAdapters) {
  const auto ex = examples();
  points[1].load_into(*model);
  const Scores before = evaluate_examples(*model, ex, 0, 7);
  {
    Evaluator ev(*model, model->lora_config().scale(), 7);
    ev.load_points(points);
    ev.evaluate(ex);
    Adapter bad({{"model.layers.0.self_attn.q_proj.lora_A.weight", at::zeros({4, 5})},
                 {"model.layers.0.self_attn.q_proj.lora_B.weight", at::zeros({32, 4})}});
    EXPECT_THROW(ev.load_points({bad}), lorascape::FormatError);
  }
  EXPECT_TRUE(same_bits(evaluate_examples(*model, ex, 0, 7), before));
}

TEST_F(EvaluatorTest, UnionSumsAddUp) {
  auto ex = examples();
  Evaluator ev(*model, model->lora_config().scale(), 7);
  ev.load_points(points);
  std::vector<Example> a(ex.begin(), ex.begin() + 3), b(ex.begin() + 3, ex.end());
  ScoreSums s = ev.evaluate(a);
  s += ev.evaluate(b);
  const ScoreSums whole = ev.evaluate(ex);
  for (int64_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(s.scores(k).loss, whole.scores(k).loss, 1e-5);
    EXPECT_DOUBLE_EQ(s.scores(k).exact_match, whole.scores(k).exact_match);
  }
}

TEST_F(EvaluatorTest, Bfloat16ScoresAreCloseToFloat32) {
  const ScoreSums f32 = evaluate(points, 7);
  model->to(at::kBFloat16);
  const ScoreSums b16 = evaluate(points, 7);
  for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(b16.scores(k).loss, f32.scores(k).loss, 0.05 * f32.scores(k).loss) << k;
}

TEST_F(EvaluatorTest, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const ScoreSums cpu = evaluate(points, 7);
  model->to(at::Device(at::kCUDA, 0));
  std::vector<Adapter> on_gpu;
  for (const auto& p : points) on_gpu.push_back(p.to(at::Device(at::kCUDA, 0)));
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    model->to(dtype);
    const ScoreSums gpu = evaluate(on_gpu, 7);
    const double tol = dtype == at::kFloat ? 1e-4 : 0.05;
    for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(gpu.scores(k).loss, cpu.scores(k).loss, tol * cpu.scores(k).loss) << k;
  }
}

TEST_F(EvaluatorTest, PoolWorkersGiveTheSingleThreadedScoresBitForBit) {
  const auto ex = examples();
  std::vector<Scores> one;
  for (const auto& p : points) one.push_back(evaluate({p}, 3).scores(0));
  at::set_num_threads(2);
  EvaluatorPool pool(*model, model->lora_config().scale(), 3, 2);
  EXPECT_EQ(pool.workers(), 2);
  std::vector<Scores> got(points.size());
  pool.for_each(static_cast<int64_t>(points.size()), [&](Evaluator& ev, int64_t i) {
    ev.load_points({points[static_cast<size_t>(i)]});
    got[static_cast<size_t>(i)] = ev.evaluate(ex).scores(0);
  });
  EXPECT_EQ(at::get_num_threads(), 2) << "the caller's thread setting is restored";
  for (size_t k = 0; k < points.size(); ++k) EXPECT_TRUE(same_bits(got[k], one[k])) << k;
  // A worker's error reaches the caller.
  EXPECT_THROW(pool.for_each(2, [](Evaluator&, int64_t i) {
                 if (i == 1) throw lorascape::ConfigError("boom");
               }),
               lorascape::ConfigError);
  at::set_num_threads(1);
}
