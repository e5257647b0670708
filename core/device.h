// Device selection and thread settings.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "core/process.h"

namespace lorascape::core {

// "cpu", "cuda" (error when unavailable) or "auto" (cuda when available, else cpu).
c10::Device resolve_device(const std::string& name);
bool cuda_available();
// Number of CUDA devices (0 without CUDA).
int64_t cuda_device_count();
// The CPUs this process may run on (sched_getaffinity; taskset, cgroups' cpusets).
int usable_cpus();
// How many cores were idle, summed over the machine, while this thread slept `sample_ms`
// (/proc/stat); -1 when /proc/stat cannot be read.
double idle_cpus(int sample_ms);
// The thread count of `threads` = 0 (auto): the usable CPUs that other programs leave idle,
// at least 1 — every usable core on an idle machine, one where other CPU-bound work occupies
// the others (docs/performance.md, "Threads under load"). Measured once per 10 s at most.
int auto_threads();
// The rule: floor(idle + 0.3) clamped to [1, cpus] — a core counts when it is at least 70% idle,
// since threads on a core another program keeps busy wait for each other at every parallel
// region; every CPU when idle < 0 (unknown).
int auto_threads_for(double idle, int cpus);
// LibTorch intra-op threads (0 = auto_threads()); an OpenBLAS in use gets `blas_threads` per
// caller (0 = as many as intra-op threads): one by default, so that the two thread pools do
// not oversubscribe the cores (docs/performance.md). The GEMM probe (bench gemm) gives BLAS
// all threads, to measure the machine's peak.
void set_threads(int64_t threads, int blas_threads = 1);
// The BLAS libraries mapped into this process (after a matmul has run), comma-separated.
std::string loaded_blas();
// Threads for training a model of width d_model. Where lorascape's own GEMM runs (AVX-512,
// kernels/gemm.h), set_threads(threads): the frozen weights' products go to it on the intra-op
// threads. Otherwise, below 256 the same; from 256 on, one intra-op thread and every thread to
// BLAS, whose GEMMs then dominate a training step (docs/performance.md: +11% at d_model 256,
// +24% at 512, but −10% at 128).
void set_training_threads(int64_t threads, int64_t d_model);
// Threads of the OpenBLAS in use, or -1 when the BLAS is not OpenBLAS.
int blas_threads();

}  // namespace lorascape::core
