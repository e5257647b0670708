// `lorascape sharpness`: the top Hessian eigenvalue(s) of the loss with respect to the LoRA
// parameters, at one adapter (--at) or at the points of a line scan (--along), as PyHessian
// computes them (REFERENCES.md "PH"): Hessian-vector products by double backward and power
// iteration with deflation.
//
// The loss is the one every scan reports (core/evaluate.h): L(θ) = Σ_tokens CE·mask / N, the
// token-weighted mean cross-entropy over the answer tokens (answer bytes + EOS) of a fixed
// example set, N its number of scored tokens; θ = the model's LoRA factors (every lora_A and
// lora_B, in model order), the base weights frozen. H = ∇²L(θ), a dim×dim symmetric matrix,
// dim = number of LoRA parameters, never formed.
//
// Power iteration finds the eigenvalue of largest MAGNITUDE |λ| (PyHessian has the same
// property): at a minimum H is positive semi-definite and that is the largest eigenvalue, the
// usual "sharpness"; away from a minimum (along a line, say) it may be a negative eigenvalue,
// and it is reported with its sign. lambda_2 … lambda_k are the next ones by magnitude, found
// by orthonormalising the iterate against the eigenvectors already found (deflation).
//
// θ is the point's own parametrisation. Along a line in the delta space (path.h) a point is
// the rank-2r adapter [A₀; A₁], [(1−t)B₀ | tB₁], so H is taken over its rank-2r factors: at
// t = 0 that is not the Hessian of the rank-r endpoint (it also has curvature along the
// directions A₁ opens), and delta-space values compare with each other, not with factors-space
// or --at values.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/scan.h"
#include "core/adapter.h"
#include "core/model.h"
#include "core/tasks.h"
#include "core/tokenizer.h"
#include "store/scan_file.h"

namespace lorascape::analysis {

// L(θ) over a fixed example set, with its gradient and Hessian-vector products with respect
// to the LoRA parameters of `model` (which must carry LoRA: add_lora). The examples are
// tokenised once, `batch` per forward; a product is summed over the batches with each batch's
// sum of token losses divided by the set's total N, so it is exactly the Hessian of the mean
// over the whole set (independent of `batch`, up to rounding). Runs on the model's device and
// in its dtype (float32 or float64) with dropout off (eval mode); vectors in and out are flat
// (dim) tensors in the order of model.lora_parameters(), returned as float64 on the CPU.
// The model must outlive this object; load another adapter into it (Adapter::load_into) and
// the products are those at the new point.
class LossHessian {
 public:
  LossHessian(core::TransformerImpl& model, const std::vector<const core::Example*>& examples,
              int64_t batch);

  int64_t dim() const { return dim_; }
  double tokens() const { return tokens_; }  // N, the scored tokens of the set
  double loss();                             // L(θ)
  at::Tensor gradient();                     // ∇L(θ)
  at::Tensor hvp(const at::Tensor& v);       // H v, by g = ∇L (create_graph), Hv = ∇(g·v)

 private:
  std::vector<at::Tensor> params();
  at::Tensor batch_loss(const core::TokenBatch& b);  // Σ CE·mask / N of one batch (graph kept)
  core::TransformerImpl& model_;
  std::vector<core::TokenBatch> batches_;  // on the model's device
  double tokens_ = 0;
  int64_t dim_ = 0;
};

// A symmetric linear operator on flat float64 CPU vectors of length `dim` (e.g. a bound
// LossHessian::hvp, or a plain matrix in the tests).
using LinearOperator = std::function<at::Tensor(const at::Tensor&)>;

struct Eigenpairs {
  std::vector<double>
      values;  // (k) signed eigenvalues, in the order found (|λ| descending, usually)
  std::vector<at::Tensor> vectors;  // (k) unit eigenvector estimates, (dim) float64
  std::vector<int> iterations;      // (k) operator applications spent on each
  std::vector<bool> converged;      // (k) whether the stopping rule was met within max_iter
};

// Called after every iteration with (eigenvalue index j = 0…k−1, iteration 1…, current λ).
using IterationCallback = std::function<void(int, int, double)>;

// Top-k eigenvalues by magnitude of the symmetric operator `op`, by power iteration as in
// PyHessian: for j = 1…k, v ~ N(0, I) (float64, seeded by `seed`), normalised; every iteration
// orthonormalises v against the j−1 eigenvectors found, computes λ = vᵀ·op(v) and sets
// v = op(v)/‖op(v)‖; stops when |λ − λ_prev|/(|λ| + 1e−6) < tol (not before the second
// iteration) or after max_iter iterations (converged = false). λ is the Rayleigh quotient, so
// a negative dominant eigenvalue comes out negative. Limits of the method: it converges at the
// rate |λ_{j+1}/λ_j| per iteration, so close eigenvalues need many iterations (converged =
// false at the cap), and two dominant eigenvalues of equal magnitude and opposite sign (λ and
// −λ) leave the iterate a fixed mixture of both, whose Rayleigh quotient is some value in
// (−|λ|, |λ|) that the stopping rule accepts. An operator that maps v to 0 gives λ = 0,
// converged. ConfigError unless 1 <= k <= dim, tol > 0 and max_iter >= 1.
Eigenpairs top_eigenvalues(const LinearOperator& op, int64_t dim, int k, double tol, int max_iter,
                           uint64_t seed, const IterationCallback& on_iteration = {});

// The settings of one sharpness computation.
struct SharpnessSettings {
  int top = 1;          // k eigenvalues
  double tol = 1e-3;    // relative change of λ that stops the iteration (PyHessian's default)
  int max_iter = 100;   // iteration cap per eigenvalue (PyHessian's default)
  uint64_t seed = 1;    // of the starting vectors; the same at every point and task set
  int64_t batch = 100;  // examples per forward
};

// The sharpness of one adapter on one example set.
struct PointSharpness {
  double loss = 0;  // L at the adapter
  Eigenpairs eig;
};

// A base model carrying LoRA of `lora` (dropout off), on `device` in `dtype`, eval mode: the
// model sharpness_at works on. `lora` must have the rank of the adapters to load
// (core::lora_config_of).
core::Transformer sharpness_model(const std::string& base_path, core::LoraConfig lora,
                                  const c10::Device& device, at::ScalarType dtype);

// Loads `adapter` into `model` (Adapter::load_into: names and shapes must match) and computes
// L and the top-k eigenvalues of its Hessian on `examples`.
PointSharpness sharpness_at(core::TransformerImpl& model, const core::Adapter& adapter,
                            const std::vector<const core::Example*>& examples,
                            const SharpnessSettings& s, const IterationCallback& on_iteration = {});

// `lorascape sharpness`.
struct SharpnessOptions {
  // tasks, union_tasks, base, out ("" = print only, no file), dtype (float32 | float64).
  // The space is the line's (--along); shard and points_per_batch are not used.
  ScanOptions scan;
  std::string at;     // one adapter reference, or
  std::string along;  // a line scan file: every `every`-th point of its t axis
  int every = 1;
  SharpnessSettings settings;   // settings.batch is ignored: run_sharpness uses data.eval.batch
  int64_t examples = 64;        // per task (0 = all of the split)
  std::string split = "train";  // train | eval | test: the examples the loss is taken over
};

// What a line scan file says about its line: the endpoints (its stored references resolved
// against its folder, store::resolve_ref: usable from the working directory), the space, the t axis
// and the task selection. ConfigError when the file is missing or not a line scan (FormatError when
// it is no scan file at all).
struct LineSource {
  std::string from, to, space;
  std::vector<double> ts;
  std::vector<std::string> tasks, union_tasks;
  std::vector<std::string> adapter_digests;  // of from and to, as the line scan recorded them
};
LineSource read_line_source(const std::string& path);

// ConfigError (one line) for bad options: neither or both of --at/--along, k < 1, tol <= 0,
// max_iter < 1, every < 1, examples < 0, a split or dtype that does not exist.
void check_sharpness_options(const SharpnessOptions& opt);

// Computes the sharpness at every point (for --at one point, axis {0}; for --along the
// chosen ts) and task set (the tasks, then "union" when asked; for --along the line's
// selection unless --tasks/--union are given): a scan of kind "sharpness" with scores
// lambda_1…lambda_k, extras "iterations" and "converged" (P, T, k) and "loss" (P, T), written
// to opt.scan.out after every point when set (rerunning the same command resumes; another
// configuration into the same file is refused), and its table in text "summary" once
// complete. `data` gives the task data (analysis::scan_data_config).
store::ScanData run_sharpness(const SharpnessOptions& opt, const core::RunConfig& data,
                              const std::string& command_line);

// A readable table of a sharpness scan: per point and task set, the loss, each λ_j with its
// iterations, and a mark on eigenvalues that did not converge.
std::string sharpness_table(const store::ScanData& d);

}  // namespace lorascape::analysis
