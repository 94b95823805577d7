"""Benchmark of remote functions. Prints a table; run with ``python bench/rpc.py``.

Caller (this process) -> standalone server (subprocess) -> agent (subprocess) -> back, on
loopback, all real:

- round trip of ``echo(x)``, one call at a time, for the four combinations of a sync caller
  (a plain script: ``call(node, x)`` inside ``with app:``) or an async one (``await acall``
  inside ``async with app:``) and a sync function (run on a thread by the agent) or an async one
  (run on the agent's loop);
- throughput of pipelined async calls from one caller (256 in flight);
- throughput with 8 caller processes at once;
- the server's resident memory with 200 idle agents connected;
- when ``ray`` is importable (``pip install ray``, or ``pip install -e .[bench]``; ray 2.60 on
  Python 3.11 works): Ray on the same machine, measured in the same run after the above, with
  ours stopped (a local ``ray.init`` with one CPU): a 1:1 actor call round trip,
  ``ray.get(actor.f.remote(x))``, and pipelined actor calls (256 ``.remote()`` then one
  ``ray.get``); then the ratios of ours against the targets (sync caller -> sync function
  p50 <= Ray's, async -> async p50 <= 0.8x Ray's, pipelined >= 1.5x Ray's).

- what a free lock adds to a call: ``echo`` against ``echo_locked`` (``locks=["stage"]``, a
  lock nobody else holds), async caller, interleaved in rounds so both see the same machine;
  and the agent's admission alone (take and give back a slot and a lock), in this process.

``--only latency pipelined`` runs some sections (latency, pipelined, callers, memory, locks,
ray).
Targets are from the issues; they are reported, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from core import free_port, percentile, rss_mib  # noqa: E402

from arkitekt import acall, afind, call, easy, find  # noqa: E402


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


async def latency(
    url: str, key: str, interface: str, calls: int, args: tuple[Any, ...] = ()
) -> list[float]:
    """Round trips of an async caller (``await acall`` inside ``async with app:``), one at a
    time."""
    async with easy("bench-caller", url=url, mandate_key=key):
        node = await afind(interface=interface)
        for _ in range(200):  # warm up
            await acall(node, *args)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await acall(node, *args)
            times.append(time.perf_counter() - started)
        return times


def sync_latency(
    url: str, key: str, interface: str, calls: int, args: tuple[Any, ...] = ()
) -> list[float]:
    """Round trips of a sync caller: a plain script, ``call(node, x)`` inside ``with app:``
    (each call crosses from this thread to the app's loop thread and back)."""
    with easy("bench-sync-caller", url=url, mandate_key=key):
        node = find(interface=interface)
        for _ in range(200):  # warm up
            call(node, *args)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            call(node, *args)
            times.append(time.perf_counter() - started)
        return times


async def pipelined(
    url: str,
    key: str,
    seconds: float,
    window: int = 256,
    interface: str = "noop",
    args: tuple[Any, ...] = (),
) -> float:
    """Calls per second with ``window`` calls in flight at any time."""
    async with easy("bench-pipeline", url=url, mandate_key=key, instance_id=str(os.getpid())):
        node = await afind(interface=interface)
        for _ in range(100):
            await acall(node, *args)
        done = 0
        deadline = time.perf_counter() + seconds

        async def lane() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await acall(node, *args)
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


def ray_figures(calls: int, seconds: float, window: int = 256) -> tuple[list[float], float] | None:
    """Ray on this machine: 1:1 actor call round trips and pipelined actor calls per second
    (``window`` ``.remote()`` then one ``ray.get``); None when ray is not installed."""
    try:
        import ray
    except ImportError:
        return None
    ray.init(
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        object_store_memory=80 * 1024 * 1024,
    )

    class Echo:
        """The actor compared with: ``f(x)`` returns ``x`` (as ``echo`` does). Defined here so
        that Ray ships it by value (a class of an importable module is imported by name on the
        worker, which does not have bench/ on its path)."""

        def f(self, x: int) -> int:
            return x

    try:
        actor: Any = ray.remote(Echo).remote()  # ray's stubs do not know .f.remote
        for i in range(500):  # warm up
            ray.get(actor.f.remote(i))
        times = []
        for i in range(calls):
            started = time.perf_counter()
            ray.get(actor.f.remote(i))
            times.append(time.perf_counter() - started)
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            ray.get([actor.f.remote(i) for i in range(window)])
            done += window
        return times, done / (time.perf_counter() - started)
    finally:
        ray.shutdown()


async def lock_overhead(url: str, key: str, calls: int, rounds: int = 10) -> list[float]:
    """Round trips of ``echo`` and ``echo_locked`` in alternating rounds: (free, locked)."""
    free: list[float] = []
    locked: list[float] = []
    async with easy("bench-locks", url=url, mandate_key=key):
        nodes = {name: await afind(interface=name) for name in ("echo", "echo_locked")}
        for node in nodes.values():
            for _ in range(200):  # warm up
                await acall(node, 1)
        for _ in range(rounds):
            for name, times in (("echo", free), ("echo_locked", locked)):
                for _ in range(calls // rounds):
                    started = time.perf_counter()
                    await acall(nodes[name], 1)
                    times.append(time.perf_counter() - started)
    return [statistics.median(free), statistics.median(locked), percentile(locked, 99)]


def admission_cost(count: int = 200_000) -> float:
    """Seconds to admit and release one call needing a slot and a free lock (no waiting)."""
    from arkitekt.services.rpc.admission import Admission, Needs

    admission = Admission()
    needs = Needs.of("move", 1, ["stage"])
    started = time.perf_counter()
    for _ in range(count):
        admission.try_enter(needs)
        admission.leave(needs)
    return (time.perf_counter() - started) / count


def table(rows: list[list[str]]) -> str:
    head = ["measurement", "median", "p99", "throughput", "memory", "target"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def ms(values: list[float]) -> tuple[str, str]:
    return f"{statistics.median(values) * 1000:.2f} ms", f"{percentile(values, 99) * 1000:.2f} ms"


SECTIONS = ("memory", "latency", "pipelined", "callers", "locks", "ray")
COMBOS = [
    ("sync caller -> sync function", "sync", "echo_sync"),
    ("sync caller -> async function", "sync", "echo"),
    ("async caller -> sync function", "async", "echo_sync"),
    ("async caller -> async function", "async", "echo"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--calls", type=int, default=3000, help="round trips per combination")
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput section")
    options = parser.parse_args()
    only: list[str] = options.only
    rows: list[list[str]] = []
    p50: dict[str, float] = {}
    rate = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        server, url = start_server(data)
        agent = None
        try:
            run("user", "add", "bench", "--password", "bench-password", data_dir=data)
            out = run("user", "mandate", "bench", data_dir=data)
            key = next(line.strip() for line in out.splitlines() if len(line.strip()) >= 32)
            os.environ["ARKITEKT_CACHE_DIR"] = str(Path(tmp) / "cache")
            if "memory" in only:
                # first, on a fresh server: later sections leave finished calls in its memory
                before, after = asyncio.run(idle_agents(url, key, 200, server.pid))
                rows.append(
                    [
                        "server RSS, 200 idle agents",
                        "",
                        "",
                        "",
                        f"{before:.0f} -> {after:.0f} MiB",
                        "",
                    ]
                )
            agent = start_agent(url, key, Path(tmp) / "agent-cache", "a")
            if "latency" in only:
                for name, caller, interface in COMBOS:
                    if caller == "sync":
                        lat = sync_latency(url, key, interface, options.calls, (1,))
                    else:
                        lat = asyncio.run(latency(url, key, interface, options.calls, (1,)))
                    p50[name] = statistics.median(lat)
                    rows.append(
                        [
                            f"round trip, {name}",
                            *ms(lat),
                            f"{1 / statistics.mean(lat):.0f} calls/s",
                            "",
                            "p50 <= 2 ms, p99 <= 10 ms" if caller == "async" else "",
                        ]
                    )
            if "pipelined" in only:
                rate = asyncio.run(pipelined(url, key, options.seconds, 256, "echo", (1,)))
                rows.append(
                    [
                        "pipelined, 1 async caller (256 in flight)",
                        "",
                        "",
                        f"{rate:.0f} calls/s",
                        "",
                        ">= 3000 calls/s",
                    ]
                )
            if "callers" in only:
                total = concurrent_callers(url, key, Path(tmp), 8, options.seconds)
                rows.append(
                    ["pipelined, 8 caller processes", "", "", f"{total:.0f} calls/s", "", ""]
                )
            if "locks" in only:
                free, locked, locked_p99 = asyncio.run(lock_overhead(url, key, options.calls))
                rows.append(
                    [
                        "a free lock: echo_locked - echo (async caller)",
                        f"{(locked - free) * 1000:+.3f} ms",
                        f"{locked_p99 * 1000:.2f} ms",
                        "",
                        "",
                        "< 0.2 ms",
                    ]
                )
                rows.append(
                    [
                        "admission alone (slot + lock, take and give back)",
                        f"{admission_cost() * 1e6:.2f} us",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
        finally:
            if agent is not None:
                agent.terminate()
                agent.wait()
            server.terminate()
            server.wait()
    # Ray last, with ours stopped: neither competes with the other for the two cores
    ray = ray_figures(options.calls, options.seconds) if "ray" in only else None
    if ray is not None:
        ray_lat, ray_rate = ray
        rows.append(
            [
                "Ray: 1:1 actor call, ray.get(a.f.remote(x))",
                *ms(ray_lat),
                f"{1 / statistics.mean(ray_lat):.0f} calls/s",
                "",
                "",
            ]
        )
        rows.append(
            ["Ray: pipelined actor calls (256 then get)", "", "", f"{ray_rate:.0f} calls/s", "", ""]
        )
    print(table(rows))
    if ray is not None:
        print(ratios(p50, rate, statistics.median(ray[0]), ray[1]))
    elif "ray" in only:
        print("\n(ray is not installed: no comparison; `pip install ray` to add it)")


def ratios(p50: dict[str, float], rate: float, ray_p50: float, ray_rate: float) -> str:
    """Ours against Ray's figures of the same run, with the issue's targets."""
    lines = ["", "against Ray (same run):"]
    for name, target in [
        ("sync caller -> sync function", 1.0),
        ("async caller -> async function", 0.8),
    ]:
        if name in p50:
            ratio = p50[name] / ray_p50
            verdict = "met" if ratio <= target else "MISSED"
            lines.append(
                f"  p50 {name}: {p50[name] * 1000:.2f} / {ray_p50 * 1000:.2f} ms = "
                f"{ratio:.2f}x Ray (target <= {target:.1f}x: {verdict})"
            )
    if rate:
        ratio = rate / ray_rate
        verdict = "met" if ratio >= 1.5 else "MISSED"
        lines.append(
            f"  pipelined: {rate:.0f} / {ray_rate:.0f} calls/s = {ratio:.2f}x Ray "
            f"(target >= 1.5x: {verdict})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
