// Evaluator: K adapters in one batched forward give each adapter's own scores, and a point's
// scores do not depend on the other points of its batch (what makes resumed and sharded
// scans bit-identical).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/nn/init.h>

#include <cstring>

#include "core/adapter.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "kernels/gemm.h"
#include "store/error.h"
#include "tests/common/tiny_model.h"

using namespace lorascape::core;
namespace kernels = lorascape::kernels;

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
  void SetUp() override { build(lorascape::test::tiny_model(), 3, 3, 10); }
  // The model `c` (seeded with `seed`) with LoRA on q, v and down, and `n` random adapters
  // seeded from `first` on.
  void build(const ModelConfig& c, uint64_t seed, uint64_t n, uint64_t first) {
    at::set_num_threads(1);
    torch::manual_seed(seed);
    model = Transformer(c);
    LoraConfig lora;
    lora.rank = 4;
    lora.alpha = 8;
    lora.targets = {"q_proj", "v_proj", "down_proj"};
    model->add_lora(lora);
    for (uint64_t s = 0; s < n; ++s) points.push_back(random_adapter(*model, first + s));
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
      EXPECT_TRUE(same_bits(ev.evaluate(ex).scores(0), all.scores(static_cast<int64_t>(k))))
          << "point " << k;
    }
    ev.load_points({points[2], points[0]});
    const ScoreSums two = ev.evaluate(ex);
    EXPECT_TRUE(same_bits(two.scores(0), all.scores(2))) << threads << " threads";
    EXPECT_TRUE(same_bits(two.scores(1), all.scores(0))) << threads << " threads";
  }
  at::set_num_threads(1);
}

namespace {

// A model as wide as the default one (d_model 128, d_ff 344), where a change in the order of
// a sum shows in the scores (the tiny model above is too small for that), with LoRA on q, v
// and down: the other projections keep the base weights, shared by all points.
class WideEvaluatorTest : public EvaluatorTest {
 protected:
  void SetUp() override { build_wide(0); }
  // The wide model with `kv_heads` key/value heads (0 = as many as the 4 query heads).
  void build_wide(int64_t kv_heads) {
    ModelConfig c = lorascape::test::tiny_model();
    c.d_model = 128;
    c.n_heads = 4;
    c.n_kv_heads = kv_heads;
    c.d_ff = 344;
    c.max_seq = 32;
    points.clear();
    ex.clear();
    build(c, 5, 8, 20);
    for (int i = 0; i < 10; ++i)
      ex.push_back(
          {"copy " + std::string(static_cast<size_t>(1 + i % 6), static_cast<char>('a' + i)),
           std::to_string(i * 37)});
  }
  void TearDown() override { kernels::set_gemm_enabled(true); }

  // Every point's scores, evaluated K points per forward (the last forward takes the rest), as
  // a scan evaluates them; examples in forwards of 4.
  std::vector<Scores> in_forwards_of(size_t K, const std::vector<Adapter>& pts) {
    Evaluator ev(*model, model->lora_config().scale(), 4);
    std::vector<Scores> out;
    for (size_t i = 0; i < pts.size(); i += K) {
      ev.load_points(std::vector<Adapter>(
          pts.begin() + static_cast<std::ptrdiff_t>(i),
          pts.begin() + static_cast<std::ptrdiff_t>(std::min(pts.size(), i + K))));
      const ScoreSums s = ev.evaluate(ex);
      for (size_t k = 0; k + i < std::min(pts.size(), i + K); ++k)
        out.push_back(s.scores(static_cast<int64_t>(k)));
    }
    return out;
  }
  // Checks that 2, 3 and 8 points per forward give every point the bits it gets alone; returns
  // the lone points' scores.
  std::vector<Scores> expect_independent_of_the_batch(const std::vector<Adapter>& pts,
                                                      const std::string& label) {
    const std::vector<Scores> lone = in_forwards_of(1, pts);
    for (size_t K : {2, 3, 8}) {
      const std::vector<Scores> got = in_forwards_of(K, pts);
      EXPECT_EQ(got.size(), lone.size());
      for (size_t k = 0; k < std::min(got.size(), lone.size()); ++k)
        EXPECT_TRUE(same_bits(got[k], lone[k]))
            << label << ", " << K << " points per forward, point " << k << ": " << got[k].loss
            << " vs " << lone[k].loss;
    }
    return lone;
  }

  std::vector<Example> ex;
};

}  // namespace

// The property that makes resumed, sharded and MPI-split scans, and scans with any
// --points-per-batch, give the same values: with lorascape's GEMM (where this CPU has it) and
// with the BLAS, whichever kernels the BLAS runs here (OPENBLAS_CORETYPE as the machine sets it).
TEST_F(WideEvaluatorTest, ScoresDoNotDependOnHowManyPointsShareTheForward) {
  // On this model the earlier point-batched forward (one at::bmm for all points) failed these
  // checks with both GEMMs: 9 of 24 comparisons with lorascape's GEMM, 11 of 24 with OpenBLAS's
  // Haswell kernels (2026-12-02).
  if (kernels::gemm_available()) expect_independent_of_the_batch(points, "lorascape's GEMM");
  kernels::set_gemm_enabled(false);
  expect_independent_of_the_batch(points, "BLAS");
}

// Grouped-query attention (2 key/value heads for 4 query heads), in float32 (the fused CPU
// attention) and bfloat16 (ATen's).
TEST_F(WideEvaluatorTest, GroupedQueryAttentionScoresDoNotDependOnHowManyPointsShareTheForward) {
  build_wide(2);
  ASSERT_EQ(model->model->layers[0]->as<Block>()->self_attn->k_proj->weight.size(0), 64);
  expect_independent_of_the_batch(points, "grouped-query float32");
  model->to(at::kBFloat16);
  expect_independent_of_the_batch(points, "grouped-query bfloat16");
}

// bfloat16 on a CPU runs ATen's attention and RMSNorm (not the fused float32 kernels).
TEST_F(WideEvaluatorTest, Bfloat16ScoresDoNotDependOnHowManyPointsShareTheForward) {
  model->to(at::kBFloat16);
  expect_independent_of_the_batch(points, "bfloat16");
}

TEST_F(WideEvaluatorTest, GpuScoresDoNotDependOnHowManyPointsShareTheForward_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const at::Device gpu(at::kCUDA, 0);
  model->to(gpu);
  std::vector<Adapter> on_gpu;
  for (const auto& p : points) on_gpu.push_back(p.to(gpu));
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    model->to(dtype);
    expect_independent_of_the_batch(on_gpu, dtype == at::kFloat ? "cuda float32" : "cuda bfloat16");
  }
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
  for (int64_t k = 0; k < 3; ++k)
    EXPECT_NEAR(b16.scores(k).loss, f32.scores(k).loss, 0.05 * f32.scores(k).loss) << k;
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
    for (int64_t k = 0; k < 3; ++k)
      EXPECT_NEAR(gpu.scores(k).loss, cpu.scores(k).loss, tol * cpu.scores(k).loss) << k;
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
  EXPECT_THROW(pool.for_each(2,
                             [](Evaluator&, int64_t i) {
                               if (i == 1) throw lorascape::ConfigError("boom");
                             }),
               lorascape::ConfigError);
  at::set_num_threads(1);
}
