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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rpc_helpers import CuttableProxy
from servers import FAST_RPC, ROOT, AgentProcess, TestServer, start_agent, wait_for

from arkitekt import (
    AgentLostError,
    App,
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    data_dir = tmp_path_factory.mktemp("rpc-server")
    with TestServer.standalone(data_dir, users=("alice", "bob"), **FAST_RPC) as running:
        yield running


@dataclass
class Worker:
    """The module's agent (tests/agents/worker.py, as alice) and the file its functions mark."""

    agent: AgentProcess
    mark: Path


def start_worker(
    server: TestServer,
    tmp_path: Path,
    name: str,
    *,
    app: str | None = None,
    instance: str | None = None,
    **kwargs: Any,
) -> AgentProcess:
    """tests/agents/worker.py as alice (unless ``user=``): the app ``app`` (default "worker"),
    agent ``instance`` (default ``name``, which also names its ``slow_<instance>``); a
    cancelled ``aslow`` writes tmp_path/<name>.mark."""
    env = {"WORKER_NAME": instance or name, "WORKER_MARK": str(tmp_path / f"{name}.mark")}
    if app is not None:
        env["WORKER_APP"] = app
    return start_agent(WORKER, server=server, tmp_path=tmp_path, name=name, env=env, **kwargs)


@pytest.fixture(scope="module")
def worker(server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp = tmp_path_factory.mktemp("worker")
    agent = start_worker(server, tmp, "worker")
    agent.wait_for_output("ready")
    yield Worker(agent=agent, mark=tmp / "worker.mark")
    agent.stop()


def alice(server: TestServer, name: str = "caller") -> App:
    return easy(name, url=server.url, mandate_key=server.key("alice"))


def test_sync_calls_generators_and_reservations(server: TestServer, worker: Worker) -> None:
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


async def test_async_calls(server: TestServer, worker: Worker) -> None:
    async with alice(server, "async-caller"):
        add = await afind(interface="add")
        results = await asyncio.gather(*(acall(add, i, b=i) for i in range(50)))
        assert results == [2 * i for i in range(50)]
        assert [x async for x in aiterate(await afind(interface="count"), 3)] == [0, 1, 2]


def test_remote_exception_has_type_message_and_traceback(
    server: TestServer, worker: Worker
) -> None:
    with alice(server):
        with pytest.raises(RemoteError) as caught:
            call(find(interface="fail"), "broken on purpose")
    error = caught.value
    assert isinstance(error, ValueError)  # a remote ValueError is caught as one
    assert error.remote_type == "builtins.ValueError"
    assert error.remote_message == "broken on purpose"
    assert "raise ValueError(message)" in error.remote_traceback
    assert "worker.py" in str(error)


def test_bad_arguments_are_refused_before_sending(server: TestServer, worker: Worker) -> None:
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
    server: TestServer, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="arkitekt.remote")
    with alice(server):
        assert call(find(interface="chatty"), 3) == "done"
    lines = [r.getMessage() for r in caplog.records if r.name == "arkitekt.remote"]
    assert "chatty: did step 1" in lines and "chatty: did step 3" in lines
    assert any("100%" in line and "step 3" in line for line in lines)


async def test_cancelling_the_caller_cancels_the_remote_call(
    server: TestServer, worker: Worker
) -> None:
    async with alice(server, "canceller"):
        node = await afind(interface="aslow")
        task = asyncio.create_task(acall(node, 30.0))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        mark: Path = worker.mark
        await asyncio.to_thread(wait_for, mark.exists, 10, "the function saw CancelledError")
        assert mark.read_text() == "cancelled"
        # the agent is still serving
        assert await acall(await afind(interface="add"), 1) == 2


async def test_cancelling_a_sync_function_at_its_check(server: TestServer, worker: Worker) -> None:
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


def test_calls_from_inside_a_function_are_children(server: TestServer, worker: Worker) -> None:
    with alice(server):
        assert call(find(interface="nested"), 1) == 101


async def test_cancelling_a_parent_cancels_its_child_calls(
    server: TestServer, worker: Worker
) -> None:
    mark: Path = worker.mark
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
    server: TestServer, worker: Worker
) -> None:
    with alice(server):
        node_id = find(interface="add").id
    with easy("bobs-app", url=server.url, mandate_key=server.key("bob")):
        with pytest.raises(NodeNotFoundError):
            find(interface="add")
        with pytest.raises(NodeNotFoundError):
            find(node_id=node_id)


def test_sharing_a_function_with_another_user(server: TestServer, worker: Worker) -> None:
    bob = easy("bobs-app", url=server.url, mandate_key=server.key("bob"))
    # only the app serving a function may share it: here, alice's "worker" app
    with easy("worker", url=server.url, mandate_key=server.key("alice")) as owner:
        assert owner.rpc.share("add", users=["bob"]) == ["bob"]
        with bob:
            with pytest.raises(NodeNotFoundError, match="owner='alice'"):
                find(interface="add")  # alice's is hers: bob names her to call it
            add = find(interface="add", owner="alice")
            assert add.owners == ["alice"]
            assert add(1, b=2) == 3
        assert owner.rpc.unshare("add", users=["bob"]) == []
        with bob, pytest.raises(NodeNotFoundError):
            find(interface="add", owner="alice")
        with pytest.raises(NodeNotFoundError, match="no such user"):
            owner.rpc.share("add", users=["nobody"])
        with pytest.raises(TypeError, match="list of usernames"):
            owner.rpc.share("add", users="bob")
    with alice(server, "not-the-owner"), pytest.raises(NodeNotFoundError, match="no function"):
        from arkitekt import get_current_app

        get_current_app().rpc.share("add", everyone=True)


def test_the_example_pair(server: TestServer, tmp_path: Path) -> None:
    # as bob: his only agent is the example (alice's worker also has a `count`)
    agent = start_agent(
        ROOT / "examples" / "agent.py",
        server=server,
        user="bob",
        tmp_path=tmp_path,
        name="example-agent",
    )
    try:

        def caller_output() -> str | None:
            done = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "caller.py")],
                env={**os.environ, **server.client_env("bob", tmp_path / "caller-cache")},
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


def test_agent_killed_mid_call_gives_agent_lost(server: TestServer, tmp_path: Path) -> None:
    agent = start_worker(server, tmp_path, "doomed", app="doomed")
    agent.wait_for_output("ready")
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


def test_two_agents_share_the_work_and_fail_over(server: TestServer, tmp_path: Path) -> None:
    agents = {name: start_worker(server, tmp_path, name, app="pair") for name in ("left", "right")}
    try:
        for agent in agents.values():
            agent.wait_for_output("ready")
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


def test_a_reservation_waits_for_an_agent(server: TestServer, tmp_path: Path) -> None:
    agent = start_worker(server, tmp_path, "late", app="late")
    agent.wait_for_output("ready")
    with alice(server):
        node = find(interface="slow_late")
        agent.stop()
        wait_for(lambda: find(interface="slow_late").info.providers == 0, 10, "agent gone")
        with node:
            later = start_worker(server, tmp_path, "late2", app="late", instance="late")
            try:
                assert node(0.1) == "finished"  # queued until the new agent connected
            finally:
                later.stop()


def test_agent_and_caller_reconnect_after_a_server_restart(tmp_path: Path) -> None:
    with TestServer.standalone(tmp_path / "server", users=("carol",), **FAST_RPC) as restarted:
        key = restarted.key("carol")
        agent = start_worker(restarted, tmp_path, "survivor", user="carol")
        try:
            agent.wait_for_output("ready")
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
    server: TestServer, tmp_path: Path
) -> None:
    proxy = CuttableProxy(server.port)
    # the agent reaches the server through a link the test can cut
    agent = start_worker(server, tmp_path, "flaky", app="flaky", url=proxy.url)
    try:
        agent.wait_for_output("ready")
        with alice(server):
            node = find(interface="slow_flaky")
            # cut the link while the function runs; the agent reconnects within the grace
            # window, the server keeps the call, and the final report is re-sent if needed
            threading.Timer(0.5, proxy.cut).start()
            threading.Timer(1.2, proxy.cut).start()
            assert call(node, 2.0) == "finished"
            assert proxy.cuts == 2
            assert call(node, 0.1) == "finished"  # and it serves on
        # the agent's log tells of each drop and of each return, once
        log = agent.output()
        assert log.count("link down") == log.count("link back") >= 1, log
    finally:
        agent.stop()
        proxy.close()


def test_ctrl_c_in_a_sync_caller_cancels_the_remote_call(
    server: TestServer, worker: Worker, tmp_path: Path
) -> None:
    mark: Path = worker.mark
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
        server=server,
        tmp_path=tmp_path,
        name="impatient",
    )
    caller.wait_for_output("calling")
    time.sleep(1.0)
    started = time.monotonic()
    caller.stop()  # SIGINT, waits for the process to end
    assert time.monotonic() - started < 10
    assert "interrupted" in caller.output()
    wait_for(mark.exists, 10, "the remote function to see the cancellation")
    assert mark.read_text() == "cancelled"


def test_an_agent_stopping_mid_call_tells_the_caller_at_once(
    server: TestServer, tmp_path: Path
) -> None:
    agent = start_worker(server, tmp_path, "leaving", app="leaving")
    agent.wait_for_output("ready")
    with alice(server):
        node = find(interface="slow_leaving")
        threading.Timer(1.0, agent.stop).start()  # Ctrl-C on the agent
        started = time.monotonic()
        with pytest.raises(RemoteCancelledError):
            call(node, 60.0)
        assert time.monotonic() - started < 8  # not the reconnect grace and a lost call
