// The bfloat16 dot-product loops of sampled_softmax (compute_dtype
// bfloat16), for CPUs with AVX512_BF16. Included after
// sampled_softmax_cpu_kernels.h, whose AVX-512 loops it reuses, in a
// translation unit compiled with avx512bf16 (sampled_softmax_cpu_avx512_bf16.cc);
// the AMX unit (sampled_softmax_cpu_amx.cc) reuses the packing helpers.
//
// vdpbf16ps acc, a, b adds a[2i] b[2i] + a[2i+1] b[2i+1] to float32 lane i:
// the products of a pair of bfloat16 values along the sum's index, exact,
// summed in float32. For the logits the pairs run along d, so
//   qt    [Dp/2][kRows] pairs   the block's rows in lanes, (d, d+1) in each
//   prep  [G][Dp/2][kCols] pairs  each column's (d, d+1) adjacent: one
//                                 32-bit broadcast per column and pair
// (Dp is a multiple of 32, so d pairs never straddle the padding). The
// host rounded every value to bfloat16 already, so packing keeps the high
// 16 bits of each float, exactly. dq and dC stay on the float32 loops:
// their inputs (the rounded tile, the rounded rows qr, dz rounded by
// logits_dz) are bfloat16 values, whose float32 FMAs are the exact products
// vdpbf16ps would form, at the float32 FMA's rate. Work of the logits:
// kRows kCols Dp / 2 vdpbf16ps per group (half the instructions of the
// float32 loop; whether that is faster depends on the CPU: on the Xeon of
// bench/RESULTS.md one vdpbf16ps issues every 2 cycles against two FMAs per
// cycle, so this path is the slower there and AMX the one that pays).

namespace ydnn {
namespace softmax_detail {
namespace YDNN_ISA_NS {
namespace {

// (lo, hi) as the 32-bit word of a bfloat16 pair: lo in the low half, as
// the dot instructions read it. Both already hold bfloat16 values.
inline uint32_t bf16_pair(float lo, float hi) {
  uint32_t a, b;
  std::memcpy(&a, &lo, 4);
  std::memcpy(&b, &hi, 4);
  return (b & 0xffff0000u) | (a >> 16);
}

inline void put32(void* base, int64_t i, uint32_t v) {
  std::memcpy(static_cast<char*>(base) + 4 * i, &v, 4);
}

// qt[p][r] = (q[r][2p], q[r][2p+1]) for the block's first `rows` rows;
// zero pairs past them and past D.
inline void pack_query_pairs(const float* q, int64_t rows, int64_t D, int64_t dp, void* qt) {
  for (int64_t p = 0; p < dp / 2; ++p)
    for (int64_t r = 0; r < kRows; ++r) {
      const int64_t d = 2 * p;
      const float lo = r < rows && d < D ? q[r * D + d] : 0.f;
      const float hi = r < rows && d + 1 < D ? q[r * D + d + 1] : 0.f;
      put32(qt, p * kRows + r, bf16_pair(lo, hi));
    }
}

// qt as above; qr (dC's operand, float32) as the float32 loops pack it.
void pack_query_bf16(const float* q, int64_t rows, int64_t D, int64_t dp, float* qt, float* qr) {
  pack_query_pairs(q, rows, D, dp, qt);
  if (qr != nullptr) pack_rows(q, rows, D, dp, qr);
}

// prep[g][p][c] = (tile[g][2p][c], tile[g][2p+1][c]).
void prep_tile_pairs(const float* cols, int64_t groups, int64_t dp, void* prep) {
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t p = 0; p < dp / 2; ++p) {
      const float* lo = cols + (g * dp + 2 * p) * kCols;
      for (int c = 0; c < kCols; ++c)
        put32(prep, (g * dp / 2 + p) * kCols + c, bf16_pair(lo[c], lo[kCols + c]));
    }
}

inline vfloat dot_pairs(vfloat acc, const void* a, const void* b32) {
  int32_t w;
  std::memcpy(&w, b32, 4);
  return (vfloat)_mm512_dpbf16_ps((__m512)acc, (__m512bh)_mm512_loadu_si512(a),
                                  (__m512bh)_mm512_set1_epi32(w));
}

// The float32 logits_impl with vdpbf16ps over pairs of d: the same 12
// accumulators and epilogue, half as many steps.
template <bool kDz>
void logits_bf16_impl(const float* qt, const TileView& t, int64_t dp, const Epilogue<kDz>& e,
                      float* z) {
  const char* tile = static_cast<const char*>(t.prep);
  for (int64_t g_ = 0; g_ < t.groups; ++g_, z += kCols * kRows) {
    const char* p = tile + 4 * g_ * (dp / 2) * kCols;
    vfloat a0[kCols] = {}, a1[kCols] = {};
    const char* q = reinterpret_cast<const char*>(qt);
    for (int64_t d = 0; d < dp / 2; ++d, q += 4 * kRows, p += 4 * kCols) {
#pragma GCC unroll 8
      for (int c = 0; c < kCols; ++c) {
        a0[c] = dot_pairs(a0[c], q, p + 4 * c);
        a1[c] = dot_pairs(a1[c], q + 4 * kLanes, p + 4 * c);
      }
    }
    for (int c = 0; c < kCols; ++c)
      e.store(a0[c], a1[c], g_ * kCols + c, t.logq[g_ * kCols + c], z + c * kRows);
  }
}

void logits_bf16(const float* qt, const TileView& tile, int64_t dp, float inv_t, float* z) {
  logits_bf16_impl<false>(qt, tile, dp, Epilogue<false>(inv_t, nullptr, nullptr, 0, false), z);
}

void logits_dz_bf16(const float* qt, const TileView& tile, int64_t dp, float inv_t,
                    const float* lse, const float* g, int64_t cols, bool round_dz, float* dz) {
  logits_bf16_impl<true>(qt, tile, dp, Epilogue<true>(inv_t, lse, g, cols, round_dz), dz);
}

}  // namespace

const SoftmaxCpuKernels& bf16_kernels() {
  static const SoftmaxCpuKernels k = {kRows,
                                      kCols,
                                      kDAlign,
                                      &pack_query_bf16,
                                      &prep_tile_pairs,
                                      &logits_bf16,
                                      &lse_update,
                                      &logits_dz_bf16,
                                      &dq,
                                      &dc,
                                      nullptr,
                                      nullptr,
                                      nullptr};
  return k;
}

}  // namespace YDNN_ISA_NS
}  // namespace softmax_detail
}  // namespace ydnn
