"""`AnnIndex`: approximate top-k by inner product over item embeddings (faiss HNSW).

Exact retrieval (`ydnn.model.top_k.top_k_items`) scores every item, so its
cost grows with the catalog; an HNSW graph (faiss `IndexHNSWFlat`, inner
product metric) visits a few thousand items per query instead. faiss was
chosen over hnswlib, usearch and ScaNN by `python -m bench.ann_libraries`
(bench/RESULTS.md, section `ann_libraries`): one abi3 wheel for every
CPython >= 3.10 (no compiler at install, unlike hnswlib; usearch needs
3.11), inner-product HNSW at the others' recall and speed, and it loads
beside TensorFlow 2.21, which ScaNN 1.4.2 does not (its package imports a
TF op built for TF 2.20).

An index directory (`save` / `load`) holds `index.faiss` (faiss's own
format), `ids.npy` (the model id of each indexed row) and `ann.json` (the
parameters, the faiss version, and a SHA-256 of the other two files, so a
damaged file is found at load, not as wrong results). It is written whole
or not at all (`ydnn.atomic_dir.write_directory`).

faiss is an optional dependency (`pip install 'ydnn[ann]'`): this module
imports without it and says how to install it when an index is built or
loaded.
"""

import hashlib
import json
import os
from typing import Any

import numpy as np

from ydnn._ann_args import exclusions, float_matrix, id_vector
from ydnn.atomic_dir import write_directory
from ydnn_kernels._args import int_scalar

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.npy"
PARAMS_FILE = "ann.json"
ANN_FILES = (INDEX_FILE, IDS_FILE, PARAMS_FILE)
INSTALL = "pip install 'ydnn[ann]'"
# Chosen on the validation queries of bench.ann_libraries (10^6 clustered
# items, bench/RESULTS.md section ann_libraries), not the reported ones.
# efSearch 64: recall@10 0.988 there (32: 0.980); recall at a fixed
# efSearch falls as the catalog grows and the goal is 0.95 at 10^7, so the
# margin goes to recall. m=32 / ef_construction=200 reach 0.993 at 64 but
# build 2.6x slower (227 s vs 87 s) with 30% more memory.
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 100
DEFAULT_EF_SEARCH = 64


def require_faiss() -> Any:
    """The `faiss` module, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError(
            f"approximate search needs faiss, which is not installed ({e}): {INSTALL}"
        ) from None
    return faiss


class AnnIndex:
    """Approximate maximum-inner-product top-k over an `[N, D]` embedding matrix.

    Build it with `AnnIndex.build` (or read one with `AnnIndex.load`), not
    the constructor. Scores are the float32 inner products `q . x` of the
    indexed rows, so they equal the exact path's scores for the ids found;
    only which ids are found is approximate.

    Example:
    ```python
    index = AnnIndex.build(item_embeddings, min_id=1)  # row i is model id i; 0 not indexed
    scores, ids = index.search(queries, k=10, exclude=[[3, 5], []])  # [2, 10] each
    index.save("serving/ann_index")
    index = AnnIndex.load("serving/ann_index")
    ```
    """

    def __init__(self, index: Any, ids: np.ndarray, params: dict[str, Any]):
        self._index = index
        self._ids = np.asarray(ids, np.int64)
        self.params = dict(params)
        self.metadata: dict[str, Any] = dict(self.params.get("metadata") or {})
        # Sorted ids and their rows map excluded ids to rows in O(log N).
        self._order = np.argsort(self._ids, kind="stable")
        self._sorted = self._ids[self._order]

    @property
    def size(self) -> int:
        """Rows indexed."""
        return len(self._ids)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ids(self) -> np.ndarray:
        """`[size]` int64 model id of each indexed row (a copy)."""
        return self._ids.copy()

    @property
    def nbytes(self) -> int:
        """Memory of the index: vectors, graph links and the id map."""
        hnsw = self._index.hnsw
        links = 4 * hnsw.neighbors.size() + 8 * hnsw.offsets.size() + 4 * hnsw.levels.size()
        return 4 * self.size * self.dim + links + self._ids.nbytes

    @classmethod
    def build(
        cls,
        embeddings: Any,
        ids: Any = None,
        min_id: int = 0,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        metadata: dict[str, Any] | None = None,
    ) -> "AnnIndex":
        """Indexes the rows of `embeddings` whose id is `>= min_id`.

        Args:
            embeddings: `[N, D]` float embeddings (float32, or a float type
                converted to it), all finite.
            ids: `[N]` distinct non-negative integer ids of the rows; default
                `0..N-1` (row `i` is model id `i`).
            min_id: rows with ids below it (padding, reserved ids) are not
                indexed, so no search returns them.
            m: HNSW links per node (memory `~8 m` bytes per row; more links,
                better recall at a given `ef_search`).
            ef_construction: candidate list while building (slower build,
                better graph).
            ef_search: default candidate list while searching (more: higher
                recall, fewer queries/s); `search` can override it.
            metadata: JSON-able dict kept with the index (e.g. what model it
                belongs to).

        Returns:
            The index.

        Raises:
            ImportError: faiss is not installed (the message says how).
            ValueError: a bad shape, dtype or value, naming the argument.
        """
        faiss = require_faiss()
        emb = float_matrix("embeddings", embeddings)
        n = emb.shape[0]
        ids = np.arange(n, dtype=np.int64) if ids is None else id_vector(ids, n)
        min_id = int_scalar("min_id", min_id, 0)
        m = int_scalar("m", m, 2, 256)
        ef_construction = int_scalar("ef_construction", ef_construction, 1)
        ef_search = int_scalar("ef_search", ef_search, 1)
        keep = ids >= min_id
        if not keep.any():
            raise ValueError(
                f"no row left to index: all {n} ids are below min_id={min_id} "
                f"(ids range {ids.min()}..{ids.max()})"
            )
        if not keep.all():  # a copy only when rows are dropped (10^7 x 64 is 2.5 GB)
            emb, ids = np.ascontiguousarray(emb[keep]), ids[keep]
        index = faiss.IndexHNSWFlat(emb.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(emb)
        params = {
            "format": FORMAT_VERSION,
            "library": "faiss-cpu",
            "library_version": faiss.__version__,
            "index": "IndexHNSWFlat",
            "metric": "inner_product",
            "dim": int(emb.shape[1]),
            "size": len(ids),
            "min_id": min_id,
            "m": m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "metadata": dict(metadata or {}),
        }
        return cls(index, ids, params)

    def search(
        self, queries: Any, k: int, exclude: Any = None, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The approximate `k` best ids of each query row by inner product.

        Exclusions are applied after the search: the index is asked for `k`
        plus the longest exclusion list of the batch (`ef_search` scaled by
        the same factor), and the excluded ids are dropped. If fewer than
        `k` ids remain (a tiny catalog, or the graph found fewer), the row
        is padded at its end with id `-1` and score `-inf`.

        Args:
            queries: `[B, D]` float query embeddings, all finite.
            k: ids per row, `1 <= k <= size`.
            exclude: optional ids to leave out, one list per row: a length-B
                sequence of integer sequences, a `tf.RaggedTensor`, or a
                2-D array or tensor read row by row (negative entries are
                ignored, so `-1` can pad it).
            ef_search: candidate list of this search (default: the index's).

        Returns:
            `(scores [B, k] float32, ids [B, k] int64)`, best first.

        Raises:
            ValueError: a bad shape, dtype, value or `k`, naming the argument.
        """
        faiss = require_faiss()
        q = float_matrix("queries", queries, self.dim, allow_empty=True)
        k = int_scalar("k", k, 1)
        if k > self.size:
            raise ValueError(f"k must be in [1, {self.size}] (the rows indexed), got {k}")
        ef = (
            self.params["ef_search"] if ef_search is None else int_scalar("ef_search", ef_search, 1)
        )
        excluded = exclusions(exclude, len(q))
        longest = max((len(e) for e in excluded), default=0) if excluded else 0
        fetch = min(self.size, k + longest)
        search_params = faiss.SearchParametersHNSW()
        # The list grows in proportion to the depth fetched: at the length
        # meant for depth k, depth k + extra loses recall (0.99 at depth 10
        # but 0.97 at depth 24 in tests/test_ann_index.py), on exactly the
        # rows exclusions hit.
        search_params.efSearch = -(-max(ef, k) * fetch // k)
        scores, rows = self._index.search(q, fetch, params=search_params)
        drop = rows < 0
        if excluded and longest:
            drop |= self._excluded_mask(rows, excluded)
        if not drop.any():  # the common case: nothing to move or pad
            return scores[:, :k], self._ids[rows[:, :k]]
        # A stable sort on `drop` moves kept results to the front in score order.
        order = np.argsort(drop, axis=1, kind="stable")[:, :k]
        rows = np.take_along_axis(rows, order, axis=1)
        gone = np.take_along_axis(drop, order, axis=1)
        scores = np.where(gone, -np.inf, np.take_along_axis(scores, order, axis=1))
        ids = np.where(gone, -1, self._ids[np.maximum(rows, 0)])
        return scores.astype(np.float32), ids.astype(np.int64)

    def _excluded_mask(self, rows: np.ndarray, excluded: list[np.ndarray]) -> np.ndarray:
        """`[B, F]` True where a found row is one its query row excludes."""
        counts = [len(e) for e in excluded]
        values = np.concatenate(excluded)
        owner = np.repeat(np.arange(len(excluded), dtype=np.int64), counts)
        at = np.minimum(np.searchsorted(self._sorted, values), self.size - 1)
        present = self._sorted[at] == values
        # One key per (query row, index row): row * size + index row.
        keys = owner[present] * self.size + self._order[at[present]]
        found = np.arange(len(rows), dtype=np.int64)[:, None] * self.size + rows
        return np.isin(found, keys)

    # -- files ---------------------------------------------------------------
    def write_files(self, directory: str) -> None:
        """Writes the index files into `directory` (created; not atomic).

        `save` is the atomic form; this one is for a caller that makes a
        larger directory atomic itself, as `ydnn export --index` does.
        """
        faiss = require_faiss()
        os.makedirs(directory, exist_ok=True)
        faiss.write_index(self._index, os.path.join(directory, INDEX_FILE))
        np.save(os.path.join(directory, IDS_FILE), self._ids, allow_pickle=False)
        params = dict(self.params, metadata=self.metadata)
        params["sha256"] = {n: _sha256(os.path.join(directory, n)) for n in (INDEX_FILE, IDS_FILE)}
        with open(os.path.join(directory, PARAMS_FILE), "w") as f:
            json.dump(params, f, indent=2)
            f.write("\n")

    def save(self, directory: str, overwrite: bool = False) -> None:
        """Writes `index.faiss`, `ids.npy` and `ann.json` into `directory`, whole or not at all.

        Raises:
            ValueError: `directory` is a file, is not empty (without
                `overwrite`), holds other files, or cannot be written.
        """
        write_directory(directory, self.write_files, overwrite, ANN_FILES, "an ANN index")

    @classmethod
    def load(cls, directory: str) -> "AnnIndex":
        """Reads a directory written by `save` (or `ydnn export --index`).

        Raises:
            ImportError: faiss is not installed (the message says how).
            FileNotFoundError: the directory or one of its files is missing,
                naming it.
            ValueError: a file is damaged or the files disagree, naming the
                file.
        """
        faiss = require_faiss()
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"ANN index directory {directory!r} does not exist")
        for name in ANN_FILES:
            if not os.path.isfile(os.path.join(directory, name)):
                raise FileNotFoundError(
                    f"{directory!r} is not a complete ANN index: {name} is missing ({_REBUILD})"
                )
        params = _read_params(os.path.join(directory, PARAMS_FILE))
        for name in (INDEX_FILE, IDS_FILE):
            path = os.path.join(directory, name)
            if _sha256(path) != params["sha256"].get(name):
                raise ValueError(
                    f"{path!r} is damaged: its SHA-256 is not the one {PARAMS_FILE} "
                    f"recorded ({_REBUILD})"
                )
        path = os.path.join(directory, IDS_FILE)
        try:
            ids = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"{path!r} is not a readable NumPy array ({e}; {_REBUILD})") from None
        path = os.path.join(directory, INDEX_FILE)
        try:
            index = faiss.read_index(path)
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[-1][:200]
            raise ValueError(
                f"{path!r} is not a readable faiss index ({reason}; {_REBUILD})"
            ) from None
        if (
            getattr(index, "metric_type", None) != faiss.METRIC_INNER_PRODUCT
            or not hasattr(index, "hnsw")
            or index.ntotal != len(ids)
            or ids.shape != (params["size"],)
            or index.d != params["dim"]
        ):
            raise ValueError(
                f"{directory!r}: the files do not belong together ({INDEX_FILE}: "
                f"{index.ntotal} rows of width {index.d}; {IDS_FILE}: shape {ids.shape}; "
                f"{PARAMS_FILE}: {params['size']} x {params['dim']}, inner product; {_REBUILD})"
            )
        return cls(index, ids, params)


_REBUILD = "rebuild it with AnnIndex.build(...).save(...) or `ydnn export --index`"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_params(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            params = json.load(f)
    except (ValueError, OSError) as e:
        raise ValueError(f"{path!r} is not valid JSON ({e}; {_REBUILD})") from None
    keys = ("format", "dim", "size", "ef_search", "sha256")
    if (
        not isinstance(params, dict)
        or any(key not in params for key in keys)
        or not isinstance(params["sha256"], dict)
    ):
        raise ValueError(f"{path!r} lacks the index parameters {list(keys)} ({_REBUILD})")
    if params["format"] != FORMAT_VERSION:
        raise ValueError(
            f"{path!r}: ANN index format {params['format']!r} is not {FORMAT_VERSION} ({_REBUILD})"
        )
    return params
