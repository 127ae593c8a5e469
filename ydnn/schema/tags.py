"""Column tags: what a column means to the model (Merlin's vocabulary).

The values are the strings Merlin and TensorFlow Metadata schemas carry in
`annotation { tag: ... }`, so a schema written by NVTabular reads unchanged.
`Tags` is a `str` enum: `Tags.ITEM_ID == "item_id"` holds, and every API that
takes a tag takes either form.
"""

import enum


class Tags(str, enum.Enum):
    """Standard column tags, value-compatible with `merlin.schema.Tags`.

    Compound tags expand when a column is built: `ITEM_ID` also tags the column
    `ITEM` and `ID`, `USER_ID` adds `USER` and `ID`, `SESSION_ID` adds
    `SESSION` and `ID` (as Merlin's `TagSet` does), so selecting by `ITEM`
    finds the item-id column too.

    Example:
    ```python
    Tags("item_id") is Tags.ITEM_ID          # True
    Tags.ITEM_ID == "item_id"                # True
    Tags.ITEM_ID.expanded()                  # (ITEM_ID, ITEM, ID)
    ```
    """

    # Feature kinds.
    CATEGORICAL = "categorical"
    CONTINUOUS = "continuous"
    LIST = "list"
    SEQUENCE = "sequence"
    TEXT = "text"
    TOKENIZED = "tokenized"
    TIME = "time"
    EMBEDDING = "embedding"
    # Feature context.
    ID = "id"
    USER = "user"
    ITEM = "item"
    SESSION = "session"
    CONTEXT = "context"
    # Targets.
    TARGET = "target"
    REGRESSION = "regression"
    CLASSIFICATION = "classification"
    BINARY = "binary"
    MULTI_CLASS = "multi_class"
    # Compound tags (expand to their parts).
    USER_ID = "user_id"
    ITEM_ID = "item_id"
    SESSION_ID = "session_id"
    TEXT_TOKENIZED = "text_tokenized"
    BINARY_CLASSIFICATION = "binary_classification"
    MULTI_CLASS_CLASSIFICATION = "multi_class_classification"

    def __str__(self):
        return self.value

    def expanded(self):
        """This tag followed by the atomic tags it implies, as a tuple."""
        return (self,) + _COMPOUND.get(self, ())

    @classmethod
    def normalize(cls, tag):
        """`tag` as a `Tags` member when it names one, else the plain string.

        Unknown strings (NVTabular writes e.g. `"groupby_col"`) are kept as
        they are, so a schema round-trips without losing them.

        Raises:
            TypeError: `tag` is neither a string nor a `Tags`.
            ValueError: `tag` is an empty string.
        """
        if isinstance(tag, cls):
            return tag
        if not isinstance(tag, str):
            raise TypeError(
                f"a tag must be a string or ydnn.Tags, got {tag!r} ({type(tag).__name__})"
            )
        if not tag:
            raise ValueError("a tag must be a non-empty string")
        try:
            return cls(tag)
        except ValueError:
            return tag


_COMPOUND = {
    Tags.USER_ID: (Tags.USER, Tags.ID),
    Tags.ITEM_ID: (Tags.ITEM, Tags.ID),
    Tags.SESSION_ID: (Tags.SESSION, Tags.ID),
    Tags.TEXT_TOKENIZED: (Tags.TEXT, Tags.TOKENIZED),
    Tags.BINARY_CLASSIFICATION: (Tags.BINARY, Tags.CLASSIFICATION),
    Tags.MULTI_CLASS_CLASSIFICATION: (Tags.MULTI_CLASS, Tags.CLASSIFICATION),
}

# Pairs a column cannot carry together: a categorical id is looked up in an
# embedding table, a continuous value is fed as is (Merlin's TAG_COLLISIONS).
COLLISIONS = (
    (Tags.CATEGORICAL, Tags.CONTINUOUS),
    (Tags.CATEGORICAL, Tags.EMBEDDING),
    (Tags.CONTINUOUS, Tags.EMBEDDING),
    (Tags.CONTINUOUS, Tags.ID),
    (Tags.EMBEDDING, Tags.ID),
)
