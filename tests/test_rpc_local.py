"""Remote functions within one process on the integrated server: serve and call from the same
app (the notebook case), in sync and async code."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from arkitekt import (
    ArgumentError,
    ConfigurationError,
    DefinitionError,
    NodeNotFoundError,
    RemoteError,
    acall,
    afind,
    aiterate,
    call,
    find,
    iterate,
    local,
    log,
    progress,
    register,
)


def test_serve_and_call_in_one_script() -> None:
    with local("one-process") as app:

        @app.register
        def shout(text: str, times: int = 1) -> str:
            """Upper-case a text."""
            return text.upper() * times

        @app.register
        def countdown(start: int) -> Iterator[int]:
            """Count down to 1."""
            for i in range(start, 0, -1):
                progress(100 * (start - i) // start)
                yield i
            log("lift-off")

        app.serve()
        node = find(interface="shout")
        assert node.description == "Upper-case a text."
        assert call(node, "hi", times=2) == "HIHI"
        assert node("x") == "X"
        assert list(iterate(find(interface="countdown"), 3)) == [3, 2, 1]
        with pytest.raises(ArgumentError, match="times"):
            node("x", times="many")
        with pytest.raises(NodeNotFoundError):
            find(interface="does-not-exist")
    assert not [t for t in threading.enumerate() if t.name.startswith("arkitekt-")]


async def test_async_functions_and_exceptions() -> None:
    async with local("async-process") as app:

        @app.register
        async def divide(a: float, b: float) -> float:
            """Divide a by b."""
            await asyncio.sleep(0)
            return a / b

        @app.register
        async def ticks(n: int) -> AsyncIterator[int]:
            """Tick n times."""
            for i in range(n):
                yield i

        await app.aserve()
        node = await afind(interface="divide")
        assert await acall(node, 1, 4) == 0.25
        with pytest.raises(ZeroDivisionError) as caught:  # a RemoteError that is also one
            await acall(node, 1, 0)
        assert isinstance(caught.value, RemoteError)
        assert "a / b" in caught.value.remote_traceback
        assert [i async for i in aiterate(await afind(interface="ticks"), 3)] == [0, 1, 2]
        results = await asyncio.gather(*(acall(node, i, 2) for i in range(100)))
        assert results == [i / 2 for i in range(100)]


def test_unsupported_annotation_fails_at_register_time() -> None:
    class Blob:
        """Neither a value type nor a structure (no shrink/expand)."""

    with pytest.raises(DefinitionError, match="'image'"):

        @register
        def bad(image: Blob) -> int:
            return 0


def test_nothing_to_serve_is_a_clear_error() -> None:
    with local("empty") as app:
        app.rpc.registry.clear()
        from arkitekt.services.rpc.registry import default_registry

        saved = list(default_registry)
        default_registry.clear()
        try:
            with pytest.raises(ConfigurationError, match="@register"):
                app.serve()
        finally:
            for entry in saved:
                default_registry.register(entry.function, interface=entry.interface)


def test_the_link_outlives_its_access_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("ARKITEKT_ACCESS_TOKEN_TTL", "3")
    with local("renewing") as app:

        @app.register
        def echo(text: str) -> str:
            """Give the text back."""
            return text

        app.serve()
        node = find(interface="echo")
        connection = app.rpc._connection
        assert connection is not None
        first = connection.welcome
        time.sleep(6)  # two token lifetimes: renewed on the open link (Reauth)
        assert node("still here") == "still here"
        assert connection.welcome is first  # the link was never dropped


def test_the_quickstart_example_runs(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("server http://127.0.0.1:") and lines[0].endswith(")")
    assert lines[2] == "Hello world! Hello world!"
    assert lines[3] == "stored 'cells': {'c': 2, 'z': 16, 'y': 256, 'x': 256}"
    assert lines[4].startswith("brightest pixel: ") and float(lines[4].split(": ")[1]) > 0.99
    assert lines[5:] == ["server stopped"]


def test_progress_of_a_long_call_shows_as_a_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where someone watches (forced here: stderr is captured) a call's progress is a bar."""
    from arkitekt.settings import get_settings

    monkeypatch.setenv("ARKITEKT_PROGRESS", "true")
    get_settings.cache_clear()
    try:
        with local("progress-bar") as app:

            @app.register
            def crunch(steps: int) -> int:
                """Work in steps."""
                for step in range(1, steps + 1):
                    progress(100 * step // steps, f"step {step}")
                return steps

            app.serve()
            assert call(find(interface="crunch"), 4) == 4
    finally:
        get_settings.cache_clear()
    shown = capsys.readouterr().err
    assert "crunch" in shown and "100%" in shown  # rich's bar, kept when not a terminal


def test_no_bar_when_nobody_watches(capsys: pytest.CaptureFixture[str]) -> None:
    with local("progress-silent") as app:

        @app.register
        def crunch(steps: int) -> int:
            """Work in steps."""
            for step in range(1, steps + 1):
                progress(100 * step // steps)
            return steps

        app.serve()
        assert call(find(interface="crunch"), 3) == 3
    assert "crunch" not in capsys.readouterr().err


def test_notebook_display_of_apps_nodes_and_listings() -> None:
    from arkitekt import find_all

    app = local("display")
    assert "not entered" in app._repr_html_()
    with app:

        @app.register
        def scale(values: list[float], factor: float = 2.0) -> list[float]:
            """Multiply values.

            Args:
                values: the numbers <to scale>
                factor: by how much
            """
            return [v * factor for v in values]

        app.serve()
        page = app._repr_html_()
        assert "display 0.0.1" in page and "entered" in page
        assert app.auth.user is not None and app.auth.user.username in page
        assert "rpc: connected" in page

        node = find(interface="scale")
        card = node._repr_html_()
        assert "<strong>scale</strong>" in card
        assert "list[float]" in card and "float = 2.0" in card
        assert "the numbers &lt;to scale&gt;" in card  # escaped
        nodes = find_all(interface="scale")
        assert nodes == [node] or [n.id for n in nodes] == [node.id]
        listing = nodes._repr_html_()  # type: ignore[attr-defined]
        assert "(values: list[float], factor: float = 2.0) -&gt; list[float]" in listing


def test_a_started_call_is_followed_and_awaited_later() -> None:
    from arkitekt import Assignation, CallCancelledError

    with local("started-calls") as app:

        @app.register
        def steps(n: int, pause: float = 0.05) -> int:
            """Report progress in n steps."""
            import time

            for i in range(1, n + 1):
                time.sleep(pause)
                progress(100 * i // n, f"step {i}")
            return n

        app.serve()
        node = find(interface="steps")
        running = node.start(4)
        assert isinstance(running, Assignation) and running.id
        assert running.result(timeout=30) == 4
        assert running.done and running.status == "done"
        assert running.progress == 100 and running.message == "step 4"
        page = running._repr_html_()
        assert "<strong>steps</strong>" in page and "done" in page

        slow = node.start(200, pause=0.1)
        wait_until = time.monotonic() + 20
        while slow.progress is None and time.monotonic() < wait_until:
            time.sleep(0.05)
        assert "<progress" in slow._repr_html_()  # a bar while it runs
        slow.cancel()
        assert slow.done
        assert slow.status in ("cancelled", "progress")  # the last event it saw
        with pytest.raises(CallCancelledError, match="cancelled"):
            slow.result(timeout=10)


async def test_a_started_call_from_async_code() -> None:
    async with local("started-async") as app:

        @app.register
        async def double(x: int) -> int:
            """Twice x."""
            return 2 * x

        await app.aserve()
        node = await afind(interface="double")
        calls = [await node.astart(i) for i in range(5)]
        assert [await c.aresult(timeout=30) for c in calls] == [0, 2, 4, 6, 8]


def test_app_register_serves_from_that_app_only() -> None:
    from arkitekt.services.rpc.registry import default_registry

    with local("registers") as app:

        @app.register
        def only_here(x: int) -> int:
            """Only this app serves me."""
            return x

        assert "only_here" in app.rpc.registry
        assert "only_here" not in default_registry
