// Host side of sampled softmax on the CPU: picks the vector path, packs the
// operands, splits the B x J logits across threads and merges what the
// threads computed.
//
// Loop order: column tiles outside, row blocks inside. A tile of kTileGroups
// column groups is gathered from the table once, packed (and widened from
// 16 bits) into a contiguous buffer that stays in L1/L2 while every row
// block of the item runs against it. Row blocks outside (the order before)
// re-read all J scattered rows from L3 once per block of rows: at S = 8192
// that was 64 passes over 2 MB, and the microkernels waited on it.
//
// Threads: items are (chunk of tiles) x (group of row blocks). A row's
// logsumexp is split over chunks, each keeping a running (max, sum) merged
// at the end; its dq is summed over chunks and a column's dC over groups,
// each chunk or group writing its own partial buffer: no atomics, a fixed
// order, deterministic for a given thread count. The partial buffers are
// capped at kShardBudget bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "sampled_softmax/sampled_softmax_internal.h"

namespace ydnn {

namespace {

using softmax_detail::SoftmaxCpuKernels;

constexpr int64_t kShardBudget = int64_t{256} << 20;
constexpr int64_t kTileGroups = 16;  // columns per tile: 96 at 6 per group

const SoftmaxCpuKernels& kernels() {
  switch (cpu_isa()) {
    case CpuIsa::kAvx512: return softmax_detail::softmax_kernels_avx512();
    case CpuIsa::kAvx2: return softmax_detail::softmax_kernels_avx2();
    default: break;
  }
  return softmax_detail::softmax_kernels_scalar();
}

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// The large host buffers of a call (packed queries, partial dq and dC),
// kept per calling thread and reused: allocated anew each call, their page
// faults cost a fifth of the backward at S = 100. They grow to the largest
// call a thread has made (about 5 MB at B = 1024, S = 8192). Zeroed only on
// request: the packed queries and dC partials are written whole.
enum Slot { kQt, kQr, kDqPartial, kDcPartial, kSlots };
float* buffer(Slot slot, int64_t n, bool zero) {
  thread_local std::vector<float> buf[kSlots];
  if (zero) buf[slot].assign(n, 0.f);
  else buf[slot].resize(n);
  return buf[slot].data();
}

// The work split: `chunks` runs of column tiles x `groups` runs of row
// blocks; item i is (chunk i / groups, group i % groups).
struct Grid {
  int64_t blocks = 0, tiles = 0, chunks = 1, groups = 1;
  int64_t items() const { return chunks * groups; }
  int64_t tile_begin(int64_t c) const { return c * tiles / chunks; }
  int64_t block_begin(int64_t g) const { return g * blocks / groups; }
};

// About 4 items per thread, so uneven items still balance. Splitting rows
// costs a [J, dp] dC partial per group (and the tiles packed once per
// group), splitting columns a [B, dp] dq partial per chunk: the smaller
// side is the one split (rows at S = 100, columns at S = 8192).
Grid make_grid(int64_t blocks, int64_t block_rows, int64_t tiles, int64_t columns, int64_t dp,
               int threads) {
  Grid g;
  g.blocks = blocks;
  g.tiles = tiles;
  const int64_t want = threads > 1 ? 4 * int64_t{threads} : 1;
  const int64_t rows = blocks * block_rows;
  if (4 * columns <= rows) {
    g.groups = std::max<int64_t>(1, std::min({blocks, want, kShardBudget / (4 * columns * dp + 1)}));
  } else {
    g.chunks = std::max<int64_t>(1, std::min({tiles, want, kShardBudget / (4 * rows * dp + 1)}));
    g.groups = std::max<int64_t>(1, std::min(blocks, (want + g.chunks - 1) / g.chunks));
  }
  return g;
}

// tile[g][d][c] = row (ids[g * kc + c])[d] as float; zero past `cols` and D.
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

template <typename T>
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
        for (; d < D; ++d) out[d * kc + c] = to_float(row[d]);
      }
      for (; d < dp; ++d) out[d * kc + c] = 0.f;
    }
  }
}

// What every item reads, built once per call: the queries packed both ways
// (padded to whole blocks and dp), the positives' rows and logits.
class Operands {
 public:
  Operands(const SoftmaxArgs& a, const SoftmaxPlan& plan, const SoftmaxCpuKernels& k,
           bool row_major, const ParallelFor& parallel)
      : a_(a), plan_(plan), k_(k) {
    const int64_t B = a.batch, D = a.dim, R = k.block_rows;
    dp = round_up(std::max<int64_t>(D, 1), k.d_align);
    blocks = (B + R - 1) / R;
    J = plan.num_columns();
    qt = buffer(kQt, blocks * dp * R, /*zero=*/false);
    if (row_major) qr = buffer(kQr, blocks * R * dp, /*zero=*/false);
    zpos.assign(blocks * R, 0.f);
    pos_row.resize(B);
    if (a.table_dtype != DType::kFloat32) widened_.resize(B * D);
    const float inv_t = 1.f / a.temperature;
    const int64_t row_bytes = D * (a.table_dtype == DType::kFloat32 ? 4 : 2);
    parallel(blocks, 6 * R * D, [&](int64_t begin, int64_t end) {
      touch_rows(a.table, row_bytes, plan.pos_id_.data() + begin * R,
                 std::min(B, end * R) - begin * R);
      for (int64_t blk = begin; blk < end; ++blk) {
        // Every element written once, padding (rows past B, d past D) as 0.
        const int64_t r_end = std::min(R, B - blk * R);
        for (int64_t d = 0; d < dp; ++d)  // transpose: contiguous writes, R lines read
          for (int64_t r = 0; r < R; ++r)
            qt[(blk * dp + d) * R + r] = d < D && r < r_end ? a.query[(blk * R + r) * D + d] : 0.f;
        if (row_major)
          for (int64_t r = 0; r < R; ++r) {
            float* dst = &qr[(blk * R + r) * dp];
            if (r < r_end) std::copy_n(a.query + (blk * R + r) * D, D, dst);
            std::fill(dst + (r < r_end ? D : 0), dst + dp, 0.f);
          }
        for (int64_t b = blk * R; b < blk * R + r_end; ++b) {
          const float* q = a.query + b * D;
          pos_row[b] = row(plan.pos_id_[b], widened_.empty() ? nullptr : widened_.data() + b * D);
          zpos[b] = (dot(q, pos_row[b], D) - plan.pos_logq_[b]) * inv_t;
        }
      }
    });
  }

  // Packs the columns [t0, t0 + cols) into `tile` and their logQ into
  // `logq` (zero for padding). Returns the number of groups.
  int64_t pack(int64_t t0, int64_t cols, float* tile, float* logq) const {
    const int kc = k_.col_group;
    const int64_t groups = (cols + kc - 1) / kc, D = a_.dim;
    const int64_t* ids = plan_.col_id_.data() + t0;
    switch (a_.table_dtype) {
      case DType::kFloat32:
        pack_tile(static_cast<const float*>(a_.table), D, dp, kc, ids, cols, groups, tile);
        break;
      case DType::kFloat16:
        pack_tile(static_cast<const f16*>(a_.table), D, dp, kc, ids, cols, groups, tile);
        break;
      case DType::kBFloat16:
        pack_tile(static_cast<const bf16*>(a_.table), D, dp, kc, ids, cols, groups, tile);
        break;
    }
    for (int64_t c = 0; c < groups * kc; ++c) logq[c] = c < cols ? plan_.col_logq_[t0 + c] : 0.f;
    return groups;
  }

  // Sets z of the block's masked columns in [t0, t0 + cols) to `value`
  // (-inf for a logit, 0 for a dz). `cur` holds each row's cursor into its
  // ascending masked columns.
  void mask(int64_t block, int64_t t0, int64_t cols, int64_t* cur, float* z, float value) const {
    const int64_t R = k_.block_rows;
    for (int64_t r = 0; r < R && block * R + r < a_.batch; ++r) {
      const int64_t end = plan_.hit_start_[block * R + r + 1];
      for (; cur[r] < end && plan_.hit_col_[cur[r]] < t0 + cols; ++cur[r])
        z[(plan_.hit_col_[cur[r]] - t0) * R + r] = value;
    }
  }

  // Cursors of the rows of blocks [b0, b1) at their first masked column >= t0.
  std::vector<int64_t> cursors(int64_t b0, int64_t b1, int64_t t0) const {
    const int64_t R = k_.block_rows;
    std::vector<int64_t> cur((b1 - b0) * R, 0);
    for (int64_t b = b0 * R; b < std::min(b1 * R, a_.batch); ++b) {
      const int32_t* lo = plan_.hit_col_.data() + plan_.hit_start_[b];
      const int32_t* hi = plan_.hit_col_.data() + plan_.hit_start_[b + 1];
      cur[b - b0 * R] = std::lower_bound(lo, hi, t0) - plan_.hit_col_.data();
    }
    return cur;
  }

  int64_t dp = 0, blocks = 0, J = 0;
  float* qt = nullptr;  // [blocks][dp][R]
  float* qr = nullptr;  // [blocks * R][dp], backward only
  std::vector<float> zpos;
  std::vector<const float*> pos_row;  // [B] -> D floats

 private:
  // Row `id` as float32: in place for a float32 table, else widened into buf.
  const float* row(int64_t id, float* buf) const {
    const int64_t D = a_.dim;
    switch (a_.table_dtype) {
      case DType::kFloat16:
        for (int64_t d = 0; d < D; ++d) buf[d] = to_float(static_cast<const f16*>(a_.table)[id * D + d]);
        return buf;
      case DType::kBFloat16:
        for (int64_t d = 0; d < D; ++d) buf[d] = to_float(static_cast<const bf16*>(a_.table)[id * D + d]);
        return buf;
      default: return static_cast<const float*>(a_.table) + id * D;
    }
  }

  std::vector<float> widened_;
  const SoftmaxArgs& a_;
  const SoftmaxPlan& plan_;
  const SoftmaxCpuKernels& k_;
};

// Per-item scratch: one packed tile, its logQ and the block's logits.
struct Scratch {
  std::vector<float> tile, logq, z;
  Scratch(const SoftmaxCpuKernels& k, int64_t dp)
      : tile(kTileGroups * k.col_group * dp),
        logq(kTileGroups * k.col_group),
        z(kTileGroups * k.col_group * k.block_rows) {}
};

// Runs the items [begin, end) of `grid`: each tile of an item's chunk is
// packed into `sc` once, then on_block(chunk, block, t0, cols, groups,
// cursors of the block's rows) runs for each block of the item's group, and
// on_tile(group, t0, cols) after the last one.
template <typename OnBlock, typename OnTile>
void run_items(const Grid& grid, const Operands& op, int64_t R, int64_t T, Scratch& sc,
               int64_t begin, int64_t end, OnBlock on_block, OnTile on_tile) {
  for (int64_t item = begin; item < end; ++item) {
    const int64_t chunk = item / grid.groups, group = item % grid.groups;
    const int64_t b0 = grid.block_begin(group), b1 = grid.block_begin(group + 1);
    std::vector<int64_t> cur = op.cursors(b0, b1, grid.tile_begin(chunk) * T);
    for (int64_t t = grid.tile_begin(chunk); t < grid.tile_begin(chunk + 1); ++t) {
      const int64_t t0 = t * T, cols = std::min(T, op.J - t0);
      const int64_t groups = op.pack(t0, cols, sc.tile.data(), sc.logq.data());
      for (int64_t blk = b0; blk < b1; ++blk)
        on_block(chunk, blk, t0, cols, groups, &cur[(blk - b0) * R]);
      on_tile(group, t0, cols);
    }
  }
}

// Cycles per item for the pool: ~16 flops per cycle per core.
int64_t item_cost(const Grid& g, int64_t rows, int64_t J, int64_t dp, int passes) {
  return std::max<int64_t>(1, passes * 2 * rows * (J / g.chunks + 1) * dp / g.groups / 16);
}

// grad_rows[u] = sum over groups and u's columns of dC partials + sum over
// the rows b whose positive is u of dz_pos[b] * q_b.
template <typename T>
void reduce(const SoftmaxArgs& a, const SoftmaxPlan& plan, const float* partial,
            int64_t groups, int64_t dp, const float* dz_pos, T* out, const ParallelFor& parallel) {
  const int64_t D = a.dim, U = plan.num_unique(), J = plan.num_columns();
  const int64_t terms = groups * J + a.batch;
  parallel(U, std::max<int64_t>(1, 2 * D * terms / std::max<int64_t>(1, U)),
           [&](int64_t begin, int64_t end) {
             std::vector<float> acc(D);
             for (int64_t u = begin; u < end; ++u) {
               std::fill(acc.begin(), acc.end(), 0.f);
               for (int64_t i = plan.col_start_[u]; i < plan.col_start_[u + 1]; ++i)
                 for (int64_t g = 0; g < groups; ++g) {
                   const float* row = partial + (g * J + plan.cols_by_id_[i].second) * dp;
                   for (int64_t d = 0; d < D; ++d) acc[d] += row[d];
                 }
               for (int64_t i = plan.pos_start_[u]; i < plan.pos_start_[u + 1]; ++i) {
                 const int64_t b = plan.pos_by_id_[i].second;
                 const float w = dz_pos[b];
                 for (int64_t d = 0; d < D; ++d) acc[d] += w * a.query[b * D + d];
               }
               for (int64_t d = 0; d < D; ++d) out[u * D + d] = from_float<T>(acc[d]);
             }
           });
}

}  // namespace

Status sampled_softmax_forward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, float* loss,
                                   float* lse, float* logits, const ParallelFor& parallel) {
  if (a.batch == 0) return Status();
  const SoftmaxCpuKernels& k = kernels();
  const int64_t R = k.block_rows, T = kTileGroups * k.col_group;
  const Operands op(a, plan, k, /*row_major=*/false, parallel);
  const int64_t J = op.J, dp = op.dp, Bp = op.blocks * R;
  const Grid grid = make_grid(op.blocks, R, (J + T - 1) / T, J, dp, parallel.num_threads());
  // Running (max, sum) per chunk and row, starting at (z_pos, 0).
  std::vector<float> m(grid.chunks * Bp), s(grid.chunks * Bp, 0.f);
  for (int64_t c = 0; c < grid.chunks; ++c) std::copy(op.zpos.begin(), op.zpos.end(), &m[c * Bp]);
  const float inv_t = 1.f / a.temperature;
  parallel(grid.items(), item_cost(grid, Bp, J, dp, 1), [&](int64_t begin, int64_t end) {
    Scratch sc(k, dp);
    float* const z = sc.z.data();
    const auto block = [&](int64_t chunk, int64_t blk, int64_t t0, int64_t cols, int64_t groups,
                           int64_t* cur) {
      k.logits(&op.qt[blk * dp * R], sc.tile.data(), groups, dp, sc.logq.data(), inv_t, z);
      op.mask(blk, t0, cols, cur, z, -std::numeric_limits<float>::infinity());
      if (logits != nullptr)
        for (int64_t b = blk * R; b < std::min((blk + 1) * R, a.batch); ++b)
          for (int64_t c = 0; c < cols; ++c) logits[b * (J + 1) + 1 + t0 + c] = z[c * R + b % R];
      k.lse_update(z, cols, &m[chunk * Bp + blk * R], &s[chunk * Bp + blk * R]);
    };
    run_items(grid, op, R, T, sc, begin, end, block, [](int64_t, int64_t, int64_t) {});
  });
  for (int64_t b = 0; b < a.batch; ++b) {
    float mx = op.zpos[b];
    for (int64_t c = 0; c < grid.chunks; ++c) mx = std::max(mx, m[c * Bp + b]);
    float sum = std::exp(op.zpos[b] - mx);
    for (int64_t c = 0; c < grid.chunks; ++c) sum += s[c * Bp + b] * std::exp(m[c * Bp + b] - mx);
    lse[b] = mx + std::log(sum);
    loss[b] = lse[b] - op.zpos[b];
    if (logits != nullptr) logits[b * (J + 1)] = op.zpos[b];
  }
  for (int64_t b = 0; b < a.batch; ++b)
    if (!std::isfinite(loss[b]))
      return InvalidArgument("the loss of row ", b, " is not finite (", loss[b],
                             "): a logit (q.c - log Q) / temperature exceeds float32, or query "
                             "or table hold inf/NaN");
  return Status();
}

Status sampled_softmax_backward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan,
                                    const float* lse, const float* grad_loss, float* grad_query,
                                    int64_t* unique_ids, void* grad_rows,
                                    const ParallelFor& parallel) {
  const int64_t U = plan.num_unique(), D = a.dim, B = a.batch;
  if (plan.col_start_.size() != static_cast<size_t>(U + 1))
    return Status(StatusCode::kInternal, "sampled_softmax: plan built without unique ids");
  std::copy(plan.unique_.begin(), plan.unique_.end(), unique_ids);
  const SoftmaxCpuKernels& k = kernels();
  const int64_t R = k.block_rows, T = kTileGroups * k.col_group;
  const Operands op(a, plan, k, /*row_major=*/true, parallel);
  const int64_t J = op.J, dp = op.dp, Bp = op.blocks * R;
  const Grid grid = make_grid(op.blocks, R, (J + T - 1) / T, J, dp, parallel.num_threads());
  // Per row, padded to whole blocks: lse and g / T. Padding rows get lse
  // +inf and g 0, so their dz is exactly 0 (their logits -log Q / T can be
  // large, and 0 * exp(large) would be NaN).
  const float inv_t = 1.f / a.temperature;
  std::vector<float> lse_p(Bp, std::numeric_limits<float>::infinity()), g_p(Bp, 0.f);
  for (int64_t b = 0; b < B; ++b) {
    lse_p[b] = lse[b];
    g_p[b] = grad_loss[b] * inv_t;
  }
  // dq partials per chunk, [blocks][dp][R], accumulated; dC partials per
  // group, [J][dp], each tile's columns copied in once.
  float* const dqt = buffer(kDqPartial, grid.chunks * Bp * dp, /*zero=*/true);
  float* const dcp = buffer(kDcPartial, grid.groups * J * dp, /*zero=*/false);
  parallel(grid.items(), item_cost(grid, Bp, J, dp, 3), [&](int64_t begin, int64_t end) {
    Scratch sc(k, dp);
    float* const dz = sc.z.data();
    std::vector<float> dct(T * dp, 0.f);  // the tile's dC over the group's blocks
    const auto block = [&](int64_t chunk, int64_t blk, int64_t t0, int64_t cols, int64_t groups,
                           int64_t* cur) {
      k.logits_dz(&op.qt[blk * dp * R], sc.tile.data(), groups, dp, sc.logq.data(), inv_t,
                  &lse_p[blk * R], &g_p[blk * R], cols, dz);
      op.mask(blk, t0, cols, cur, dz, 0.f);
      k.dq(dz, sc.tile.data(), groups, dp, &dqt[(chunk * op.blocks + blk) * dp * R]);
      k.dc(dz, &op.qr[blk * R * dp], groups, dp, dct.data());
    };
    const auto tile_done = [&](int64_t group, int64_t t0, int64_t cols) {
      std::copy_n(dct.data(), cols * dp, &dcp[(group * J + t0) * dp]);
      std::fill(dct.begin(), dct.end(), 0.f);
    };
    run_items(grid, op, R, T, sc, begin, end, block, tile_done);
  });
  // The positive column: dz_pos = g (p_pos - 1) / T; dq_b = its share of the
  // chunks' dq + dz_pos C[pos_b].
  std::vector<float> dz_pos(B);
  parallel(op.blocks, 2 * R * D * (grid.chunks + 1), [&](int64_t begin, int64_t end) {
    std::vector<float> acc(dp * R);
    for (int64_t blk = begin; blk < end; ++blk) {
      std::copy_n(&dqt[blk * dp * R], dp * R, acc.data());
      for (int64_t c = 1; c < grid.chunks; ++c) {
        const float* part = &dqt[(c * op.blocks + blk) * dp * R];
        for (int64_t i = 0; i < dp * R; ++i) acc[i] += part[i];
      }
      for (int64_t b = blk * R; b < std::min(B, (blk + 1) * R); ++b) {
        const float w = g_p[b] * (std::exp(op.zpos[b] - lse[b]) - 1.f);
        dz_pos[b] = w;
        for (int64_t d = 0; d < D; ++d)
          grad_query[b * D + d] = acc[d * R + b % R] + w * op.pos_row[b][d];
      }
    }
  });
  switch (a.table_dtype) {
    case DType::kFloat32:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), static_cast<float*>(grad_rows),
             parallel);
      break;
    case DType::kFloat16:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), static_cast<f16*>(grad_rows),
             parallel);
      break;
    case DType::kBFloat16:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), static_cast<bf16*>(grad_rows),
             parallel);
      break;
  }
  return Status();
}

}  // namespace ydnn
