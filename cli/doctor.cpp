#include "cli/doctor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "core/base_model.h"
#include "core/device.h"
#include "core/version.h"
#include "kernels/gemm.h"

namespace lorascape::cli {

int run_doctor() {
  std::printf("lorascape      %s (%s)\n", kVersion, kGitDescribe);
  std::printf("LibTorch       %s\n", TORCH_VERSION);
  std::printf("compiler       GCC %d.%d.%d, C++%ld\n", __GNUC__, __GNUC_MINOR__,
              __GNUC_PATCHLEVEL__, __cplusplus / 100 % 100 + 0L);
  core::set_threads(0);
  std::printf("threads        %d intra-op (%u cores), BLAS threads %d\n", at::get_num_threads(),
              std::thread::hardware_concurrency(), core::blas_threads());
  std::printf("CUDA           %s\n",
              core::cuda_available() ? "available (device auto = cuda)"
                                     : (at::hasCUDA() ? "built in, no GPU found"
                                                      : "not in this LibTorch build (CPU only)"));
  std::printf("cache          %s\n", core::cache_dir().c_str());

  // Matmul probe: 1024x1024 float32, best of a few runs.
  const int64_t n = 1024;
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  (void)at::mm(a, b);
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor c = at::mm(a, b);
    (void)c.sum().item<float>();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double gflops = 2.0 * n * n * n / best / 1e9;
  std::printf("matmul 1024²   %.1f GFLOP/s (float32, %.1f ms)\n", gflops, best * 1e3);
  const std::string blas = core::loaded_blas();
  std::printf("BLAS           %s\n", blas.c_str());
  std::printf("own GEMM       %s\n",
              kernels::gemm_available()
                  ? "AVX-512: merged and frozen weights' float32 products (docs/model.md)"
                  : "not on this CPU (no AVX-512): every product goes to the BLAS");
  const bool reference =
      blas.find("/blas/libblas") != std::string::npos ||
      (blas.find("openblas") == std::string::npos && blas.find("mkl") == std::string::npos &&
       blas.find("blis") == std::string::npos && blas.find("libblas") != std::string::npos);
  if (reference)
    std::printf(
        "WARNING        the reference BLAS is in use: matmuls run ~15x slower. Install an "
        "optimised one:\n"
        "               apt-get install libopenblas0-pthread   (./lorascape.sh setup does this)\n");
  else if (gflops < 5.0)
    std::printf(
        "WARNING        matmul throughput is low (%.1f GFLOP/s); check the BLAS and thread "
        "settings\n",
        gflops);
  return 0;
}

}  // namespace lorascape::cli
