#include "core/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <malloc.h>
#include <torch/cuda.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "kernels/gemm.h"
#include "store/error.h"

namespace lorascape::core {

bool cuda_available() {
  return torch::cuda::is_available();
}
int64_t cuda_device_count() {
  return static_cast<int64_t>(torch::cuda::device_count());
}

c10::Device resolve_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") {
    if (!cuda_available())
      throw DeviceError(
          "device 'cuda' requested but no CUDA GPU is usable (this LibTorch build " +
          std::string(at::hasCUDA() ? "has CUDA but finds no GPU" : "has no CUDA support") +
          "; use `device` cpu or build against a CUDA LibTorch, see docs/building.md)");
    return c10::Device(c10::kCUDA, 0);
  }
  if (name == "auto") return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  throw ConfigError("device '" + name + "' is not one of cpu, cuda, auto");
}

void set_threads(int64_t threads, int blas_threads) {
  int n = threads > 0 ? static_cast<int>(threads)
                      : static_cast<int>(std::thread::hardware_concurrency());
  if (n < 1) n = 1;
  // More threads than 4 per core only makes every parallel region wait (`threads` = 1000 made
  // a 2-second training take minutes); results do not depend on the count.
  const int cap = 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = std::min(n, cap);
  at::set_num_threads(n);
  // LibTorch parallelises over its own (OpenMP) threads; an OpenBLAS that also starts its own
  // pool oversubscribes the cores: training ran 2.3x slower on 2 cores. One BLAS thread per
  // caller avoids that (docs/performance.md).
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(blas_threads > 0 ? blas_threads : n);
}

void set_training_threads(int64_t threads, int64_t d_model) {
  if (d_model < 256 || kernels::gemm_available()) return set_threads(threads);
  const int n = threads > 0 ? static_cast<int>(threads)
                            : static_cast<int>(std::thread::hardware_concurrency());
  set_threads(1, std::max(n, 1));
}

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

std::string error_text(const std::exception& e) {
  if (const auto* t = dynamic_cast<const c10::Error*>(&e)) return t->what_without_backtrace();
  return e.what();
}

std::string loaded_blas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    const auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    const std::string path = line.substr(pos);
    if (path.find("blas") != std::string::npos || path.find("mkl") != std::string::npos) {
      if (found.find(path) == std::string::npos) found += (found.empty() ? "" : ", ") + path;
    }
  }
  return found.empty() ? "none found (BLAS linked statically or not used)" : found;
}

int blas_threads() {
  using GetThreads = int (*)();
  static const auto f =
      reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return f ? f() : -1;
}

}  // namespace lorascape::core
