"""Issue 11, finding 9 (the auth items): access tokens' ``iss`` is checked, and with a configured
``public_url`` the Host header no longer decides the issuer, the fakts endpoints, login links or
datalayer grant URLs (requests naming another host are refused)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import PASSWORD, TestServer, free_port


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def _password_token(server: TestServer, host: str | None = None) -> str:
    answer = httpx.post(
        f"{server.url}/f/token/",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": "public-url-test", "version": "1.0"}),
        },
        headers={"Host": host} if host else {},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _graphql(server: TestServer, token: str, query: str, host: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if host:
        headers["Host"] = host
    return httpx.post(
        f"{server.url}/mikro/graphql", json={"query": query}, headers=headers, timeout=30
    )


def test_a_token_issued_for_another_address_is_refused(standalone: TestServer) -> None:
    port = standalone.port
    forged_host = _password_token(standalone, host=f"evil.example:{port}")
    assert _claims(forged_host)["iss"] == f"http://evil.example:{port}"
    refused = _graphql(standalone, forged_host, "{ __typename }")
    assert refused.status_code == 401, refused.text
    assert "issued for another address" in refused.text

    # The loopback names are one address: a token from 127.0.0.1 works through localhost.
    token = _password_token(standalone)
    assert _claims(token)["iss"] == standalone.url
    assert _graphql(standalone, token, "{ __typename }").status_code == 200
    assert _graphql(standalone, token, "{ __typename }", f"localhost:{port}").status_code == 200


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """A server whose public URL is http://localhost:PORT, reached at http://127.0.0.1:PORT."""
    port = free_port()
    server = TestServer.standalone(
        tmp_path_factory.mktemp("public"), users=("alice",), public_url=f"http://localhost:{port}"
    )
    server.port = port
    with server:
        yield server


def test_the_public_url_replaces_the_host_header(public: TestServer) -> None:
    base = f"http://localhost:{public.port}"
    for host in (f"127.0.0.1:{public.port}", f"localhost:{public.port}"):
        fakts = httpx.get(f"{public.url}/.well-known/fakts", headers={"Host": host}, timeout=30)
        urls = [v for k, v in fakts.json().items() if k.endswith(("_endpoint", "_uri"))]
        assert urls and all(url.startswith(f"{base}/") for url in urls), fakts.json()
        assert fakts.json()["issuer"] == base
    openid = httpx.get(f"{public.url}/.well-known/openid-configuration", timeout=30).json()
    assert openid["issuer"] == base
    device = httpx.post(
        f"{public.url}/f/device/",
        json={"manifest": {"identifier": "public-url-test", "version": "1.0"}},
        timeout=30,
    ).json()
    assert device["verification_uri_complete"].startswith(f"{base}/device?code=")

    token = _password_token(public)
    assert _claims(token)["iss"] == base
    upload = _graphql(
        public,
        token,
        'mutation { requestFileUpload(input: {name: "a.txt", sizeBytes: 3}) { grant { url } } }',
    )
    assert upload.status_code == 200, upload.text
    url = upload.json()["data"]["requestFileUpload"]["grant"]["url"]
    assert url.startswith(f"{base}/datalayer/o/"), url


def test_hosts_other_than_the_public_one_are_refused(public: TestServer) -> None:
    for path in ("/.well-known/fakts", "/login", "/health"):
        answer = httpx.get(f"{public.url}{path}", headers={"Host": "evil.example"}, timeout=30)
        assert answer.status_code == 400, path
    token = _password_token(public)
    refused = _graphql(public, token, "{ __typename }", host=f"evil.example:{public.port}")
    assert refused.status_code == 400


def test_the_sdk_logs_in_at_the_public_url(public: TestServer) -> None:
    from arkitekt import easy

    base = f"http://localhost:{public.port}"
    with easy(
        "public-url-sdk", url=base, username="alice", password=PASSWORD, no_cache=True
    ) as app:
        assert app.auth.user.username == "alice"
        assert _claims(str(app.fakts.client.loaded_token))["iss"] == base


def test_public_url_and_allowed_hosts_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import ValidationError

    from arkitekt.server.config import ServerConfig

    assert ServerConfig(data_dir=tmp_path).trusted_hosts() == ["*"]
    config = ServerConfig(data_dir=tmp_path, public_url="https://arkitekt.example.org/")
    assert config.public_url == "https://arkitekt.example.org"
    assert config.trusted_hosts()[:3] == ["arkitekt.example.org", "127.0.0.1", "localhost"]
    monkeypatch.setenv("ARKITEKT_ALLOWED_HOSTS", "a.example.org, *.lab.example.org")
    assert ServerConfig(data_dir=tmp_path).trusted_hosts() == ["a.example.org", "*.lab.example.org"]
    with pytest.raises(ValidationError, match="origin only"):
        ServerConfig(data_dir=tmp_path, public_url="https://example.org/arkitekt")
