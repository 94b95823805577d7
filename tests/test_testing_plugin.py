"""The ``arkitekt.testing`` pytest plugin: its fixtures inside this suite, and the example
project run the way a user runs theirs (``pytest`` in a subprocess, nothing else)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arkitekt import App, NodeNotFoundError, afind, call, find, register
from arkitekt.services.rpc.registry import default_registry
from arkitekt.testing import AppFactory, TestingServer

ROOT = Path(__file__).resolve().parent.parent


def echo(text: str, times: int = 1) -> str:
    """Repeat a text."""
    return text * times


@pytest.fixture(autouse=True)
def plugin_echo() -> Iterator[None]:
    """Served by every app of this process while a test here runs (what a module-level
    ``@register`` does in a user's project), and by no app of other test modules."""
    register(interface="plugin-echo")(echo)
    yield
    default_registry.remove("plugin-echo")


def app_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("arkitekt-")]


@pytest.fixture
def no_threads_left() -> Iterator[None]:
    """Requested before the plugin's fixtures, so it checks after they were torn down."""
    yield
    deadline = time.monotonic() + 2
    while app_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not app_threads()


def test_the_example_project_passes_under_plain_pytest() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKITEKT_", "FAKTS_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/testing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout


def test_two_users_share_a_function(
    no_threads_left: None, arkitekt_server: TestingServer, arkitekt_app_factory: AppFactory
) -> None:
    alice = arkitekt_app_factory("alice", "plugin-agent")
    alice.serve()
    assert call(find(interface="plugin-echo", app=alice), "a", times=3) == "aaa"

    bob = arkitekt_app_factory("bob", "plugin-caller")
    assert bob.auth.user is not None and bob.auth.user.username == "bob"
    with pytest.raises(NodeNotFoundError):
        find(interface="plugin-echo", app=bob)
    alice.rpc.share("plugin-echo", users=["bob"])
    assert call(find(interface="plugin-echo", owner="alice", app=bob), "b") == "b"
    assert arkitekt_server.url.startswith("http://127.0.0.1:")


def test_the_default_app_is_alice_and_current(no_threads_left: None, arkitekt_app: App) -> None:
    from arkitekt import get_current_app

    assert get_current_app() is arkitekt_app
    assert arkitekt_app.auth.user is not None and arkitekt_app.auth.user.username == "alice"
    arkitekt_app.serve()
    assert find(interface="plugin-echo")("x") == "x"


async def test_async_test_with_the_sync_api(no_threads_left: None, arkitekt_app: App) -> None:
    arkitekt_app.serve()
    assert call(find(interface="plugin-echo"), "s", times=2) == "ss"


async def test_app_made_inside_an_async_test(
    no_threads_left: None, arkitekt_app_factory: AppFactory
) -> None:
    app = arkitekt_app_factory("carol")
    app.serve()
    assert call(find(interface="plugin-echo", app=app), "c") == "c"


async def test_async_api_on_an_app_of_the_tests_loop(
    no_threads_left: None, arkitekt_app_factory: AppFactory
) -> None:
    async with arkitekt_app_factory.build("dave") as app:
        await app.aserve()
        node = await afind(interface="plugin-echo")
        assert await node.acall("d", times=2) == "dd"


def test_users_keep_their_password_for_the_session(arkitekt_server: TestingServer) -> None:
    first = arkitekt_server.password("erin")
    assert arkitekt_server.password("erin") == first
    assert arkitekt_server.add_user("frank", "chosen password") == "chosen password"


async def test_async_api_on_a_fixture_app(arkitekt_app: App) -> None:
    """The fixture app lives on its own loop; the async API hops there and back."""
    from arkitekt import acall, afind

    @arkitekt_app.register
    def add(a: int, b: int = 1) -> int:
        """Add."""
        return a + b

    arkitekt_app.serve()
    node = await afind(interface="add", app=arkitekt_app)
    assert await acall(node, 2) == 3
