"""Regions of interest in the database: checks, queries, creation and deletion.

Access follows the image (decided, and documented in docs/security.md): whoever may see an
image sees its ROIs and may add ROIs to it (a microscopist annotates what was shared with
them); only a ROI's creator or the image's owner may delete it. A ROI of an image the user may
not see does not exist for them (the same answer as no such ROI).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from ..models import User, new_id
from .catalogue import IMAGE, NotFound, StorageCatalogue, _visible
from .collection_models import Roi
from .models import READY, Image

KINDS = ("point", "line", "rectangle", "polygon", "ellipse", "mask")
MAX_VERTICES = 10_000
MAX_COORDINATES = 30_000
"""Points x dims of one ROI (10,000 vertices of a 3-D polygon): with at most MAX_PAGE ROIs a
page, what one ``rois`` answer carries stays bounded (3 million numbers)."""
MAX_PAGE = 100
"""ROIs in one page (each may carry MAX_COORDINATES numbers)."""
MAX_LABEL = 200
MAX_PER_IMAGE = 100_000
"""ROIs on one image (anyone who may see an image may annotate it: this bounds what they can
pile on it)."""
MAX_COORDINATE = 1e15
"""Coordinates beyond this are not pixels of any stored image (and would lose precision)."""


class InvalidRoi(ValueError):
    """What a client asked for is not a ROI; the message names the argument and why."""


def check_label(label: str) -> None:
    if len(label) > MAX_LABEL or "\x00" in label:
        raise InvalidRoi(f"label must be at most {MAX_LABEL} characters (no NUL)")


def check_roi(kind: str, vectors: Sequence[Sequence[float]], label: str, image: Image) -> None:
    """``vectors`` fit ``kind`` and the image's dims (one finite coordinate per dim)."""
    if kind not in KINDS:
        raise InvalidRoi(f"kind must be one of {', '.join(KINDS)}, got {kind[:40]!r}")
    check_label(label)
    if len(vectors) > MAX_VERTICES:
        raise InvalidRoi(f"vectors: at most {MAX_VERTICES} points, got {len(vectors)}")
    ndim = len(image.dims)
    if len(vectors) * ndim > MAX_COORDINATES:
        raise InvalidRoi(
            f"vectors: at most {MAX_COORDINATES} coordinates in all (points x dims), "
            f"got {len(vectors)} x {ndim}"
        )
    for i, vector in enumerate(vectors):
        if len(vector) != ndim:
            raise InvalidRoi(
                f"vectors[{i}] has {len(vector)} coordinates; the image has {ndim} dims "
                f"({', '.join(image.dims)}): one coordinate per dim, in that order"
            )
        if not all(math.isfinite(c) and abs(c) <= MAX_COORDINATE for c in vector):
            raise InvalidRoi(f"vectors[{i}] must hold finite coordinates (|c| <= 1e15)")
    count = len(vectors)
    wanted = {
        "point": (count == 1, "exactly 1 point"),
        "line": (count >= 2, "at least 2 points"),
        "rectangle": (count == 2, "2 opposite corners"),
        "ellipse": (count == 2, "2 vectors: the center and the radii"),
        "polygon": (count >= 3, "at least 3 vertices"),
        "mask": (count in (0, 2), "none (the mask starts at the origin) or 2 corners"),
    }
    ok, what = wanted[kind]
    if not ok:
        raise InvalidRoi(f"vectors: a {kind} takes {what}, got {count}")
    if kind == "ellipse" and any(r < 0 for r in vectors[1]):
        raise InvalidRoi("vectors[1]: an ellipse's radii must not be negative")


@dataclass(frozen=True)
class RoiRow:
    """A ROI as the API shows it (with its creator's username)."""

    roi: Roi
    creator: str


class RoiCatalogue:
    def __init__(self, catalogue: StorageCatalogue) -> None:
        self.catalogue = catalogue
        self.db = catalogue.db

    async def create(
        self,
        user_id: str,
        image_id: str,
        kind: str,
        vectors: list[list[float]],
        label: str,
        mask_id: str | None,
    ) -> RoiRow:
        """Raises :class:`NotFound` (image or mask not visible) or :class:`InvalidRoi`."""
        image = await self.catalogue.visible(Image, image_id, user_id)
        check_roi(kind, vectors, label, image)
        if kind == "mask":
            if mask_id is None:
                raise InvalidRoi("mask: a mask ROI names the image holding its labels")
            try:
                mask = await self.catalogue.visible(Image, mask_id, user_id)
            except NotFound:
                raise InvalidRoi(
                    f"mask: no image {mask_id[:40]!r} (or it is not shared with you)"
                ) from None
            if list(mask.dims) != list(image.dims):
                raise InvalidRoi(
                    f"mask: its dims ({', '.join(mask.dims)}) must be the image's "
                    f"({', '.join(image.dims)})"
                )
        elif mask_id is not None:
            raise InvalidRoi(f"mask: only a mask ROI names a mask image, not a {kind}")
        row = Roi(
            id=new_id(),
            image_id=image.id,
            creator_id=user_id,
            kind=kind,
            vectors=[[float(c) for c in v] for v in vectors],
            label=label,
            mask_id=mask_id,
        )
        async with self.db.new_session() as s, s.begin():
            count = await s.scalar(select(func.count()).where(Roi.image_id == image.id))
            if int(count or 0) >= MAX_PER_IMAGE:
                raise InvalidRoi(f"image: it has {MAX_PER_IMAGE} ROIs already, the most allowed")
            s.add(row)
            username = await s.scalar(select(User.username).where(User.id == user_id))
        return RoiRow(row, username or "")

    def _query(self, user_id: str) -> Any:
        # visible exactly when its image is
        return (
            select(Roi, User.username)
            .join(Image, Image.id == Roi.image_id)
            .join(User, User.id == Roi.creator_id)
            .where(Image.status == READY, _visible(Image, IMAGE, user_id))
        )

    async def get(self, user_id: str, roi_id: str) -> RoiRow:
        async with self.db.new_session() as s:
            found = (await s.execute(self._query(user_id).where(Roi.id == roi_id))).first()
        if found is None:
            raise NotFound(f"no roi {roi_id[:40]!r} (or its image is not shared with you)")
        return RoiRow(found[0], found[1])

    async def visible_ids(self, user_id: str, roi_ids: set[str]) -> set[str]:
        """Which of ``roi_ids`` this user may see (those on images they may see)."""
        if not roi_ids:
            return set()
        query = (
            select(Roi.id)
            .join(Image, Image.id == Roi.image_id)
            .where(Roi.id.in_(roi_ids), Image.status == READY, _visible(Image, IMAGE, user_id))
        )
        async with self.db.new_session() as s:
            return set(await s.scalars(query))

    async def find(
        self,
        user_id: str,
        *,
        image_id: str | None,
        label: str | None,
        kind: str | None,
        limit: int,
        offset: int,
    ) -> list[RoiRow]:
        query = self._query(user_id)
        if image_id is not None:
            query = query.where(Roi.image_id == image_id)
        if label is not None:
            query = query.where(Roi.label == label)
        if kind is not None:
            query = query.where(Roi.kind == kind)
        query = query.order_by(Roi.created_at.desc(), Roi.id).limit(limit).offset(offset)
        async with self.db.new_session() as s:
            return [RoiRow(roi, name) for roi, name in await s.execute(query)]

    async def delete(self, user_id: str, roi_id: str) -> None:
        """Its creator or its image's owner only (:class:`PermissionError` otherwise)."""
        found = await self.get(user_id, roi_id)
        async with self.db.new_session() as s, s.begin():
            owner = await s.scalar(select(Image.owner_id).where(Image.id == found.roi.image_id))
            if user_id not in (found.roi.creator_id, owner):
                raise PermissionError(
                    f"only the creator of roi {roi_id!r} or the owner of its image may delete it"
                )
            await s.execute(delete(Roi).where(Roi.id == roi_id))
