"""The negative sampler's random stream, continued across saves (a mixin)."""

import random

import tensorflow as tf

import ydnn_kernels
from ydnn.layers._args import int_arg
from ydnn.model._mixin_base import MixinBase
from ydnn_kernels import stock

# TF truncates op seeds to 31 bits; a model's seed is one of them.
SEED_LIMIT = 2**31 - 1
# Spreads the replicas' sampler seeds apart (a prime, so no two collide).
_REPLICA_STRIDE = 104729
# The stock path's seed per starting position (another prime).
_POSITION_STRIDE = 1000003
# Draws each training step may use: unique sampling stops at 2^31 draws, so
# step t's window [t 2^32, (t + 1) 2^32) never reaches step t + 1's; the
# int64 first_draw holds 2^31 steps.
DRAW_WINDOW = 2**32


class SamplerStreamMixin(MixinBase):
    """The negatives of training step `t` are draw window `t` of the model's stream.

    The stream is fixed by `sampler_seed` (in the config) and TF's global
    seed; its position, `sampler_calls` (the training steps taken), is a
    model weight, saved by `.keras` files, `save_weights` and
    `BackupAndRestore`. On the fused path step `t` draws from
    `t * DRAW_WINDOW` on (`log_uniform_sample(first_draw=...)`, a pure
    function of the seeds and the position), so a run saved after `N` steps,
    loaded and trained `M` more draws exactly what an unbroken run of
    `N + M` steps draws, and resuming costs nothing whatever `N`.

    The stock path (TF's `log_uniform_candidate_sampler`, the A/B baseline)
    keeps its position inside its kernel and cannot be placed: a trace made
    at position `p` (after a load or a recompile) seeds a fresh stream from
    `p`, so it never repeats the first run's negatives but is not the
    unbroken run's stream either (as Merlin, whose sampler restarts).

    Relies on the model's `ops`, `num_sampled`, `max_id`, `min_sampled_id`.
    """

    def _init_sampler_stream(self, sampler_seed):
        if sampler_seed is None:
            sampler_seed = random.randrange(SEED_LIMIT)  # keras.utils.set_random_seed fixes it
        self.sampler_seed = int_arg("sampler_seed", sampler_seed, 0, SEED_LIMIT - 1)
        self.sampler_calls = self.add_weight(
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            name="sampler_calls",
            aggregation="only_first_replica",
        )

    def _sampler_op_seed(self):
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        if isinstance(replica, tf.Tensor):
            replica = tf.get_static_value(replica)
        # Each replica its own stream: the same negatives on every replica
        # would waste the extra replicas' samples.
        return (self.sampler_seed + _REPLICA_STRIDE * int(replica or 0)) % SEED_LIMIT

    def sample_negatives(self, targets, first_draw=None):
        """`(sampled_ids [S], true_expected_count [B], sampled_expected_count [S])`.

        `first_draw` (fused path): where in the stream the draws start;
        None draws the op's next ids.
        """
        if self.ops == "fused":
            return ydnn_kernels.log_uniform_sample(
                self.num_sampled,
                max_id=self.max_id,
                min_id=self.min_sampled_id,
                unique=True,
                true_ids=targets,
                seed=self._sampler_op_seed(),
                first_draw=first_draw,
            )
        seed = self._sampler_op_seed()
        if first_draw is not None:  # the stock op cannot be placed: a stream per position
            seed = (seed + _POSITION_STRIDE * self._sampler_position()) % SEED_LIMIT
        return stock.log_uniform_sample(
            self.num_sampled,
            max_id=self.max_id,
            min_id=self.min_sampled_id,
            unique=True,
            true_ids=targets,
            seed=seed,
        )

    def _sampler_position(self):
        """`sampler_calls` as a Python int, read eagerly (a mirrored variable too)."""
        with tf.init_scope():
            return int(tf.convert_to_tensor(self.sampler_calls.value.read_value()).numpy())

    def _training_negatives(self, targets):
        """The negatives of this training step: the window of step `sampler_calls`."""
        step = tf.convert_to_tensor(self.sampler_calls.value)
        samples = self.sample_negatives(targets, first_draw=step * DRAW_WINDOW)
        self.sampler_calls.assign_add(1)
        return samples

    def load_own_variables(self, store):
        own = self._trainable_variables + self._non_trainable_variables
        if len(store.keys()) == len(own) - 1 and own[-1] is self.sampler_calls:
            # Saved before the sampler position was: the stream restarts.
            for i, v in enumerate(own[:-1]):
                v.assign(store[f"{i}"])
            self.sampler_calls.assign(0)
        else:
            super().load_own_variables(store)
