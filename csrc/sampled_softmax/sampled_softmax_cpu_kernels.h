// The vector loops of sampled_softmax on the CPU, written once and compiled
// per ISA (include last, after YDNN_ISA_NS and the target pragma; see
// embedding_pool_cpu_kernels.h for why). For the same reason no std::
// template is used here: an instantiation made under the target pragma could
// be the copy the linker keeps for every other TU.
//
// Rows sit in vector lanes: a block of kRows = 2 vectors of rows is packed
// transposed (qt[d][row]) and each candidate row is broadcast one float at a
// time, so kCols candidates cost 2 vector loads + kCols broadcasts for
// 2·kCols FMAs per d, and the online logsumexp of every row of the block is
// plain lane-wise arithmetic. The logits of a tile of kTileCols candidates
// are buffered (kTileCols x kRows floats, in L1) so the running max is
// rescaled once per tile, not once per candidate.
//
// Backward recomputes the tile's logits, turns them into dz in place, then
//   dq:  qt-shaped accumulator, dqt[d][row] += dz[c][row] * C[c][d]
//   dC:  per candidate, acc[0:D) = sum over the block's rows of dz * q_row,
//        added to the caller's partial [J, D] in column order (so a tile's
//        rows are one contiguous stream; one buffer per thread: no atomics,
//        a fixed order, deterministic). The positive's term dz_pos q_b is
//        left to the caller's reduction.

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
constexpr int kTileCols = 64;
constexpr int kChunk = 8 * kLanes;  // dC accumulators: 8 vectors of D

typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t vint __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline vfloat loadv(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storev(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }
inline vfloat splat(float x) { return vfloat{} + x; }
inline vfloat vmax(vfloat a, vfloat b) { return a > b ? a : b; }

// exp(x) for x <= 0 (Cephes expf: 2^n times a degree-6 polynomial on
// |r| <= ln2/2, about 2 ulp). Exactly 0 below -87.3 and for -inf, so masked
// logits get probability exactly 0; NaN propagates.
inline vfloat vexp(vfloat x) {
  const vfloat fx = x * 1.44269504088896341f + 0.5f;
  vint n = __builtin_convertvector(fx, vint);
  n += (__builtin_convertvector(n, vfloat) > fx);  // trunc -> floor (true is -1)
  const vfloat fn = __builtin_convertvector(n, vfloat);
  vfloat r = x - fn * 0.693359375f;
  r = r + fn * 2.12194440e-4f;
  vfloat p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const vfloat y = (p * r * r + r + 1.f) * (vfloat)((n + 127) << 23);
  return x < splat(-87.33f) ? vfloat{} : y;
}

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Zeroed float scratch owned by one call.
struct Scratch {
  float* p;
  explicit Scratch(int64_t n) : p(new float[n]()) {}
  ~Scratch() { delete[] p; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

inline float dot(const float* a, const float* b, int64_t n) {
  vfloat acc = {};
  int64_t d = 0;
  for (; d + kLanes <= n; d += kLanes) acc += loadv(a + d) * loadv(b + d);
  float s = 0.f;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  for (; d < n; ++d) s += a[d] * b[d];
  return s;
}

// y[0:n) += w * x[0:n)
inline void axpy(float w, const float* x, float* y, int64_t n) {
  int64_t d = 0;
  for (; d + kLanes <= n; d += kLanes) storev(y + d, loadv(y + d) + w * loadv(x + d));
  for (; d < n; ++d) y[d] += w * x[d];
}

// Per-block state: the packed queries and the row bookkeeping.
struct Block {
  int64_t r0, n;  // first row, rows in the block (<= kRows)
  Scratch qt, z;
  alignas(64) float zpos[kRows];
  int64_t cur[kRows], end[kRows];  // cursors into each row's masked columns

  explicit Block(int64_t D) : qt(D * kRows), z(kTileCols * kRows) {}
  float* zs() const { return z.p; }

  void load(const SoftmaxView& v, int64_t block) {
    const int64_t D = v.dim;
    r0 = block * kRows;
    n = imin(kRows, v.batch - r0);
    // The positives are random rows of a table far larger than the caches:
    // start every line of them now so the misses overlap (one at a time,
    // they were the top of the backward's profile at S = 100).
    for (int r = 0; r < n; ++r) {
      const char* p = reinterpret_cast<const char*>(v.pos_row[r0 + r]);
      for (int64_t off = 0; off < D * int64_t(sizeof(float)); off += 64) __builtin_prefetch(p + off);
    }
    for (int64_t d = 0; d < D; ++d)
      for (int r = 0; r < kRows; ++r) qt.p[d * kRows + r] = r < n ? v.query[(r0 + r) * D + d] : 0.f;
    for (int r = 0; r < kRows; ++r) {
      const int64_t b = r0 + r;
      zpos[r] = r < n ? (dot(v.query + b * D, v.pos_row[b], D) - v.pos_logq[b]) *
                            v.inv_temperature
                      : 0.f;
      cur[r] = r < n ? v.hit_start[b] : 0;
      end[r] = r < n ? v.hit_start[b + 1] : 0;
    }
  }

  // Starts every line of the candidate rows [j0, j0 + count). The rows are
  // scattered through the table, and at S = 8192 the columns' 2 MB outlive
  // L2: fetched on demand, each group of kCols rows stalled the dot
  // products at every new line (the forward's top stall in perf).
  static void prefetch_columns(const SoftmaxView& v, int64_t j0, int64_t count) {
    const int64_t j1 = imin(j0 + count, v.num_columns), bytes = v.dim * int64_t(sizeof(float));
    for (int64_t j = j0; j < j1; ++j) {
      const char* p = reinterpret_cast<const char*>(v.col_row[j]);
      for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
    }
  }

  // z[c][row] for the columns [t0, t0 + cols), masked columns at -inf; the
  // next group's rows are fetched while a group's dot products run.
  void logits(const SoftmaxView& v, int64_t t0, int cols) {
    int c = 0;
    if (t0 == 0) prefetch_columns(v, 0, kCols);
    for (; c + kCols <= cols; c += kCols) {
      prefetch_columns(v, t0 + c + kCols, kCols);
      step<kCols>(v, t0 + c, z.p + c * kRows);
    }
    for (; c < cols; ++c) step<1>(v, t0 + c, z.p + c * kRows);
    for (int r = 0; r < n; ++r)
      for (; cur[r] < end[r] && v.hit_col[cur[r]] < t0 + cols; ++cur[r])
        z.p[(v.hit_col[cur[r]] - t0) * kRows + r] = -std::numeric_limits<float>::infinity();
  }

  template <int NC>
  void step(const SoftmaxView& v, int64_t j0, float* out) const {
    const float* rows[NC];
    for (int c = 0; c < NC; ++c) rows[c] = v.col_row[j0 + c];
    vfloat a0[NC] = {}, a1[NC] = {};
    const float* q = qt.p;
    for (int64_t d = 0; d < v.dim; ++d, q += kRows) {
      const vfloat q0 = loadv(q), q1 = loadv(q + kLanes);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        const float x = rows[c][d];
        a0[c] += q0 * x;
        a1[c] += q1 * x;
      }
    }
    for (int c = 0; c < NC; ++c) {
      const float lq = v.col_logq[j0 + c];
      storev(out + c * kRows, (a0[c] - lq) * v.inv_temperature);
      storev(out + c * kRows + kLanes, (a1[c] - lq) * v.inv_temperature);
    }
  }
};

int64_t forward(const SoftmaxView& v, float* loss, float* lse, float* logits, int64_t begin,
                int64_t end) {
  const int64_t J = v.num_columns;
  Block blk(v.dim);
  int64_t first_bad = -1;
  for (int64_t block = begin; block < end; ++block) {
    blk.load(v, block);
    vfloat m0 = loadv(blk.zpos), m1 = loadv(blk.zpos + kLanes);
    vfloat s0 = splat(1.f), s1 = splat(1.f);
    for (int64_t t0 = 0; t0 < J; t0 += kTileCols) {
      const int cols = static_cast<int>(imin(kTileCols, J - t0));
      blk.logits(v, t0, cols);
      const float* z = blk.zs();
      if (logits != nullptr)
        for (int r = 0; r < blk.n; ++r) {
          float* out = logits + (blk.r0 + r) * (J + 1) + 1 + t0;
          for (int c = 0; c < cols; ++c) out[c] = z[c * kRows + r];
        }
      vfloat t0max = m0, t1max = m1;
      for (int c = 0; c < cols; ++c) {
        t0max = vmax(t0max, loadv(z + c * kRows));
        t1max = vmax(t1max, loadv(z + c * kRows + kLanes));
      }
      s0 *= vexp(m0 - t0max);
      s1 *= vexp(m1 - t1max);
      for (int c = 0; c < cols; ++c) {
        s0 += vexp(loadv(z + c * kRows) - t0max);
        s1 += vexp(loadv(z + c * kRows + kLanes) - t1max);
      }
      m0 = t0max;
      m1 = t1max;
    }
    for (int r = 0; r < blk.n; ++r) {
      const int64_t b = blk.r0 + r;
      const float m = r < kLanes ? m0[r] : m1[r - kLanes];
      const float s = r < kLanes ? s0[r] : s1[r - kLanes];
      lse[b] = m + std::log(s);
      loss[b] = lse[b] - blk.zpos[r];
      if (logits != nullptr) logits[b * (J + 1)] = blk.zpos[r];
      if (!std::isfinite(loss[b]) && first_bad < 0) first_bad = b;
    }
  }
  return first_bad;
}

// acc[0:D) = sum over the block's rows of dz[row] * q_row, added to dst.
inline void add_column_grad(const SoftmaxView& v, const Block& blk, const float* dz, float* dst) {
  const int64_t D = v.dim;
  const float* q = v.query + blk.r0 * D;
  int64_t d = 0;
  for (; d + kChunk <= D; d += kChunk) {
    vfloat acc[8];
    for (int k = 0; k < 8; ++k) acc[k] = loadv(dst + d + k * kLanes);
    for (int r = 0; r < blk.n; ++r) {
      const float w = dz[r];
      if (w == 0.f) continue;  // masked, or underflowed to 0
      for (int k = 0; k < 8; ++k) acc[k] += w * loadv(q + r * D + d + k * kLanes);
    }
    for (int k = 0; k < 8; ++k) storev(dst + d + k * kLanes, acc[k]);
  }
  if (d < D)
    for (int r = 0; r < blk.n; ++r)
      if (dz[r] != 0.f) axpy(dz[r], q + r * D + d, dst + d, D - d);
}

void backward(const SoftmaxView& v, const float* lse, const float* grad_loss, float* grad_query,
              float* dz_pos, float* partial, int64_t begin, int64_t end) {
  const int64_t J = v.num_columns, D = v.dim;
  Block blk(D);
  Scratch dqt_buf(D * kRows);
  float* const dqt = dqt_buf.p;
  alignas(64) float lse_l[kRows], g_l[kRows], dzpos[kRows];
  for (int64_t block = begin; block < end; ++block) {
    blk.load(v, block);
    for (int r = 0; r < kRows; ++r) {
      lse_l[r] = r < blk.n ? lse[blk.r0 + r] : 0.f;
      g_l[r] = r < blk.n ? grad_loss[blk.r0 + r] * v.inv_temperature : 0.f;
    }
    const vfloat l0 = loadv(lse_l), l1 = loadv(lse_l + kLanes);
    const vfloat g0 = loadv(g_l), g1 = loadv(g_l + kLanes);
    for (int64_t i = 0; i < D * kRows; ++i) dqt[i] = 0.f;
    for (int64_t t0 = 0; t0 < J; t0 += kTileCols) {
      const int cols = static_cast<int>(imin(kTileCols, J - t0));
      blk.logits(v, t0, cols);
      float* z = blk.zs();
      for (int c = 0; c < cols; ++c) {
        storev(z + c * kRows, g0 * vexp(loadv(z + c * kRows) - l0));
        storev(z + c * kRows + kLanes, g1 * vexp(loadv(z + c * kRows + kLanes) - l1));
      }
      // dq: the same broadcast pattern as the logits, kCols columns at a time.
      for (int c = 0; c < cols; c += kCols) {
        const int nc = static_cast<int>(imin(kCols, cols - c));
        const float* rows[kCols];
        vfloat w0[kCols], w1[kCols];
        for (int k = 0; k < kCols; ++k) {
          const bool live = k < nc;
          rows[k] = v.col_row[t0 + c + (live ? k : 0)];
          w0[k] = live ? loadv(z + (c + k) * kRows) : vfloat{};
          w1[k] = live ? loadv(z + (c + k) * kRows + kLanes) : vfloat{};
        }
        float* acc = dqt;
        for (int64_t d = 0; d < D; ++d, acc += kRows) {
          vfloat a0 = loadv(acc), a1 = loadv(acc + kLanes);
#pragma GCC unroll 8
          for (int k = 0; k < kCols; ++k) {
            const float x = rows[k][d];
            a0 += w0[k] * x;
            a1 += w1[k] * x;
          }
          storev(acc, a0);
          storev(acc + kLanes, a1);
        }
      }
      for (int c = 0; c < cols; ++c)
        add_column_grad(v, blk, z + c * kRows, partial + (t0 + c) * D);
    }
    // The positive column: dz_pos = g (p_pos - 1) / T.
    for (int r = 0; r < kRows; ++r) {
      float p = 0.f;
      if (r < blk.n) p = std::exp(blk.zpos[r] - lse_l[r]);
      dzpos[r] = g_l[r] * (p - 1.f);
    }
    for (int r = 0; r < blk.n; ++r) {
      const int64_t b = blk.r0 + r;
      float* gq = grad_query + b * D;
      for (int64_t d = 0; d < D; ++d) gq[d] = dqt[d * kRows + r];
      axpy(dzpos[r], v.pos_row[b], gq, D);
    }
    for (int r = 0; r < blk.n; ++r) dz_pos[blk.r0 + r] = dzpos[r];
  }
}

}  // namespace

const SoftmaxCpuKernels& kernels() {
  static const SoftmaxCpuKernels k = {kRows, &forward, &backward};
  return k;
}

}  // namespace YDNN_ISA_NS
}  // namespace softmax_detail
}  // namespace ydnn
