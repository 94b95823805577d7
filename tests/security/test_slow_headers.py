"""Issue 11, finding 9: a connection that never completes its request headers (slowloris) is
dropped within ``http_header_timeout``, by ``arkitekt server`` and by the embedded server
alike, and the server keeps answering everyone else meanwhile."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from servers import TestServer

HEADER_TIMEOUT = 1.0
CONNECTIONS = 100


def _stalled(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # half a header, then nothing
    return sock


def _dropped(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` before ``deadline`` (what it still sends is read)."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


@pytest.mark.parametrize("mode", ["standalone", "in_process"])
def test_stalled_headers_are_dropped(tmp_path: Path, mode: str) -> None:
    make = TestServer.standalone if mode == "standalone" else TestServer.in_process
    with make(tmp_path / "server", http_header_timeout=HEADER_TIMEOUT) as server:
        opened = time.monotonic()
        sockets = [_stalled(server.url) for _ in range(CONNECTIONS)]
        try:
            # meanwhile the server answers others
            assert httpx.get(server.url + "/health", timeout=10).status_code == 200
            deadline = opened + HEADER_TIMEOUT + 5
            held = [s for s in sockets if not _dropped(s, deadline)]
            assert not held, f"{len(held)} of {CONNECTIONS} stalled connections still open"
        finally:
            for s in sockets:
                s.close()
        # a keep-alive connection that starts a second request and stalls is dropped too
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):  # the whole answer: headers and JSON body
                answer += sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /health HTTP/1.1\r\nHo")
            assert _dropped(sock, time.monotonic() + HEADER_TIMEOUT + 5)
