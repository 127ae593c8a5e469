"""Merlin's `sequence-testing` data set, written as Merlin writes it: Parquet files
plus the schema file beside them (`schema.json` in `.merlin/`, or NVTabular's
`schema.pbtxt`), from the hand-written schemas in `tests/data/merlin_sequence_testing/`.

The rows follow Merlin's synthetic generator (`merlin.datasets.synthetic`):
item ids log-normal(3, 1) clipped to the domain, other ids uniform, list
features of one length per row (the sequence features move together). Lists
hold 2 to 4 values here (Merlin's value_count allows 1): Merlin's top-k test
cuts the last item twice, which needs two.
"""

import os
import shutil

import numpy as np
import pandas as pd
import tensorflow as tf

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
SCHEMAS = os.path.join(DATA, "merlin_sequence_testing")
# Where each format lives in a directory Merlin wrote.
SCHEMA_PLACES = {"json": os.path.join(".merlin", "schema.json"), "pbtxt": "schema.pbtxt"}


def sequence_testing_frame(num_rows=100, seed=0, max_item=51996, max_user=1797):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 5, num_rows)

    def lists(draw):
        return [draw(n) for n in lengths]

    def items(n):
        return np.clip(rng.lognormal(3.0, 1.0, n).astype(np.int64), 1, max_item)

    frame = {"test_user_id": rng.integers(1, max_user + 1, num_rows)}
    for name in (
        "item_age_days_norm",
        "event_hour_sin",
        "event_hour_cos",
        "event_weekday_sin",
        "event_weekday_cos",
    ):
        frame[name] = lists(lambda n: rng.uniform(-1.0, 1.0, n))
    frame["item_id_seq"] = lists(items)
    frame["categories"] = lists(lambda n: rng.integers(1, 332, n))
    frame["user_country"] = rng.integers(1, 63, num_rows)
    frame["user_age"] = rng.uniform(0.0, 0.4, num_rows)
    return pd.DataFrame(frame)


def write_sequence_testing(
    directory,
    schema_format="json",
    num_rows=100,
    seed=0,
    files=2,
    row_group_size=30,
    schema_file=None,
    **frame_kwargs,
):
    """A Merlin-written data directory: `part_*.parquet` and the schema file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(directory, exist_ok=True)
    frame = sequence_testing_frame(num_rows, seed, **frame_kwargs)
    for i, part in enumerate(np.array_split(np.arange(num_rows), files)):
        table = pa.Table.from_pandas(frame.iloc[part], preserve_index=False)
        pq.write_table(
            table, os.path.join(directory, f"part_{i}.parquet"), row_group_size=row_group_size
        )
    target = os.path.join(directory, SCHEMA_PLACES[schema_format])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(schema_file or os.path.join(SCHEMAS, os.path.basename(target)), target)
    return directory


def loader_rows(loader):
    """(user, items tuple) of every row an epoch yields, and the batch sizes."""
    rows, sizes = [], []
    for batch in loader:
        x = batch[0] if isinstance(batch, tuple) else batch
        users = x["test_user_id"].numpy()
        items = x["item_id_seq"]
        items = items.to_list() if isinstance(items, tf.RaggedTensor) else items.numpy().tolist()
        rows += [(int(u), tuple(int(i) for i in seq if i)) for u, seq in zip(users, items)]
        sizes.append(len(users))
    return rows, sizes
