"""How many worker processes a `tf.distribute` strategy spans."""

import tensorflow as tf


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """Workers of a `MultiWorkerMirroredStrategy` cluster; 1 for any strategy
    within one process (the default one, `MirroredStrategy`)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    resolver = strategy.cluster_resolver
    if resolver is None:
        return 1
    return max(1, len(resolver.cluster_spec().as_dict().get("worker", [])))
