// What the two sampler ops (sampler_ops.cc, unigram_ops.cc) share.
//
// Stateful like TF's samplers: each kernel instance owns a Philox key (the
// seeds) and a draw counter that advances by num_tries per call, so every
// call draws fresh ids, and the same seeds replay the same sequence of calls
// on the CPU and on the GPU. seed = seed2 = 0 picks a random key, as TF does.
// Outputs: sampled_ids [S] int64, true_expected_count (true_ids' shape),
// sampled_expected_count [S] float, num_tries (scalar int64, host memory).
#pragma once

#include <mutex>
#include <random>

#include "sampler/sampler.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

// REGISTER_OP of a sampler: its own INPUTS (true_ids at index TRUE_IDS),
// the outputs every sampler has, num_sampled, its own ATTRS (may be empty),
// then unique, the seeds and the shape function. Stateful: seeds 0, 0 pick
// a random key per kernel, as TF's samplers do, and the draw counter lives
// in the kernel. (clang-format cannot read a chain spliced from macro
// arguments, hence the hand layout.)
// clang-format off
#define YDNN_SAMPLER_OP(NAME, TRUE_IDS, INPUTS, ATTRS)                     \
  REGISTER_OP(NAME)                                                        \
      INPUTS                                                               \
      .Output("sampled_ids: int64")                                        \
      .Output("true_expected_count: float")                                \
      .Output("sampled_expected_count: float")                             \
      .Output("num_tries: int64")                                          \
      .Attr("num_sampled: int")                                            \
      ATTRS                                                                \
      .Attr("unique: bool = true")                                         \
      .Attr("seed: int = 0")                                               \
      .Attr("seed2: int = 0")                                              \
      .SetIsStateful()                                                     \
      .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) { \
        return ::ydnn::tf::SamplerOutputShapes(c, TRUE_IDS);               \
      })
// clang-format on

// The sampler ops' output shapes: sampled ids [S], true_ids' shape (its
// input index `true_ids`), sampled expected counts [S], num_tries scalar.
inline absl::Status SamplerOutputShapes(::tensorflow::shape_inference::InferenceContext* c,
                                        int true_ids) {
  int64_t num_sampled;
  TF_RETURN_IF_ERROR(c->GetAttr("num_sampled", &num_sampled));
  c->set_output(0, c->Vector(num_sampled));
  c->set_output(1, c->input(true_ids));
  c->set_output(2, c->Vector(num_sampled));
  c->set_output(3, c->Scalar());
  return absl::OkStatus();
}

// One call of a sampler op: its place in the stream and its outputs.
struct SamplerCall {
  uint64_t counter;  // index of the call's first draw
  int64_t num_sampled;
  int64_t* sampled;
  const int64_t* true_ids;
  int64_t num_true;
  float* true_ec;
  float* sampled_ec;
};

class SamplerKernel : public ::tensorflow::OpKernel {
 public:
  explicit SamplerKernel(::tensorflow::OpKernelConstruction* c) : OpKernel(c) {
    int64_t seed, seed2;
    OP_REQUIRES_OK(c, c->GetAttr("seed", &seed));
    OP_REQUIRES_OK(c, c->GetAttr("seed2", &seed2));
    if (seed == 0 && seed2 == 0) {
      std::random_device rd;
      seed = (int64_t(rd()) << 32) | rd();
      seed2 = (int64_t(rd()) << 32) | rd();
    }
    key_ = static_cast<uint64_t>(seed);
    stream_ = static_cast<uint64_t>(seed2);
  }

 protected:
  // Fills what every sampler's args share: num_sampled and unique from the
  // attributes, the Philox key and stream from the seeds.
  template <typename Args>
  absl::Status InitArgs(::tensorflow::OpKernelConstruction* c, Args* a) const {
    TF_RETURN_IF_ERROR(c->GetAttr("num_sampled", &a->num_sampled));
    TF_RETURN_IF_ERROR(c->GetAttr("unique", &a->unique));
    a->key = key_;
    a->stream = stream_;
    return absl::OkStatus();
  }

  // Allocates the outputs for S ids and the shape of true_ids, then runs
  // sample(call, scratch, &num_tries) (an absl::Status) and advances the
  // counter by num_tries. One call at a time per kernel: the counter orders
  // the calls' draws.
  template <typename SampleFn>
  void run(::tensorflow::OpKernelContext* ctx, int64_t S, const ::tensorflow::Tensor& true_ids,
           SampleFn sample) {
    run_from(ctx, S, true_ids, nullptr, sample);
  }

  // The same call at a given place in the stream: draws first, first + 1,
  // ... (the op's `first_draw` input); the kernel's own counter is neither
  // read nor advanced, so a caller that keeps the position (a model saving
  // it with its weights) resumes the stream exactly, in O(1).
  template <typename SampleFn>
  void run_at(::tensorflow::OpKernelContext* ctx, int64_t S, const ::tensorflow::Tensor& true_ids,
              uint64_t first, SampleFn sample) {
    run_from(ctx, S, true_ids, &first, sample);
  }

 private:
  template <typename SampleFn>
  void run_from(::tensorflow::OpKernelContext* ctx, int64_t S, const ::tensorflow::Tensor& true_ids,
                const uint64_t* first, SampleFn sample) {
    using ::tensorflow::TensorShape;
    ::tensorflow::Tensor *sampled, *true_ec, *sampled_ec, *tries;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({S}), &sampled));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, true_ids.shape(), &true_ec));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({S}), &sampled_ec));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({}), &tries));
    std::lock_guard<std::mutex> lock(mu_);
    const SamplerCall call{first != nullptr ? *first : counter_,
                           S,
                           sampled->flat<int64_t>().data(),
                           true_ids.flat<int64_t>().data(),
                           true_ids.NumElements(),
                           true_ec->flat<float>().data(),
                           sampled_ec->flat<float>().data()};
    int64_t num_tries = 0;
    OP_REQUIRES_OK(ctx, sample(call, &scratch_, &num_tries));
    tries->scalar<int64_t>()() = num_tries;
    if (first == nullptr) counter_ += static_cast<uint64_t>(num_tries);
  }

  uint64_t key_ = 0, stream_ = 0;
  std::mutex mu_;  // guards counter_ and scratch_
  uint64_t counter_ = 0;
  SamplerScratch scratch_;
};

}  // namespace tf
}  // namespace ydnn
