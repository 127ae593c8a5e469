// Stable LSD radix sort by an unsigned integer key, for the ids of one call
// (the embedding_pool backward's occurrences, sampled softmax's columns).
//
// Why not std::sort: these are tens of thousands of keys per training step,
// and comparison sorting 8,192 sampled ids cost 0.3 ms of each sampled
// softmax plan. Radix sorting costs a few passes of n.
//
// Why four histograms: ids are Zipf-like, so one digit repeats often. With a
// single histogram every repeat waits on the previous increment of the same
// counter (a serial store-to-load chain, ~5 cycles a key); here the input is
// cut into kSegments contiguous runs, each with its own counts, and the loops
// step through the runs in turn, so the chains are independent. Run s's keys
// of a digit land after run s-1's: the sort stays stable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ydnn {

// Sorts *data by key(x) (an unsigned value below 2^key_bits), keeping the
// order of equal keys; *scratch is resized and used as the other buffer.
// Below 256 keys a comparison sort is faster than clearing and scanning the
// counts (1 us against 8 at 100 keys); from 2^32 keys on the 32-bit counts
// would overflow; both take std::stable_sort.
template <typename T, typename KeyFn>
void radix_sort(std::vector<T>* data, std::vector<T>* scratch, int key_bits, KeyFn key) {
  constexpr int kDigit = 11, kSegments = 4;
  constexpr size_t kBuckets = size_t(1) << kDigit;
  const size_t n = data->size(), run = n / kSegments;
  if (n < 256 || n >= (size_t(1) << 32)) {
    std::stable_sort(data->begin(), data->end(),
                     [&](const T& x, const T& y) { return key(x) < key(y); });
    return;
  }
  scratch->resize(n);
  size_t seg[kSegments + 1];
  for (int s = 0; s <= kSegments; ++s) seg[s] = n * s / kSegments;
  static thread_local std::vector<uint32_t> counts(kSegments * kBuckets);  // no per-call allocation
  uint32_t* c = counts.data();
  for (int shift = 0; shift < key_bits; shift += kDigit) {
    const T* src = data->data();
    T* dst = scratch->data();
    const auto digit = [&](const T& x) { return (uint64_t(key(x)) >> shift) & (kBuckets - 1); };
    std::fill(counts.begin(), counts.end(), 0u);
    for (size_t i = 0; i < run; ++i)
      for (int s = 0; s < kSegments; ++s) ++c[s * kBuckets + digit(src[seg[s] + i])];
    for (int s = 0; s < kSegments; ++s)
      for (size_t i = seg[s] + run; i < seg[s + 1]; ++i) ++c[s * kBuckets + digit(src[i])];
    uint32_t sum = 0;
    for (size_t d = 0; d < kBuckets; ++d)
      for (int s = 0; s < kSegments; ++s) {
        const uint32_t t = c[s * kBuckets + d];
        c[s * kBuckets + d] = sum;
        sum += t;
      }
    for (size_t i = 0; i < run; ++i)
      for (int s = 0; s < kSegments; ++s) {
        const T& x = src[seg[s] + i];
        dst[c[s * kBuckets + digit(x)]++] = x;
      }
    for (int s = 0; s < kSegments; ++s)
      for (size_t i = seg[s] + run; i < seg[s + 1]; ++i)
        dst[c[s * kBuckets + digit(src[i])]++] = src[i];
    data->swap(*scratch);
  }
}

// Bits needed for values in [0, n): 0 for n <= 1.
inline int bits_for(uint64_t n) {
  int b = 0;
  while (b < 64 && (uint64_t(1) << b) < n) ++b;
  return b;
}

}  // namespace ydnn
