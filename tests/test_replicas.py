"""Several replicas of one server (issue 12): ``arkitekt server`` processes on one PostgreSQL
and one Redis, behind a round-robin proxy (tests/replicas.py). An agent connected to one
replica serves callers connected to another; every feature of a call crosses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from replicas import Replicas
from servers import FAST_RPC, PASSWORD, ROOT, AgentProcess, start_agent, wait_for

from arkitekt import (
    ArkitektError,
    RemoteError,
    acall,
    afind,
    call,
    easy,
    find,
    get_state,
    iterate,
    watch_state,
)

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


def test_agent_state_crosses_replicas(cluster: Replicas, worker_on_a: Path) -> None:
    """The agent on A publishes its state; a watcher on B reads and follows it."""
    with cluster.servers[1].app("alice", "state-watcher-on-b"):
        node = find(interface="tally")
        before = get_state(node, "Tally")["calls"]
        seen: list[int] = []
        for value in watch_state(node, "Tally"):
            seen.append(value["calls"])
            if len(seen) == 1:
                assert call(node) == before + 1
            if value["calls"] == before + 1:
                break
        assert seen == [before, before + 1]


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


def test_reservations_cross_replicas(cluster: Replicas, worker_on_a: Path, tmp_path: Path) -> None:
    with cluster.servers[1].app("alice", "reserver-on-b"):
        add = find(interface="add")
        with add:
            assert add.reservation is not None
            assert [add.assign(i) for i in range(5)] == [1, 2, 3, 4, 5]
        assert add.reservation is None
        # a reservation on B holds a call until an agent connects to A
        late = start_agent(
            WORKER,
            server=cluster.servers[0],
            tmp_path=tmp_path,
            name="late",
            env={"WORKER_NAME": "late", "WORKER_APP": "late", "WORKER_MARK": str(tmp_path / "m")},
        )
        late.wait_for_output("ready")
        node = find(interface="slow_late")
        late.stop()
        wait_for(lambda: find(interface="slow_late").info.providers == 0, 15, "the agent gone")
        with node:
            again = start_agent(
                WORKER,
                server=cluster.servers[0],
                tmp_path=tmp_path,
                name="late2",
                env={"WORKER_NAME": "late", "WORKER_APP": "late", "WORKER_MARK": str(tmp_path)},
            )
            try:
                assert node(0.1) == "finished"  # queued on B until the agent connected to A
            finally:
                again.stop()


def test_sharing_changed_on_one_replica_holds_on_the_other(
    cluster: Replicas, worker_on_a: Path
) -> None:
    a, b = cluster.servers
    b.add_user("bob")
    bob = easy("bobs-app", url=b.url, mandate_key=b.key("bob"), no_cache=True)
    with easy("worker", url=a.url, mandate_key=a.key("alice"), no_cache=True) as owner:
        assert owner.rpc.share("add", users=["bob"]) == ["bob"]  # through A
        with bob:
            add = find(interface="add", owner="alice")  # on B
            assert add(1, b=2) == 3
            assert owner.rpc.unshare("add", users=["bob"]) == []  # through A
            with pytest.raises(ArkitektError, match="no connected agent"):
                add(1, b=2)  # refused on B at once, with the node bob still holds


def test_a_session_revoked_on_one_replica_is_refused_on_the_other(cluster: Replicas) -> None:
    a, b = cluster.servers
    # one Host for both, as behind a load balancer: tokens name the origin they were issued at
    host = {"host": cluster.url.removeprefix("http://")}
    session = httpx.post(
        f"{a.url}/f/token/",
        headers=host,
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": "revoked-on-a", "version": "1"}),
        },
        timeout=30,
    ).json()
    token = session["access_token"]

    def on_b() -> int:
        return httpx.post(
            f"{b.url}/rekuest/graphql",
            json={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {token}", **host},
            timeout=30,
        ).status_code

    assert on_b() == 200
    revoked = httpx.post(
        f"{a.url}/f/revoke/",
        headers=host,
        data={"token": session["refresh_token"], "client_id": session["client_id"]},
        timeout=30,
    )
    assert revoked.status_code == 200
    wait_for(lambda: on_b() == 401, 10, "B to refuse the revoked session")  # session_check_ttl


def test_password_limits_hold_across_replicas(cluster: Replicas) -> None:
    """Wrong passwords count on every replica together (their Redis), not per replica."""
    a, b = cluster.servers
    answers = []
    for i in range(12):  # password_failures_per_user_ip: 10/minute
        server = (a, b)[i % 2]
        answers.append(
            httpx.post(
                f"{server.url}/f/token/",
                data={
                    "grant_type": "password",
                    "username": "carol-unknown",
                    "password": "wrong",
                    "manifest": json.dumps({"identifier": "guess", "version": "1"}),
                },
                timeout=30,
            ).status_code
        )
    assert answers[:10] == [400] * 10
    assert 429 in answers[10:]
