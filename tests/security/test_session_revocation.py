"""Issue 11, finding 6 (second half): revoking a session ends its access tokens and every token
exchanged from them, on GraphQL over HTTP and on the websockets; tokens of standing credentials
(mandate keys) have no session and keep working."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from servers import PASSWORD, TestServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
MANDATE_KEY = "urn:fakts:grant-type:mandate-key"


def _manifest(name: str) -> str:
    return json.dumps({"identifier": name, "version": "1.0"})


def _token(server: TestServer, **form: str) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/f/token/", data=form, timeout=30)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _exchange(server: TestServer, subject: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/f/token/",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "manifest": _manifest(name),
        },
        timeout=30,
    )


def _graphql(server: TestServer, token: str) -> int:
    answer = httpx.post(
        f"{server.url}/rekuest/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return answer.status_code


def _rekuest_ws(server: TestServer, token: str) -> str:
    """The type of the server's first answer to a hello on ``/rekuest/ws``."""
    url = server.url.replace("http", "ws") + "/rekuest/ws"
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps([{"type": "hello", "token": token, "session": uuid.uuid4().hex}]))
        try:
            frame = json.loads(ws.recv(timeout=10))
        except ConnectionClosed:
            return "closed"
    return str(frame[0]["type"])


def _graphql_ws(server: TestServer, token: str) -> str:
    """The type of the server's answer to connection_init on a GraphQL websocket."""
    url = server.url.replace("http", "ws") + "/rekuest/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        try:
            return str(json.loads(ws.recv(timeout=10))["type"])
        except ConnectionClosed:
            return "closed"


def test_revoking_a_session_ends_its_tokens_and_their_exchanged_descendants(
    standalone: TestServer,
) -> None:
    session = _token(
        standalone,
        grant_type="password",
        username="alice",
        password=PASSWORD,
        manifest=_manifest("revocation-test"),
    )
    first = session["access_token"]
    exchanged = _exchange(standalone, first, "exchanged-once").json()["access_token"]
    chained = _exchange(standalone, exchanged, "exchanged-twice").json()["access_token"]
    # A token of a standing credential, and one exchanged from it: no session to end.
    standing = _token(
        standalone,
        grant_type=MANDATE_KEY,
        key=standalone.key("alice"),
        manifest=_manifest("revocation-standing"),
    )["access_token"]
    standing_exchanged = _exchange(standalone, standing, "standing-exchanged").json()[
        "access_token"
    ]
    descendants = {"first": first, "exchanged": exchanged, "chained": chained}
    for token in [*descendants.values(), standing, standing_exchanged]:
        assert _graphql(standalone, token) == 200
        assert _rekuest_ws(standalone, token) == "welcome"
        assert _graphql_ws(standalone, token) == "connection_ack"

    revoked = httpx.post(
        f"{standalone.url}/f/revoke/",
        data={"token": session["refresh_token"], "client_id": session["client_id"]},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text

    for name, token in descendants.items():
        assert _graphql(standalone, token) == 401, f"{name} still works on GraphQL"
        assert _rekuest_ws(standalone, token) == "goodbye", f"{name} still opens /rekuest/ws"
        assert _graphql_ws(standalone, token) != "connection_ack", f"{name} opens GraphQL ws"
        refused = _exchange(standalone, token, f"after-revocation-{name}")
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert "session has ended" in refused.json()["error_description"]
    for token in (standing, standing_exchanged):
        assert _graphql(standalone, token) == 200
        assert _rekuest_ws(standalone, token) == "welcome"
