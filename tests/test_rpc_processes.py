"""Remote functions across processes: a real server subprocess, real agent subprocesses, and
this process as the caller (sync and async)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_helpers import ROOT, CuttableProxy, RpcServer, rpc_server, start_agent, wait_for

from arkitekt import (
    AgentLostError,
    ArgumentError,
    NodeNotFoundError,
    NoProviderError,
    RemoteCancelledError,
    RemoteError,
    acall,
    afind,
    aiterate,
    call,
    easy,
    find,
    iterate,
)

WORKER = ROOT / "tests" / "agents" / "worker.py"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcServer]:
    with rpc_server(tmp_path_factory.mktemp("rpc-server")) as running:
        running.keys = {"alice": running.add_user("alice"), "bob": running.add_user("bob")}  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def worker(server: RpcServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    tmp = tmp_path_factory.mktemp("worker")
    agent = start_agent(
        WORKER,
        url=server.url,
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp,
        name="worker",
        env={"WORKER_MARK": str(tmp / "mark")},
    )
    wait_for(lambda: "ready" in agent.output(), 60, f"agent ready:\n{agent.output()}")
    agent.mark = tmp / "mark"  # type: ignore[attr-defined]
    yield agent
    agent.stop()


def alice(server: RpcServer, name: str = "caller") -> object:
    return easy(name, url=server.url, mandate_key=server.keys["alice"])  # type: ignore[attr-defined]


def test_sync_calls_generators_and_reservations(server: RpcServer, worker: object) -> None:
    with alice(server):
        add = find(interface="add")
        assert add.name == "add" and [p.key for p in add.definition.args] == ["a", "b"]
        assert call(add, 2, b=3) == 5
        assert add(40) == 41  # the default of b applies
        assert list(iterate(find(interface="count"), 4)) == [0, 1, 2, 3]
        assert list(iterate(find(interface="acount"), 3)) == [0, 1, 2]
        with add:
            assert add.reservation is not None
            assert [add.assign(i) for i in range(5)] == [1, 2, 3, 4, 5]
        assert add.reservation is None


async def test_async_calls(server: RpcServer, worker: object) -> None:
    async with alice(server, "async-caller"):
        add = await afind(interface="add")
        results = await asyncio.gather(*(acall(add, i, b=i) for i in range(50)))
        assert results == [2 * i for i in range(50)]
        assert [x async for x in aiterate(await afind(interface="count"), 3)] == [0, 1, 2]


def test_remote_exception_has_type_message_and_traceback(server: RpcServer, worker: object) -> None:
    with alice(server):
        with pytest.raises(RemoteError) as caught:
            call(find(interface="fail"), "broken on purpose")
    error = caught.value
    assert isinstance(error, ValueError)  # a remote ValueError is caught as one
    assert error.remote_type == "builtins.ValueError"
    assert error.remote_message == "broken on purpose"
    assert "raise ValueError(message)" in error.remote_traceback
    assert "worker.py" in str(error)


def test_bad_arguments_are_refused_before_sending(server: RpcServer, worker: object) -> None:
    with alice(server):
        add = find(interface="add")
        with pytest.raises(ArgumentError) as caught:
            add("two")
        assert caught.value.port == "a"
        with pytest.raises(ArgumentError):
            add(1, c=2)
        with pytest.raises(ArgumentError):
            add()


def test_progress_and_log_reach_the_caller(
    server: RpcServer, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="arkitekt.remote")
    with alice(server):
        assert call(find(interface="chatty"), 3) == "done"
    lines = [r.getMessage() for r in caplog.records if r.name == "arkitekt.remote"]
    assert "chatty: did step 1" in lines and "chatty: did step 3" in lines
    assert any("100%" in line and "step 3" in line for line in lines)


async def test_cancelling_the_caller_cancels_the_remote_call(
    server: RpcServer, worker: object
) -> None:
    async with alice(server, "canceller"):
        node = await afind(interface="aslow")
        task = asyncio.create_task(acall(node, 30.0))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        mark: Path = worker.mark  # type: ignore[attr-defined]
        await asyncio.to_thread(wait_for, mark.exists, 10, "the function saw CancelledError")
        assert mark.read_text() == "cancelled"
        # the agent is still serving
        assert await acall(await afind(interface="add"), 1) == 2


async def test_cancelling_a_sync_function_at_its_check(server: RpcServer, worker: object) -> None:
    async with alice(server, "canceller"):
        node = await afind(interface="slow")
        started = time.monotonic()
        task = asyncio.create_task(acall(node, 30.0))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 5
        assert await acall(await afind(interface="add"), 2) == 3


def test_calls_from_inside_a_function_are_children(server: RpcServer, worker: object) -> None:
    with alice(server):
        assert call(find(interface="nested"), 1) == 101


async def test_cancelling_a_parent_cancels_its_child_calls(
    server: RpcServer, worker: object
) -> None:
    mark: Path = worker.mark  # type: ignore[attr-defined]
    mark.unlink(missing_ok=True)
    async with alice(server, "canceller"):
        task = asyncio.create_task(acall(await afind(interface="parent_of_aslow"), 30.0))
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(wait_for, mark.exists, 10, "the child to see the cancellation")
        assert mark.read_text() == "cancelled"


def test_another_user_cannot_see_or_call_a_private_function(
    server: RpcServer, worker: object
) -> None:
    with alice(server):
        node_id = find(interface="add").id
    with easy("bobs-app", url=server.url, mandate_key=server.keys["bob"]):  # type: ignore[attr-defined]
        with pytest.raises(NodeNotFoundError):
            find(interface="add")
        with pytest.raises(NodeNotFoundError):
            find(node_id=node_id)


def test_sharing_a_function_with_another_user(server: RpcServer, worker: object) -> None:
    bob = easy("bobs-app", url=server.url, mandate_key=server.keys["bob"])  # type: ignore[attr-defined]
    # only the app serving a function may share it: here, alice's "worker" app
    with easy("worker", url=server.url, mandate_key=server.keys["alice"]) as owner:  # type: ignore[attr-defined]
        assert owner.rpc.share("add", users=["bob"]) == ["bob"]
        with bob:
            add = find(interface="add")
            assert add(1, b=2) == 3
        assert owner.rpc.unshare("add", users=["bob"]) == []
        with bob, pytest.raises(NodeNotFoundError):
            find(interface="add")
        with pytest.raises(NodeNotFoundError, match="no such user"):
            owner.rpc.share("add", users=["nobody"])
        with pytest.raises(TypeError, match="list of usernames"):
            owner.rpc.share("add", users="bob")
    with alice(server, "not-the-owner"), pytest.raises(NodeNotFoundError, match="no function"):
        from arkitekt import get_current_app

        get_current_app().rpc.share("add", everyone=True)


def test_the_example_pair(server: RpcServer, tmp_path: Path) -> None:
    # as bob: his only agent is the example (alice's worker also has a `count`)
    agent = start_agent(
        ROOT / "examples" / "agent.py",
        url=server.url,
        key=server.keys["bob"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="example-agent",
    )
    try:

        def caller_output() -> str | None:
            done = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "caller.py")],
                env={
                    **os.environ,
                    "ARKITEKT_URL": server.url,
                    "ARKITEKT_MANDATE_KEY": server.keys["bob"],  # type: ignore[attr-defined]
                    "ARKITEKT_CACHE_DIR": str(tmp_path / "caller-cache"),
                },
                capture_output=True,
                text=True,
                timeout=60,
            )
            return done.stdout if done.returncode == 0 else None

        out = wait_for(caller_output, 60, f"the caller example to succeed:\n{agent.output()}")
        assert out.splitlines() == [
            "Hello world! Hello world!",
            "0",
            "1",
            "2",
            "3",
            "4",
            "Hello johannes!",
        ]
    finally:
        assert agent.stop() in (0, 130, -2), agent.output()


def test_agent_killed_mid_call_gives_agent_lost(server: RpcServer, tmp_path: Path) -> None:
    agent = start_agent(
        WORKER,
        url=server.url,
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="doomed",
        env={"WORKER_APP": "doomed", "WORKER_NAME": "doomed", "WORKER_MARK": str(tmp_path / "m")},
    )
    wait_for(lambda: "ready" in agent.output(), 60, "agent ready")
    with alice(server):
        node = find(interface="slow_doomed")
        threading.Timer(1.0, agent.kill).start()
        started = time.monotonic()
        with pytest.raises(AgentLostError) as caught:
            call(node, 60.0)
        # the reconnect grace is 2 s here; allow for a slow machine
        assert time.monotonic() - started < 15
        assert "did not come back" in str(caught.value)
        with pytest.raises(NoProviderError):
            call(node, 1.0)


def test_two_agents_share_the_work_and_fail_over(server: RpcServer, tmp_path: Path) -> None:
    agents = {
        name: start_agent(
            WORKER,
            url=server.url,
            key=server.keys["alice"],  # type: ignore[attr-defined]
            tmp_path=tmp_path,
            name=name,
            env={"WORKER_APP": "pair", "WORKER_NAME": name, "WORKER_MARK": str(tmp_path / name)},
        )
        for name in ("left", "right")
    }
    try:
        for agent in agents.values():
            wait_for(lambda a=agent: "ready" in a.output(), 60, "agents ready")
        with alice(server):
            whoami = find(interface="whoami")
            with whoami:
                seen = {whoami() for _ in range(30)}
                assert {"left", "right"} <= seen
                agents["left"].kill()
                # a killed process closes its socket: the server stops routing to it at once
                wait_for(lambda: all(whoami() != "left" for _ in range(10)), 10, "failover")
                assert "left" not in {whoami() for _ in range(20)}
    finally:
        for agent in agents.values():
            if agent.process.poll() is None:
                agent.stop()


def test_a_reservation_waits_for_an_agent(server: RpcServer, tmp_path: Path) -> None:
    agent = start_agent(
        WORKER,
        url=server.url,
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="late",
        env={"WORKER_APP": "late", "WORKER_NAME": "late", "WORKER_MARK": str(tmp_path / "m")},
    )
    wait_for(lambda: "ready" in agent.output(), 60, "agent ready")
    with alice(server):
        node = find(interface="slow_late")
        agent.stop()
        wait_for(lambda: find(interface="slow_late").info.providers == 0, 10, "agent gone")
        with node:
            later = start_agent(
                WORKER,
                url=server.url,
                key=server.keys["alice"],  # type: ignore[attr-defined]
                tmp_path=tmp_path,
                name="late2",
                env={"WORKER_APP": "late", "WORKER_NAME": "late", "WORKER_MARK": "x"},
            )
            try:
                assert node(0.1) == "finished"  # queued until the new agent connected
            finally:
                later.stop()


def test_agent_and_caller_reconnect_after_a_server_restart(tmp_path: Path) -> None:
    with rpc_server(tmp_path / "server") as restarted:
        key = restarted.add_user("carol")
        agent = start_agent(
            WORKER,
            url=restarted.url,
            key=key,
            tmp_path=tmp_path,
            name="survivor",
            env={"WORKER_NAME": "survivor", "WORKER_MARK": str(tmp_path / "m")},
        )
        try:
            wait_for(lambda: "ready" in agent.output(), 60, "agent ready")
            with easy("restart-caller", url=restarted.url, mandate_key=key):
                add = find(interface="add")
                assert add(1) == 2
                restarted.stop()
                restarted.start()  # same port, same database

                def served() -> bool:
                    try:
                        return bool(add(2) == 3)
                    except NoProviderError:
                        return False  # the agent has not reconnected yet

                wait_for(served, 60, f"serving again after the restart:\n{agent.output()}")
            assert agent.process.poll() is None, "the agent must survive a server restart"
        finally:
            agent.stop()


def test_a_dropped_agent_link_resumes_and_the_call_completes(
    server: RpcServer, tmp_path: Path
) -> None:
    proxy = CuttableProxy(server.port)
    agent = start_agent(
        WORKER,
        url=proxy.url,  # the agent reaches the server through a link the test can cut
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="flaky",
        env={"WORKER_APP": "flaky", "WORKER_NAME": "flaky", "WORKER_MARK": str(tmp_path / "m")},
    )
    try:
        wait_for(lambda: "ready" in agent.output(), 60, "agent ready")
        with alice(server):
            node = find(interface="slow_flaky")
            # cut the link while the function runs; the agent reconnects within the grace
            # window, the server keeps the call, and the final report is re-sent if needed
            threading.Timer(0.5, proxy.cut).start()
            threading.Timer(1.2, proxy.cut).start()
            assert call(node, 2.0) == "finished"
            assert proxy.cuts == 2
            assert call(node, 0.1) == "finished"  # and it serves on
    finally:
        agent.stop()
        proxy.close()


def test_ctrl_c_in_a_sync_caller_cancels_the_remote_call(
    server: RpcServer, worker: object, tmp_path: Path
) -> None:
    mark: Path = worker.mark  # type: ignore[attr-defined]
    mark.unlink(missing_ok=True)
    script = tmp_path / "impatient.py"
    script.write_text(
        "from arkitekt import call, easy, find\n"
        "with easy('impatient'):\n"
        "    node = find(interface='aslow')\n"
        "    print('calling', flush=True)\n"
        "    try:\n"
        "        call(node, 60.0)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n"
        "        raise\n"
    )
    caller = start_agent(
        script,
        url=server.url,
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="impatient",
    )
    wait_for(lambda: "calling" in caller.output(), 60, "the caller to call")
    time.sleep(1.0)
    started = time.monotonic()
    caller.stop()  # SIGINT, waits for the process to end
    assert time.monotonic() - started < 10
    assert "interrupted" in caller.output()
    wait_for(mark.exists, 10, "the remote function to see the cancellation")
    assert mark.read_text() == "cancelled"


def test_an_agent_stopping_mid_call_tells_the_caller_at_once(
    server: RpcServer, tmp_path: Path
) -> None:
    agent = start_agent(
        WORKER,
        url=server.url,
        key=server.keys["alice"],  # type: ignore[attr-defined]
        tmp_path=tmp_path,
        name="leaving",
        env={"WORKER_APP": "leaving", "WORKER_NAME": "leaving", "WORKER_MARK": "x"},
    )
    wait_for(lambda: "ready" in agent.output(), 60, "agent ready")
    with alice(server):
        node = find(interface="slow_leaving")
        threading.Timer(1.0, agent.stop).start()  # Ctrl-C on the agent
        started = time.monotonic()
        with pytest.raises(RemoteCancelledError):
            call(node, 60.0)
        assert time.monotonic() - started < 8  # not the reconnect grace and a lost call
