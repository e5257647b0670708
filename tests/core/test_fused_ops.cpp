// The fused CPU kernels (kernels/rows.h) and the ops built on them (kernels/ops.h) against
// the ATen arithmetic they replace: values, first derivatives (the custom backward kernels)
// and second derivatives (create_graph, as Hessian-vector products use), and the model's
// fast float32 evaluation forward against the same model in float64 through ATen alone.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>

#include "core/model.h"
#include "kernels/ops.h"
#include "kernels/rows.h"
#include "tests/common/tiny_model.h"

using namespace lorascape::core;
using namespace lorascape::kernels;
namespace kernels = lorascape::kernels;

namespace {

void expect_close(const at::Tensor& a, const at::Tensor& b, double rtol, double atol,
                  const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  const double scale = b.to(at::kDouble).abs().max().item<double>();
  EXPECT_LE(err, atol + rtol * scale)
      << what << ": max |diff| " << err << " (max |ref| " << scale << ")";
}

}  // namespace

TEST(Kernels, ExpMatchesStdExpToTwoUlp) {
  double worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0173f)
    worst =
        std::max(worst, std::fabs(kernels::exp_approx(x) / std::exp(static_cast<double>(x)) - 1.0));
  EXPECT_LT(worst, 2.5e-7);  // two float ulps at 1 are 2.4e-7
  EXPECT_EQ(kernels::exp_approx(0.0f), 1.0f);
  EXPECT_LT(kernels::exp_approx(-1000.0f), 1e-37f);  // clamped, not NaN
  EXPECT_TRUE(std::isfinite(kernels::exp_approx(1000.0f)));
}

TEST(Kernels, CausalSoftmaxRowMatchesMaskedSoftmax) {
  torch::manual_seed(3);
  for (int64_t T : {1, 7, 16, 37, 64}) {
    at::Tensor s = at::randn({T, T}) * 4;
    at::Tensor mask = at::ones({T, T}, at::kBool).triu(1);
    at::Tensor ref = at::softmax(s.masked_fill(mask, -INFINITY), -1);
    at::Tensor got = s.clone();
    for (int64_t r = 0; r < T; ++r)
      kernels::causal_softmax_row(got.data_ptr<float>() + r * T, r + 1, T);
    expect_close(got, ref, 1e-6, 1e-7, "softmax");
    EXPECT_TRUE(got.masked_select(mask).eq(0).all().item<bool>())
        << "future positions must be exactly 0";
  }
}

TEST(Kernels, RotaryRowsMatchRotateHalf) {
  torch::manual_seed(7);
  const int64_t T = 9, D = 32, stride = 3 * D;  // one head's rows inside a q|k|v projection
  const at::Tensor qkv = at::randn({T, stride}), cos = at::randn({T, D}), sin = at::randn({T, D});
  const at::Tensor x = qkv.narrow(1, D, D);
  const at::Tensor ref =
      x * cos + at::cat({-x.narrow(1, D / 2, D / 2), x.narrow(1, 0, D / 2)}, 1) * sin;
  at::Tensor got = qkv.clone();
  kernels::rotary_rows(got.data_ptr<float>() + D, stride, T, cos.data_ptr<float>(),
                       sin.data_ptr<float>(), D);
  expect_close(got.narrow(1, D, D), ref, 1e-6, 1e-6, "rotary");
  EXPECT_TRUE(at::equal(got.narrow(1, 0, D), qkv.narrow(1, 0, D)));  // the other heads untouched
  EXPECT_TRUE(at::equal(got.narrow(1, 2 * D, D), qkv.narrow(1, 2 * D, D)));
}

TEST(Kernels, TokenScoresMatchCrossEntropyAndArgmax) {
  torch::manual_seed(6);
  for (int64_t V : {7, 16, 260}) {
    at::Tensor logits = at::randn({50, V}) * 3;
    logits[3].fill_(1.5);  // ties: argmax takes the first
    logits[4].narrow(0, V / 2, V - V / 2).fill_(20.0);
    const at::Tensor target = at::randint(0, V, {50}, at::kLong);
    target[3] = 0;
    target[4] = V / 2;
    at::Tensor ce = at::empty({50}), hit = at::empty({50});
    ASSERT_TRUE(kernels::token_scores(logits.data_ptr<float>(), 50, V, target.data_ptr<int64_t>(),
                                      ce.data_ptr<float>(), hit.data_ptr<float>()));
    const at::Tensor ref =
        at::cross_entropy_loss(logits.to(at::kDouble), target, {}, at::Reduction::None);
    expect_close(ce, ref, 1e-6, 1e-6, "cross-entropy");
    EXPECT_TRUE(at::equal(hit, (logits.argmax(-1) == target).to(at::kFloat))) << V;
    EXPECT_EQ(hit[3].item<float>(), 1.0f);
    EXPECT_EQ(hit[4].item<float>(), 1.0f);
  }
  const at::Tensor logits = at::randn({2, 8}), bad = at::tensor({3, 8}, at::kLong);
  at::Tensor ce = at::empty({2}), hit = at::empty({2});
  EXPECT_FALSE(kernels::token_scores(logits.data_ptr<float>(), 2, 8, bad.data_ptr<int64_t>(),
                                     ce.data_ptr<float>(), hit.data_ptr<float>()));
  EXPECT_TRUE(std::isnan(ce[1].item<float>()));
}

TEST(FusedOps, RmsNormMatchesAtenWithAndWithoutAutograd) {
  torch::manual_seed(1);
  const at::Tensor x0 = at::randn({3, 5, 40}), w0 = at::randn({40});
  {
    at::NoGradGuard ng;
    expect_close(rms_norm(x0, w0, 1e-5), rms_norm_aten(x0, w0, 1e-5), 1e-6, 0, "no-grad forward");
  }
  // Gradients of a random projection of the output, for x and w (as in base-model training).
  const at::Tensor probe = at::randn({3, 5, 40});
  auto grads = [&](bool fused) {
    at::Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
    at::Tensor y = fused ? rms_norm(x, w, 1e-5) : rms_norm_aten(x, w, 1e-5);
    auto g = torch::autograd::grad({(y * probe).sum()}, {x, w});
    return std::make_tuple(y.detach(), g[0], g[1]);
  };
  auto [yf, dxf, dwf] = grads(true);
  auto [ya, dxa, dwa] = grads(false);
  expect_close(yf, ya, 1e-6, 0, "forward");
  expect_close(dxf, dxa, 1e-5, 1e-7, "dx");
  expect_close(dwf, dwa, 1e-5, 1e-7, "dw");
}

TEST(FusedOps, SwigluOnViewsOfOneProjectionMatchesAten) {
  torch::manual_seed(2);
  const at::Tensor gu0 =
      at::randn({2, 6, 2 * 24}) * 3;  // gate | up side by side, as the model computes them
  {
    at::NoGradGuard ng;
    auto parts = gu0.split(24, -1);
    expect_close(swiglu(parts[0], parts[1]), swiglu_aten(parts[0], parts[1]), 1e-6, 1e-7,
                 "no-grad forward");
  }
  const at::Tensor probe = at::randn({2, 6, 24});
  auto grads = [&](bool fused) {
    at::Tensor gu = gu0.clone().requires_grad_(true);
    auto parts = gu.split(24, -1);
    at::Tensor h = fused ? swiglu(parts[0], parts[1]) : swiglu_aten(parts[0], parts[1]);
    return std::make_pair(h.detach(), torch::autograd::grad({(h * probe).sum()}, {gu})[0]);
  };
  auto [hf, df] = grads(true);
  auto [ha, da] = grads(false);
  expect_close(hf, ha, 1e-6, 1e-7, "forward");
  expect_close(df, da, 1e-5, 1e-7, "d(gate|up)");
}

TEST(FusedOps, SecondDerivativesMatchAten) {
  // A Hessian-vector product through both ops (double backward), fused against ATen.
  torch::manual_seed(4);
  const at::Tensor x0 = at::randn({4, 16}), w = at::randn({16}), v = at::randn({4, 16});
  auto hvp = [&](bool fused) {
    at::Tensor x = x0.clone().requires_grad_(true);
    at::Tensor n = fused ? rms_norm(x, w, 1e-5) : rms_norm_aten(x, w, 1e-5);
    auto parts = n.split(8, -1);
    at::Tensor h = fused ? swiglu(parts[0], parts[1]) : swiglu_aten(parts[0], parts[1]);
    at::Tensor g = torch::autograd::grad({h.pow(2).sum()}, {x}, {}, /*retain_graph=*/true,
                                         /*create_graph=*/true)[0];
    return torch::autograd::grad({(g * v).sum()}, {x})[0];
  };
  expect_close(hvp(true), hvp(false), 1e-5, 1e-6, "Hessian-vector product");
}

TEST(FusedOps, FastEvaluationForwardMatchesFloat64Aten) {
  // Float32 without autograd takes the fused path (one-GEMM q|k|v and gate|up by lorascape's
  // GEMM, the attention kernel, fused norm, SwiGLU and rotary); float64 takes ATen's ops
  // throughout.
  torch::manual_seed(5);
  Transformer m(lorascape::test::tiny_model());
  m->eval();
  const at::Tensor ids = at::randint(0, 260, {3, 20}, at::kLong);
  at::NoGradGuard ng;
  const at::Tensor fast = m->forward(ids);
  m->to(at::kDouble);
  const at::Tensor ref = m->forward(ids);
  expect_close(fast, ref, 1e-5, 1e-6, "logits");
}
