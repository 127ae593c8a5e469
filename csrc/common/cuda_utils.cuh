// Host and launch helpers every CUDA translation unit of ydnn uses: CUDA
// errors as Status, the one small device-to-host read, grid sizes and the
// grid-stride loop.
//
// Everything is an inline function, a template or a macro in ydnn::, so a
// .cu gets only what it uses and no two translation units clash.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/status.h"

// i runs over [0, n) in steps of the whole grid, so any grid covers any n
// (the launch sizes below cap the grid).
#define YDNN_CUDA_FOR_EACH(i, n)                                            \
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

// Returns the Internal Status of a failed CUDA call from the enclosing
// function; `what` names the call in the message.
#define YDNN_CUDA(expr, what) YDNN_RETURN_IF_ERROR(::ydnn::cuda_ok((expr), what))

namespace ydnn {

inline Status cuda_ok(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal("CUDA error in ", what, ": ", cudaGetErrorString(err));
}

// A small device-to-host read in stream order (a count, an error word): the
// ops' only host syncs.
inline Status read_back(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  YDNN_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
  return cuda_ok(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of `block` threads for `threads` threads of work, at least one and
// at most max_blocks: kernels grid-stride past the cap, which is high
// enough to fill any GPU.
inline int blocks_for(int64_t threads, int block, int64_t max_blocks = int64_t{1} << 16) {
  return static_cast<int>(std::clamp<int64_t>(cdiv(threads, block), 1, max_blocks));
}

// A type as a value, for dispatch lambdas: f(Tag<float>{}).
template <typename T>
struct Tag {
  using type = T;
};

}  // namespace ydnn
