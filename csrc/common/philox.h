// Philox4x32-10 (Salmon et al., SC'11), the counter-based generator behind
// TF's random ops, on host and device.
//
// Why counter-based: draw i of a call is a pure function of (key, counter
// base + i), so a CPU thread pool and a GPU grid produce the same stream for
// the same seed, in any order, and a call's state is one 64-bit counter.
#pragma once

#include <cstdint>

#include "common/types.h"

namespace ydnn {

struct Philox4x32 {
  uint32_t x[4];
};

YDNN_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// One block: 4 x 32 random bits from a 128-bit counter and a 64-bit key.
YDNN_HD Philox4x32 philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

// A double in [0, 1) from 64 random bits (53 of them used).
YDNN_HD double bits_to_unit_double(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32 | lo) >> 11;
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);  // 2^-53
}

// Draw i of a stream: two draws per Philox block.
YDNN_HD double philox_uniform(uint64_t key, uint64_t stream, uint64_t i) {
  const Philox4x32 r = philox4x32_10(i >> 1, stream, key);
  return (i & 1) ? bits_to_unit_double(r.x[2], r.x[3]) : bits_to_unit_double(r.x[0], r.x[1]);
}

}  // namespace ydnn
