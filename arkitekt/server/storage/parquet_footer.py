"""Checking an uploaded table: the object is a parquet file, and what its footer says.

At finish the server reads the first 4 bytes and the footer only (never the data): the magic
``PAR1`` at both ends, a footer length within :data:`MAX_FOOTER_BYTES`, then the footer itself,
parsed by pyarrow (the ``server`` extra). It records the schema, row count and row groups, and
checks that every column chunk lies inside the object and that the table stays within bounds
(columns, rows, row groups), so what readers are later pointed at is a sane parquet file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .datalayer import Datalayer
from .validation import InvalidUpload

MAGIC = b"PAR1"
MAX_FOOTER_BYTES = 16 << 20
"""A parquet footer (schema + row group statistics) larger than this is refused."""
MAX_COLUMNS = 4096
MAX_ROWS = 1 << 40
MAX_ROW_GROUPS = 1 << 20
MAX_COLUMN_NAME = 1024
MAX_TYPE_TEXT = 512


@dataclass(frozen=True)
class TableFacts:
    """What the footer of a verified parquet object says."""

    columns: list[dict[str, str]]
    """``[{"name": ..., "type": ...}]`` (arrow type names)."""
    num_rows: int
    num_row_groups: int


async def check_parquet(datalayer: Datalayer, key: str, size: int) -> TableFacts:
    """Read and check the footer of the parquet object ``key`` of ``size`` bytes."""
    if size < 12:
        raise InvalidUpload(f"the table's object has {size} bytes: not a parquet file")
    head = await datalayer.read_range(key, 0, 4)
    tail = await datalayer.read_range(key, size - 8, 8)
    if head is None or tail is None:
        raise InvalidUpload("nothing was written: the table's object is missing")
    if head != MAGIC or tail[4:] != MAGIC:
        raise InvalidUpload("the table's object is not a parquet file (no PAR1 magic)")
    (footer_length,) = struct.unpack("<I", tail[:4])
    if footer_length > MAX_FOOTER_BYTES:
        raise InvalidUpload(
            f"the parquet footer has {footer_length:,} bytes; at most {MAX_FOOTER_BYTES:,} "
            "are accepted (fewer columns or row groups)"
        )
    if footer_length + 12 > size:
        raise InvalidUpload("the parquet footer is longer than the file")
    footer = await datalayer.read_range(key, size - 8 - footer_length, footer_length)
    if footer is None or len(footer) != footer_length:
        raise InvalidUpload("the parquet footer could not be read whole")
    return parse_footer(footer + tail, size)


def parse_footer(footer_and_tail: bytes, size: int) -> TableFacts:
    """Parse ``<footer><length>PAR1`` of a parquet file of ``size`` bytes, within bounds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # the footer alone, behind the leading magic, reads as a file of no data pages
        meta: Any = pq.read_metadata(pa.BufferReader(MAGIC + footer_and_tail))
        schema = meta.schema.to_arrow_schema()
    except (OSError, ValueError, pa.ArrowException) as e:
        raise InvalidUpload(f"the parquet footer cannot be read ({str(e)[:200]})") from None
    if not 1 <= meta.num_columns <= MAX_COLUMNS or len(schema) > MAX_COLUMNS:
        raise InvalidUpload(f"a table has 1 to {MAX_COLUMNS} columns, this one {len(schema)}")
    if not 0 <= meta.num_rows <= MAX_ROWS or meta.num_row_groups > MAX_ROW_GROUPS:
        raise InvalidUpload(
            f"a table has at most {MAX_ROWS:,} rows in {MAX_ROW_GROUPS:,} row groups"
        )
    rows = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        rows += group.num_rows
        for c in range(group.num_columns):
            chunk = group.column(c)
            # an unset offset is 0 (or None); a chunk starts at its first page
            starts = [o for o in (chunk.data_page_offset, chunk.dictionary_page_offset) if o]
            start = min(starts, default=4)
            if start < 4 or start + chunk.total_compressed_size > size:
                raise InvalidUpload(
                    f"row group {g}, column {c} lies outside the parquet file: not accepted"
                )
    if rows != meta.num_rows:
        raise InvalidUpload("the row groups' rows do not add up to the table's rows")
    columns: list[dict[str, str]] = []
    for field in schema:
        if not isinstance(field.name, str) or len(field.name) > MAX_COLUMN_NAME:
            raise InvalidUpload(f"column names are at most {MAX_COLUMN_NAME} characters")
        columns.append({"name": field.name, "type": str(field.type)[:MAX_TYPE_TEXT]})
    return TableFacts(columns=columns, num_rows=meta.num_rows, num_row_groups=meta.num_row_groups)
