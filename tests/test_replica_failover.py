"""A replica killed mid-call (issue 12): the apps connected to it reconnect through the proxy
to a survivor, and the call ends with its result; nothing is run twice or left hanging.

Each test runs its own cluster of two ``arkitekt server`` processes (PostgreSQL + Redis), with
replicas noticing a stopped one within 2 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from replicas import RedisProcess, Replicas
from servers import FAST_RPC, PASSWORD, ROOT, AgentProcess, start_agent, wait_for

from arkitekt import call, easy, find

WORKER = ROOT / "tests" / "agents" / "worker.py"
TIMING = {**FAST_RPC, "replica_heartbeat": 0.5, "replica_dead_after": 2}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Replicas]:
    with Replicas(tmp_path / "cluster", 2, **TIMING) as replicas:
        yield replicas


def _worker(cluster: Replicas, tmp_path: Path, url: str) -> AgentProcess:
    agent = start_agent(
        WORKER,
        server=cluster.servers[0],
        tmp_path=tmp_path,
        name="worker",
        url=url,
        env={"WORKER_NAME": "w", "WORKER_MARK": str(tmp_path / "mark")},
    )
    try:
        agent.wait_for_output("ready")
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{cluster.logs()}") from None
    return agent


def _stored_status(cluster: Replicas, call_id: str) -> str:
    rows = cluster.servers[0].stored_rows(
        f"SELECT status FROM rpc_assignations WHERE id = '{call_id}'"
    )
    return str(rows[0][0]) if rows else "missing"


def _stored_as_done(cluster: Replicas, call_id: str) -> None:
    """The history is written behind the call: it is stored as done within a few seconds."""
    wait_for(lambda: _stored_status(cluster, call_id) == "done", 10, "the call stored as done")


def test_killing_the_callers_replica_mid_call(cluster: Replicas, tmp_path: Path) -> None:
    a, b = cluster.servers
    agent = _worker(cluster, tmp_path, a.url)  # the agent stays on A
    assert cluster.proxy is not None
    cluster.proxy.preferred = b.port  # the caller lands on B, and on A once B is gone
    try:
        with easy(
            "failover-caller", url=cluster.url, username="alice", password=PASSWORD, no_cache=True
        ):
            running = find(interface="slow").start(6.0)
            time.sleep(1.0)
            b.kill()
            started = time.monotonic()
            assert running.result(timeout=60) == "finished", cluster.logs()
            assert time.monotonic() - started < 30
            assert call(find(interface="add"), 1) == 2  # served through A now
            assert running.id is not None
            call_id = running.id
        _stored_as_done(cluster, call_id)
    finally:
        agent.stop()


def test_killing_the_agents_replica_mid_call(cluster: Replicas, tmp_path: Path) -> None:
    a, b = cluster.servers
    assert cluster.proxy is not None
    cluster.proxy.preferred = a.port  # the agent lands on A, and on B once A is gone
    agent = _worker(cluster, tmp_path, cluster.url)
    try:
        with b.app("alice", "caller-on-b"):  # the caller stays on B
            running = find(interface="slow").start(6.0)
            time.sleep(1.0)
            a.kill()
            assert running.result(timeout=60) == "finished", cluster.logs()
            assert call(find(interface="add"), 2) == 3
            assert running.id is not None
            call_id = running.id
        _stored_as_done(cluster, call_id)
    finally:
        agent.stop()


def test_redis_restarted_mid_call(tmp_path: Path) -> None:
    with (
        RedisProcess() as redis_server,
        Replicas(tmp_path / "cluster", 2, redis_url=redis_server.url, **TIMING) as cluster,
    ):
        a, b = cluster.servers
        agent = _worker(cluster, tmp_path, a.url)
        try:
            with b.app("alice", "caller-on-b"):
                add = find(interface="add")
                assert add(1) == 2
                running = find(interface="slow").start(5.0)
                time.sleep(1.0)
                redis_server.restart()  # empty: inboxes, call homes, heartbeats are gone
                assert running.result(timeout=60) == "finished", cluster.logs()
                assert add(2) == 3  # across the replicas again
                assert running.id is not None
                call_id = running.id
            _stored_as_done(cluster, call_id)
        finally:
            agent.stop()
