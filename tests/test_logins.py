"""Every way to log in through the SDK, against a real server; and every way it must fail."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from servers import PASSWORD, Servers, TestServer, approve_device_code

from arkitekt import LoginError, NotAuthenticatedError, easy
from arkitekt.services.logins import DeviceCodeLogin


def test_password_login_direct_mode(standalone: TestServer) -> None:
    with easy("direct-app", url=standalone.url, username="alice", password=PASSWORD) as app:
        assert app.auth.user is not None and app.auth.user.username == "alice"
        assert app.is_authenticated()
        response = app.http_get("/o/userinfo/")
        assert response.status_code == 200 and response.json()["app"] == "direct-app"
        cache = app.fakts.cache_file
    assert cache is not None and cache.exists()
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700
    assert PASSWORD not in cache.read_text()

    # The next run uses the cached session: no password needed.
    with easy("direct-app", url=standalone.url, username="alice") as app:
        assert app.auth.user is not None and app.auth.user.username == "alice"


def test_wrong_password_is_refused(standalone: TestServer) -> None:
    with pytest.raises(LoginError, match="wrong username or password"):
        with easy("direct-app", url=standalone.url, username="alice", password="nope"):
            pass


def test_missing_password_without_terminal(standalone: TestServer) -> None:
    with pytest.raises(LoginError, match="password is needed"):
        with easy("direct-app", url=standalone.url, username="bob"):
            pass


def test_login_and_logout_methods(standalone: TestServer) -> None:
    app = easy("keystone-style", url=standalone.url, login_on_enter=False)
    with app:
        assert not app.is_authenticated()
        app.login(username="bob", password=PASSWORD)
        assert app.is_authenticated() and app.auth.user.username == "bob"
        refresh = app.fakts.client.loaded_fakts.auth
        app.logout()
        assert not app.is_authenticated()
        with pytest.raises(NotAuthenticatedError, match=r"app\.login"):
            app.http_get("/o/userinfo/")
        assert app.fakts.cache_file is not None and not app.fakts.cache_file.exists()
    # Revoked on the server, not only forgotten here.
    answer = httpx.post(
        refresh.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh.refresh_token,
            "client_id": refresh.client_id,
        },
    )
    assert answer.json()["error"] == "invalid_grant"


async def test_async_twins(standalone: TestServer) -> None:
    async with easy("async-app", url=standalone.url, username="alice", password=PASSWORD) as app:
        response = await app.ahttp_get("/health")
        assert response.json()["status"] == "ok"
        assert await app.ais_authenticated()
        await app.alogout()
        assert not await app.ais_authenticated()
        await app.alogin(username="alice", password=PASSWORD)
        assert app.auth.user.username == "alice"


def test_device_code_login_headless(
    standalone: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The remote mode: the SDK shows a link, a person approves it on the server's page."""

    async def show(challenge: Any) -> None:
        await asyncio.to_thread(
            approve_device_code, standalone.url, challenge.verification_uri_complete, "alice"
        )

    app = easy("remote-app", url=standalone.url, headless=True)
    app.fakts.login = DeviceCodeLogin(headless=True, hook=show)
    with app:
        assert app.auth.user.username == "alice"


def test_token_login(standalone: TestServer) -> None:
    with easy("issuer", url=standalone.url, username="alice", password=PASSWORD) as app:
        token = app.fakts.client.loaded_token
    with easy("token-app", url=standalone.url, token=token, no_cache=True) as app:
        assert app.auth.user.username == "alice"
        assert app.auth.user.app == "token-app"


def test_forged_token_is_refused(standalone: TestServer) -> None:
    from joserfc import jwt
    from joserfc.jwk import OKPKey

    foreign = OKPKey.generate_key("Ed25519")
    forged = jwt.encode(
        {"alg": "Ed25519", "typ": "at+jwt"},
        {"sub": "x", "aud": "arkitekt", "exp": int(time.time()) + 600, "client_id": "ark_x"},
        foreign,
        algorithms=["Ed25519"],
    )
    answer = httpx.get(
        f"{standalone.url}/o/userinfo/", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    with pytest.raises(LoginError, match="not valid"):
        with easy("forger", url=standalone.url, token=forged, no_cache=True):
            pass


async def test_expired_access_token_is_renewed(servers: Servers) -> None:
    server = servers.in_process(users=("dave",), access_token_ttl=2)
    async with easy("short-lived", url=server.url, username="dave", password=PASSWORD) as app:
        first = await app.auth.aget_token()
        await asyncio.sleep(2.2)
        # Expired: refused by the server...
        answer = httpx.get(
            f"{server.url}/o/userinfo/", headers={"Authorization": f"Bearer {first}"}
        )
        assert answer.status_code == 401
        # ...but the app renews on its own.
        response = await app.ahttp_get("/o/userinfo/")
        assert response.status_code == 200
        assert await app.auth.aget_token() != first


async def test_expired_exchanged_token_is_refused(servers: Servers) -> None:
    server = servers.in_process(users=("erin",), access_token_ttl=1)
    async with easy("issuer", url=server.url, username="erin", password=PASSWORD) as app:
        token = await app.auth.aget_token()
    await asyncio.sleep(1.5)
    with pytest.raises(LoginError, match="expired"):
        async with easy("late", url=server.url, token=token, no_cache=True):
            pass


def test_mandate_key_login(standalone: TestServer) -> None:
    key = standalone.cli("user", "mandate", "alice", "--app", "agent-app").stdout.strip()
    assert key.startswith("arkm_")
    with easy("agent-app", url=standalone.url, mandate_key=key, no_cache=True) as app:
        assert app.auth.user.username == "alice"
    with pytest.raises(LoginError, match="only covers the app"):
        with easy("other-app", url=standalone.url, mandate_key=key, no_cache=True):
            pass
    with pytest.raises(LoginError, match="not valid"):
        with easy("agent-app", url=standalone.url, mandate_key="arkm_wrong", no_cache=True):
            pass


@pytest.mark.parametrize("kind", ["ed25519", "ec"])
def test_key_login(standalone: TestServer, tmp_path: Path, kind: str) -> None:
    private = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file = tmp_path / "key.pub"
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    standalone.cli("user", "key", "bob", str(public_file))

    with easy(
        "keyed", url=standalone.url, username="bob", private_key=key_file, no_cache=True
    ) as app:
        assert app.auth.user.username == "bob"
    # The key is bob's: it cannot log in as alice.
    with pytest.raises(LoginError, match="refused"):
        with easy(
            "keyed", url=standalone.url, username="alice", private_key=key_file, no_cache=True
        ):
            pass


def test_unregistered_key_and_replayed_assertion(standalone: TestServer) -> None:
    from arkitekt.services.logins import sign_assertion

    stranger = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(LoginError, match="not registered"):
        with easy("keyed", url=standalone.url, username="bob", private_key=stranger, no_cache=True):
            pass

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_file = standalone.data_dir / "replay.pub"
    public_file.write_bytes(pem)
    standalone.cli("user", "key", "alice", str(public_file))
    endpoint = f"{standalone.url}/f/token/"
    assertion = sign_assertion(private, "alice", endpoint)
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion,
        "manifest": '{"identifier": "replay", "version": "1"}',
    }
    assert httpx.post(endpoint, data=form).status_code == 200
    replay = httpx.post(endpoint, data=form)
    assert replay.status_code == 400 and "replay" in replay.json()["error_description"]


def test_server_unavailable_is_clear() -> None:
    from servers import free_port

    from arkitekt import ServerUnavailableError

    with pytest.raises(ServerUnavailableError, match="could not reach"):
        with easy("nowhere", url=f"http://127.0.0.1:{free_port()}", username="a", password="b"):
            pass
