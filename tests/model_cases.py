"""Small schemas and data shared by the model tests."""

import numpy as np

import ydnn
from ydnn.schema import ColumnSchema, Schema, Tags


def history_schema(num_items=50, dim=None, extra=True):
    """An item-id history, and (with `extra`) a user country and an age."""
    props = {} if dim is None else {"embedding_dim": dim}
    cols = [
        ColumnSchema(
            "item_id",
            "int32",
            [Tags.ITEM_ID, Tags.CATEGORICAL, Tags.SEQUENCE, Tags.LIST],
            is_list=True,
            int_domain=(0, num_items),
            properties=props,
        ),
        ColumnSchema(
            "target",
            "int32",
            [Tags.TARGET, Tags.ITEM, Tags.CATEGORICAL],
            int_domain=(0, num_items, "item_id"),
        ),
    ]
    if extra:
        cols += [
            ColumnSchema(
                "country",
                "int32",
                [Tags.USER, Tags.CATEGORICAL],
                int_domain=(0, 9),
                properties={"embedding_dim": 4},
            ),
            ColumnSchema("age", "float32", [Tags.USER, Tags.CONTINUOUS]),
        ]
    return Schema(cols)


def features(rng, batch=6, length=5, num_items=50, extra=True):
    """Right-padded histories (0 = padding), every row with at least one id."""
    lengths = rng.integers(1, length + 1, batch)
    hist = np.zeros((batch, length), np.int32)
    for b, n in enumerate(lengths):
        hist[b, :n] = rng.integers(1, num_items + 1, n)
    out = {"item_id": hist}
    if extra:
        out["country"] = rng.integers(0, 10, batch).astype(np.int32)
        out["age"] = rng.uniform(0, 1, batch).astype(np.float32)
    return out


def small_data(seed=0, users=600, items=400, interactions=20_000, max_history=10):
    log = ydnn.data.generate_interactions(
        num_users=users, num_items=items, num_interactions=interactions, seed=seed
    )
    return ydnn.data.prepare_sequences(log, max_history=max_history)
