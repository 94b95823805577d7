"""examples/instrument.py as a real agent process (a simulated stage and camera), called from
this process: locks, state, hooks, and Ctrl-C at start-up and in the middle of a move."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import FAST_RPC, ROOT, TestServer, start_agent, wait_for

from arkitekt import App, CallCancelledError, RemoteError, call, easy, find, get_state, watch_state

EXAMPLE = ROOT / "examples" / "instrument.py"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    data_dir = tmp_path_factory.mktemp("instrument-server")
    with TestServer.standalone(data_dir, users=("alice",), **FAST_RPC) as running:
        yield running


def scope_user(server: TestServer) -> App:
    return easy("scope-user", url=server.url, mandate_key=server.key("alice"))


def found(interface: str) -> Any:
    """The function once the agent registered it (it does after its start-up hooks)."""

    def attempt() -> Any:
        try:
            node = find(interface=interface)
        except Exception:
            return None
        return node if node.info.providers else None

    return wait_for(attempt, 60, f"{interface} served")


def test_the_instrument_example(server: TestServer, tmp_path: Path) -> None:
    agent = start_agent(EXAMPLE, server=server, tmp_path=tmp_path, name="instrument")
    try:
        agent.wait_for_output("instrument connected")
        with scope_user(server) as app:
            move, snap, segment = found("move"), found("snap"), found("segment")
            assert [port.key for port in move.definition.args] == ["x", "y", "speed"]
            assert tuple(move(100.0, 50.0)) == (100.0, 50.0)
            stage = get_state(move, "Stage")
            assert (stage["x"], stage["y"], stage["moves"], stage["busy"]) == (100, 50, 1, False)
            camera = get_state(snap, "Camera")
            assert camera["connected"] and camera["thread"].endswith("camera")

            frame = call(snap, exposure_ms=5.0)
            assert frame.data.shape == (64, 64)
            mask = call(segment, frame, threshold=0.5)
            assert set(mask.data.values.ravel().tolist()) <= {0, 1}

            # the stage lock: a snap waits (queued) while a move runs, and the move is
            # published while it runs
            moving = move.start(0.0, 0.0, speed=200.0)
            snapping = snap.start()
            wait_for(lambda: snapping.status == "queued", 10, "the snap queued behind the move")
            seen = []
            for value in watch_state(move, "Stage"):
                seen.append(value)
                if not value["busy"] and value["x"] == 0.0:
                    break
            assert any(v["busy"] for v in seen)
            assert tuple(moving.result(timeout=30)) == (0.0, 0.0)
            assert snapping.result(timeout=30).data.shape == (64, 64)
            assert get_state(snap, "Camera")["history"] == ["100.0,50.0", "0.0,0.0"]

            status = get_state(move, "arkitekt.agent")["background"]
            assert [entry["status"] for entry in status.values()] == ["running"]
            assert 20.0 < get_state(move, "Stage")["temperature"] < 22.0

            # Ctrl-C in the middle of a long move: the move is cancelled, the camera closed
            long_move = move.start(5000.0, 5000.0, speed=100.0)
            wait_for(lambda: long_move.status == "progress", 20, "the long move running")
            (instrument,) = [a for a in app.rpc.agents() if a.app == "instrument"]
            assert agent.stop() in (0, 130, -2), agent.output()
            with pytest.raises((CallCancelledError, RemoteError)):
                long_move.result(timeout=30)
            # published on the way out, and stored: readable after the agent left
            assert get_state(instrument.id, "Camera")["connected"] is False
            assert get_state(instrument.id, "Stage")["busy"] is False
        assert "instrument disconnected" in agent.output()
        assert "Traceback" not in agent.output(), agent.output()
    finally:
        agent.stop()


def test_ctrl_c_during_start_up_stops_at_once(server: TestServer, tmp_path: Path) -> None:
    agent = start_agent(
        EXAMPLE,
        server=server,
        tmp_path=tmp_path,
        name="warming",
        env={"INSTRUMENT_WARMUP": "60"},
    )
    agent.wait_for_output("instrument warming up")
    time.sleep(0.5)
    started = time.monotonic()
    assert agent.stop(timeout=15) in (0, 130, -2), agent.output()
    assert time.monotonic() - started < 10
    output = agent.output()
    assert "instrument connected" not in output
    assert "instrument disconnected" not in output  # startup never completed
    assert "Traceback" not in output, output
