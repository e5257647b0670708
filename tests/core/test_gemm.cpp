// lorascape's own float32 GEMM (kernels/gemm.h) against a float64 reference: edge shapes of the
// register tile and of the blocking, both operand layouts, strided rows, the causal variants,
// results independent of how rows are split, and the model forward through it against the
// BLAS path. Skipped on a CPU without AVX-512, where the GEMM does not run.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/model.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "tests/common/tiny_model.h"

using namespace lorascape::core;
using namespace lorascape::kernels;
namespace kernels = lorascape::kernels;

namespace {

#define REQUIRE_GEMM()            \
  if (!kernels::gemm_available()) \
  GTEST_SKIP() << "no AVX-512 on this CPU: lorascape's GEMM does not run here"

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Restores the GEMM switch when a test ends, however it ends.
struct GemmSwitch {
  explicit GemmSwitch(bool on) { kernels::set_gemm_enabled(on); }
  ~GemmSwitch() { kernels::set_gemm_enabled(true); }
};

// B (K × N) of the product, stored either as a row-major N × K weight (the transpose: y = x·Wᵀ)
// or as a row-major K × N matrix with padded rows.
struct RightOperand {
  std::vector<float> data;
  int64_t b_k, b_n;
  RightOperand(int64_t K, int64_t N, bool weight, uint32_t seed)
      : data(random_values(static_cast<size_t>(K * (N + 2)), seed)),
        b_k(weight ? 1 : N + 2),
        b_n(weight ? K : 1) {}
  float at(int64_t k, int64_t n) const { return data[static_cast<size_t>(k * b_k + n * b_n)]; }
};

}  // namespace

TEST(Gemm, MatchesFloat64OnEdgeShapesBothLayoutsAndStrides) {
  REQUIRE_GEMM();
  const float sentinel = 12345.0f;
  int cases = 0;
  // M around the 14-row tile and the 28-row block, N around the 32-column panel, K across the
  // 512-value k blocks.
  for (int64_t M : {1, 13, 14, 15, 29, 57})
    for (int64_t N : {1, 16, 17, 32, 33, 70})
      for (int64_t K : {1, 7, 128, 600})
        for (bool weight : {true, false}) {
          const int64_t lda = K + 3, ldc = N + 5;
          const float alpha = weight ? 1.0f : 0.25f;
          const auto a = random_values(static_cast<size_t>(M * lda),
                                       static_cast<uint32_t>(M * 131 + N * 7 + K));
          const RightOperand b(K, N, weight, static_cast<uint32_t>(K * 17 + N));
          std::vector<float> c(static_cast<size_t>(M * ldc), sentinel);
          kernels::gemm(M, N, K, alpha, a.data(), lda, b.data.data(), b.b_k, b.b_n, c.data(), ldc);
          for (int64_t i = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j) {
              double ref = 0, mag = 0;
              for (int64_t k = 0; k < K; ++k) {
                ref += static_cast<double>(a[static_cast<size_t>(i * lda + k)]) * b.at(k, j);
                mag += std::fabs(static_cast<double>(a[static_cast<size_t>(i * lda + k)]) *
                                 b.at(k, j));
              }
              ref *= alpha;
              ASSERT_NEAR(c[static_cast<size_t>(i * ldc + j)], ref, 2e-6 * mag * alpha + 1e-30)
                  << "M " << M << " N " << N << " K " << K << (weight ? " (weight)" : " (K×N)")
                  << " at " << i << "," << j;
            }
            for (int64_t j = N; j < ldc; ++j)  // the padding between rows of C is left alone
              ASSERT_EQ(c[static_cast<size_t>(i * ldc + j)], sentinel)
                  << "M " << M << " N " << N << " K " << K;
          }
          ++cases;
        }
  EXPECT_EQ(cases, 6 * 6 * 4 * 2);
}

TEST(Gemm, RowsDoNotDependOnHowRowsAreSplit) {
  // The scan's bit-for-bit reproducibility over threads and shards rests on this.
  REQUIRE_GEMM();
  const int64_t M = 100, N = 70, K = 600;
  const auto a = random_values(static_cast<size_t>(M * K), 1),
             w = random_values(static_cast<size_t>(N * K), 2);
  std::vector<float> whole(static_cast<size_t>(M * N)), parts(static_cast<size_t>(M * N));
  kernels::gemm(M, N, K, 1.0f, a.data(), K, w.data(), 1, K, whole.data(), N);
  const std::vector<int64_t> cuts{0, 37, 38, 90,
                                  M};  // tiles of 14 rows start elsewhere in each part
  for (size_t p = 0; p + 1 < cuts.size(); ++p)
    kernels::gemm(cuts[p + 1] - cuts[p], N, K, 1.0f, a.data() + cuts[p] * K, K, w.data(), 1, K,
                  parts.data() + cuts[p] * N, N);
  EXPECT_EQ(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)), 0);
}

TEST(Gemm, CausalVariantsSkipOnlyWhatTheMaskDiscards) {
  REQUIRE_GEMM();
  const int64_t T = 70, D = 24;  // three 32-column panels, five 14-row tiles
  const auto q = random_values(static_cast<size_t>(T * D), 3),
             k = random_values(static_cast<size_t>(T * D), 4);
  std::vector<float> full(static_cast<size_t>(T * T)), upper(static_cast<size_t>(T * T));
  kernels::gemm(T, T, D, 0.5f, q.data(), D, k.data(), 1, D, full.data(), T);
  kernels::gemm(T, T, D, 0.5f, q.data(), D, k.data(), 1, D, upper.data(), T,
                kernels::Causal::upper_c);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j)
      ASSERT_EQ(upper[static_cast<size_t>(i * T + j)], full[static_cast<size_t>(i * T + j)]);

  // P (lower triangular, as a causal softmax leaves it) times V: the same with and without
  // skipping.
  auto p = random_values(static_cast<size_t>(T * T), 5);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = i + 1; j < T; ++j) p[static_cast<size_t>(i * T + j)] = 0.0f;
  const auto v = random_values(static_cast<size_t>(T * D), 6);
  std::vector<float> dense(static_cast<size_t>(T * D)), lower(static_cast<size_t>(T * D));
  kernels::gemm(T, D, T, 1.0f, p.data(), T, v.data(), D, 1, dense.data(), D);
  kernels::gemm(T, D, T, 1.0f, p.data(), T, v.data(), D, 1, lower.data(), D,
                kernels::Causal::lower_a);
  for (size_t i = 0; i < dense.size(); ++i) ASSERT_EQ(lower[i], dense[i]) << i;
}

TEST(Gemm, SwigluInsideTheGemmMatchesFloat64) {
  REQUIRE_GEMM();
  for (int64_t M : {1, 15, 57})
    for (int64_t F : {1, 16, 23, 70})
      for (int64_t K : {1, 33, 512}) {
        const int64_t lda = K + 1, ldw = K + 2, ldh = F + 3;
        const auto a =
            random_values(static_cast<size_t>(M * lda), static_cast<uint32_t>(M + F + K));
        const auto w =
            random_values(static_cast<size_t>(2 * F * ldw), static_cast<uint32_t>(F * K));
        const float sentinel = -7.0f;
        std::vector<float> h(static_cast<size_t>(M * ldh), sentinel);
        kernels::gemm_swiglu(M, F, K, a.data(), lda, w.data(), ldw, h.data(), ldh);
        for (int64_t i = 0; i < M; ++i) {
          for (int64_t j = 0; j < F; ++j) {
            double g = 0, u = 0, mag = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double x = a[static_cast<size_t>(i * lda + k)];
              g += x * w[static_cast<size_t>(j * ldw + k)];
              u += x * w[static_cast<size_t>((F + j) * ldw + k)];
              mag += std::fabs(x * w[static_cast<size_t>(j * ldw + k)]) +
                     std::fabs(x * w[static_cast<size_t>((F + j) * ldw + k)]);
            }
            const double ref = g / (1.0 + std::exp(-g)) * u;
            ASSERT_NEAR(h[static_cast<size_t>(i * ldh + j)], ref,
                        1e-6 * mag * (1.0 + std::fabs(u) + std::fabs(g)) + 1e-30)
                << "M " << M << " F " << F << " K " << K << " at " << i << "," << j;
          }
          for (int64_t j = F; j < ldh; ++j)
            ASSERT_EQ(h[static_cast<size_t>(i * ldh + j)], sentinel);
        }
      }
  EXPECT_THROW(
      kernels::gemm_swiglu(1, 1, kernels::kSwigluMaxK + 1, nullptr, 1, nullptr, 1, nullptr, 1),
      std::invalid_argument);
  // The op on tensors against ATen's SwiGLU of the projection, fused and not (wider inputs).
  torch::manual_seed(9);
  at::NoGradGuard ng;
  for (int64_t in : {int64_t{48}, kernels::kSwigluMaxK + 8}) {
    const at::Tensor x = at::randn({2, 30, in}),
                     w = at::randn({2 * 40, in}) / std::sqrt(static_cast<double>(in));
    const at::Tensor gu = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
    const at::Tensor ref = swiglu_aten(gu.narrow(-1, 0, 40), gu.narrow(-1, 40, 40));
    EXPECT_LT((apply_weight_swiglu(x, w).to(at::kDouble) - ref).abs().max().item<double>(), 1e-5)
        << in;
  }
}

TEST(Gemm, ApplyWeightMatchesMatmulOnViewsAndKeepsAutograd) {
  REQUIRE_GEMM();
  torch::manual_seed(7);
  const at::Tensor x = at::randn({3, 20, 48}), big = at::randn({90, 48});
  const at::Tensor w = big.narrow(0, 10, 70);  // rows of a larger matrix, as fused q|k|v views are
  auto ref = [&](const at::Tensor& xx) {
    return at::matmul(xx.to(at::kDouble), w.to(at::kDouble).t());
  };
  {
    at::NoGradGuard ng;
    const at::Tensor y = apply_weight(x, w);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 20, 70}));
    EXPECT_LT((y.to(at::kDouble) - ref(x)).abs().max().item<double>(), 1e-4);
    const at::Tensor xt = x.transpose(0, 1);  // rows not evenly spaced: the ATen path
    EXPECT_LT((apply_weight(xt, w).to(at::kDouble) - ref(xt)).abs().max().item<double>(), 1e-4);
    EXPECT_THROW(apply_weight(x, at::randn({70, 47})), c10::Error);  // shapes that do not fit
  }
  // With autograd the product stays differentiable.
  const at::Tensor xg = x.clone().requires_grad_(true);
  apply_weight(xg, w).sum().backward();
  ASSERT_TRUE(xg.grad().defined());
  EXPECT_LT((xg.grad() - w.sum(0).expand({3, 20, 48})).abs().max().item<double>(), 1e-4);
}

TEST(Gemm, ModelForwardAgreesWithTheBlasPath) {
  // The whole evaluation forward (projections, attention over several 32-column panels, head)
  // through lorascape's GEMM and through the BLAS.
  REQUIRE_GEMM();
  torch::manual_seed(8);
  ModelConfig cfg = lorascape::test::tiny_model();
  cfg.max_seq = 80;
  Transformer m(cfg);
  m->eval();
  const at::Tensor ids = at::randint(0, 260, {3, 70}, at::kLong);
  at::NoGradGuard ng;
  const at::Tensor own = m->forward(ids);
  at::Tensor blas;
  {
    GemmSwitch off(false);
    ASSERT_FALSE(kernels::gemm_available());
    blas = m->forward(ids);
  }
  ASSERT_TRUE(kernels::gemm_available());
  const double err = (own - blas).abs().max().item<double>(),
               scale = blas.abs().max().item<double>();
  EXPECT_LE(err, 1e-5 * scale) << "max |diff| " << err;
}

TEST(Gemm, LoraGradientsAgreeWithTheBlasPath) {
  // LoRA training runs the frozen base weights' products and their input gradients through
  // lorascape's GEMM; k blocks of the backward (inner dimension 2·d_ff = 1200) included.
  REQUIRE_GEMM();
  torch::manual_seed(10);
  ModelConfig cfg = lorascape::test::tiny_model();
  cfg.d_model = 96;
  cfg.n_heads = 3;
  cfg.d_ff = 600;
  Transformer m(cfg);
  LoraConfig lora;
  lora.targets = lora_target_names();
  m->add_lora(lora);
  for (auto& [name, p] : m->lora_parameters()) {
    (void)name;
    at::NoGradGuard ng;
    p.normal_(0.0, 0.05);  // B non-zero too
  }
  const at::Tensor ids = at::randint(0, 260, {4, 20}, at::kLong);
  auto grads = [&] {
    m->zero_grad();
    at::Tensor logits = m->forward(ids);
    at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), ids.reshape({-1})).backward();
    std::vector<at::Tensor> g;
    for (auto& [name, p] : m->lora_parameters()) g.push_back(p.grad().clone());
    return g;
  };
  const auto own = grads();
  std::vector<at::Tensor> blas;
  {
    GemmSwitch off(false);
    blas = grads();
  }
  ASSERT_EQ(own.size(), blas.size());
  for (size_t i = 0; i < own.size(); ++i) {
    const double err = (own[i] - blas[i]).abs().max().item<double>(),
                 scale = blas[i].abs().max().item<double>();
    EXPECT_LE(err, 1e-4 * scale) << "LoRA gradient " << i << ": max |diff| " << err << " of "
                                 << scale;
  }
}
