#include "core/lora_linear.h"

#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "store/error.h"

namespace lorascape::core {

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                               bool random_init)
    : in_(in_features), out_(out_features) {
  weight = register_parameter("weight", at::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", at::zeros({out_features}));
  if (!random_init) return;
  torch::NoGradGuard ng;
  torch::nn::init::normal_(weight, 0.0, 0.02);
}

void LoraLinearImpl::enable_lora(int64_t rank, double scale, double dropout) {
  if (has_lora()) throw Error("LoraLinear::enable_lora called twice");
  scale_ = scale;
  lora_dropout = register_module("lora_dropout", torch::nn::Dropout(dropout));
  lora_A =
      register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(in_, rank).bias(false)));
  lora_B = register_module("lora_B",
                           torch::nn::Linear(torch::nn::LinearOptions(rank, out_).bias(false)));
  reset_lora();
  lora_A->weight.set_requires_grad(true);
  lora_B->weight.set_requires_grad(true);
}

void LoraLinearImpl::reset_lora() {
  if (!has_lora()) throw Error("LoraLinear::reset_lora without LoRA");
  if (merged_) throw Error("LoraLinear::reset_lora on a merged layer (unmerge first)");
  torch::NoGradGuard ng;
  // Kaiming-uniform with a = sqrt(5), as torch.nn.Linear and PEFT initialise lora_A.
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
}

void LoraLinearImpl::freeze_into_past() {
  if (!has_lora()) throw Error("LoraLinear::freeze_into_past without LoRA");
  if (merged_) throw Error("LoraLinear::freeze_into_past on a merged layer (unmerge first)");
  at::Tensor a = lora_A->weight.detach().clone(), b = lora_B->weight.detach().clone();
  frozen_A_ = frozen_A_.defined() ? at::cat({frozen_A_, a}, 0) : a;
  frozen_B_ = frozen_B_.defined() ? at::cat({frozen_B_, b}, 1) : b;
}

void LoraLinearImpl::set_frozen(const at::Tensor& A, const at::Tensor& B) {
  if (A.defined() != B.defined() ||
      (A.defined() && (A.dim() != 2 || B.dim() != 2 || A.size(1) != in_ || B.size(0) != out_ ||
                       A.size(0) != B.size(1))))
    throw Error("LoraLinear::set_frozen: factors of shapes that do not fit the layer");
  frozen_A_ = A;
  frozen_B_ = B;
}

at::Tensor LoraLinearImpl::forward(const at::Tensor& x) {
  return add_side_path(kernels::linear(x, weight, bias), x);  // (..., out)
}

at::Tensor LoraLinearImpl::add_side_path(at::Tensor y, const at::Tensor& x) {
  if (has_lora() && !merged_) {
    // A base model in bfloat16 or float16 with float32 factors (a model folder as stored):
    // the side path in the factors' dtype, added in it and rounded to the base's, as PEFT does.
    const auto ft = lora_A->weight.scalar_type(), yt = y.scalar_type();
    const at::Tensor xf = x.scalar_type() == ft ? x : x.to(ft);
    at::Tensor yf = yt == ft ? y : y.to(ft);
    // The scale applied to the rank-r intermediate, not to the (…, out) output: one
    // element-wise pass over r instead of `out` values per row, forward and backward.
    at::Tensor h = lora_dropout->options.p() > 0 ? lora_dropout(xf) : xf;
    yf = yf + lora_B(lora_A(h).mul(scale_));
    if (frozen_A_.defined())
      yf = yf + at::matmul(at::matmul(xf, frozen_A_.t()).mul(scale_), frozen_B_.t());
    y = yt == ft ? yf : yf.to(yt);
  }
  return y;
}

at::Tensor LoraLinearImpl::delta() const {
  at::Tensor d = at::matmul(lora_B->weight, lora_A->weight);  // (out, r)(r, in)
  return frozen_A_.defined() ? d + at::matmul(frozen_B_, frozen_A_) : d;
}

void LoraLinearImpl::merge() {
  if (!has_lora() || merged_) return;
  torch::NoGradGuard ng;
  weight.add_(delta(), scale_);
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard ng;
  weight.sub_(delta(), scale_);
  merged_ = false;
}

}  // namespace lorascape::core
