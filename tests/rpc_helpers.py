"""Agents in subprocesses and RPC servers for the remote-function tests.

An agent is a real ``python`` process running a script against a real server, logged in with a
mandate key (the unattended login), exactly like a user's agent.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import cli, free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
FAST_RPC = {
    "ARKITEKT_RPC_HEARTBEAT_INTERVAL": "0.5",
    "ARKITEKT_RPC_HEARTBEAT_TIMEOUT": "3",
    "ARKITEKT_RPC_RECONNECT_GRACE": "2",
}
"""Server settings that make link failures show within seconds."""


def mandate_key(data_dir: Path, user: str) -> str:
    """A fresh mandate key for ``user`` (not bound to one app)."""
    out = cli("user", "mandate", user, "--label", "tests", data_dir=data_dir).stdout
    return next(line.strip() for line in out.splitlines() if len(line.strip()) >= 32)


@dataclass
class RpcServer:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "ARKITEKT_DATA_DIR": str(self.data_dir), **FAST_RPC}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arkitekt.cli",
                "server",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        wait_healthy(self.url, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def add_user(self, name: str) -> str:
        """Create ``name`` and return a mandate key for it."""
        cli("user", "add", name, "--password", "x" * 12, data_dir=self.data_dir)
        return mandate_key(self.data_dir, name)


@contextmanager
def rpc_server(data_dir: Path) -> Iterator[RpcServer]:
    port = free_port()
    server = RpcServer(url=f"http://127.0.0.1:{port}", port=port, data_dir=data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class AgentProcess:
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"the agent did not stop on Ctrl-C:\n{self.output()}"
                ) from None
        return self.process.returncode


def start_agent(
    script: Path | str,
    *,
    url: str,
    key: str,
    tmp_path: Path,
    name: str = "agent",
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> AgentProcess:
    log = tmp_path / f"{name}.log"
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        env={
            **os.environ,
            "ARKITEKT_URL": url,
            "ARKITEKT_MANDATE_KEY": key,
            "ARKITEKT_CACHE_DIR": str(tmp_path / f"{name}-cache"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    return AgentProcess(process=process, log=log)


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met within {timeout} s")


class CuttableProxy:
    """A TCP proxy on loopback whose connections can be cut, like a network failure."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[Any] = []
        self.lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Drop every open connection (new ones are accepted again)."""
        import socket

        with self.lock:
            sockets, self.sockets = self.sockets, []
            self.cuts += 1
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()
