"""The real ``fakts`` client driving the real server through the whole v2 flow.

discovery -> device authorization -> approval (the server's HTTP form) -> token -> aliases (signed
challenge) -> refresh (rotation) -> revocation; plus denial, expiry, slow_down and a server that
speaks another protocol version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import fakts
import httpx
import pytest
from fakts.grants.remote import RemoteGrant
from fakts.grants.remote.authorizers import DeviceCodeAuthorizer
from fakts.grants.remote.authorizers.device_code import DeviceCodeChallenge
from fakts.grants.remote.discovery.well_known import WellKnownDiscovery
from fakts.grants.remote.errors import DeviceCodeExpiredError, DiscoveryError, UserDeniedError
from servers import PASSWORD, Servers, TestServer, approve_device_code, free_port

MANIFEST = fakts.Manifest(
    identifier="protocol-test",
    version="1.0",
    scopes=["openid"],
    requirements=[
        fakts.Requirement(key="rekuest", service="live.arkitekt.rekuest"),
        fakts.Requirement(key="mikro", service="live.arkitekt.mikro"),
        fakts.Requirement(key="missing", service="live.arkitekt.nothing", optional=True),
    ],
)


def device_fakts(
    url: str, on_code: Callable[[DeviceCodeChallenge], Awaitable[None]]
) -> fakts.Fakts:
    return fakts.Fakts(
        grant=RemoteGrant(
            discovery=WellKnownDiscovery(url=url),
            authorizer=DeviceCodeAuthorizer(
                manifest=MANIFEST, open_browser=False, device_code_hook=on_code
            ),
        ),
        manifest=MANIFEST,
        cache=fakts.NoCache(),
        mesh=None,
    )


def approving(
    base_url: str, username: str, action: str = "approve"
) -> Callable[[DeviceCodeChallenge], Awaitable[None]]:
    async def on_code(challenge: DeviceCodeChallenge) -> None:
        # A person opening the link, logging in and pressing the button (the real HTML form).
        response = await asyncio.to_thread(
            approve_device_code, base_url, challenge.verification_uri_complete, username, action
        )
        assert response.status_code == 200, response.text

    return on_code


async def test_full_device_code_flow(standalone: TestServer) -> None:
    client = device_fakts(standalone.url, approving(standalone.url, "alice"))
    async with client:
        active = await asyncio.wait_for(client.aload(), 30)
        assert active.self.deployment_name == "arkitekt"
        assert active.auth.refresh_token and active.auth.client_id.startswith("ark_")
        assert active.statuses["rekuest"] == "granted"
        assert active.statuses["missing"] == "unavailable"
        assert active.instances["rekuest"].challenge_key is not None

        # Aliases: the challenge must be signed by the service's key (fakts verifies it).
        alias = await client.aget_alias("rekuest")
        assert alias.to_http_path("ht").startswith(standalone.url)
        token = await client.aget_token()
        userinfo = httpx.get(
            f"{standalone.url}/o/userinfo/", headers={"Authorization": f"Bearer {token}"}
        )
        assert userinfo.json()["preferred_username"] == "alice"
        assert userinfo.json()["app"] == "protocol-test"

        # Refresh rotates the refresh token and re-sends the envelope.
        first_refresh = client.loaded_fakts.auth.refresh_token
        renewed = await client.arefresh_token(stale_token=token)
        assert renewed != token
        assert client.loaded_fakts.auth.refresh_token != first_refresh

        # Logout revokes the family on the server: the refresh token no longer works.
        last = client.loaded_fakts.auth
        await client.alogout()
    answer = httpx.post(
        last.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": last.refresh_token,
            "client_id": last.client_id,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "revoked" in answer.json()["error_description"]


async def test_denied_approval(standalone: TestServer) -> None:
    client = device_fakts(standalone.url, approving(standalone.url, "bob", action="deny"))
    async with client:
        with pytest.raises(UserDeniedError):
            await asyncio.wait_for(client.aload(), 30)


async def test_expired_device_code(servers: Servers) -> None:
    server = servers.in_process(device_code_ttl=1)

    async def never_approve(challenge: DeviceCodeChallenge) -> None:
        assert challenge.expires_in == 1

    client = device_fakts(server.url, never_approve)
    async with client:
        with pytest.raises(DeviceCodeExpiredError):
            await asyncio.wait_for(client.aload(), 30)


def test_slow_down_when_polling_too_fast(standalone: TestServer) -> None:
    started = httpx.post(
        f"{standalone.url}/f/device/",
        json={"manifest": MANIFEST.model_dump(), "requested_client_kind": "development"},
    ).json()
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": started["device_code"],
        "client_id": started["client_id"],
    }
    first = httpx.post(f"{standalone.url}/f/token/", data=form)
    assert first.json()["error"] == "authorization_pending"
    second = httpx.post(f"{standalone.url}/f/token/", data=form)
    assert second.json()["error"] == "slow_down"
    assert "every 6 seconds" in second.json()["error_description"]


async def test_device_code_cannot_be_used_twice(standalone: TestServer) -> None:
    client = device_fakts(standalone.url, approving(standalone.url, "alice"))
    started: dict[str, Any] = {}
    async with client:
        await asyncio.wait_for(client.aload(), 30)
        started["client_id"] = client.loaded_fakts.auth.client_id
    answer = httpx.post(
        f"{standalone.url}/f/token/",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": "not-a-code",
            "client_id": started["client_id"],
        },
    )
    assert answer.json()["error"] == "invalid_grant"


def test_wrong_protocol_version_is_refused() -> None:
    """A server answering protocol v1: fakts refuses it, and easy() says so clearly."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from arkitekt import easy
    from arkitekt.errors import IncompatibleServerError

    async def well_known(request: Any) -> JSONResponse:
        return JSONResponse({"name": "old", "version": "0.9"})  # no protocol_version: v1

    old = Starlette(routes=[Route("/.well-known/fakts", well_known)])
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer

    server = EmbeddedServer(ServerConfig(), port=free_port(), asgi_app=old)
    server.start()
    try:

        async def discover() -> None:
            await WellKnownDiscovery(url=server.url).adiscover()

        with pytest.raises(DiscoveryError, match="protocol version 1"):
            asyncio.run(discover())
        with pytest.raises(IncompatibleServerError, match="protocol version 1"):
            with easy("old-server", url=server.url, username="x", password="y"):
                pass
    finally:
        server.stop()


async def test_refresh_token_reuse(servers: Servers) -> None:
    """Within the grace window a rotated token still works; after it, the family is revoked."""
    server = servers.in_process(users=("carol",), refresh_reuse_grace=0.5)
    token_endpoint = f"{server.url}/f/token/"
    first = httpx.post(
        token_endpoint,
        data={
            "grant_type": "password",
            "username": "carol",
            "password": PASSWORD,
            "manifest": MANIFEST.model_dump_json(),
        },
    ).json()
    client_id, original = first["client_id"], first["refresh_token"]

    def refresh(token: str) -> httpx.Response:
        return httpx.post(
            token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
        )

    rotated = refresh(original)
    assert rotated.status_code == 200
    sibling = refresh(original)  # a sibling process with the same cache, within the grace window
    assert sibling.status_code == 200
    await asyncio.sleep(0.7)
    stolen = refresh(original)
    assert stolen.status_code == 400
    assert "already used" in stolen.json()["error_description"]
    # The whole family is gone, including the legitimate successor.
    assert refresh(rotated.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_discovery_endpoints_match_the_origin(standalone: TestServer) -> None:
    """Endpoints are built from the Host the client used (fakts refuses other origins)."""
    port = standalone.url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost"):
        doc = httpx.get(f"http://{host}:{port}/.well-known/fakts").json()
        assert doc["protocol_version"] == "2"
        assert doc["token_endpoint"] == f"http://{host}:{port}/f/token/"
        assert doc["device_authorization_endpoint"].startswith(f"http://{host}:{port}/")


def test_jwks_and_openid_configuration(standalone: TestServer) -> None:
    config = httpx.get(f"{standalone.url}/.well-known/openid-configuration").json()
    keys = httpx.get(config["jwks_uri"]).json()["keys"]
    assert keys and keys[0]["kty"] == "OKP" and "d" not in keys[0]
