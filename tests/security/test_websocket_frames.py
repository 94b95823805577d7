"""Issue 11, finding 9 (protocol items): websockets refuse frames that are not JSON text
(binary frames, NaN/Infinity) with a close code instead of a traceback, and a GraphQL socket is
closed when the token it authenticated with expires, with the code that tells the client to
connect again with a fresh token."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from servers import TestServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from arkitekt.protocol.messages import CLOSE_PROTOCOL, PROTOCOL_VERSION

CLOSE_BAD_MESSAGE = 4400  # graphql-transport-ws: "bad request"
CLOSE_TOKEN_EXPIRED = 4401  # graphql-transport-ws: "unauthorized", connect with a fresh token

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
TTL = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    folder = tmp_path_factory.mktemp("frames")
    with TestServer.in_process(folder, users=("alice",), access_token_ttl=TTL) as server:
        yield server


def _token(server: TestServer) -> str:
    with server.app("alice", "frames") as app:
        return str(app.fakts.client.loaded_token)


def _ws(server: TestServer, path: str, protocol: str | None = None) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + path
    return connect(url, subprotocols=[protocol] if protocol else None, open_timeout=10)  # type: ignore[list-item]


def _init(ws: ClientConnection, token: str) -> None:
    ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    answer = json.loads(ws.recv(timeout=10))
    assert answer["type"] == "connection_ack", answer


def _close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes; the close code (None: the server sent no close frame)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd is not None else None
    except TimeoutError:
        pytest.fail(f"the server kept the socket open for {timeout} s")
    pytest.fail(f"the server kept the socket open for {timeout} s")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01binary",
        '{"type": "ping", "payload": {"x": NaN}}',
        '{"type": "pong", "x": -Infinity}',
    ],
    ids=["binary", "nan", "infinity"],
)
def test_graphql_sockets_close_on_frames_that_are_not_json(
    server: TestServer, protocol: str, frame: str | bytes
) -> None:
    token = _token(server)
    with _ws(server, "/rekuest/graphql", protocol) as ws:
        _init(ws, token)
        ws.send(frame)
        assert _close_code(ws) == CLOSE_BAD_MESSAGE
    assert server.call(_healthy)  # and the server goes on


async def _healthy() -> bool:
    return True


@pytest.mark.parametrize("frame", [b"\x00binary", "nan"], ids=["binary", "nan"])
def test_the_rpc_socket_closes_on_frames_that_are_not_json(
    server: TestServer, frame: str | bytes
) -> None:
    token = _token(server)
    with _ws(server, "/rekuest/ws") as ws:
        hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "token": token,
            "session": uuid.uuid4().hex,
        }
        ws.send(json.dumps([hello]))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome[0]["type"] == "welcome", welcome
        if frame == "nan":  # a call whose arguments only Python's json reads
            frame = (
                f'[{{"type": "assign", "id": "{uuid.uuid4().hex}", '
                f'"node": "{uuid.uuid4().hex}", "args": {{"x": NaN}}}}]'
            )
        ws.send(frame)
        assert _close_code(ws) == CLOSE_PROTOCOL


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_graphql_socket_closes_when_its_token_expires(server: TestServer, protocol: str) -> None:
    token = _token(server)
    started = time.monotonic()
    with _ws(server, "/rekuest/graphql", protocol) as ws:
        _init(ws, token)
        if protocol == "graphql-transport-ws":  # in use until the end (queries allowed here)
            query = "query { me { username } }"
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            first = json.loads(ws.recv(timeout=10))
            assert first["payload"]["data"]["me"]["username"] == "alice", first
        assert _close_code(ws, timeout=TTL + 10) == CLOSE_TOKEN_EXPIRED
    assert time.monotonic() - started < TTL + 5
