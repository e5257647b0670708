// Process-wide helpers for front ends, without LibTorch in the header (the app includes it).
#pragma once

#include <exception>
#include <string>

namespace lorascape::core {

// Keeps freed memory in the process instead of returning it to the system after every large
// tensor: glibc maps blocks over its (adaptive, at most 32 MiB) threshold with mmap and unmaps
// them on free, so every step of a forward/backward pass page-faults its activations in afresh
// (11% of training time at d_model 512). Raises the mmap threshold to 256 MiB and the trim
// threshold to 1 GiB (docs/performance.md: +4.5% training throughput at d_model 512). Call
// once at start-up; peak memory is unchanged, it is only kept until exit.
void keep_freed_memory();

// The one-line message of an exception: LibTorch's errors without their C++ backtrace.
std::string error_text(const std::exception& e);

}  // namespace lorascape::core
