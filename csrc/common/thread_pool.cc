// A small persistent thread pool for the TF-free (pybind11) entry points.
//
// Why not spawn threads per call: a pooled embedding lookup at B=1024 takes
// tens of microseconds, the same order as creating a thread. Workers sleep on
// a condition variable between calls. One job runs at a time; a second caller
// waits (Python callers hold no GIL while inside a kernel, so two Python
// threads may arrive together).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common/parallel.h"

namespace ydnn {
namespace {

class Pool {
 public:
  explicit Pool(int n) : size_(std::max(1, n)) {
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int size() const { return size_; }

  void Run(int64_t num_chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::lock_guard<std::mutex> job_lock(job_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &chunk_fn;
      num_chunks_ = num_chunks;
      next_.store(0);
      active_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    cv_.notify_all();
    Drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return active_ == 0; });
    job_ = nullptr;
  }

 private:
  void Drain() {
    for (int64_t c = next_.fetch_add(1); c < num_chunks_; c = next_.fetch_add(1)) (*job_)(c);
  }

  void Work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
      }
      Drain();
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) done_cv_.notify_one();
    }
  }

  const int size_;
  std::vector<std::thread> workers_;
  std::mutex job_mu_;  // serialises whole jobs
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t num_chunks_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int DefaultThreads() {
  if (const char* env = std::getenv("YDNN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& GlobalPool() {
  static Pool* pool = new Pool(DefaultThreads());  // never destroyed: exit-safe
  return *pool;
}

}  // namespace

int ThreadPoolParallelFor::num_threads() const { return GlobalPool().size(); }

void ThreadPoolParallelFor::operator()(int64_t n, int64_t cost_per_unit, const RangeFn& fn) const {
  if (n <= 0) return;
  Pool& pool = GlobalPool();
  // Aim for chunks of >= ~20k cycles so scheduling stays under a few percent,
  // and for ~4 chunks per thread so uneven bags still balance.
  const int64_t min_grain = std::max<int64_t>(1, 20000 / std::max<int64_t>(1, cost_per_unit));
  const int64_t by_threads = (n + 4 * pool.size() - 1) / (4 * pool.size());
  const int64_t grain = std::max(min_grain, by_threads);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || pool.size() == 1) {
    fn(0, n);
    return;
  }
  pool.Run(chunks, [&](int64_t c) { fn(c * grain, std::min(n, (c + 1) * grain)); });
}

}  // namespace ydnn
