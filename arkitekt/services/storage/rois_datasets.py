"""``app.storage``'s ROIs and datasets (a part of :class:`~.service.StorageService`).

ROIs are drawn on images by reference: only the geometry travels, checked here first (so a
mistake is named before anything is sent) and again by the server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..._loops import on_app_loop
from ..._twins import sync_twin
from ...display import listing
from ...errors import InvalidDataError, UsageError
from ..base import ApiService
from . import api
from .dataset import Dataset
from .file import File
from .image import Image
from .roi import GEOMETRIES, Roi
from .table import Table

if TYPE_CHECKING:
    from .stored import Stored

MAX_VERTICES = 10_000
MAX_COORDINATES = 30_000
MAX_LABEL = 200


def _id_of(value: Stored | str | None, cls: type[Stored], argument: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, cls):
        return value.id
    raise UsageError(f"{argument}= takes a {cls.__name__} or its id, not {type(value).__name__}")


def roi_vectors(vectors: Any, ndim: int | None) -> list[list[float]]:
    """``vectors`` (nested sequences or a 2-d numpy array) as a list of points, each with one
    finite number per dim; :class:`InvalidDataError` naming what is wrong."""
    if hasattr(vectors, "tolist"):
        vectors = vectors.tolist()
    if isinstance(vectors, (str, bytes)) or not isinstance(vectors, Sequence):
        raise InvalidDataError(
            "vectors= takes a list of points, e.g. vectors=[[0, 10, 10], [0, 50, 80]]"
        )
    if len(vectors) > MAX_VERTICES:
        raise InvalidDataError(f"vectors: at most {MAX_VERTICES} points, got {len(vectors)}")
    points: list[list[float]] = []
    for i, vector in enumerate(vectors):
        if isinstance(vector, (str, bytes)) or not isinstance(vector, Sequence):
            raise InvalidDataError(f"vectors[{i}] must be a list of coordinates, got {vector!r}")
        try:
            point = [float(c) for c in vector]
        except (TypeError, ValueError):
            raise InvalidDataError(f"vectors[{i}] must hold numbers, got {vector!r}") from None
        if not all(math.isfinite(c) for c in point):
            raise InvalidDataError(f"vectors[{i}] must hold finite numbers, got {vector!r}")
        if ndim is not None and len(point) != ndim:
            raise InvalidDataError(
                f"vectors[{i}] has {len(point)} coordinates; the image has {ndim} dims: "
                "one coordinate per dim, in the image's dims order"
            )
        points.append(point)
    if ndim is not None and len(points) * ndim > MAX_COORDINATES:
        raise InvalidDataError(
            f"vectors: at most {MAX_COORDINATES} coordinates in all (points x dims), "
            f"got {len(points)} x {ndim}"
        )
    return points


class RoisAndDatasets(ApiService):
    """ROIs and datasets, for :class:`~.service.StorageService`."""

    # -- ROIs ------------------------------------------------------------------------------------

    @on_app_loop
    async def aadd_roi(
        self,
        image: Image | str,
        kind: str,
        vectors: Sequence[Sequence[float]] | Any = (),
        *,
        label: str = "",
        mask: Image | str | None = None,
    ) -> Roi:
        """Draw a region of interest on an image you may see; returns it (by reference).

        Args:
            image: The image (or its id).
            kind: ``point`` (1 vector), ``line`` (2 or more), ``rectangle`` (2 opposite corners),
                ``polygon`` (3 or more vertices), ``ellipse`` (the center, then the radii) or
                ``mask`` (``mask=`` names an image of labels with the same dims; ``vectors``
                none, or 2 corners placing it).
            vectors: Points, one coordinate per image dim in the image's dims order, e.g.
                ``[[0, 10, 10], [0, 50, 80]]`` for a rectangle on a (z, y, x) image.
            label: What it marks, up to 200 characters (find it again with
                ``rois(img, label=...)``).
            mask: A mask ROI's labels image (you must be able to see it).

        Whoever may see the image sees its ROIs and may add some; only you or the image's
        owner may delete yours.
        """
        if kind not in GEOMETRIES:
            raise InvalidDataError(f"kind must be one of {', '.join(GEOMETRIES)}, got {kind!r}")
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            raise InvalidDataError(f"label must be a string of at most {MAX_LABEL} characters")
        ndim = len(image.dims) if isinstance(image, Image) else None
        points = roi_vectors(vectors, ndim)
        info = await api.acreate_roi(
            api.RoiInput(
                image=str(_id_of(image, Image, "image")),
                kind=kind,
                vectors=tuple(tuple(p) for p in points),
                label=label,
                mask=_id_of(mask, Image, "mask"),
            ),
            client=self.graphql,
        )
        return Roi(info, self.app)

    add_roi = sync_twin(aadd_roi)

    @on_app_loop
    async def arois(
        self,
        image: Image | str | None = None,
        *,
        label: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Roi]:
        """ROIs you may see (those of images you may see), newest first: of one ``image``,
        with a ``label``, of a ``kind``. Pages with ``limit`` (at most 100) and ``offset``."""
        found = await api.alist_rois(
            filter=api.RoiFilter(image=_id_of(image, Image, "image"), label=label, kind=kind),
            pagination=api.Pagination(limit=limit, offset=offset),
            client=self.graphql,
        )
        return listing(Roi(info, self.app) for info in found)

    rois = sync_twin(arois)

    async def aget_roi(self, roi_id: str) -> Roi:
        """The ROI with this id (of an image you may see); raises ``DataNotFoundError``."""
        found: Roi = await self.aget(Roi, roi_id)
        return found

    get_roi = sync_twin(aget_roi)

    # -- datasets --------------------------------------------------------------------------------

    @on_app_loop
    async def adataset(self, name: str, *, parent: Dataset | str | None = None) -> Dataset:
        """Your dataset called ``name`` (under ``parent``, else at the root), created when you
        have none: running a notebook again finds the same dataset.

        Share it with ``ds.share(users=[...])``: the dataset, its children and the members you
        own become visible to them as a unit, until you unshare it.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidDataError("name must be a non-empty string, e.g. dataset('experiment 12')")
        info = await api.aensure_dataset(
            name, parent=_id_of(parent, Dataset, "parent"), client=self.graphql
        )
        return Dataset(info, self.app)

    dataset = sync_twin(adataset)

    async def aget_dataset(self, dataset_id: str) -> Dataset:
        """The dataset with this id (yours or shared with you); raises ``DataNotFoundError``."""
        found: Dataset = await self.aget(Dataset, dataset_id)
        return found

    get_dataset = sync_twin(aget_dataset)

    @on_app_loop
    async def adatasets(
        self,
        *,
        name: str | None = None,
        name__contains: str | None = None,
        parent: Dataset | str | None = None,
        root: bool = False,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Dataset]:
        """Datasets you may see, newest first: ``name`` exactly, ``name__contains``
        case-insensitively, children of ``parent``, only top-level ones (``root``), only yours
        (``mine``). Pages with ``limit``/``offset``."""
        found = await api.alist_datasets(
            filter=api.DatasetFilter(
                name=name,
                nameContains=name__contains,
                parent=_id_of(parent, Dataset, "parent"),
                root=root,
                mine=mine,
            ),
            pagination=api.Pagination(limit=limit, offset=offset),
            client=self.graphql,
        )
        return listing(Dataset(info, self.app) for info in found)

    datasets = sync_twin(adatasets)

    @on_app_loop
    async def achange_members(
        self, dataset: Dataset, items: Sequence[Image | File | Table | Dataset], *, remove: bool
    ) -> Dataset:
        """Add (or take out) images, files, tables and datasets; see :meth:`Dataset.aadd`."""
        by_kind: dict[type, list[str]] = {Image: [], File: [], Table: [], Dataset: []}
        for item in items:
            kind = type(item)
            if kind not in by_kind:
                raise UsageError(
                    "a dataset holds Images, Files, Tables and Datasets, "
                    f"not {type(item).__name__} (get one with get_image(id), get_file(id) "
                    "or get_table(id))"
                )
            by_kind[kind].append(item.id)
        members = api.DatasetMembers(
            images=tuple(by_kind[Image]),
            files=tuple(by_kind[File]),
            tables=tuple(by_kind[Table]),
            datasets=tuple(by_kind[Dataset]),
        )
        change = api.aremove_from_dataset if remove else api.aadd_to_dataset
        return Dataset(await change(dataset.id, members, client=self.graphql), self.app)

    @on_app_loop
    async def adataset_images(
        self, dataset: Dataset, *, limit: int = 100, offset: int = 0
    ) -> list[Image]:
        found = await api.adataset_images(
            dataset.id, pagination=api.Pagination(limit=limit, offset=offset), client=self.graphql
        )
        return listing(Image(info, self.app) for info in found)

    @on_app_loop
    async def adataset_files(
        self, dataset: Dataset, *, limit: int = 100, offset: int = 0
    ) -> list[File]:
        found = await api.adataset_files(
            dataset.id, pagination=api.Pagination(limit=limit, offset=offset), client=self.graphql
        )
        return listing(File(info, self.app) for info in found)

    @on_app_loop
    async def adataset_tables(
        self, dataset: Dataset, *, limit: int = 100, offset: int = 0
    ) -> list[Table]:
        found = await api.adataset_tables(
            dataset.id, pagination=api.Pagination(limit=limit, offset=offset), client=self.graphql
        )
        return listing(Table(info, self.app) for info in found)

    async def aget(self, cls: Any, object_id: str) -> Any:
        raise NotImplementedError  # StorageService's
