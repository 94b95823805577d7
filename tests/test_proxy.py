"""``proxy=`` reaches every connection the SDK makes after logging in: the API, the functions
websocket, and datalayer reads and writes. A real HTTP proxy (proxy.py) stands in between and
its log tells what went through it. (Discovery and login, made by the fakts client, still go
direct: see docs/connecting.md.)"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from servers import PASSWORD, TestServer, free_port, stop_process, wait_for

from arkitekt import ServerUnavailableError, easy, find, from_file, from_xarray


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def http_proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """tinyproxy (Debian's, installed by .ci/run) on a loopback port; its URL and its log."""
    if shutil.which("tinyproxy") is None:
        pytest.fail("tinyproxy is not installed: apt-get install tinyproxy (.ci/run does)")
    port = free_port()
    log = tmp_path / "proxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(
        f"Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 600\nMaxClients 100\n"
        f'LogFile "{log}"\nLogLevel Connect\nDisableViaHeader Yes\n'
    )
    process = subprocess.Popen(
        ["tinyproxy", "-d", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _accepts(port), 30, "the proxy to listen")
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_process(process)


def test_every_connection_goes_through_the_proxy(
    standalone: TestServer, http_proxy: tuple[str, Path], tmp_path: Path
) -> None:
    proxy, log = http_proxy
    app = easy(
        "proxied", url=standalone.url, username="alice", password=PASSWORD, no_cache=True,
        proxy=proxy,
    )  # fmt: skip

    @app.register
    def double(x: int) -> int:
        return 2 * x

    with app:
        assert app.http_get("/o/userinfo/").status_code == 200
        app.serve()
        assert find(interface="double")(21) == 42
        image = from_xarray(np.arange(16.0).reshape(4, 4), name="via proxy", dims=["y", "x"])
        assert float(image.data.sum()) == 120.0
        (tmp_path / "notes.txt").write_bytes(b"through the proxy")
        stored = from_file(tmp_path / "notes.txt")
        assert stored.read_bytes() == b"through the proxy"
    seen = log.read_text()
    requests = [line for line in seen.splitlines() if "Request (file descriptor" in line]
    assert any("GET " in r and "/o/userinfo/" in r for r in requests), seen  # the API
    assert any("/mikro/graphql" in r for r in requests), seen  # the control plane
    assert any("CONNECT " in r or "/rekuest/ws" in r for r in requests), seen  # the websocket
    assert any("PUT " in r and "/datalayer/" in r for r in requests), seen  # datalayer writes
    assert any("GET " in r and "/datalayer/" in r for r in requests), seen  # and reads


def test_a_dead_proxy_is_named(standalone: TestServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = easy(
        "dead-proxy", url=standalone.url, username="alice", password=PASSWORD, no_cache=True,
        proxy=dead,
    )  # fmt: skip
    with pytest.raises(ServerUnavailableError, match=rf"proxy {dead}"):
        with app:  # entering asks the server who the user is: through the proxy
            pass
