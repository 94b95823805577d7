"""Images and files by reference, on each datalayer: the local folder (served over HTTP to a
remote-mode app) and S3 (moto's server, a real S3 API on loopback).

What moto cannot show: it does not evaluate STS session policies, so that an S3 grant cannot
reach another prefix is checked on the policy the server asks for (tests/test_s3_datalayer.py),
not by a refused request here.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.array as da
import httpx
import numpy as np
import pytest
import xarray as xr
from koil import unkoil
from s3_helpers import s3_settings
from servers import SWEEP_GRANT_TTL, Servers, TestServer

from arkitekt import (
    DataNotFoundError,
    ForbiddenError,
    Image,
    afrom_xarray,
    aget_image,
    call,
    delete,
    find,
    from_file,
    from_xarray,
    get_file,
    get_image,
    images,
)
from arkitekt.services.storage import api


@pytest.fixture(scope="module", params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestServer]:
    tmp = tmp_path_factory.mktemp(f"storage-{request.param}")
    s3 = s3_settings(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else {}
    with TestServer.in_process(tmp / "server", users=("alice", "bob"), **s3) as server:
        yield server


@pytest.fixture(scope="module")
def alice(storage: TestServer) -> Iterator[Any]:
    with storage.app("alice", "storage-test") as app:
        yield app


def _random(shape: tuple[int, ...], dtype: str) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(7)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, dtype=dtype)
    return rng.random(shape).astype(dtype)


# -- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int64", "float32", "float64", "bool"])
def test_numpy_round_trip(alice: Any, dtype: str) -> None:
    values = _random((3, 40, 50), dtype)
    img = from_xarray(values, name=f"np-{dtype}", dims=["z", "y", "x"])
    assert (img.shape, img.dims, img.dtype) == ((3, 40, 50), ("z", "y", "x"), np.dtype(dtype))
    again = get_image(img.id)
    assert isinstance(again, Image) and again == img
    data = again.data
    assert data.dims == ("z", "y", "x") and data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(data.values, values)


def test_xarray_round_trip_keeps_dims_and_tags(alice: Any) -> None:
    values = _random((2, 4, 64, 64), "float32")
    array = xr.DataArray(values, dims=["c", "z", "y", "x"])
    img = from_xarray(array, name="cells", tags=["raw", "round-trip"])
    assert img.tags == ("raw", "round-trip")
    assert img.chunks == (2, 4, 64, 64)  # planes are small: chunks grow outwards to >= 1 MiB
    xr.testing.assert_equal(img.data.compute().drop_attrs(), array.rename("cells"))


def test_dask_array_is_streamed(alice: Any) -> None:
    lazy = da.random.default_rng(3).random((6, 128, 128), chunks=(2, 64, 64)).astype("float32")
    img = from_xarray(lazy, name="streamed", dims=["t", "y", "x"], chunks=(1, 128, 128))
    assert img.chunks == (1, 128, 128)
    np.testing.assert_array_equal(img.data.values, lazy.compute())


async def test_async_twins(storage: TestServer) -> None:
    async with storage.app("alice", "storage-async"):
        values = _random((10, 10), "uint16")
        img = await afrom_xarray(values, name="async", dims=["y", "x"])
        again = await aget_image(img.id)
        np.testing.assert_array_equal((await again.adata()).values, values)


# -- partial reads ---------------------------------------------------------------------------------


def test_partial_read_fetches_only_the_needed_chunk(storage: TestServer, alice: Any) -> None:
    if storage.config.datalayer != "local":
        pytest.skip("requests are counted by the local datalayer's HTTP routes")
    values = _random((2, 8, 256, 256), "float32")
    img = from_xarray(xr.DataArray(values, dims=["c", "z", "y", "x"]), name="partial")
    assert img.chunks == (1, 4, 256, 256)
    data = get_image(img.id).data  # opening reads zarr.json
    stats = storage.state.stats
    before = stats.get("datalayer_gets", 0)
    plane = data.sel(c=1, z=5).compute()
    assert stats["datalayer_gets"] - before == 1  # one chunk of 16 holds that plane
    np.testing.assert_array_equal(plane.values, values[1, 5])


# -- failures leave nothing behind -----------------------------------------------------------------


def _failing_dask(fail_at: int) -> Any:
    def block(x: np.ndarray[Any, Any], block_info: Any = None) -> np.ndarray[Any, Any]:
        if block_info[None]["chunk-location"][0] == fail_at:
            raise RuntimeError("the microscope fell over")
        return np.ones_like(x)

    base = da.zeros((8, 64, 64), chunks=(1, 64, 64), dtype="float32")
    return base.map_blocks(block, dtype="float32")


def test_failed_upload_is_discarded(storage: TestServer, alice: Any) -> None:
    before = storage.stored_keys("images")
    with pytest.raises(RuntimeError, match="microscope fell over") as failure:
        from_xarray(_failing_dask(6), name="broken", dims=["z", "y", "x"], chunks=(1, 64, 64))
    assert "the upload of image 'broken' was discarded" in str(failure.value.__notes__)
    assert images(name="broken") == []
    assert storage.stored_keys("images") == before


def _slowly(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    time.sleep(0.2)
    return x + 1


async def test_cancelled_upload_is_discarded(storage: TestServer) -> None:
    """Ctrl-C (a cancelled task) in the middle of an upload leaves nothing behind."""
    before = storage.stored_keys("images")
    slow = da.zeros((200, 64, 64), chunks=(1, 64, 64), dtype="float32")  # ~5 s to write
    async with storage.app("alice", "storage-async") as app:
        task = asyncio.create_task(
            afrom_xarray(slow.map_blocks(_slowly), name="interrupted", dims=["z", "y", "x"])
        )
        deadline = time.monotonic() + 30
        while not any("/c/" in k for k in set(storage.stored_keys("images")) - set(before)):
            assert time.monotonic() < deadline, "no chunk was written"
            assert not task.done(), task
            await asyncio.sleep(0.02)
        task.cancel()  # chunks are being written
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await app.storage.aimages(name="interrupted") == []
    assert storage.stored_keys("images") == before


def test_wrong_array_is_refused_at_finish(storage: TestServer, alice: Any) -> None:
    """The server checks what was written against what was announced."""
    import zarr

    client = alice.storage.graphql
    upload = unkoil(
        api.arequest_image_upload,
        api.ImageUploadInput(
            name="liar", shape=(4, 4), dims=("y", "x"), dtype="uint8", chunks=(4, 4)
        ),
        client=client,
    )
    from arkitekt.services.storage.stores import GrantedStore, GrantKeeper

    async def write_other() -> None:
        keeper = GrantKeeper(upload.grant, None, asyncio.get_running_loop())  # type: ignore[arg-type]
        await zarr.api.asynchronous.create_array(
            store=GrantedStore(keeper), shape=(5, 5), dtype="uint8", chunks=(5, 5)
        )

    unkoil(write_other)
    with pytest.raises(Exception, match="differs from the announced one"):
        unkoil(api.afinish_image_upload, upload.id, client=client)
    assert storage.stored_keys(upload.grant.prefix) == []


def test_abandoned_upload_is_swept(servers: Servers, storage: TestServer) -> None:
    """A client that dies mid-upload leaves records and objects that the server removes."""
    short = servers.in_process(
        users=("alice", "bob"),
        s3=storage.config.datalayer == "s3",
        storage_grant_ttl=SWEEP_GRANT_TTL,
        storage_upload_grace=0,
    )
    with short.app("alice", "storage-test") as app:
        upload = unkoil(
            api.arequest_image_upload,
            api.ImageUploadInput(
                name="orphan", shape=(4,), dims=("x",), dtype="uint8", chunks=(4,)
            ),
            client=app.storage.graphql,
        )
        grant = upload.grant
        response = _put(grant, "zarr.json", b"{}")
        assert response < 300
        assert short.stored_keys(grant.prefix)
        time.sleep(SWEEP_GRANT_TTL + 0.2)  # past the upload's deadline
        assert short.call(short.state.storage.sweep) == 1
        assert short.stored_keys(grant.prefix) == []


def _put(grant: Any, key: str, body: bytes) -> int:
    """Write one object with a grant, as any client could."""
    if grant.kind == "http":
        return httpx.put(
            f"{grant.url}/{key}", content=body, headers={"authorization": f"Bearer {grant.token}"}
        ).status_code
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        grant.bucket,
        prefix=grant.prefix,
        endpoint=grant.endpoint,
        region=grant.region,
        access_key_id=grant.access_key_id,
        secret_access_key=grant.secret_access_key,
        token=grant.session_token,
        client_options={"allow_http": True},
    )
    obstore.put(store, key, body)
    return 200


# -- access control --------------------------------------------------------------------------------


def test_other_users_see_nothing_until_shared(storage: TestServer, alice: Any) -> None:
    img = from_xarray(_random((8, 8), "uint8"), name="private", dims=["y", "x"])
    with storage.app("bob", "storage-bob") as bob:
        with pytest.raises(DataNotFoundError):
            get_image(img.id, app=bob)
        assert [i.id for i in images(name="private", app=bob)] == []
        with pytest.raises(DataNotFoundError):
            unkoil(api.aimage_grant, img.id, client=bob.storage.graphql)
        assert img.share(users=["bob"]) == ["bob"]
        shared = get_image(img.id, app=bob)
        assert not shared.mine
        np.testing.assert_array_equal(shared.data.values, img.data.values)
        with pytest.raises(ForbiddenError):
            delete(shared, app=bob)
        img.unshare(users=["bob"])
        with pytest.raises(DataNotFoundError):
            get_image(img.id, app=bob)


def test_a_grant_opens_one_image_only(storage: TestServer, alice: Any) -> None:
    if storage.config.datalayer != "local":
        pytest.skip("moto does not evaluate STS session policies (see the module docstring)")
    first = from_xarray(_random((8, 8), "uint8"), name="first", dims=["y", "x"])
    second = from_xarray(_random((8, 8), "uint8"), name="second", dims=["y", "x"])
    grant = unkoil(api.aimage_grant, first.id, client=alice.storage.graphql)
    auth = {"authorization": f"Bearer {grant.token}"}
    base = grant.url.rsplit("/", 1)[0]
    assert httpx.get(f"{grant.url}/zarr.json", headers=auth).status_code == 200
    assert httpx.get(f"{base}/{second.id}/zarr.json", headers=auth).status_code == 403
    assert httpx.get(f"{base}/{first.id}/../{second.id}/zarr.json", headers=auth).status_code in (
        400,
        403,
        404,
    )
    # read-only: cannot overwrite or delete
    assert httpx.put(f"{grant.url}/zarr.json", content=b"{}", headers=auth).status_code == 403
    assert httpx.delete(f"{grant.url}/zarr.json", headers=auth).status_code == 403
    # forged or missing grants are refused
    forged = grant.token[:-4] + ("AAAA" if not grant.token.endswith("AAAA") else "BBBB")
    assert (
        httpx.get(
            f"{grant.url}/zarr.json", headers={"authorization": f"Bearer {forged}"}
        ).status_code
        == 401
    )
    assert httpx.get(f"{grant.url}/zarr.json").status_code == 401
    # an access token is not a grant
    token = unkoil(alice.auth.aget_token)
    assert (
        httpx.get(
            f"{grant.url}/zarr.json", headers={"authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


def test_owner_deletes_image_and_its_data(storage: TestServer, alice: Any) -> None:
    img = from_xarray(_random((8, 8), "uint8"), name="doomed", dims=["y", "x"])
    prefix = f"images/{img.id}"
    assert storage.stored_keys(prefix)
    img.delete()
    with pytest.raises(DataNotFoundError):
        get_image(img.id)
    assert storage.stored_keys(prefix) == []


# -- queries ---------------------------------------------------------------------------------------


def test_image_queries_filter_and_page(storage: TestServer) -> None:
    with storage.app("alice", "storage-queries") as app:
        tag = f"q{id(app)}"
        made = [
            from_xarray(np.zeros((2, 2), "uint8"), name=f"query {n}", dims=["y", "x"], tags=[tag])
            for n in range(5)
        ]
        newest_first = [i.id for i in reversed(made)]
        assert [i.id for i in images(tags=[tag])] == newest_first
        assert [i.id for i in images(tags=[tag], limit=2, offset=1)] == newest_first[1:3]
        assert [i.id for i in images(tags=[tag], name="query 3")] == [made[3].id]
        assert len(images(tags=[tag], name__contains="QUERY")) == 5
        assert images(tags=[tag, "absent"]) == []
        assert len(images(tags=[tag], mine=True)) == 5


# -- files -----------------------------------------------------------------------------------------


def test_file_round_trip(storage: TestServer, alice: Any, tmp_path: Path) -> None:
    source = tmp_path / "notes.pdf"
    content = np.random.default_rng(1).bytes(9 << 20)  # several transfer chunks
    source.write_bytes(content)
    stored = from_file(source)
    assert (stored.name, stored.size_bytes, stored.content_type) == (
        "notes.pdf",
        len(content),
        "application/pdf",
    )
    again = get_file(stored.id)
    copy = again.download(tmp_path / "copy.pdf")
    assert copy.read_bytes() == content
    with pytest.raises(FileExistsError):
        again.download(copy)
    assert again.download(tmp_path, overwrite=True) == tmp_path / "notes.pdf"
    with again.open() as f:
        assert f.read(5) == content[:5]
    from_stream = from_file(io.BytesIO(b"hello"), name="hello.txt")
    assert from_stream.read_bytes() == b"hello"
    from_stream.delete()
    with pytest.raises(DataNotFoundError):
        get_file(from_stream.id)


# -- by reference through remote functions ---------------------------------------------------------


def threshold(image: Image, level: float) -> Image:
    """Pixels above a level."""
    return from_xarray(image.data > level, name=f"{image.name} > {level}")


def test_image_travels_by_reference_through_a_call(storage: TestServer) -> None:
    with storage.app("alice", "storage-agent") as app:
        app.register(threshold)
        app.serve()
        values = _random((4, 32, 32), "float32")
        img = from_xarray(values, name="input", dims=["z", "y", "x"])
        node = find(interface="threshold")
        assert node.definition.args[0].identifier == "@arkitekt/image"
        result = call(node, img, 0.5)
        assert isinstance(result, Image) and result.name == "input > 0.5"
        np.testing.assert_array_equal(result.data.values, values > 0.5)


# -- bad input -------------------------------------------------------------------------------------


def test_bad_input_is_refused_before_anything_is_sent(alice: Any) -> None:
    with pytest.raises(ValueError, match="dims= is required"):
        from_xarray(np.zeros((2, 2)), name="x")
    with pytest.raises(ValueError, match="must name each"):
        from_xarray(np.zeros((2, 2)), name="x", dims=["y"])
    with pytest.raises(ValueError, match="distinct identifiers"):
        from_xarray(np.zeros((2, 2)), name="x", dims=["y", "y"])
    with pytest.raises(TypeError, match="dtype object"):
        from_xarray(np.array([[object()]]), name="x", dims=["y", "x"])
    with pytest.raises(TypeError, match=r"xarray\.DataArray, a numpy array or a dask array"):
        from_xarray([[1, 2]], name="x", dims=["y", "x"])
    with pytest.raises(TypeError, match="tags= takes a list"):
        from_xarray(np.zeros((2, 2)), name="x", dims=["y", "x"], tags="raw")
    with pytest.raises(ValueError, match="name must be"):
        from_xarray(np.zeros((2, 2)), name=" ", dims=["y", "x"])
    with pytest.raises(ValueError, match="chunks="):
        from_xarray(np.zeros((2, 2)), name="x", dims=["y", "x"], chunks=(0, 1))
    with pytest.raises(FileNotFoundError):
        from_file("/no/such/file")
    with pytest.raises(DataNotFoundError):
        get_image("0" * 32)


def test_the_storage_example_runs() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "storage.py")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Image(id=") and "{c: 2, z: 32, y: 512, x: 512}" in lines[0]
    assert lines[1] == "['streamed', 'cells']"
    assert lines[2] == "notes.txt: 'acquired on the spinning disk'"


# -- display, helpers ------------------------------------------------------------------------------


def test_image_shows_a_thumbnail_in_notebooks(alice: Any) -> None:
    img = from_xarray(_random((3, 300, 200), "uint16"), name="<b>shown</b>", dims=["z", "y", "x"])
    page = img._repr_html_()
    assert page.count('<img src="data:image/png;base64,') == 1
    assert "&lt;b&gt;shown&lt;/b&gt;" in page and "<b>shown</b>" not in page  # escaped
    assert "(z: 3, y: 300, x: 200)" in page and "uint16" in page
    import base64

    png = base64.b64decode(page.split("base64,")[1].split('"')[0])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (height, width) == (100, 100)  # the first plane, strided to at most 128 px
    table = images(name="<b>shown</b>")._repr_html_()  # type: ignore[attr-defined]
    assert "&lt;b&gt;shown&lt;/b&gt;" in table and "(z: 3, y: 300, x: 200)" in table


def test_bad_pagination_is_refused_by_the_server(alice: Any) -> None:
    from arkitekt import InvalidDataError

    with pytest.raises(InvalidDataError, match=r"pagination\.limit"):
        images(limit=0)


def test_images_are_known_structures_without_importing_them() -> None:
    from arkitekt.services.rpc.structures import new_registry

    assert new_registry().get("@arkitekt/image") is Image


def test_progress_bar_is_silent_when_not_a_terminal() -> None:
    from arkitekt._progress import transfer_progress

    bar = transfer_progress(1 << 40, "huge")  # stderr is captured here: not a terminal
    assert type(bar).__name__ == "_Silent"
    shown = transfer_progress(10, "forced", show=True)
    shown.update(10)
    shown.close()


# -- pyramids and whole reads (both datalayers) ----------------------------------------------------


def test_pyramid_levels_are_written_while_uploading(alice: Any) -> None:
    """``pyramid=True``: levels halve y and x (mean, rounded back to the dtype) until one fits
    a chunk; each level reads lazily or whole, with its coordinates scaled."""
    values = np.random.default_rng(5).integers(0, 4000, (2, 300, 260), dtype="uint16")
    array = xr.DataArray(
        values,
        dims=["c", "y", "x"],
        coords={"y": ("y", np.arange(300) * 0.25, {"units": "um"}), "x": np.arange(260) * 0.25},
    )
    lazy = da.from_array(values, chunks=(1, 100, 100))
    for given in (array, array.copy(data=lazy)):
        img = from_xarray(given, name="pyramid", chunks={"y": 64, "x": 64}, pyramid=True)
        assert img.levels == [(2, 300, 260), (2, 150, 130), (2, 75, 65), (2, 38, 33)]
        np.testing.assert_array_equal(img.read().values, values)
        level1 = img.level(1)
        expected = values.astype("float64").reshape(2, 150, 2, 130, 2).mean(axis=(2, 4))
        np.testing.assert_array_equal(level1.read().values, np.rint(expected).astype("uint16"))
        assert level1.scale == {"c": 1.0, "y": 0.5, "x": 0.5}
        np.testing.assert_allclose(level1.data.y.values[:2], [0.125, 0.625])
        last = get_image(img.id).level(3).data
        assert last.shape == (2, 38, 33) and last.dtype == np.dtype("uint16")
        assert img.data.shape == (2, 300, 260)  # img.data stays level 0


def test_labels_pyramid_keeps_label_values(alice: Any) -> None:
    labels = np.zeros((90, 70), dtype="int32")
    labels[10:50, 5:40] = 7
    labels[50:, 40:] = 3
    img = from_xarray(
        labels, name="labels", dims=["y", "x"], chunks=(32, 32), pyramid=True, downsample="nearest"
    )
    for k in range(1, len(img.levels)):
        assert set(np.unique(img.level(k).read().values)) <= {0, 3, 7}
    np.testing.assert_array_equal(img.level(1).read().values, labels[::2, ::2])


def test_read_returns_the_image_in_memory(alice: Any) -> None:
    values = _random((3, 70, 90), "float32")
    array = xr.DataArray(values, dims=["z", "y", "x"], coords={"z": [0.5, 1.5, 9.0]})
    img = from_xarray(array, name="read", chunks=(1, 32, 32))
    read = get_image(img.id).read()
    assert isinstance(read.data, np.ndarray)
    xr.testing.assert_identical(read.drop_attrs(), array.rename("read"))


def test_one_tile_of_a_pyramid_reads_one_chunk(storage: TestServer, alice: Any) -> None:
    if storage.config.datalayer != "local":
        pytest.skip("requests are counted by the local datalayer's HTTP routes")
    values = _random((2, 256, 256), "float32")
    img = from_xarray(values, name="tiles", dims=["z", "y", "x"], chunks=(1, 64, 64), pyramid=True)
    data = get_image(img.id).data  # opening reads the group's and level 0's zarr.json
    stats = storage.state.stats
    before = stats.get("datalayer_gets", 0)
    tile = data[1, 64:128, 128:192].compute()
    assert stats["datalayer_gets"] - before == 1
    np.testing.assert_array_equal(tile.values, values[1, 64:128, 128:192])
