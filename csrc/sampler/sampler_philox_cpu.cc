// Batches of Philox4x32-10 random bits on the CPU: the draws' shared first
// step (philox_bits64_cpu in sampler.h), dispatched to the AVX2 path when the
// CPU has it (sampler_philox_avx2.cc), else the scalar loop here. Both give
// philox_bits64 bit for bit, so the stream is the GPU's.
#include "common/cpu_features.h"
#include "sampler/sampler.h"

namespace ydnn {

void philox_bits64_avx2(uint64_t key, uint64_t stream, uint64_t first, int64_t n, uint64_t* bits);

namespace {

// Two draws per block: a batch starting at an odd index (or ending at an
// even one) uses half a block at that end.
void philox_bits64_scalar(uint64_t key, uint64_t stream, uint64_t first, int64_t n,
                          uint64_t* bits) {
  for (int64_t t = 0; t < n;) {
    const uint64_t i = first + static_cast<uint64_t>(t);
    const Philox4x32 r = philox4x32_10(i >> 1, stream, key);
    if ((i & 1) == 0) {
      bits[t++] = uint64_t{r.x[0]} << 32 | r.x[1];
      if (t == n) break;
    }
    bits[t++] = uint64_t{r.x[2]} << 32 | r.x[3];
  }
}

}  // namespace

void philox_bits64_cpu(uint64_t key, uint64_t stream, uint64_t first, int64_t n, uint64_t* bits) {
  static const bool avx2 = cpu_isa() >= CpuIsa::kAvx2;
  if (avx2) return philox_bits64_avx2(key, stream, first, n, bits);
  philox_bits64_scalar(key, stream, first, n, bits);
}

}  // namespace ydnn
