// The vector loops of topk_scores on the CPU, written once and compiled per
// ISA (include last, after YDNN_ISA_NS and the target pragma; see
// embedding_pool_cpu_kernels.h for why no std:: template is used here).
//
// scan<NV, NC>: scores of `groups` groups of NC candidate rows against a
// block of NV * kLanes query rows (layouts in topk_scores_internal.h), one
// register block of NV x NC vector accumulators per group: per d, NV loads
// of qt and NC broadcasts of cand[c][d] feed NV * NC FMAs. (NV, NC) = (2, 6)
// for batches: 12 accumulators, 8 loads per 12 FMAs, so the two FMA ports
// set the pace; (1, 12) for one query (B <= lanes), where the table read is
// what costs and fewer lanes are wasted on padding rows.
// Each group's scores go to z and are compared with the rows' thresholds
// in registers; a group with no score above its row's threshold is done
// (almost all of them once the rows' top k have filled), the host walks the
// listed ones.

namespace ydnn {
namespace topk_detail {
namespace YDNN_ISA_NS {
namespace {

#if defined(YDNN_ISA_AVX512)
constexpr int kLanes = 16;
#elif defined(YDNN_ISA_AVX2)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif

typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t vint __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline vfloat loadv(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storev(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }

// Bit i set when lane i of m is set (m lanes are 0 or -1).
inline uint32_t lane_bits(vint m) {
#if defined(YDNN_ISA_AVX512)
  __m512i x;
  std::memcpy(&x, &m, sizeof x);
  return _mm512_movepi32_mask(x);
#elif defined(YDNN_ISA_AVX2)
  __m256 x;
  std::memcpy(&x, &m, sizeof x);
  return static_cast<uint32_t>(_mm256_movemask_ps(x));
#else
  int32_t lanes[kLanes];
  std::memcpy(lanes, &m, sizeof lanes);
  uint32_t bits = 0;
  for (int i = 0; i < kLanes; ++i) bits |= (lanes[i] != 0 ? 1u : 0u) << i;
  return bits;
#endif
}

template <int NV, int NC>
int64_t scan_impl(const float* qt, const float* cand, int64_t groups, int64_t D, const float* thr,
                  int32_t* hits, float* z, uint32_t* rows_above) {
  constexpr int kRows = NV * kLanes;
  vfloat t[NV];
  for (int v = 0; v < NV; ++v) t[v] = loadv(thr + v * kLanes);
  int64_t n_hits = 0;
  for (int64_t g = 0; g < groups; ++g, cand += NC * D) {
    vfloat acc[NV][NC] = {};
    const float* q = qt;
    for (int64_t d = 0; d < D; ++d, q += kRows) {
      vfloat qv[NV];
      for (int v = 0; v < NV; ++v) qv[v] = loadv(q + v * kLanes);
#pragma GCC unroll 12
      for (int c = 0; c < NC; ++c) {
        const float x = cand[c * D + d];
        for (int v = 0; v < NV; ++v) acc[v][c] += qv[v] * x;
      }
    }
    vint above = {};
    for (int c = 0; c < NC; ++c)
      for (int v = 0; v < NV; ++v) above |= acc[v][c] > t[v];
    if (lane_bits(above) == 0) continue;
    // A listed group: its scores and, per candidate, the rows it beats.
    hits[n_hits++] = static_cast<int32_t>(g);
    for (int c = 0; c < NC; ++c) {
      uint32_t bits = 0;
      for (int v = 0; v < NV; ++v) {
        bits |= lane_bits(acc[v][c] > t[v]) << (v * kLanes);
        storev(z + c * kRows + v * kLanes, acc[v][c]);
      }
      rows_above[c] = bits;
    }
    z += NC * kRows;
    rows_above += NC;
  }
  return n_hits;
}

int64_t scan1(const float* qt, const float* cand, int64_t groups, int64_t D, const float* thr,
              int32_t* hits, float* z, uint32_t* rows_above) {
  return scan_impl<1, 12>(qt, cand, groups, D, thr, hits, z, rows_above);
}

int64_t scan2(const float* qt, const float* cand, int64_t groups, int64_t D, const float* thr,
              int32_t* hits, float* z, uint32_t* rows_above) {
  return scan_impl<2, 6>(qt, cand, groups, D, thr, hits, z, rows_above);
}

// kLanes candidates' dot products with q, vectorised along d: row c's
// lanes are loaded whole (and widened in the register when 16-bit).
inline vfloat row_chunk(const float* p) { return loadv(p); }
inline vfloat row_chunk(const f16* p) {
#if defined(YDNN_ISA_AVX512)
  const __m512 f = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
#elif defined(YDNN_ISA_AVX2)
  const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
  float f[kLanes];
  for (int i = 0; i < kLanes; ++i) f[i] = to_float(p[i]);
#endif
  vfloat v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}
inline vfloat row_chunk(const bf16* p) {
#if defined(YDNN_ISA_AVX512)
  const __m512i u = _mm512_slli_epi32(
      _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16);
#elif defined(YDNN_ISA_AVX2)
  const __m256i u = _mm256_slli_epi32(
      _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16);
#else
  uint32_t u[kLanes];
  for (int i = 0; i < kLanes; ++i) u[i] = uint32_t(reinterpret_cast<const uint16_t*>(p)[i]) << 16;
#endif
  vfloat v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// out[c] = sum of the lanes of a[c]: a transpose-and-add tree, log2(kLanes)
// rounds in which lane j adds lane j ^ h of the vector its bit h selects.
// Inlined and unrolled, so the accumulators stay in registers and the
// shuffle masks are constants.
__attribute__((always_inline)) inline vfloat lane_sums(vfloat (&a)[kLanes]) {
#pragma GCC unroll 4
  for (int h = 1, n = kLanes; h < kLanes; h *= 2, n /= 2) {
    vint lo, hi;
#pragma GCC unroll 16
    for (int j = 0; j < kLanes; ++j) {
      lo[j] = (j & h) ? kLanes + j : j;
      hi[j] = (j & h) ? kLanes + (j ^ h) : (j ^ h);
    }
#pragma GCC unroll 8
    for (int i = 0; i < n / 2; ++i)
      a[i] = __builtin_shuffle(a[2 * i], a[2 * i + 1], lo) +
             __builtin_shuffle(a[2 * i], a[2 * i + 1], hi);
  }
  return a[0];
}

// One query row q [D] (D a multiple of kLanes) against groups of kLanes
// rows of cand: per row D / kLanes loads and FMAs and a share of the sum
// tree, against the D broadcasts of scan1: the path of one query, where the
// table read sets the pace. Listed groups as in scan_impl (rows_above bit
// c: candidate c beats thr).
template <typename T>
int64_t dot_impl(const float* q, const T* cand, int64_t groups, int64_t D, float thr, int32_t* hits,
                 float* z, uint32_t* rows_above) {
  int64_t n_hits = 0;
  const vfloat t = vfloat{} + thr;
  for (int64_t g = 0; g < groups; ++g, cand += kLanes * D) {
    vfloat acc[kLanes] = {};
    for (int64_t d = 0; d < D; d += kLanes) {
      const vfloat qv = loadv(q + d);
#pragma GCC unroll 16
      for (int c = 0; c < kLanes; ++c) acc[c] += qv * row_chunk(cand + c * D + d);
    }
    const vfloat s = lane_sums(acc);
    const uint32_t bits = lane_bits(s > t);
    if (bits == 0) continue;
    hits[n_hits] = static_cast<int32_t>(g);
    storev(z + n_hits * kLanes, s);
    rows_above[n_hits++] = bits;
  }
  return n_hits;
}

int64_t dot(const float* q, const void* cand, DType dtype, int64_t groups, int64_t D, float thr,
            int32_t* hits, float* z, uint32_t* rows_above) {
  switch (dtype) {
    case DType::kFloat16:
      return dot_impl(q, static_cast<const f16*>(cand), groups, D, thr, hits, z, rows_above);
    case DType::kBFloat16:
      return dot_impl(q, static_cast<const bf16*>(cand), groups, D, thr, hits, z, rows_above);
    default:
      break;
  }
  return dot_impl(q, static_cast<const float*>(cand), groups, D, thr, hits, z, rows_above);
}

#include "common/half_rows.h"

const TopkCpuKernels& kernels() {
  static const TopkCpuKernels k = {kLanes, 12, 6, scan1, scan2, dot, widen_row};
  return k;
}

}  // namespace
}  // namespace YDNN_ISA_NS
}  // namespace topk_detail
}  // namespace ydnn
