"""compile / fit / evaluate of the retrieval model, and the training state a save keeps."""

from typing import Any

import keras
import tensorflow as tf

from ydnn import metrics as ydnn_metrics
from ydnn import optimizers as ydnn_optimizers
from ydnn.layers._args import bool_arg, guarded, int_arg, one_per_example
from ydnn.model.sampler_stream import SamplerStreamMixin


class TrainingMixin(SamplerStreamMixin):
    """Training of `YoutubeDNNRetrievalModelV2` (a mixin before `keras.Model`).

    What a `.keras` file, `save_weights` or `BackupAndRestore` keeps is
    what training needs to continue as if it had not stopped: the weights,
    the optimizer and its slots (LazyAdam's moments, ...), the compile
    settings (`get_compile_config` / `compile_from_config`), and the
    position of the negative sampler's stream (`SamplerStreamMixin`).
    """

    def _init_training(self, sampler_seed):
        self._init_sampler_stream(sampler_seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.top_k = 10
        self.exclude_seen = False
        self.top_k_metrics = []
        self._ydnn_compile = None

    # -- compile -----------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "adam",
        metrics: list[keras.metrics.Metric] | None = None,
        top_k: int = 10,
        exclude_seen: bool = False,
        steps_per_execution: int = 1,
        run_eagerly: bool = False,
        jit_compile: bool = False,
        **kwargs: Any,
    ) -> None:
        """Keras `compile` with the retrieval settings.

        Args:
            optimizer: Keras optimizer or its name. With `ops="fused"` it is
                mapped by `ydnn.optimizers.get` ("adam" -> `LazyAdam`, ...):
                embedding tables take a fused sparse update whose cost does
                not grow with the catalog, dense weights Keras's own update.
                With `ops="stock"` it is used as given (Keras's dense
                updates: the A/B baseline), except with a 16-bit
                `table_dtype`, which always takes the ydnn optimizers.
            metrics: list of full-catalog top-k metrics for `evaluate`;
                default recall, MRR, NDCG, MAP and precision at `top_k`.
            top_k: `k` of the default metrics and of retrieval in evaluate.
            exclude_seen: in evaluate, never recommend an item already in the
                row's history (or in its `seen_items` feature when given).
            steps_per_execution, run_eagerly: as in Keras; steps_per_execution
                must be 1 under a strategy of several replicas.
            jit_compile: must stay False: XLA cannot run ydnn's custom ops.
            **kwargs: refused: loss and loss weights are set by the model.

        Every argument is saved with the model and restored by `load_model`.

        Raises:
            ValueError: jit_compile other than False, a `loss` / other
                argument the model sets itself, or a bad value (naming it).
        """
        if jit_compile is not False:
            raise ValueError(
                f"jit_compile={jit_compile!r} is not supported: XLA cannot compile "
                "ydnn's custom ops (fused pooling, sampler, sampled softmax); "
                "leave jit_compile=False"
            )
        if kwargs:
            raise ValueError(
                f"unsupported compile arguments {sorted(kwargs)}: the loss is the "
                f"model's sampled softmax"
            )
        top_k = int_arg("top_k", top_k, 1)
        exclude_seen = bool_arg("exclude_seen", exclude_seen)
        steps_per_execution = int_arg("steps_per_execution", steps_per_execution, 1)
        replicas = self.distribute_strategy.num_replicas_in_sync
        if steps_per_execution > 1 and replicas > 1:
            # Keras's loop of several steps per call fails at its first call
            # under any strategy of several replicas ("You must feed a value
            # for placeholder tensor 'while/cond/Placeholder'"), for any model.
            raise ValueError(
                f"steps_per_execution must be 1 under a strategy of {replicas} replicas "
                f"(Keras's multi-step loop cannot run there), got {steps_per_execution}"
            )
        run_eagerly = bool_arg("run_eagerly", run_eagerly)
        if metrics is not None:
            if not isinstance(metrics, (list, tuple)) or not all(
                isinstance(m, keras.metrics.Metric) for m in metrics
            ):
                raise ValueError(
                    f"metrics must be a list of keras.metrics.Metric (e.g. "
                    f"[ydnn.metrics.RecallAtK(10)]), got {metrics!r}"
                )
            metrics = list(metrics)
        if self.ops == "fused" or self.table_dtype != "float32":
            # 16-bit tables need float32 slots and maths (Keras's Adam keeps
            # float16 slots, whose velocity underflows and diverges), so
            # they take the ydnn optimizers under ops="stock" too.
            optimizer = ydnn_optimizers.get(optimizer)
            if not isinstance(optimizer, ydnn_optimizers.SPARSE_OPTIMIZERS):
                raise ValueError(
                    f"table_dtype={self.table_dtype!r} trains with the ydnn optimizers "
                    f"(float32 slots, stochastic rounding); {type(optimizer).__name__} has "
                    "none: use 'sgd', 'adagrad', 'adam' or ydnn.optimizers.RowWiseAdagrad, "
                    'or table_dtype="float32"'
                )
        self.top_k = top_k
        self.exclude_seen = exclude_seen
        # Metrics are tracked state; a built (e.g. just loaded) model locks
        # its tracker, and recompiling must still be able to replace them.
        locked = self._tracker.locked
        self._tracker.unlock()
        try:
            self.top_k_metrics = (
                metrics if metrics is not None else ydnn_metrics.default_metrics(top_k)
            )
        finally:
            if locked:
                self._tracker.lock()
        if not self.built:
            # Building now (from the schema) spares Keras's distributed
            # symbolic build, which would feed the id features as floats.
            self.build()
        super().compile(
            optimizer=optimizer,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
            jit_compile=False,
        )
        if not self.optimizer.built:
            # Slots now, not at the first step: `load_weights` after
            # `compile` (ModelCheckpoint's weights) then restores them,
            # where Keras would skip an unbuilt optimizer with a warning.
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)
        self._ydnn_compile = dict(
            metrics=metrics,
            top_k=top_k,
            exclude_seen=exclude_seen,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
        )

    def get_compile_config(self):
        """The `compile` arguments, the optimizer's config included (saved in `.keras`)."""
        if not self.compiled or self._ydnn_compile is None:
            return None
        config = dict(self._ydnn_compile)
        config["optimizer"] = keras.saving.serialize_keras_object(self.optimizer)
        if config["metrics"] is not None:
            config["metrics"] = [keras.saving.serialize_keras_object(m) for m in config["metrics"]]
        return config

    def compile_from_config(self, config):
        """Compiles as `get_compile_config` recorded (`load_model` then loads
        the optimizer's slots and step count)."""
        config = dict(config)
        config["optimizer"] = keras.optimizers.deserialize(config["optimizer"])
        if config.get("metrics") is not None:
            config["metrics"] = [
                keras.saving.deserialize_keras_object(m) for m in config["metrics"]
            ]
        self.compile(**config)  # builds the optimizer: the load fills its slots

    @property
    def metrics(self):
        return [self.loss_tracker] + list(self.top_k_metrics)

    # -- steps -------------------------------------------------------------------
    def _unpack(self, data):
        x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise ValueError(
                "the model trains on (features, target ids) pairs: map the data "
                "with ydnn.transforms.PredictLast / PredictRandom or give a target column"
            )
        y = target_ids(y, self.candidate.name)
        if not y.dtype.is_integer:
            raise ValueError(
                f"the targets (y) must be integer item ids, got {y.dtype.name} of shape {y.shape}"
            )
        y = tf.reshape(one_per_example(y, "the targets (y)"), [-1])
        if y.dtype not in (tf.int32, tf.int64):
            y = tf.cast(y, tf.int64)  # the ops take int32 / int64 ids
        if self.ops == "stock":
            # TF's sampler would name them `true_candidate`, shifted by
            # min_sampled_id; the fused op checks its own ids.
            y = _checked_range("the targets (y)", y, self.max_id + 1)
        if weight is not None:
            weight = _checked_sample_weight(weight)
        return x, y, weight

    def _mean_loss(self, per_example, weight):
        # Keras's "sum_over_batch_size": weights scale rows, the divisor stays B
        # (an empty batch: 0, not the NaN of 0 / 0).
        batch = tf.cast(tf.size(per_example), tf.float32)
        if weight is None:
            return tf.math.divide_no_nan(tf.reduce_sum(per_example), batch)
        tf.debugging.assert_equal(
            tf.shape(weight),
            tf.shape(per_example),
            message=("sample_weight must have one value per example ([batch] or [batch, 1])"),
        )
        return tf.math.divide_no_nan(tf.reduce_sum(per_example * weight), batch)

    def _track_loss(self, loss, y):
        # An empty batch does not count: one NaN made the epoch's loss NaN.
        self.loss_tracker.update_state(loss, sample_weight=tf.cast(tf.size(y) > 0, tf.float32))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # compile() builds the model (from the schema) and the optimizer, so
        # Keras's symbolic build has nothing to do; under a distribution
        # strategy it would first average a batch across replicas, which
        # MultiWorkerMirroredStrategy cannot do for a dict of features
        # ("Attempt to convert a value ({'item_id': PerReplica...})").
        if all(layer.built for layer in self._flatten_layers()) and (
            self.optimizer is None or self.optimizer.built
        ):
            return
        super()._maybe_symbolic_build(iterator, data_batch)

    def _step_logs(self, logs):
        # Keras averages a step's logs across the workers of a
        # MultiWorkerMirroredStrategy with reduce("MEAN", axis=0), which
        # needs an axis: each scalar goes out as [1] there (the mean over the
        # workers is then a scalar again). Other strategies take scalars.
        strategy = self.distribute_strategy
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def train_step(self, data):
        x, y, weight = self._unpack(data)
        samples = self._training_negatives(y)
        # The replicas' gradients are summed (IndexedSlices all-gathered):
        # each replica's loss counts 1 / replicas, so a step under a strategy
        # is the step of one replica on the concatenated batch, as Keras's
        # own train_step scales it (`scale_loss_for_distribution`).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            query = self(x, training=True)
            loss = self._mean_loss(self.sampled_loss(query, y, samples), weight)
            if self.losses:
                loss += tf.add_n(self.losses)
            scaled = loss / replicas if replicas > 1 else loss
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        self._track_loss(loss, y)
        return self._step_logs({"loss": self.loss_tracker.result()})

    def test_step(self, data):
        x, y, weight = self._unpack(data)
        query = self(x, training=False)
        self._track_loss(
            self._mean_loss(self.sampled_loss(query, y, self.sample_negatives(y)), weight), y
        )
        _, ids = self.retrieve(query, self.top_k, self.seen_items(x) if self.exclude_seen else None)
        for metric in self.top_k_metrics:
            metric.update_state(y, ids, sample_weight=weight)
        return self._step_logs({m.name: m.result() for m in self.metrics})


def target_ids(y: Any, name: str) -> tf.Tensor:
    """The target ids of a batch: `y` itself, or, when the targets are a dict
    (Merlin's transforms return `{column: ids}`), its entry for the item
    column `name` (or its only entry)."""
    if isinstance(y, dict):
        if name in y:
            y = y[name]
        elif len(y) == 1:
            y = next(iter(y.values()))
        else:
            raise ValueError(
                f"the targets are a dict of {sorted(y)}, none of them the item "
                f"column {name!r}: give the item ids as y[{name!r}]"
            )
    if isinstance(y, tf.RaggedTensor):
        raise ValueError(
            f"the targets must be one item id per row, got a RaggedTensor of shape "
            f"{y.shape}; take one id per row (e.g. ids[:, -1:].flat_values)"
        )
    return tf.convert_to_tensor(y)


def _checked_sample_weight(weight):
    """`[B]` float32 weights; an InvalidArgumentError for NaN, inf or < 0.

    A NaN weight makes the loss NaN and then every trained weight; a
    negative one makes its example's gradient ascend the loss; an infinite
    one gives inf or NaN. The check runs on the host, where the batch comes
    from, so the step makes no device round trip for it.
    """
    with tf.device("/CPU:0"):
        weight = tf.reshape(tf.cast(weight, tf.float32), [-1])
        bad = tf.logical_not((weight >= 0.0) & (weight < float("inf")))
        return guarded(
            tf.logical_not(tf.reduce_any(bad)),
            [
                "sample_weight must be finite and >= 0; shape",
                tf.shape(weight),
                "bad at",
                tf.where(bad)[:, 0],
                "values",
                tf.boolean_mask(weight, bad),
            ],
            weight,
        )


def _checked_range(what, ids, size):
    """`ids`, asserted in `[0, size)` (the message names `what` and the bad values)."""
    flat = tf.reshape(ids, [-1])
    bad = (flat < 0) | (flat >= tf.cast(size, flat.dtype))
    return guarded(
        tf.logical_not(tf.reduce_any(bad)),
        [
            f"{what} must be ids in [0, {size}); bad at",
            tf.where(bad)[:, 0],
            "values",
            tf.boolean_mask(flat, bad),
        ],
        ids,
    )
