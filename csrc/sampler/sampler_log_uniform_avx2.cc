// Log-uniform draws and expected counts on AVX2, four doubles per vector.
//
// Draws: id = min_id + clamp(floor(exp_pos(u log(R + 1))) - 1, 0, R - 1),
// u = (bits >> 11) 2^-53, with exp_pos's reduction and polynomial
// (sampler_math.h) written with the same fmas in the same order, so every
// id equals the scalar path's (and the GPU's) bit for bit.
// Expected counts: P = log_ratio(j) / log(R + 1) by the atanh series, then
// P S, or -expm1_neg(T log1m(P)) for unique sampling, as in sampler_math.h
// (float64, a few ulps; the results are float32).
//
// Why: scalar, the draws spend half their time in libm's exp and the
// expected counts ~20 ns per id in divisions and dependent polynomials; four
// lanes at a time cut both several-fold (a 1e6-id range, S = 8192 unique:
// ~15k draws and 9k counts per call, bench/sampler_bench.py).
// Bytes: 8 B of bits in and 8 B of id out per draw; 8 B in, 4 B out per count.
//
// Limits: int64 <-> double conversions use the 2^52 trick (exact for
// 0 <= v < 2^52), so callers use these paths only for R < 2^52, and lanes
// the polynomials do not cover (ids out of range, the 16 head ids, P > 1/16)
// are recomputed by the scalar functions.
#include <immintrin.h>

#include "sampler/sampler.h"

#pragma GCC target("avx2,fma")

namespace ydnn {
namespace {

constexpr double kPow2Table[8] = {pow2_eighths(0), pow2_eighths(1), pow2_eighths(2),
                                  pow2_eighths(3), pow2_eighths(4), pow2_eighths(5),
                                  pow2_eighths(6), pow2_eighths(7)};
constexpr double kTwo52 = 4503599627370496.0;  // 2^52

// 0 <= v < 2^52, exact both ways.
inline __m256i to_int64(__m256d v) {
  const __m256d two52 = _mm256_set1_pd(kTwo52);
  return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(v, two52)), _mm256_castpd_si256(two52));
}
inline __m256d to_double(__m256i v) {
  const __m256d two52 = _mm256_set1_pd(kTwo52);
  return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(v, _mm256_castpd_si256(two52))), two52);
}

// 2^(k >> 3) 2^((k & 7) / 8) for integer-valued k in [-2^31, 2^31).
inline __m256d scale_of(__m256d k) {
  const __m128i ki = _mm256_cvtpd_epi32(k);
  const __m256i m = _mm256_cvtepi32_epi64(_mm_srai_epi32(ki, 3));
  const __m256d pow2m =
      _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(m, _mm256_set1_epi64x(1023)), 52));
  const __m256d frac = _mm256_mask_i32gather_pd(  // masked form: no uninitialised source
      _mm256_setzero_pd(), kPow2Table, _mm_and_si128(ki, _mm_set1_epi32(7)),
      _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8);
  return _mm256_mul_pd(pow2m, frac);
}

// Horner over coeffs[0..n): ((c0 x + c1) x + c2) ... + c(n-1).
inline __m256d horner(const double* coeffs, int n, __m256d x) {
  __m256d s = _mm256_set1_pd(coeffs[0]);
  for (int i = 1; i < n; ++i) s = _mm256_fmadd_pd(s, x, _mm256_set1_pd(coeffs[i]));
  return s;
}

// k = rint(x 8 / ln2) and r = x - k ln2 / 8 (Cody-Waite, fma as exp_pos).
inline __m256d reduce(__m256d x, __m256d* r) {
  const __m256d k = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(kEightOverLn2)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  *r = _mm256_fnmadd_pd(k, _mm256_set1_pd(kLn2Over8Lo),
                        _mm256_fnmadd_pd(k, _mm256_set1_pd(kLn2Over8Hi), x));
  return k;
}

// exp_pos, lane-wise, the scalar function's operations exactly.
inline __m256d exp_pos4(__m256d x) {
  __m256d r;
  const __m256d k = reduce(x, &r);
  return _mm256_mul_pd(scale_of(k), horner(kExpCoeffs, 9, r));
}

// expm1_neg for x <= 0 (x < -40 gives -1, as the scalar function).
inline __m256d expm1_neg4(__m256d x) {
  __m256d r;
  const __m256d k = reduce(_mm256_max_pd(x, _mm256_set1_pd(-40.0)), &r);  // 2^m stays normal
  const __m256d e = _mm256_fmadd_pd(_mm256_mul_pd(horner(kExpCoeffs, 7, r), r), r, r);
  const __m256d s = scale_of(k);
  const __m256d out = _mm256_fmadd_pd(s, e, _mm256_sub_pd(s, _mm256_set1_pd(1.0)));
  return _mm256_blendv_pd(out, _mm256_set1_pd(-1.0),
                          _mm256_cmp_pd(x, _mm256_set1_pd(-40.0), _CMP_LT_OQ));
}

}  // namespace

int64_t log_uniform_ids_avx2(const LogUniformArgs& a, double log_range, const uint64_t* bits,
                             int64_t n, int64_t* out) {
  const __m256d scale53 = _mm256_set1_pd(1.0 / 9007199254740992.0);
  const __m256d lr = _mm256_set1_pd(log_range), two32 = _mm256_set1_pd(4294967296.0);
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFF);
  const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
  const __m256i last = _mm256_set1_epi64x(a.range() - 1), base = _mm256_set1_epi64x(a.min_id);
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const __m256i b =
        _mm256_srli_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + t)), 11);
    // b < 2^53: converted in two exact halves (b >> 32 and its low 32 bits).
    const __m256d d = _mm256_fmadd_pd(to_double(_mm256_srli_epi64(b, 32)), two32,
                                      to_double(_mm256_and_si256(b, low32)));
    const __m256d u = _mm256_mul_pd(d, scale53);
    const __m256d e = exp_pos4(_mm256_mul_pd(u, lr));
    __m256i j = _mm256_sub_epi64(to_int64(_mm256_floor_pd(e)), one);
    j = _mm256_blendv_epi8(j, zero, _mm256_cmpgt_epi64(zero, j));
    j = _mm256_blendv_epi8(j, last, _mm256_cmpgt_epi64(j, last));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + t), _mm256_add_epi64(j, base));
  }
  return t;
}

int64_t log_uniform_expected_count_avx2(const LogUniformArgs& a, double inv_log_range,
                                        const int64_t* ids, int64_t n, int64_t num_tries,
                                        float* out) {
  const bool scaled = num_tries == a.num_sampled;
  // The 16 head ids (j < 16) take log_ratio's log1p branch: a table of it,
  // built once per call and gathered per lane. They are a fifth of the
  // draws over a range of 10^6, and sent to the scalar function one lane at
  // a time they had cost more than all the rest of the counts.
  alignas(32) double head[16];
  log_uniform_head_probabilities(inv_log_range, head);
  const __m256i lo = _mm256_set1_epi64x(a.min_id - 1), hi = _mm256_set1_epi64x(a.max_id);
  const __m256i base = _mm256_set1_epi64x(a.min_id), sixteen = _mm256_set1_epi64x(16);
  const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const __m256i id = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ids + t));
    // Lanes outside [min_id, max_id] go to the scalar function below.
    const __m256i off = _mm256_or_si256(_mm256_cmpgt_epi64(lo, id), _mm256_cmpgt_epi64(id, hi));
    const __m256i jid = _mm256_sub_epi64(id, base);
    const __m256i is_head = _mm256_andnot_si256(off, _mm256_cmpgt_epi64(sixteen, jid));
    const __m256i series =
        _mm256_andnot_si256(_mm256_or_si256(off, is_head), _mm256_set1_epi64x(-1));
    const __m256d j = to_double(_mm256_blendv_epi8(sixteen, jid, series));
    const __m256d z = _mm256_div_pd(one, _mm256_fmadd_pd(two, j, _mm256_set1_pd(3.0)));
    const __m256d p_series = _mm256_mul_pd(
        _mm256_mul_pd(_mm256_mul_pd(two, z), horner(kAtanhCoeffs, 6, _mm256_mul_pd(z, z))),
        _mm256_set1_pd(inv_log_range));
    const __m256d p = _mm256_mask_i64gather_pd(p_series, head, _mm256_and_si256(jid, is_head),
                                               _mm256_castsi256_pd(is_head), 8);
    __m256d count;
    int special = _mm256_movemask_pd(_mm256_castsi256_pd(off));
    if (scaled) {
      count = _mm256_mul_pd(p, _mm256_set1_pd(static_cast<double>(a.num_sampled)));
    } else {
      special |= _mm256_movemask_pd(_mm256_cmp_pd(p, _mm256_set1_pd(0.0625), _CMP_GT_OQ));
      const __m256d w = _mm256_div_pd(p, _mm256_sub_pd(two, p));
      const __m256d log1m = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), w),
                                          horner(kAtanhCoeffs, 6, _mm256_mul_pd(w, w)));
      count = _mm256_sub_pd(
          _mm256_setzero_pd(),
          expm1_neg4(_mm256_mul_pd(_mm256_set1_pd(static_cast<double>(num_tries)), log1m)));
    }
    _mm_storeu_ps(out + t, _mm256_cvtpd_ps(count));
    expected_count_lanes(a, inv_log_range, ids + t, num_tries, special, out + t);
  }
  return t;
}

}  // namespace ydnn
