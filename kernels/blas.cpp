#include "kernels/blas.h"

#include <dlfcn.h>

namespace lorascape::kernels {

SgemmFn blas_sgemm() {
  static const auto f = reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return f;
}

}  // namespace lorascape::kernels
