// The operands of sampled softmax on the CPU, shared by the forward and
// backward host code (sampled_softmax_cpu.cc): the thread work split, the
// per-thread buffers, and the queries and candidate tiles packed into the
// layouts the vector loops read (sampled_softmax_cpu_kernels.h). Under
// compute_dtype bfloat16 every query and candidate value is rounded to
// bfloat16 here, once, whichever kernel set runs: the float32 sets then
// compute the bfloat16 products exactly, and the bfloat16 sets repack the
// rounded values without another rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "sampled_softmax/sampled_softmax_internal.h"

namespace ydnn {
namespace softmax_detail {

constexpr int64_t kShardBudget = int64_t{256} << 20;  // partial dq / dC buffers, bytes

// The large host buffers of a call (packed queries and tiles, partial dq and dC),
// kept per calling thread and reused: allocated anew each call, their page
// faults cost a fifth of the backward at S = 100. They grow to the largest
// call a thread has made (about 5 MB at B = 1024, S = 8192). Zeroed only on
// request: the packed queries, tiles and dC partials are written whole.
enum Slot { kQt, kQr, kTiles, kDqPartial, kDcPartial, kSlots };
float* buffer(Slot slot, int64_t n, bool zero);

// The work split: `chunks` runs of column tiles x `groups` runs of row
// blocks; item i is (chunk i / groups, group i % groups).
struct Grid {
  int64_t blocks = 0, tiles = 0, chunks = 1, groups = 1;
  int64_t items() const { return chunks * groups; }
  int64_t tile_begin(int64_t c) const { return c * tiles / chunks; }
  int64_t block_begin(int64_t g) const { return g * blocks / groups; }
};

// What every item reads, built once per call: the work split, the queries
// packed both ways (padded to whole blocks and dp), the positives' rows and
// logits, and, when rows are split, the packed tiles.
class Operands {
 public:
  // Splits the work over tiles of T columns, packs the queries (and,
  // with row_major, their row-major copy) and computes the positives'
  // logits, over `parallel`. When the split is by rows every group reads
  // every tile, so the tiles are packed here once (J <= B / 4 columns, no
  // more bytes than the queries) instead of once per group.
  Operands(const SoftmaxArgs& a, const SoftmaxPlan& plan, const SoftmaxCpuKernels& k,
           bool row_major, const ParallelFor& parallel);

  // Tile t: the one packed here, or packed now into `scratch`
  // (tile_floats()) and `scratch_logq` (T floats).
  TileView tile(int64_t t, float* scratch, float* scratch_logq) const;

  // Floats of one packed tile: T * dp, twice that with the kernels' prep.
  int64_t tile_floats() const { return T * dp * (k_.prep_tile != nullptr ? 2 : 1); }

  // Whether tile() needs scratch: the tiles are not packed once per call.
  bool packs_per_item() const { return tiles_ == nullptr; }

  // Sets z of the block's masked columns in [t0, t0 + cols) to `value`
  // (-inf for a logit, 0 for a dz). `cur` holds each row's cursor into its
  // ascending masked columns.
  void mask(int64_t block, int64_t t0, int64_t cols, int64_t* cur, float* z, float value) const;

  // Cursors of the rows of blocks [b0, b1) at their first masked column >= t0.
  std::vector<int64_t> cursors(int64_t b0, int64_t b1, int64_t t0) const;

  int64_t dp = 0, blocks = 0, J = 0, T = 0;  // T: columns per tile
  Grid grid;
  float* qt = nullptr;           // [blocks][dp * R]: each block as k.pack_query packs it
  float* qr = nullptr;           // [blocks][R * dp], backward only: the same, for dc
  const float* query = nullptr;  // [B, D]: a.query, or its copy rounded to bfloat16
  std::vector<float> zpos;
  std::vector<const float*> pos_row;  // [B] -> D floats (rounded to bfloat16 likewise)

 private:
  // Packs the columns [t0, t0 + cols) into `tile` (tile_floats()) and
  // their logQ into `logq` (zero for padding). Returns the number of groups.
  int64_t pack(int64_t t0, int64_t cols, float* tile, float* logq) const;

  // Row `id` as float32: in place for a float32 table computed in float32,
  // else widened (and rounded) into buf.
  const float* row(int64_t id, float* buf) const;

  float* tiles_ = nullptr;  // [tiles][tile_floats()] when rows are split, else null
  std::vector<float> tiles_logq_;
  std::vector<float> widened_, rounded_query_;
  bool round_ = false;  // compute_dtype bfloat16: round the float32 / float16 values
  const SoftmaxArgs& a_;
  const SoftmaxPlan& plan_;
  const SoftmaxCpuKernels& k_;
};

}  // namespace softmax_detail
}  // namespace ydnn
