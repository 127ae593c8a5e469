// The operands of sampled softmax on the CPU (see the header): buffers, the
// work split, query packing and candidate tiles.
#include "sampled_softmax/sampled_softmax_cpu_operands.h"

#include <algorithm>
#include <cstring>

namespace ydnn {
namespace softmax_detail {

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// q . c in 8 independent partial sums (a vectorisable order).
float dot(const float* q, const float* c, int64_t n) {
  float part[8] = {};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int i = 0; i < 8; ++i) part[i] += q[d + i] * c[d + i];
  for (; d < n; ++d) part[0] += q[d] * c[d];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Loads one byte of every line of the rows `ids`: independent loads whose
// misses overlap, so the work that follows finds the rows cached. The rows
// are scattered through a table far larger than the caches and the TLB;
// software prefetches of them did not help (they missed the TLB too), and
// read one at a time by dependent work, their misses ran in series.
void touch_rows(const void* table, int64_t row_bytes, const int64_t* ids, int64_t n) {
  unsigned sink = 0;
  for (int64_t j = 0; j < n; ++j) {
    const unsigned char* p = static_cast<const unsigned char*>(table) + ids[j] * row_bytes;
    for (int64_t off = 0; off < row_bytes; off += 64) sink += p[off];
  }
  asm volatile("" : : "r"(sink));
}

// tile[g][d][c] = row (ids[g * kc + c])[d] as float (kRound: rounded to
// bfloat16); zero past `cols` and D.
template <bool kRound, typename T>
void pack_tile(const T* table, int64_t D, int64_t dp, int kc, const int64_t* ids, int64_t cols,
               int64_t groups, float* tile) {
  touch_rows(table, D * int64_t(sizeof(T)), ids, cols);
  for (int64_t g = 0; g < groups; ++g) {
    float* out = tile + g * dp * kc;
    for (int c = 0; c < kc; ++c) {
      const int64_t j = g * kc + c;
      int64_t d = 0;
      if (j < cols) {
        const T* row = table + ids[j] * D;
        for (; d < D; ++d)
          out[d * kc + c] = kRound ? round_bf16(to_float(row[d])) : to_float(row[d]);
      }
      for (; d < dp; ++d) out[d * kc + c] = 0.f;
    }
  }
}

// The work split. About 4 items per thread, so uneven items still balance.
// Splitting rows costs a [J, dp] dC partial per group, splitting columns a
// [B, dp] dq partial per chunk: rows are split when 4 J <= B (S = 100 at
// B = 1024), columns otherwise.
Grid make_grid(int64_t blocks, int64_t block_rows, int64_t tiles, int64_t columns, int64_t dp,
               int threads) {
  Grid g;
  g.blocks = blocks;
  g.tiles = tiles;
  const int64_t want = threads > 1 ? 4 * int64_t{threads} : 1;
  const int64_t rows = blocks * block_rows;
  if (4 * columns <= rows) {
    g.groups =
        std::max<int64_t>(1, std::min({blocks, want, kShardBudget / (4 * columns * dp + 1)}));
  } else {
    g.chunks = std::max<int64_t>(1, std::min({tiles, want, kShardBudget / (4 * rows * dp + 1)}));
    g.groups = std::max<int64_t>(1, std::min(blocks, (want + g.chunks - 1) / g.chunks));
  }
  return g;
}

}  // namespace

float* buffer(Slot slot, int64_t n, bool zero) {
  thread_local std::vector<float> buf[kSlots];
  if (zero)
    buf[slot].assign(n, 0.f);
  else
    buf[slot].resize(n);
  return buf[slot].data();
}

Operands::Operands(const SoftmaxArgs& a, const SoftmaxPlan& plan, const SoftmaxCpuKernels& k,
                   bool row_major, const ParallelFor& parallel)
    : a_(a), plan_(plan), k_(k) {
  const int64_t B = a.batch, D = a.dim, R = k.block_rows;
  dp = round_up(std::max<int64_t>(D, 1), k.d_align);
  blocks = (B + R - 1) / R;
  J = plan.num_columns();
  T = kTileGroups * k.col_group;
  const int64_t tiles = (J + T - 1) / T;
  grid = make_grid(blocks, R, tiles, J, dp, parallel.num_threads());
  const bool shared_tiles = grid.chunks == 1 && grid.groups > 1;
  if (shared_tiles) {
    tiles_ = buffer(kTiles, tiles * tile_floats(), /*zero=*/false);
    tiles_logq_.resize(tiles * T);
  }
  qt = buffer(kQt, blocks * dp * R, /*zero=*/false);
  if (row_major) qr = buffer(kQr, blocks * R * dp, /*zero=*/false);
  zpos.assign(blocks * R, 0.f);
  pos_row.resize(B);
  round_ = a.compute_dtype == DType::kBFloat16;
  if (a.table_dtype != DType::kFloat32 || round_) widened_.resize(B * D);
  query = a.query;
  if (round_) {
    rounded_query_.resize(B * D);
    query = rounded_query_.data();
  }
  const float inv_t = 1.f / a.temperature;
  const int64_t row_bytes = D * (a.table_dtype == DType::kFloat32 ? 4 : 2);
  // Items [0, blocks) are query blocks, then the shared tiles if any.
  const int64_t items = blocks + (shared_tiles ? tiles : 0);
  parallel(items, 6 * R * D, [&](int64_t begin, int64_t end) {
    const int64_t b_end = std::min(end, blocks);
    if (begin < b_end)
      touch_rows(a.table, row_bytes, plan.pos_id_.data() + begin * R,
                 std::min(B, b_end * R) - begin * R);
    for (int64_t blk = begin; blk < b_end; ++blk) {
      // Every element written once, padding (rows past B, d past D) as 0.
      const int64_t r_end = std::min(R, B - blk * R);
      if (round_)
        for (int64_t i = blk * R * D; i < (blk * R + r_end) * D; ++i)
          rounded_query_[i] = round_bf16(a.query[i]);
      k.pack_query(query + blk * R * D, r_end, D, dp, &qt[blk * dp * R],
                   row_major ? &qr[blk * R * dp] : nullptr);
      for (int64_t b = blk * R; b < blk * R + r_end; ++b) {
        pos_row[b] = row(plan.pos_id_[b], widened_.empty() ? nullptr : widened_.data() + b * D);
        zpos[b] = (dot(query + b * D, pos_row[b], D) - plan.pos_logq_[b]) * inv_t;
      }
    }
    for (int64_t t = std::max(begin, blocks) - blocks; t < end - blocks; ++t)
      pack(t * T, std::min(T, J - t * T), tiles_ + t * tile_floats(), &tiles_logq_[t * T]);
  });
}

TileView Operands::tile(int64_t t, float* scratch, float* scratch_logq) const {
  const int64_t t0 = t * T, cols = std::min(T, J - t0);
  const bool prep = k_.prep_tile != nullptr;
  if (tiles_ != nullptr) {
    float* tile = tiles_ + t * tile_floats();
    return {tile, prep ? tile + T * dp : nullptr, &tiles_logq_[t0],
            (cols + k_.col_group - 1) / k_.col_group};
  }
  const int64_t groups = pack(t0, cols, scratch, scratch_logq);
  return {scratch, prep ? scratch + T * dp : nullptr, scratch_logq, groups};
}

int64_t Operands::pack(int64_t t0, int64_t cols, float* tile, float* logq) const {
  const int kc = k_.col_group;
  const int64_t groups = (cols + kc - 1) / kc, D = a_.dim;
  const int64_t* ids = plan_.col_id_.data() + t0;
  // A bfloat16 table holds bfloat16 values already: nothing to round.
  const bool round = round_ && a_.table_dtype != DType::kBFloat16;
  const auto pack_as = [&](const auto* table) {
    if (round)
      pack_tile<true>(table, D, dp, kc, ids, cols, groups, tile);
    else
      pack_tile<false>(table, D, dp, kc, ids, cols, groups, tile);
  };
  switch (a_.table_dtype) {
    case DType::kFloat32:
      pack_as(static_cast<const float*>(a_.table));
      break;
    case DType::kFloat16:
      pack_as(static_cast<const f16*>(a_.table));
      break;
    case DType::kBFloat16:
      pack_as(static_cast<const bf16*>(a_.table));
      break;
  }
  for (int64_t c = 0; c < groups * kc; ++c) logq[c] = c < cols ? plan_.col_logq_[t0 + c] : 0.f;
  if (k_.prep_tile != nullptr) k_.prep_tile(tile, groups, dp, tile + T * dp);
  return groups;
}

void Operands::mask(int64_t block, int64_t t0, int64_t cols, int64_t* cur, float* z,
                    float value) const {
  const int64_t R = k_.block_rows;
  for (int64_t r = 0; r < R && block * R + r < a_.batch; ++r) {
    const int64_t end = plan_.hit_start_[block * R + r + 1];
    for (; cur[r] < end && plan_.hit_col_[cur[r]] < t0 + cols; ++cur[r])
      z[(plan_.hit_col_[cur[r]] - t0) * R + r] = value;
  }
}

std::vector<int64_t> Operands::cursors(int64_t b0, int64_t b1, int64_t t0) const {
  const int64_t R = k_.block_rows;
  std::vector<int64_t> cur((b1 - b0) * R, 0);
  for (int64_t b = b0 * R; b < std::min(b1 * R, a_.batch); ++b) {
    const int32_t* lo = plan_.hit_col_.data() + plan_.hit_start_[b];
    const int32_t* hi = plan_.hit_col_.data() + plan_.hit_start_[b + 1];
    cur[b - b0 * R] = std::lower_bound(lo, hi, t0) - plan_.hit_col_.data();
  }
  return cur;
}

const float* Operands::row(int64_t id, float* buf) const {
  const int64_t D = a_.dim;
  switch (a_.table_dtype) {
    case DType::kFloat16:
      for (int64_t d = 0; d < D; ++d) {
        const float v = to_float(static_cast<const f16*>(a_.table)[id * D + d]);
        buf[d] = round_ ? round_bf16(v) : v;
      }
      return buf;
    case DType::kBFloat16:
      for (int64_t d = 0; d < D; ++d)
        buf[d] = to_float(static_cast<const bf16*>(a_.table)[id * D + d]);
      return buf;
    default:
      if (!round_) return static_cast<const float*>(a_.table) + id * D;
      for (int64_t d = 0; d < D; ++d)
        buf[d] = round_bf16(static_cast<const float*>(a_.table)[id * D + d]);
      return buf;
  }
}

}  // namespace softmax_detail
}  // namespace ydnn
