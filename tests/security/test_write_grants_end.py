"""Issue 11, finding 8: a write grant writes nothing once its upload is finished or aborted.

The finding: after ``finishImageUpload`` the same grant overwrote ``zarr.json`` with another
shape and added 20 MB (not counted), and after ``abortUpload`` a PUT under the deleted prefix
succeeded and was never swept.

- local datalayer: every write is checked against the live upload record, also a write whose
  body is still arriving when the upload is finished;
- S3 (moto): STS credentials cannot be revoked, so once they have expired the server checks
  the finished object again (bytes written since count; a changed array is removed) and deletes
  what was written under an aborted upload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import obstore
from obstore.store import S3Store
from servers import Servers, TestServer
from storage_helpers import finish_image, gql, put, request_image_upload, token_of, zarr_objects

from arkitekt.server.storage.models import Image


def uploaded(server: TestServer, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished 256 x 256 image: ``(upload, image)``, its objects written with the grant."""
    upload = request_image_upload(server, token, [256, 256], [128, 128])["data"]
    upload = upload["requestImageUpload"]
    write_all(upload["grant"], zarr_objects(np.ones((256, 256), "uint8"), (128, 128)))
    finished = finish_image(server, token, upload["id"])
    assert "errors" not in finished, finished
    return upload, finished["data"]["finishImageUpload"]


def write_all(grant: dict[str, Any], objects: dict[str, bytes]) -> None:
    if grant["kind"] == "s3":
        store = s3_store(grant)
        for key, data in objects.items():
            obstore.put(store, f"{grant['prefix']}/{key}", data)
        return
    for key, data in objects.items():
        assert put(grant, key, data).status_code == 201


def s3_store(grant: dict[str, Any]) -> S3Store:
    """What a client makes of an S3 grant (moto accepts the credentials until they expire)."""
    return S3Store(
        grant["bucket"],
        endpoint=grant.get("endpoint") or None,
        region="us-east-1",
        access_key_id=grant["accessKeyId"],
        secret_access_key=grant["secretAccessKey"],
        token=grant["sessionToken"],
        client_options={"allow_http": True},
    )


def image_size(server: TestServer, token: str, image_id: str) -> Any:
    answer = gql(
        server, token, "query($id: ID!) { image(id: $id) { sizeBytes } }", {"id": image_id}
    )
    return answer


# -- local datalayer -------------------------------------------------------------------------------


def test_finish_ends_the_write_grant(standalone: TestServer) -> None:
    token = token_of(standalone, "alice")
    upload, image = uploaded(standalone, token)
    grant, prefix = upload["grant"], upload["grant"]["prefix"]
    stored = standalone.stored_keys(prefix)
    other_shape = zarr_objects(np.ones((512, 512), "uint8"), (512, 512))
    for key, data in [("zarr.json", other_shape["zarr.json"]), ("c/9/9", b"x" * (1 << 20))]:
        refused = put(grant, key, data)
        assert refused.status_code == 403 and "upload has ended" in refused.text
    headers = {"authorization": f"Bearer {grant['token']}"}
    deleting = httpx.delete(f"{grant['url']}/c/0/0", headers=headers, timeout=10)
    assert deleting.status_code == 403
    assert httpx.get(f"{grant['url']}/zarr.json", headers=headers, timeout=10).status_code == 403
    assert standalone.stored_keys(prefix) == stored
    size = image_size(standalone, token, image["id"])["data"]["image"]["sizeBytes"]
    assert size == image["sizeBytes"]


def test_abort_ends_the_write_grant_and_leaves_nothing(standalone: TestServer) -> None:
    token = token_of(standalone, "alice")
    upload = request_image_upload(standalone, token, [256, 256], [128, 128])["data"]
    upload = upload["requestImageUpload"]
    grant, prefix = upload["grant"], upload["grant"]["prefix"]
    assert put(grant, "c/0/0", b"partial").status_code == 201
    gql(standalone, token, "mutation($id: ID!) { abortUpload(id: $id) }", {"id": upload["id"]})
    refused = put(grant, "c/0/1", b"after the abort")
    assert refused.status_code == 403
    assert standalone.stored_keys(prefix) == []
    assert not (standalone.data_dir / "datalayer" / prefix).exists()


def test_a_write_arriving_when_the_upload_finishes_is_discarded(standalone: TestServer) -> None:
    """A PUT whose body is still arriving when finish runs: finish does not wait for it, and it
    does not land afterwards."""
    token = token_of(standalone, "alice")
    upload = request_image_upload(standalone, token, [256, 256], [128, 128])["data"]
    upload = upload["requestImageUpload"]
    grant, prefix = upload["grant"], upload["grant"]["prefix"]
    write_all(grant, zarr_objects(np.ones((256, 256), "uint8"), (128, 128)))

    async def race() -> tuple[httpx.Response, dict[str, Any]]:
        released = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield b"x" * 65536
            await released.wait()
            yield b"y" * 65536

        async with httpx.AsyncClient(timeout=60) as client:
            writing = asyncio.create_task(
                client.put(
                    f"{grant['url']}/late",
                    content=body(),
                    headers={"authorization": f"Bearer {grant['token']}"},
                )
            )
            await asyncio.sleep(0.5)  # the server is reading the body
            finished = await asyncio.to_thread(finish_image, standalone, token, upload["id"])
            released.set()
            return await writing, finished

    late, finished = asyncio.run(race())
    assert "errors" not in finished, finished
    assert late.status_code == 403, late.text
    assert f"{prefix}/late" not in standalone.stored_keys(prefix)
    size = finished["data"]["finishImageUpload"]["sizeBytes"]
    root = standalone.data_dir / "datalayer"
    assert size == sum((root / key).stat().st_size for key in standalone.stored_keys(prefix))


# -- S3 (moto) -------------------------------------------------------------------------------------


def expire_write_grants(server: TestServer) -> None:
    """Move every pending deadline to the past (as if the credentials had expired), then run
    the server's sweeper once."""
    from sqlalchemy import update

    from arkitekt.server.storage.models import File

    storage, db = server.state.storage, server.state.db
    assert storage is not None
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    async def sweep() -> int:
        async with db.new_session() as s, s.begin():
            for model in (Image, File):
                await s.execute(
                    update(model)
                    .where(model.upload_deadline.is_not(None))
                    .values(upload_deadline=past)
                )
        return await storage.sweep()

    server.call(sweep)


def test_s3_what_is_written_after_finish_is_counted_or_removed(servers: Servers) -> None:
    server = servers.in_process(users=("alice",), s3=True)
    token = token_of(server, "alice")
    kept_upload, kept = uploaded(server, token)
    changed_upload, changed = uploaded(server, token)
    # the credentials still work after finish (STS cannot revoke them) ...
    write_all(kept_upload["grant"], {"c/5/5": b"z" * (1 << 20)})
    forged = zarr_objects(np.ones((256, 256), "uint8"), (128, 128), codecs="gzip")
    write_all(changed_upload["grant"], {"zarr.json": forged["zarr.json"]})
    # ... until they expire: then what was written since counts, and a changed array goes
    expire_write_grants(server)
    size = image_size(server, token, kept["id"])["data"]["image"]["sizeBytes"]
    assert size == kept["sizeBytes"] + (1 << 20)
    gone = image_size(server, token, changed["id"])
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert server.stored_keys(changed_upload["grant"]["prefix"]) == []


def test_s3_what_is_written_after_abort_is_swept(servers: Servers) -> None:
    server = servers.in_process(users=("alice",), s3=True)
    token = token_of(server, "alice")
    upload = request_image_upload(server, token, [256, 256], [128, 128])["data"]
    upload = upload["requestImageUpload"]
    write_all(upload["grant"], {"c/0/0": b"partial"})
    gql(server, token, "mutation($id: ID!) { abortUpload(id: $id) }", {"id": upload["id"]})
    prefix = upload["grant"]["prefix"]
    assert server.stored_keys(prefix) == []
    write_all(upload["grant"], {"c/0/1": b"after the abort"})  # moto still takes it
    assert server.stored_keys(prefix) == [f"{prefix}/c/0/1"]
    expire_write_grants(server)
    assert server.stored_keys(prefix) == []
