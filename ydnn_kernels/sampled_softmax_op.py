"""`sampled_softmax_loss`: the fused sampled softmax cross-entropy as a TensorFlow op."""

import math
from typing import Any

import tensorflow as tf

from ydnn_kernels._args import bool_scalar, compute_dtype_arg, float_scalar
from ydnn_kernels._loader import load_tf_ops
from ydnn_kernels._tables import table_dense_shape, table_input
from ydnn_kernels._types import TensorLike

_ops = load_tf_ops()

ID_DTYPES = (tf.int32, tf.int64)


def sampled_softmax_loss(
    query: TensorLike,
    table: TensorLike,
    positive_ids: TensorLike,
    sampled_ids: TensorLike,
    true_expected_count: TensorLike,
    sampled_expected_count: TensorLike,
    temperature: float = 1.0,
    remove_accidental_hits: bool = True,
    in_batch_negatives: bool = False,
    return_logits: bool = False,
    compute_dtype: str = "float32",
    name: str | None = None,
) -> Any:
    """Sampled softmax cross-entropy with logQ correction, in one fused op.

    For row `b` with query `q_b`, positive `p_b` and the shared candidates
    `c_j` (the sampled ids; with `in_batch_negatives`, first every row's
    positive, then the sampled ids), in this order:

    1. logits `z = q_b . table[c]` for the positive and every candidate;
    2. minus `log(expected count)`: `true_expected_count[b]` for the
       positive, `sampled_expected_count[j]` for a sampled id, and
       `true_expected_count[k]` for the in-batch candidate taken from row `k`;
    3. a candidate equal to `p_b` gets probability exactly 0 (its logit is
       `-inf`): always for in-batch candidates (the row's own positive and
       its duplicates), and for sampled ones when `remove_accidental_hits`;
    4. divided by `temperature`;
    5. `loss_b = logsumexp(z) - z_positive`.

    The candidate rows are read from `table` in place (a `tf.Variable` is
    never copied, and no `[S, D]` gather is made); the logsumexp is computed
    online over tiles of candidates; no `[B, 1 + S]` tensor is kept for the
    backward, which recomputes the logits. Gradients: dense for `query`, a
    `tf.IndexedSlices` over the sorted unique ids of positives and sampled
    ids for `table` (duplicates summed), none for ids and counts.

    `compute_dtype="bfloat16"` computes the products as Keras's
    `mixed_bfloat16` policy computes a matmul: their inputs (query and
    candidate rows for the logits; in the backward also the logits'
    gradient) are rounded to bfloat16, to nearest even, and the sums are
    float32. The logsumexp and the loss stay float32, and the gradients keep
    their dtypes (float32 for the query, the table's for its rows). On CPUs
    with AMX-BF16 or AVX512_BF16 the products run on those; elsewhere the
    float32 loops compute the same products of rounded inputs.

    With `temperature=1`, `remove_accidental_hits=True` and no in-batch
    negatives this equals `tf.nn.sampled_softmax_loss(weights=table,
    biases=0, labels=positive_ids[:, None], inputs=query, sampled_values=
    (sampled_ids, true_expected_count[:, None], sampled_expected_count))`.

    Args:
        query: `[B, D]` float32 (or bfloat16 with `compute_dtype="bfloat16"`;
            its gradient is then bfloat16 too).
        table: `[V, D]` float32, float16 or bfloat16 tensor or variable (the
            item embedding table itself). 16-bit tables compute in float32.
        positive_ids: `[B]` int32 or int64 ids in `[0, V)`.
        sampled_ids: `[S]` int32 or int64 ids in `[0, V)`, shared by the batch.
        true_expected_count: `[B]` (or `[B, 1]`) float32, positive and finite.
        sampled_expected_count: `[S]` float32, positive and finite.
        temperature: positive, finite real number dividing the corrected
            logits (Python or NumPy scalar: `np.float32(0.1)` is fine).
        remove_accidental_hits: mask sampled ids equal to the row's positive.
        in_batch_negatives: also score each row against the other rows'
            positives (the `[B, 1 + B + S]` layout).
        return_logits: also return the corrected, masked, scaled logits
            `[B, 1 + J]` (column 0 the positive) for metrics; they carry no
            gradient.
        compute_dtype: `"float32"` (the default: float32 products) or
            `"bfloat16"` (bfloat16 inputs, float32 sums; see above).
        name: optional op name.

    Returns:
        The per-example loss `[B]` float32, or `(loss, logits)` with
        `return_logits`.

    Raises:
        ValueError: for bad dtypes or ranks, a temperature that is not a
            positive finite number, a flag that is not a bool, a
            compute_dtype other than "float32" and "bfloat16".
        tf.errors.InvalidArgumentError: ids outside `[0, V)`, non-positive
            or non-finite expected counts, mismatched shapes, or a loss that
            is not finite (logits beyond float32), raised by the op.

    Example:

    ```python
    sampled, true_ec, sampled_ec = ydnn_kernels.log_uniform_sample(
        100, max_id=V - 1, min_id=1, true_ids=positives)
    loss = ydnn_kernels.sampled_softmax_loss(
        query, item_table, positives, sampled, true_ec, sampled_ec, temperature=0.1)
    ```
    """
    temperature = check_temperature("temperature", temperature)
    compute_dtype = compute_dtype_arg(compute_dtype)
    flags = {
        arg: bool_scalar(arg, value)
        for arg, value in (
            ("remove_accidental_hits", remove_accidental_hits),
            ("in_batch_negatives", in_batch_negatives),
            ("return_logits", return_logits),
        )
    }
    with tf.name_scope(name or "sampled_softmax_loss"):
        var, table, dtype = table_input(table)
        query = tf.convert_to_tensor(query)
        if query.dtype == tf.bfloat16 and compute_dtype == "bfloat16":
            query = tf.cast(query, tf.float32)  # exact: the op rounds to bfloat16 anyway
        if query.dtype != tf.float32:
            raise ValueError(
                f"query must be float32, got {query.dtype.name} (a bfloat16 query is "
                f"taken with compute_dtype='bfloat16')"
            )
        if query.shape.rank is not None and query.shape.rank != 2:
            raise ValueError(f"query must be 2-D [B, D], got shape {query.shape}")
        positive_ids = _ids("positive_ids", positive_ids)
        sampled_ids = _ids("sampled_ids", sampled_ids)
        true_ec = _counts("true_expected_count", true_expected_count)
        sampled_ec = _counts("sampled_expected_count", sampled_expected_count)
        attrs = dict(temperature=temperature, compute_dtype=compute_dtype, **flags)
        if var is not None:
            loss, _, logits = _ops.ydnn_sampled_softmax_loss_resource(
                query, var.handle, positive_ids, sampled_ids, true_ec, sampled_ec, T=dtype, **attrs
            )
        else:
            loss, _, logits = _ops.ydnn_sampled_softmax_loss(
                query, table, positive_ids, sampled_ids, true_ec, sampled_ec, **attrs
            )
        # The logits are for metrics: stop_gradient makes that structural,
        # so the gradient function only ever sees the loss's.
        return (loss, tf.stop_gradient(logits)) if return_logits else loss


def check_temperature(arg: str, value: Any) -> float:
    """`value` as a positive, finite Python float (NumPy scalars accepted).

    Raises:
        ValueError: naming `arg` and the value, for a bool, a non-number,
            zero, a negative number, NaN or infinity.
    """
    value_f = float_scalar(arg, value)
    if not value_f > 0 or not math.isfinite(value_f):
        raise ValueError(f"{arg} must be positive and finite, got {value_f!r}")
    return value_f


def _ids(arg, ids):
    ids = tf.convert_to_tensor(ids)
    if ids.dtype not in ID_DTYPES:
        raise ValueError(f"{arg} must be int32 or int64, got {ids.dtype.name}")
    if ids.shape.rank is not None and ids.shape.rank != 1:
        raise ValueError(f"{arg} must be 1-D, got shape {ids.shape}")
    return ids


def _counts(arg, counts):
    counts = tf.cast(counts, tf.float32)
    if counts.shape.rank == 2 and counts.shape[1] == 1:  # TF samplers give [B, num_true]
        counts = tf.reshape(counts, [-1])
    if counts.shape.rank is not None and counts.shape.rank != 1:
        raise ValueError(f"{arg} must be 1-D (or [B, 1]), got shape {counts.shape}")
    return counts


def _softmax_grad(op, grad_loss, grad_op):
    # lse never leaves the wrapper and logits leave it through stop_gradient,
    # so only the loss carries a gradient.
    attrs = {
        k: op.get_attr(k)
        for k in ("temperature", "remove_accidental_hits", "in_batch_negatives", "compute_dtype")
    }
    if op.inputs[1].dtype == tf.resource:
        attrs["T"] = op.get_attr("T")
    grad_query, unique_ids, rows = grad_op(
        *op.inputs[:6], op.outputs[1], tf.convert_to_tensor(grad_loss), **attrs
    )
    table_grad = tf.IndexedSlices(rows, unique_ids, table_dense_shape(op.inputs[1]))
    return [grad_query, table_grad, None, None, None, None]


@tf.RegisterGradient("YdnnSampledSoftmaxLoss")
def _sampled_softmax_grad(op, grad_loss, _grad_lse, _grad_logits):
    return _softmax_grad(op, grad_loss, _ops.ydnn_sampled_softmax_loss_grad)


@tf.RegisterGradient("YdnnSampledSoftmaxLossResource")
def _sampled_softmax_resource_grad(op, grad_loss, _grad_lse, _grad_logits):
    return _softmax_grad(op, grad_loss, _ops.ydnn_sampled_softmax_loss_resource_grad)
