"""fit / evaluate / predict on Merlin's inputs: a `Loader`, a `Dataset`, and `pre=`."""

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from ydnn._workers import worker_count
from ydnn.io import Dataset, Loader
from ydnn.io.loader import apply_transform
from ydnn.model._mixin_base import MixinBase

# Keras's default batch size, used when a `Dataset` comes without one.
DEFAULT_BATCH_SIZE = 32


def keras_data(
    x: Any,
    y: Any = None,
    pre: Callable | None = None,
    batch_size: int | None = None,
    shuffle: bool = False,
    what: str = "x",
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[Any, Any, int | None]:
    """`(x, y, batch_size)` as Keras takes them.

    A `ydnn.Dataset` is wrapped in a `Loader` (`batch_size`, `shuffle`), a
    `Loader` becomes its `tf.data.Dataset`, and `pre` is mapped over the
    batches, as Merlin's `fit(..., pre=)` applies it to each batch. Anything
    else passes through unchanged when `pre` is None.

    Raises:
        ValueError: `y` given beside a Loader / Dataset (the targets come from
            the data or from `pre`), `pre` on in-memory arrays, or a `pre`
            that is not callable.
    """
    if pre is not None and not callable(pre):
        raise ValueError(
            f"pre must be a callable (e.g. ydnn.SequencePredictLast(...)), got {pre!r}"
        )
    if isinstance(x, Dataset):
        x = Loader(x, batch_size or DEFAULT_BATCH_SIZE, shuffle=shuffle)
    if isinstance(x, Loader):
        if y is not None:
            raise ValueError(
                f"{what} is a ydnn Loader, which yields its own targets: leave y "
                f"unset (targets come from the schema's target columns or pre=)"
            )
        strategy = strategy or tf.distribute.get_strategy()
        if worker_count(strategy) > 1:
            return _per_worker(x, pre, strategy), None, None
        return x.to_tf_dataset(pre), None, None
    if pre is None:
        return x, y, batch_size
    if not isinstance(x, tf.data.Dataset):
        raise ValueError(
            f"pre= needs batched data ({what} as a ydnn.Loader, ydnn.Dataset or "
            f"tf.data.Dataset), got {type(x).__name__}; apply the transform to the "
            f"arrays yourself"
        )
    # In parallel, in order: on few cores the transform would otherwise run
    # between steps instead of beside them.
    return (
        x.map(
            lambda *batch: apply_transform(pre, batch),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).prefetch(tf.data.AUTOTUNE),
        y,
        batch_size,
    )


def _per_worker(loader: Loader, pre: Callable | None, strategy: Any) -> Any:
    """The loader as a distributed dataset: worker `w` reads share `w`, one
    batch per local replica per step (Merlin's loader with Horovod's rank)."""

    def share(context: tf.distribute.InputContext) -> tf.data.Dataset:
        size, rank = context.num_input_pipelines, context.input_pipeline_id
        if loader.global_size > 1 and (loader.global_size, loader.global_rank) != (size, rank):
            raise ValueError(
                f"the Loader reads share {loader.global_rank} of {loader.global_size}, but "
                f"this worker is input pipeline {rank} of {size}: leave global_size and "
                f"global_rank unset under a multi-worker strategy"
            )
        return loader.sharded(size, rank).to_tf_dataset(pre)

    return strategy.distribute_datasets_from_function(share)


class DataInputsMixin(MixinBase):
    """`fit`, `evaluate` and `predict` that take a `ydnn.Loader`, a `ydnn.Dataset`
    and Merlin's `pre=` transform (mixed in before `keras.Model`)."""

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        *args: Any,
        pre: Callable | None = None,
        validation_data: Any = None,
        shuffle: bool = True,
        **kwargs: Any,
    ) -> keras.callbacks.History:
        """Keras `fit`; `x` may also be a `ydnn.Loader` or `ydnn.Dataset`, and
        `pre` (e.g. `ydnn.SequencePredictLast`) is applied to every training
        and validation batch, as Merlin's `fit(pre=)`."""
        converted = isinstance(x, (Loader, Dataset)) or pre is not None
        given_batch_size = batch_size  # a validation Dataset is batched like the training one
        x, y, batch_size = keras_data(
            x, y, pre, batch_size, shuffle, strategy=self.distribute_strategy
        )
        if isinstance(validation_data, (Loader, Dataset)) or (
            pre is not None and isinstance(validation_data, tf.data.Dataset)
        ):
            validation_data = keras_data(
                validation_data, None, pre, given_batch_size, what="validation_data"
            )[0]
        if converted:
            kwargs.setdefault("shuffle", False)  # the loader shuffles; Keras would warn
        else:
            kwargs["shuffle"] = shuffle
        return keras.Model.fit(
            self, x, y, batch_size, epochs, *args, validation_data=validation_data, **kwargs
        )

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        *args: Any,
        pre: Callable | None = None,
        **kwargs: Any,
    ) -> Any:
        """Keras `evaluate`, with Loader / Dataset inputs and `pre=` as in `fit`."""
        x, y, batch_size = keras_data(x, y, pre, batch_size)
        return keras.Model.evaluate(self, x, y, batch_size, *args, **kwargs)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        *args: Any,
        pre: Callable | None = None,
        **kwargs: Any,
    ) -> Any:
        """Keras `predict`, with Loader / Dataset inputs and `pre=` as in `fit`.

        A dict of tensors with `tf.RaggedTensor` list features (a batch from a
        `Loader`) is predicted as one batch.
        """
        x, _, batch_size = keras_data(x, None, pre, batch_size)
        if isinstance(x, dict) and any(isinstance(v, tf.RaggedTensor) for v in x.values()):
            x = tf.data.Dataset.from_tensors(x)
        return keras.Model.predict(self, x, batch_size, *args, **kwargs)
