"""Roi: a region of interest drawn on an image, kept by the server, passed by reference."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from ..._twins import sync_twin
from ...errors import UsageError
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored

if TYPE_CHECKING:
    import xarray as xr

    from ...app import App
    from .image import Image

GEOMETRIES = ("point", "line", "rectangle", "polygon", "ellipse", "mask")


async def _not_shared(*args: Any, **kwargs: Any) -> NoReturn:
    raise UsageError("a ROI is shared with its image: share the image (or a dataset holding it)")


@dataclass(frozen=True)
class Crop:
    """An image cut to a ROI's bounding box: ``data`` is lazy (xarray over dask), with the
    image's coordinates (pixel positions in the image for dims that have none)."""

    roi: Roi
    image: Image
    region: dict[str, slice]
    """Per dim, the part of the image (clipped to it; empty when the ROI lies outside)."""
    data: xr.DataArray


def bounding_box(
    geometry: str,
    vectors: Sequence[Sequence[float]],
    shape: Sequence[int],
    dims: Sequence[str],
    mask_shape: Sequence[int] | None = None,
) -> dict[str, slice]:
    """The pixels a ROI covers, per dim, clipped to ``shape`` (the end is exclusive)."""
    if geometry == "ellipse":
        center, radii = vectors
        low = [c - r for c, r in zip(center, radii, strict=True)]
        high = [c + r for c, r in zip(center, radii, strict=True)]
    elif geometry == "mask" and not vectors:
        low = [0.0] * len(shape)
        high = [n - 1.0 for n in (mask_shape or shape)]
    else:
        low = [min(v[i] for v in vectors) for i in range(len(shape))]
        high = [max(v[i] for v in vectors) for i in range(len(shape))]
    region = {}
    for dim, n, lo, hi in zip(dims, shape, low, high, strict=True):
        start = min(max(0, math.floor(lo)), n)
        stop = min(max(start, math.floor(hi) + 1), n)
        region[dim] = slice(start, stop)
    return region


class Roi(Stored):
    """A region of interest on an image: ``geometry`` (point, line, rectangle, polygon, ellipse,
    mask), ``vectors`` in the image's dims order and a ``label``.

    Whoever may see the image sees its ROIs and may add some; its creator or the image's owner
    may delete it. ``roi.crop().data`` is the image cut to the ROI's bounding box, lazily.
    """

    kind = BY_NAME["roi"]
    __structure_identifier__ = kind.structure
    operations = Operations(get=api.aget_roi, delete=api.adelete_roi, share=_not_shared)

    def __init__(self, info: api.Roi, app: App) -> None:
        super().__init__(info, app)
        self._info: api.Roi = info

    @property
    def name(self) -> str:
        """Its label."""
        return self._info.label

    @property
    def label(self) -> str:
        return self._info.label

    @property
    def geometry(self) -> str:
        """point, line, rectangle, polygon, ellipse or mask."""
        return self._info.kind

    @property
    def vectors(self) -> list[list[float]]:
        """Points in the image's dims order (ellipse: center and radii; mask: none or the two
        corners that place the mask)."""
        return [list(v) for v in self._info.vectors]

    @property
    def image_id(self) -> str:
        return str(self._info.image)

    @property
    def mask_id(self) -> str | None:
        """A mask ROI's labels image."""
        return None if self._info.mask is None else str(self._info.mask)

    @property
    def creator(self) -> str:
        """Who drew it (username)."""
        return self._info.creator

    @property
    def mine(self) -> bool:
        """Whether you drew it."""
        return bool(self._info.mine)

    async def aimage(self) -> Image:
        """The image it is drawn on."""
        from .image import Image

        return await self._app.storage.aget(Image, self.image_id)

    image = sync_twin(aimage)

    async def acrop(self) -> Crop:
        """The image cut to this ROI's bounding box (clipped to the image); its ``data`` is lazy:
        only the chunks under the box are read when computed."""
        import numpy as np

        from .image import Image

        image = await self.aimage()
        mask_shape = None
        if self.geometry == "mask" and not self.vectors and self.mask_id is not None:
            mask_shape = (await self._app.storage.aget(Image, self.mask_id)).shape
        region = bounding_box(self.geometry, self.vectors, image.shape, image.dims, mask_shape)
        data = (await image.adata()).isel(region)
        # the image's own coordinates (physical, channel names) stay; a dim without any gets
        # its pixel positions in the image, so the crop still says where it was cut from
        data = data.assign_coords(
            {d: np.arange(s.start, s.stop) for d, s in region.items() if d not in data.coords}
        )
        data.attrs = {**data.attrs, "roi_id": self.id, "roi_label": self.label}
        return Crop(roi=self, image=image, region=region, data=data)

    crop = sync_twin(acrop)

    # -- display ---------------------------------------------------------------------------------

    listing_headers = ("label", "geometry", "points", "image", "creator", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        return (
            self.label,
            self.geometry,
            str(len(self._info.vectors)),
            self.image_id,
            self.creator,
            created,
            self.id,
        )

    def __repr__(self) -> str:
        return (
            f"Roi(id={self.id!r}, {self.geometry}, label={self.label!r}, "
            f"image={self.image_id!r}, points={len(self._info.vectors)})"
        )

    def _repr_html_(self) -> str:
        from ...display import table

        shown = self.vectors[:8]
        points = "; ".join("(" + ", ".join(f"{c:g}" for c in v) + ")" for v in shown)
        if len(self._info.vectors) > len(shown):
            points += f"; … ({len(self._info.vectors)} in all)"
        rows = [
            ("id", self.id),
            ("geometry", self.geometry),
            ("points", points or "—"),
            ("image", self.image_id),
            ("mask", self.mask_id or "—"),
            ("creator", "you" if self.mine else self.creator),
            ("created", self.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ]
        return f"<div><strong>{html.escape(self.label or '(no label)')}</strong>" + (
            table(["", ""], rows) + "</div>"
        )
