"""Issue 11, finding 7: after a server crash, every call that was in flight ends.

The server is killed with SIGKILL while an agent process runs a slow call, then started again
on the same port and data. The agent and the caller reconnect on their own; the call ends for
its caller with its result when the agent still delivers it, or with a clear error within the
reconnect grace when the agent does not come back, and the stored record agrees.
"""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import FAST_RPC, ROOT, AgentProcess, TestServer, start_agent, wait_for

from arkitekt import AgentLostError, call, find

WORKER = ROOT / "tests" / "agents" / "worker.py"


def _worker(server: TestServer, tmp_path: Path, name: str) -> AgentProcess:
    agent = start_agent(
        WORKER, server=server, tmp_path=tmp_path, name=name, env={"WORKER_NAME": name}
    )
    agent.wait_for_output(f"ready {name}")
    return agent


def _stored_status(server: TestServer, call_id: str) -> str | None:
    with server.app("alice", "crash-inspector") as app:
        answer = httpx.post(
            f"{server.url}/rekuest/graphql",
            json={
                "query": "query ($id: ID!) { assignation(id: $id) { status } }",
                "variables": {"id": call_id},
            },
            headers={"authorization": f"Bearer {app.fakts.client.loaded_token}"},
            timeout=30,
        )
    found = answer.json()["data"]["assignation"]
    return None if found is None else str(found["status"])


def _crash_during(server: TestServer, seconds: float, node: Any) -> tuple[Any, str]:
    """Start ``node(seconds)``, kill -9 the server once it runs, start it again; returns what
    the call gave (its value or the exception) and its id."""
    outcome: dict[str, Any] = {}
    assignation = node.start(seconds)

    def follow() -> None:
        try:
            outcome["value"] = assignation.result(timeout=120)
        except BaseException as e:  # what the caller gets is the point of the test
            outcome["value"] = e

    follower = threading.Thread(target=contextvars.copy_context().run, args=(follow,))
    follower.start()
    time.sleep(1.5)  # it runs on the agent by now (callers are not told "assigned")
    server.kill()
    time.sleep(0.5)
    server.start()
    follower.join(90)
    assert not follower.is_alive(), "the caller is still waiting after the restart"
    return outcome["value"], str(assignation.id)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    # how long agents get to come back after the restart (their backoff grows while it is down)
    settings = {**FAST_RPC, "rpc_reconnect_grace": getattr(request, "param", 30)}
    with TestServer.standalone(tmp_path / "server", users=("alice",), **settings) as started:
        yield started


def test_a_call_survives_a_server_crash_when_its_agent_comes_back(
    server: TestServer, tmp_path: Path
) -> None:
    agent = _worker(server, tmp_path, "steady")
    try:
        with server.app("alice", "crash-caller") as app:
            node = find(interface="slow_steady", app=app)
            started = time.monotonic()
            value, call_id = _crash_during(server, 6.0, node)
            assert value == "finished"
            assert time.monotonic() - started < 60
            assert call(find(interface="add", app=app), 1, b=2) == 3  # and serving goes on
        wait_for(lambda: _stored_status(server, call_id) == "done", 10, "the record to agree")
    finally:
        agent.stop()


@pytest.mark.parametrize("server", [8], indirect=True)
def test_a_call_whose_agent_does_not_come_back_ends_as_lost(
    server: TestServer, tmp_path: Path
) -> None:
    agent = _worker(server, tmp_path, "doomed")
    with server.app("alice", "crash-caller") as app:
        node = find(interface="slow_doomed", app=app)
        threading.Timer(2.0, agent.kill).start()  # the agent dies while the server is down
        value, call_id = _crash_during(server, 30.0, node)
        assert isinstance(value, AgentLostError), value
        assert "restarted" in str(value)
    wait_for(lambda: _stored_status(server, call_id) == "lost", 10, "the record to agree")
