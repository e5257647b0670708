// The BLAS that LibTorch is linked to, reached directly: its Fortran sgemm_, looked up at run
// time (the fused CPU attention's fallback where lorascape's GEMM does not run, kernels/ops.cpp).
#pragma once

namespace lorascape::kernels {

// Column-major C = alpha·op(A)·op(B) + beta·C; null when no such symbol is visible (e.g. a
// LibTorch with a statically linked MKL), in which case callers use ATen.
using SgemmFn = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                         const int* k, const float* alpha, const float* a, const int* lda,
                         const float* b, const int* ldb, const float* beta, float* c,
                         const int* ldc);
SgemmFn blas_sgemm();

}  // namespace lorascape::kernels
