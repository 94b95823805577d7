"""Issue 11, finding 9 (storage): read grants end with sharing, grants reveal no filesystem
path, and a datalayer key that is a folder is a client error (409), not a server error (500).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from servers import TestServer
from storage_helpers import GRANT_FIELDS, gql, put, request_image_upload, token_of

from arkitekt import from_xarray, get_image, local


def image_grant(server: TestServer, token: str, image_id: str) -> dict[str, Any]:
    answer = gql(
        server,
        token,
        f"query($id: ID!) {{ imageGrant(id: $id) {{ {GRANT_FIELDS} }} }}",
        {"id": image_id},
    )
    assert "errors" not in answer, answer
    grant: dict[str, Any] = answer["data"]["imageGrant"]
    return grant


def read(grant: dict[str, Any], key: str = "zarr.json") -> httpx.Response:
    headers = {"authorization": f"Bearer {grant['token']}"}
    return httpx.get(f"{grant['url']}/{key}", headers=headers, timeout=10)


def test_a_read_grant_ends_when_the_image_is_unshared_or_deleted(standalone: TestServer) -> None:
    with standalone.app("alice", "grants"):
        img = from_xarray(np.ones((64, 64), "uint8"), "shared-then-not", dims=["y", "x"])
        img.share(users=["bob"])
    alice, bob = token_of(standalone, "alice"), token_of(standalone, "bob")
    bobs = image_grant(standalone, bob, img.id)
    assert read(bobs).status_code == 200
    with standalone.app("alice", "grants"):
        get_image(img.id).unshare(users=["bob"])
    refused = read(bobs)
    assert refused.status_code == 403 and "no longer shared" in refused.text
    alices = image_grant(standalone, alice, img.id)
    assert read(alices).status_code == 200
    with standalone.app("alice", "grants"):
        get_image(img.id).delete()
    assert read(alices).status_code == 403


def test_grants_reveal_no_filesystem_path(standalone: TestServer) -> None:
    """A loopback client is not the server's process: it gets a URL and a token, no path."""
    token = token_of(standalone, "alice")
    answer = request_image_upload(standalone, token, [8, 8], [8, 8])
    upload = answer["data"]["requestImageUpload"]
    assert upload["grant"]["path"] is None
    assert str(standalone.data_dir) not in json.dumps(answer)
    gql(standalone, token, "mutation($id: ID!) { abortUpload(id: $id) }", {"id": upload["id"]})
    with standalone.app("alice", "paths"):
        img = from_xarray(np.ones((8, 8), "uint8"), "no-path", dims=["y", "x"])
    grant = image_grant(standalone, token, img.id)
    assert grant["path"] is None and str(standalone.data_dir) not in json.dumps(grant)


def test_an_app_with_the_server_in_its_process_still_uses_the_folder(tmp_path: Path) -> None:
    """The integrated mode finds the folder through its own server, not through the grant."""
    with local("folder-app", data_dir=tmp_path) as app:
        img = from_xarray(np.arange(64).reshape(8, 8), "direct", dims=["y", "x"])
        np.testing.assert_array_equal(get_image(img.id).data.values, np.arange(64).reshape(8, 8))
        embedded = app.services["server"].embedded  # type: ignore[attr-defined]
        assert embedded.state.stats.get("datalayer_gets", 0) == 0  # no HTTP to the datalayer


def test_a_key_that_is_a_folder_is_a_conflict(standalone: TestServer) -> None:
    token = token_of(standalone, "alice")
    upload = request_image_upload(standalone, token, [8, 8], [8, 8])["data"]
    grant = upload["requestImageUpload"]["grant"]
    headers = {"authorization": f"Bearer {grant['token']}"}
    assert put(grant, "c/0/0", b"chunk").status_code == 201
    for method, key in [
        ("PUT", "c"),  # a folder
        ("DELETE", "c"),
        ("PUT", "c/0"),
        ("PUT", "c/0/0/deeper"),  # under an object
    ]:
        answer = httpx.request(
            method, f"{grant['url']}/{key}", content=b"x", headers=headers, timeout=10
        )
        assert answer.status_code == 409, (method, key, answer.text)
    prefix_itself = httpx.put(grant["url"], content=b"x", headers=headers, timeout=10)
    assert prefix_itself.status_code == 409
    # names starting with a dot are the server's (writes in progress): not keys at all
    assert put(grant, "c/.0.part", b"uncounted").status_code == 400
