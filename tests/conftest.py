"""Shared fixtures: real servers on loopback (see ``servers.py``) and private caches.

Nothing here fakes the server: ``standalone`` is ``arkitekt server`` in a subprocess, ``servers``
starts the same ASGI app in this process with a configuration a test chooses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import databases
import pytest
from servers import FAST_RPC, Servers, TestServer

from arkitekt.settings import get_settings

pytest_plugins = ["s3_helpers"]

ENGINE_TESTS = (
    "tests/security/",
    "tests/test_agent_page.py",
    "tests/test_bad_input.py",
    "tests/test_dashboard.py",
    "tests/test_fakts_protocol.py",
    "tests/test_health_and_metrics.py",
    "tests/test_instrument_example.py",
    "tests/test_login_errors.py",
    "tests/test_logins.py",
    "tests/test_migrations.py",
    "tests/test_rpc_graphql_api.py",
    "tests/test_rpc_processes.py",
    "tests/test_rpc_protocol.py",
    "tests/test_run_page.py",
    "tests/test_s3_datalayer.py",
    "tests/test_storage.py",
    "tests/test_rois.py",
    "tests/test_datasets.py",
)
"""The server-side tests: CI runs them on SQLite and again on PostgreSQL
(``ARKITEKT_TEST_DATABASE=postgresql python -m pytest -m engines``)."""
TRANSPORT_TESTS = (
    "tests/security/test_decompression_bomb.py",
    "tests/security/test_graphql_cost.py",
    "tests/security/test_hostile_clients.py",
    "tests/security/test_slow_headers.py",
    "tests/security/test_websocket_frames.py",
    "tests/test_rpc_processes.py",
)
"""Server-side tests of what never reaches the database (connections, frames, parsing, limits
on documents, agent processes): once is enough."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(ENGINE_TESTS) and not item.nodeid.startswith(TRANSPORT_TESTS):
            item.add_marker(pytest.mark.engines)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the PostgreSQL databases the servers of this run were given."""
    databases.drop_test_databases()


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


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    """``arkitekt server`` on a free loopback port, with users alice and bob (password PASSWORD)."""
    data_dir = tmp_path_factory.mktemp("standalone")
    with TestServer.standalone(data_dir, users=("alice", "bob")) as server:
        yield server


@pytest.fixture
def agent_server(tmp_path: Path) -> Iterator[TestServer]:
    """A fresh ``arkitekt server`` for one test, link failures showing within seconds (FAST_RPC),
    with the user alice (``agent_server.key("alice")`` is her mandate key)."""
    with TestServer.standalone(tmp_path / "server", users=("alice",), **FAST_RPC) as server:
        yield server


@pytest.fixture
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Servers]:
    """Start in-process servers with a chosen configuration (``servers.in_process(...)``); all are
    stopped after the test."""
    started = Servers(tmp_path, lambda: str(request.getfixturevalue("s3_endpoint")))
    try:
        yield started
    finally:
        started.close()
