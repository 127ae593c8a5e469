// The vector loops of sampled_softmax on the CPU, written once and compiled
// per ISA (include last, after YDNN_ISA_NS and the target pragma; see
// embedding_pool_cpu_kernels.h for why). For the same reason no std::
// template is used here: an instantiation made under the target pragma could
// be the copy the linker keeps for every other TU.
//
// The host (sampled_softmax_cpu.cc) walks tiles of candidate columns and,
// inside each, blocks of kRows query rows; these loops do the work of one
// (tile, block) pair. Layouts, with Dp = D rounded up to kDAlign and zero
// padded (the padding adds zeros to every sum):
//   qt    [Dp][kRows]       the block's queries transposed: rows in lanes
//   qr    [kRows][Dp]       the same rows, row-major (dC's operand)
//   tile  [G][Dp][kCols]    G·kCols columns, packed so that the kCols values
//                           of one d are adjacent: one pointer, read in order
//   z, dz [G·kCols][kRows]  logits / their gradients, a column's rows in lanes
//   dqt   [Dp][kRows]       the block's dq, transposed
//   dct   [G·kCols][Dp]     the tile's dC
// Rows in lanes make the online logsumexp and dz plain lane-wise arithmetic.
// These float32 loops also serve compute_dtype bfloat16 where the CPU has
// no bfloat16 dot product: the host hands them operands already rounded to
// bfloat16 (exact products, float32 sums) and asks logits_dz to round dz;
// sampled_softmax_cpu_bf16_kernels.h has the loops that use bf16 dot products.
// Each product is a register-blocked microkernel with 12 (logits, dC) or 8
// (dq) vector accumulators and 5 to 6 loads or broadcasts per 8 FMAs, which
// the load ports (three per cycle on Zen 3, against two FMAs) absorb, so the
// FMA ports set the pace.

namespace ydnn {
namespace softmax_detail {
namespace YDNN_ISA_NS {
namespace {

#if defined(YDNN_ISA_AVX512)
constexpr int kLanes = 16;
#elif defined(YDNN_ISA_AVX2)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
constexpr int kRows = 2 * kLanes;
constexpr int kCols = 6;
constexpr int kDAlign = 2 * kLanes;  // dc's d step
constexpr int kDqRun = 4;            // d values per dq register block (divides kDAlign)

typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t vint __attribute__((vector_size(kLanes * sizeof(int32_t))));
typedef uint32_t vuint __attribute__((vector_size(kLanes * sizeof(uint32_t))));

inline vfloat loadv(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storev(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }
inline vfloat splat(float x) { return vfloat{} + x; }
inline vfloat vmax(vfloat a, vfloat b) { return a > b ? a : b; }

// exp(x) for x <= 0, in 14 vector ops: n = round(x / ln 2) by the
// 1.5 * 2^23 trick (the sum's low mantissa bits are n + 127, so shifting
// them left 23 gives 2^n's bits), r = x - n ln 2 in two FMAs (Cody-Waite),
// and exp(r) on |r| <= ln2/2 by a degree-6 polynomial fitted for relative
// error (9.6e-8 in float32, under 2 ulp). Exactly 0 below -87.33 and for
// -inf, so masked logits get probability exactly 0; NaN propagates.
inline vfloat vexp(vfloat x) {
  constexpr float kShift = 12582912.f + 127.f;
  const vfloat t = x * 1.44269504088896341f + kShift;
  const vfloat n = t - kShift;
  vfloat r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  vfloat p = splat(1.3836644357e-3f);
  p = p * r + 8.3748158067e-3f;
  p = p * r + 4.1668228805e-2f;
  p = p * r + 1.6666419804e-1f;
  p = p * r + 4.9999991059e-1f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  vint bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits <<= 23;
  vfloat scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < splat(-87.33f) ? vfloat{} : p * scale;
}

// x rounded to bfloat16 (to nearest, ties to even) in each lane, as
// float: round_bf16 of common/types.h, NaN kept.
inline vfloat round_bf16v(vfloat x) {
  vuint b;
  std::memcpy(&b, &x, sizeof b);
  b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
  vfloat r;
  std::memcpy(&r, &b, sizeof r);
  return x != x ? x : r;
}

// What the logits loops do with a column's two accumulators (the block's
// rows 0..kLanes-1 and kLanes..kRows-1): z = (q . c - logq) * inv_t; with
// kDz, the backward's dz = g * exp(z - lse) instead, straight from the
// registers (g holds the upstream gradient over T; lse and g are per row),
// 0 from column `cols` on, and rounded to bfloat16 when `round` (the input
// of compute_dtype bfloat16's dq and dC products).
template <bool kDz>
struct Epilogue {
  vfloat l0{}, l1{}, g0{}, g1{};
  float inv_t;
  int64_t cols;
  bool round;

  Epilogue(float inv_t_, const float* lse, const float* g, int64_t cols_, bool round_)
      : inv_t(inv_t_), cols(cols_), round(round_) {
    if (kDz) {
      l0 = loadv(lse), l1 = loadv(lse + kLanes);
      g0 = loadv(g), g1 = loadv(g + kLanes);
    }
  }

  void store(vfloat a0, vfloat a1, int64_t col, float logq, float* z) const {
    vfloat z0 = (a0 - logq) * inv_t, z1 = (a1 - logq) * inv_t;
    if (kDz) {
      const bool live = col < cols;
      z0 = live ? g0 * vexp(z0 - l0) : vfloat{};
      z1 = live ? g1 * vexp(z1 - l1) : vfloat{};
      if (round) z0 = round_bf16v(z0), z1 = round_bf16v(z1);
    }
    storev(z, z0);
    storev(z + kLanes, z1);
  }
};

// z[c] for the G·kCols columns of a tile, through `e` (above).
template <bool kDz>
void logits_impl(const float* qt, const TileView& t, int64_t dp, const Epilogue<kDz>& e, float* z) {
  for (int64_t g_ = 0; g_ < t.groups; ++g_, z += kCols * kRows) {
    const float* p = t.cols + g_ * dp * kCols;
    vfloat a0[kCols] = {}, a1[kCols] = {};
    const float* q = qt;
    for (int64_t d = 0; d < dp; ++d, q += kRows, p += kCols) {
      const vfloat q0 = loadv(q), q1 = loadv(q + kLanes);
#pragma GCC unroll 8
      for (int c = 0; c < kCols; ++c) {
        a0[c] += q0 * p[c];
        a1[c] += q1 * p[c];
      }
    }
    for (int c = 0; c < kCols; ++c)
      e.store(a0[c], a1[c], g_ * kCols + c, t.logq[g_ * kCols + c], z + c * kRows);
  }
}

void logits(const float* qt, const TileView& tile, int64_t dp, float inv_t, float* z) {
  logits_impl<false>(qt, tile, dp, Epilogue<false>(inv_t, nullptr, nullptr, 0, false), z);
}

void logits_dz(const float* qt, const TileView& tile, int64_t dp, float inv_t, const float* lse,
               const float* g, int64_t cols, bool round_dz, float* dz) {
  logits_impl<true>(qt, tile, dp, Epilogue<true>(inv_t, lse, g, cols, round_dz), dz);
}

// Online logsumexp of each lane's row over the first `cols` columns of z:
// (m, s) becomes (max, sum of exp(z - max)) over the old state and z. m is
// never -inf (the host starts it at the row's positive logit), so no
// inf - inf arises.
void lse_update(const float* z, int64_t cols, float* m, float* s) {
  vfloat m0 = loadv(m), m1 = loadv(m + kLanes);
  vfloat t0 = m0, t1 = m1;
  for (int64_t c = 0; c < cols; ++c) {
    t0 = vmax(t0, loadv(z + c * kRows));
    t1 = vmax(t1, loadv(z + c * kRows + kLanes));
  }
  vfloat s0 = loadv(s) * vexp(m0 - t0), s1 = loadv(s + kLanes) * vexp(m1 - t1);
  for (int64_t c = 0; c < cols; ++c) {
    s0 += vexp(loadv(z + c * kRows) - t0);
    s1 += vexp(loadv(z + c * kRows + kLanes) - t1);
  }
  storev(m, t0);
  storev(m + kLanes, t1);
  storev(s, s0);
  storev(s + kLanes, s1);
}

// dqt[d] += sum over the tile's columns c of dz[c] * tile[c][d]: kDqRun
// values of d held in registers (2 · kDqRun accumulators) across all columns.
void dq(const float* dz, const TileView& t, int64_t dp, float* dqt) {
  const float* tile = t.cols;
  const int64_t groups = t.groups;
  for (int64_t d0 = 0; d0 < dp; d0 += kDqRun) {
    vfloat a0[kDqRun], a1[kDqRun];
    for (int i = 0; i < kDqRun; ++i) {
      a0[i] = loadv(dqt + (d0 + i) * kRows);
      a1[i] = loadv(dqt + (d0 + i) * kRows + kLanes);
    }
    for (int64_t g = 0; g < groups; ++g) {
      const float* p = tile + (g * dp + d0) * kCols;
      const float* w = dz + g * kCols * kRows;
#pragma GCC unroll 6
      for (int c = 0; c < kCols; ++c) {
        const vfloat w0 = loadv(w + c * kRows), w1 = loadv(w + c * kRows + kLanes);
#pragma GCC unroll 4
        for (int i = 0; i < kDqRun; ++i) {
          a0[i] += w0 * p[i * kCols + c];
          a1[i] += w1 * p[i * kCols + c];
        }
      }
    }
    for (int i = 0; i < kDqRun; ++i) {
      storev(dqt + (d0 + i) * kRows, a0[i]);
      storev(dqt + (d0 + i) * kRows + kLanes, a1[i]);
    }
  }
}

#if defined(YDNN_ISA_AVX2) || defined(YDNN_ISA_AVX512)
// dst[i][j] = src[j][i] for an 8 x 8 square, in registers: two rounds of
// in-lane interleaves, then 128-bit halves swapped across the pairs.
inline void transpose8(const float* src, int64_t ld_src, float* dst, int64_t ld_dst) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

// qr[r][d] = q[r][d] for the block's first `rows` rows (q row-major, D
// wide), each padded to dp; zero rows past `rows`.
inline void pack_rows(const float* q, int64_t rows, int64_t D, int64_t dp, float* qr) {
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t d = 0; d < dp; ++d) qr[r * dp + d] = r < rows && d < D ? q[r * D + d] : 0.f;
}

// qt[d][r] = q[r][d] for the block's first `rows` rows (q row-major, D
// wide); zero for r >= rows and d >= D. Whole 8 x 8 squares go through
// registers (a scalar transpose cost a third of the forward at S = 100);
// the loop below fills the rest. qr, unless null: pack_rows.
void pack_query(const float* q, int64_t rows, int64_t D, int64_t dp, float* qt, float* qr) {
  if (qr != nullptr) pack_rows(q, rows, D, dp, qr);
  int64_t r8 = 0, d8 = 0;
#if defined(YDNN_ISA_AVX2) || defined(YDNN_ISA_AVX512)
  r8 = rows / 8 * 8;
  d8 = D / 8 * 8;
  for (int64_t r0 = 0; r0 < r8; r0 += 8)
    for (int64_t d0 = 0; d0 < d8; d0 += 8)
      transpose8(q + r0 * D + d0, D, qt + d0 * kRows + r0, kRows);
#endif
  for (int64_t d = 0; d < dp; ++d)
    for (int64_t r = d < d8 ? r8 : 0; r < kRows; ++r)
      qt[d * kRows + r] = r < rows && d < D ? q[r * D + d] : 0.f;
}

// dct[c][d] += sum over the block's rows r of dz[c][r] * qr[r][d]: kCols
// columns by 2 vectors of d in registers, over the kRows rows.
void dc(const float* dz, const float* qr, int64_t groups, int64_t dp, float* dct) {
  for (int64_t g = 0; g < groups; ++g) {
    const float* w = dz + g * kCols * kRows;
    float* out = dct + g * kCols * dp;
    for (int64_t d0 = 0; d0 < dp; d0 += kDAlign) {
      vfloat a0[kCols] = {}, a1[kCols] = {};
      const float* q = qr + d0;
      for (int r = 0; r < kRows; ++r, q += dp) {
        const vfloat q0 = loadv(q), q1 = loadv(q + kLanes);
#pragma GCC unroll 8
        for (int c = 0; c < kCols; ++c) {
          a0[c] += w[c * kRows + r] * q0;
          a1[c] += w[c * kRows + r] * q1;
        }
      }
      for (int c = 0; c < kCols; ++c) {
        float* o = out + c * dp + d0;
        storev(o, loadv(o) + a0[c]);
        storev(o + kLanes, loadv(o + kLanes) + a1[c]);
      }
    }
  }
}

}  // namespace

const SoftmaxCpuKernels& kernels() {
  static const SoftmaxCpuKernels k = {kRows,   kCols,       kDAlign,    &pack_query, nullptr,
                                      &logits, &lse_update, &logits_dz, &dq,         &dc,
                                      nullptr, nullptr,     nullptr};
  return k;
}

}  // namespace YDNN_ISA_NS
}  // namespace softmax_detail
}  // namespace ydnn
