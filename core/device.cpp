#include "core/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
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

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

// Jiffies of the whole machine from /proc/stat's "cpu" line: (idle + iowait, total).
bool cpu_jiffies(double& idle, double& total) {
  std::ifstream f("/proc/stat");
  std::string line;
  if (!std::getline(f, line) || line.rfind("cpu ", 0) != 0) return false;
  std::istringstream in(line.substr(4));
  double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // user nice system idle iowait irq softirq steal
  for (double& x : v) in >> x;
  idle = v[3] + v[4];
  total = 0;
  for (double x : v) total += x;
  return total > 0;
}

}  // namespace

double idle_cpus(int sample_ms) {
  double idle0 = 0, total0 = 0, idle1 = 0, total1 = 0;
  if (!cpu_jiffies(idle0, total0)) return -1;
  std::this_thread::sleep_for(std::chrono::milliseconds(sample_ms));
  if (!cpu_jiffies(idle1, total1) || total1 <= total0) return -1;
  const int online = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return (idle1 - idle0) / (total1 - total0) * online;
}

int auto_threads_for(double idle, int cpus) {
  if (cpus <= 1) return 1;
  if (idle < 0) return cpus;  // unknown: as before, every core
  return std::clamp(static_cast<int>(std::floor(idle + 0.3)), 1, cpus);
}

int auto_threads() {
  // One measurement serves every call within a few seconds (run_training sets threads twice).
  static std::mutex m;
  static std::chrono::steady_clock::time_point when;
  static int last = 0;
  std::lock_guard<std::mutex> lock(m);
  const auto now = std::chrono::steady_clock::now();
  if (last > 0 && now - when < std::chrono::seconds(10)) return last;
  // The cores idle while this process sleeps for 100 ms, i.e. not used by other programs.
  const int cpus = usable_cpus();
  const int n = auto_threads_for(cpus > 1 ? idle_cpus(100) : -1, cpus);
  when = now;
  last = n;
  return n;
}

void set_threads(int64_t threads, int blas_threads) {
  int n = threads > 0 ? static_cast<int>(threads) : auto_threads();
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
  const int n = threads > 0 ? static_cast<int>(threads) : auto_threads();
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
