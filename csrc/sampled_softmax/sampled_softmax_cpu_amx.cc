// sampled_softmax's CPU loops for compute_dtype bfloat16 on AMX-BF16 tiles:
// the three products on the tile unit, the rest (logsumexp, dz, packing of
// the query pairs) on the AVX-512 loops of cpu_kernels.h and
// cpu_bf16_kernels.h.
//
// TDPBF16PS C, A, B: C[m][n] += sum_k A[m][k] B[k][n] for a 16 x 32
// bfloat16 A (row m: 32 values of k, 64 bytes), a B of 16 rows of pairs
// (row k/2: for each of 16 n the pair (k, k+1)) and a 16 x 16 float32 C:
// 8,192 exact products summed in float32, one instruction. All eight tile
// registers are configured 16 rows x 64 bytes: 0-3 accumulators, 4-5 A,
// 6-7 B; each loop holds a 2 x 2 block of accumulators (32 x 32 outputs) and
// loads 2 A and 2 B tiles per 4 TDPBF16PS.
//
// Per (row block, column tile), Dp a multiple of 32 and Tp the tile's
// columns rounded up to 32 (zero padded):
//   logits  z [c][r] = C q^T:  A = the tile's rows [Tp][Dp] (prep), B = qt,
//           the block's (d, d+1) pairs [Dp/2][kRows] (pack_query_pairs);
//           the accumulators are stored straight into z's [c][kRows]
//           layout, then the float32 epilogue (logQ, 1/T, or dz) runs in place.
//   dq      dqt [d][r] += C^T dz:  A = the tile transposed [Dp][Tp] (prep),
//           B = dz's (c, c+1) pairs [Tp/2][kRows], made here.
//   dC      dct [c][d] += dz q:  A = dz as bfloat16 [Tp][kRows], made here,
//           B = qr, the block's (r, r+1) pairs [kRows/2][Dp]; K = the 32
//           rows of each of up to 8 blocks staged until dc_flush.
// dz holds bfloat16 values (logits_dz rounded it), so making its pairs
// keeps high halves, exactly. Work at Dp = 64, Tp = 256: 64 TDPBF16PS per
// product (about 16 cycles each, 1,024 cycles) against 16,384 cycles of
// the float32 loop's FMAs: the exp of the logsumexp and of dz then costs
// more than the products.
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include <limits>

#include "sampled_softmax/sampled_softmax_internal.h"

#define YDNN_ISA_NS amx
#define YDNN_ISA_AVX512 1
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2,avx512bf16,amx-tile,amx-bf16")
#include "sampled_softmax/sampled_softmax_cpu_kernels.h"
// after the float32 loops, whose pieces it uses
#include "sampled_softmax/sampled_softmax_cpu_bf16_kernels.h"

namespace ydnn {
namespace softmax_detail {
namespace amx {
namespace {

// Columns per group of the float32 tile (the float32 loops' kCols is 6):
// 16, one tile row, so prep_tile converts whole vectors, and a tile of
// kTileGroups groups is 256 columns, so dq reloads a block's accumulators
// a third as often as with 96.
constexpr int kGroup = 16;
constexpr int64_t kTileCols = kTileGroups * kGroup;  // T: the largest tile

int64_t padded_cols(int64_t groups) { return (groups * kGroup + 31) / 32 * 32; }

struct TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

TileConfig make_config() {
  TileConfig c;
  std::memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int i = 0; i < 8; ++i) c.colsb[i] = 64, c.rows[i] = 16;
  return c;
}

// The configuration is per thread, and other code on the thread (oneDNN
// inside TensorFlow) sets its own between our calls: loaded for each share
// of a call, released after it. From a global: GCC 12 does not see that
// ldtilecfg reads its operand and drops the stores of a local one.
const TileConfig kConfig = make_config();

void enter() { _tile_loadconfig(&kConfig); }

void leave() { _tile_release(); }

// GCC's tile load and store intrinsics are asm that names only the address:
// it may move a plain load or store of that memory across them, or drop a
// store that only they read. A compiler barrier between the two kinds.
inline void memory_barrier() { asm volatile("" ::: "memory"); }

// Accumulator tiles 0-3: a 32 x 32 float block as 2 x 2 tiles of 16 x 16,
// rows `ld` floats apart in memory.
inline void load_acc(const float* o, int64_t ld) {
  _tile_loadd(0, o, 4 * ld);
  _tile_loadd(1, o + 16, 4 * ld);
  _tile_loadd(2, o + 16 * ld, 4 * ld);
  _tile_loadd(3, o + 16 * ld + 16, 4 * ld);
}

inline void store_acc(float* o, int64_t ld) {
  _tile_stored(0, o, 4 * ld);
  _tile_stored(1, o + 16, 4 * ld);
  _tile_stored(2, o + 16 * ld, 4 * ld);
  _tile_stored(3, o + 16 * ld + 16, 4 * ld);
}

// acc += A B over one K step: A's two 16-row bfloat16 slabs (a0, a1, rows
// lda bytes apart) into tiles 4, 5, B's two 16-column pair slabs (b0, b1,
// ldb bytes) into tiles 6, 7, and the four products.
inline void dp_2x2(const void* a0, const void* a1, int64_t lda, const void* b0, const void* b1,
                   int64_t ldb) {
  _tile_loadd(4, a0, lda);
  _tile_loadd(5, a1, lda);
  _tile_loadd(6, b0, ldb);
  _tile_loadd(7, b1, ldb);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// r[j] = column j of the 16 x 16 square r (row i: r[i]): in-lane
// interleaves and shuffles leave, in each 128-bit lane L of r[4 m + k],
// rows 4m..4m+3 of column 4L + k; whole lanes then gather each column.
// (GCC's vector shuffles: its AVX-512 shuffle intrinsics trip
// -Wmaybe-uninitialized in GCC 12.)
inline void transpose16(vfloat r[16]) {
  vfloat t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28,
                                   13, 29);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27,
                                       14, 30, 15, 31);
  }
  for (int i = 0; i < 16; i += 4)
    for (int h = 0; h < 2; ++h) {
      r[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8,
                                             9, 24, 25, 12, 13, 28, 29);
      r[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 18, 19, 6, 7, 22, 23,
                                                 10, 11, 26, 27, 14, 15, 30, 31);
    }
  for (int k = 0; k < 4; ++k) {
    const vfloat ab_lo = __builtin_shufflevector(r[k], r[4 + k], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18,
                                                 19, 20, 21, 22, 23);
    const vfloat ab_hi = __builtin_shufflevector(r[k], r[4 + k], 8, 9, 10, 11, 12, 13, 14, 15, 24,
                                                 25, 26, 27, 28, 29, 30, 31);
    const vfloat cd_lo = __builtin_shufflevector(r[8 + k], r[12 + k], 0, 1, 2, 3, 4, 5, 6, 7, 16,
                                                 17, 18, 19, 20, 21, 22, 23);
    const vfloat cd_hi = __builtin_shufflevector(r[8 + k], r[12 + k], 8, 9, 10, 11, 12, 13, 14, 15,
                                                 24, 25, 26, 27, 28, 29, 30, 31);
    t[k] = __builtin_shufflevector(ab_lo, cd_lo, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25,
                                   26, 27);
    t[4 + k] = __builtin_shufflevector(ab_lo, cd_lo, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28,
                                       29, 30, 31);
    t[8 + k] = __builtin_shufflevector(ab_hi, cd_hi, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24,
                                       25, 26, 27);
    t[12 + k] = __builtin_shufflevector(ab_hi, cd_hi, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23,
                                        28, 29, 30, 31);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

inline void store_bf16(uint16_t* p, vfloat v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), (__m256i)_mm512_cvtneps_pbh((__m512)v));
}

// qt: the (d, d+1) pairs of cpu_bf16_kernels.h; qr[p][d] = (q[2p][d],
// q[2p+1][d]), zero past `rows` and D.
void pack_query_amx(const float* q, int64_t rows, int64_t D, int64_t dp, float* qt, float* qr) {
  pack_query_pairs(q, rows, D, dp, qt);
  if (qr == nullptr) return;
  for (int64_t p = 0; p < kRows / 2; ++p)
    for (int64_t d = 0; d < dp; ++d) {
      const int64_t r = 2 * p;
      const float lo = r < rows && d < D ? q[r * D + d] : 0.f;
      const float hi = r + 1 < rows && d < D ? q[(r + 1) * D + d] : 0.f;
      put32(qr, p * dp + d, bf16_pair(lo, hi));
    }
}

// prep: the tile's rows a [Tp][Dp], then (at T * Dp values) the same
// transposed, ct [Dp][Tp]; columns past the tile's zero. A group's 16
// columns at one d are a row of ct as they stand; 16 such rows, transposed,
// are 16 rows of a.
void prep_tile_amx(const float* cols, int64_t groups, int64_t dp, void* prep) {
  const int64_t tp = padded_cols(groups);
  uint16_t* a = static_cast<uint16_t*>(prep);
  uint16_t* ct = a + kTileCols * dp;
  for (int64_t g = 0; g < tp / kGroup; ++g)
    for (int64_t d0 = 0; d0 < dp; d0 += 16) {
      vfloat v[16];
      for (int i = 0; i < 16; ++i) {
        v[i] = g < groups ? loadv(cols + (g * dp + d0 + i) * kGroup) : vfloat{};
        store_bf16(ct + (d0 + i) * tp + g * kGroup, v[i]);
      }
      transpose16(v);
      for (int c = 0; c < 16; ++c) store_bf16(a + (g * kGroup + c) * dp + d0, v[c]);
    }
}

template <bool kDz>
void logits_amx_impl(const float* qt, const TileView& t, int64_t dp, const Epilogue<kDz>& e,
                     float* z) {
  const int64_t tp = padded_cols(t.groups);
  const char* a = static_cast<const char*>(t.prep);
  const char* q = reinterpret_cast<const char*>(qt);
  for (int64_t m = 0; m < tp / 16; m += 2) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t k = 0; k < dp / 32; ++k)
      dp_2x2(a + 2 * (16 * m * dp + 32 * k), a + 2 * (16 * (m + 1) * dp + 32 * k), 2 * dp,
             q + 4 * 16 * k * kRows, q + 4 * (16 * k * kRows + 16), 4 * kRows);
    store_acc(z + 16 * m * kRows, kRows);
  }
  memory_barrier();
  for (int64_t c = 0; c < t.groups * kGroup; ++c)
    e.store(loadv(z + c * kRows), loadv(z + c * kRows + kLanes), c, t.logq[c], z + c * kRows);
}

void logits_amx(const float* qt, const TileView& tile, int64_t dp, float inv_t, float* z) {
  logits_amx_impl<false>(qt, tile, dp, Epilogue<false>(inv_t, nullptr, nullptr, 0, false), z);
}

void logits_dz_amx(const float* qt, const TileView& tile, int64_t dp, float inv_t, const float* lse,
                   const float* g, int64_t cols, bool round_dz, float* dz) {
  logits_amx_impl<true>(qt, tile, dp, Epilogue<true>(inv_t, lse, g, cols, round_dz), dz);
}

void dq_amx(const float* dz, const TileView& t, int64_t dp, float* dqt) {
  const int64_t tp = padded_cols(t.groups), live = t.groups * kGroup;
  alignas(64) uint32_t pairs[kTileCols / 2 * kRows];  // [tp / 2][kRows]
  for (int64_t c = 0; c < tp; c += 2)
    for (int h = 0; h < kRows; h += kLanes) {
      vuint lo{}, hi{};
      if (c < live) std::memcpy(&lo, dz + c * kRows + h, sizeof lo);
      if (c + 1 < live) std::memcpy(&hi, dz + (c + 1) * kRows + h, sizeof hi);
      const vuint w = (hi & 0xffff0000u) | (lo >> 16);
      std::memcpy(pairs + c / 2 * kRows + h, &w, sizeof w);
    }
  memory_barrier();
  const char* ct = static_cast<const char*>(t.prep) + 2 * kTileCols * dp;
  for (int64_t i = 0; i < dp / 16; i += 2) {
    float* o = dqt + 16 * i * kRows;
    load_acc(o, kRows);
    for (int64_t k = 0; k < tp / 32; ++k)
      dp_2x2(ct + 2 * (16 * i * tp + 32 * k), ct + 2 * (16 * (i + 1) * tp + 32 * k), 2 * tp,
             pairs + 16 * k * kRows, pairs + 16 * k * kRows + 16, 4 * kRows);
    store_acc(o, kRows);
  }
}

// dC's K is a block's 32 rows: one TDPBF16PS per accumulator tile between
// its load and its store, so dc_amx only stages each block's dz (as
// bfloat16 rows) and its qr, and dc_flush runs the products of up to
// kStage blocks at a time, each accumulator loaded and stored once for all
// of them. Staged per thread; the host flushes at the end of each tile.
constexpr int kStage = 8;
struct DcStage {
  alignas(64) uint16_t rows[kStage][kTileCols * kRows];  // [tp][kRows] per block
  const char* qr[kStage];
  int64_t groups;
  int n;
};
thread_local DcStage stage;

void dc_flush(int64_t dp, float* dct) {
  const int64_t tp = padded_cols(stage.groups), n = stage.n;
  stage.n = 0;
  if (n == 0) return;
  memory_barrier();
  for (int64_t j = 0; j < dp / 16; j += 2)
    for (int64_t m = 0; m < tp / 16; m += 2) {
      float* o = dct + 16 * m * dp + 16 * j;
      load_acc(o, dp);
      for (int64_t b = 0; b < n; ++b)
        dp_2x2(stage.rows[b] + 16 * m * kRows, stage.rows[b] + 16 * (m + 1) * kRows, 2 * kRows,
               stage.qr[b] + 4 * 16 * j, stage.qr[b] + 4 * 16 * (j + 1), 4 * dp);
      store_acc(o, dp);
    }
}

void dc_amx(const float* dz, const float* qr, int64_t groups, int64_t dp, float* dct) {
  if (stage.n == kStage) dc_flush(dp, dct);
  const int64_t tp = padded_cols(groups), live = groups * kGroup;
  uint16_t* rows = stage.rows[stage.n];
  for (int64_t c = 0; c < tp; ++c) {
    const __m512 lo = c < live ? _mm512_loadu_ps(dz + c * kRows) : _mm512_setzero_ps();
    const __m512 hi = c < live ? _mm512_loadu_ps(dz + c * kRows + kLanes) : _mm512_setzero_ps();
    _mm512_storeu_si512(rows + c * kRows, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  stage.qr[stage.n++] = reinterpret_cast<const char*>(qr);
  stage.groups = groups;
}

}  // namespace

const SoftmaxCpuKernels& amx_kernels() {
  static const SoftmaxCpuKernels k = {
      kRows,          kGroup,  kDAlign, &pack_query_amx, &prep_tile_amx, &logits_amx, &lse_update,
      &logits_dz_amx, &dq_amx, &dc_amx, &dc_flush,       &enter,         &leave};
  return k;
}

}  // namespace amx

const SoftmaxCpuKernels& softmax_kernels_amx() { return amx::amx_kernels(); }

}  // namespace softmax_detail
}  // namespace ydnn
