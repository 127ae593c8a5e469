"""`TrainedModel`: a trained retrieval model with what serving it needs.

A model directory (written by `ydnn train`, read by `ydnn evaluate`,
`ydnn recommend` and `ydnn export`) holds:

* `model.keras`: the `YoutubeDNNRetrievalModelV2` (Keras 3 format);
* `items.npy`: original item id of each model id (`items[0]` is padding);
* `users.npz`: original user ids and each user's item sequence in time
  order (model ids, CSR), the histories `recommend` starts from;
* `ydnn.json`: the data settings (columns, separator, `max_history`,
  `min_interactions`), the training settings and the metrics of the run.

Everything is plain NumPy / JSON (no pickle), so a directory can be read
without trusting its author beyond the Keras model itself.
"""

import json
import os
import warnings

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
ITEMS_FILE = "items.npy"
USERS_FILE = "users.npz"
SETTINGS_FILE = "ydnn.json"


def _plain(ids):
    """An id array NumPy can store without pickle (objects become strings)."""
    ids = np.asarray(ids)
    return ids.astype(str) if ids.dtype == object else ids


class TrainedModel:
    """A trained model plus its item mapping, user histories and settings.

    Args:
        model: a trained `ydnn.YoutubeDNNRetrievalModelV2`.
        item_ids: `[N + 1]` original item ids by model id (`[0]` = padding).
        user_ids: `[U]` original user ids.
        sequence_indptr, sequence_items: CSR of each user's items (model
            ids) in time order.
        settings: JSON-able dict; `settings["data"]` must hold `max_history`.

    Raises:
        ValueError: the arrays disagree with each other or with the model.

    Example:
    ```python
    trained = TrainedModel.from_data(model, data, settings)
    trained.save("out/")
    trained = TrainedModel.load("out/")
    items, scores = trained.recommend(user_id, k=10)
    ```
    """

    def __init__(self, model, item_ids, user_ids, sequence_indptr, sequence_items, settings):
        self.model = model
        self.item_ids = _plain(item_ids)
        self.user_ids = _plain(user_ids)
        self.sequence_indptr = np.asarray(sequence_indptr, np.int64)
        self.sequence_items = np.asarray(sequence_items, np.int32)
        self.settings = dict(settings)
        if len(self.item_ids) != model.max_id + 1:
            raise ValueError(f"item mapping has {len(self.item_ids)} entries but the model "
                             f"scores {model.max_id + 1} ids")
        if len(self.sequence_indptr) != len(self.user_ids) + 1 or \
                self.sequence_indptr[-1] != len(self.sequence_items):
            raise ValueError(f"user histories are inconsistent: {len(self.user_ids)} users, "
                             f"indptr {self.sequence_indptr.shape}, "
                             f"{len(self.sequence_items)} items")
        if "max_history" not in self.settings.get("data", {}):
            raise ValueError("settings['data']['max_history'] is required")
        self._item_index = pd.Index(self.item_ids[1:])
        self._user_index = pd.Index(self.user_ids)

    @classmethod
    def from_data(cls, model, data, settings):
        """From a model and the `ydnn.data.SequenceData` it was trained on."""
        return cls(model, data.item_ids, data.user_ids, data.sequence_indptr,
                   data.sequence_items, settings)

    @property
    def max_history(self):
        return int(self.settings["data"]["max_history"])

    @property
    def num_items(self):
        return len(self.item_ids) - 1

    # -- ids ---------------------------------------------------------------
    def parse_user(self, text):
        """An original user id from command-line text, typed like the stored ids."""
        kind = self.user_ids.dtype.kind
        try:
            if kind in "iu":
                return int(text)
            if kind == "f":
                return float(text)
        except ValueError:
            raise KeyError(f"user {text!r} is not in the model's data (user ids are "
                           f"{self.user_ids.dtype.name})") from None
        return str(text)

    def user_position(self, user_id):
        """Index of an original user id.

        Raises:
            KeyError: the user was not in the training log (or was dropped
                for having too few interactions).
        """
        pos = self._user_index.get_indexer([user_id])[0]
        if pos < 0:
            raise KeyError(f"user {user_id!r} is not in the model's data (unknown, or dropped "
                           f"for fewer than {self.settings['data'].get('min_interactions', 3)} "
                           f"interactions); {len(self.user_ids)} users are known")
        return int(pos)

    def model_ids(self, original_ids):
        """Model ids of original item ids; 0 for items the model does not know."""
        pos = self._item_index.get_indexer(_plain(np.asarray(original_ids)).ravel())
        return np.where(pos < 0, 0, pos + 1).astype(np.int32).reshape(np.shape(original_ids))

    def decode(self, ids):
        """Original item ids of model ids (`[...]`)."""
        ids = np.asarray(ids)
        if ((ids < 1) | (ids > self.num_items)).any():
            raise ValueError(f"model item ids must be in 1..{self.num_items}")
        return self.item_ids[ids]

    def sequence(self, position):
        """Model ids of the user at `position`, oldest first."""
        lo, hi = self.sequence_indptr[position], self.sequence_indptr[position + 1]
        return self.sequence_items[lo:hi]

    # -- retrieval ---------------------------------------------------------
    def recommend(self, user_id, k=10, exclude_seen=True):
        """Top-`k` items for a known user after all of their interactions.

        The query is the user's last `max_history` items; with
        `exclude_seen`, items the user already had are never returned.

        Returns:
            `(original item ids [k], scores [k])`, best first.

        Raises:
            KeyError: unknown user. ValueError: `k` larger than the catalog
            left after exclusions.
        """
        import tensorflow as tf

        seq = self.sequence(self.user_position(user_id))
        history = np.zeros((1, self.max_history), np.int32)
        recent = seq[-self.max_history:]
        history[0, :len(recent)] = recent
        available = self.num_items - self.model.min_sampled_id + 1
        if exclude_seen:
            available -= len(np.unique(seq[seq >= self.model.min_sampled_id]))
        if not 1 <= k <= available:
            raise ValueError(f"k must be in [1, {available}] for this user (the catalog less "
                             f"reserved{' and seen' if exclude_seen else ''} items), got {k}")
        name = self.model.candidate.name
        query = self.model({name: tf.constant(history)}, training=False)
        exclude = tf.RaggedTensor.from_row_lengths(np.unique(seq).astype(np.int32),
                                                   [len(np.unique(seq))]) if exclude_seen else None
        scores, ids = self.model.retrieve(query, k, exclude)
        return self.decode(ids.numpy()[0]), scores.numpy()[0]

    # -- files ---------------------------------------------------------------
    def save(self, directory):
        """Write the four files into `directory` (created if needed)."""
        os.makedirs(directory, exist_ok=True)
        self.model.save(os.path.join(directory, MODEL_FILE))
        np.save(os.path.join(directory, ITEMS_FILE), self.item_ids, allow_pickle=False)
        np.savez(os.path.join(directory, USERS_FILE), user_ids=self.user_ids,
                 sequence_indptr=self.sequence_indptr, sequence_items=self.sequence_items)
        settings = dict(self.settings, format=FORMAT_VERSION)
        with open(os.path.join(directory, SETTINGS_FILE), "w") as f:
            json.dump(settings, f, indent=2, default=_json_default)
            f.write("\n")

    @classmethod
    def load(cls, directory):
        """Read a model directory written by `save`.

        Raises:
            FileNotFoundError: the directory or one of its files is missing,
                naming it.
        """
        import keras

        import ydnn  # noqa: F401  (registers the model's classes with Keras)

        if not os.path.isdir(directory):
            raise FileNotFoundError(f"model directory {directory!r} does not exist")
        for name in (MODEL_FILE, ITEMS_FILE, USERS_FILE, SETTINGS_FILE):
            if not os.path.exists(os.path.join(directory, name)):
                raise FileNotFoundError(f"{directory!r} is not a ydnn model directory: "
                                        f"{name} is missing (write one with `ydnn train`)")
        with open(os.path.join(directory, SETTINGS_FILE)) as f:
            settings = json.load(f)
        if settings.get("format") != FORMAT_VERSION:
            raise ValueError(f"{directory!r}: model directory format {settings.get('format')!r} "
                             f"is not {FORMAT_VERSION}")
        with warnings.catch_warnings():
            # Keras notes the model has no build_from_config; its variables
            # are created by the constructor and the weights load regardless.
            warnings.filterwarnings("ignore", message=".*build_from_config")
            model = keras.saving.load_model(os.path.join(directory, MODEL_FILE), compile=False)
        items = np.load(os.path.join(directory, ITEMS_FILE), allow_pickle=False)
        with np.load(os.path.join(directory, USERS_FILE), allow_pickle=False) as users:
            return cls(model, items, users["user_ids"], users["sequence_indptr"],
                       users["sequence_items"], settings)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
