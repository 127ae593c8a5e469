// Shape checks shared by every adapter of embedding_pool.
#include "embedding_pool/embedding_pool.h"

namespace ydnn {
Status embedding_pool_shapes(const PoolShapes& s, bool ragged, bool has_weights, PoolArgs* a) {
  if (s.table.size() != 2)
    return InvalidArgument("table must be 2-D [V, D], got shape ", ShapeStr(s.table));
  if (ragged) {
    if (s.ids.size() != 1 || s.row_info.size() != 1 || s.row_info[0] < 1)
      return InvalidArgument(
          "ragged ids must be values [N] with row_splits [B+1]; got ids of "
          "shape ",
          ShapeStr(s.ids), " and row_splits of shape ", ShapeStr(s.row_info));
  } else {
    if (s.ids.size() != 2)
      return InvalidArgument("padded ids must be 2-D [B, L], got shape ", ShapeStr(s.ids));
    if (s.row_info.size() != 1 || s.row_info[0] != s.ids[0])
      return InvalidArgument("lengths must have shape [", s.ids[0], "] to match ids of shape ",
                             ShapeStr(s.ids), ", got ", ShapeStr(s.row_info));
  }
  if (has_weights && s.weights != s.ids)
    return InvalidArgument("weights must have the shape of ids ", ShapeStr(s.ids), ", got ",
                           ShapeStr(s.weights));
  a->num_rows = s.table[0];
  a->dim = s.table[1];
  a->num_bags = ragged ? s.row_info[0] - 1 : s.ids[0];
  a->max_len = ragged ? 0 : s.ids[1];
  a->num_values = ragged ? s.ids[0] : s.ids[0] * s.ids[1];
  return Status::Ok();
}

}  // namespace ydnn
