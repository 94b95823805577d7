"""Shared fixtures: real servers on loopback (a subprocess, or in-process) and private caches.

Nothing here fakes the server: ``standalone`` is ``arkitekt server`` in a subprocess, ``embedded``
the same ASGI app on a background thread with a configuration a test chooses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from arkitekt.settings import get_settings

pytest_plugins = ["s3_helpers"]

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def private_client_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own session cache and no server URL from the environment."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("ARKITEKT_CACHE_DIR", str(cache))
    monkeypatch.setenv("ARKITEKT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    for name in (
        "ARKITEKT_URL",
        "FAKTS_URL",
        "ARKITEKT_TOKEN",
        "ARKITEKT_MANDATE_KEY",
        "FAKTS_MANDATE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not become healthy within {timeout} s")


def cli(
    *args: str, data_dir: Path, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run the real ``arkitekt`` command in a subprocess."""
    env = {**os.environ, "ARKITEKT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "arkitekt.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        **kwargs,
    )


@dataclass
class Standalone:
    """A running ``arkitekt server`` subprocess."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def add_user(self, name: str, password: str = PASSWORD) -> None:
        cli("user", "add", name, "--password", password, data_dir=self.data_dir)


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """``arkitekt server`` on a free loopback port, with users alice and bob (password PASSWORD)."""
    data_dir = tmp_path_factory.mktemp("standalone")
    port = free_port()
    env = {
        **os.environ,
        "ARKITEKT_DATA_DIR": str(data_dir),
        "ARKITEKT_DEVICE_CODE_INTERVAL": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arkitekt.cli",
            "server",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    server = Standalone(url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process)
    try:
        wait_healthy(server.url, process)
        server.add_user("alice")
        server.add_user("bob")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def embedded_factory(tmp_path: Path) -> Iterator[Any]:
    """Start in-process servers with a chosen configuration; all are stopped after the test."""
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer

    started: list[EmbeddedServer] = []

    def start(**overrides: Any) -> EmbeddedServer:
        config = ServerConfig(
            data_dir=tmp_path / f"server{len(started)}", device_code_interval=1, **overrides
        )
        server = EmbeddedServer(config)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def add_user(server: Any, name: str, password: str = PASSWORD) -> None:
    """Create a user on an in-process server."""
    from arkitekt.server.users import create_user

    async def create() -> None:
        async with server.state.db.session() as session:
            await create_user(session, name, password)

    server.call(create)


def approve_device_code(
    base_url: str,
    verification_uri: str,
    username: str,
    action: str = "approve",
    password: str = PASSWORD,
) -> httpx.Response:
    """Log in on the server's pages and approve (or deny) a device code, as a browser form would."""
    import re

    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=10) as browser:
        page = browser.get(verification_uri)
        assert "/login" in str(page.url), page.url
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        nxt = re.search(r'name="next" value="([^"]+)"', page.text)
        assert csrf and nxt
        page = browser.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf": csrf.group(1),
                "next": nxt.group(1).replace("&amp;", "&"),
            },
        )
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        code = re.search(r'name="code" value="([^"]+)"', page.text)
        assert csrf and code, page.text
        return browser.post(
            "/device", data={"csrf": csrf.group(1), "code": code.group(1), "action": action}
        )
