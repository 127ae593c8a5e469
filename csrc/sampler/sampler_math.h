// Call-free float64 logarithm and exponential pieces of the samplers'
// expected counts, on host and device.
//
// Why: expected counts cost three libm calls per id (log1p for P, log1p and
// expm1 for 1 - (1 - P)^num_tries), ~50 ns per id on the CPU, more than the
// draws themselves. Short polynomials in plain arithmetic keep the
// dependency chains short, so the loop over ids pipelines; the CUDA kernels
// run the same code. Accuracy: a few ulps in float64, far below the float32
// the counts are returned in (tests/sampler/ checks against libm).
//
//   atanh series:  log((1 + z) / (1 - z)) = 2 z sum_{n=0}^{5} z^(2n) / (2n + 1),
//                  truncation < (z^2)^6 / 13 < 1e-19 for z <= 1/31.
//   log_ratio(j) = log((j + 2) / (j + 1)) = 2 atanh(1 / (2j + 3)), z <= 1/35
//                  for j >= 16; log1p(1 / (j + 1)) for the 16 head ids.
//   log1m(p)     = log(1 - p) = -2 atanh(p / (2 - p)), z <= 1/31 for
//                  p <= 1/16; log1p(-p) beyond (the head of ranges < 10^5).
//   expm1_neg(x) = exp(x) - 1 for x <= 0: x = (8m + i) ln2 / 8 + r, |r| <=
//                  ln2 / 16 (Cody-Waite), expm1(r) by its Taylor series to
//                  r^8 (truncation < 3e-17 relative), s = 2^m 2^(i/8) from a
//                  table, and exp(x) - 1 = s e + (s - 1), s - 1 exact.
//   exp_pos(x)   = exp(x) for 0 <= x < 709: the same reduction, exp(r) by
//                  Horner to r^8 (truncation < 2e-18 relative), times s.
//                  Every multiply-add is an explicit fma, so host (scalar
//                  and AVX2) and device round identically: the log-uniform
//                  draws, floor(exp(u log(R + 1))), are the same ids on the
//                  CPU and the GPU, bit for bit. Within 1 ulp of exp.

#pragma once

#include <cmath>
#include <cstdint>

#include "common/types.h"

namespace ydnn {

// The polynomials below as Horner coefficients, highest power first, for
// the vector paths (sampler_log_uniform_avx*.cc), which must evaluate them
// in the same order: exp(r) to r^8 (exp_pos), expm1(r) / r^2 to r^8
// (expm1_neg, its first 7), and the atanh series to z^10.
inline constexpr double kExpCoeffs[9] = {
    1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
inline constexpr double kAtanhCoeffs[6] = {1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1.0};

// sum_{n=0}^{5} z2^n / (2n + 1), Horner.
YDNN_HD double atanh_series(double z2) {
  double s = 1.0 / 11;
  s = s * z2 + 1.0 / 9, s = s * z2 + 1.0 / 7, s = s * z2 + 1.0 / 5, s = s * z2 + 1.0 / 3;
  return s * z2 + 1.0;
}

YDNN_HD double log_ratio(double j) {
  if (j < 16.0) return log1p(1.0 / (j + 1.0));
  const double z = 1.0 / (2.0 * j + 3.0);
  return 2.0 * z * atanh_series(z * z);
}

YDNN_HD double log1m(double p) {
  if (p > 0.0625) return log1p(-p);
  const double z = p / (2.0 - p);
  return -2.0 * z * atanh_series(z * z);
}

// 2^(i/8), i = 0..7, rounded to nearest (a local table: usable on device).
YDNN_HD constexpr double pow2_eighths(int64_t i) {
  constexpr double kTable[8] = {1.0,
                                1.0905077326652576592070106557607,
                                1.1892071150027210667174999705605,
                                1.2968395546510096659337541177925,
                                1.4142135623730950488016887242097,
                                1.5422108254079408236122918620907,
                                1.6817928305074290860622509524664,
                                1.8340080864093424634870831895883};
  return kTable[i];
}

// ln2 / 8 split so that k * hi is exact for |k| < 2^11, and 8 / ln2.
constexpr double kLn2Over8Hi = 8.664339756998629e-02;
constexpr double kLn2Over8Lo = 6.872403773385464e-15;
constexpr double kEightOverLn2 = 11.541560327111707;

// 2^m as a double, -1022 <= m <= 1023.
YDNN_HD double pow2i(int64_t m) {
  const int64_t bits = (m + 1023) << 52;
  double out;
#if defined(__CUDA_ARCH__)
  out = __longlong_as_double(bits);
#else
  __builtin_memcpy(&out, &bits, 8);
#endif
  return out;
}

YDNN_HD double exp_pos(double x) {
  const double k = rint(x * kEightOverLn2);  // in [0, 8185]
  const double r = fma(-k, kLn2Over8Lo, fma(-k, kLn2Over8Hi, x));
  double e = 1.0 / 40320.0;  // 1 / 8!
  e = fma(e, r, 1.0 / 5040.0), e = fma(e, r, 1.0 / 720.0), e = fma(e, r, 1.0 / 120.0);
  e = fma(e, r, 1.0 / 24.0), e = fma(e, r, 1.0 / 6.0), e = fma(e, r, 0.5);
  e = fma(e, r, 1.0), e = fma(e, r, 1.0);  // exp(r)
  const int64_t ki = static_cast<int64_t>(k);
  return (pow2i(ki >> 3) * pow2_eighths(ki & 7)) * e;
}

YDNN_HD double expm1_neg(double x) {
  if (x < -40.0) return -1.0;                // exp(-40) < 2^-57: -1 to the last bit
  const double k = rint(x * kEightOverLn2);  // in [-462, 0]
  const double r = (x - k * kLn2Over8Hi) - k * kLn2Over8Lo;
  double e = 1.0 / 40320.0;  // 1 / 8!
  e = e * r + 1.0 / 5040.0, e = e * r + 1.0 / 720.0, e = e * r + 1.0 / 120.0;
  e = e * r + 1.0 / 24.0, e = e * r + 1.0 / 6.0, e = e * r + 0.5;
  e = (e * r) * r + r;  // expm1(r)
  if (k == 0.0) return e;
  const int64_t ki = static_cast<int64_t>(k);
  const double scale = pow2i(ki >> 3) * pow2_eighths(ki & 7);  // floor(k / 8) >= -58
  return scale * e + (scale - 1.0);
}

}  // namespace ydnn
