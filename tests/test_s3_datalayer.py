"""The S3 datalayer on its own, against a real moto server in a subprocess.

moto does not evaluate session policies, so what a grant may reach is checked on the policy
itself (:func:`session_policy`); against the server we check that the issued credentials work.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import obstore
import pytest
from obstore.store import S3Store
from s3_helpers import (
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    s3_server_config_env,
    s3_settings,
)

from arkitekt.server.config import ServerConfig
from arkitekt.server.storage.datalayer import Grant
from arkitekt.server.storage.s3 import (
    READ_ACTIONS,
    WRITE_ACTIONS,
    S3Datalayer,
    session_name,
    session_policy,
)

Opener = Callable[..., Any]


def new_bucket() -> str:
    return f"arkitekt-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def open_layer(s3_endpoint: str, tmp_path: Path) -> AsyncIterator[Opener]:
    """Open S3 datalayers on the moto server (a fresh bucket unless one is given)."""
    opened: list[S3Datalayer] = []

    async def open_(bucket: str | None = None, **overrides: Any) -> S3Datalayer:
        settings = {**s3_settings(s3_endpoint, bucket or new_bucket()), **overrides}
        config = ServerConfig(data_dir=tmp_path, **settings)
        layer = await S3Datalayer.open(config)
        opened.append(layer)
        return layer

    yield open_
    for layer in opened:
        await layer.close()


@pytest.fixture
async def layer(open_layer: Opener) -> S3Datalayer:
    result: S3Datalayer = await open_layer()
    return result


def client_store(grant: Grant) -> S3Store:
    """What a client builds from a grant."""
    assert grant.bucket and grant.endpoint and grant.access_key_id and grant.secret_access_key
    return S3Store(
        grant.bucket,
        endpoint=grant.endpoint,
        region=grant.region or S3_REGION,
        access_key_id=grant.access_key_id,
        secret_access_key=grant.secret_access_key,
        token=grant.session_token,
        client_options={"allow_http": True},
    )


async def write_grant(layer: S3Datalayer, prefix: str) -> Grant:
    return await layer.grant(prefix, write=True, subject="alice", base_url="http://unused")


async def put_all(layer: S3Datalayer, prefix: str, objects: dict[str, bytes]) -> None:
    store = client_store(await write_grant(layer, prefix))
    for key, data in objects.items():
        await obstore.put_async(store, f"{prefix}/{key}", data)


async def test_open_creates_the_bucket_once(open_layer: Opener) -> None:
    bucket = new_bucket()
    first: S3Datalayer = await open_layer(bucket)
    await put_all(first, "files/x", {"data": b"kept"})
    again: S3Datalayer = await open_layer(bucket)  # the bucket exists: nothing happens
    assert await again.read("files/x/data") == b"kept"


async def test_write_grant_puts_objects_the_server_reads_and_counts(layer: S3Datalayer) -> None:
    prefix = "images/one"
    grant = await write_grant(layer, prefix)
    assert grant.kind == "s3" and grant.write and grant.prefix == prefix
    assert grant.bucket == layer.bucket and grant.region == S3_REGION
    assert grant.session_token and grant.access_key_id != S3_ACCESS_KEY_ID
    store = client_store(grant)
    await obstore.put_async(store, f"{prefix}/zarr.json", b'{"zarr_format": 3}')
    await obstore.put_async(store, f"{prefix}/c/0/0", b"\x00" * 1000)

    assert await layer.read(f"{prefix}/zarr.json") == b'{"zarr_format": 3}'
    assert await layer.read(f"{prefix}/missing.json") is None
    assert await layer.usage(prefix) == (2, 1018)
    assert await layer.usage("images/none") == (0, 0)
    # The client can read back with the same credentials.
    assert bytes(await (await obstore.get_async(store, f"{prefix}/c/0/0")).bytes_async()) == (
        b"\x00" * 1000
    )


async def test_read_stops_after_max_bytes(layer: S3Datalayer) -> None:
    await put_all(layer, "files/big", {"data": bytes(range(256)) * 40})
    assert await layer.read("files/big/data", max_bytes=100) == bytes(range(101))
    assert await layer.read("files/big/data", max_bytes=10240) == bytes(range(256)) * 40


async def test_delete_removes_the_prefix_and_not_its_sibling(layer: S3Datalayer) -> None:
    layer.delete_batch = 2  # several list-and-delete rounds
    await put_all(layer, "images/a", {f"c/{i}": b"x" * i for i in range(1, 6)})
    await put_all(layer, "images/ab", {"zarr.json": b"{}"})
    assert await layer.usage("images/a") == (5, 15)

    await layer.delete("images/a")
    assert await layer.usage("images/a") == (0, 0)
    assert await layer.read("images/a/c/1") is None
    assert await layer.usage("images/ab") == (1, 2)
    assert await layer.read("images/ab/zarr.json") == b"{}"

    await layer.delete("images/a")  # nothing there is fine
    await layer.delete("images/never")


async def test_an_empty_prefix_is_refused(layer: S3Datalayer) -> None:
    await put_all(layer, "files/f", {"data": b"1"})
    with pytest.raises(ValueError):
        await layer.delete("")
    with pytest.raises(ValueError):
        await layer.usage("/")
    assert await layer.usage("files/f") == (1, 1)


async def test_grant_expiry_follows_the_ttl(open_layer: Opener) -> None:
    slack = 60
    for ttl, expected in ((1200, 1200), (60, 900)):  # STS sessions last at least 900 s
        layer: S3Datalayer = await open_layer(storage_grant_ttl=ttl)
        before = time.time()
        grant = await write_grant(layer, "files/t")
        assert before < grant.expires_at <= time.time() + expected + slack
        assert grant.expires_at >= before + expected - slack


async def test_grant_names_the_public_endpoint(open_layer: Opener) -> None:
    layer: S3Datalayer = await open_layer(s3_public_endpoint_url="https://s3.example.org")
    grant = await layer.grant("files/p", write=False, subject="bob", base_url="http://unused")
    assert grant.endpoint == "https://s3.example.org"
    assert not grant.write and grant.url is None


def test_session_policy_is_scoped_to_the_prefix() -> None:
    policy = session_policy("bucket", "images/abc", write=True)
    objects, listing = policy["Statement"]
    assert objects["Effect"] == "Allow"
    assert objects["Resource"] == ["arn:aws:s3:::bucket/images/abc/*"]
    assert sorted(objects["Action"]) == sorted([*READ_ACTIONS, *WRITE_ACTIONS])
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Resource"] == ["arn:aws:s3:::bucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["images/abc/*"]}}
    # Only Allow statements: nothing outside the prefix, no bucket-wide object action.
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])


def test_a_read_policy_has_no_write_actions() -> None:
    policy = session_policy("bucket", "/files/xyz/", write=False)
    objects, _ = policy["Statement"]
    assert objects["Action"] == ["s3:GetObject"]
    assert objects["Resource"] == ["arn:aws:s3:::bucket/files/xyz/*"]
    granted = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert granted.isdisjoint(WRITE_ACTIONS)


def test_session_names_are_valid_for_sts() -> None:
    name = session_name("alice smith/äö:" + "x" * 100)
    assert name.startswith("arkitekt-alice_smith_")
    assert len(name) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "_+=,.@-") for c in name)


def test_server_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_server_config_env("http://127.0.0.1:1", "b").items():
        monkeypatch.setenv(name, value)
    config = ServerConfig()
    assert config.datalayer == "s3"
    assert config.s3_endpoint_url == "http://127.0.0.1:1"
    assert config.s3_bucket == "b"
    assert config.s3_access_key_id == S3_ACCESS_KEY_ID
    assert config.s3_secret_access_key is not None
    assert config.s3_secret_access_key.get_secret_value() == S3_SECRET_ACCESS_KEY
    assert config.s3_region == S3_REGION
