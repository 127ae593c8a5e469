"""How many worker processes a `tf.distribute` strategy spans."""

import tensorflow as tf

# The tasks of a cluster that train (a "chief" is worker 0 with a name).
TRAINING_TASKS = ("chief", "worker")


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """Workers of a `MultiWorkerMirroredStrategy` cluster, its chief included;
    1 for any strategy within one process (the default one, `MirroredStrategy`)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    resolver = strategy.cluster_resolver
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(task, [])) for task in TRAINING_TASKS))


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's place among `worker_count` (the chief first); 0 within one process."""
    if worker_count(strategy) == 1:
        return 0
    resolver = strategy.cluster_resolver
    chiefs = len(resolver.cluster_spec().as_dict().get("chief", []))
    return int(resolver.task_id or 0) + (chiefs if resolver.task_type == "worker" else 0)
