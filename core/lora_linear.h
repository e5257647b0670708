// LoraLinear: a linear layer (with an optional bias b) and an optional low-rank adapter.
//   y = x Wᵀ (+ b) + s · dropout(x) Aᵀ Bᵀ,   s = alpha / r
// (+ s · x F_Aᵀ F_Bᵀ for O-LoRA's frozen past factors, see freeze_into_past)
// W (out, in) is the base weight; A (r, in) and B (out, r) are the LoRA factors, registered as
// sub-modules "lora_A" and "lora_B" so parameter names follow PEFT
// (`...q_proj.lora_A.weight`). A is Kaiming-uniform and B zero at init, so a fresh adapter
// leaves the output unchanged.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model_config.h"

namespace lorascape::core {

class LoraLinearImpl : public torch::nn::Module {
 public:
  // W drawn from N(0, 0.02²) when random_init, else left uninitialised (to be loaded: the
  // memory is not touched); the bias, if any, starts at zero.
  LoraLinearImpl(int64_t in_features, int64_t out_features, bool bias = false,
                 bool random_init = true);

  at::Tensor forward(const at::Tensor& x);  // (..., in) -> (..., out)
  // y + the LoRA side path of x (y itself when there is none or it is merged): forward's second
  // half, for callers that computed y = x Wᵀ together with other projections' (model.cpp).
  at::Tensor add_side_path(at::Tensor y, const at::Tensor& x);

  // Adds rank-r LoRA factors (A Kaiming-uniform, B zero) applied with `scale` s (alpha/r, or
  // what LoraConfig::scale_of gives). Call at most once.
  void enable_lora(int64_t rank, double scale, double dropout);
  bool has_lora() const { return !lora_A.is_empty(); }
  // Draws fresh factors (A Kaiming-uniform from torch's generator, B zero), in place.
  void reset_lora();
  // O-LoRA: appends the current factors to the frozen ones, y += s·(x F_Aᵀ) F_Bᵀ with
  // F_A = [A_1; …; A_k] (k·r, in) and F_B = [B_1 | … | B_k] (out, k·r). Frozen factors are
  // no parameters: they are not trained, not in the adapter, and not saved with it.
  void freeze_into_past();
  const at::Tensor& frozen_A() const { return frozen_A_; }
  const at::Tensor& frozen_B() const { return frozen_B_; }
  // Replaces the frozen factors (both undefined: none), as a training checkpoint saved them.
  void set_frozen(const at::Tensor& A, const at::Tensor& B);
  // W += s·BA (merge) or W -= s·BA (unmerge). While merged, forward skips the side path.
  void merge();
  void unmerge();
  bool merged() const { return merged_; }
  double scale() const { return scale_; }

  at::Tensor weight;                  // (out, in)
  at::Tensor bias;                    // (out), undefined without a bias (LoRA leaves it as is)
  torch::nn::Linear lora_A{nullptr};  // weight (r, in)
  torch::nn::Linear lora_B{nullptr};  // weight (out, r)
  torch::nn::Dropout lora_dropout{nullptr};

 private:
  at::Tensor delta() const;  // BA (+ F_B F_A), without the scale
  int64_t in_, out_;
  double scale_ = 0.0;
  bool merged_ = false;
  at::Tensor frozen_A_, frozen_B_;  // undefined until freeze_into_past
};
TORCH_MODULE(LoraLinear);

}  // namespace lorascape::core
