"""Table: a table in the central store (parquet), read whole or queried for a few rows."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._twins import sync_twin
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored
from .table_io import ReadStats

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ...app import App
    from .image import Image
    from .roi import Roi

PREVIEW_ROWS = 5


class Table(Stored):
    """A stored table (one parquet file): its schema and row count at hand, its rows read on
    demand.

    ``table.df()`` / ``table.arrow()`` read it whole; ``table.query("area > 100",
    columns=["id", "area"])`` reads only the row groups whose statistics may match and only
    those columns. In a remote function's signature a Table travels as its id.
    """

    kind = BY_NAME["table"]
    __structure_identifier__ = kind.structure
    operations = Operations(get=api.aget_table, delete=api.adelete_table, share=api.ashare_table)

    def __init__(self, info: api.Table, app: App) -> None:
        super().__init__(info, app)
        self._info: api.Table = info
        self.read_stats = ReadStats()
        """What the last read fetched from the datalayer (requests, bytes)."""

    # -- metadata --------------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return list(self._info.columns)

    @property
    def schema(self) -> dict[str, str]:
        """Column name -> arrow type name, as the server read them from the parquet footer."""
        return dict(zip(self._info.columns, self._info.column_types, strict=True))

    @property
    def num_rows(self) -> int:
        return self._info.num_rows

    @property
    def num_row_groups(self) -> int:
        return self._info.num_row_groups

    @property
    def size_bytes(self) -> int:
        """Bytes stored (parquet, compressed)."""
        return self._info.size_bytes

    @property
    def image_id(self) -> str | None:
        """The id of the image it is about (None when none, or you may not see it)."""
        return self._info.image_id

    @property
    def roi_id(self) -> str | None:
        """The id of the region of interest it is about (None when none, or you may not see
        it)."""
        return self._info.roi_id

    async def aroi(self) -> Roi | None:
        """The region of interest it is about (None when it is not linked to one you may see)."""
        from .roi import Roi

        if self.roi_id is None:
            return None
        return await self._app.storage.aget(Roi, self.roi_id)

    roi = sync_twin(aroi)

    @property
    def shared_with_everyone(self) -> bool:
        return bool(self._info.shared_with_everyone)

    async def aimage(self) -> Image | None:
        """The image it is about (None when it is not linked to one you may see)."""
        from .image import Image

        if self.image_id is None:
            return None
        return await self._app.storage.aget(Image, self.image_id)

    image = sync_twin(aimage)

    # -- data ------------------------------------------------------------------------------------

    async def aarrow(
        self, where: str | None = None, *, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """The rows (matching ``where``, see :meth:`aquery`) as a ``pyarrow.Table``."""
        result: pa.Table = await self._app.storage.aread_table(self, where=where, columns=columns)
        return result

    arrow = sync_twin(aarrow)

    async def adf(self, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole table (or some ``columns``) as a pandas DataFrame."""
        return _to_pandas(await self.aarrow(columns=columns))

    df = sync_twin(adf)

    async def aquery(self, where: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows matching ``where`` as a pandas DataFrame, reading only what may match.

        ``where`` compares columns with values, Python style: ``"area > 100"``,
        ``"label == 'nucleus' and area >= 50"``, ``"id in [1, 2, 3]"``, ``"z.isnull()"``;
        a column name that is not an identifier goes in backticks (```"`cell area` > 3"```).
        Row groups whose min/max statistics rule the condition out are never downloaded;
        ``columns`` limits the columns read. ``read_stats`` tells what was fetched.
        """
        return _to_pandas(await self.aarrow(where, columns=columns))

    query = sync_twin(aquery)

    # -- display ---------------------------------------------------------------------------------

    listing_headers = ("name", "rows", "columns", "size", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        from ...display import size_text

        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        shown = ", ".join(self.columns[:6]) + (", ..." if len(self.columns) > 6 else "")
        return (
            self.name,
            f"{self.num_rows:,}",
            shown,
            size_text(self.size_bytes),
            created,
            self.id,
        )

    def __repr__(self) -> str:
        return (
            f"Table(id={self.id!r}, name={self.name!r}, rows={self.num_rows}, "
            f"columns={self.columns!r})"
        )

    def _repr_html_(self) -> str:
        from ...display import size_text

        try:
            preview = self._preview()
        except Exception as e:  # display must never raise; say why there are no rows
            preview = f"<em>no preview ({html.escape(type(e).__name__)})</em>"
        schema = "".join(
            f"<tr><td>{html.escape(name)}</td><td><code>{html.escape(kind)}</code></td></tr>"
            for name, kind in self.schema.items()
        )
        facts = [
            ("id", self.id),
            ("rows", f"{self.num_rows:,} in {self.num_row_groups} row group(s)"),
            ("size", size_text(self.size_bytes)),
            ("image", self.image_id or "—"),
            ("roi", self.roi_id or "—"),
            ("created", self.created_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("owner", "you" if self.mine else "shared with you"),
        ]
        rows = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in facts
        )
        return (
            f"<div><strong>{html.escape(self.name)}</strong><table>{rows}</table>"
            "<details><summary>columns</summary><table><tr><th>name</th><th>type</th></tr>"
            f"{schema}</table></details>{preview}</div>"
        )

    def _preview(self) -> str:
        from koil import unkoil

        head: pa.Table = unkoil(self._app.storage.ahead_table, self, PREVIEW_ROWS)
        frame = _to_pandas(head)
        text: str = frame.to_html(max_rows=PREVIEW_ROWS, border=0)
        return f"<div>first rows</div>{text}"


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    from .table_io import need_pandas

    need_pandas()
    frame: pd.DataFrame = table.to_pandas()
    return frame
