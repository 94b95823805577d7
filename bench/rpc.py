"""Benchmark of remote functions. Prints a table; run with ``python bench/rpc.py``.

Caller (this process) -> standalone server (subprocess) -> agent (subprocess) -> back, on
loopback, all real:

- round trip of a no-op call, one at a time (async function on the agent, and a sync one);
- throughput of pipelined async calls from one caller;
- throughput with 8 caller processes at once;
- the server's resident memory with 200 idle agents connected.

Targets are from the issue; they are reported, not asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from core import free_port, percentile, rss_mib  # noqa: E402

from arkitekt import acall, afind, easy  # noqa: E402


def run(*args: str, data_dir: Path) -> str:
    env = {**os.environ, "ARKITEKT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "arkitekt.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {**os.environ, "ARKITEKT_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arkitekt.cli",
            "server",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


def start_agent(url: str, key: str, cache: Path, name: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ARKITEKT_URL": url,
        "ARKITEKT_MANDATE_KEY": key,
        "ARKITEKT_CACHE_DIR": str(cache),
        "AGENT_NAME": name,
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "rpc_agent.py")], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", line
    return process


async def latency(url: str, key: str, interface: str, calls: int) -> list[float]:
    async with easy("bench-caller", url=url, mandate_key=key):
        node = await afind(interface=interface)
        for _ in range(200):  # warm up
            await acall(node)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await acall(node)
            times.append(time.perf_counter() - started)
        return times


async def pipelined(url: str, key: str, seconds: float, window: int = 256) -> float:
    """Calls per second with ``window`` calls in flight at any time."""
    async with easy("bench-pipeline", url=url, mandate_key=key, instance_id=str(os.getpid())):
        node = await afind(interface="noop")
        for _ in range(100):
            await acall(node)
        done = 0
        deadline = time.perf_counter() + seconds

        async def lane() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await acall(node)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(window)))
        return done / (time.perf_counter() - started)


def concurrent_callers(url: str, key: str, cache: Path, callers: int, seconds: float) -> float:
    code = (
        "import asyncio, sys; sys.path.insert(0, sys.argv[1]);"
        "from rpc import pipelined;"
        "print(asyncio.run(pipelined(sys.argv[2], sys.argv[3], float(sys.argv[4]), 64)))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(HERE), url, key, str(seconds)],
            env={**os.environ, "ARKITEKT_CACHE_DIR": str(cache / f"c{i}")},
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(callers)
    ]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in processes)


async def idle_agents(url: str, key: str, count: int, server_pid: int) -> tuple[float, float]:
    from arkitekt import App

    before = rss_mib(server_pid)
    apps: list[App] = []
    try:
        for i in range(count):
            app = easy("bench-idle", url=url, mandate_key=key, instance_id=f"idle-{i}")
            await app.__aenter__()
            app.register(_idle, interface="idle")
            await app.aserve()
            apps.append(app)
        await asyncio.sleep(2)
        return before, rss_mib(server_pid)
    finally:
        for app in apps:
            await app.__aexit__(None, None, None)


async def _idle() -> None:
    """Never called: what an idle agent provides."""


def table(rows: list[list[str]]) -> str:
    head = ["measurement", "median", "p99", "throughput", "memory", "target"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def ms(values: list[float]) -> tuple[str, str]:
    return f"{statistics.median(values) * 1000:.2f} ms", f"{percentile(values, 99) * 1000:.2f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        server, url = start_server(data)
        agent = None
        try:
            run("user", "add", "bench", "--password", "bench-password", data_dir=data)
            out = run("user", "mandate", "bench", data_dir=data)
            key = next(line.strip() for line in out.splitlines() if len(line.strip()) >= 32)
            os.environ["ARKITEKT_CACHE_DIR"] = str(Path(tmp) / "cache")
            # memory first, on a fresh server: later runs leave finished calls in its memory
            before, after = asyncio.run(idle_agents(url, key, 200, server.pid))
            agent = start_agent(url, key, Path(tmp) / "agent-cache", "a")
            rows = []
            lat = asyncio.run(latency(url, key, "noop", 3000))
            rows.append(
                [
                    "round trip, async no-op",
                    *ms(lat),
                    f"{1 / statistics.mean(lat):.0f} calls/s",
                    "",
                    "p50 <= 2 ms, p99 <= 10 ms",
                ]
            )
            lat = asyncio.run(latency(url, key, "noop_sync", 2000))
            rows.append(
                [
                    "round trip, sync no-op (thread)",
                    *ms(lat),
                    f"{1 / statistics.mean(lat):.0f} calls/s",
                    "",
                    "",
                ]
            )
            rate = asyncio.run(pipelined(url, key, 8.0))
            rows.append(
                [
                    "pipelined, 1 caller (256 in flight)",
                    "",
                    "",
                    f"{rate:.0f} calls/s",
                    "",
                    ">= 3000 calls/s",
                ]
            )
            rate = concurrent_callers(url, key, Path(tmp), 8, 8.0)
            rows.append(["pipelined, 8 caller processes", "", "", f"{rate:.0f} calls/s", "", ""])
            rows.append(
                ["server RSS, 200 idle agents", "", "", "", f"{before:.0f} -> {after:.0f} MiB", ""]
            )
            print(table(rows))
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait()
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
