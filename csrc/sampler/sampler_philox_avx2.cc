// Philox4x32-10 on AVX2: eight blocks (sixteen 64-bit draws) per pass.
//
// Layout: structure of arrays, one __m256i per counter word, lane j = block
// j. Philox's 32 x 32 -> 64-bit products (mulhilo) have no 8-lane AVX2
// instruction: _mm256_mul_epu32 multiplies the even lanes, so each mulhilo
// is two of them (even lanes, odd lanes shifted down) and two blends. Same
// integer arithmetic as philox4x32_10, so the bits are the scalar path's
// (and the GPU's) exactly; tests/unigram/ and tests/sampler/ check
// the stream against a pure-Python Philox.
//
// Cost: ~130 vector instructions per pass, ~8 per draw, against ~60 scalar
// instructions (with 32-bit multiplies) per draw on the scalar path.
#include <immintrin.h>

#include "sampler/sampler.h"

#pragma GCC target("avx2")

namespace ydnn {
namespace {

struct Lanes {
  __m256i lo, hi;
};

inline Lanes mulhilo(__m256i a, __m256i m) {
  const __m256i even = _mm256_mul_epu32(a, m);                        // lanes 0, 2, 4, 6
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
  return {_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA),
          _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA)};
}

// Bits of blocks [block, block + 8) into out[0, 16): block j gives draws
// 2j (words 0-1) and 2j + 1 (words 2-3).
inline void eight_blocks(uint64_t block, __m256i c2, __m256i c3, uint32_t key0, uint32_t key1,
                         uint64_t* out) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const uint32_t b_lo = static_cast<uint32_t>(block);
  __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(b_lo)), lane);
  // The high counter word carries when the low word wraps inside the eight.
  const __m256i wrapped = _mm256_cmpgt_epi32(
      _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(b_lo)), _mm256_set1_epi32(INT32_MIN)),
      _mm256_xor_si256(c0, _mm256_set1_epi32(INT32_MIN)));
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int>(block >> 32)), wrapped);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  uint32_t k0 = key0, k1 = key1;
  for (int round = 0; round < 10; ++round) {
    const Lanes p0 = mulhilo(c0, m0), p1 = mulhilo(c2, m1);
    const __m256i n0 =
        _mm256_xor_si256(_mm256_xor_si256(p1.hi, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 =
        _mm256_xor_si256(_mm256_xor_si256(p0.hi, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0, c1 = p1.lo, c2 = n2, c3 = p0.lo;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  alignas(32) uint32_t x[4][8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(x[0]), c0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x[1]), c1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x[2]), c2);
  _mm256_store_si256(reinterpret_cast<__m256i*>(x[3]), c3);
  for (int j = 0; j < 8; ++j) {
    out[2 * j] = uint64_t{x[0][j]} << 32 | x[1][j];
    out[2 * j + 1] = uint64_t{x[2][j]} << 32 | x[3][j];
  }
}

}  // namespace

void philox_bits64_avx2(uint64_t key, uint64_t stream, uint64_t first, int64_t n, uint64_t* bits) {
  int64_t t = 0;
  if (n > 0 && (first & 1)) bits[t++] = philox_bits64(key, stream, first);  // odd start
  const __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
  const __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (; t + 16 <= n; t += 16)
    eight_blocks((first + static_cast<uint64_t>(t)) >> 1, c2, c3, k0, k1, bits + t);
  for (; t < n; ++t) bits[t] = philox_bits64(key, stream, first + static_cast<uint64_t>(t));
}

}  // namespace ydnn
