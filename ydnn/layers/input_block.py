"""`InputBlock`: schema features to one dense vector per example."""

import keras
import tensorflow as tf

import ydnn_kernels
from ydnn.layers._args import choice_arg, dims_arg, guarded, int_arg, one_per_example
from ydnn.layers.embedding_tables import (
    TABLE_DTYPES,
    add_table,
    infer_embedding_dim,
    table_initializer,
)
from ydnn.schema import Schema, Tags
from ydnn_kernels import stock
from ydnn_kernels.embedding_pool_arrays import COMBINERS

OPS = ("fused", "stock")
NOT_INPUTS = (
    Tags.TARGET,
    Tags.REGRESSION,
    Tags.BINARY_CLASSIFICATION,
    Tags.MULTI_CLASS_CLASSIFICATION,
)


@keras.saving.register_keras_serializable(package="ydnn")
class InputBlock(keras.layers.Layer):
    """Embeds, pools and concatenates the schema's input features.

    * list categorical features (histories, bags of tags) are pooled with
      the fused `ydnn_kernels.embedding_pool` (`combiner`, mean by default),
      padding excluded for padded and ragged input alike: a padded `[B, L]`
      list must put its real ids first and fill the rest with `padding_id`
      (the layout of `ydnn.data` and of Merlin's dataloader);
    * scalar categorical features are embedded (a lookup with a sparse
      gradient);
    * continuous features are concatenated as they are (float32); a list of
      numbers (Merlin's sequence continuous features: an item's age at each
      event, ...) is pooled with `combiner` over its real values, which needs
      it ragged (a padded 0.0 cannot be told from a real one).

    Columns tagged as targets are skipped. Features whose `int_domain` has
    the same name share one table (as Merlin). A table has
    `int_domain.max + 1` rows; its width is, in order: `embedding_dims[table
    name]`, the column's `embedding_dim` property, Merlin's inferred size.

    Args:
        schema: `ydnn.Schema` of the input columns.
        embedding_dims: optional `{table or column name: width}`, positive
            ints (0 is an error, not "use the default").
        combiner: pooling of list features: `"mean"`, `"sum"` or `"sqrtn"`.
        ops: `"fused"` (ydnn_kernels) or `"stock"` (plain TF ops), same maths.
        padding_id: the id that fills padded lists (an int).
        embeddings_initializer: initializer of the tables; default
            `table_initializer(width)`, a truncated normal of standard
            deviation `1/sqrt(width)`.
        table_dtype: storage of the tables: `"float32"`, `"bfloat16"` or
            `"float16"` (half the memory and bytes moved). The kernels read a
            16-bit table in place and accumulate in float32; the pooled
            output is cast to the layer's compute dtype; the ydnn
            optimizers keep float32 slots and round updates stochastically.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: no usable feature, a categorical column without
            int_domain, a bad combiner/ops/padding_id/width (naming it and
            the value), missing, mistyped or misshapen features at call time
            (naming the feature).

    Example:
    ```python
    block = InputBlock(data.schema(), embedding_dims={"item_id": 64})
    x = block({"item_id": history})      # [B, 64]
    ```
    """

    def __init__(
        self,
        schema,
        embedding_dims=None,
        combiner="mean",
        ops="fused",
        padding_id=0,
        embeddings_initializer=None,
        table_dtype="float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(schema, dict):
            schema = Schema.from_dict(schema)
        if not isinstance(schema, Schema):
            raise ValueError(
                f"InputBlock: schema must be a ydnn.Schema, got {type(schema).__name__}"
            )
        self.schema = schema
        self.embedding_dims = dims_arg("embedding_dims", embedding_dims, prefix="InputBlock")
        self.combiner = choice_arg("combiner", combiner, COMBINERS, prefix="InputBlock")
        self.ops = choice_arg("ops", ops, OPS, prefix="InputBlock")
        self.padding_id = int_arg("padding_id", padding_id, prefix="InputBlock")
        self.table_dtype = choice_arg("table_dtype", table_dtype, TABLE_DTYPES, prefix="InputBlock")
        self.embeddings_initializer = (
            None
            if embeddings_initializer is None
            else keras.initializers.get(embeddings_initializer)
        )
        inputs = schema.remove_by_tag(*NOT_INPUTS)
        self.categorical = [c for c in inputs if c.int_domain is not None or c.is_categorical]
        self.continuous = [c for c in inputs if c.is_continuous and c not in self.categorical]
        if not self.categorical and not self.continuous:
            raise ValueError(
                f"InputBlock: the schema has no categorical or continuous input "
                f"column; columns: {schema.column_names}"
            )
        self.table_specs = {}
        for col in self.categorical:
            rows = col.vocabulary_size  # raises, naming the column, without int_domain
            name = col.table_name
            dim = (
                self.embedding_dims.get(name)
                or self.embedding_dims.get(col.name)
                or col.embedding_dim
                or infer_embedding_dim(rows)
            )
            prev = self.table_specs.get(name)
            if prev is not None and prev != (rows, dim):
                raise ValueError(
                    f"InputBlock: columns sharing table {name!r} disagree on its "
                    f"shape: {prev} vs {(rows, dim)}"
                )
            self.table_specs[name] = (rows, int(dim))
        self.tables = {}

    def build(self, input_shape=None):
        for name, (rows, dim) in self.table_specs.items():
            self.tables[name] = add_table(
                self,
                f"embeddings_{name}",
                rows,
                dim,
                self.embeddings_initializer or table_initializer(dim),
                self.table_dtype,
            )
        self.built = True

    def table(self, name):
        """The embedding table variable named `name` (a table or column name)."""
        if not self.built:
            self.build()
        if name not in self.tables:
            raise KeyError(f"InputBlock has no table {name!r}; tables: {sorted(self.tables)}")
        return self.tables[name]

    @property
    def output_dim(self):
        return sum(self.table_specs[c.table_name][1] for c in self.categorical) + len(
            self.continuous
        )

    def call(self, inputs):
        if not isinstance(inputs, dict):
            raise ValueError(
                f"InputBlock: inputs must be a dict of features, got {type(inputs).__name__}"
            )
        parts = []
        for col in self.categorical:
            parts.append(self._embed(col, self._feature(inputs, col.name)))
        for col in self.continuous:
            parts.append(self._continuous(col, self._feature(inputs, col.name)))
        # 16-bit tables pool to their dtype, continuous features to float32:
        # all go out in the compute dtype (float32, or bfloat16 under mixed_bfloat16).
        parts = [
            x if x.dtype == self.compute_dtype else tf.cast(x, self.compute_dtype) for x in parts
        ]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)

    def _continuous(self, col, x):
        """`[B, 1]` float32: the value, or a list of values pooled by `combiner`."""
        ragged = isinstance(x, tf.RaggedTensor)
        dtype = x.dtype if ragged else tf.convert_to_tensor(x).dtype
        if not (dtype.is_floating or dtype.is_integer) or dtype == tf.bool:
            raise ValueError(
                f"InputBlock: continuous feature {col.name!r} must be numbers, got {dtype.name}"
            )
        if not ragged:
            x = tf.convert_to_tensor(x)
            if col.is_list and x.shape.rank != 1:
                raise ValueError(
                    f"InputBlock: continuous list feature {col.name!r} came padded, shape "
                    f"{x.shape}; its padding cannot be told from a real 0.0, so pass it as a "
                    f"tf.RaggedTensor (ydnn.Loader's default) to pool the real values"
                )
            return one_per_example(
                tf.cast(x, tf.float32), f"InputBlock: continuous feature {col.name}"
            )
        if x.ragged_rank != 1:
            raise ValueError(
                f"InputBlock: continuous list feature {col.name!r} must be ragged "
                f"[B, None], got ragged rank {x.ragged_rank}"
            )
        # A sequence of numbers (an item's age at each event, ...) pools like
        # the ids beside it: the sum, mean or sqrtn of the row's real values,
        # 0 for an empty row.
        total = tf.reduce_sum(tf.cast(x, tf.float32), axis=1)
        count = tf.cast(x.row_lengths(), tf.float32)
        if self.combiner == "mean":
            total = tf.math.divide_no_nan(total, count)
        elif self.combiner == "sqrtn":
            total = tf.math.divide_no_nan(total, tf.sqrt(count))
        return total[:, None]

    def _feature(self, inputs, name):
        if name not in inputs:
            raise ValueError(f"InputBlock: missing feature {name!r}; got {sorted(inputs)}")
        return inputs[name]

    def _embed(self, col, ids):
        table = self.table(col.table_name)
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.with_values(self._check_ids(col, ids.values))
            if self.ops == "fused":
                return ydnn_kernels.embedding_pool(table, ids, combiner=self.combiner)
            return stock.embedding_pool_lookup_sparse(table, ids, combiner=self.combiner)
        ids = self._check_ids(col, tf.convert_to_tensor(ids))
        if not col.is_list or (ids.shape.rank is not None and ids.shape.rank <= 1):
            ids = one_per_example(ids, f"InputBlock: feature {col.name} (one id per example)")
            if self.ops == "fused":
                return ydnn_kernels.embedding_pool(table, ids, combiner="sum")
            return tf.gather(table, ids[:, 0])
        if ids.shape.rank is None:  # relaxed by a retrace: checked when the step runs
            # A reshape, not tf.ensure_shape: Grappler evaluates the latter
            # from the input's shape before the Assert can name the feature.
            ids = guarded(
                tf.equal(tf.rank(ids), 2),
                [f"InputBlock: list feature {col.name} must be [B, L]; got shape", tf.shape(ids)],
                ids,
            )
            ids = tf.reshape(ids, tf.stack([tf.shape(ids)[0], -1]))
        if ids.shape.rank != 2:
            raise ValueError(
                f"InputBlock: feature {col.name!r} must be [B] or [B, L], got shape {ids.shape}"
            )
        real = tf.not_equal(ids, tf.cast(self.padding_id, ids.dtype))
        lengths = tf.reduce_sum(tf.cast(real, tf.int64), axis=1)
        # Trailing padding only: a real id after a pad would be silently dropped.
        trailing = tf.logical_not(tf.reduce_any(real[:, 1:] & tf.logical_not(real[:, :-1])))
        lengths = guarded(
            trailing,
            [
                f"InputBlock: padded list {col.name!r} has a real id "
                f"after padding id {self.padding_id}; put the real ids "
                "first or pass a tf.RaggedTensor"
            ],
            lengths,
        )
        if self.ops == "fused":
            return ydnn_kernels.embedding_pool(table, ids, lengths, combiner=self.combiner)
        return stock.embedding_pool_gather(table, ids, lengths, combiner=self.combiner)

    def _check_ids(self, col, ids):
        if not ids.dtype.is_integer:
            raise ValueError(
                f"InputBlock: feature {col.name!r} must hold integer ids, got {ids.dtype.name}"
            )
        ids = ids if ids.dtype in (tf.int32, tf.int64) else tf.cast(ids, tf.int64)
        if self.ops == "stock":
            # tf.gather returns zeros for an id out of range on the GPU; the
            # fused kernel checks its ids itself. Padding is never gathered.
            rows = self.table_specs[col.table_name][0]
            bad = ((ids < 0) | (ids >= rows)) & tf.not_equal(ids, self.padding_id)
            ids = guarded(
                tf.logical_not(tf.reduce_any(bad)),
                [
                    f"InputBlock: ids of feature {col.name} must be in [0, {rows}); bad at",
                    tf.where(bad),
                    "values",
                    tf.boolean_mask(ids, bad),
                ],
                ids,
            )
        return ids

    def compute_output_shape(self, input_shape):
        return (None, self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            schema=self.schema.to_dict(),
            embedding_dims=dict(self.embedding_dims),
            combiner=self.combiner,
            ops=self.ops,
            padding_id=self.padding_id,
            table_dtype=self.table_dtype,
            embeddings_initializer=None
            if self.embeddings_initializer is None
            else keras.initializers.serialize(self.embeddings_initializer),
        )
        return config
