"""Image: an array in the central store, passed by reference, its data read lazily."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from koil import unkoil

from ..._twins import sync_twin
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

    from ...app import App
    from .roi import Roi


class Image(Stored):
    """An image stored as zarr: its metadata at hand, its data read only where computed.

    ``img.data`` is an ``xarray.DataArray`` backed by dask over the stored chunks:
    ``img.data.sel(c=0, z=10).compute()`` reads just the chunks of that plane. In a remote
    function's signature an Image travels as its id and is opened again on the other side.
    """

    kind = BY_NAME["image"]
    __structure_identifier__ = kind.structure
    operations = Operations(get=api.aget_image, delete=api.adelete_image, share=api.ashare_image)

    def __init__(self, info: api.Image, app: App) -> None:
        super().__init__(info, app)
        self._info: api.Image = info
        self._data: xr.DataArray | None = None

    # -- metadata --------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._info.shape)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self._info.dims)

    @property
    def dtype(self) -> Any:
        import numpy as np

        return np.dtype(self._info.dtype)

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(self._info.chunks)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._info.tags)

    @property
    def size_bytes(self) -> int | None:
        """Bytes stored (compressed)."""
        return self._info.size_bytes

    # -- data ------------------------------------------------------------------------------------

    async def adata(self) -> xr.DataArray:
        """The lazy data (opened once; reading happens on ``.compute()`` / ``.values``)."""
        if self._data is None:
            self._data = await self._app.storage.aopen_image(self)
        return self._data

    @property
    def data(self) -> xr.DataArray:
        """The lazy data: an ``xarray.DataArray`` over dask (in async code, ``await
        img.adata()``)."""
        if self._data is None:
            self._data = unkoil(self.adata)
        return self._data

    # -- regions of interest ---------------------------------------------------------------------

    async def aadd_roi(
        self,
        *,
        kind: str,
        vectors: Sequence[Sequence[float]] | Any = (),
        label: str = "",
        mask: Image | str | None = None,
    ) -> Roi:
        """Draw a region of interest on this image (see :func:`arkitekt.add_roi`)."""
        return await self._app.storage.aadd_roi(
            self, kind=kind, vectors=vectors, label=label, mask=mask
        )

    add_roi = sync_twin(aadd_roi)

    async def arois(
        self,
        *,
        label: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Roi]:
        """This image's ROIs, newest first (see :func:`arkitekt.rois`)."""
        return await self._app.storage.arois(
            self, label=label, kind=kind, limit=limit, offset=offset
        )

    rois = sync_twin(arois)

    # -- display ---------------------------------------------------------------------------------

    listing_headers = ("name", "shape", "dtype", "tags", "size", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        from ...display import shape_text, size_text

        shape = shape_text(self.dims, self.shape)
        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        tags = ", ".join(self.tags)
        return (
            self.name,
            shape,
            self._info.dtype,
            tags,
            size_text(self.size_bytes),
            created,
            self.id,
        )

    def __repr__(self) -> str:
        shape = ", ".join(f"{d}: {n}" for d, n in zip(self.dims, self.shape, strict=True))
        return f"Image(id={self.id!r}, name={self.name!r}, {{{shape}}}, dtype={self._info.dtype})"

    def _repr_html_(self) -> str:
        from ...display import shape_text
        from ...protocol.thumbnail import first_plane, png_data_url, to_png

        try:
            plane = first_plane(self.data).values
            source = png_data_url(to_png(plane))
            picture = f'<img src="{source}" style="image-rendering:pixelated;width:128px">'
        except Exception as e:  # display must never raise; show why there is no picture
            picture = f"<em>no preview ({html.escape(type(e).__name__)})</em>"
        rows = [
            ("id", self.id),
            ("shape", shape_text(self.dims, self.shape)),
            ("dtype", self._info.dtype),
            ("chunks", " x ".join(str(c) for c in self.chunks)),
            ("tags", ", ".join(self.tags) or "—"),
            ("created", self.created_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("owner", "you" if self.mine else "shared with you"),
        ]
        table = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        return (
            "<div style='display:flex;gap:1em;align-items:flex-start'>"
            f"<div>{picture}</div><div><strong>{html.escape(self.name)}</strong>"
            f"<table>{table}</table></div></div>"
        )
