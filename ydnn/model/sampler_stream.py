"""The negative sampler's random stream, continued across saves (a mixin)."""

import random

import tensorflow as tf

import ydnn_kernels
from ydnn.layers._args import int_arg
from ydnn_kernels import stock

# TF truncates op seeds to 31 bits; a model's seed is one of them.
SEED_LIMIT = 2 ** 31 - 1
# Spreads the replicas' sampler seeds apart (a prime, so no two collide).
_REPLICA_STRIDE = 104729


class SamplerStreamMixin:
    """The negatives of training step `t` are draw `t` of the model's stream.

    The stream is fixed by `sampler_seed` (in the config) and TF's global
    seed; its position, `sampler_calls` (the training steps taken), is a
    model weight, saved by `.keras` files, `save_weights` and
    `BackupAndRestore`. So a run saved after `N` steps, loaded and trained
    `M` more draws what an unbroken run of `N + M` steps draws.

    The sampler op keeps its counter inside its kernel, which a new trace
    (after a load, a recompile or a restore of weights) creates afresh; that
    trace's first step replays the `sampler_calls` draws made so far (one
    sampler call each, without the positives' expected counts) before
    drawing its own. A model that has not trained yet traces the plain op:
    the replay loop never costs a fresh run anything. `run_eagerly=True`
    does not replay, and neither does a trace that Keras made earlier in the
    same session when it is called again after another trace moved the
    stream (inputs alternating between two signatures).

    Relies on the model's `ops`, `num_sampled`, `max_id`, `min_sampled_id`.
    """

    def _init_sampler_stream(self, sampler_seed):
        if sampler_seed is None:
            sampler_seed = random.randrange(SEED_LIMIT)  # keras.utils.set_random_seed fixes it
        self.sampler_seed = int_arg("sampler_seed", sampler_seed, 0, SEED_LIMIT - 1)
        self.sampler_calls = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="sampler_calls",
            aggregation="only_first_replica")
        self._sampler_moved = False

    def _sampler_op_seed(self):
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        if isinstance(replica, tf.Tensor):
            replica = tf.get_static_value(replica)
        # Each replica its own stream: the same negatives on every replica
        # would waste the extra replicas' samples.
        return (self.sampler_seed + _REPLICA_STRIDE * int(replica or 0)) % SEED_LIMIT

    def sample_negatives(self, targets):
        """`(sampled_ids [S], true_expected_count [B], sampled_expected_count [S])`."""
        sampler = ydnn_kernels.log_uniform_sample if self.ops == "fused" else \
            stock.log_uniform_sample
        return sampler(self.num_sampled, max_id=self.max_id, min_id=self.min_sampled_id,
                       unique=True, true_ids=targets, seed=self._sampler_op_seed())

    def _sampler_position(self):
        """`sampler_calls` as a Python int, read eagerly (a mirrored variable too)."""
        with tf.init_scope():
            return int(tf.convert_to_tensor(self.sampler_calls.value.read_value()).numpy())

    def _training_negatives(self, targets):
        """The negatives of this training step, the next draw of the model's stream."""
        if tf.executing_eagerly():
            samples = self.sample_negatives(targets)
        else:
            start = self._sampler_position()  # at trace time: where this trace's stream starts
            samples = (self.sample_negatives(targets) if start == 0
                       else self._replayed_negatives(targets, start))
        self.sampler_calls.assign_add(1)
        return samples

    def _replayed_negatives(self, targets, start):
        # The kernel of this trace starts at draw 0 and its counter can only
        # advance by calling it: the same op node, in a loop, replays the
        # `start` calls on its first step (when the count still reads `start`).
        calls = tf.convert_to_tensor(self.sampler_calls.value)
        skip = tf.where(tf.equal(calls, start), tf.constant(start, tf.int64),
                        tf.constant(0, tf.int64))
        ids = tf.reshape(tf.cast(targets, tf.int64), [-1])

        def draw(i, *_):
            n = tf.where(tf.equal(i, skip), tf.size(ids), 0)
            return (i + 1,) + tuple(self.sample_negatives(ids[:n]))

        s = self.num_sampled
        init = (tf.constant(0, tf.int64), tf.zeros([s], tf.int64), tf.zeros([0], tf.float32),
                tf.zeros([s], tf.float32))
        shapes = (tf.TensorShape([]), tf.TensorShape([s]), tf.TensorShape([None]),
                  tf.TensorShape([s]))
        _, sampled, true_ec, sampled_ec = tf.while_loop(
            lambda i, *_: i <= skip, draw, init, shape_invariants=shapes, parallel_iterations=1)
        return sampled, true_ec, sampled_ec

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self._sampler_moved = False
        super().make_train_function(force=True)
        traced = self.train_function

        def train_function(iterator):
            if self._sampler_moved:
                # Weights were loaded after this function's sampler kernel
                # last ran (load_weights, BackupAndRestore): a new trace
                # replays the stream to the loaded position.
                return self.make_train_function(force=True)(iterator)
            return traced(iterator)

        self.train_function = train_function
        return train_function

    def load_own_variables(self, store):
        before = self._sampler_position()
        own = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) == len(own) - 1 and own[-1] is self.sampler_calls:
            # Saved before the sampler position was: the stream restarts.
            for i, v in enumerate(own[:-1]):
                v.assign(store[f"{i}"])
            self.sampler_calls.assign(0)
        else:
            super().load_own_variables(store)
        if self._sampler_position() != before:
            self._sampler_moved = True

    def set_weights(self, weights):
        before = self._sampler_position()
        super().set_weights(weights)
        if self._sampler_position() != before:
            self._sampler_moved = True
