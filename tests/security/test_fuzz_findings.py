"""Issue 11: what the fuzzers found, each checked on its own (each was a 500 or a traceback).

- a GraphQL body that is JSON but not an object (``null``, ``[1]``) reached Strawberry, which
  read it with ``.get``;
- a time without a time zone in an image filter reached the database layer;
- a ``/rekuest/ws`` close reason longer than 123 UTF-8 bytes (a refusal quoting a non-ASCII
  value) made the websocket library raise instead of closing;
- a non-ASCII CSRF field on the login form reached ``hmac.compare_digest`` as ``str``.
"""

from __future__ import annotations

import re

import httpx
import pytest
from raw_protocol import new_id, token_for
from servers import TestServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arkitekt.protocol.messages import CLOSE_PROTOCOL, Hello, encode
from arkitekt.server.frames import MAX_CLOSE_REASON_BYTES, close_reason


@pytest.mark.parametrize("body", ["null", "[1]", "42", '"query"'])
def test_a_json_body_that_is_not_an_object_is_refused(standalone: TestServer, body: str) -> None:
    answer = httpx.post(
        f"{standalone.url}/rekuest/graphql",
        content=body,
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {token_for(standalone.url, 'alice')}",
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"errors": [{"message": "the request body must be a JSON object"}]}


def test_a_filter_time_without_a_zone_names_the_argument(standalone: TestServer) -> None:
    query = "query ($t: DateTime) { images(filter: {createdAfter: $t}) { id } }"
    token = token_for(standalone.url, "alice")
    answer = httpx.post(
        f"{standalone.url}/mikro/graphql",
        json={"query": query, "variables": {"t": "2026-01-31T12:00:00"}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    error = answer.json()["errors"][0]
    assert "filter.createdAfter must carry a time zone" in error["message"]
    assert error["extensions"]["code"] == "BAD_INPUT"
    zoned = {"t": "2999-01-31T12:00:00+01:00"}  # with a zone: answered (nothing is that new)
    answer = httpx.post(
        f"{standalone.url}/mikro/graphql",
        json={"query": query, "variables": zoned},
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.json() == {"data": {"images": []}}


def test_close_reasons_fit_a_close_frame() -> None:
    assert close_reason("short") == "short"
    cut = close_reason("é" * 200)
    assert len(cut.encode()) <= MAX_CLOSE_REASON_BYTES and cut.endswith("...")
    assert close_reason("🦠" * 40).encode().decode() == close_reason("🦠" * 40)  # whole characters


def test_a_refusal_quoting_non_ascii_closes_with_a_short_reason(standalone: TestServer) -> None:
    token = token_for(standalone.url, "alice")
    with connect(standalone.url.replace("http", "ws") + "/rekuest/ws", open_timeout=10) as ws:
        ws.send(encode([Hello(token=token, session=new_id())]))
        ws.recv(timeout=10)  # welcome
        ws.send('[{"type": "' + "é" * 300 + '"}]')
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    assert ws.close_code == CLOSE_PROTOCOL
    assert 0 < len((ws.close_reason or "").encode()) <= MAX_CLOSE_REASON_BYTES


def test_a_non_ascii_csrf_field_is_a_refused_form(standalone: TestServer) -> None:
    with httpx.Client(base_url=standalone.url) as client:
        page = client.get("/login")
        assert re.search(r'name="csrf" value="([^"]+)"', page.text), page.text
        answer = client.post(
            "/login", data={"username": "alice", "password": "x", "csrf": "é\x80", "next": "/"}
        )
    assert answer.status_code == 400, answer.text
