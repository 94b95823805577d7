"""Benchmark of the platform core. Prints a table; run with ``python bench/core.py``.

- ``import arkitekt`` (fresh interpreter, without importing the server);
- ``local()`` entry until ready (warm process, and cold: a fresh interpreter incl. imports);
- the token endpoint: refresh grants per second (8 concurrent sessions, a standalone server);
- the standalone server's resident memory at idle.

Everything runs on loopback against the real server. Targets are from the issue; they are
reported, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PASSWORD = "bench-password"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def row(
    name: str, values: list[float], unit: str, target: str, throughput: str = "", memory: str = ""
) -> list[str]:
    scale = 1000 if unit == "ms" else 1
    return [
        name,
        f"{statistics.median(values) * scale:.1f} {unit}",
        f"{percentile(values, 99) * scale:.1f} {unit}",
        throughput,
        memory,
        target,
    ]


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, a rule under the headers."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def bench_import(runs: int = 15) -> list[float]:
    code = "import time; t=time.perf_counter(); import arkitekt; print(time.perf_counter()-t)"
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout))
    return times


def bench_local_warm(data_dir: Path, runs: int = 20) -> list[float]:
    from arkitekt import local

    with local("bench", data_dir=data_dir):  # imports, first migration
        pass
    times = []
    for _ in range(runs):
        app = local("bench", data_dir=data_dir)
        started = time.perf_counter()
        app.__enter__()
        times.append(time.perf_counter() - started)
        app.__exit__(None, None, None)
    return times


def bench_local_cold(data_dir: Path, runs: int = 5) -> list[float]:
    code = (
        "import time; t=time.perf_counter(); from arkitekt import local; "
        f"app=local('bench', data_dir={str(data_dir)!r}); app.__enter__(); "
        "print(time.perf_counter()-t); app.__exit__(None, None, None)"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def refresh_load(
    url: str, sessions: list[tuple[str, str]], seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, client_id: str, token: str) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(
                f"{url}/f/token/",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": token,
                    "client_id": client_id,
                },
            )
            response.raise_for_status()
            token = response.json()["refresh_token"]
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client, cid, tok) for cid, tok in sessions))
    return latencies, len(latencies)


def bench_server(concurrency: int = 8, seconds: float = 8.0) -> tuple[list[float], float, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="arkitekt-bench-"))
    env = {**os.environ, "ARKITEKT_DATA_DIR": str(data_dir)}
    cli = [sys.executable, "-m", "arkitekt.cli"]
    subprocess.run(
        [*cli, "user", "add", "bench", "--password", PASSWORD],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*cli, "server", "--port", str(port), "--log-level", "warning"], env=env
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        time.sleep(1.0)
        idle = rss_mib(server.pid)
        sessions = []
        for index in range(concurrency):
            manifest = {"identifier": "bench", "version": "1", "device_id": f"device-{index}"}
            answer = httpx.post(
                f"{url}/f/token/",
                data={
                    "grant_type": "password",
                    "username": "bench",
                    "password": PASSWORD,
                    "manifest": json.dumps(manifest),
                },
            ).json()
            sessions.append((answer["client_id"], answer["refresh_token"]))
        started = time.perf_counter()
        latencies, count = asyncio.run(refresh_load(url, sessions, seconds))
        elapsed = time.perf_counter() - started
        return latencies, count / elapsed, idle
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    rows: list[list[str]] = []
    imports = bench_import()
    rows.append(row("import arkitekt", imports, "ms", "< 300 ms"))
    with tempfile.TemporaryDirectory() as folder:
        warm = bench_local_warm(Path(folder))
        rows.append(
            row(
                "local() entry → ready (warm)",
                warm,
                "ms",
                "< 1500 ms",
                throughput=f"{1 / statistics.median(warm):.1f} starts/s",
            )
        )
        cold = bench_local_cold(Path(folder))
        rows.append(row("local() cold (new process, incl. imports)", cold, "ms", "—"))
    latencies, rate, idle = bench_server()
    rows.append(
        row(
            "token endpoint: refresh grant (8 concurrent)",
            latencies,
            "ms",
            "—",
            throughput=f"{rate:.0f} grants/s",
        )
    )
    rows.append(["server RSS at idle", "", "", "", f"{idle:.0f} MiB", "—"])

    print_table(["measurement", "median", "p99", "throughput", "memory", "target"], rows)


if __name__ == "__main__":
    main()
