"""Issue 11, fault tests: an agent process killed (SIGKILL) while it serves calls.

A killed process cannot say goodbye: the server learns it from the dropped socket (or the
missing heartbeats). Every call it was running ends for its caller with ``AgentLostError``
once the reconnect grace has passed (2 s here), a generator mid-stream included, and the stored
record says ``lost``; another agent's calls in flight at that moment are not touched; a new
process of the same app serves the same functions again. (``test_rpc_processes`` checks a
single plain call; this module the rest of the picture.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import ROOT, AgentProcess, TestServer, start_agent, wait_for

from arkitekt import AgentLostError, find, iterate

WORKER = ROOT / "tests" / "agents" / "worker.py"


def _worker(server: TestServer, tmp_path: Path, name: str) -> AgentProcess:
    agent = start_agent(
        WORKER,
        server=server,
        tmp_path=tmp_path,
        name=f"{name}-{time.monotonic_ns()}",
        env={"WORKER_NAME": name, "WORKER_APP": f"crash-{name}"},
    )
    agent.wait_for_output(f"ready {name}")
    return agent


def _stored_status(server: TestServer, token: str, call_id: str) -> Any:
    answer = httpx.post(
        f"{server.url}/rekuest/graphql",
        json={
            "query": "query ($id: ID!) { assignation(id: $id) { status } }",
            "variables": {"id": call_id},
        },
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    found = answer.json()["data"]["assignation"]
    return None if found is None else found["status"]


def test_calls_on_a_killed_agent_end_as_lost_and_others_go_on(
    agent_server: TestServer, tmp_path: Path
) -> None:
    doomed = _worker(agent_server, tmp_path, "doomed")
    steady = _worker(agent_server, tmp_path, "steady")
    try:
        with agent_server.app("alice", "agent-crash-caller") as app:
            token = str(app.fakts.client.loaded_token)
            plain = find(interface="slow_doomed", app=app).start(60.0)
            stream = find(interface="ticks_doomed", app=app)
            other = find(interface="slow_steady", app=app).start(4.0)
            received: list[int] = []
            started = time.monotonic()
            with pytest.raises(AgentLostError):
                for value in iterate(stream, 1000, 0.05, app=app):
                    received.append(value)
                    if len(received) == 5:
                        doomed.kill()  # mid-stream, while the plain call runs too
            assert 5 <= len(received) < 20, received
            with pytest.raises(AgentLostError) as caught:
                plain.result(timeout=30)
            assert "did not come back" in str(caught.value)
            assert time.monotonic() - started < 20
            assert other.result(timeout=30) == "finished"  # the other agent's call went on
            wait_for(
                lambda: _stored_status(agent_server, token, str(plain.id)) == "lost",
                10,
                "the plain call stored as lost",
            )
            assert _stored_status(agent_server, token, str(other.id)) == "done"

            again = _worker(agent_server, tmp_path, "doomed")  # a new process of the same app
            try:
                assert list(iterate(stream, 3, 0.0, app=app)) == [0, 1, 2]
                assert find(interface="slow_doomed", app=app)(0.1) == "finished"
            finally:
                again.stop()
    finally:
        steady.stop()
        if doomed.process.poll() is None:
            doomed.stop()
