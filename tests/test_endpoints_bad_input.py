"""Malformed input to every endpoint: always a 4xx with a reason, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

TOKEN = "/f/token/"
FORM = "application/x-www-form-urlencoded"
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "device: not json",
        "POST",
        "/f/device/",
        {"content": b"{nope", "headers": {"content-type": "application/json"}},
    ),
    ("device: json list", "POST", "/f/device/", {"json": [1, 2]}),
    ("device: no manifest", "POST", "/f/device/", {"json": {}}),
    ("device: manifest list", "POST", "/f/device/", {"json": {"manifest": []}}),
    (
        "device: bad identifier",
        "POST",
        "/f/device/",
        {"json": {"manifest": {"identifier": 3, "version": "1"}}},
    ),
    (
        "device: scopes not strings",
        "POST",
        "/f/device/",
        {"json": {"manifest": {"identifier": "a", "version": "1", "scopes": [1]}}},
    ),
    (
        "device: unknown scope",
        "POST",
        "/f/device/",
        {"json": {"manifest": {"identifier": "a", "version": "1", "scopes": ["root"]}}},
    ),
    (
        "device: bad expiry",
        "POST",
        "/f/device/",
        {
            "json": {
                "manifest": {"identifier": "a", "version": "1"},
                "expiration_time_seconds": "soon",
            }
        },
    ),
    (
        "device: bad kind",
        "POST",
        "/f/device/",
        {
            "json": {
                "manifest": {"identifier": "a", "version": "1"},
                "requested_client_kind": "robot",
            }
        },
    ),
    (
        "device: not utf8",
        "POST",
        "/f/device/",
        {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
    ),
    (
        "device: huge",
        "POST",
        "/f/device/",
        {"content": b"x" * 300_000, "headers": {"content-type": "application/json"}},
    ),
    ("token: json body", "POST", TOKEN, {"json": {"grant_type": "password"}}),
    ("token: no grant", "POST", TOKEN, {"data": {}}),
    ("token: unknown grant", "POST", TOKEN, {"data": {"grant_type": "magic"}}),
    (
        "token: device no code",
        "POST",
        TOKEN,
        {"data": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}},
    ),
    (
        "token: refresh no token",
        "POST",
        TOKEN,
        {"data": {"grant_type": "refresh_token", "client_id": "x"}},
    ),
    (
        "token: refresh unknown",
        "POST",
        TOKEN,
        {"data": {"grant_type": "refresh_token", "client_id": "x", "refresh_token": "y"}},
    ),
    (
        "token: password no manifest",
        "POST",
        TOKEN,
        {"data": {"grant_type": "password", "username": "a", "password": "b"}},
    ),
    (
        "token: password bad manifest",
        "POST",
        TOKEN,
        {"data": {"grant_type": "password", "username": "a", "password": "b", "manifest": "{"}},
    ),
    (
        "token: mandate no key",
        "POST",
        TOKEN,
        {"data": {"grant_type": "urn:fakts:grant-type:mandate-key"}},
    ),
    (
        "token: mandate manifest list",
        "POST",
        TOKEN,
        {"data": {"grant_type": "urn:fakts:grant-type:mandate-key", "key": "k", "manifest": "[]"}},
    ),
    (
        "token: jwt garbage",
        "POST",
        TOKEN,
        {
            "data": {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": "a.b.c",
                "manifest": '{"identifier": "a", "version": "1"}',
            }
        },
    ),
    (
        "token: exchange garbage",
        "POST",
        TOKEN,
        {
            "data": {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": "x",
                "manifest": '{"identifier": "a", "version": "1"}',
            }
        },
    ),
    (
        "token: exchange bad type",
        "POST",
        TOKEN,
        {
            "data": {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": "x",
                "subject_token_type": "saml",
                "manifest": '{"identifier": "a", "version": "1"}',
            }
        },
    ),
    ("revoke: no token", "POST", "/f/revoke/", {"data": {"client_id": "x"}}),
    (
        "revoke: bad hint",
        "POST",
        "/f/revoke/",
        {"data": {"client_id": "x", "token": "t", "token_type_hint": "x"}},
    ),
    ("report: no bearer", "POST", "/f/report/", {"json": {}}),
    (
        "report: garbage bearer",
        "POST",
        "/f/report/",
        {"json": {}, "headers": {"authorization": "Bearer abc"}},
    ),
    ("userinfo: no bearer", "GET", "/o/userinfo/", {}),
    (
        "userinfo: garbage bearer",
        "GET",
        "/o/userinfo/",
        {"headers": {"authorization": "Bearer a.b.c"}},
    ),
    ("userinfo: basic auth", "GET", "/o/userinfo/", {"headers": {"authorization": "Basic YTpi"}}),
    ("challenge: huge nonce", "GET", "/rekuest/ht?nonce=" + "n" * 300, {}),
    ("login: json", "POST", "/login", {"json": {"username": "a"}}),
    ("login: no csrf", "POST", "/login", {"data": {"username": "a", "password": "b"}}),
    ("device page: post logged out", "POST", "/device", {"data": {"action": "approve"}}),
    ("well-known: post", "POST", "/.well-known/fakts", {}),
    ("token: get", "GET", TOKEN, {}),
]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer

    server = EmbeddedServer(ServerConfig(data_dir=tmp_path_factory.mktemp("bad-input")))
    server.start()
    yield server.url
    server.stop()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_4xx_with_a_reason(
    server_url: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = httpx.request(
        method, server_url + path, timeout=10, follow_redirects=False, **kwargs
    )
    assert 300 <= response.status_code < 500, response.text
    if path.startswith("/f/") and response.status_code >= 400 and method == "POST":
        body = response.json()
        assert body["error"] and body["error_description"]


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        ("password", "username"),
        ("urn:fakts:grant-type:mandate-key", "key"),
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion"),
    ],
)
def test_missing_field_is_named(server_url: str, grant: str, field: str) -> None:
    response = httpx.post(server_url + TOKEN, data={"grant_type": grant})
    assert response.status_code == 400
    assert f"'{field}'" in response.json()["error_description"]
