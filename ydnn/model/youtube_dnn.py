"""`YoutubeDNNRetrievalModelV2`: Merlin's API on Keras 3 and ydnn's fused ops."""

from typing import Any

import keras
import tensorflow as tf

import ydnn_kernels
from ydnn.layers import InputBlock, MLPBlock
from ydnn.layers._args import bool_arg, choice_arg, dims_arg, int_arg
from ydnn.layers.embedding_tables import TABLE_DTYPES, add_table, table_initializer
from ydnn.model.data_inputs import DataInputsMixin
from ydnn.model.retrieval import RetrievalMixin
from ydnn.model.training import TrainingMixin
from ydnn.presets import DEFAULTS
from ydnn.schema import Schema, Tags
from ydnn_kernels import stock
from ydnn_kernels.sampled_softmax_op import check_temperature

OPS = ("fused", "stock")


def default_top_block(width: int) -> MLPBlock:
    """The tower when none is given: `MLPBlock([2 width, width])`, the last layer linear.

    The validation study's choice (`ydnn.presets`); Merlin's default is
    `MLPBlock([64])` with a ReLU on its last layer (`ydnn.presets.MERLIN`).
    """
    return MLPBlock([2 * int(width), int(width)], no_activation_last_layer=True)


@keras.saving.register_keras_serializable(package="ydnn")
class YoutubeDNNRetrievalModelV2(DataInputsMixin, TrainingMixin, RetrievalMixin, keras.Model):
    """YouTube-DNN candidate generation (Covington et al., RecSys 2016).

    The query tower pools the history (and any other schema feature) with
    `InputBlock`, runs `top_block` and `post`; training scores the query
    against the positive item and `num_sampled` log-uniform negatives shared
    by the batch with the fused sampled softmax: logits, minus log expected
    count (logQ) for positive and negatives, accidental hits masked, divided
    by `logits_temperature`, cross-entropy. The candidate table is the item
    input table (tied, as Merlin) unless `separate_output_table`.

    Defaults are ydnn's (`ydnn.presets.DEFAULTS`, chosen by a validation
    study: sqrtn pooling, a `[2 D, D]` tower with a linear last layer, He
    kernels, `1/sqrt(D)` tables); `**ydnn.presets.MERLIN` gives Merlin's.

    Differences from Merlin's class of the same name, all deliberate:
    negatives come from `[min_sampled_id, max_id]` with both ends reachable;
    each model gets a fresh `top_block`; unknown keyword arguments are an
    error; an MLP width that differs from the item width is an error here,
    not a runtime crash; `post` applies to query and candidates alike (so
    `post=L2Norm()` gives cosine scores in training and retrieval);
    `evaluate` reports full-catalog top-k metrics, not sampled-set ones; every
    setting survives save/load, and so does the training state: a `.keras`
    file (or `save_weights`, `BackupAndRestore`) holds the optimizer, its
    slots and the sampler's position, so that loading and training on gives
    what training without the break gives (see `TrainingMixin`).

    Sample weights (`fit` / `evaluate` `sample_weight`, or a third element of
    the data): one finite value `>= 0` per example; the loss is
    `sum(w * loss) / batch` and the metrics are weighted means. A NaN,
    infinite or negative weight is an `InvalidArgumentError` naming
    `sample_weight` (a NaN would turn every trained weight NaN, a negative
    one would make its example ascend the loss). A batch of 0 rows trains
    nothing and is left out of the reported loss.

    Scalar arguments take Python or NumPy scalars (`np.int64(100)`,
    `np.float32(0.05)`); a float where an int is meant (`num_sampled=5.5`) or
    a bool where a number is meant is an error, never truncated.

    Args:
        schema: `ydnn.Schema` with one column tagged `candidate_id_tag` that
            has an int domain (its vocabulary is `int_domain.max + 1`), plus
            any other input features; target columns are not inputs.
        candidate_id_tag: tag of the item-id column.
        top_block: the tower, default `default_top_block(D)`: a fresh
            `MLPBlock([2 D, D])` with a linear last layer, `D` the item
            width (64 unless the schema or `embedding_dims` set it); Merlin's
            default is `MLPBlock([64])`. Its output width must equal the
            item embedding width.
        post: optional layer applied to the query and to candidate rows.
        inputs: optional `InputBlock` (or a `Schema` of the input columns).
        outputs: not supported (the loss is set by the arguments below);
            anything but `None` is an error.
        logits_temperature: positive, finite number dividing the corrected
            logits.
        num_sampled: negatives per batch (unique draws), an int.
        min_sampled_id: smallest id that can be sampled (1 skips padding 0);
            also the smallest id retrieval returns.
        ops: `"fused"` (ydnn_kernels) or `"stock"` (plain TF ops), same model.
        combiner: pooling of list features by the input block the model
            builds when `inputs` is not an `InputBlock`: `"sqrtn"` by
            default (sum / sqrt(length), chosen on validation data; Merlin
            pools with `"mean"`), `"mean"` or `"sum"`.
        embeddings_initializer: initializer of that input block's tables;
            default a truncated normal of standard deviation `1/sqrt(width)`
            (Merlin: 0.05).
        embedding_dims: optional `{table or column name: width}`; the item
            width defaults to the top block's output width.
        separate_output_table: score against a separate `[V, D]` table (the
            paper's design) instead of the tied input table.
        table_dtype: storage of the embedding tables: `"float32"` (default),
            `"bfloat16"` or `"float16"`. A 16-bit table takes half the memory
            and half the bytes per step; the fused kernels read it in place
            and accumulate in float32, and the ydnn optimizers (what
            `compile(optimizer="adam")` etc. give) keep float32 slots and
            store updated rows with stochastic rounding. Under a
            `mixed_bfloat16` policy the sampled softmax's products run in
            bfloat16 (float32 accumulation) on CPUs that have it.
        sampler_seed: int in `[0, 2^31 - 1)` fixing the negatives' random
            stream (with TF's global seed); default drawn from Python's
            `random` (so `keras.utils.set_random_seed` fixes it). Saved.
        name: optional model name.

    Raises:
        ValueError: for a missing candidate column or int domain, a width
            mismatch, `num_sampled` larger than the sampling range, bad ops,
            temperature, `outputs`, or any argument of the wrong type or
            range (the message names it and its value).

    Example:
    ```python
    data = ydnn.data.prepare_sequences(log, max_history=20)
    model = ydnn.YoutubeDNNRetrievalModelV2(data.schema(), min_sampled_id=1)
    model.compile(optimizer="adam")
    model.fit(ydnn.data.to_dataset(data.train, 256), epochs=30)
    model.evaluate(ydnn.data.to_dataset(data.test, 256, shuffle=False))
    ```
    """

    def __init__(
        self,
        schema: Schema | dict,
        candidate_id_tag: str | Tags = Tags.ITEM_ID,
        top_block: keras.layers.Layer | None = None,
        post: keras.layers.Layer | None = None,
        inputs: InputBlock | Schema | None = None,
        outputs: None = None,
        logits_temperature: float = 1.0,
        num_sampled: int = 100,
        min_sampled_id: int = 0,
        *,
        ops: str = "fused",
        combiner: str | None = None,
        embeddings_initializer: Any = None,
        embedding_dims: dict[str, int] | None = None,
        separate_output_table: bool = False,
        table_dtype: str = "float32",
        sampler_seed: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if isinstance(schema, dict):
            schema = Schema.from_dict(schema)
        if not isinstance(schema, Schema):
            raise ValueError(f"schema must be a ydnn.Schema, got {type(schema).__name__}")
        if outputs is not None:
            raise ValueError(
                "outputs is not supported: the output is the fused sampled softmax, "
                "configured by logits_temperature, num_sampled and min_sampled_id"
            )
        ops = choice_arg("ops", ops, OPS)
        table_dtype = choice_arg("table_dtype", table_dtype, TABLE_DTYPES)
        if table_dtype == "bfloat16" and isinstance(
            tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy
        ):
            raise ValueError(
                "table_dtype='bfloat16' is not supported under "
                "MultiWorkerMirroredStrategy: TF's collective broadcast of the initial "
                'tables has no bfloat16 kernel on the CPU; use table_dtype="float16" '
                'or "float32"'
            )
        logits_temperature = check_temperature("logits_temperature", logits_temperature)
        num_sampled = int_arg("num_sampled", num_sampled)
        min_sampled_id = int_arg("min_sampled_id", min_sampled_id)
        separate_output_table = bool_arg("separate_output_table", separate_output_table)
        embedding_dims = dims_arg("embedding_dims", embedding_dims)
        for arg, layer in (("top_block", top_block), ("post", post)):
            if layer is not None and not isinstance(layer, keras.layers.Layer):
                raise ValueError(
                    f"{arg} must be a keras.layers.Layer or None, got "
                    f"{type(layer).__name__} {layer!r}"
                )
        if inputs is not None and not isinstance(inputs, (Schema, InputBlock)):
            raise ValueError(
                f"inputs must be an InputBlock, a Schema or None, got {type(inputs).__name__}"
            )
        if isinstance(inputs, InputBlock):
            for arg, value in (
                ("combiner", combiner),
                ("embeddings_initializer", embeddings_initializer),
                ("table_dtype", None if table_dtype == "float32" else table_dtype),
            ):
                if value is not None and value != getattr(inputs, arg):
                    raise ValueError(
                        f"{arg}={value!r} configures the input block the model builds, "
                        f"but inputs= gives one (its {arg} is {getattr(inputs, arg)!r}): set "
                        f"it on that InputBlock instead"
                    )
        combiner = DEFAULTS["combiner"] if combiner is None else combiner
        self.schema = schema
        self.candidate_id_tag = Tags.normalize(candidate_id_tag)
        candidates = schema.select_by_tag(self.candidate_id_tag)
        if len(candidates) != 1:
            raise ValueError(
                f"the schema must have exactly one column tagged "
                f"{str(self.candidate_id_tag)!r} (the item ids), found "
                f"{candidates.column_names or 'none'}; columns: {schema.column_names}"
            )
        self.candidate = candidates.first
        vocab = self.candidate.vocabulary_size  # raises, naming the column, without a domain
        self.embedding_dims = embedding_dims
        table = self.candidate.table_name
        item_dim = (
            self.embedding_dims.get(table)
            or self.embedding_dims.get(self.candidate.name)
            or self.candidate.embedding_dim
            or getattr(top_block, "output_dim", None)
        )
        if top_block is None:
            item_dim = item_dim or 64
            top_block = default_top_block(item_dim)
        self.top_block = top_block
        width = getattr(self.top_block, "output_dim", None)
        if item_dim is None:
            raise ValueError(
                "set the item embedding width: embedding_dims={%r: D} (the top "
                "block does not tell its output width)" % table
            )
        if width is not None and width != item_dim:
            raise ValueError(
                f"the top block outputs {width} values but the item embedding {table!r} has "
                f"{item_dim}: query and items must have the same width. Make the last layer "
                f"{item_dim} wide (e.g. MLPBlock([..., {item_dim}])) or set "
                f"embedding_dims={{{table!r}: {width}}}"
            )
        self.embedding_dims.setdefault(table, int(item_dim))
        if inputs is None or isinstance(inputs, Schema):
            inputs = InputBlock(
                schema if inputs is None else inputs,
                embedding_dims=self.embedding_dims,
                ops=ops,
                combiner=combiner,
                embeddings_initializer=embeddings_initializer,
                table_dtype=table_dtype,
            )
        self.input_block = inputs
        self.table_dtype = inputs.table_dtype
        self.post = post
        self.logits_temperature = logits_temperature
        self.num_sampled = num_sampled
        self.min_sampled_id = min_sampled_id
        self.max_id = vocab - 1
        sample_range = self.max_id - self.min_sampled_id + 1
        if not 0 <= self.min_sampled_id <= self.max_id:
            raise ValueError(f"min_sampled_id must be in [0, {self.max_id}], got {min_sampled_id}")
        if not 1 <= self.num_sampled <= sample_range:
            raise ValueError(
                f"num_sampled must be in [1, {sample_range}] (unique ids in "
                f"[{self.min_sampled_id}, {self.max_id}]), got {num_sampled}"
            )
        self.ops = ops
        self.separate_output_table = separate_output_table
        self.item_dim = int(item_dim)
        self.output_table = None
        if self.separate_output_table:
            self.output_table = add_table(
                self,
                "output_embeddings",
                vocab,
                self.item_dim,
                table_initializer(self.item_dim),
                self.table_dtype,
            )
        self._init_training(sampler_seed)

    # -- the tower -------------------------------------------------------------
    @property
    def item_table(self):
        """The `[V, D]` candidate table (tied to the item input table by default)."""
        if self.output_table is not None:
            return self.output_table
        return self.input_block.table(self.candidate.table_name)

    def build(self, input_shape=None):
        # Built from the schema, never by calling on placeholder inputs:
        # Keras's default would feed float zeros to the id features.
        if not self.input_block.built:
            self.input_block.build()
        if not self.top_block.built:
            self.top_block.build((None, self.input_block.output_dim))
        if self.post is not None and not self.post.built:
            self.post.build((None, self.item_dim))
        self.built = True

    def get_build_config(self):
        return {"from_schema": True}

    def build_from_config(self, config):
        # Loading: the variables come from the schema, not from input shapes.
        self.build()

    def call(self, inputs: dict[str, Any], training: bool = False) -> tf.Tensor:
        """Query embeddings `[B, D]` of a dict of features."""
        x = self.input_block(inputs)
        x = self.top_block(x, training=training)
        return self.post(x) if self.post is not None else x

    # -- training --------------------------------------------------------------
    def sampled_loss(self, query, targets, samples):
        """Per-example sampled softmax loss `[B]` for given negatives.

        With a `post` layer the candidate rows go through it too, which the
        fused op cannot do, so that case runs on stock ops.
        """
        sampled, true_ec, sampled_ec = samples
        targets = tf.reshape(targets, [-1])
        # Under mixed_bfloat16 the tower's query is bfloat16 and the logits'
        # products take bfloat16 inputs (float32 sums), as a Keras matmul
        # does under that policy; the loss itself is float32.
        compute = "bfloat16" if self.compute_dtype == "bfloat16" else "float32"
        query = tf.cast(query, tf.float32)
        if self.ops == "fused" and self.post is None:
            return ydnn_kernels.sampled_softmax_loss(
                query,
                self.item_table,
                targets,
                sampled,
                true_ec,
                sampled_ec,
                temperature=self.logits_temperature,
                compute_dtype=compute,
            )
        table = self.item_table
        if self.post is not None:
            ids = tf.concat([tf.cast(targets, tf.int64), tf.cast(sampled, tf.int64)], 0)
            uniq, idx = tf.unique(ids)
            rows = self.post(tf.cast(tf.gather(table, uniq), tf.float32))
            n = tf.shape(targets)[0]
            return stock.sampled_softmax_loss(
                query,
                rows,
                idx[:n],
                idx[n:],
                true_ec,
                sampled_ec,
                self.logits_temperature,
                compute_dtype=compute,
            )
        return stock.sampled_softmax_loss(
            query,
            table,
            targets,
            sampled,
            true_ec,
            sampled_ec,
            self.logits_temperature,
            compute_dtype=compute,
        )

    # -- serialisation ---------------------------------------------------------
    def get_config(self):
        return dict(
            name=self.name,
            schema=self.schema.to_dict(),
            candidate_id_tag=str(self.candidate_id_tag),
            top_block=keras.saving.serialize_keras_object(self.top_block),
            post=None if self.post is None else keras.saving.serialize_keras_object(self.post),
            inputs=keras.saving.serialize_keras_object(self.input_block),
            logits_temperature=self.logits_temperature,
            num_sampled=self.num_sampled,
            min_sampled_id=self.min_sampled_id,
            ops=self.ops,
            embedding_dims=dict(self.embedding_dims),
            separate_output_table=self.separate_output_table,
            table_dtype=self.table_dtype,
            sampler_seed=self.sampler_seed,
        )

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("top_block", "post", "inputs"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
