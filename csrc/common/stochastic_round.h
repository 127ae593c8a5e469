// Stochastic rounding of float32 to the 16-bit table types, on host and
// device (FBGEMM's `stochastic_rounding` for float16 / bfloat16 weights).
//
// Why: a half-precision weight w keeps 8 (bfloat16) or 11 (float16)
// significant bits, so under round-to-nearest every update smaller than half
// a unit in the last place of w is lost, every step: a bfloat16 weight near 1
// ignores all steps below 2^-9, which is most of Adam's and Adagrad's late
// steps. Rounded stochastically, x goes to one of its two representable
// neighbours lo <= x <= hi, to hi with probability (x - lo) / (hi - lo), so
// E[round(x)] = x: small updates survive on average, as they do in float32.
//
// The maths, with r a uniform 16-bit integer per element:
//   bfloat16: bits(x) + r, truncated to the top 16 bits. The bfloat16 grid is
//             the float32 bit pattern with its low 16 bits cut, so adding r
//             below the cut carries into the kept bits with probability
//             (low 16 bits) / 2^16 = (|x| - |lo|) / (|hi| - |lo|), exactly.
//   float16:  the same cut at bit 13 of the rebiased pattern (r's low 13
//             bits) for normal halves; below 2^-14 (half subnormals) the
//             grid is k * 2^-24, and k rounds up when r / 2^16 < frac(k), an
//             error in the probability of at most 2^-16.
//   inf and NaN round to nearest; |x| >= 65536 gives float16 inf, as 65520
//   and up do to nearest.
//
// Randomness: Philox4x32-10 keyed by a 64-bit seed, at counter
// (row * ceil(D / 8) + j / 8, step); element j of a row takes half-word
// j % 8 of that block. The bits are a pure function of (seed, step, row, j):
// the same on any thread count or device, and for any order of the ids.
#pragma once

#include <cstdint>

#include "common/philox.h"
#include "common/types.h"

namespace ydnn {

// Elements per Philox block (16 bits each).
constexpr int64_t kRoundBitsPerBlock = 8;

YDNN_HD Philox4x32 round_bits_block(uint64_t seed, int64_t step, int64_t row, int64_t dim,
                                    int64_t block) {
  const int64_t blocks = (dim + kRoundBitsPerBlock - 1) / kRoundBitsPerBlock;
  return philox4x32_10(static_cast<uint64_t>(row * blocks + block), static_cast<uint64_t>(step),
                       seed);
}

// The 16 random bits of element j (j % 8 selects the half-word of its block).
YDNN_HD uint32_t round_bits_of(const Philox4x32& p, int64_t j) {
  const int i = static_cast<int>(j % kRoundBitsPerBlock);
  return (p.x[i >> 1] >> ((i & 1) * 16)) & 0xffffu;
}

YDNN_HD uint16_t float_to_bf16_stochastic(float f, uint32_t r16) {
  const uint32_t x = float_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return float_to_bf16(f);  // NaN stays quiet NaN
  // |x| < inf here, so the carry can reach the exponent (the next binade, or
  // inf past the largest bfloat16) but never the sign.
  return static_cast<uint16_t>((x + (r16 & 0xffffu)) >> 16);
}

YDNN_HD uint16_t float_to_half_stochastic(float f, uint32_t r16) {
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return float_to_half(f);     // inf, NaN
  if (ax >= 0x47800000u) return sign | 0x7c00u;       // >= 65536: past every half
  if (ax < 0x38800000u) {                             // below 2^-14: the k * 2^-24 grid
    const float v = bits_to_float(ax) * 16777216.0f;  // * 2^24, exact
    uint32_t k = static_cast<uint32_t>(v);
    if (static_cast<float>(r16 & 0xffffu) < (v - static_cast<float>(k)) * 65536.0f) ++k;
    return sign | static_cast<uint16_t>(k);  // k = 1024 is the smallest normal
  }
  return sign | static_cast<uint16_t>(((ax + (r16 & 0x1fffu)) >> 13) - (112u << 10));
}

template <typename T>
YDNN_HD T from_float_stochastic(float v, uint32_t r16);
template <>
YDNN_HD float from_float_stochastic<float>(float v, uint32_t) {
  return v;
}
template <>
YDNN_HD f16 from_float_stochastic<f16>(float v, uint32_t r16) {
  return f16{float_to_half_stochastic(v, r16)};
}
template <>
YDNN_HD bf16 from_float_stochastic<bf16>(float v, uint32_t r16) {
  return bf16{float_to_bf16_stochastic(v, r16)};
}

}  // namespace ydnn
