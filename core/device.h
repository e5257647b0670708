// Device selection and thread settings.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace lorascape::core {

// "cpu", "cuda" (error when unavailable) or "auto" (cuda when available, else cpu).
c10::Device resolve_device(const std::string& name);
bool cuda_available();
// 0 = all cores.
void set_threads(int64_t threads);

}  // namespace lorascape::core
