"""Dataset: a named group of images, files, tables and child datasets, shared as a unit."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ..._twins import sync_twin
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored

if TYPE_CHECKING:
    from ...app import App
    from .file import File
    from .image import Image
    from .table import Table


class Dataset(Stored):
    """A named group of images, files, tables and child datasets (one owner for a whole tree).

    ``ds.add(img, a_file, a_table, sub)``, ``ds.remove(...)``, ``ds.images()``, ``ds.files()``,
    ``ds.tables()``, ``ds.children()``. ``ds.share(users=["bob"])`` shares the dataset, its
    children and the members *you own* as a unit; something another user shared with you stays
    theirs to share.
    """

    kind = BY_NAME["dataset"]
    __structure_identifier__ = kind.structure
    operations = Operations(
        get=api.aget_dataset, delete=api.adelete_dataset, share=api.ashare_dataset
    )

    def __init__(self, info: api.Dataset, app: App) -> None:
        super().__init__(info, app)
        self._info: api.Dataset = info

    @property
    def parent_id(self) -> str | None:
        return None if self._info.parent is None else str(self._info.parent)

    @property
    def shared_with_everyone(self) -> bool:
        return bool(self._info.shared_with_everyone)

    async def aadd(self, *items: Image | File | Table | Dataset) -> Dataset:
        """Add images, files and tables you may see, and move datasets of yours into this one."""
        return await self._app.storage.achange_members(self, items, remove=False)

    add = sync_twin(aadd)

    async def aremove(self, *items: Image | File | Table | Dataset) -> Dataset:
        """Take members out (they are not deleted; a dataset taken out becomes a root)."""
        return await self._app.storage.achange_members(self, items, remove=True)

    remove = sync_twin(aremove)

    async def aimages(self, *, limit: int = 100, offset: int = 0) -> list[Image]:
        """Its images that you may see, latest added first."""
        return await self._app.storage.adataset_images(self, limit=limit, offset=offset)

    images = sync_twin(aimages)

    async def afiles(self, *, limit: int = 100, offset: int = 0) -> list[File]:
        """Its files that you may see, latest added first."""
        return await self._app.storage.adataset_files(self, limit=limit, offset=offset)

    files = sync_twin(afiles)

    async def atables(self, *, limit: int = 100, offset: int = 0) -> list[Table]:
        """Its tables that you may see, latest added first."""
        return await self._app.storage.adataset_tables(self, limit=limit, offset=offset)

    tables = sync_twin(atables)

    async def achildren(self, *, limit: int = 100, offset: int = 0) -> list[Dataset]:
        """Its child datasets, newest first."""
        return await self._app.storage.adatasets(parent=self, limit=limit, offset=offset)

    children = sync_twin(achildren)

    async def aparent(self) -> Dataset | None:
        """The dataset it is in (None at the root)."""
        if self.parent_id is None:
            return None
        return await self._app.storage.aget(Dataset, self.parent_id)

    parent = sync_twin(aparent)

    # -- display ---------------------------------------------------------------------------------

    listing_headers = ("name", "owner", "parent", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        owner = "you" if self.mine else "shared with you"
        return (self.name, owner, self.parent_id or "—", created, self.id)

    def __repr__(self) -> str:
        return f"Dataset(id={self.id!r}, name={self.name!r}, parent={self.parent_id!r})"

    def _repr_html_(self) -> str:
        from ...display import table

        rows = [
            ("id", self.id),
            ("parent", self.parent_id or "—"),
            ("owner", "you" if self.mine else "shared with you"),
            ("everyone", "yes" if self.shared_with_everyone else "no"),
            ("created", self.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ]
        return f"<div><strong>{html.escape(self.name)}</strong>{table(['', ''], rows)}</div>"
