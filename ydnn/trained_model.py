"""`TrainedModel`: a trained retrieval model with what serving it needs.

A model directory (written by `ydnn train`, read by `ydnn evaluate`,
`ydnn recommend` and `ydnn export`) holds:

* `model.keras`: the `YoutubeDNNRetrievalModelV2` (Keras 3 format);
* `items.npy`: original item id of each model id (`items[0]` is padding);
* `users.npz`: original user ids and each user's item sequence in time
  order (model ids, CSR), the histories `recommend` starts from;
* `ydnn.json`: the data settings (columns, separator, `max_history`,
  `min_interactions`), the training settings and the metrics of the run;
* optionally `ann_index/`: an approximate index over the model's items
  (`ydnn.ann_index.AnnIndex`), written by `save` when the object holds one.

Everything is plain NumPy / JSON (no pickle), so a directory can be read
without trusting its author beyond the Keras model itself. It is written
whole or not at all (`ydnn.atomic_dir.write_directory`), so a kill at any point leaves the
previous model whole or the new one complete, never a mix.
"""

import json
import os
import zipfile

import numpy as np
import pandas as pd

from ydnn.atomic_dir import checkpoint, write_directory

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
ITEMS_FILE = "items.npy"
USERS_FILE = "users.npz"
SETTINGS_FILE = "ydnn.json"
MODEL_FILES = (MODEL_FILE, ITEMS_FILE, USERS_FILE, SETTINGS_FILE)
# The optional approximate index of a model directory or an export.
INDEX_DIR = "ann_index"
# What tf.saved_model.save writes, with `ydnn export`'s items.txt asset and
# `--index`'s index: all an export with overwrite may replace.
SAVED_MODEL_FILES = (
    "saved_model.pb",
    "fingerprint.pb",
    "variables",
    "assets",
    "assets.extra",
    INDEX_DIR,
)
RETRAIN = "retrain it with `ydnn train ... --out DIR --overwrite`"


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
    items, scores = trained.recommend(user_id, k=10, approximate=True)  # needs ydnn[ann]
    ```

    Approximate retrieval (`recommend(..., approximate=True)`) searches an
    `ydnn.ann_index.AnnIndex` over the model's candidate embeddings (`post`
    applied, ids from `min_sampled_id` on), found in this order: the one
    this object holds (`build_index` or `attach_index`); the `ann_index/`
    of the directory it was loaded from; else one built from the model's
    table on first use (seconds for 10^5 items, minutes for 10^7) and kept
    on the object, which `save` then writes. An index records a fingerprint
    of the item table, `post` and `min_sampled_id` it was built from, and
    one that belongs to another model is refused.
    """

    def __init__(self, model, item_ids, user_ids, sequence_indptr, sequence_items, settings):
        self.model = model
        self.item_ids = _plain(item_ids)
        self.user_ids = _plain(user_ids)
        self.sequence_indptr = np.asarray(sequence_indptr, np.int64)
        self.sequence_items = np.asarray(sequence_items, np.int32)
        self.settings = dict(settings)
        if len(self.item_ids) != model.max_id + 1:
            raise ValueError(
                f"item mapping has {len(self.item_ids)} entries but the model "
                f"scores {model.max_id + 1} ids"
            )
        indptr = self.sequence_indptr
        if (
            self.user_ids.ndim != 1
            or indptr.shape != (len(self.user_ids) + 1,)
            or indptr[0] != 0
            or (np.diff(indptr) < 0).any()
            or indptr[-1] != len(self.sequence_items)
        ):
            raise ValueError(
                f"user histories are inconsistent: {len(self.user_ids)} users, "
                f"indptr {self.sequence_indptr.shape}, "
                f"{len(self.sequence_items)} items"
            )
        if len(self.sequence_items) and not (
            1 <= self.sequence_items.min() and self.sequence_items.max() <= model.max_id
        ):
            raise ValueError(f"user histories hold item ids outside 1..{model.max_id}")
        if "max_history" not in self.settings.get("data", {}):
            raise ValueError("settings['data']['max_history'] is required")
        self._item_index = pd.Index(self.item_ids[1:])
        self._user_index = pd.Index(self.user_ids)
        self.directory = None  # set by `load`: where to look for an index
        self._ann_index = None

    @classmethod
    def from_data(cls, model, data, settings):
        """From a model and the `ydnn.data.SequenceData` it was trained on."""
        return cls(
            model, data.item_ids, data.user_ids, data.sequence_indptr, data.sequence_items, settings
        )

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
            raise KeyError(
                f"user {text!r} is not in the model's data (user ids are "
                f"{self.user_ids.dtype.name})"
            ) from None
        return str(text)

    def user_position(self, user_id):
        """Index of an original user id.

        Raises:
            KeyError: the user was not in the training log (or was dropped
                for having too few interactions).
        """
        pos = self._user_index.get_indexer([user_id])[0]
        if pos < 0:
            raise KeyError(
                f"user {user_id!r} is not in the model's data (unknown, or dropped "
                f"for fewer than {self.settings['data'].get('min_interactions', 3)} "
                f"interactions); {len(self.user_ids)} users are known"
            )
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
    def max_k(self, user_id, exclude_seen=True):
        """The largest `k` `recommend` serves the user: the catalog less reserved (and seen) ids."""
        seq = self.sequence(self.user_position(user_id))
        available = self.num_items - self.model.min_sampled_id + 1
        if exclude_seen:
            available -= len(np.unique(seq[seq >= self.model.min_sampled_id]))
        return available

    def recommend(self, user_id, k=10, exclude_seen=True, approximate=False):
        """Top-`k` items for a known user after all of their interactions.

        The query is the user's last `max_history` items; with
        `exclude_seen`, items the user already had are never returned.
        With `approximate`, the items come from the approximate index (see
        the class docstring): the scores are exact for the items returned,
        which may miss some of the exact top-`k`; if the index finds fewer
        than `k` items the user may get, fewer are returned.

        Returns:
            `(original item ids [k], scores [k])`, best first.

        Raises:
            KeyError: unknown user. ValueError: `k` larger than the catalog
            left after exclusions. ImportError: `approximate` without faiss
            (the message says `pip install 'ydnn[ann]'`).
        """
        import tensorflow as tf

        seq = self.sequence(self.user_position(user_id))
        history = np.zeros((1, self.max_history), np.int32)
        recent = seq[-self.max_history :]
        history[0, : len(recent)] = recent
        available = self.max_k(user_id, exclude_seen)
        if not 1 <= k <= available:
            raise ValueError(
                f"k must be in [1, {available}] for this user (the catalog less "
                f"reserved{' and seen' if exclude_seen else ''} items), got {k}"
            )
        index = self.approximate_index() if approximate else None
        name = self.model.candidate.name
        query = self.model({name: tf.constant(history)}, training=False)
        if index is not None:
            exclude = [np.unique(seq)] if exclude_seen else None
            scores, ids = index.search(query.numpy(), k, exclude)
            found = ids[0] >= 0  # the index pads with -1 when it finds fewer
            return self.decode(ids[0][found]), scores[0][found]
        exclude = (
            tf.RaggedTensor.from_row_lengths(np.unique(seq).astype(np.int32), [len(np.unique(seq))])
            if exclude_seen
            else None
        )
        scores, ids = self.model.retrieve(query, k, exclude)
        return self.decode(ids.numpy()[0]), scores.numpy()[0]

    # -- approximate index ---------------------------------------------------
    def build_index(self, **params):
        """Builds an approximate index over the model's items and keeps it on this object.

        Args:
            **params: `ydnn.ann_index.AnnIndex.build` parameters (`m`,
                `ef_construction`, `ef_search`).

        Returns:
            The `AnnIndex` (model ids `min_sampled_id..max_id`, rows with
            `post` applied).

        Raises:
            ImportError: faiss is not installed (the message says how).
        """
        from ydnn.ann_index import AnnIndex

        index = AnnIndex.build(
            candidate_matrix(self.model),
            np.arange(self.model.min_sampled_id, self.model.max_id + 1),
            metadata={"model_fingerprint": model_fingerprint(self.model)},
            **params,
        )
        self._ann_index = index
        return index

    def attach_index(self, index):
        """Keeps `index` (e.g. `AnnIndex.load("serving/ann_index")`) for `recommend`.

        Raises:
            ValueError: the index was built from another model (its
                fingerprint differs from this model's).
        """
        if index.metadata.get("model_fingerprint") != model_fingerprint(self.model):
            raise ValueError(
                "the ANN index was not built from this model (its item table, post or "
                "min_sampled_id differ): build one with `build_index()` or "
                "`ydnn export --index`"
            )
        self._ann_index = index

    def approximate_index(self):
        """The index `recommend(approximate=True)` searches: held, else the
        directory's `ann_index/`, else built now (and held)."""
        if self._ann_index is None:
            path = os.path.join(self.directory, INDEX_DIR) if self.directory else None
            if path is not None and os.path.isdir(path):
                from ydnn.ann_index import AnnIndex

                try:
                    self.attach_index(AnnIndex.load(path))
                except ValueError as e:
                    raise ValueError(f"{path!r}: {e}") from None
            else:
                self.build_index()
        return self._ann_index

    # -- files ---------------------------------------------------------------
    def save(self, directory, overwrite=False):
        """Write the four files (and `ann_index/` if this object holds an
        index) into `directory`, whole or not at all.

        Args:
            directory: created if needed (parents too).
            overwrite: replace a directory that already holds a model.

        Raises:
            ValueError: `directory` is a file, is not empty (without
                `overwrite`), holds other files, or cannot be written.
        """
        settings = dict(self.settings, format=FORMAT_VERSION)

        def write(tmp):
            self.model.save(os.path.join(tmp, MODEL_FILE))
            checkpoint(f"wrote {MODEL_FILE}")
            np.save(os.path.join(tmp, ITEMS_FILE), self.item_ids, allow_pickle=False)
            checkpoint(f"wrote {ITEMS_FILE}")
            np.savez(
                os.path.join(tmp, USERS_FILE),
                user_ids=self.user_ids,
                sequence_indptr=self.sequence_indptr,
                sequence_items=self.sequence_items,
            )
            checkpoint(f"wrote {USERS_FILE}")
            with open(os.path.join(tmp, SETTINGS_FILE), "w") as f:
                json.dump(settings, f, indent=2, default=_json_default)
                f.write("\n")
            checkpoint(f"wrote {SETTINGS_FILE}")
            if self._ann_index is not None:
                self._ann_index.write_files(os.path.join(tmp, INDEX_DIR))
                checkpoint(f"wrote {INDEX_DIR}")

        owned = MODEL_FILES + (INDEX_DIR,)
        write_directory(directory, write, overwrite, owned=owned, what="a ydnn model")

    @classmethod
    def load(cls, directory):
        """Read a model directory written by `save`.

        Raises:
            FileNotFoundError: the directory or one of its files is missing,
                naming it.
            ValueError: a file is damaged (truncated, not what it should
                be) or the files disagree, naming the file and what to do.
        """
        import keras

        import ydnn.layers  # noqa: F401  (registers the model's classes with Keras)
        import ydnn.model  # noqa: F401

        if not os.path.isdir(directory):
            raise _missing_directory(directory)
        for name in MODEL_FILES:
            if not os.path.isfile(os.path.join(directory, name)):
                state = (
                    "not a file" if os.path.lexists(os.path.join(directory, name)) else "missing"
                )
                raise FileNotFoundError(
                    f"{directory!r} is not a ydnn model directory: {name} is "
                    f"{state} (write one with `ydnn train`)"
                )
        settings = _read_settings(directory)
        path = os.path.join(directory, MODEL_FILE)
        if not zipfile.is_zipfile(path):  # Keras would call it "File not found"
            raise _damaged(path, "is not a readable Keras model", "not a zip archive")
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as e:  # noqa: BLE001 - Keras raises anything from a bad zip or config
            raise _damaged(path, "is not a readable Keras model", e) from None
        path = os.path.join(directory, ITEMS_FILE)
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":  # np.load would suggest unpickling it
                raise _damaged(path, "is not a readable NumPy array", "not a .npy file")
        try:
            items = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise _damaged(path, "is not a readable NumPy array", e) from None
        path = os.path.join(directory, USERS_FILE)
        if not zipfile.is_zipfile(path):
            raise _damaged(
                path, "is not a readable NumPy archive of the user histories", "not a zip archive"
            )
        try:
            with np.load(path, allow_pickle=False) as users:
                arrays = [users[k] for k in ("user_ids", "sequence_indptr", "sequence_items")]
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise _damaged(
                path, "is not a readable NumPy archive of the user histories", e
            ) from None
        try:
            trained = cls(model, items, *arrays, settings)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"{directory!r}: the files do not belong together ({e}); {RETRAIN}"
            ) from None
        trained.directory = directory
        return trained


def candidate_matrix(model, chunk=1 << 20):
    """`[max_id + 1 - min_sampled_id, D]` float32 candidate rows, `post` applied,
    computed `chunk` rows at a time (no second full-size temporary)."""
    from ydnn.model.top_k import candidate_rows

    lo, hi = model.min_sampled_id, model.max_id + 1
    out = None
    for start in range(lo, hi, chunk):
        stop = min(hi, start + chunk)
        rows = candidate_rows(model.item_table, start, stop, model.post).numpy()
        if out is None:
            out = np.empty((hi - lo, rows.shape[1]), np.float32)
        out[start - lo : stop - lo] = rows
    return out


def model_fingerprint(model):
    """SHA-256 of what an index over `model` depends on: the raw item table
    (bit-exact through save/load), `post`'s class and config, `min_sampled_id`.

    The raw table, not the rows after `post`: `post`'s last bits may differ
    between machines, the stored weights do not.
    """
    import hashlib

    import keras

    digest = hashlib.sha256()
    table = np.ascontiguousarray(model.item_table.numpy())
    digest.update(f"{table.dtype.str}{table.shape}".encode())
    digest.update(table.reshape(-1).view(np.uint8))
    post = None if model.post is None else keras.saving.serialize_keras_object(model.post)
    if isinstance(post, dict):
        post = {k: v for k, v in post.items() if k not in ("build_config",)}
        post = dict(post, config={k: v for k, v in post.get("config", {}).items() if k != "name"})
    extra = json.dumps([post, int(model.min_sampled_id)], sort_keys=True, default=str)
    digest.update(extra.encode())
    return digest.hexdigest()


def _damaged(path, what, error):
    reason = (
        str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    )
    return ValueError(f"{path!r} {what} (damaged or truncated: {reason}); {RETRAIN}")


def _missing_directory(directory):
    if os.path.lexists(directory):
        return ValueError(
            f"model directory {directory!r} is a file, not a directory: give "
            f"the directory `ydnn train --out` wrote"
        )
    parent, name = os.path.split(os.path.abspath(directory))
    aside = sorted(
        n
        for n in (os.listdir(parent) if os.path.isdir(parent) else [])
        if n.startswith(f".{name}.old-")
    )
    hint = (
        (
            f"; an interrupted save left the previous model in "
            f"{os.path.join(parent, aside[-1])!r}: rename it to {directory!r}"
        )
        if aside
        else ""
    )
    return FileNotFoundError(
        f"model directory {directory!r} does not exist"
        f"{hint or ' (write one with `ydnn train --out`)'}"
    )


def _read_settings(directory):
    """ydnn.json, checked for the keys and types the commands read."""
    path = os.path.join(directory, SETTINGS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except (ValueError, OSError) as e:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise _damaged(path, "is not valid JSON", e) from None
    if not isinstance(settings, dict) or settings.get("format") != FORMAT_VERSION:
        found = settings.get("format") if isinstance(settings, dict) else settings
        raise ValueError(
            f"{path!r}: model directory format {found!r} is not {FORMAT_VERSION}; {RETRAIN}"
        )
    data, train = settings.get("data"), settings.get("train", {})
    # (section, key, lowest value, required): what evaluate/recommend/export read.
    for section, key, low, required in (
        ("data", "max_history", 1, True),
        ("data", "min_interactions", 2, False),
        ("train", "k", 1, False),
        ("train", "min_sampled_id", 0, False),
    ):
        where = data if section == "data" else train
        value = where.get(key) if isinstance(where, dict) else where
        if value is None and not required and isinstance(where, dict):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(
                f"{path!r}: '{section}.{key}' must be an integer >= {low}, got {value!r}; {RETRAIN}"
            )
    text = [
        k
        for k in ("user_col", "item_col", "time_col", "sep")
        if data.get(k) is not None and not isinstance(data[k], str)
    ]
    syn = data.get("synthetic")
    if syn is not None and not (
        isinstance(syn, dict)
        and all(
            type(syn.get(k)) is int and syn[k] >= (k != "seed")
            for k in ("users", "items", "interactions", "seed")
        )
    ):
        text.append("synthetic")
    if text:
        raise ValueError(
            f"{path!r}: 'data.{text[0]}' has the wrong type ({data[text[0]]!r}); {RETRAIN}"
        )
    return settings


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
