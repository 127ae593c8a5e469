"""Data preparation: interaction logs to next-item examples, tf.data, synthetic logs.

* `prepare_sequences` / `read_interactions`: the leave-last-out protocol.
* `prepare_sequences_dask`: the same protocol for logs larger than memory
  (Dask, optional), written as Parquet splits; `PreparedSequences` reads them back.
* `SequenceData`, `Examples`: the prepared arrays, item mapping and schema.
* `to_dataset`: a prefetching, seeded `tf.data` pipeline of `(features, target)`.
* `TrainingFeed`: a job's batches by global step, sharded over replicas and workers,
  resumable mid-epoch.
* `generate_interactions`: a synthetic log with popularity, clusters and drift.
* `most_popular_top_k`: the popularity baseline under the same protocol.
"""

from ydnn.data.dask_sequences import prepare_sequences_dask
from ydnn.data.examples import Examples
from ydnn.data.interactions import prepare_sequences, read_interactions
from ydnn.data.pipeline import to_dataset
from ydnn.data.popularity import most_popular_top_k
from ydnn.data.prepared import PreparedSequences
from ydnn.data.sequence_data import ITEM_COLUMN, TARGET_COLUMN, SequenceData
from ydnn.data.synthetic import generate_interactions
from ydnn.data.training_feed import TrainingFeed

__all__ = [
    "ITEM_COLUMN",
    "TARGET_COLUMN",
    "Examples",
    "PreparedSequences",
    "SequenceData",
    "TrainingFeed",
    "generate_interactions",
    "most_popular_top_k",
    "prepare_sequences",
    "prepare_sequences_dask",
    "read_interactions",
    "to_dataset",
]
