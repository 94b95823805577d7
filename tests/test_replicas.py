"""Several replicas of one server (issue 12): ``arkitekt server`` processes on one PostgreSQL
and one Redis, behind a round-robin proxy (tests/replicas.py). An agent connected to one
replica serves callers connected to another; every feature of a call crosses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from replicas import Replicas
from servers import FAST_RPC, PASSWORD, ROOT, AgentProcess, start_agent, wait_for

from arkitekt import RemoteError, acall, afind, call, easy, find, iterate

WORKER = ROOT / "tests" / "agents" / "worker.py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with Replicas(tmp_path_factory.mktemp("replicas"), 2, **FAST_RPC) as replicas:
        yield replicas


@pytest.fixture(scope="module")
def worker_on_a(cluster: Replicas, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The worker agent, connected to replica A (not through the proxy); its mark file."""
    tmp = tmp_path_factory.mktemp("worker-a")
    agent = start_agent(
        WORKER,
        server=cluster.servers[0],
        tmp_path=tmp,
        name="worker-a",
        env={"WORKER_NAME": "a", "WORKER_MARK": str(tmp / "mark")},
    )
    try:
        agent.wait_for_output("ready")
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{cluster.logs()}") from None
    yield tmp / "mark"
    _stop(agent)


def _stop(agent: AgentProcess) -> None:
    agent.stop()


def test_a_call_crosses_replicas(cluster: Replicas, worker_on_a: Path) -> None:
    b = cluster.servers[1]
    with b.app("alice", "caller-on-b"):
        add = find(interface="add")
        assert add(2, b=3) == 5
        assert [add(i) for i in range(20)] == list(range(1, 21))
        assert call(find(interface="whoami")) == "a"


def test_generators_progress_and_errors_cross_replicas(
    cluster: Replicas, worker_on_a: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="arkitekt.remote")
    with cluster.servers[1].app("alice", "caller-on-b"):
        assert list(iterate(find(interface="count"), 5)) == [0, 1, 2, 3, 4]
        assert call(find(interface="chatty"), 3) == "done"
        with pytest.raises(RemoteError, match="boom"):
            call(find(interface="fail"), "boom")
    lines = [r.getMessage() for r in caplog.records if r.name == "arkitekt.remote"]
    assert "chatty: did step 3" in lines


async def test_cancelling_crosses_replicas(cluster: Replicas, worker_on_a: Path) -> None:
    worker_on_a.unlink(missing_ok=True)
    async with cluster.servers[1].app("alice", "canceller-on-b"):
        node = await afind(interface="aslow")
        task = asyncio.create_task(acall(node, 30.0))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(wait_for, worker_on_a.exists, 10, "the function saw the cancel")
        assert worker_on_a.read_text() == "cancelled"
        assert await acall(await afind(interface="add"), 1) == 2


def test_child_calls_cross_replicas(cluster: Replicas, worker_on_a: Path) -> None:
    with cluster.servers[1].app("alice", "parent-caller-on-b"):
        assert call(find(interface="nested"), 1) == 101


def test_calls_through_the_proxy(cluster: Replicas, worker_on_a: Path) -> None:
    started = time.monotonic()
    for i in range(4):  # each app lands on the next replica
        with easy(
            f"through-proxy-{i}",
            url=cluster.url,
            username="alice",
            password=PASSWORD,
            no_cache=True,
        ):
            assert call(find(interface="add"), i) == i + 1
    assert time.monotonic() - started < 60
