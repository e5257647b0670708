// Sharpness (analysis/sharpness.h): power iteration with deflation on plain symmetric matrices
// of known spectrum, and on a tiny model the Hessian-vector products against the dense
// Hessian built by autograd on one batch of the whole set (issue 4's required check: the top
// eigenvalue from power iteration matches the dense Hessian's largest-|λ| eigenvalue).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/sharpness.h"
#include "core/adapter.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "store/error.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::analysis;

namespace {

// Q·diag(λ)·Qᵀ with a random orthogonal Q (float64); also returns Q.
at::Tensor symmetric(const std::vector<double>& lambdas, uint64_t seed,
                     at::Tensor* q_out = nullptr) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto n = static_cast<int64_t>(lambdas.size());
  at::Tensor q =
      std::get<0>(at::linalg_qr(at::randn({n, n}, gen, at::TensorOptions().dtype(at::kDouble))));
  if (q_out) *q_out = q;
  return at::matmul(q * at::tensor(lambdas, at::kDouble), q.t());
}

LinearOperator matrix_op(const at::Tensor& m) {
  return [m](const at::Tensor& v) { return at::mv(m, v); };
}

// λ_1…λ_n of a random spectrum with the given leading values; the rest in (−0.5, 0.5).
std::vector<double> spectrum(std::vector<double> lead, int n) {
  for (int i = static_cast<int>(lead.size()); i < n; ++i)
    lead.push_back(0.9 * (i % 2 ? 0.5 : -0.5) / (1 + i % 7));
  return lead;
}

}  // namespace

TEST(PowerIteration, TopOneAndTopThreeOfAPositiveSpectrum) {
  at::Tensor q;
  const at::Tensor m = symmetric(spectrum({10, 7, 5}, 30), 1, &q);
  const Eigenpairs one = top_eigenvalues(matrix_op(m), 30, 1, 1e-3, 100, 7);
  ASSERT_EQ(one.values.size(), 1u);
  EXPECT_TRUE(one.converged[0]);
  EXPECT_NEAR(one.values[0], 10.0, 0.1);  // PyHessian's default tolerance: ~1% is what it promises
  EXPECT_GT(one.iterations[0], 1);

  const Eigenpairs three = top_eigenvalues(matrix_op(m), 30, 3, 1e-12, 2000, 7);
  const double want[] = {10, 7, 5};
  for (int j = 0; j < 3; ++j) {
    EXPECT_TRUE(three.converged[j]) << j;
    EXPECT_NEAR(three.values[j], want[j], 1e-8) << j;
    // The vectors are the eigenvectors (up to sign) and orthonormal.
    EXPECT_NEAR(std::abs(at::dot(three.vectors[j], q.select(1, j)).item<double>()), 1.0, 1e-6) << j;
    for (int i = 0; i < j; ++i)
      EXPECT_NEAR(at::dot(three.vectors[j], three.vectors[i]).item<double>(), 0.0, 1e-6);
  }
}

TEST(PowerIteration, ANegativeDominantEigenvalueComesOutWithItsSign) {
  const at::Tensor m = symmetric(spectrum({-8, 4, 2}, 25), 2);
  const Eigenpairs one = top_eigenvalues(matrix_op(m), 25, 1, 1e-10, 1000, 3);
  EXPECT_TRUE(one.converged[0]);
  EXPECT_NEAR(one.values[0], -8.0, 1e-7);
  // Deflation then finds the positive ones, largest |λ| first.
  const Eigenpairs three = top_eigenvalues(matrix_op(m), 25, 3, 1e-12, 2000, 3);
  EXPECT_NEAR(three.values[0], -8.0, 1e-8);
  EXPECT_NEAR(three.values[1], 4.0, 1e-8);
  EXPECT_NEAR(three.values[2], 2.0, 1e-8);
  // A mixed spectrum where a negative eigenvalue is second by magnitude.
  const Eigenpairs mixed =
      top_eigenvalues(matrix_op(symmetric(spectrum({6, -3, 1.5}, 20), 4)), 20, 3, 1e-12, 2000, 5);
  EXPECT_NEAR(mixed.values[0], 6.0, 1e-8);
  EXPECT_NEAR(mixed.values[1], -3.0, 1e-8);
  EXPECT_NEAR(mixed.values[2], 1.5, 1e-8);
}

TEST(PowerIteration, CapSeedZeroOperatorAndBadArguments) {
  const at::Tensor m = symmetric(spectrum({1.0, 0.999}, 20), 5);
  const Eigenpairs capped = top_eigenvalues(matrix_op(m), 20, 1, 1e-12, 4, 1);
  EXPECT_FALSE(capped.converged[0]);
  EXPECT_EQ(capped.iterations[0], 4);
  // The same seed gives the same numbers; the callback sees every iteration.
  int calls = 0;
  const Eigenpairs again =
      top_eigenvalues(matrix_op(m), 20, 1, 1e-12, 4, 1, [&](int j, int it, double) {
        EXPECT_EQ(j, 0);
        EXPECT_EQ(it, ++calls);
      });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(again.values[0], capped.values[0]);
  // The zero operator: λ = 0, converged at once.
  const Eigenpairs zero =
      top_eigenvalues([](const at::Tensor& v) { return at::zeros_like(v); }, 5, 2, 1e-3, 10, 1);
  EXPECT_EQ(zero.values, (std::vector<double>{0.0, 0.0}));
  EXPECT_TRUE(zero.converged[0] && zero.converged[1]);
  // k = dim: the last eigenvalue is the one left over.
  const Eigenpairs all = top_eigenvalues(matrix_op(symmetric({3, 2, 1}, 6)), 3, 3, 1e-12, 2000, 1);
  EXPECT_NEAR(all.values[2], 1.0, 1e-8);

  const auto op = matrix_op(m);
  EXPECT_THROW(top_eigenvalues(op, 20, 0, 1e-3, 10, 1), ConfigError);
  EXPECT_THROW(top_eigenvalues(op, 20, 21, 1e-3, 10, 1), ConfigError);
  EXPECT_THROW(top_eigenvalues(op, 20, 1, 0.0, 10, 1), ConfigError);
  EXPECT_THROW(top_eigenvalues(op, 20, 1, -1.0, 10, 1), ConfigError);
  EXPECT_THROW(top_eigenvalues(op, 20, 1, 1e-3, 0, 1), ConfigError);
}

namespace {

std::vector<core::Example> examples() {
  std::vector<core::Example> ex;
  const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"};
  for (int i = 0; i < 7; ++i) ex.push_back({std::string("say ") + words[i], words[(i + 3) % 7]});
  return ex;
}

class TinyHessian : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    torch::manual_seed(11);
    model = core::Transformer(test::tiny_model());
    core::LoraConfig lora;
    lora.rank = 1;
    lora.alpha = 2;
    lora.targets = {"q_proj", "v_proj"};
    model->add_lora(lora);
    model->to(at::kDouble);
    model->eval();
    // Non-zero B, so every factor has curvature of its own.
    std::vector<core::Adapter::Entry> e;
    for (auto& [name, t] : model->lora_parameters())
      e.emplace_back(name, at::randn(t.sizes(), at::kDouble) * 0.5);
    core::Adapter(std::move(e)).load_into(*model);
    for (const auto& x : ex) ptrs.push_back(&x);
  }

  // The dense Hessian by autograd on the flattened LoRA parameters: one forward over all the
  // examples in a single batch, g = ∇L (create_graph), row i = ∇g_i.
  at::Tensor dense_hessian(at::Tensor* grad = nullptr) {
    std::vector<at::Tensor> ps;
    for (auto& [n, p] : model->lora_parameters()) ps.push_back(p);
    const core::TokenBatch b = core::encode_examples(ptrs, model->config().max_seq);
    const at::Tensor logits = model->forward(b.input);
    const at::Tensor ce = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}),
                                                 b.target.reshape({-1}), {}, at::Reduction::None);
    const at::Tensor mask = b.mask.reshape({-1}).to(at::kDouble);
    const at::Tensor loss = (ce * mask).sum() / mask.sum();
    std::vector<at::Tensor> g = torch::autograd::grad({loss}, ps, {}, true, true);
    for (auto& t : g) t = t.reshape({-1});
    const at::Tensor gf = at::cat(g);
    if (grad) *grad = gf.detach().clone();
    std::vector<at::Tensor> rows;
    for (int64_t i = 0; i < gf.numel(); ++i) {
      std::vector<at::Tensor> r = torch::autograd::grad({gf[i]}, ps, {}, true, false);
      for (auto& t : r) t = t.reshape({-1});
      rows.push_back(at::cat(r));
    }
    return at::stack(rows);
  }

  core::Transformer model{nullptr};
  const std::vector<core::Example> ex = examples();
  std::vector<const core::Example*> ptrs;
};

}  // namespace

TEST_F(TinyHessian, ProductsEqualTheDenseHessianAcrossBatches) {
  at::Tensor g_ref;
  const at::Tensor h_ref = dense_hessian(&g_ref);
  LossHessian h(*model, ptrs, 3);  // batches of 3, 3 and 1 examples with different token counts
  ASSERT_EQ(h.dim(), h_ref.size(0));
  EXPECT_EQ(h.dim(), 2 * 2 * (32 + 32));  // 2 layers × {q, v} × (A 1×32 + B 32×1)
  // The loss is the one the scans report (core::evaluate_examples).
  const double l = h.loss();
  EXPECT_NEAR(l, core::evaluate_examples(*model, ex, 0, 4).loss, 1e-5);
  EXPECT_LT(at::max(at::abs(h.gradient() - g_ref)).item<double>(),
            1e-10 * at::max(at::abs(g_ref)).item<double>());
  // Column by column.
  std::vector<at::Tensor> cols;
  for (int64_t i = 0; i < h.dim(); ++i) {
    at::Tensor e = at::zeros({h.dim()}, at::kDouble);
    e[i] = 1.0;
    cols.push_back(h.hvp(e));
  }
  const at::Tensor h_hvp = at::stack(cols, 1);
  const double scale = at::max(at::abs(h_ref)).item<double>();
  EXPECT_GT(scale, 1e-3);
  EXPECT_LT(at::max(at::abs(h_hvp - h_ref)).item<double>(), 1e-9 * scale);
  EXPECT_LT(at::max(at::abs(h_ref - h_ref.t())).item<double>(), 1e-9 * scale);
  // uᵀHv = vᵀHu for random u, v.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor u = at::randn({h.dim()}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor v = at::randn({h.dim()}, gen, at::TensorOptions().dtype(at::kDouble));
  const double uhv = at::dot(u, h.hvp(v)).item<double>(), vhu = at::dot(v, h.hvp(u)).item<double>();
  EXPECT_NEAR(uhv, vhu, 1e-10 * std::abs(uhv) + 1e-12);
}

TEST_F(TinyHessian, PowerIterationMatchesTheDenseTopEigenvalue) {
  const at::Tensor h_ref = dense_hessian();
  const at::Tensor evals = std::get<0>(at::linalg_eigh(h_ref));  // ascending
  std::vector<double> by_mag(static_cast<size_t>(evals.numel()));
  for (int64_t i = 0; i < evals.numel(); ++i)
    by_mag[static_cast<size_t>(i)] = evals[i].item<double>();
  std::sort(by_mag.begin(), by_mag.end(),
            [](double a, double b) { return std::abs(a) > std::abs(b); });

  LossHessian h(*model, ptrs, 4);
  const LinearOperator op = [&](const at::Tensor& v) { return h.hvp(v); };
  // PyHessian's defaults: tol 1e-3, 100 iterations.
  const Eigenpairs quick = top_eigenvalues(op, h.dim(), 1, 1e-3, 100, 1);
  // Tight: two eigenvalues.
  const Eigenpairs tight = top_eigenvalues(op, h.dim(), 2, 1e-10, 1000, 1);
  std::printf("dense: lambda_1 %.10g, lambda_2 %.10g, lambda_3 %.10g (of %lld)\n", by_mag[0],
              by_mag[1], by_mag[2], static_cast<long long>(evals.numel()));
  std::printf("power: tol 1e-3 -> %.10g in %d iterations; tol 1e-10 -> %.10g (%d), %.10g (%d)\n",
              quick.values[0], quick.iterations[0], tight.values[0], tight.iterations[0],
              tight.values[1], tight.iterations[1]);
  EXPECT_TRUE(quick.converged[0]);
  EXPECT_NEAR(quick.values[0], by_mag[0], 1e-2 * std::abs(by_mag[0]));
  ASSERT_TRUE(tight.converged[0]);
  ASSERT_TRUE(tight.converged[1]);
  EXPECT_NEAR(tight.values[0], by_mag[0], 1e-7 * std::abs(by_mag[0]));
  EXPECT_NEAR(tight.values[1], by_mag[1], 1e-6 * std::abs(by_mag[0]));
}

TEST_F(TinyHessian, SharpnessAtLoadsTheAdapterAndAgreesInFloat32) {
  const at::Tensor h_ref = dense_hessian();
  const at::Tensor evals = std::get<0>(at::linalg_eigh(h_ref));
  const double top =
      std::max(std::abs(evals[0].item<double>()), std::abs(evals[-1].item<double>()));
  const core::Adapter a = core::Adapter::from_model(*model);
  // A float32 model of the same layout, other factors loaded: sharpness_at loads `a`.
  torch::manual_seed(5);
  core::Transformer m32(test::tiny_model());
  {
    torch::NoGradGuard ng;
    auto src = model->named_parameters();
    core::LoraConfig lora = model->lora_config();
    m32->add_lora(lora);
    for (auto& item : m32->named_parameters()) item.value().copy_(src[item.key()]);
  }
  m32->eval();
  std::vector<core::Adapter::Entry> other;
  for (auto& [name, p] : m32->lora_parameters()) other.emplace_back(name, at::zeros(p.sizes()));
  core::Adapter(std::move(other)).load_into(*m32);
  SharpnessSettings s;
  s.top = 1;
  s.tol = 1e-6;
  s.max_iter = 500;
  s.batch = 2;
  const PointSharpness r = sharpness_at(*m32, a, ptrs, s);
  EXPECT_TRUE(r.eig.converged[0]);
  EXPECT_NEAR(std::abs(r.eig.values[0]), top, 1e-3 * top);
  EXPECT_NEAR(r.loss, LossHessian(*model, ptrs, 7).loss(), 1e-5);
  // Symmetry in float32, to float32's precision.
  LossHessian h32(*m32, ptrs, 3);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
  const at::Tensor u = at::randn({h32.dim()}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor v = at::randn({h32.dim()}, gen, at::TensorOptions().dtype(at::kDouble));
  const double uhv = at::dot(u, h32.hvp(v)).item<double>(),
               vhu = at::dot(v, h32.hvp(u)).item<double>();
  EXPECT_NEAR(uhv, vhu, 1e-4 * std::abs(uhv) + 1e-6);
}
