"""Issue 11, fault tests: slow and hostile clients cannot hold the server's memory or handlers.

- a request body sent at a trickle (slowloris on the body) is cut off with 408 once it falls
  behind ``http_body_timeout`` + size / ``http_body_min_rate``; an honest slow upload is not;
- a websocket message over ``ws_max_message_bytes`` closes the socket with 1009 without the
  server buffering it;
- a ``/rekuest/ws`` client that asks for much and never reads is given up on (its queue
  dropped, a close with 4009 sent) once ``ws_max_queued_bytes`` is queued for it, and the
  server's memory stays bounded;
- a client that disconnects mid-body leaves no error in the server's log.

Meanwhile another user is served as usual. The server is a real ``arkitekt server`` process
(its memory is measured from ``/proc``); the hostile clients speak HTTP and RFC 6455 over raw
sockets, so they can do what well-behaved client libraries never would.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from raw_protocol import new_id, token_for
from servers import TestServer, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

BODY_TIMEOUT = 2.0
MIN_RATE = 4096
QUEUE_LIMIT = 2 << 20
MESSAGE_LIMIT = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    folder = tmp_path_factory.mktemp("hostile")
    with TestServer.standalone(
        folder / "data",
        users=("alice", "bob"),
        log=folder / "server.log",
        http_body_timeout=BODY_TIMEOUT,
        http_body_min_rate=MIN_RATE,
        ws_max_queued_bytes=QUEUE_LIMIT,
        ws_max_message_bytes=MESSAGE_LIMIT,
    ) as running:
        yield running


def _rss_mib(server: TestServer) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _log(server: TestServer) -> str:
    assert server.log is not None
    return server.log.read_text(errors="replace")


def _bob_is_served(server: TestServer, token: str) -> float:
    """Seconds bob's GraphQL ``me`` takes (it must succeed)."""
    started = time.monotonic()
    answer = httpx.post(
        f"{server.url}/rekuest/graphql",
        json={"query": "{ me { username } }"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.json() == {"data": {"me": {"username": "bob"}}}, answer.text
    return time.monotonic() - started


def _http_head(server: TestServer, path: str, length: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return received
        if not chunk:
            return received
        received += chunk


# -- slow bodies -----------------------------------------------------------------------------------


def test_a_trickling_body_is_cut_off_and_others_are_served(server: TestServer) -> None:
    token, bob = token_for(server.url, "alice"), token_for(server.url, "bob")
    body = json.dumps({"query": "{ me { username } }", "pad": "x" * 4000}).encode()
    trickles = [_http_head(server, "/rekuest/graphql", len(body), token) for _ in range(20)]
    started = time.monotonic()
    sent = 0
    cut_off: set[int] = set()
    while len(cut_off) < len(trickles) and time.monotonic() - started < 30:
        for i, sock in enumerate(trickles):  # one byte per connection every 100 ms: 10 B/s
            if i in cut_off:
                continue
            try:
                sock.sendall(body[sent : sent + 1])
            except OSError:
                cut_off.add(i)
        sent += 1
        time.sleep(0.1)
        assert _bob_is_served(server, bob) < 2.0
    waited = time.monotonic() - started
    answers = [_answer(sock) for sock in trickles]
    for sock in trickles:
        sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0][:200]
    assert b"came too slowly" in answers[0]
    assert BODY_TIMEOUT - 0.5 < waited < BODY_TIMEOUT + 10, waited


def test_an_honest_slow_upload_is_not_cut_off(server: TestServer) -> None:
    token = token_for(server.url, "alice")
    body = json.dumps({"query": "{ me { username } }", "pad": "y" * 30_000}).encode()
    sock = _http_head(server, "/rekuest/graphql", len(body), token)
    started = time.monotonic()
    for i in range(0, len(body), 1000):  # 10 kB/s: above MIN_RATE, for longer than the timeout
        sock.sendall(body[i : i + 1000])
        time.sleep(0.1)
    assert time.monotonic() - started > BODY_TIMEOUT
    sock.settimeout(10)
    head = sock.recv(65536)
    sock.close()
    assert head.startswith(b"HTTP/1.1 200"), head[:300]


def test_a_client_gone_mid_body_leaves_no_error(server: TestServer) -> None:
    token = token_for(server.url, "alice")
    for path in ("/rekuest/graphql", "/f/token/"):
        sock = _http_head(server, path, 10_000, token)
        sock.sendall(b'{"query": "{ me')
        time.sleep(0.2)
        sock.close()
    time.sleep(0.5)
    assert "Traceback" not in _log(server), _log(server)[-3000:]


# -- websockets ---------------------------------------------------------------------------------


class RawSocket:
    """A websocket client over a raw TCP socket (RFC 6455 by hand): it reads only when told."""

    def __init__(self, server: TestServer, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def close_code(self, timeout: float) -> int | None:
        """Read every frame until the server's close; its code (None: reset, no close frame)."""
        self.sock.settimeout(timeout)
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            buffer += chunk
            while len(buffer) >= 2:
                opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
                start = 2
                if length == 126:
                    (length,) = struct.unpack("!H", buffer[2:4])
                    start = 4
                elif length == 127:
                    (length,) = struct.unpack("!Q", buffer[2:10])
                    start = 10
                if len(buffer) < start + length:
                    break
                if opcode == 0x8:
                    (code,) = struct.unpack("!H", buffer[start : start + 2])
                    return int(code)
                buffer = buffer[start + length :]


def test_a_client_that_never_reads_is_closed_and_memory_stays_bounded(
    server: TestServer,
) -> None:
    token, bob = token_for(server.url, "alice"), token_for(server.url, "bob")
    raw = RawSocket(server, "/rekuest/ws")
    raw.send_text(json.dumps([{"type": "hello", "token": token, "session": new_id()}]))
    templates = [  # 40 different functions (a node is its definition: same one, one node)
        {
            "interface": f"padded_{i}",
            "definition": {
                "name": f"Padded{i}",
                "description": "d" * 3000,
                "kind": "function",
                "args": [{"key": "x", "kind": "int", "nullable": False}],
                "returns": [],
            },
        }
        for i in range(40)
    ]
    raw.send_text(json.dumps([{"type": "register", "rid": 1, "templates": templates}]))
    finds = json.dumps([{"type": "find", "rid": i, "limit": 500} for i in range(20)])
    before = _rss_mib(server)
    started = time.monotonic()
    flooded = 0
    raw.sock.settimeout(2)  # once the server stops reading us, sending blocks: stop then
    try:  # each frame asks for ~20 x 40 x 3 kB = 2.4 MB of answers; the client reads none
        while time.monotonic() - started < 8:
            raw.send_text(finds)
            flooded += 1
    except OSError:
        pass
    wait_for(lambda: "closing a link whose client does not read" in _log(server), timeout=20)
    grew = _rss_mib(server) - before
    assert grew < 100, f"the server grew {grew:.0f} MiB for a client that reads nothing"
    assert flooded > 5
    assert _bob_is_served(server, bob) < 2.0
    # The server dropped what it had queued and ended the connection's handler; the close
    # frame waits behind the bytes the client never read (uvicorn's keepalive ping drops the
    # connection in the end). A client that does read again gets the close.
    raw.sock.close()


@pytest.mark.parametrize("path", ["/rekuest/ws", "/rekuest/graphql"])
def test_a_huge_message_closes_the_socket_unread(server: TestServer, path: str) -> None:
    before = _rss_mib(server)
    protocols = ["graphql-transport-ws"] if path.endswith("graphql") else None
    url = server.url.replace("http", "ws") + path
    with connect(url, subprotocols=protocols, open_timeout=10, max_size=None) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            ws.send("[" + " " * (64 << 20) + "]")  # 64 MiB, the limit is 1 MiB
            ws.recv(timeout=20)
    assert ws.close_code == 1009, (ws.close_code, ws.close_reason)
    assert _rss_mib(server) - before < 60
    wait_for(lambda: _bob_is_served(server, token_for(server.url, "bob")) < 2.0, timeout=10)
