// Element types shared by every op family, on host and device.
//
// Tables may be float32, float16 or bfloat16; every kernel accumulates in
// float32 and rounds once when it stores. The 16-bit types are carried as raw
// bits (uint16_t) so that the same headers compile under g++ without CUDA and
// under nvcc, and so that TF's Eigen::half / bfloat16 and NumPy's float16 /
// ml_dtypes.bfloat16 can all be passed by pointer without conversion.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define YDNN_HD __host__ __device__ __forceinline__
#else
#define YDNN_HD inline
#endif

namespace ydnn {

enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };
enum class IdType : int { kInt32 = 0, kInt64 = 1 };

// Storage wrappers: distinct C++ types so templates can dispatch on them.
struct f16 {
  uint16_t bits;
};
struct bf16 {
  uint16_t bits;
};

YDNN_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

YDNN_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

// IEEE half -> float, exact for every input (subnormals, inf, nan included).
// On the device one cvt instruction: the portable form below sat in the
// dependent chain of every float16 row sum (an H200 ran the float16
// backward 3x slower than the float32 one).
YDNN_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#endif
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_to_float(sign);
  // Subnormal half: value = mant * 2^-24, exact in float.
  const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

// float -> IEEE half with round-to-nearest-even; overflow gives inf.
YDNN_HD uint16_t float_to_half(float f) {
#if defined(__CUDA_ARCH__)
  uint16_t h;  // cvt.rn: the same rounding, subnormals and overflow to inf
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#endif
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)  // inf or nan (keep nan quiet)
    return sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u);
  if (ax >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504
  if (ax < 0x38800000u) {                        // half subnormal or zero
    // Scale so the half's subnormal grid becomes integers, then round.
    const float v = bits_to_float(ax) * 16777216.0f;  // * 2^24
    uint32_t m = static_cast<uint32_t>(v);
    const float rem = v - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return sign | static_cast<uint16_t>(m);
  }
  const uint32_t lsb = (ax >> 13) & 1u;
  const uint32_t rounded = ax + 0xfffu + lsb;  // round to nearest even
  return sign | static_cast<uint16_t>(((rounded >> 13) - (112u << 10)));
}

YDNN_HD float bf16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

YDNN_HD uint16_t float_to_bf16(float f) {
  const uint32_t x = float_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// x rounded to the nearest bfloat16 (ties to even), as a float: what a
// bfloat16 product's input holds (compute_dtype = bfloat16).
YDNN_HD float round_bf16(float x) { return bf16_to_float(float_to_bf16(x)); }

YDNN_HD float to_float(float v) { return v; }
YDNN_HD float to_float(f16 v) { return half_to_float(v.bits); }
YDNN_HD float to_float(bf16 v) { return bf16_to_float(v.bits); }

template <typename T>
YDNN_HD T from_float(float v);
template <>
YDNN_HD float from_float<float>(float v) {
  return v;
}
template <>
YDNN_HD f16 from_float<f16>(float v) {
  return f16{float_to_half(v)};
}
template <>
YDNN_HD bf16 from_float<bf16>(float v) {
  return bf16{float_to_bf16(v)};
}

}  // namespace ydnn
