"""``arkitekt inspect / run / call / nodes / images`` through typer's runner and as real
subprocesses against a real server (an agent started with ``arkitekt run``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servers import TestServer, start_agent, wait_for
from typer.testing import CliRunner

from arkitekt.cli import app as cli_app

FUNCTIONS = '''
from collections.abc import Iterator

from arkitekt import register


@register
def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    return a + b


@register
def count(to: int) -> Iterator[int]:
    """Count from 1."""
    yield from range(1, to + 1)
'''


@pytest.fixture
def functions_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab_functions.py"
    path.write_text(FUNCTIONS)
    return path


def _arkitekt(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arkitekt.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_inspect_shows_definitions_without_connecting(functions_file: Path) -> None:
    done = _arkitekt(
        "inspect", str(functions_file), "--json", env={"ARKITEKT_URL": "http://127.0.0.1:9"}
    )
    assert done.returncode == 0, done.stderr
    found = {d["interface"]: d for d in json.loads(done.stdout)}
    assert set(found) == {"add", "count"}
    assert [p["key"] for p in found["add"]["args"]] == ["a", "b"]
    assert found["count"]["kind"] == "generator"

    table = _arkitekt("inspect", str(functions_file), env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "(a: int, b: int = 2) -> int" in table.stdout and "Add two numbers." in table.stdout


def test_inspect_refuses_what_it_cannot_load(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli_app, ["inspect", str(tmp_path / "nope.py")])
    assert missing.exit_code == 2 and "is not a Python file" in missing.output
    broken = tmp_path / "broken.py"
    broken.write_text("import does_not_exist\n")
    failed = runner.invoke(cli_app, ["inspect", str(broken)])
    assert failed.exit_code == 1 and "ModuleNotFoundError" in failed.output
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    nothing = runner.invoke(cli_app, ["inspect", str(empty)])
    assert nothing.exit_code == 1 and "registers no functions" in nothing.output


def test_run_serves_a_file_and_call_calls_it(
    agent_server: TestServer, functions_file: Path, tmp_path: Path
) -> None:
    env = {**agent_server.client_env("alice", tmp_path / "cache"), "COLUMNS": "200"}
    agent = start_agent(
        "-m", "arkitekt.cli", "run", functions_file, server=agent_server, tmp_path=tmp_path
    )
    try:
        wait_for(
            lambda: "add" in _arkitekt("nodes", "--json", env=env).stdout,
            timeout=60,
            what="the agent's functions",
        )
        listed = json.loads(_arkitekt("nodes", "--json", env=env).stdout)
        assert {n["name"] for n in listed} >= {"add", "count"}
        count = next(n for n in listed if n["name"] == "count")
        assert count["kind"] == "generator" and "-> stream of int" in count["signature"]
        done = _arkitekt("call", "add", "--arg", "a=40", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "42"
        streamed = _arkitekt("call", "count", "-a", "to=3", env=env)
        assert streamed.stdout.split() == ["1", "2", "3"]
        wrong = _arkitekt("call", "add", "--arg", "a=many", env=env)
        assert wrong.returncode == 1 and "a" in wrong.stderr
        unknown = _arkitekt("call", "nothing-like-this", env=env)
        assert unknown.returncode == 1 and "no function" in unknown.stderr
        agents = json.loads(_arkitekt("agents", "--json", env=env).stdout)
        # every command acts as one app (arkitekt-cli); the agent's instance is the file's name
        assert [(a["app"], a["instance"], a["online"]) for a in agents] == [
            ("arkitekt-cli", "lab_functions", True)
        ]
        calls = json.loads(_arkitekt("assignations", "--json", env=env).stdout)
        assert ("add", "done") in [(c["function"], c["status"]) for c in calls]
        assert ("count", "done") in [(c["function"], c["status"]) for c in calls]
        usage = _arkitekt("call", "add", "--arg", "oops", env=env)
        assert usage.returncode == 2 and "name=value" in usage.stderr
        scripted = _arkitekt(
            "shell", "-c", "print(call(find(interface='add'), 1, b=1), app.identifier)", env=env
        )
        assert scripted.returncode == 0, scripted.stderr
        assert scripted.stdout.split() == ["2", "arkitekt-cli"]
        prompt = subprocess.run(
            [sys.executable, "-m", "arkitekt.cli", "shell"],
            input="print(call(find(interface='add'), 20, b=1))\n",
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert prompt.returncode == 0, prompt.stderr
        assert "21" in prompt.stdout
    finally:
        agent.stop(20)  # Ctrl-C: the agent stops promptly and cleanly
    assert agent.process.returncode in (0, 130, -signal.SIGINT)


def test_run_dev_restarts_on_save(
    agent_server: TestServer, functions_file: Path, tmp_path: Path
) -> None:
    env = agent_server.client_env("alice", tmp_path / "cache")
    agent = start_agent(
        "-m",
        "arkitekt.cli",
        "run",
        "--dev",
        functions_file,
        server=agent_server,
        tmp_path=tmp_path,
        group=True,  # the watcher and the process it restarts: Ctrl-C reaches both
    )
    try:
        wait_for(
            lambda: _arkitekt("call", "add", "--arg", "a=1", env=env).stdout.strip() == "3",
            timeout=60,
            what="the first version",
        )
        functions_file.write_text(FUNCTIONS.replace("return a + b", "return a + b + 100"))
        wait_for(
            lambda: _arkitekt("call", "add", "--arg", "a=1", env=env).stdout.strip() == "103",
            timeout=60,
            what="the saved version",
        )
    finally:
        agent.stop(20)


def test_images_lists_what_you_may_see(agent_server: TestServer, tmp_path: Path) -> None:
    import numpy as np

    from arkitekt import easy, from_xarray

    key = agent_server.key("alice")
    with easy("cli-images", url=agent_server.url, mandate_key=key, no_cache=True):
        from_xarray(np.zeros((4, 4), "uint8"), name="listed", dims=["y", "x"], tags=["cli"])
    env = agent_server.client_env("alice", tmp_path / "cache")
    listed = json.loads(_arkitekt("images", "--json", env=env).stdout)
    assert [i["name"] for i in listed] == ["listed"]
    # JSON is data: numbers and lists, not the table's text
    assert listed[0]["tags"] == ["cli"] and listed[0]["shape"] == [4, 4]
    assert listed[0]["dims"] == ["y", "x"] and listed[0]["dtype"] == "uint8"
    assert isinstance(listed[0]["size_bytes"], int)
    table = _arkitekt("images", env=env).stdout
    assert "(y: 4, x: 4)" in table
