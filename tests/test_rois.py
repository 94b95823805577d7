"""Regions of interest on stored images: drawn by reference, listed, cropped lazily, deleted
(also with their image), passed through a remote call, shown in notebooks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import xarray as xr
from servers import TestServer

from arkitekt import (
    DataNotFoundError,
    ForbiddenError,
    Image,
    InvalidDataError,
    Roi,
    aadd_roi,
    afrom_xarray,
    arois,
    call,
    find,
    from_xarray,
    get_roi,
    rois,
)
from arkitekt.services.storage.roi import bounding_box


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    folder = tmp_path_factory.mktemp("rois") / "server"
    with TestServer.in_process(folder, users=("alice", "bob")) as started:
        yield started


@pytest.fixture(scope="module")
def alice(server: TestServer) -> Iterator[Any]:
    with server.app("alice", "rois-test") as app:
        yield app


@pytest.fixture(scope="module")
def stack(alice: Any) -> Image:
    values = np.arange(3 * 100 * 120, dtype="uint16").reshape(3, 100, 120)
    return from_xarray(xr.DataArray(values, dims=["z", "y", "x"]), name="stack")


def test_add_list_crop_delete(stack: Image) -> None:
    roi = stack.add_roi(kind="rectangle", vectors=[[0, 10, 10], [0, 50, 80]], label="cell 1")
    assert isinstance(roi, Roi)
    assert (roi.geometry, roi.label, roi.image_id, roi.mine) == (
        "rectangle",
        "cell 1",
        stack.id,
        True,
    )
    assert roi.vectors == [[0.0, 10.0, 10.0], [0.0, 50.0, 80.0]]
    assert roi.creator == "alice"
    assert get_roi(roi.id) == roi

    crop = roi.crop()
    assert crop.data.dims == ("z", "y", "x") and crop.data.shape == (1, 41, 71)
    assert crop.data.chunks is not None  # lazy: dask underneath, nothing read yet
    expected = stack.data.values[0:1, 10:51, 10:81]
    np.testing.assert_array_equal(crop.data.values, expected)
    assert int(crop.data.y[0]) == 10 and crop.data.attrs["roi_id"] == roi.id

    assert roi in rois(stack)
    roi.delete()
    with pytest.raises(DataNotFoundError):
        get_roi(roi.id)
    assert roi not in rois(stack)


def test_a_crop_keeps_the_images_coordinates(alice: Any) -> None:
    """Physical coordinates and channel names survive the cut; ROI vectors are pixel indices."""
    values = np.arange(2 * 40 * 50, dtype="uint16").reshape(2, 40, 50)
    image = from_xarray(
        xr.DataArray(
            values,
            dims=["c", "y", "x"],
            coords={"c": ["DAPI", "GFP"], "y": ("y", np.arange(40) * 0.5, {"units": "um"})},
        ),
        name="with coords",
    )
    crop = image.add_roi(kind="rectangle", vectors=[[1, 4, 10], [1, 9, 19]]).crop().data
    assert list(crop.c.values) == ["GFP"]
    np.testing.assert_allclose(crop.y.values, np.arange(4, 10) * 0.5)
    assert list(crop.x.values) == list(range(10, 20))  # no coordinate: pixel positions
    np.testing.assert_array_equal(crop.sel(c="GFP").values, values[1, 4:10, 10:20])


def test_queries_filter_newest_first_and_page(alice: Any) -> None:
    img = from_xarray(np.zeros((20, 20), "uint8"), name="queries", dims=["y", "x"])
    made = [
        img.add_roi(kind="point", vectors=[[n, n]], label="a" if n % 2 else "b") for n in range(5)
    ]
    line = img.add_roi(kind="line", vectors=[[0, 0], [5, 5], [9, 2]], label="a")
    newest_first = [line.id, *(r.id for r in reversed(made))]
    assert [r.id for r in rois(img)] == newest_first
    assert [r.id for r in img.rois()] == newest_first
    assert [r.id for r in rois(img, limit=2, offset=1)] == newest_first[1:3]
    assert [r.id for r in rois(img, label="a")] == [line.id, made[3].id, made[1].id]
    assert [r.id for r in rois(img, label="a", kind="line")] == [line.id]
    assert rois(img, kind="polygon") == []
    assert {r.id for r in rois(label="b")} >= {made[0].id, made[2].id, made[4].id}


def test_every_kind_and_its_bounding_box(stack: Image) -> None:
    shapes = {
        "point": [[1, 20, 30]],
        "line": [[0, 5, 5], [2, 15, 25]],
        "polygon": [[0, 10, 10], [0, 30, 12], [0, 20, 40]],
        "ellipse": [[1, 50, 60], [0, 10, 20]],
    }
    for kind, vectors in shapes.items():
        roi = stack.add_roi(kind=kind, vectors=vectors, label=kind)
        assert roi.geometry == kind
    ellipse = rois(stack, kind="ellipse")[0]
    assert ellipse.crop().region == {"z": slice(1, 2), "y": slice(40, 61), "x": slice(40, 81)}
    # clipped to the image; outside it, the region is empty
    box = bounding_box("rectangle", [[-5, -5], [500, 10]], (100, 120), ("y", "x"))
    assert box == {"y": slice(0, 100), "x": slice(0, 11)}
    outside = bounding_box("point", [[200, 200]], (100, 120), ("y", "x"))
    assert outside == {"y": slice(100, 100), "x": slice(120, 120)}


def test_a_mask_roi_names_a_labels_image(stack: Image) -> None:
    labels = np.zeros((3, 40, 30), "uint8")
    labels[1, 5:10, 5:10] = 1
    mask = from_xarray(labels, name="labels", dims=["z", "y", "x"])
    roi = stack.add_roi(kind="mask", mask=mask, label="nuclei")
    assert roi.mask_id == mask.id
    assert roi.crop().data.shape == (3, 40, 30)
    placed = stack.add_roi(kind="mask", mask=mask.id, vectors=[[0, 50, 50], [2, 89, 79]])
    assert placed.crop().data.shape == (3, 40, 30)
    flat = from_xarray(np.zeros((4, 4), "uint8"), name="flat", dims=["y", "x"])
    with pytest.raises(InvalidDataError, match="mask: its dims"):
        stack.add_roi(kind="mask", mask=flat)
    with pytest.raises(InvalidDataError, match="names the image"):
        stack.add_roi(kind="mask")
    mask.delete()  # the ROI lives and dies with its mask image too
    with pytest.raises(DataNotFoundError):
        get_roi(roi.id)


def test_rois_are_deleted_with_their_image(server: TestServer, alice: Any) -> None:
    img = from_xarray(np.zeros((8, 8), "uint8"), name="short-lived", dims=["y", "x"])
    roi = img.add_roi(kind="point", vectors=[[1, 1]])
    img.delete()
    with pytest.raises(DataNotFoundError):
        get_roi(roi.id)

    rows = server.stored_rows(f"SELECT id FROM storage_rois WHERE image_id = '{img.id}'")
    assert rows == []  # the rows themselves are gone (ON DELETE CASCADE)


@pytest.mark.parametrize(
    ("kind", "vectors", "message"),
    [
        ("square", [[0, 0, 0]], "kind must be one of"),
        ("point", [[0, 0]], r"vectors\[0\] has 2 coordinates; the image has 3 dims"),
        ("point", [[0, 0, 0], [1, 1, 1]], "exactly 1 point"),
        ("rectangle", [[0, 0, 0]], "2 opposite corners"),
        ("polygon", [[0, 0, 0], [1, 1, 1]], "at least 3"),
        ("line", [[0, 0, 0]], "at least 2"),
        ("point", [[0, float("nan"), 0]], "finite"),
        ("point", "0,0,0", "list of points"),
        ("point", [["a", 1, 2]], "numbers"),
        ("ellipse", [[0, 5, 5], [0, -1, 2]], "radii"),
    ],
)
def test_bad_rois_are_refused(stack: Image, kind: str, vectors: Any, message: str) -> None:
    with pytest.raises(InvalidDataError, match=message):
        stack.add_roi(kind=kind, vectors=vectors)


def test_the_server_checks_too(stack: Image) -> None:
    """By id (the client does not know the dims), the server names what is wrong."""
    from arkitekt import add_roi

    with pytest.raises(InvalidDataError, match=r"vectors\[0\] has 2 coordinates"):
        add_roi(stack.id, kind="point", vectors=[[1, 2]])
    with pytest.raises(InvalidDataError, match="at most 200"):
        stack.add_roi(kind="point", vectors=[[0, 0, 0]], label="x" * 201)
    with pytest.raises(InvalidDataError, match="at most 10000 points"):
        stack.add_roi(kind="polygon", vectors=[[0, 0, 0]] * 10_001)
    four_d = from_xarray(np.zeros((2, 2, 2, 2), "uint8"), name="4-d", dims=["c", "z", "y", "x"])
    with pytest.raises(InvalidDataError, match="at most 30000 coordinates"):
        add_roi(four_d.id, kind="polygon", vectors=[[0, 0, 0, 0]] * 7_501)  # by id: the server
    with pytest.raises(InvalidDataError, match=r"pagination\.limit must be 1 to 100"):
        rois(stack, limit=101)
    with pytest.raises(DataNotFoundError):
        add_roi("0" * 32, kind="point", vectors=[[1, 2]])


def test_others_see_rois_only_with_the_image(server: TestServer, alice: Any) -> None:
    img = from_xarray(np.zeros((10, 10), "uint8"), name="annotated", dims=["y", "x"])
    roi = img.add_roi(kind="point", vectors=[[1, 1]], label="alice's")
    with server.app("bob", "rois-bob") as bob:
        with pytest.raises(DataNotFoundError):
            get_roi(roi.id, app=bob)
        assert rois(img.id, app=bob) == []
        with pytest.raises(DataNotFoundError):
            from arkitekt import add_roi

            add_roi(img.id, kind="point", vectors=[[2, 2]], app=bob)
        img.share(users=["bob"])
        seen = get_roi(roi.id, app=bob)
        assert (seen.mine, seen.creator) == (False, "alice")
        # who may see an image may annotate it; only their own ROIs (or the owner) delete
        his = add_roi(img.id, kind="point", vectors=[[3, 3]], label="bob's", app=bob)
        with pytest.raises(ForbiddenError, match="only the creator"):
            seen.delete()
        assert {r.label for r in rois(img)} == {"alice's", "bob's"}
        his.delete()
        mine_again = add_roi(img.id, kind="point", vectors=[[4, 4]], label="bob's", app=bob)
        get_roi(mine_again.id).delete()  # the image's owner may delete it
        img.unshare(users=["bob"])
        assert rois(img.id, app=bob) == []


async def test_async_twins(server: TestServer) -> None:
    async with server.app("alice", "rois-async"):
        img = await afrom_xarray(np.zeros((6, 6), "uint8"), name="async rois", dims=["y", "x"])
        roi = await aadd_roi(img, kind="rectangle", vectors=[[1, 1], [3, 4]], label="async")
        assert [r.id for r in await arois(img, label="async")] == [roi.id]
        crop = await roi.acrop()
        assert crop.data.shape == (3, 4)
        await roi.adelete()


def area(roi: Roi) -> float:
    """Pixels in a ROI's bounding box."""
    return float(roi.crop().data.size)


def test_roi_travels_by_reference_through_a_call(server: TestServer) -> None:
    with server.app("alice", "rois-agent") as app:
        app.register(area)
        app.serve()
        img = from_xarray(np.zeros((30, 30), "uint8"), name="called", dims=["y", "x"])
        roi = img.add_roi(kind="rectangle", vectors=[[0, 0], [9, 4]])
        node = find(interface="area")
        assert node.definition.args[0].identifier == "@arkitekt/roi"
        assert call(node, roi) == 50.0


def test_rois_show_in_notebooks(stack: Image) -> None:
    roi = stack.add_roi(kind="point", vectors=[[0, 1, 2]], label="<b>shown</b>")
    page = roi._repr_html_()
    assert "&lt;b&gt;shown&lt;/b&gt;" in page and "(0, 1, 2)" in page
    table = rois(stack, label="<b>shown</b>")._repr_html_()  # type: ignore[attr-defined]
    assert "&lt;b&gt;shown&lt;/b&gt;" in table and "point" in table
    assert "Roi(" in repr(roi)


def test_rois_are_known_structures_without_importing_them() -> None:
    from arkitekt.services.rpc.structures import new_registry

    assert new_registry().get("@arkitekt/roi") is Roi


def test_a_roi_cannot_be_shared_on_its_own(stack: Image) -> None:
    from arkitekt import UsageError

    roi = stack.add_roi(kind="point", vectors=[[0, 0, 0]])
    with pytest.raises(UsageError, match="shared with its image"):
        asyncio.run(Roi.operations.share(roi.id))


def test_rois_per_image_are_bounded(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from arkitekt.server.storage import rois as server_rois

    monkeypatch.setattr(server_rois, "MAX_PER_IMAGE", 2)  # the in-process server reads it
    img = from_xarray(np.zeros((4, 4), "uint8"), name="crowded", dims=["y", "x"])
    for n in range(2):
        img.add_roi(kind="point", vectors=[[n, n]])
    with pytest.raises(InvalidDataError, match="has 2 ROIs already"):
        img.add_roi(kind="point", vectors=[[3, 3]])
