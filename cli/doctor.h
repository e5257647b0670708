#pragma once
namespace lorascape::cli {
// Prints versions, threads, device, a matmul GFLOP/s probe and BLAS warnings. Returns 0.
int run_doctor();
}  // namespace lorascape::cli
