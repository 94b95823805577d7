"""Images as microscopists use them: OME-Zarr (NGFF 0.5) groups with coordinates, attrs,
physical pixel sizes, units and channels; checked with ome-zarr-models' validator and opened
with ome-zarr's reader from the datalayer's folder; images stored before (plain zarr arrays)
still read through the same API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from servers import TestServer

from arkitekt import Channel, InvalidDataError, from_xarray, get_image

sys.path.insert(0, str(Path(__file__).parent / "security"))
from storage_helpers import (
    finish_image,
    put,
    request_image_upload,
    token_of,
    zarr_objects,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    with TestServer.in_process(tmp_path_factory.mktemp("ome") / "server", users=("alice",)) as s:
        yield s


@pytest.fixture(scope="module")
def alice(server: TestServer) -> Iterator[Any]:
    with server.app("alice", "ome-test") as app:
        yield app


def folder_of(server: TestServer, image_id: str) -> Path:
    """The image's folder in the local datalayer (read behind the server's back)."""
    return Path(server.config.data_dir) / "datalayer" / "images" / image_id


def group_attributes(server: TestServer, image_id: str) -> dict[str, Any]:
    meta = json.loads((folder_of(server, image_id) / "zarr.json").read_text())
    assert meta["node_type"] == "group"
    attributes: dict[str, Any] = meta["attributes"]
    return attributes


def cells() -> xr.DataArray:
    rng = np.random.default_rng(1)
    return xr.DataArray(
        rng.random((2, 3, 64, 48)).astype("float32"),
        dims=["c", "z", "y", "x"],
        coords={
            "c": ["DAPI", "GFP"],
            "z": ("z", np.arange(3) * 2.0, {"units": "µm"}),
            "y": ("y", np.arange(64) * 0.5, {"units": "um"}),
            "x": ("x", 10 + np.arange(48) * 0.5, {"units": "micron"}),
            "acquired": pd.Timestamp("2026-01-31T12:00"),
            "depth": ("z", [0.1, 0.25, 0.7]),
        },
        attrs={"objective": "60x oil", "na": np.float32(1.5), "binning": [2, 2], "ok": True},
    )


def test_coords_attrs_scale_units_and_channels_round_trip(server: TestServer, alice: Any) -> None:
    array = cells()
    img = from_xarray(array, name="cells")
    assert img.format == "ome-zarr-0.5"
    assert img.scale == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert img.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert [c.name for c in img.channels] == ["DAPI", "GFP"]
    again = get_image(img.id).data.compute()
    assert again.attrs.pop("image_id") == img.id
    xr.testing.assert_identical(again, array.rename("cells"))
    ngff = group_attributes(server, img.id)["ome"]["multiscales"][0]
    assert [a["name"] for a in ngff["axes"]] == ["c", "z", "y", "x"]
    assert ngff["axes"][-1] == {"name": "x", "type": "space", "unit": "micrometer"}
    scale, translation = ngff["datasets"][0]["coordinateTransformations"]
    assert scale["scale"] == [1.0, 2.0, 0.5, 0.5]
    assert translation["translation"] == [0.0, 0.0, 0.0, 10.0]


def test_non_uniform_and_datetime_coords_round_trip(alice: Any) -> None:
    times = pd.date_range("2026-01-01", periods=4, freq="37s").values
    array = xr.DataArray(
        np.arange(4 * 8 * 8, dtype="uint16").reshape(4, 8, 8),
        dims=["t", "y", "x"],
        coords={"t": times, "y": [0.0, 1.0, 3.0, 7.0, 8.0, 9.5, 11.0, 20.0], "x": np.arange(8)},
    )
    img = from_xarray(array, name="timelapse")
    assert img.scale == {"t": 1.0, "y": 1.0, "x": 1.0}  # non-uniform y, datetime t
    again = img.data.compute().drop_attrs()
    xr.testing.assert_identical(again, array.rename("timelapse"))


def test_rgb_is_stored_channel_first_and_read_as_given(server: TestServer, alice: Any) -> None:
    rgb = xr.DataArray(
        np.random.default_rng(2).integers(0, 255, (40, 30, 3), dtype="uint8"),
        dims=["y", "x", "c"],
    )
    img = from_xarray(
        rgb,
        name="photo",
        channels=[
            Channel(name="red", color="#ff0000"),
            {"name": "green", "color": "#00FF00", "emission_wavelength": 520},
            "blue",
        ],
    )
    assert img.dims == ("y", "x", "c") and img.shape == (40, 30, 3)
    assert img.chunks == (40, 30, 3)  # small planes grow outwards (c) in the stored (c, y, x)
    assert img.channels[1] == Channel(name="green", color="#00FF00", emission_wavelength=520.0)
    level0 = json.loads((folder_of(server, img.id) / "0" / "zarr.json").read_text())
    assert level0["dimension_names"] == ["c", "y", "x"] and level0["shape"] == [3, 40, 30]
    data = get_image(img.id).data
    assert data.dims == ("y", "x", "c")
    np.testing.assert_array_equal(data.values, rgb.values)
    omero = group_attributes(server, img.id)["ome"]["omero"]["channels"]
    assert [(c["label"], c["color"]) for c in omero] == [
        ("red", "FF0000"),
        ("green", "00FF00"),
        ("blue", "00FFFF"),
    ]


@pytest.mark.parametrize(
    "dims",
    [["i"], ["a", "b", "y", "x"], ["q", "t", "c", "z", "y", "x"], ["z", "w"]],
    ids=["1-d", "two-unknown", "six-dims", "no-yx"],
)
def test_dims_ngff_cannot_describe_are_stored_without_multiscales(
    server: TestServer, alice: Any, dims: list[str]
) -> None:
    values = np.arange(2 ** len(dims) * 3, dtype="int32").reshape([2] * (len(dims) - 1) + [-1])
    array = xr.DataArray(values, dims=dims, attrs={"note": "x"})
    img = from_xarray(array, name="odd")
    assert img.format == "zarr-group" and img.scale == {}
    attributes = group_attributes(server, img.id)
    assert "ome" not in attributes and attributes["arkitekt"]["dims"] == dims
    again = img.data.compute()
    assert again.attrs.pop("image_id") == img.id
    xr.testing.assert_identical(again, array.rename("odd"))


def test_what_we_write_is_valid_ngff_and_ome_zarr_reads_it(server: TestServer, alice: Any) -> None:
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader
    from ome_zarr_models.v05 import Image as NgffImage

    pyramid = {"pyramid": True, "chunks": {"y": 16, "x": 16}}
    for array, options in (
        (cells(), {}),
        (cells().isel(c=0, drop=True), {}),
        (cells().transpose("y", "x", "z", "c"), {}),
        (cells(), pyramid),
    ):
        img = from_xarray(array, name="validated", **options)
        folder = folder_of(server, img.id)
        NgffImage.from_zarr(zarr.open_group(folder, mode="r"))  # raises when invalid
        location = parse_url(str(folder))
        assert location is not None, f"ome-zarr does not recognise {folder}"
        nodes = list(Reader(location)())
        multiscales = [n for n in nodes if any(isinstance(s, Multiscales) for s in n.specs)]
        assert multiscales, f"ome-zarr found no multiscales in {folder}"
        assert len(multiscales[0].data) == len(img.levels)
        level0 = multiscales[0].data[0]
        order = group_attributes(server, img.id)["ome"]["multiscales"][0]["axes"]
        expected = array.transpose(*(a["name"] for a in order)).values
        np.testing.assert_array_equal(np.asarray(level0), expected)


# -- refused before anything is uploaded -----------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (
            xr.DataArray(np.zeros((4, 4)), dims=["y", "x"], attrs={"when": pd.Timestamp(0)}),
            "attrs\\['when'\\] is a Timestamp",
        ),
        (
            xr.DataArray(np.zeros((4, 4)), dims=["y", "x"], attrs={"bad": float("nan")}),
            "attrs\\['bad'\\] is nan",
        ),
        (
            xr.DataArray(np.zeros((4, 4)), dims=["y", "x"], attrs={"arr": np.zeros(3)}),
            "attrs\\['arr'\\] is a ndarray",
        ),
        (
            xr.DataArray(
                np.zeros((4, 4)),
                dims=["y", "x"],
                coords={"x": ("x", np.arange(4.0), {"units": "parsnips"})},
            ),
            "coordinate 'x' has units 'parsnips'",
        ),
        (
            xr.DataArray(np.zeros((4, 4)), dims=["y", "x"], coords={"m": (("y", "x"), np.eye(4))}),
            "coordinate 'm' has 2 dims",
        ),
        (
            xr.DataArray(
                np.zeros((2, 200_000), dtype="uint8"),
                dims=["y", "x"],
                coords={"x": np.random.default_rng(0).random(200_000)},
            ),
            "at most 1,048,576 can be stored",
        ),
    ],
    ids=["timestamp", "nan", "ndarray", "unit", "2-d-coord", "too-large"],
)
def test_bad_metadata_is_refused_before_upload(
    server: TestServer, alice: Any, array: xr.DataArray, message: str
) -> None:
    before = server.stored_keys("images")
    with pytest.raises(InvalidDataError, match=message):
        from_xarray(array, name="refused")
    assert server.stored_keys("images") == before


def test_channels_must_fit_the_channel_axis(alice: Any) -> None:
    array = xr.DataArray(np.zeros((2, 4, 4)), dims=["c", "y", "x"])
    with pytest.raises(InvalidDataError, match="names 3 channels; dim 'c' has 2"):
        from_xarray(array, name="x", channels=["a", "b", "c"])
    with pytest.raises(InvalidDataError, match="color must be a hex colour"):
        from_xarray(array, name="x", channels=[{"name": "a", "color": "red"}, "b"])
    with pytest.raises(InvalidDataError, match="no dim is a channel axis"):
        from_xarray(array.rename(c="z"), name="x", channels=["a", "b"])


# -- the server checks the group -------------------------------------------------------------------


def _announce_ome(server: TestServer, token: str) -> dict[str, Any]:
    answer = request_image_upload(
        server, token, [8, 8], [8, 8], name="forged-group", format="ome-zarr-0.5"
    )
    assert not answer.get("errors"), answer
    upload: dict[str, Any] = answer["data"]["requestImageUpload"]
    return upload


def _group(ome: dict[str, Any] | None, dims: list[str]) -> bytes:
    attributes: dict[str, Any] = {"arkitekt": {"version": 1, "dims": dims}}
    if ome is not None:
        attributes["ome"] = ome
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes}).encode()


def _ome(paths: list[str], scale: list[float]) -> dict[str, Any]:
    return {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                "datasets": [
                    {"path": p, "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                    for p in paths
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (None, "zarr.json is missing"),
        (_group(None, ["y", "x"]), "must not carry|NGFF"),
        (_group(_ome(["1"], [1.0, 1.0]), ["y", "x"]), "dataset 0 must have the path '0'"),
        (_group(_ome(["0"], [1.0, -1.0]), ["y", "x"]), "scale must be positive"),
        (_group(_ome(["0"], [1.0, 1.0]), ["x", "y"]), "arkitekt.dims must be the announced"),
        (b'{"zarr_format": 3, "node_type": "array"}', "must describe a zarr v3 group"),
    ],
    ids=["no-group", "no-ome", "path", "scale", "dims", "array"],
)
def test_finish_refuses_an_inconsistent_group(
    server: TestServer, alice: Any, group: bytes | None, message: str
) -> None:
    token = token_of(server, "alice")
    upload = _announce_ome(server, token)
    for key, data in zarr_objects(np.ones((8, 8), dtype="uint8"), (8, 8)).items():
        assert put(upload["grant"], f"0/{key}", data).status_code < 300
    if group is not None:
        assert put(upload["grant"], "zarr.json", group).status_code < 300
    answer = finish_image(server, token, upload["id"])
    assert answer.get("errors"), answer
    text = answer["errors"][0]["message"]
    assert "the upload was discarded" in text
    import re

    assert re.search(message, text), text
    assert server.stored_keys(upload["grant"]["prefix"]) == []


# -- images stored before OME-Zarr -----------------------------------------------------------------


def test_images_stored_as_plain_arrays_stay_readable(server: TestServer, alice: Any) -> None:
    """An image written the old way (a plain zarr array at the prefix, announced without a
    format) reads through the same API as before, with the new code."""
    token = token_of(server, "alice")
    values = np.arange(32 * 24, dtype="uint8").reshape(32, 24)
    upload = request_image_upload(server, token, [32, 24], [16, 24], name="legacy")
    assert not upload.get("errors"), upload
    upload = upload["data"]["requestImageUpload"]
    for key, data in zarr_objects(values, (16, 24)).items():
        assert put(upload["grant"], key, data).status_code < 300
    finished = finish_image(server, token, upload["id"])
    assert not finished.get("errors"), finished
    meta = json.loads((folder_of(server, upload["id"]) / "zarr.json").read_text())
    assert meta["node_type"] == "array"
    img = get_image(upload["id"])
    assert img.format == "zarr-array" and img.levels == [(32, 24)]
    assert img.scale == {} and img.channels == []
    data = img.data
    assert data.dims == ("y", "x")
    np.testing.assert_array_equal(data.values, values)
    np.testing.assert_array_equal(data[16:, :5].values, values[16:, :5])


# -- whole reads -----------------------------------------------------------------------------------


async def test_read_gives_the_whole_image_in_memory(server: TestServer) -> None:
    array = cells().transpose("y", "x", "z", "c")
    async with server.app("alice", "ome-read"):
        from arkitekt import afrom_xarray

        img = await afrom_xarray(array, name="whole", chunks={"y": 16, "x": 16})
        read = await img.aread()
        assert isinstance(read.data, np.ndarray)
        assert read.attrs.pop("image_id") == img.id
        xr.testing.assert_identical(read, array.rename("whole"))


def test_read_of_an_image_stored_as_a_plain_array(server: TestServer, alice: Any) -> None:
    token = token_of(server, "alice")
    values = np.arange(16 * 8, dtype="uint8").reshape(16, 8)
    upload = request_image_upload(server, token, [16, 8], [4, 8], name="legacy-read")
    upload = upload["data"]["requestImageUpload"]
    for key, data in zarr_objects(values, (4, 8)).items():
        put(upload["grant"], key, data)
    assert not finish_image(server, token, upload["id"]).get("errors")
    read = get_image(upload["id"]).read()
    assert read.dims == ("y", "x")
    np.testing.assert_array_equal(read.values, values)


def test_a_large_lazy_pyramid_uploads_in_bounded_memory(server: TestServer, alice: Any) -> None:
    """A 1 GiB dask array with pyramid=True needs little more memory than without: levels are
    made block by block, never whole. (Uploads first, plain and a small pyramid: what they
    allocate once — thread pools, codecs, the allocator's per-thread arenas — is not what a
    pyramid costs per GiB.)"""
    import os

    import dask.array as da
    from storage_helpers import peak_rss, peak_rss_reset

    planes = 64  # 64 x 2048 x 2048 float32 = 1 GiB
    lazy = da.ones((planes, 2048, 2048), chunks=(1, 1024, 1024), dtype="float32")
    lazy = lazy * da.arange(planes, chunks=1, dtype="float32")[:, None, None]
    from_xarray(lazy, name="flat", dims=["z", "y", "x"]).delete()
    from_xarray(lazy[:8], name="warm", dims=["z", "y", "x"], pyramid=True).delete()
    pid = os.getpid()
    peak_rss_reset(pid)
    before = peak_rss(pid)
    img = from_xarray(lazy, name="big", dims=["z", "y", "x"], pyramid=True)
    grew = peak_rss(pid) - before
    assert img.levels == [(planes, 2048, 2048), (planes, 1024, 1024)]
    assert grew < 96 << 20, f"the pyramid upload raised the peak by {grew >> 20} MiB"
    assert float(img.level(1).data[planes - 1, 5, 5].compute()) == planes - 1


@pytest.mark.parametrize("chunks", [(32, 32), (33, 31), (200, 7)], ids=["even", "odd", "thin"])
@pytest.mark.parametrize("how", ["mean", "nearest"])
def test_pyramid_levels_equal_the_whole_array_halved(
    alice: Any, chunks: tuple[int, int], how: str
) -> None:
    """Made block by block (and levels 2+ from the stored level before), every level is what
    halving the whole array level after level gives, odd edges included."""
    from arkitekt.services.storage.pyramid import reduce

    values = np.random.default_rng(3).random((2, 101, 75)).astype("float32")
    img = from_xarray(
        values,
        name="halved",
        dims=["t", "y", "x"],
        chunks=(1, *chunks),
        pyramid=True,
        downsample=how,
    )
    expected = values
    for k in range(1, len(img.levels)):
        expected = reduce(expected, (1, 2), how)
        np.testing.assert_array_equal(img.level(k).read().values, expected)
    assert img.levels[-1][1] <= chunks[0] and img.levels[-1][2] <= chunks[1]


def test_thumbnails_read_the_smallest_level_that_is_large_enough(
    server: TestServer, alice: Any
) -> None:
    from arkitekt.server.storage.models import Image as ImageRow
    from arkitekt.server.storage.thumbnails import thumbnail_level

    assert thumbnail_level([(1, 2048, 2048), (1, 1024, 1024), (1, 256, 256), (1, 128, 96)]) == 2
    assert thumbnail_level([(3, 100, 100)]) == 0
    values = np.zeros((1, 1024, 1024), dtype="uint8")
    values[:, :512] = 200
    img = from_xarray(
        values, name="thumb", dims=["c", "y", "x"], chunks=(1, 128, 128), pyramid=True
    )
    assert len(img.levels) == 4  # 1024, 512, 256, 128

    async def make() -> bytes | None:
        storage = server.state.storage
        async with storage.catalogue.db.new_session() as s:
            row = await s.get(ImageRow, img.id)
        made: bytes | None = await storage.thumbnails.make(row)
        return made

    png = server.call(make)
    assert png is not None and png.startswith(b"\x89PNG")


def test_an_image_made_from_another_keeps_its_own_id(alice: Any) -> None:
    first = from_xarray(cells(), name="first")
    second = from_xarray(first.data * 2, name="second")
    again = second.data
    assert again.attrs["image_id"] == second.id
    assert again.attrs["objective"] == "60x oil"
    assert second.scale == first.scale and second.units == first.units


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"levels": [{"shape": [8, 8], "chunks": [4, 4]}]}, "levels\\[0\\] must be the image"),
        (
            {"levels": [{"shape": [8, 8], "chunks": [8, 8]}, {"shape": [9, 4], "chunks": [8, 4]}]},
            "levels\\[1\\] is larger",
        ),
        ({"levels": [{"shape": [8, 8], "chunks": [8, 8]}] * 33}, "1 to 32 levels"),
        ({"format": "zarr-array", "levels": [{"shape": [8, 8], "chunks": [8, 8]}]}, "group"),
        ({"format": "tiff"}, "format must be one of"),
        (
            {
                "levels": [
                    {"shape": [8, 8], "chunks": [8, 8]},
                    {"shape": [4, 4], "chunks": [99999, 99999]},
                ]
            },
            "chunks",
        ),
    ],
    ids=["level0", "growing", "too-many", "array-levels", "format", "level-chunk"],
)
def test_bad_levels_are_refused_when_announced(
    server: TestServer, alice: Any, changes: dict[str, Any], message: str
) -> None:
    answer = request_image_upload(
        server,
        token_of(server, "alice"),
        [8, 8],
        [8, 8],
        name="levels",
        **{"format": "ome-zarr-0.5", **changes},
    )
    assert answer.get("errors"), answer
    assert answer["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    import re

    assert re.search(message, answer["errors"][0]["message"]), answer["errors"]


def test_notebook_display_and_listing_show_pixel_size_and_channels(alice: Any) -> None:
    from arkitekt import images

    img = from_xarray(cells(), name="shown", tags=["display"])
    page = img._repr_html_()
    assert "z 2 micrometer, y 0.5 micrometer, x 0.5 micrometer" in page
    assert "DAPI, GFP" in page and "ome-zarr-0.5" in page
    row = dict(zip(img.listing_headers, img.listing_row(), strict=True))
    assert row["pixel size"] == "z 2 micrometer, y 0.5 micrometer, x 0.5 micrometer"
    assert images(tags=["display"])[0] == img


def test_a_failing_pyramid_upload_leaves_nothing(server: TestServer, alice: Any) -> None:
    import dask.array as da

    def block(x: np.ndarray[Any, Any], block_info: Any = None) -> np.ndarray[Any, Any]:
        if block_info[None]["chunk-location"] == (3, 1, 0):
            raise RuntimeError("the stage hit its limit")
        return np.ones_like(x)

    lazy = da.zeros((4, 128, 128), chunks=(1, 64, 64), dtype="float32")
    lazy = lazy.map_blocks(block, dtype="float32")
    before = server.stored_keys("images")
    with pytest.raises(RuntimeError, match="the stage hit its limit"):
        from_xarray(lazy, name="broken", dims=["z", "y", "x"], chunks=(1, 32, 32), pyramid=True)
    assert server.stored_keys("images") == before
