"""A table's bytes: a DataFrame to a parquet file, and reads of only the parts a query needs.

Writing: pandas DataFrames and pyarrow Tables become one parquet file (zstd, statistics on,
row groups of at most :data:`ROW_GROUP_ROWS` rows and about :data:`ROW_GROUP_BYTES`), spooled
to a temporary file and uploaded like any file.

Reading: :class:`RangeReader` is a seekable file over the stored object that fetches each
``read`` as one ranged request (HTTP ``Range`` to the local datalayer, a ranged GET on S3, or
``pread`` on the folder when the server runs in this process) and counts requests and bytes.
pyarrow's dataset scanner reads through it: the footer first, then only the column chunks of
the requested columns in the row groups whose statistics may match the filter.

``where`` strings (:func:`parse_where`) are Python-style comparisons, parsed with :mod:`ast`
and turned into pyarrow expressions from a short list of allowed forms: nothing is evaluated,
so a query string can neither run code nor reach files.
"""

from __future__ import annotations

import ast
import io
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ...errors import InvalidDataError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    from obstore.store import ObjectStore as ObstoreStore

ROW_GROUP_ROWS = 64 * 1024
"""At most this many rows per row group (the unit a query skips or reads)."""
ROW_GROUP_BYTES = 64 << 20
"""Row groups hold about this many uncompressed bytes at most (wide rows: fewer rows)."""
MAX_COLUMNS = 4096
"""Columns of a table (the server refuses more)."""
MAX_COLUMN_NAME = 1024
MAX_WHERE = 4096
"""Characters of a ``where`` string."""
MAX_WHERE_NODES = 500
INSTALL_HINT = "tables need pandas and pyarrow: pip install 'arkitekt[tables]'"


def need_pyarrow() -> Any:
    """pyarrow, or a clear error telling how to install it."""
    try:
        import pyarrow
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return pyarrow


def need_pandas() -> Any:
    try:
        import pandas
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return pandas


# -- writing -------------------------------------------------------------------------------------


def as_arrow(data: Any, argument: str = "df") -> pa.Table:
    """A pyarrow Table of a pandas DataFrame or pyarrow Table, with string column names; bad
    input names ``argument`` and the reason."""
    pa = need_pyarrow()
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    else:
        pd = _pandas_or_none()
        if pd is None or not isinstance(data, pd.DataFrame):
            raise InvalidDataError(
                f"{argument} must be a pandas DataFrame or a pyarrow Table, "
                f"not {type(data).__name__}"
            )
        bad = [c for c in data.columns if not isinstance(c, str)]
        if bad:
            raise InvalidDataError(
                f"{argument}: column names must be strings, got {bad[:5]!r} "
                "(e.g. df.columns = df.columns.astype(str))"
            )
        if isinstance(data.columns, pd.MultiIndex):
            raise InvalidDataError(f"{argument}: MultiIndex columns are not supported")
        try:
            table = pa.Table.from_pandas(data, preserve_index=_keeps_index(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            column = _failing_column(data, pa)
            where = f" column {column!r}:" if column else ""
            raise InvalidDataError(
                f"{argument}:{where} cannot be stored as a table column ({str(e)[:200]}); "
                "use numbers, strings, booleans or datetimes"
            ) from None
    bad_names = [n for n in table.column_names if not isinstance(n, str) or not n]
    if bad_names or len(set(table.column_names)) != len(table.column_names):
        raise InvalidDataError(f"{argument}: column names must be distinct non-empty strings")
    if table.num_columns == 0:
        raise InvalidDataError(f"{argument} has no columns")
    if table.num_columns > MAX_COLUMNS:  # the server's bound, checked before uploading
        raise InvalidDataError(
            f"{argument} has {table.num_columns} columns; a table has at most {MAX_COLUMNS}"
        )
    long = [n for n in table.column_names if len(n) > MAX_COLUMN_NAME]
    if long:
        raise InvalidDataError(
            f"{argument}: column names are at most {MAX_COLUMN_NAME} characters "
            f"({long[0][:40]!r}... is {len(long[0])})"
        )
    return table


def _pandas_or_none() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _keeps_index(df: Any) -> bool:
    """A named or non-default index is data (kept as a column); a plain 0..n-1 is not."""
    pd = _pandas_or_none()
    index = df.index
    if any(name is not None for name in index.names):
        return True
    return not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1)


def _failing_column(df: Any, pa: Any) -> str | None:
    for name in df.columns:
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return str(name)
    return None


def row_group_rows(table: pa.Table) -> int:
    """Rows per row group: :data:`ROW_GROUP_ROWS`, fewer when rows are wide."""
    if table.num_rows == 0:
        return ROW_GROUP_ROWS
    per_row = max(1, int(table.nbytes) // int(table.num_rows))
    return max(1024, min(ROW_GROUP_ROWS, ROW_GROUP_BYTES // per_row))


def write_parquet(table: pa.Table, sink: IO[bytes]) -> None:
    """Write ``table`` as parquet into ``sink`` (zstd, statistics, bounded row groups)."""
    import pyarrow.parquet as pq

    pq.write_table(
        table,
        sink,
        row_group_size=row_group_rows(table),
        compression="zstd",
        write_statistics=True,
        store_schema=True,  # pandas dtypes (and the index) come back as they were
    )


# -- reading -------------------------------------------------------------------------------------


@dataclass
class ReadStats:
    """What reads of a table fetched from the datalayer (requests and bytes)."""

    requests: int = 0
    bytes: int = 0


class RangeReader(io.RawIOBase):
    """A read-only, seekable file over one stored object; each ``read`` is one ranged request.

    ``fetch(start, length)`` returns those bytes. Thread-safe: pyarrow reads from several
    threads (a lock keeps position and counts consistent; requests themselves overlap).
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, stats: ReadStats) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._position = 0
        self._lock = threading.Lock()
        self.stats = stats

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            start = self._position
            end = self._size if size is None or size < 0 else min(self._size, start + size)
            self._position = max(start, end)
        if end <= start:
            return b""
        data = self._fetch(start, end - start)
        if len(data) != end - start:
            raise OSError(f"the datalayer returned {len(data)} bytes, {end - start} asked for")
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def size(self) -> int:
        return self._size


def folder_fetch(path: Path) -> tuple[Callable[[int, int], bytes], Callable[[], None]]:
    """Ranged reads of a file in the datalayer's folder (the server runs in this process)."""
    fd = os.open(path, os.O_RDONLY)

    def fetch(start: int, length: int) -> bytes:
        return os.pread(fd, length, start)

    return fetch, lambda: os.close(fd)


def store_fetch(current: Callable[[], ObstoreStore]) -> Callable[[int, int], bytes]:
    """Ranged GETs of the object ``data`` through obstore (``current()``: a store whose grant
    is fresh)."""
    import obstore

    def fetch(start: int, length: int) -> bytes:
        return bytes(obstore.get_range(current(), "data", start=start, length=length))

    return fetch


def dataset_of(reader: RangeReader) -> pads.Dataset:
    """A pyarrow dataset of the one parquet file behind ``reader`` (scans push filters and
    projections down to row groups and column chunks)."""
    pa = need_pyarrow()
    import pyarrow.dataset as pads

    source = pa.PythonFile(reader, mode="r")
    parquet = pads.ParquetFileFormat(
        default_fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=True)
    )
    fragment = parquet.make_fragment(source)
    return pads.FileSystemDataset([fragment], fragment.physical_schema, parquet)


def scan(dataset: pads.Dataset, where: str | None, columns: list[str] | None) -> pa.Table:
    """The rows of ``dataset`` matching ``where``, with ``columns`` (all when None)."""
    names = list(dataset.schema.names)
    if columns is not None:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise InvalidDataError(f"columns: no column {unknown[0]!r}; the table has {names}")
    expression = None if where is None else parse_where(where, dataset.schema)
    pa = need_pyarrow()
    try:
        scanner = dataset.scanner(columns=columns, filter=expression, use_threads=True)
        result = scanner.to_table()
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise InvalidDataError(
            f"where: {where!r} does not fit the columns' types ({str(e).splitlines()[0][:200]})"
        ) from None
    metadata = dataset.schema.metadata
    if metadata and columns is None:
        result = result.replace_schema_metadata(metadata)  # pandas dtypes and index
    return result


# -- where strings -------------------------------------------------------------------------------

_BACKTICK = re.compile(r"`([^`]*)`")


def parse_where(where: str, schema: pa.Schema) -> Any:
    """A pyarrow expression of ``where`` (e.g. ``"area > 100 and label == 'cell'"``) over the
    columns of ``schema``.

    Allowed: column names (in backticks when not identifiers), numbers, strings, True, False,
    None; ``== != < <= > >=`` (chained too), ``in`` / ``not in`` a list, ``and or not``
    (or ``& | ~``), ``+ - * /``, and ``col.isnull()`` / ``col.notnull()``. A string compared
    with a datetime or date column is read as an ISO 8601 time (``seen >= '2026-01-31T12:00'``;
    without a time zone, the column's).
    """
    if not isinstance(where, str) or not where.strip():
        raise UsageError("where must be a non-empty string, e.g. where='area > 100'")
    if len(where) > MAX_WHERE:
        raise InvalidDataError(f"where is {len(where)} characters; at most {MAX_WHERE}")
    quoted: dict[str, str] = {}

    def quote(match: re.Match[str]) -> str:
        name = f"__column_{len(quoted)}__"
        quoted[name] = match.group(1)
        return name

    text = _BACKTICK.sub(quote, where.strip())
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise InvalidDataError(f"where: {where!r} is not a valid condition ({e})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_WHERE_NODES:
        raise InvalidDataError(f"where is too complex (more than {MAX_WHERE_NODES} parts)")
    return _Where(schema, quoted, where).build(tree.body)


_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


class _Where:
    def __init__(self, schema: pa.Schema, quoted: dict[str, str], text: str) -> None:
        import pyarrow.compute as pc

        self.pc = pc
        self.schema = schema
        self.columns = list(schema.names)
        self.quoted = quoted
        self.text = text

    def fail(self, what: str) -> InvalidDataError:
        return InvalidDataError(f"where: {what} in {self.text!r}")

    def column(self, name: str) -> Any:
        name = self.quoted.get(name, name)
        if name not in self.columns:
            raise self.fail(f"no column {name!r} (the table has {self.columns})")
        return self.pc.field(name)

    def build(self, node: ast.AST) -> Any:
        pc = self.pc
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, bool | int | float | str):
                return pc.scalar(node.value)
            raise self.fail(f"unsupported value {node.value!r}")
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.BoolOp):
            parts = [self.build(v) for v in node.values]
            result = parts[0]
            for part in parts[1:]:
                result = result & part if isinstance(node.op, ast.And) else result | part
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand)
            if isinstance(node.op, ast.Not | ast.Invert):
                return ~operand
            if isinstance(node.op, ast.USub):
                return pc.negate(operand)
            if isinstance(node.op, ast.UAdd):
                return operand
        if isinstance(node, ast.BinOp):
            left, right = self.build(node.left), self.build(node.right)
            binary = {
                ast.BitAnd: lambda a, b: a & b,
                ast.BitOr: lambda a, b: a | b,
                ast.Add: pc.add,
                ast.Sub: pc.subtract,
                ast.Mult: pc.multiply,
                ast.Div: pc.divide,
            }.get(type(node.op))
            if binary is not None:
                return binary(left, right)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and not node.args
            and not node.keywords
            and node.func.attr in ("isnull", "notnull", "isna", "notna")
        ):
            target = self.build(node.func.value)
            return target.is_null() if node.func.attr in ("isnull", "isna") else target.is_valid()
        raise self.fail(f"{ast.unparse(node)!r} is not supported")

    def operand(self, node: ast.expr, other: ast.expr) -> Any:
        """``node`` as an expression; a string compared with a time column becomes a time."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            kind = self.temporal_type(other)
            if kind is not None:
                return self.time(node.value, kind)
        return self.build(node)

    def temporal_type(self, node: ast.expr) -> Any:
        import pyarrow.types as types

        if not isinstance(node, ast.Name):
            return None
        name = self.quoted.get(node.id, node.id)
        if name not in self.columns:
            return None
        kind = self.schema.field(name).type
        return kind if types.is_timestamp(kind) or types.is_date(kind) else None

    def time(self, text: str, kind: Any) -> Any:
        import datetime as dt

        import pyarrow as pa
        import pyarrow.types as types

        try:
            if types.is_date(kind):
                return self.pc.scalar(pa.scalar(dt.date.fromisoformat(text), type=kind))
            when = dt.datetime.fromisoformat(text)
            zone = kind.tz
            if when.tzinfo is None and zone is not None:
                import zoneinfo

                when = when.replace(tzinfo=dt.UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone))
            elif when.tzinfo is not None and zone is None:
                when = when.astimezone(dt.UTC).replace(tzinfo=None)
            return self.pc.scalar(pa.scalar(when, type=kind))
        except (ValueError, LookupError, pa.ArrowException) as e:
            raise self.fail(f"{text!r} is not an ISO 8601 time ({e})") from None

    def compare(self, node: ast.Compare) -> Any:
        result = None
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, ast.List | ast.Tuple | ast.Set):
                    raise self.fail("'in' takes a list of values, e.g. id in [1, 2]")
                values = []
                for element in right.elts:
                    if not isinstance(element, ast.Constant):
                        raise self.fail("'in' takes a list of plain values")
                    values.append(element.value)
                term = self.build(left).isin(values)
                if isinstance(op, ast.NotIn):
                    term = ~term
            else:
                make = _COMPARISONS.get(type(op))
                if make is None:
                    raise self.fail(f"the operator {type(op).__name__} is not supported")
                term = make(self.operand(left, right), self.operand(right, left))
            result = term if result is None else result & term
            left = right
        return result
