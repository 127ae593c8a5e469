// Rows of 16-bit table values (float16 / bfloat16 raw bits) widened to
// float32 and narrowed back, for the per-ISA CPU kernels.
//
// Why a row at a time: a kernel that converts element by element inside its
// arithmetic runs the portable bit-twiddling of common/types.h per element,
// which the compiler cannot vectorise (a float16 sparse Adam step ran 4.6x
// slower than float32). Widening a row into a float32 buffer (F16C, or a
// shift for bfloat16), doing the float32 maths there, and narrowing once
// keeps every loop vectorised.
//
// Narrowing is portable integer code the compiler vectorises on every ISA:
// the normal-range rule for all lanes, then a scalar pass over the rare
// lanes outside it (float16 subnormals and overflow, NaN), so the results
// are bit-identical to common/types.h (to nearest) and
// common/stochastic_round.h (stochastic) on every path.
//
// Include inside a per-ISA anonymous namespace (its functions are compiled
// for that ISA, and stay private to the TU), after <immintrin.h>,
// common/types.h and common/stochastic_round.h have been included before the
// TU's target pragma; YDNN_ISA_AVX512 / YDNN_ISA_AVX2 select F16C.

inline void widen_row(const uint16_t* src, bool is_bf16, int64_t n, float* dst) {
  int64_t i = 0;
  if (is_bf16) {
    for (; i < n; ++i) dst[i] = bits_to_float(uint32_t(src[i]) << 16);
    return;
  }
#if defined(YDNN_ISA_AVX512)
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(
        dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
#elif defined(YDNN_ISA_AVX2)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

// Whether |x| (bits ax) lies outside the rule narrow_row_as vectorises.
template <bool kBf16, bool kStochastic>
inline bool narrow_rare(uint32_t ax) {
  if constexpr (kBf16) return ax > 0x7f800000u;  // NaN
  // Normal halves: [2^-14, 65536) for the stochastic rule, [2^-14, 65520)
  // to nearest (65520 and up round to inf).
  return ax < 0x38800000u || ax >= (kStochastic ? 0x47800000u : 0x477ff000u);
}

template <bool kBf16, bool kStochastic>
void narrow_row_as(const float* __restrict src, const uint16_t* __restrict r, int64_t n,
                   uint16_t* __restrict dst) {
  uint32_t rare = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = float_to_bits(src[i]);
    const uint32_t ax = x & 0x7fffffffu;
    rare |= narrow_rare<kBf16, kStochastic>(ax);
    if constexpr (kBf16) {
      const uint32_t add = kStochastic ? uint32_t(r[i]) : 0x7fffu + ((x >> 16) & 1u);
      dst[i] = static_cast<uint16_t>((x + add) >> 16);
    } else {
      const uint32_t add = kStochastic ? (r[i] & 0x1fffu) : 0xfffu + ((ax >> 13) & 1u);
      dst[i] = static_cast<uint16_t>(((x >> 16) & 0x8000u) | (((ax + add) >> 13) - (112u << 10)));
    }
  }
  if (!rare) return;
  for (int64_t i = 0; i < n; ++i) {
    if (!narrow_rare<kBf16, kStochastic>(float_to_bits(src[i]) & 0x7fffffffu)) continue;
    if constexpr (kStochastic)
      dst[i] =
          kBf16 ? float_to_bf16_stochastic(src[i], r[i]) : float_to_half_stochastic(src[i], r[i]);
    else
      dst[i] = kBf16 ? float_to_bf16(src[i]) : float_to_half(src[i]);
  }
}

// src rounded to 16 bits into dst: to nearest even, or (r != nullptr)
// stochastically with r[i]'s 16 random bits.
inline void narrow_row(const float* src, bool is_bf16, const uint16_t* r, int64_t n,
                       uint16_t* dst) {
  if (is_bf16)
    r ? narrow_row_as<true, true>(src, r, n, dst) : narrow_row_as<true, false>(src, r, n, dst);
  else
    r ? narrow_row_as<false, true>(src, r, n, dst) : narrow_row_as<false, false>(src, r, n, dst);
}
