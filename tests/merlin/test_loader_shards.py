"""`ydnn.Loader(global_size=, global_rank=)`: Merlin's per-rank reading, for
data-parallel workers. Shares are disjoint, every rank yields the same
number of full batches, and bad shares are named. Under a multi-worker
strategy `fit` shards by itself: tests/test_model_multiworker.py."""

from collections import Counter

import numpy as np
import pytest

import ydnn as mm
from tests.merlin.fixtures import loader_rows


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("size", [2, 3])
def test_shares_are_disjoint_and_take_equal_steps(data_dir, shuffle, size):
    data = mm.Dataset(data_dir)  # 103 rows in 15 row groups of up to 7 rows
    everything = Counter(loader_rows(mm.Loader(data, batch_size=4, shuffle=False))[0])
    shares, steps = [], []
    for rank in range(size):
        loader = mm.Loader(
            data, batch_size=4, shuffle=shuffle, seed=1, global_size=size, global_rank=rank
        )
        rows, sizes = loader_rows(loader)
        assert set(sizes) == {4}, "a rank yields full batches only"
        assert len(sizes) == len(loader)
        shares.append(Counter(rows))
        steps.append(len(sizes))
    assert len(set(steps)) == 1, f"ranks take different step counts: {steps}"
    union = sum(shares, Counter())
    assert not union - everything, "a row came twice, or from nowhere"
    for a in range(size):
        for b in range(a + 1, size):
            assert not shares[a] & shares[b], "two ranks read the same row"
    # Each rank's batches come from its share's rows.
    shares_rows = mm.Loader(data, batch_size=4, global_size=size, global_rank=0)._rank_rows()
    assert sum(shares_rows) == data.num_rows and steps[0] == min(shares_rows) // 4


def _uneven(tmp_path, sizes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ydnn.schema import ColumnSchema, Schema

    tmp_path.mkdir(exist_ok=True)
    for i, n in enumerate(sizes):
        table = pa.table({"x": pa.array(np.arange(n, dtype=np.int32) + 1000 * i)})
        pq.write_table(table, tmp_path / f"part_{i}.parquet")
    return mm.Dataset(str(tmp_path), schema=Schema([ColumnSchema("x", "int32")]))


def test_uneven_row_groups_are_shared_by_rows(tmp_path):
    # Largest first to the emptiest rank: 100 | 40 + 30 + 20 + 2.
    data = _uneven(tmp_path / "d", [100, 2, 40, 30, 20])
    loader = mm.Loader(data, batch_size=8, global_size=2, global_rank=1)
    assert loader._rank_rows() == [100, 92] and len(loader) == 11
    got = [set(b.columns["x"].tolist()) for b in loader.numpy_batches()]
    assert len(got) == 11 and all(x // 1000 in (1, 2, 3, 4) for b in got for x in b)


def test_a_share_smaller_than_a_batch_is_named(tmp_path):
    data = _uneven(tmp_path / "d", [100, 2])
    with pytest.raises(ValueError, match=r"smallest share holds 2 rows, fewer than batch_size 4"):
        mm.Loader(data, batch_size=4, global_size=2, global_rank=0)


def test_a_shuffled_share_changes_order_but_stays_in_its_pieces(data_dir):
    data = mm.Dataset(data_dir)
    loader = mm.Loader(data, batch_size=4, seed=2, global_size=2, global_rank=1)
    first, second = loader_rows(loader)[0], loader_rows(loader)[0]
    assert first != second  # a new order each epoch
    everything = mm.Loader(data, batch_size=1, shuffle=False)
    rows = loader_rows(everything)[0]  # in piece order
    starts = np.concatenate([[0], np.cumsum(data.piece_rows)])
    share = Counter(row for p in loader._rank_pieces(1) for row in rows[starts[p] : starts[p + 1]])
    assert not Counter(first) - share and not Counter(second) - share


def test_sharded_copies_the_loader_with_its_share(data_dir):
    loader = mm.Loader(mm.Dataset(data_dir), batch_size=5, seed=3).map(lambda x: x)
    share = loader.sharded(3, 2)
    assert (share.global_size, share.global_rank, share.shuffle, share.seed) == (3, 2, True, 3)
    assert (loader.global_size, loader.global_rank) == (1, 0)
    assert "global_size=3, global_rank=2" in repr(share)
    assert len(share._transforms) == 1
    next(iter(share.numpy_batches()))  # an epoch of the share is an epoch of the loader:
    assert loader._epochs == [1]  # the next fit shuffles anew


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"global_size": 2}, "global_size and global_rank go together"),
        ({"global_rank": 0}, "global_size and global_rank go together"),
        ({"global_size": 2, "global_rank": 2}, r"global_rank must be in 0..1 \(global_size 2\)"),
        ({"global_size": 0, "global_rank": 0}, "global_size must be"),
        ({"global_size": 2, "global_rank": -1}, "global_rank must be"),
        (
            {"global_size": 16, "global_rank": 0},
            r"global_size 16 \(the ranks.*more than the dataset's 15 pieces",
        ),
    ],
)
def test_bad_shares_are_named(data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mm.Loader(mm.Dataset(data_dir), batch_size=4, **kwargs)
