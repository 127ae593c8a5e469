"""Named settings of the model and of `ydnn train`: ydnn's defaults and Merlin's.

`DEFAULTS` holds what the validation study (`python -m bench.movielens_sweep`,
`bench/RESULTS.md` section `movielens_sweep`) picked: the model's
constructor and `ydnn train` use it when an argument is not given.
`MERLIN` is Merlin Models' `YoutubeDNNRetrievalModelV2` as Merlin builds it
(mean pooling, the tied candidate table, `MLPBlock([64])` with Glorot-uniform
kernels and a ReLU on its last layer, tables drawn from a truncated normal of
standard deviation 0.05, temperature 1, 100 negatives, 10 epochs of Adam at
1e-3), for a user who must reproduce a Merlin run.

A preset unpacks into the model's keyword arguments; its layers and
initializers are made fresh on every unpacking, so two models never share a
layer:

```python
model = ydnn.YoutubeDNNRetrievalModelV2(schema, **ydnn.presets.MERLIN)
# one setting changed:
model = ydnn.YoutubeDNNRetrievalModelV2(schema, **{**ydnn.presets.MERLIN, "num_sampled": 500})
```

`preset.train` holds the `ydnn train` settings of the preset (the
command's option names, `ydnn train --preset merlin`; `tower` gives the
MLP's hidden widths as multiples of `--embedding-dim`).
"""

from collections.abc import Callable, Iterator, Mapping
from typing import Any


class Fresh:
    """A preset value made anew on each access (a layer, an initializer)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory


class Preset(Mapping):
    """Model keyword arguments (a read-only mapping) plus `ydnn train` settings.

    Args:
        name: the preset's name (`ydnn train --preset NAME`).
        model: `{argument: value}` of `YoutubeDNNRetrievalModelV2`; a
            `Fresh(factory)` value is made anew on each access.
        train: `{ydnn train option (underscored): value}` beyond the model's
            plain values, which `train` includes.
    """

    def __init__(self, name: str, model: dict[str, Any], train: dict[str, Any]) -> None:
        self.name = name
        self._model = dict(model)
        # The command's settings include the model's plain values (not its layers).
        plain = {k: v for k, v in model.items() if not isinstance(v, Fresh)}
        self.train = {**plain, **train}

    def __getitem__(self, key: str) -> Any:
        value = self._model[key]
        return value.factory() if isinstance(value, Fresh) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._model)

    def __len__(self) -> int:
        return len(self._model)

    def __repr__(self) -> str:
        return f"Preset({self.name!r})"


def _merlin_top_block():
    from ydnn.layers import MLPBlock

    return MLPBlock([64], kernel_initializer="glorot_uniform")


def _merlin_tables():
    import keras

    return keras.initializers.TruncatedNormal(stddev=0.05)


# The study's winner (bench/RESULTS.md, movielens_sweep); the model's own
# argument defaults are these values.
DEFAULTS = Preset(
    "ydnn",
    model={
        "combiner": "sqrtn",
        "logits_temperature": 1.0,
        "num_sampled": 100,
        "separate_output_table": False,
    },
    train={
        "epochs": 30,
        "learning_rate": 3e-3,
        "lr_schedule": "cosine",
        "batch_size": 256,
        "embedding_dim": 64,
        "tower": [2],  # hidden widths as multiples of the width: MLP 2D,D
        "activation_last_layer": False,
        "mlp_initializer": "he_uniform",
        "table_init_stddev": None,  # 1/sqrt(width)
        "max_history": 20,
        "early_stopping": 0,
    },
)

MERLIN = Preset(
    "merlin",
    model={
        "combiner": "mean",
        "embeddings_initializer": Fresh(_merlin_tables),
        "top_block": Fresh(_merlin_top_block),
        "logits_temperature": 1.0,
        "num_sampled": 100,
        "separate_output_table": False,
    },
    train={
        "epochs": 10,
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "batch_size": 256,
        "embedding_dim": 64,
        "tower": [],  # MLP D (64)
        "activation_last_layer": True,
        "mlp_initializer": "glorot_uniform",
        "table_init_stddev": 0.05,
        "max_history": 20,
        "early_stopping": 0,
    },
)

PRESETS = {p.name: p for p in (DEFAULTS, MERLIN)}


def get(name: str) -> Preset:
    """The preset called `name` (`"ydnn"` or `"merlin"`).

    Raises:
        ValueError: an unknown name, naming the known ones.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name]
