// Log-uniform draws and expected counts on AVX-512, eight doubles per vector.
//
// Draws, fused: Philox4x32-10 for sixteen blocks at once (one 32-bit word of
// each block per lane, structure of arrays), then the id of each block's two
// draws straight from the words, without packing the 64-bit bits:
//   bits >> 11 = hi * 2^21 + (lo >> 11)  (words 0-1 for draw 2j, 2-3 for 2j+1)
// is exact in a double (< 2^53), so u = that * 2^-53 is unit_double(bits)
// to the bit, and the id follows exp_pos's operations in the same order
// (sampler_math.h): every id equals the scalar path's and the GPU's.
// Expected counts: the AVX2 path's maths (sampler_log_uniform_avx2.cc) on
// eight lanes; table lookups (the 16 head ids, 2^(i/8)) are register
// permutes instead of gathers.
//
// Why: on the AVX2 path a draw costs ~4 ns, half of it Philox's even/odd
// blends and the scalar repacking of its words into 64-bit bits; unique
// expected counts ~5 ns per id, mostly the gathers. Mask registers, 64-bit
// conversions (AVX512DQ) and permutes remove that work.
// Bytes: 8 B of id out per draw; 8 B in, 4 B out per count.
//
// Limits: as the AVX2 path, R < 2^51 (exact int64 <-> double); lanes the
// polynomials do not cover (ids out of range, P > 1/16) are recomputed by
// the scalar functions.
#include <immintrin.h>

#include "sampler/sampler.h"

// GCC 12 warns inside its own headers' _mm512_undefined_*: a known false
// positive of the header, not of this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")

namespace ydnn {
namespace {

inline __m512d horner(const double* coeffs, int n, __m512d x) {
  __m512d s = _mm512_set1_pd(coeffs[0]);
  for (int i = 1; i < n; ++i) s = _mm512_fmadd_pd(s, x, _mm512_set1_pd(coeffs[i]));
  return s;
}

// 2^(k >> 3) 2^((k & 7) / 8) for integer-valued k (|k| < 2^31): the eighths
// from a register by permute (it reads the low 3 bits of each index).
inline __m512d scale_of(__m512d k) {
  const __m512d eighths =
      _mm512_setr_pd(pow2_eighths(0), pow2_eighths(1), pow2_eighths(2), pow2_eighths(3),
                     pow2_eighths(4), pow2_eighths(5), pow2_eighths(6), pow2_eighths(7));
  const __m512i ki = _mm512_cvtpd_epi64(k);
  const __m512d pow2m = _mm512_castsi512_pd(
      _mm512_slli_epi64(_mm512_add_epi64(_mm512_srai_epi64(ki, 3), _mm512_set1_epi64(1023)), 52));
  return _mm512_mul_pd(pow2m, _mm512_permutexvar_pd(ki, eighths));
}

// k = rint(x 8 / ln2), r = x - k ln2 / 8 (Cody-Waite, fma as exp_pos).
inline __m512d reduce(__m512d x, __m512d* r) {
  const __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(kEightOverLn2)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  *r = _mm512_fnmadd_pd(k, _mm512_set1_pd(kLn2Over8Lo),
                        _mm512_fnmadd_pd(k, _mm512_set1_pd(kLn2Over8Hi), x));
  return k;
}

inline __m512d exp_pos8(__m512d x) {
  __m512d r;
  const __m512d k = reduce(x, &r);
  return _mm512_mul_pd(scale_of(k), horner(kExpCoeffs, 9, r));
}

inline __m512d expm1_neg8(__m512d x) {
  const __m512d floor = _mm512_set1_pd(-40.0);
  __m512d r;
  const __m512d k = reduce(_mm512_max_pd(x, floor), &r);  // 2^m stays normal
  const __m512d e = _mm512_fmadd_pd(_mm512_mul_pd(horner(kExpCoeffs, 7, r), r), r, r);
  const __m512d s = scale_of(k);
  const __m512d out = _mm512_fmadd_pd(s, e, _mm512_sub_pd(s, _mm512_set1_pd(1.0)));
  return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, floor, _CMP_LT_OQ), out, _mm512_set1_pd(-1.0));
}

// Philox's 32 x 32 -> 64-bit products, sixteen lanes: even lanes from one
// _mm512_mul_epu32, odd lanes (shifted down) from another, merged by mask.
struct Lanes {
  __m512i lo, hi;
};
inline Lanes mulhilo(__m512i a, __m512i m) {
  const __m512i even = _mm512_mul_epu32(a, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  return {_mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32)),
          _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd)};
}

// The drawn ids of eight draws whose top and bottom 32 random bits are the
// uint32 lanes of hi and lo: min_id + clamp(floor(exp_pos(u lr)) - 1, 0, R - 1).
struct IdMap {
  __m512d lr, two21, scale53;
  __m512i one, zero, last, base;
};
inline __m512i ids_of(const IdMap& m, __m256i hi, __m256i lo) {
  const __m512d d = _mm512_fmadd_pd(_mm512_cvtepu32_pd(hi), m.two21,
                                    _mm512_cvtepu32_pd(_mm256_srli_epi32(lo, 11)));
  const __m512d e = exp_pos8(_mm512_mul_pd(_mm512_mul_pd(d, m.scale53), m.lr));
  __m512i j = _mm512_sub_epi64(_mm512_cvttpd_epi64(e), m.one);  // e >= 1: truncation = floor
  j = _mm512_min_epi64(_mm512_max_epi64(j, m.zero), m.last);
  return _mm512_add_epi64(j, m.base);
}

// Draws [2 block, 2 block + 32) into out[0, 32).
inline void thirty_two_draws(const IdMap& m, uint64_t block, __m512i c2, __m512i c3, uint32_t key0,
                             uint32_t key1, int64_t* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i b_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(block)));
  __m512i c0 = _mm512_add_epi32(b_lo, lane);
  // The high counter word carries where the low word wraps inside the sixteen.
  __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(block >> 32)));
  c1 = _mm512_mask_add_epi32(c1, _mm512_cmplt_epu32_mask(c0, b_lo), c1, _mm512_set1_epi32(1));
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  uint32_t k0 = key0, k1 = key1;
  for (int round = 0; round < 10; ++round) {
    const Lanes p0 = mulhilo(c0, m0), p1 = mulhilo(c2, m1);
    // (a ^ b ^ k) in one instruction: truth table 0x96 is a three-way xor.
    const __m512i n0 =
        _mm512_ternarylogic_epi32(p1.hi, c1, _mm512_set1_epi32(static_cast<int>(k0)), 0x96);
    const __m512i n2 =
        _mm512_ternarylogic_epi32(p0.hi, c3, _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
    c0 = n0, c1 = p1.lo, c2 = n2, c3 = p0.lo;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Block j gives draw 2j (words 0, 1) and 2j + 1 (words 2, 3): ids of the
  // even and odd draws of blocks 0-7 and 8-15, then interleaved in order.
  const __m512i first4 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i last4 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  for (int half = 0; half < 2; ++half) {
    const __m512i even =
        half ? ids_of(m, _mm512_extracti64x4_epi64(c0, 1), _mm512_extracti64x4_epi64(c1, 1))
             : ids_of(m, _mm512_castsi512_si256(c0), _mm512_castsi512_si256(c1));
    const __m512i odd =
        half ? ids_of(m, _mm512_extracti64x4_epi64(c2, 1), _mm512_extracti64x4_epi64(c3, 1))
             : ids_of(m, _mm512_castsi512_si256(c2), _mm512_castsi512_si256(c3));
    _mm512_storeu_si512(out + 16 * half, _mm512_permutex2var_epi64(even, first4, odd));
    _mm512_storeu_si512(out + 16 * half + 8, _mm512_permutex2var_epi64(even, last4, odd));
  }
}

}  // namespace

void log_uniform_draws_avx512(const LogUniformArgs& a, double log_range, uint64_t first, int64_t n,
                              int64_t* out) {
  const IdMap m{_mm512_set1_pd(log_range),
                _mm512_set1_pd(2097152.0),                 // 2^21
                _mm512_set1_pd(1.0 / 9007199254740992.0),  // 2^-53
                _mm512_set1_epi64(1),
                _mm512_setzero_si512(),
                _mm512_set1_epi64(a.range() - 1),
                _mm512_set1_epi64(a.min_id)};
  const __m512i c2 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(a.stream)));
  const __m512i c3 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(a.stream >> 32)));
  const uint32_t k0 = static_cast<uint32_t>(a.key), k1 = static_cast<uint32_t>(a.key >> 32);
  int64_t t = 0;
  // Draw i of the stream is a.counter + i; an odd one starts a block's second half.
  if (n > 0 && ((a.counter + first) & 1)) out[t] = log_uniform_draw(a, log_range, first), ++t;
  for (; t + 32 <= n; t += 32)
    thirty_two_draws(m, (a.counter + first + static_cast<uint64_t>(t)) >> 1, c2, c3, k0, k1,
                     out + t);
  for (; t < n; ++t) out[t] = log_uniform_draw(a, log_range, first + static_cast<uint64_t>(t));
}

int64_t log_uniform_expected_count_avx512(const LogUniformArgs& a, double inv_log_range,
                                          const int64_t* ids, int64_t n, int64_t num_tries,
                                          float* out) {
  const bool scaled = num_tries == a.num_sampled;
  // P of the 16 head ids (log_ratio's log1p branch), in two registers.
  alignas(64) double head[16];
  log_uniform_head_probabilities(inv_log_range, head);
  const __m512d head_lo = _mm512_load_pd(head), head_hi = _mm512_load_pd(head + 8);
  const __m512i min_id = _mm512_set1_epi64(a.min_id), max_id = _mm512_set1_epi64(a.max_id);
  const __m512i sixteen = _mm512_set1_epi64(16);
  const __m512d one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0);
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    const __m512i id = _mm512_loadu_si512(ids + t);
    // Lanes outside [min_id, max_id] go to the scalar function below.
    const __mmask8 off = _mm512_cmplt_epi64_mask(id, min_id) | _mm512_cmpgt_epi64_mask(id, max_id);
    const __m512i jid = _mm512_sub_epi64(id, min_id);
    const __mmask8 is_head = _mm512_cmplt_epi64_mask(jid, sixteen) & static_cast<__mmask8>(~off);
    const __m512d j = _mm512_cvtepi64_pd(_mm512_mask_blend_epi64(is_head | off, jid, sixteen));
    const __m512d z = _mm512_div_pd(one, _mm512_fmadd_pd(two, j, _mm512_set1_pd(3.0)));
    const __m512d p_series = _mm512_mul_pd(
        _mm512_mul_pd(_mm512_mul_pd(two, z), horner(kAtanhCoeffs, 6, _mm512_mul_pd(z, z))),
        _mm512_set1_pd(inv_log_range));
    const __m512d p =
        _mm512_mask_blend_pd(is_head, p_series, _mm512_permutex2var_pd(head_lo, jid, head_hi));
    __m512d count;
    __mmask8 special = off;
    if (scaled) {
      count = _mm512_mul_pd(p, _mm512_set1_pd(static_cast<double>(a.num_sampled)));
    } else {
      special |= _mm512_cmp_pd_mask(p, _mm512_set1_pd(0.0625), _CMP_GT_OQ);
      const __m512d w = _mm512_div_pd(p, _mm512_sub_pd(two, p));
      const __m512d log1m = _mm512_mul_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), w),
                                          horner(kAtanhCoeffs, 6, _mm512_mul_pd(w, w)));
      count = _mm512_sub_pd(
          _mm512_setzero_pd(),
          expm1_neg8(_mm512_mul_pd(_mm512_set1_pd(static_cast<double>(num_tries)), log1m)));
    }
    _mm256_storeu_ps(out + t, _mm512_cvtpd_ps(count));
    expected_count_lanes(a, inv_log_range, ids + t, num_tries, special, out + t);
  }
  return t;
}

}  // namespace ydnn
