"""The App as a context: ordering, the current-app contextvar, threads, tasks, errors, Ctrl-C."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakts import Manifest

from arkitekt import (
    App,
    AppStateError,
    ConfigurationError,
    NoActiveAppError,
    easy,
    get_current_app,
    local,
)


class Recorder:
    """A service that records when it starts and stops (and can be slow or fail)."""

    def __init__(
        self, name: str, log: list[str], *, delay: float = 0.0, fail: bool = False
    ) -> None:
        self.name = name
        self.log = log
        self.delay = delay
        self.fail = fail

    async def astart(self, app: App) -> None:
        self.log.append(f"start {self.name}")
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError(f"{self.name} cannot start")

    async def astop(self) -> None:
        self.log.append(f"stop {self.name}")


def make_app(log: list[str], *services: Recorder, identifier: str = "ctx") -> App:
    return App(
        Manifest(identifier=identifier, version="1"),
        list(services) or [Recorder("a", log), Recorder("b", log)],
    )


def test_services_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    app = make_app(log)
    with app:
        assert get_current_app() is app
        assert app.a.name == "a"
    assert log == ["start a", "start b", "stop b", "stop a"]
    with pytest.raises(NoActiveAppError, match=r"with easy\("):
        get_current_app()


async def test_async_with_sets_and_resets() -> None:
    log: list[str] = []
    app = make_app(log)
    async with app:
        assert get_current_app() is app
    assert log[-1] == "stop a"
    with pytest.raises(NoActiveAppError):
        get_current_app()


def test_nested_apps() -> None:
    outer, inner = make_app([], identifier="outer"), make_app([], identifier="inner")
    with outer:
        with inner:
            assert get_current_app() is inner
        assert get_current_app() is outer


def test_exception_inside_with_resets_and_stops() -> None:
    log: list[str] = []
    app = make_app(log)
    with pytest.raises(ZeroDivisionError):
        with app:
            1 / 0  # noqa: B018
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert not app.entered
    with pytest.raises(NoActiveAppError):
        get_current_app()


def test_failing_service_stops_the_started_ones() -> None:
    log: list[str] = []
    app = make_app(log, Recorder("a", log), Recorder("b", log, fail=True), Recorder("c", log))
    with pytest.raises(RuntimeError, match="b cannot start"):
        with app:
            pass
    assert log == ["start a", "start b", "stop a"]
    with pytest.raises(NoActiveAppError):
        get_current_app()


def test_configuring_after_entering_raises() -> None:
    log: list[str] = []
    app = make_app(log)
    with app:
        with pytest.raises(AppStateError, match="before `with app:`"):
            app.add_service(Recorder("late", log))
        with pytest.raises(AppStateError, match="entered already"):
            app.__enter__()
    app.add_service(Recorder("late", log))  # allowed again once left


def test_apps_in_two_threads_do_not_see_each_other() -> None:
    seen: dict[str, Any] = {}
    barrier = threading.Barrier(2, timeout=10)

    def work(name: str) -> None:
        app = make_app([], identifier=name)
        with app:
            barrier.wait()
            seen[name] = get_current_app().identifier
            barrier.wait()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"one": "one", "two": "two"}


async def test_apps_in_two_tasks_do_not_see_each_other() -> None:
    both_in = asyncio.Event()
    entered = 0

    async def work(name: str) -> str:
        nonlocal entered
        async with make_app([], identifier=name):
            entered += 1
            if entered == 2:
                both_in.set()
            await asyncio.wait_for(both_in.wait(), 5)
            return get_current_app().identifier

    assert await asyncio.gather(work("one"), work("two")) == ["one", "two"]


def test_sync_use_inside_a_running_event_loop(tmp_path: Path) -> None:
    """As in Jupyter: a sync `with` and sync calls while an event loop runs in this thread."""

    async def notebook_cell() -> dict[str, Any]:
        with local("in-loop", data_dir=tmp_path) as app:
            return app.http_get("/health").json()  # type: ignore[no-any-return]

    assert asyncio.run(notebook_cell())["status"] == "ok"


def test_ctrl_c_while_entering_leaves_nothing_behind() -> None:
    log: list[str] = []
    app = make_app(log, Recorder("a", log), Recorder("slow", log, delay=30), Recorder("c", log))
    before = set(threading.enumerate())
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with app:
            pass
    timer.join()
    assert time.monotonic() - started < 5
    assert "start c" not in log and log[-1] == "stop a"
    assert not app.entered
    with pytest.raises(NoActiveAppError):
        get_current_app()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before


def test_sync_method_outside_the_app_explains() -> None:
    app = make_app([])
    with pytest.raises(AppStateError, match="not entered"):
        app.http_get("/health")


def test_missing_service_attribute_names_the_services() -> None:
    app = make_app([])
    with pytest.raises(AttributeError, match=r"services: a, b"):
        _ = app.storage


@pytest.mark.parametrize(
    "identifier", ["", "has/slash", "spaces in it", "-starts-with-dash", "x" * 300]
)
def test_bad_identifier(identifier: str) -> None:
    with pytest.raises(ConfigurationError, match="identifier"):
        easy(identifier if identifier else None or "", url="http://127.0.0.1:1")


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ConfigurationError, match="url"):
        easy("ok", url="ftp://example.org")
    with pytest.raises(ConfigurationError, match="password= needs username="):
        easy("ok", url="http://127.0.0.1:1", password="x")
    with pytest.raises(ConfigurationError, match="only one of token, mandate_key"):
        easy("ok", url="http://127.0.0.1:1", token="a", mandate_key="b")
    with pytest.raises(ConfigurationError, match="private_key= needs username="):
        easy("ok", url="http://127.0.0.1:1", private_key="/nonexistent")
    with pytest.raises(ConfigurationError, match="version"):
        easy("ok", version="", url="http://127.0.0.1:1")


def test_easy_without_url_uses_the_integrated_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="arkitekt")
    app = easy("fallback", data_dir=tmp_path)
    assert "server" in app.services
    assert "integrated server" in caplog.text
    with app:
        assert app.http_get("/health").status_code == 200


def test_env_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from arkitekt.settings import get_settings

    monkeypatch.setenv("FAKTS_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    app = easy("from-env", username="x", password="y")
    assert app.fakts.url == "http://127.0.0.1:9"
    monkeypatch.setenv("ARKITEKT_URL", "http://127.0.0.1:10")
    get_settings.cache_clear()
    assert easy("from-env", username="x", password="y").fakts.url == "http://127.0.0.1:10"


def test_jupy_stays_entered_and_replaces_itself(tmp_path: Path) -> None:
    from arkitekt import jupy

    first = jupy("notebook", data_dir=tmp_path)
    try:
        assert first.entered and get_current_app() is first
        # Another "cell" (a thread: a context that never saw the `with`) finds it too.
        seen: list[App] = []
        thread = threading.Thread(target=lambda: seen.append(get_current_app()))
        thread.start()
        thread.join(5)
        assert seen == [first]
        assert first.http_get("/health").status_code == 200
        second = jupy("notebook", data_dir=tmp_path)  # the cell runs again
        assert not first.entered and second.entered
        assert get_current_app() is second
    finally:
        second.close()
    assert not second.entered
    second.close()  # idempotent
    with pytest.raises(NoActiveAppError):
        get_current_app()


def test_every_public_name_resolves_and_import_stays_light() -> None:
    import subprocess
    import sys

    import arkitekt

    for name in arkitekt.__all__:
        assert getattr(arkitekt, name) is not None, name
    code = (
        "import sys, arkitekt;"
        "heavy = [m for m in ('arkitekt.server', 'arkitekt.services.rpc.service', 'pydantic',"
        " 'websockets', 'fakts') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
