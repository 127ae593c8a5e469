// Sparse embedding-table optimizers: one optimizer step applied only to the
// rows present in a sparse gradient, in place.
//
// Input: ids [N] (int32/int64, any order, duplicates allowed) and grad [N, D]
// (the table's dtype). Duplicate ids are combined first: row v receives
// g_v = sum over k with ids[k] = v of grad[k], summed in float32 in position
// order (deterministic, independent of the thread count). Only rows in the
// set U of distinct ids are read or written, in the table and in the slots;
// every other row and slot row is left bit-identical.
//
// Per touched row v, per element j (all float32; lr, wd as given this step):
//   decoupled weight decay (when wd != 0, before the update, as Keras does):
//                    w <- w - w * wd * lr
//   SGD:             w <- w - g * lr
//   Adagrad:         a <- a + g^2;              w <- w - lr * g / sqrt(a + eps)
//                    (eps inside the sqrt, as keras.optimizers.Adagrad)
//   row-wise Adagrad (FBGEMM's EXACT_ROWWISE_ADAGRAD, one accumulator a_v per row):
//                    a_v <- a_v + mean_j(g_j^2); w <- w - lr * g / (sqrt(a_v) + eps)
//   lazy Adam (tensorflow_addons LazyAdam; Keras Adam's formulas on touched rows):
//                    m <- m + (g - m) * (1 - b1);  v <- v + (g^2 - v) * (1 - b2)
//                    w <- w - m * alpha / (sqrt(v) + eps),
//                    alpha = lr * sqrt(1 - b2^t) / (1 - b1^t), t = the global step
//                    (not a per-row count: untouched rows' moments simply do not decay)
//
// Every row is read once, updated in float32 (weight decay included) and
// stored once: float32 as is, 16-bit tables rounded to nearest or, with
// stochastic_rounding, stochastically (common/stochastic_round.h; the random
// bits are a pure function of (seed, step, row, element)).
//
// Shapes: table [V, D]; slots float32: Adagrad acc [V, D]; row-wise acc [V];
// Adam m, v [V, D]; SGD none.
// Bytes per step: reads N*D*s of gradient, reads and writes |U|*D*s of table
// plus |U|*D*4 per [V, D] slot (|U|*4 row-wise): O(N*D), never O(V*D).
#pragma once

#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"

namespace ydnn {

enum class OptimKind : int { kSgd = 0, kAdagrad = 1, kRowWiseAdagrad = 2, kLazyAdam = 3 };

// Hyper-parameters of one step; the adapters read lr and step from tensors
// every step (learning-rate schedules, the optimizer's iteration counter).
struct OptimHyper {
  float lr = 0.01f;
  float weight_decay = 0.0f;  // decoupled, touched rows only
  float epsilon = 1e-7f;
  float beta1 = 0.9f, beta2 = 0.999f;
  int64_t step = 1;  // Adam: 1-based global step t; the rounding's stream
  // 16-bit tables only: store rows rounded stochastically (unbiased) instead
  // of to nearest; `seed` keys the random bits. No effect on float32 tables.
  bool stochastic_rounding = false;
  uint64_t seed = 0;
};

struct SparseOptimArgs {
  OptimKind kind = OptimKind::kSgd;
  void* table = nullptr;  // [num_rows, dim] of table_dtype, updated in place
  DType table_dtype = DType::kFloat32;
  int64_t num_rows = 0;       // V
  int64_t dim = 0;            // D
  float* slot0 = nullptr;     // Adagrad acc [V, D] | row-wise acc [V] | Adam m [V, D]
  float* slot1 = nullptr;     // Adam v [V, D]
  const void* ids = nullptr;  // [num_ids] of id_type
  IdType id_type = IdType::kInt64;
  int64_t num_ids = 0;         // N
  const void* grad = nullptr;  // [N, D] of table_dtype
  // A promise that ids hold no duplicates (e.g. from embedding_pool's
  // gradient). The GPU then skips its sort; the CPU checks order itself and
  // ignores the flag (a sorted-unique check costs one pass over the ids).
  bool ids_unique = false;
  OptimHyper hyper;
};

// Number of float32 slots per kind, and whether slot k is per row ([V]).
int sparse_optim_num_slots(OptimKind kind);

// Shapes as the adapters see them; slots has sparse_optim_num_slots entries.
struct SparseOptimShapes {
  std::vector<int64_t> table, ids, grad;
  std::vector<std::vector<int64_t>> slots;
};

// Checks that shapes fit together and the hyper-parameters are usable, and
// fills num_rows, dim, num_ids. Errors name the argument, shape and value.
Status sparse_optim_check(const SparseOptimShapes& s, const OptimHyper& h, OptimKind kind,
                          SparseOptimArgs* a);

// ---------------------------------------------------------------- CPU ----
// ids outside [0, V) give InvalidArgument naming the position and value;
// nothing is written then (ids are checked before any row is touched).
Status sparse_optim_apply_cpu(const SparseOptimArgs& a, const ParallelFor& parallel);

// --------------------------------------------------------------- CUDA ----
// Device pointers; `stream` is a cudaStream_t. Unless ids_unique, ids are
// radix-sorted with their positions (cub, deterministic) and one lane group
// per distinct id sums its run then updates the row. Workspace is
// caller-allocated device memory sized from num_ids, id_type and dim (hot
// runs' partial rows are dim wide; 0 bytes when ids_unique). A bad id is
// skipped and its position recorded in `error` (device int64[1]);
// sparse_optim_check_error_cuda then syncs once and returns the CPU path's
// message. error == nullptr skips validation (bad ids are ignored).
size_t sparse_optim_workspace_cuda(const SparseOptimArgs& a);
Status sparse_optim_apply_cuda(const SparseOptimArgs& a, void* workspace, size_t workspace_bytes,
                               int64_t* error, void* stream);
Status sparse_optim_check_error_cuda(const SparseOptimArgs& a, const int64_t* error, void* stream);

// Device-to-device copy on `stream` (the TF op's copy-on-write of a shared
// variable buffer).
Status sparse_optim_copy_cuda(void* dst, const void* src, size_t bytes, void* stream);

// Message for an id out of range, shared by the CPU and CUDA paths.
Status sparse_optim_bad_id(const SparseOptimArgs& a, int64_t position, int64_t id);

}  // namespace ydnn
