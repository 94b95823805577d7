"""The integrated mode: a server inside the client's process, started and stopped cleanly."""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import threading
import time
from pathlib import Path

from arkitekt import get_current_app, local
from arkitekt.server.embedded import local_username


def open_fds() -> set[str]:
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed while listing
            fds.add(os.readlink(f"/proc/self/fd/{fd}"))
    return fds


def settle(before_threads: set[threading.Thread], timeout: float = 5) -> set[threading.Thread]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        extra = set(threading.enumerate()) - before_threads
        if not extra:
            return extra
        time.sleep(0.05)
    return set(threading.enumerate()) - before_threads


def test_local_user_is_logged_in(tmp_path: Path) -> None:
    with local("integrated", data_dir=tmp_path) as app:
        assert get_current_app() is app
        assert app.auth.user is not None and app.auth.user.username == local_username()
        assert app.http_get("/health").json()["status"] == "ok"
        assert app.server.url.startswith("http://127.0.0.1:")
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700
    assert (tmp_path / "arkitekt.db").exists()


def test_data_dir_from_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from arkitekt.settings import get_settings

    monkeypatch.setenv("ARKITEKT_DATA_DIR", str(tmp_path / "from-env"))
    get_settings.cache_clear()
    with local("integrated-env"):
        pass
    assert (tmp_path / "from-env" / "arkitekt.db").exists()


def test_start_stop_twenty_times_leaks_nothing(tmp_path: Path) -> None:
    # Warm up once (imports, first migration), then count.
    with local("leaks", data_dir=tmp_path):
        pass
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    for _ in range(20):
        with local("leaks", data_dir=tmp_path) as app:
            assert app.http_get("/health").status_code == 200
            port = int(app.server.url.rsplit(":", 1)[1])
        # The port is closed again.
        import socket

        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    gc.collect()
    assert not settle(threads_before), "threads left behind"
    leaked = {fd for fd in open_fds() - fds_before if not fd.startswith(("pipe:", "anon_inode:"))}
    assert not leaked, f"file handles or sockets left open: {leaked}"
    assert len(open_fds()) <= len(fds_before) + 2


def test_two_integrated_apps_share_one_data_dir(tmp_path: Path) -> None:
    with local("first", data_dir=tmp_path) as one, local("second", data_dir=tmp_path) as two:
        assert one.server.url != two.server.url
        assert one.auth.user.id == two.auth.user.id  # the same local user
        assert get_current_app() is two


def test_kept_alive_requests_are_answered_without_waiting_for_acks(tmp_path: Path) -> None:
    """The integrated server's connections have Nagle off: a response written as headers and
    then body arrives at once on a kept-alive connection (with Nagle, the body waited for the
    client's delayed ACK, ~40 ms per GraphQL call)."""
    import socket

    with local("nodelay", data_dir=tmp_path) as app:
        host, port = app.services["server"].url.split("//")[1].split(":")
        with socket.create_connection((host, int(port))) as conn:
            request = f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            took = []
            for _ in range(5):
                started = time.perf_counter()
                conn.sendall(request)
                answer = b""
                while not answer.endswith(b"}"):  # the JSON body ends the response
                    answer += conn.recv(65536)
                took.append(time.perf_counter() - started)
    assert sorted(took)[2] < 0.025, f"kept-alive answers took {took}"
