"""The id range of a categorical column."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class IntDomain:
    """Inclusive id range `[min, max]` of an integer column.

    An embedding table for the column has `max + 1` rows (ids below `min`, such
    as a padding id 0, still index a row). `name` names the table: columns with
    the same domain name share one (Merlin's convention); `None` means the
    column's own name.

    Args:
        min: smallest valid id, `>= 0`.
        max: largest valid id, `>= min`.
        name: embedding-table name, or `None`.

    Raises:
        ValueError: a bound is not an integer, `min < 0` or `max < min`.

    Example:
    ```python
    IntDomain(0, 5000)            # ids 1..5000 plus padding 0: 5001 rows
    ```
    """

    min: int
    max: int
    name: str | None = None

    def __post_init__(self):
        for field in ("min", "max"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                try:
                    as_int = int(value)
                except (TypeError, ValueError):
                    as_int = None
                if as_int is None or as_int != value:
                    raise ValueError(f"IntDomain.{field} must be an integer, got {value!r}")
                object.__setattr__(self, field, as_int)
        if self.min < 0:
            raise ValueError(f"IntDomain.min must be >= 0, got {self.min}")
        if self.max < self.min:
            raise ValueError(f"IntDomain.max ({self.max}) must be >= min ({self.min})")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(
                f"IntDomain.name must be a non-empty string or None, got {self.name!r}"
            )

    @property
    def size(self):
        """Rows of a table indexed by these ids: `max + 1`."""
        return self.max + 1

    def to_dict(self):
        """Plain dict for JSON (`name` omitted when `None`)."""
        out = {"min": self.min, "max": self.max}
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, config):
        """Inverse of `to_dict`."""
        return cls(config.get("min", 0), config["max"], config.get("name"))
