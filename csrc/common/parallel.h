// ParallelFor: the one threading interface the CPU kernels see.
//
// Kernels call parallel(n, cost_per_unit, fn) and fn(begin, end) runs over
// disjoint ranges covering [0, n). Under TensorFlow the adapter forwards to the
// op's intra-op thread pool (so ops share TF's threads and honour its
// inter/intra-op settings); from Python, ThreadPoolParallelFor runs on a small
// persistent pool of our own. cost_per_unit is a rough cycle count per item,
// as in tsl::thread::ThreadPool::ParallelFor, used to pick a grain size.
#pragma once

#include <cstdint>
#include <functional>

namespace ydnn {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

class ParallelFor {
 public:
  virtual ~ParallelFor() = default;
  virtual void operator()(int64_t n, int64_t cost_per_unit, const RangeFn& fn) const = 0;
  virtual int num_threads() const = 0;
};

// A process-wide pool of std::threads, created on first use, sized by
// YDNN_NUM_THREADS or std::thread::hardware_concurrency().
class ThreadPoolParallelFor final : public ParallelFor {
 public:
  void operator()(int64_t n, int64_t cost_per_unit, const RangeFn& fn) const override;
  int num_threads() const override;
};

}  // namespace ydnn
