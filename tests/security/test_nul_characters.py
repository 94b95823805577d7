"""Text holding a NUL character is refused where it enters, naming the field (issue 12).

PostgreSQL's text cannot hold U+0000: before, a login form with one in the username (found by
the OAuth fuzzer on PostgreSQL) was a 500 from deep in the database. Every entrance is tried
here on the suite's engine (SQLite, and PostgreSQL in CI's second run); JSON values (call
arguments and results) keep their NULs, as JSON stores them escaped.
"""

from __future__ import annotations

import json

import httpx
import pytest
from raw_protocol import new_id, token_for
from servers import TestServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arkitekt.protocol.messages import CLOSE_PROTOCOL, Hello, encode
from arkitekt.server.pages import LOGIN_CSRF_COOKIE


def _graphql(server: TestServer, query: str, variables: dict[str, object]) -> dict[str, object]:
    answer = httpx.post(
        f"{server.url}/rekuest/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token_for(server.url, 'alice')}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_the_token_endpoint_refuses_a_nul_in_the_username(standalone: TestServer) -> None:
    answer = httpx.post(
        f"{standalone.url}/f/token/",
        data={"grant_type": "password", "username": "ali\x00ce", "password": "x"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert "'username' contains a NUL character" in answer.json()["error_description"]


def test_the_login_page_refuses_a_nul_in_the_username(standalone: TestServer) -> None:
    answer = httpx.post(
        f"{standalone.url}/login",
        data={"username": "\x00", "password": "x", "csrf": "c" * 32},
        cookies={LOGIN_CSRF_COOKIE: "c" * 32},
    )
    assert answer.status_code == 400, answer.text
    assert "Traceback" not in answer.text


def test_a_manifest_with_an_escaped_nul_is_refused(standalone: TestServer) -> None:
    answer = httpx.post(
        f"{standalone.url}/f/device/",
        json={"manifest": {"identifier": "app\u0000", "version": "1", "scopes": []}},
    )
    assert answer.status_code == 400, answer.text
    assert "NUL" in answer.json()["error_description"]


@pytest.mark.parametrize("path", ["/dashboard/images/ab%00cd", "/login?next=%2F%00"])
def test_urls_with_a_nul_are_refused(standalone: TestServer, path: str) -> None:
    answer = httpx.get(f"{standalone.url}{path}")
    assert answer.status_code == 400
    assert answer.text == "The URL contains a NUL character."


def test_graphql_refuses_a_nul_in_a_variable_naming_it(standalone: TestServer) -> None:
    body = _graphql(
        standalone,
        "query ($s: String) { nodes(filter: {search: $s}) { id } }",
        {"s": "micro\x00scope"},
    )
    error = body["errors"][0]  # type: ignore[index]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert "$s contains a NUL character" in error["message"]


def test_graphql_refuses_a_nul_in_a_string_literal(standalone: TestServer) -> None:
    body = _graphql(standalone, 'query { nodes(filter: {search: "a\\u0000b"}) { id } }', {})
    error = body["errors"][0]  # type: ignore[index]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert "a string in the document contains a NUL character" in error["message"]


def test_the_websocket_refuses_a_nul_in_a_search_naming_the_field(standalone: TestServer) -> None:
    token = token_for(standalone.url, "alice")
    with connect(standalone.url.replace("http", "ws") + "/rekuest/ws", open_timeout=10) as ws:
        ws.send(encode([Hello(token=token, session=new_id())]))
        ws.recv(timeout=10)  # welcome
        ws.send(json.dumps([{"type": "find", "rid": 1, "search": "a\x00"}]))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    assert ws.close_code == CLOSE_PROTOCOL
    assert "search" in (ws.close_reason or "") and "NUL" in (ws.close_reason or "")
