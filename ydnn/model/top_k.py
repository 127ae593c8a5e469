"""Full-catalog top-k retrieval: every item scored, with exclusions.

Two paths give the same ids in the same order: the fused `topk_scores`
kernel (the table read once, no `[B, V]` scores) and stock TF's matmul +
`tf.math.top_k` over chunks of the catalog.
"""

import tensorflow as tf

from ydnn.layers._args import guarded, int_arg

# Rows of the item table scored per step: bounds the [B, chunk] score block
# (B=1024 -> 64 MB at 16384) whatever the catalog size.
DEFAULT_CHUNK = 16384


def candidate_rows(table, start, stop, post=None):
    """Rows `[start, stop)` of the item table as float32, `post` applied.

    Reads with `ResourceGather` (`sparse_read`) so a copy-on-read variable is
    not copied whole for every chunk.
    """
    ids = tf.range(start, stop, dtype=tf.int64)
    rows = table.sparse_read(ids) if hasattr(table, "sparse_read") else tf.gather(table, ids)
    rows = tf.cast(rows, tf.float32)
    return post(rows) if post is not None else rows


def top_k_items(
    query, table, k, post=None, min_id=0, exclude=None, chunk=DEFAULT_CHUNK, fused=True
):
    """The `k` best items of the whole catalog for each query row.

    Args:
        query: `[B, D]` float32 query embeddings.
        table: `[V, D]` item table (variable or tensor).
        k: items per row, an int with `1 <= k <= V - min_id`.
        post: optional transform of the candidate rows (e.g. L2 normalisation).
        min_id: ids below it are never returned (padding, reserved ids).
        exclude: optional `tf.RaggedTensor` `[B, None]` (or dense `[B, L]`
            whose 0 entries are padding) of ids each row must not get, e.g.
            the items already in its history.
        chunk: catalog rows scored per step (stock path).
        fused: use ydnn's `topk_scores` kernel; False scores chunks with
            stock TF ops (matmul + `tf.math.top_k`).

    Returns:
        `(scores [B, k] float32, ids [B, k] int64)`, best first, equal
        scores by lower id. A row left with fewer than `k` items after its
        exclusions ends in ids -1 with scores -inf.

    Raises:
        ValueError: `k`, `min_id` or `chunk` not an int or out of range; a
            query that is not a float `[B, D]` matrix of the table's width.
        tf.errors.InvalidArgumentError: a NaN or infinite query value (it
            would score every item NaN and return ids -1), naming `query`,
            its shape and where the bad values are.
    """
    V, D = int(table.shape[0]), int(table.shape[1])
    min_id = int_arg("min_id", min_id, 0, V - 1)
    k = int_arg("k", k)
    if not 1 <= k <= V - min_id:
        raise ValueError(
            f"k must be in [1, {V - min_id}] (the catalog has {V} ids, "
            f"{min_id} excluded below min_id), got {k}"
        )
    chunk = int_arg("chunk", chunk, 1)
    # A `post` layer may change the width; the matmul checks it then.
    query = _checked_query(query, D if post is None else None)
    batch = tf.shape(query)[0]
    if exclude is not None and not isinstance(exclude, tf.RaggedTensor):
        exclude = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(exclude), padding=0)
    if fused:
        from ydnn_kernels import topk_scores

        # Without `post` the variable is read in place; with it the whole
        # transformed table is formed once (the stock path forms it a chunk
        # at a time).
        rows = table if post is None else candidate_rows(table, 0, V, post)
        return topk_scores(query, rows, k, exclude, min_id)
    if exclude is not None:
        ex_rows = tf.cast(exclude.value_rowids(), tf.int64)
        ex_ids = tf.cast(exclude.values, tf.int64)
    neg_inf = tf.constant(-float("inf"), tf.float32)
    best_scores = tf.fill([batch, k], neg_inf)
    best_ids = tf.fill([batch, k], tf.constant(-1, tf.int64))
    # At most 64 steps: the loop unrolls into the graph.
    chunk = max(chunk, -(-(V - min_id) // 64))
    for start in range(min_id, V, chunk):
        stop = min(V, start + chunk)
        scores = tf.matmul(query, candidate_rows(table, start, stop, post), transpose_b=True)
        if exclude is not None:
            inside = (ex_ids >= start) & (ex_ids < stop)
            idx = tf.stack(
                [tf.boolean_mask(ex_rows, inside), tf.boolean_mask(ex_ids, inside) - start], axis=1
            )
            scores = tf.tensor_scatter_nd_update(scores, idx, tf.fill(tf.shape(idx)[:1], neg_inf))
        n = min(k, stop - start)
        s, i = tf.math.top_k(scores, k=n)
        merged_s = tf.concat([best_scores, s], axis=1)
        merged_i = tf.concat([best_ids, tf.cast(i, tf.int64) + start], axis=1)
        best_scores, pos = tf.math.top_k(merged_s, k=k)
        best_ids = tf.gather(merged_i, pos, batch_dims=1)
    # Slots no allowed item could fill hold excluded ones at -inf: no item.
    best_ids = tf.where(best_scores > -float("inf"), best_ids, tf.constant(-1, tf.int64))
    return best_scores, best_ids


def _checked_query(query, width=None):
    """`query` as float32 `[B, width]` (any width if None); asserts its values are finite.

    Retrieval is not the training step, so the check's reduction is cheap
    next to the `[B, V]` scoring it guards.
    """
    query = tf.convert_to_tensor(query)
    if not query.dtype.is_floating:
        raise ValueError(
            f"query must be float [B, {width}] embeddings, got {query.dtype.name} "
            f"of shape {query.shape}"
        )
    if query.shape.rank != 2 or (width is not None and query.shape[1] not in (None, width)):
        raise ValueError(
            f"query must be [B, {width or 'D'}] (the item table's width), got shape {query.shape}"
        )
    query = tf.cast(query, tf.float32)
    bad = tf.logical_not(tf.math.is_finite(query))
    return guarded(
        tf.logical_not(tf.reduce_any(bad)),
        [
            "query must be finite (NaN or inf scores every item NaN); shape",
            tf.shape(query),
            "bad at [row, col]",
            tf.where(bad),
            "values",
            tf.boolean_mask(query, bad),
        ],
        query,
    )
