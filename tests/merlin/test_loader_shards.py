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
    # Each rank's rows are its row groups' rows: rank r holds pieces r::size.
    sizes = np.asarray(data.piece_rows)
    want = min(sizes[r::size].sum() // 4 for r in range(size))
    assert steps[0] == want


def test_a_shuffled_share_changes_order_but_stays_in_its_pieces(data_dir):
    data = mm.Dataset(data_dir)
    loader = mm.Loader(data, batch_size=4, seed=2, global_size=2, global_rank=1)
    first, second = loader_rows(loader)[0], loader_rows(loader)[0]
    assert first != second  # a new order each epoch
    in_order = mm.Loader(data, batch_size=1, shuffle=False, global_size=2, global_rank=1)
    share = Counter(loader_rows(in_order)[0])  # batch 1: every row of the share
    assert not Counter(first) - share and not Counter(second) - share


def test_sharded_copies_the_loader_with_its_share(data_dir):
    loader = mm.Loader(mm.Dataset(data_dir), batch_size=5, seed=3).map(lambda x: x)
    share = loader.sharded(3, 2)
    assert (share.global_size, share.global_rank, share.shuffle, share.seed) == (3, 2, True, 3)
    assert (loader.global_size, loader.global_rank) == (1, 0)
    assert "global_size=3, global_rank=2" in repr(share)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"global_size": 2}, "global_size and global_rank go together"),
        ({"global_rank": 0}, "global_size and global_rank go together"),
        ({"global_size": 2, "global_rank": 2}, r"global_rank must be in 0..1 \(global_size 2\)"),
        ({"global_size": 0, "global_rank": 0}, "global_size must be"),
        ({"global_size": 2, "global_rank": -1}, "global_rank must be"),
        ({"global_size": 16, "global_rank": 0}, "global_size 16 is more than the dataset's 15"),
    ],
)
def test_bad_shares_are_named(data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mm.Loader(mm.Dataset(data_dir), batch_size=4, **kwargs)
