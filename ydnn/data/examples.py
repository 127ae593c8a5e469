"""One split of next-item examples: padded histories and their targets."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Examples:
    """Next-item examples as dense arrays (`N` rows, `H` = max_history).

    Attributes:
        history: `[N, H]` int32 item ids in time order (oldest first),
            right-padded with 0.
        lengths: `[N]` int32, real items per row (`1..H`).
        target: `[N]` int32, the item to predict (`1..num_items`).
        user: `[N]` int32 user index (`SequenceData.user_ids[user]` is the
            original user id).

    Raises:
        ValueError: arrays disagree in rows, or `history` is not 2-D.
    """

    history: np.ndarray
    lengths: np.ndarray
    target: np.ndarray
    user: np.ndarray

    def __post_init__(self):
        if self.history.ndim != 2:
            raise ValueError(f"history must be [N, H], got shape {self.history.shape}")
        n = self.history.shape[0]
        for name in ("lengths", "target", "user"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},) to match history, got {arr.shape}")

    def __len__(self):
        return self.history.shape[0]

    @property
    def max_history(self):
        return self.history.shape[1]

    def take(self, rows):
        """The examples at `rows` (indices or a boolean mask)."""
        return Examples(self.history[rows], self.lengths[rows], self.target[rows], self.user[rows])

    def ragged_history(self):
        """History as (values `[sum(lengths)]`, row_splits `[N + 1]`), int64 splits."""
        mask = np.arange(self.max_history)[None, :] < self.lengths[:, None]
        splits = np.zeros(len(self) + 1, np.int64)
        np.cumsum(self.lengths, out=splits[1:])
        return self.history[mask], splits
