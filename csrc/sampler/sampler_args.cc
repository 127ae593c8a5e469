// Argument checks of the log-uniform sampler (sampler.h): every message
// names the argument and its value, on every path (TF op, pybind, CUDA).
#include <limits>

#include "sampler/sampler.h"

namespace ydnn {

Status log_uniform_check(const LogUniformArgs& a) {
  if (a.num_sampled < 1) return InvalidArgument("num_sampled must be >= 1, got ", a.num_sampled);
  if (a.min_id < 0) return InvalidArgument("min_id must be >= 0, got ", a.min_id);
  if (a.max_id < a.min_id)
    return InvalidArgument("max_id must be >= min_id, got max_id = ", a.max_id,
                           " and min_id = ", a.min_id);
  if (a.max_id == std::numeric_limits<int64_t>::max())
    return InvalidArgument("max_id must be < 2^63 - 1, got ", a.max_id);
  if (a.unique && a.num_sampled > a.range())
    return InvalidArgument("num_sampled = ", a.num_sampled, " exceeds the ", a.range(),
                           " ids in [min_id, max_id] = [", a.min_id, ", ", a.max_id,
                           "]: unique sampling needs num_sampled <= max_id - min_id + 1");
  return Status::Ok();
}

}  // namespace ydnn
