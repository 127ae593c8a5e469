"""Column schema: tags, columns, schemas, and readers for Merlin's files.

`Tags`, `ColumnSchema` and `Schema` follow `merlin.schema`; `Schema.read`
takes a ydnn JSON file, a Merlin / TensorFlow Metadata `schema.json` or a
`schema.pbtxt`.
"""

from ydnn.schema.column_schema import ColumnSchema
from ydnn.schema.int_domain import IntDomain
from ydnn.schema.schema import Schema
from ydnn.schema.tags import Tags

__all__ = ["ColumnSchema", "IntDomain", "Schema", "Tags"]
