// Constants of Cephes' expf, shared by the fused kernels' scalar-written exponential
// (kernels.cpp, vectorised by the compiler) and the GEMM's AVX-512 one (gemm.cpp):
// e^x = 2^n · e^r, n = round(x / ln 2), |r| ≤ ln 2 / 2, e^r = 1 + r + r²·P(r) with P of degree 5.
#pragma once

namespace lorascape::kernels::exp_poly {

constexpr float kMin = -87.3f, kMax = 88.3f;  // arguments are clamped to these
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln 2 = kLn2Hi + kLn2Lo
constexpr float kP[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                         4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

}  // namespace lorascape::kernels::exp_poly
