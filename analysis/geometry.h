// `lorascape geometry`: how far apart, how aligned and how overlapping the LoRA updates of a
// set of adapters are, per adapted module (e.g. "model.layers.0.self_attn.q_proj") and over
// the whole adapter. No model is loaded and nothing is evaluated: this is pure linear algebra
// on the factors, in double precision.
//
// For adapters i, j and one module with factors A (r, in), B (out, r) and scale s = alpha/r:
//   factor_distance  ‖θ_i − θ_j‖, θ = the module's A and B flattened (as Adapter::flatten)
//   factor_cosine    ⟨θ_i, θ_j⟩ / (‖θ_i‖‖θ_j‖)
//   delta_distance   ‖ΔW_i − ΔW_j‖_F, ΔW = s·B·A (out, in)
//   delta_cosine     ⟨ΔW_i, ΔW_j⟩_F / (‖ΔW_i‖_F ‖ΔW_j‖_F)
//   angle_in         mean principal angle (degrees) between the input subspaces, the row
//                    spaces of A_i and A_j (subspaces of R^in)
//   angle_out        mean principal angle (degrees) between the output subspaces, the column
//                    spaces of B_i and B_j (subspaces of R^out)
//   overlap_in/out   mean cos² of those principal angles (Grassmann similarity, the
//                    normalised subspace similarity of Hu et al., LoRA, 2021): 1 when one
//                    subspace contains the other, 0 when they are orthogonal
//
// ΔW is never formed. ⟨ΔW_i, ΔW_j⟩_F = s_i s_j Σ (B_iᵀB_j) ∘ (A_iA_jᵀ) (r×r matrices), and
// norms and distances come from the rank-2r factorisation ΔW_i − ΔW_j = [s_iB_i | −s_jB_j]·
// [A_i; A_j] = Q_B (R_B R_Aᵀ) Q_Aᵀ with thin QRs of the two concatenated factors, so that
// ‖ΔW_i − ΔW_j‖_F = ‖R_B R_Aᵀ‖_F is computed from a 2r×2r matrix without the cancellation of
// ‖ΔW_i‖² + ‖ΔW_j‖² − 2⟨ΔW_i, ΔW_j⟩ (reparametrised copies of one ΔW come out ~1e-15 apart,
// not ~1e-8). Cost per pair and module: O((in + out)·r²).
//
// Subspaces: an orthonormal basis of each factor's column space (of Aᵀ for the input side,
// of B for the output side) from its SVD, keeping the singular values above
// max(rows, cols)·FLT_EPSILON·σ_max (numpy's matrix_rank rule for float32 data: the factors
// are stored in float32). The cosines of the principal angles are the singular values of
// Q_iᵀQ_j, clipped to [0, 1]; there are min(k_i, k_j) of them for numerical ranks k_i, k_j
// (a subspace inside a larger one is at angle 0). Small angles are taken from the sines
// (singular values of Q_j − Q_iQ_iᵀQ_j) instead, as in Knyazev & Argentati (2002): acos of a
// cosine rounded near 1 is off by ~1e-6°, the sine route gives identical subspaces ~1e-14°.
//
// Undefined values are NaN, never an error:
//   - a cosine with a zero vector (an adapter whose B is 0, as at LoRA initialisation, has
//     ΔW = 0: delta_cosine is NaN, delta_distance is still defined);
//   - principal angles and overlaps with an empty subspace (numerical rank 0, e.g. B = 0 at
//     initialisation: angle_out and overlap_out are NaN for that adapter's rows and columns;
//     angle_in stays defined because A is not 0).
// The diagonal, and every module whose factors and scale are bit-identical in both adapters,
// get the exact values (distance 0, cosine 1, angle 0, overlap 1, or NaN as above).
// Overall values: factor and delta distances and cosines over the whole adapter (all modules'
// vectors concatenated, i.e. the root of the sum of squared per-module distances, the sum of
// inner products over the product of the overall norms); angles and overlaps as the mean over
// the modules where they are defined (NaN when defined in none).
#pragma once

#include <string>
#include <vector>

#include "analysis/adapter_ref.h"
#include "store/scan_file.h"

namespace lorascape::analysis {

// The pairwise quantities, in the order they are stored and printed.
const std::vector<std::string>& geometry_metrics();

struct Geometry {
  std::vector<std::string> labels;   // (N,) the adapters' references
  std::vector<std::string> modules;  // (M,) adapted modules, adapter order
  std::vector<double> scales;        // (N,) s = alpha/rank of each adapter
  // (N,) per adapter over all modules: ‖θ‖ and ‖ΔW‖_F (root of the sum of squares).
  std::vector<double> factor_norm, delta_norm;
  // (M, N) per module and adapter: ‖θ‖, ‖ΔW‖_F, numerical ranks of A and B.
  std::vector<double> module_factor_norm, module_delta_norm, rank_in, rank_out;
  // Per metric of geometry_metrics(): overall (N, N) and per module (M, N, N), row-major.
  std::vector<std::vector<double>> overall, per_module;

  size_t n() const { return labels.size(); }
  size_t m() const { return modules.size(); }
  // Overall value of `metric` for the pair (i, j); per-module value for module `mod`.
  double at(const std::string& metric, size_t i, size_t j) const;
  double at(const std::string& metric, size_t mod, size_t i, size_t j) const;
};

// Adapter names grouped into modules: "X.lora_A.weight" (r, in) and "X.lora_B.weight"
// (out, r) give module X. FormatError when a module lacks one factor or shapes disagree.
std::vector<std::string> lora_modules(const core::Adapter& adapter, const std::string& origin);

// The geometry of N >= 1 adapters of one space (check_same_space). ConfigError when an
// adapter holds NaN or inf, naming the adapter and the tensor.
Geometry compute_geometry(const std::vector<AdapterSource>& sources);

// Principal angles (radians, ascending) between the column spaces of x (d, a) and y (d, b),
// double CPU tensors; empty when either has numerical rank 0. Exposed for tests.
std::vector<double> principal_angles(const at::Tensor& x, const at::Tensor& y);

// The overall matrices as aligned text tables with the labels (what the CLI prints).
std::string format_geometry(const Geometry& g);

// CSV, one row per module ("overall" first) and pair i < j:
// module,i,j,label_i,label_j,<the metrics>.
std::string geometry_csv(const Geometry& g);

// The scan file of kind "geometry" (docs/hdf5-schema.md, section 14): axis 00 = adapter
// index, task set "overall", scores factor_norm and delta_norm, every point done; the
// matrices in extras, labels and modules in text. `config_json` names the references.
// The scan's configuration: the references, their values' digests (FNV-1a), rank and alpha.
std::string geometry_config_json(const std::vector<AdapterSource>& sources);

// The header's software_version is this build's.
store::ScanData geometry_scan(const Geometry& g, const std::string& config_json,
                              const std::string& command_line);

// ConfigError unless `path` is free or holds a scan file of kind geometry: any other file
// (a run file, another scan, something unreadable) is never replaced.
void check_geometry_out(const std::string& path);
// check_geometry_out, then writes `d` (a geometry scan) to `path`.
void write_geometry_file(const std::string& path, const store::ScanData& d);

}  // namespace lorascape::analysis
