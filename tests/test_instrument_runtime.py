"""How an agent runs calls: one at a time by default, ``concurrency=``, named locks, the queue
(in order, cancellable, shown as ``queued``), long-lived and pinned worker threads, ``@state``
and the lifecycle hooks. All on the integrated server, with real apps serving and calling."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel
from servers import Servers

from arkitekt import (
    AgentStartupError,
    AgentStoppedError,
    CallCancelledError,
    DefinitionError,
    NodeNotFoundError,
    NoProviderError,
    acall,
    afind,
    aget_state,
    awatch_state,
    background,
    call,
    find,
    get_state,
    local,
    progress,
    shutdown,
    startup,
    state,
    watch_state,
)

pytestmark = pytest.mark.timeout(120)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(0.01)


class Spans:
    """When each call of the functions under test ran (to prove what overlapped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[str, float, float]] = []
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def run(self, name: str, seconds: float) -> None:
        with self._lock:
            self.running[name] = self.running.get(name, 0) + 1
            self.most[name] = max(self.most.get(name, 0), self.running[name])
        start = time.monotonic()
        time.sleep(seconds)
        with self._lock:
            self.running[name] -= 1
            self.spans.append((name, start, time.monotonic()))

    def overlapping(self, names: set[str]) -> list[tuple[str, str]]:
        chosen = sorted((s for s in self.spans if s[0] in names), key=lambda s: s[1])
        return [(a[0], b[0]) for a, b in itertools.pairwise(chosen) if b[1] < a[2]]


def no_arkitekt_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("arkitekt")]


# -- concurrency and locks ---------------------------------------------------------------------


def test_one_call_at_a_time_by_default_in_arrival_order_shown_as_queued() -> None:
    spans = Spans()
    release = threading.Event()
    started: list[int] = []
    with local("serial-instrument") as app:

        @app.register
        def expose(i: int) -> int:
            """Expose one frame."""
            started.append(i)
            if i == 0:
                release.wait(10)
            spans.run("expose", 0.01)
            return i

        app.serve()
        node = find(interface="expose")
        first = node.start(0)
        wait_until(lambda: started == [0], "the first call running")
        waiting = [node.start(i) for i in range(1, 5)]
        wait_until(lambda: all(w.status == "queued" for w in waiting), "the others queued")
        assert waiting[0].message is not None and "slot" in waiting[0].message
        release.set()
        assert [w.result(timeout=10) for w in [first, *waiting]] == [0, 1, 2, 3, 4]
        assert started == [0, 1, 2, 3, 4]
        assert spans.overlapping({"expose"}) == []
    assert not no_arkitekt_threads()


def test_named_locks_are_shared_across_functions_and_concurrency_opts_in() -> None:
    spans = Spans()
    with local("locked-instrument") as app:

        @app.register(locks=["stage"], concurrency=None)
        def move(i: int) -> int:
            """Move the stage."""
            spans.run("move", 0.03)
            return i

        @app.register(locks=["stage", "camera"], concurrency=None)
        def snap(i: int) -> int:
            """Snap (the stage must stand still)."""
            spans.run("snap", 0.03)
            return i

        @app.register(concurrency=3)
        def compute(i: int) -> int:
            """Pure computation, three at a time."""
            spans.run("compute", 0.1)
            return i

        @app.register(concurrency=None)
        def unbounded(i: int) -> int:
            """No limit at all."""
            spans.run("unbounded", 0.1)
            return i

        app.serve()

        async def main() -> None:
            nodes = {n: await afind(interface=n) for n in ("move", "snap", "compute", "unbounded")}
            calls = [acall(nodes["move" if i % 2 else "snap"], i) for i in range(8)]
            calls += [acall(nodes["compute"], i) for i in range(6)]
            calls += [acall(nodes["unbounded"], i) for i in range(6)]
            assert len(await asyncio.gather(*calls)) == 20

        asyncio.run(main())
    assert spans.overlapping({"move", "snap"}) == []
    assert spans.most["compute"] == 3
    assert spans.most["unbounded"] == 6


async def test_a_queued_call_can_be_cancelled_and_never_runs() -> None:
    release = asyncio.Event()
    ran: list[int] = []
    async with local("cancel-queued") as app:

        @app.register
        async def hold(i: int) -> int:
            """Hold the instrument until released."""
            ran.append(i)
            if i == 0:
                await asyncio.wait_for(release.wait(), 10)
            return i

        await app.aserve()
        node = await afind(interface="hold")
        first = await node.astart(0)
        second = await node.astart(1)
        third = await node.astart(2)
        for _ in range(500):
            if second.status == "queued" and third.status == "queued":
                break
            await asyncio.sleep(0.01)
        assert (second.status, third.status) == ("queued", "queued")
        await second.acancel()

        async def cancelled_on_the_agent() -> bool:
            calls = await app.rpc.aassignations(status="cancelled")
            return any(c.id == second.id for c in calls)

        for _ in range(500):
            if await cancelled_on_the_agent():
                break
            await asyncio.sleep(0.01)
        release.set()
        assert await first.aresult(timeout=10) == 0
        assert await third.aresult(timeout=10) == 2
        assert ran == [0, 2]  # the cancelled one never ran, the one behind it did


async def test_an_agent_cancelled_call_while_queued_reports_cancelled_to_its_caller() -> None:
    release = threading.Event()
    async with local("cancel-queued-remote") as app:

        @app.register
        def hold(i: int) -> int:
            """Hold until released."""
            if i == 0:
                release.wait(10)
            return i

        await app.aserve()
        node = await afind(interface="hold")
        first = await node.astart(0)
        waiting = asyncio.ensure_future(acall(node, 1))
        await asyncio.sleep(0.2)
        # the caller's own cancellation of the call: the agent drops it from its queue
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        assert await first.aresult(timeout=10) == 0
        assert await acall(node, 2) == 2


# -- threads -----------------------------------------------------------------------------------


def test_sync_functions_run_on_long_lived_and_pinned_threads() -> None:
    with local("threads-instrument") as app:

        @app.register
        def pooled() -> str:
            """Which thread ran it."""
            progress(50)  # contextvars work on the worker threads
            return threading.current_thread().name

        @app.register(thread="camera")
        def camera_a() -> int:
            """On the camera's thread."""
            return threading.get_ident()

        @app.register(thread="camera")
        def camera_b() -> int:
            """On the camera's thread too."""
            return threading.get_ident()

        @app.register(thread="camera")
        def camera_child() -> str:
            """A child call from the camera's thread (the context is there)."""
            return str(call(find(interface="pooled")))

        app.serve()
        before = threading.active_count()
        names = {call(find(interface="pooled")) for _ in range(20)}
        assert len(names) == 1, names  # one thread, reused: no thread per call
        assert threading.active_count() <= before + 1
        idents = {call(find(interface=n)) for n in ("camera_a", "camera_b") for _ in range(5)}
        assert len(idents) == 1
        assert call(find(interface="camera_child")) == names.pop()
    assert not no_arkitekt_threads()


def test_the_whole_agent_can_be_pinned_to_one_thread() -> None:
    with local("pinned-agent") as app:
        seen: list[str] = []

        @startup(app=app)
        def opened() -> None:
            seen.append(threading.current_thread().name)

        @app.register
        def one() -> str:
            """Where it runs."""
            return threading.current_thread().name

        @app.register(concurrency=4)
        def two() -> str:
            """Where it runs (even with concurrency, one thread)."""
            return threading.current_thread().name

        app.serve(thread="sdk")
        assert {call(find(interface=n)) for n in ("one", "two", "one")} == {seen[0]}
        assert seen[0].endswith("sdk")


# -- state ---------------------------------------------------------------------------------------


@state
@dataclass
class Stage:
    x: float = 0.0
    busy: bool = False
    visited: list[float] = field(default_factory=list)


@state(name="laser")
class Laser(BaseModel):
    power_mw: float = 0.0
    on: bool = False


def test_state_is_injected_not_a_port_and_published() -> None:
    with local("state-instrument") as app:

        @app.register(locks=["stage"])
        def move(x: float, stage: Stage, laser: Laser) -> float:
            """Move the stage (the laser goes off meanwhile)."""
            laser.on = False
            stage.busy = True
            time.sleep(0.05)
            stage.x = x
            stage.visited.append(x)  # changed in place: published when the call ends
            stage.busy = False
            return stage.x

        app.serve()
        node = find(interface="move")
        assert [port.key for port in node.definition.args] == ["x"]
        assert call(node, 4.0) == 4.0
        assert get_state(node, Stage) == Stage(x=4.0, busy=False, visited=[4.0])
        assert get_state(node, Laser) == Laser(power_mw=0.0, on=False)
        assert get_state(node, "laser") == {"power_mw": 0.0, "on": False}
        agent = app.rpc.agents()[0]
        assert get_state(agent, Stage).x == 4.0
        assert get_state(agent.id, "Stage")["visited"] == [4.0]

        seen: list[Stage] = []
        for value in watch_state(node, Stage):
            seen.append(value)
            if len(seen) == 1:
                node.start(7.0)
            if value.x == 7.0 and not value.busy:
                break
        assert seen[0].x == 4.0
        assert any(v.busy for v in seen), seen  # the change during the call was published
        assert seen[-1].visited == [4.0, 7.0]
        with pytest.raises(Exception, match="no such state"):
            get_state(node, "nothing-like-it")


async def test_state_stays_readable_after_the_agent_left() -> None:
    async with local("state-stored") as app:

        @app.register
        async def set_to(x: float, stage: Stage) -> None:
            """Set x."""
            stage.x = x

        await app.aserve()
        await acall(await afind(interface="set_to"), 9.5)
        assert app.rpc.agent is not None
        agent_id = app.rpc.agent.id
        assert agent_id is not None
        updates = awatch_state(agent_id, Stage)
        first = await anext(updates)
        assert first.x == 9.5
        await updates.aclose()
    async with local("state-stored") as again:
        assert again is not None
        assert (await aget_state(agent_id, Stage)).x == 9.5


def test_state_declarations_are_checked() -> None:
    with pytest.raises(DefinitionError, match="default"):

        @state
        @dataclass
        class NoDefault:
            x: float

    with pytest.raises(DefinitionError, match="frozen"):

        @state
        @dataclass(frozen=True)
        class Frozen:
            x: float = 0

    with pytest.raises(DefinitionError, match="dataclass or a pydantic model"):

        @state
        class Plain:
            x = 0

    with local("bad-options") as app:
        with pytest.raises(DefinitionError, match="concurrency"):
            app.register(lambda: None, concurrency=0)
        with pytest.raises(DefinitionError, match="list of names"):
            app.register(lambda: None, locks="stage")

        def not_a_state(x: int) -> None:
            return None

        with pytest.raises(DefinitionError, match="@state class"):
            startup(not_a_state, app=app)


# -- hooks ---------------------------------------------------------------------------------------


def test_hooks_run_in_order_with_state() -> None:
    order: list[str] = []
    with local("hooks-instrument") as app:

        @startup(app=app)
        async def first(stage: Stage) -> None:
            order.append("startup 1")
            stage.x = 1.0

        @startup(app=app)
        def second(stage: Stage) -> None:
            order.append(f"startup 2 sees x={stage.x}")

        @background(app=app)
        async def poll(stage: Stage) -> None:
            order.append("background")
            try:
                while True:
                    await asyncio.sleep(0.01)
            finally:
                order.append("background cancelled")

        @shutdown(app=app)
        def last(stage: Stage) -> None:
            order.append("shutdown 2")

        @shutdown(app=app)
        async def closing(stage: Stage) -> None:
            order.append("shutdown 1")

        @app.register
        def where(stage: Stage) -> float:
            """Where the stage is."""
            order.append("call")
            return stage.x

        app.serve()
        assert call(find(interface="where")) == 1.0
        wait_until(lambda: "background" in order, "the background hook")
    assert order == [
        "startup 1",
        "startup 2 sees x=1.0",
        "background",
        "call",
        "background cancelled",
        "shutdown 1",
        "shutdown 2",
    ]
    assert not no_arkitekt_threads()


def test_a_failing_startup_serves_nothing() -> None:
    ran: list[str] = []
    with local("broken-instrument") as app:

        @startup(app=app)
        def connect() -> None:
            raise ConnectionError("no camera on /dev/video0")

        @shutdown(app=app)
        def disconnect() -> None:
            ran.append("shutdown")

        @app.register
        def snap() -> int:
            """Never served."""
            return 1

        with pytest.raises(AgentStartupError, match=r"connect.*no camera") as caught:
            app.serve()
        assert isinstance(caught.value.__cause__, ConnectionError)
        with pytest.raises(NodeNotFoundError):
            find(interface="snap")
    assert ran == []  # the startup hook that failed cleans up after itself
    assert not no_arkitekt_threads()


def test_a_crashing_background_hook_is_restarted_and_reported() -> None:
    attempts: list[float] = []
    with local("flaky-sensor") as app:

        @background(app=app, max_backoff=0.2)
        def sensor() -> None:
            attempts.append(time.monotonic())
            raise OSError(f"sensor read failed ({len(attempts)})")

        @app.register
        def ping() -> int:
            """Alive."""
            return 1

        app.serve()
        wait_until(lambda: len(attempts) >= 4, "four attempts")
        assert call(find(interface="ping")) == 1  # the agent keeps serving
        agent = app.rpc.agents()[0]

        def reported() -> bool:
            status = get_state(agent, "arkitekt.agent")["background"]
            entry = next(iter(status.values()))
            return entry["restarts"] >= 2 and "sensor read failed" in entry["error"]

        wait_until(reported, "the restarts in the agent's state")
    pauses = [b - a for a, b in itertools.pairwise(attempts)]
    assert pauses[1] >= pauses[0] * 1.5 or pauses[1] >= 0.15  # it backs off


async def test_a_background_hook_may_stop_the_agent() -> None:
    async with local("fatal-sensor") as app:

        @background(app=app, on_error="stop")
        async def interlock() -> None:
            await asyncio.sleep(0.1)
            raise RuntimeError("the enclosure is open")

        @app.register
        async def ping() -> int:
            """Alive."""
            return 1

        with pytest.raises(AgentStoppedError, match="enclosure is open"):
            await asyncio.wait_for(app.arun(), 10)
        with pytest.raises(NoProviderError):  # it serves nothing any more
            await acall(await afind(interface="ping"))


def scanner(
    letter: str, entered: threading.Event, release: threading.Event
) -> Callable[[int], str]:
    """One agent's ``scan``: the same function (same definition) on every agent."""

    def scan(i: int) -> str:
        """Scan a line."""
        if i == 0:
            entered.set()
            release.wait(10)
        return letter

    return scan


def test_a_busy_provider_is_passed_over_for_one_with_a_free_slot(servers: Servers) -> None:
    server = servers.in_process(users=("alice",))
    entered, release = threading.Event(), threading.Event()
    stage_a = server.app("alice", "stage-a")
    stage_b = server.app("alice", "stage-b")
    with stage_a, stage_b:
        stage_a.register(scanner("a", entered, release), interface="scan")
        stage_b.register(scanner("b", entered, release), interface="scan")
        stage_a.serve()
        stage_b.serve()
        node = find(interface="scan", app=stage_b)
        assert node.info.providers == 2
        held = node.start(0)
        assert entered.wait(10)
        # the agent holding scan(0) has no free slot: every other call goes to the other one
        others = {call(node, i) for i in range(1, 6)}
        assert len(others) == 1 and not held.done
        release.set()
        assert {held.result(timeout=10)} | others == {"a", "b"}


def test_a_cancelled_sync_function_stops_at_its_next_progress() -> None:
    stopped = threading.Event()
    with local("cooperative") as app:

        @app.register(locks=["stage"])
        def long_move() -> None:
            """Move for a long time, reporting progress (where a cancellation stops it)."""
            try:
                for i in range(1000):
                    progress(i // 10)
                    time.sleep(0.01)
            finally:
                stopped.set()

        @app.register(locks=["stage"])
        def where() -> int:
            """Needs the stage too."""
            return 1

        app.serve()
        node = find(interface="long_move")
        running = node.start()
        wait_until(lambda: running.status == "progress", "the move running")
        running.cancel()
        assert stopped.wait(5)
        with pytest.raises(CallCancelledError):
            running.result(timeout=5)
        assert call(find(interface="where")) == 1  # the lock is free again
