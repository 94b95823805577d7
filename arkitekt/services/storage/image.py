"""Image: an array in the central store, passed by reference, its data read lazily."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from koil import unkoil

from ..._twins import sync_twin
from ...errors import UsageError
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

    from ...app import App
    from .ome import Channel
    from .roi import Roi


@dataclass(frozen=True)
class LevelInfo:
    """What the server verified of one resolution level (dims in the image's order)."""

    index: int
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    scale: tuple[float, ...]


class ImageLevel:
    """One resolution level of an image (``img.level(k)``): its data read like the image's."""

    def __init__(self, image: Image, info: LevelInfo) -> None:
        self.image = image
        self.info = info
        self._data: xr.DataArray | None = None

    @property
    def index(self) -> int:
        return self.info.index

    @property
    def shape(self) -> tuple[int, ...]:
        return self.info.shape

    @property
    def scale(self) -> dict[str, float]:
        """Pixel size of this level per dim (level 0's, times how much it was shrunk)."""
        return dict(zip(self.image.dims, self.info.scale, strict=True))

    async def adata(self) -> xr.DataArray:
        """The lazy data of this level, its coordinates scaled to its pixels."""
        if self._data is None:
            self._data = await self.image.app.storage.aopen_image(self.image, self.index)
        return self._data

    @property
    def data(self) -> xr.DataArray:
        """The lazy data (in async code, ``await level.adata()``)."""
        if self._data is None:
            self._data = unkoil(self.adata)
        return self._data

    async def aread(self) -> xr.DataArray:
        """This level whole, in memory."""
        return await self.image.app.storage.aread_image(self.image, self.index)

    read = sync_twin(aread)

    def __repr__(self) -> str:
        shape = ", ".join(f"{d}: {n}" for d, n in zip(self.image.dims, self.shape, strict=True))
        return f"ImageLevel({self.image.name!r}, level={self.index}, {{{shape}}})"


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
        self._reader: Any = None
        """The zarr store its data is read through (made on first read, with its grant)."""
        self._levels: dict[int, ImageLevel] = {}
        """The zarr store its data is read through (made on first read, with its grant)."""

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

    @property
    def format(self) -> str:
        """``ome-zarr-0.5``; ``zarr-group`` for dims OME-NGFF cannot describe; ``zarr-array``
        for images stored before OME-Zarr (a plain array)."""
        return str(self._info.format)

    @property
    def scale(self) -> dict[str, float]:
        """Pixel size of the time and space dims (1.0 where no coordinate said otherwise)."""
        return {str(d): float(v) for d, v in (self._info.scale or {}).items()}

    @property
    def units(self) -> dict[str, str]:
        """Units of the time and space dims that have one (UDUNITS-2 names: ``micrometer``)."""
        return {str(d): str(u) for d, u in (self._info.units or {}).items()}

    @property
    def channels(self) -> list[Channel]:
        """The channels of the channel axis (names, colours, wavelengths), when known."""
        from .ome import Channel

        return [Channel(**c) for c in self._info.channels or []]

    @property
    def levels(self) -> list[tuple[int, ...]]:
        """The shape of each resolution level, level 0 (the image) first."""
        return [tuple(lv["shape"]) for lv in self._info.levels or []] or [self.shape]

    def level(self, k: int) -> ImageLevel:
        """Resolution level ``k`` (0 is the image; ``len(img.levels)`` of them), with lazy
        ``.data``, ``.adata()``, ``.read()``."""
        if k not in self._levels:
            self._levels[k] = ImageLevel(self, self.level_info(k))
        return self._levels[k]

    def level_info(self, k: int) -> LevelInfo:
        """The verified shape, chunks and scale of level ``k`` (level 0: the image)."""
        levels = self._info.levels or []
        if not levels and k == 0:
            return LevelInfo(0, self.shape, self.chunks, (1.0,) * len(self.shape))
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(levels):
            raise UsageError(f"level must be 0 to {max(len(levels), 1) - 1}, got {k!r}")
        lv = levels[k]
        return LevelInfo(k, tuple(lv["shape"]), tuple(lv["chunks"]), tuple(lv["scale"]))

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

    async def aread(self) -> xr.DataArray:
        """The whole image in memory (an ``xarray.DataArray`` with its coordinates and attrs),
        read at disk speed: every chunk fetched concurrently into one array."""
        return await self._app.storage.aread_image(self)

    read = sync_twin(aread)

    # -- display ---------------------------------------------------------------------------------

    listing_headers = ("name", "shape", "dtype", "pixel size", "tags", "size", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        from ...display import shape_text, size_text

        shape = shape_text(self.dims, self.shape)
        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        tags = ", ".join(self.tags)
        return (
            self.name,
            shape,
            self._info.dtype,
            _physical(self.scale, self.units),
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
            ("pixel size", _physical(self.scale, self.units) or "—"),
            ("channels", ", ".join(c.name for c in self.channels) or "—"),
            ("format", self.format),
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


def _physical(scale: dict[str, float], units: dict[str, str]) -> str:
    """``z 2 micrometer, y 0.5 micrometer`` for dims with a unit or a size other than 1."""
    parts = [
        f"{d} {v:g} {units.get(d, '')}".strip() for d, v in scale.items() if d in units or v != 1.0
    ]
    return ", ".join(parts)
