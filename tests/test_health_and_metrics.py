"""Probes and metrics for operators (issue 12): ``/health/live``, ``/health/ready`` and
``/metrics`` in Prometheus' text format, on a real server that serves and calls functions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers import Servers, TestServer

from arkitekt import call, find, from_xarray

TOKEN = "scrape-me-0123456789"


def _samples(server: TestServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_live_and_ready_name_every_part(servers: Servers) -> None:
    server = servers.in_process()
    live = httpx.get(f"{server.url}/health/live")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = httpx.get(f"{server.url}/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "datalayer": "ok"}


def test_ready_is_503_naming_the_part_that_fails(servers: Servers) -> None:
    server = servers.in_process()
    folder = server.data_dir / "datalayer"
    shutil.move(folder, server.data_dir / "elsewhere")  # the datalayer's folder is gone
    ready = httpx.get(f"{server.url}/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["datalayer"] == "failed (PermissionError)"
    assert ready.json()["checks"]["database"] == "ok"
    assert str(server.data_dir) not in ready.text  # paths stay in the log
    shutil.move(server.data_dir / "elsewhere", folder)


def test_metrics_are_off_without_a_token(standalone: TestServer) -> None:
    answer = httpx.get(f"{standalone.url}/metrics")
    assert answer.status_code == 404
    assert "ARKITEKT_METRICS_TOKEN" in answer.text


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_want_the_token(servers: Servers, header: str | None) -> None:
    server = servers.in_process(metrics_token=TOKEN)
    headers = {"authorization": header} if header is not None else {}
    answer = httpx.get(f"{server.url}/metrics", headers=headers)
    assert answer.status_code == 401
    assert "arkitekt_" not in answer.text


def test_metrics_count_calls_connections_graphql_and_uploads(servers: Servers) -> None:
    server = servers.in_process(users=("alice",), metrics_token=TOKEN)
    with server.app("alice") as app:

        @app.register
        def halve(x: float) -> float:
            if x < 0:
                raise ValueError("no negatives")
            return x / 2

        app.serve()
        node = find(interface="halve")
        assert [call(node, float(i)) for i in range(5)] == [0.0, 0.5, 1.0, 1.5, 2.0]
        with pytest.raises(Exception, match="no negatives"):
            call(node, -1.0)
        image = from_xarray(np.zeros((4, 8, 8), dtype=np.uint16), name="zeros", dims="zyx")
        assert image.id
        seen = _samples(server)
    assert seen[("arkitekt_calls_started_total", ())] == 6
    assert seen[("arkitekt_calls_finished_total", (("status", "done"),))] == 5
    assert seen[("arkitekt_calls_finished_total", (("status", "error"),))] == 1
    assert seen[("arkitekt_call_duration_seconds_count", (("status", "done"),))] == 5
    assert seen[("arkitekt_agents_connected", ())] == 1
    assert seen[("arkitekt_websocket_connections", ())] >= 1
    assert seen[("arkitekt_websocket_messages_total", (("direction", "in"),))] >= 12
    assert seen[("arkitekt_websocket_messages_total", (("direction", "out"),))] >= 12
    assert seen[("arkitekt_graphql_requests_total", (("api", "mikro"),))] >= 2  # upload, finish
    assert seen[("arkitekt_upload_bytes_total", (("kind", "image"),))] > 0
    assert ("arkitekt_recorder_backlog", ()) in seen
    after = _samples(server)
    assert after[("arkitekt_agents_connected", ())] == 0
    assert after[("arkitekt_websocket_connections", ())] == 0


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with TestServer.standalone(tmp_path / "data", log=log, log_format="json") as server:
        shutil.move(server.data_dir / "datalayer", tmp_path / "moved")
        assert httpx.get(f"{server.url}/health/ready").status_code == 503
        httpx.get(f"{server.url}/health/live")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    warning = next(line for line in lines if line["logger"] == "arkitekt.server.health")
    assert warning["level"] == "WARNING"
    assert "readiness: the datalayer failed" in warning["message"]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
