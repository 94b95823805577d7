"""Several replicas of one server for the tests: ``arkitekt server`` processes sharing one
PostgreSQL database, one Redis and one data folder, behind a round-robin TCP proxy.

The SDK talks to :attr:`Replicas.url` (the proxy), as it would to a load balancer; a test that
must place an app on one replica uses that replica's own URL. Redis is the one at
``ARKITEKT_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``, what ``.ci/run`` starts); each
cluster's keys get a prefix of their own, so clusters of different tests never meet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import databases
from servers import TestServer, wait_for

REDIS = os.environ.get("ARKITEKT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def check_redis() -> None:
    """Fail (never skip) when the test Redis does not answer."""
    import redis

    try:
        redis.from_url(REDIS, socket_connect_timeout=5).ping()
    except (redis.RedisError, OSError) as e:
        raise RuntimeError(
            f"the replica tests need Redis at {REDIS} ({e}); start it (.ci/run does)"
        ) from e


class RedisProcess:
    """A Redis of its own (``redis-server`` on a free loopback port, nothing written to disk),
    for a test that restarts it."""

    def __init__(self) -> None:
        import shutil

        if shutil.which("redis-server") is None:
            raise RuntimeError("this test needs redis-server (.ci/run installs it)")
        from servers import free_port

        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.from_url(self.url, socket_connect_timeout=1)
        wait_for(lambda: _answers(client), 10, "redis-server to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Kill it and start it again, empty (as a Redis without persistence restarts)."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


class RoundRobinProxy:
    """A TCP load balancer on loopback: each new connection goes to the next backend that
    accepts it (a replica that is down is skipped), like a proxy with health checks."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._turn = itertools.count()
        self.preferred: int | None = None
        """A backend port tried first by every new connection (the others when it is down)."""
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="test-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _upstream(self) -> socket.socket | None:
        start = next(self._turn)
        order = [self.ports[(start + i) % len(self.ports)] for i in range(len(self.ports))]
        if self.preferred in order:
            order.remove(self.preferred)
            order.insert(0, self.preferred)
        for port in order:
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
        return None

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = self._upstream()
            if upstream is None:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


class Replicas:
    """``count`` replicas of one server (PostgreSQL + Redis) and a proxy in front of them."""

    def __init__(
        self, folder: Path, count: int = 2, *, users: tuple[str, ...] = ("alice",), **settings: Any
    ) -> None:
        check_redis()
        folder.mkdir(parents=True, exist_ok=True)
        shared = {
            "database_url": settings.pop("database_url", None) or databases.new_postgres_database(),
            "redis_url": REDIS,
            "redis_key_prefix": f"arkitekt-test-{uuid.uuid4().hex[:8]}:",
            **settings,
        }
        self.users = users
        self.servers = [
            TestServer.standalone(folder / "data", log=folder / f"replica{i}.log", **shared)
            for i in range(count)
        ]
        self.proxy: RoundRobinProxy | None = None

    @property
    def url(self) -> str:
        assert self.proxy is not None, "not started"
        return self.proxy.url

    def __enter__(self) -> Replicas:
        try:
            for server in self.servers:
                server.start()
            for user in self.users:
                self.servers[0].add_user(user)
            self.proxy = RoundRobinProxy([server.port for server in self.servers])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proxy is not None:
            self.proxy.close()
        for server in self.servers:
            server.stop()

    def logs(self) -> str:
        """Every replica's output (for failure messages)."""
        return "\n".join(
            f"--- replica {i}\n{s.log.read_text() if s.log and s.log.exists() else ''}"
            for i, s in enumerate(self.servers)
        )
