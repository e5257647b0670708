// The model against an independent reference (llm.c's test_gpt2 style): tests/golden/make_golden.py
// writes a small Llama-style model with LoRA on every projection, once with multi-head and once
// with grouped-query attention, token sequences, and the float64 logits, masked cross-entropy
// and LoRA-factor gradients of a plain-PyTorch implementation of the Hugging Face formulas.
// Every path lorascape can take is compared with them: ATen in float64 (to 1e-12), the float32
// evaluation paths with lorascape's GEMM and with the BLAS, training with autograd (and with a
// differentiable backward, as Hessian-vector products need it), the Evaluator's merged points
// one and three per forward, and bfloat16.
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "kernels/gemm.h"

using namespace lorascape::core;
namespace kernels = lorascape::kernels;

namespace {

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    at::set_num_threads(1);
    golden = read_safetensors(std::string(LORASCAPE_SOURCE_DIR) + "/tests/golden/" + GetParam() +
                              ".safetensors");
    const ModelConfig cfg =
        ModelConfig::from_json(nlohmann::json::parse(golden.metadata.at("model_config")));
    const auto lj = nlohmann::json::parse(golden.metadata.at("lora"));
    model = Transformer(cfg);
    LoraConfig lora;
    lora.rank = lj.at("rank").get<int64_t>();
    lora.alpha = lj.at("alpha").get<double>();
    model->add_lora(lora);  // every projection
    torch::NoGradGuard ng;
    for (auto& p : model->named_parameters()) {
      const at::Tensor* t = golden.find(p.key());
      ASSERT_NE(t, nullptr) << p.key() << " is not in the golden file";
      p.value().copy_(*t);
    }
    std::vector<Adapter::Entry> e;
    for (auto& [name, t] : model->lora_parameters()) e.emplace_back(name, t.detach().clone());
    adapter = Adapter(std::move(e));
    batch = {tensor("input_ids"), tensor("target"), tensor("mask")};
  }
  void TearDown() override { kernels::set_gemm_enabled(true); }

  at::Tensor tensor(const std::string& name) const {
    const at::Tensor* t = golden.find(name);
    EXPECT_NE(t, nullptr) << name;
    return t ? *t : at::Tensor();
  }
  // max |a − b| over all elements, in double.
  static double max_diff(const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  }
  // Mean cross-entropy over the scored positions, in the logits' precision.
  at::Tensor loss_of(const at::Tensor& logits) const {
    const int64_t V = logits.size(-1);
    const at::Tensor ce = at::cross_entropy_loss(
        logits.reshape({-1, V}), batch.target.reshape({-1}), {}, at::Reduction::None);
    const at::Tensor m = batch.mask.reshape({-1}).to(logits.scalar_type());
    return (ce * m).sum() / m.sum();
  }
  // Checks the LoRA factors' gradients (d loss / d factor) against the golden ones: max
  // difference per factor at most tol · (the largest golden gradient element).
  void expect_gradients(const std::vector<at::Tensor>& grads, double tol,
                        const std::string& label) {
    const auto params = model->lora_parameters();
    ASSERT_EQ(grads.size(), params.size());
    double scale = 0;
    for (const auto& [name, p] : params)
      scale = std::max(scale, tensor("grad." + name).abs().max().item<double>());
    ASSERT_GT(scale, 0);
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_LE(max_diff(grads[i], tensor("grad." + params[i].first)), tol * scale)
          << label << ": " << params[i].first;
  }

  SafetensorsData golden;
  Transformer model{nullptr};
  Adapter adapter;
  TokenBatch batch;
};

}  // namespace

TEST_P(GoldenTest, FileHoldsWhatTheScriptWrites) {
  EXPECT_EQ(tensor("logits").scalar_type(), at::kDouble);
  EXPECT_EQ(tensor("logits").sizes(), (std::vector<int64_t>{3, 12, 260}));
  EXPECT_EQ(model->lora_parameters().size(), 2u * 7 * 2);
  const auto cfg = nlohmann::json::parse(golden.metadata.at("model_config"));
  EXPECT_EQ(model->config().kv_heads(), cfg.value("n_kv_heads", cfg.at("n_heads").get<int64_t>()));
  // The reference is not trivial: logits spread, loss near ln V, gradients of every factor
  // non-zero.
  EXPECT_GT(tensor("logits").std().item<double>(), 0.5);
  EXPECT_NEAR(tensor("loss").item<double>(), std::log(260.0), 1.5);
  for (auto& [name, p] : model->lora_parameters())
    EXPECT_GT(tensor("grad." + name).abs().max().item<double>(), 0) << name;
}

// ATen ops in float64, with autograd: the formulas themselves, to float64 rounding (3e-15 seen).
TEST_P(GoldenTest, Float64ReproducesTheReference) {
  model->to(at::kDouble);
  const at::Tensor logits = model->forward(batch.input);
  EXPECT_LE(max_diff(logits, tensor("logits")), 1e-12);
  const at::Tensor loss = loss_of(logits);
  EXPECT_NEAR(loss.item<double>(), tensor("loss").item<double>(), 1e-12);
  std::vector<at::Tensor> params;
  for (auto& [name, p] : model->lora_parameters()) params.push_back(p);
  expect_gradients(torch::autograd::grad({loss}, params), 1e-11, "float64");
}

// Evaluation in float32 (no autograd): the fused CPU kernels, with lorascape's GEMM where this
// CPU has it and with the BLAS.
TEST_P(GoldenTest, Float32EvaluationWithEitherGemm) {
  for (bool own : {true, false}) {
    kernels::set_gemm_enabled(own);
    torch::NoGradGuard ng;
    model->eval();
    const at::Tensor logits = model->forward(batch.input);
    const std::string label = own && kernels::gemm_available() ? "lorascape's GEMM" : "BLAS";
    EXPECT_LE(max_diff(logits, tensor("logits")), 1e-4) << label;
    EXPECT_NEAR(loss_of(logits).item<double>(), tensor("loss").item<double>(), 1e-5) << label;
  }
}

// Training in float32: autograd through the fused functions and the frozen weights' GEMM; and
// a backward that is itself differentiable (create_graph, as sharpness's Hessian-vector
// products run it), which switches to ATen formulas.
TEST_P(GoldenTest, Float32GradientsOfTheLoraFactors) {
  std::vector<at::Tensor> params;
  for (auto& [name, p] : model->lora_parameters()) params.push_back(p);
  for (bool own : {true, false})
    for (bool create_graph : {false, true}) {
      kernels::set_gemm_enabled(own);
      const at::Tensor logits = model->forward(batch.input);
      const at::Tensor loss = masked_cross_entropy(logits, batch.target, batch.mask);
      const std::string label =
          std::string(own && kernels::gemm_available() ? "lorascape's GEMM" : "BLAS") +
          (create_graph ? ", create_graph" : "");
      EXPECT_LE(max_diff(logits, tensor("logits")), 1e-4) << label;
      EXPECT_NEAR(loss.item<double>(), tensor("loss").item<double>(), 1e-5) << label;
      expect_gradients(torch::autograd::grad({loss}, params, {}, create_graph, create_graph), 1e-4,
                       label);
    }
}

// The Evaluator merges W + s·BA per point and evaluates one or three points per forward; its
// loss and token accuracy are the reference's (the golden adapter as points 0 and 2).
TEST_P(GoldenTest, EvaluatorPointsOneAndThreePerForward) {
  const double ref_loss = tensor("loss").item<double>();
  const at::Tensor golden_logits = tensor("logits");
  // Token accuracy from the reference's arg-max, where no position is a near tie.
  const at::Tensor top2 = std::get<0>(golden_logits.topk(2, -1));
  const bool clear_argmax = (top2.select(-1, 0) - top2.select(-1, 1)).min().item<double>() > 1e-3;
  const at::Tensor hits =
      (golden_logits.argmax(-1) == batch.target).to(at::kDouble) * batch.mask.to(at::kDouble);
  const double ref_acc = hits.sum().item<double>() / batch.mask.sum().item<double>();
  Adapter other = adapter.clone();
  other.scale(0.5);
  for (bool own : {true, false}) {
    kernels::set_gemm_enabled(own);
    for (const std::vector<Adapter>& pts :
         {std::vector<Adapter>{adapter}, std::vector<Adapter>{adapter, other, adapter}}) {
      Evaluator ev(*model, model->lora_config().scale(), 3);
      ev.load_points(pts);
      ScoreSums sums(static_cast<int64_t>(pts.size()));
      ev.evaluate_batch(batch, sums);
      for (int64_t k : {int64_t{0}, static_cast<int64_t>(pts.size()) - 1}) {
        EXPECT_NEAR(sums.scores(k).loss, ref_loss, 1e-5) << pts.size() << " points, point " << k;
        if (clear_argmax) {
          EXPECT_DOUBLE_EQ(sums.scores(k).token_acc, ref_acc) << pts.size() << " points";
        }
      }
      if (pts.size() == 3) {
        EXPECT_GT(std::fabs(sums.scores(1).loss - ref_loss), 1e-3) << "point 1 is another adapter";
      }
    }
  }
}

// bfloat16 (ATen ops throughout): the reference to bfloat16's precision.
TEST_P(GoldenTest, Bfloat16IsCloseToTheReference) {
  model->to(at::kBFloat16);
  Evaluator ev(*model, model->lora_config().scale(), 3);
  ev.load_points({adapter});
  ScoreSums sums;
  ev.evaluate_batch(batch, sums);
  EXPECT_NEAR(sums.scores(0).loss, tensor("loss").item<double>(),
              0.03 * tensor("loss").item<double>());
}

// Multi-head attention, and grouped-query attention (2 key/value heads for 4 query heads).
INSTANTIATE_TEST_SUITE_P(Files, GoldenTest, ::testing::Values("llama_lora", "llama_gqa_lora"));
