"""Benchmark of replicas. Prints a table; run with ``python bench/scale.py``.

Every server is ``arkitekt server`` in a subprocess on one PostgreSQL database (and, with
replicas, one Redis), as the replica tests start them (tests/replicas.py); agents and callers
are real apps. Rows:

- a no-op call, one at a time (p50, p99) and pipelined (64 in flight, calls/s), with caller and
  agent on one server: 1 replica with the in-memory broker, then with the Redis broker;
- the same across replicas: the agent on replica A, the caller on replica B;
- 3 replicas behind the round-robin proxy: 3 agents and 3 caller processes through the proxy
  (the proxy is a Python TCP pump: it costs CPU of its own);
- 200 idle agents through the proxy: agents held per replica, each replica's RSS;
- recovery: the caller's replica is killed while it calls in a loop; how long until its calls
  complete again (through a survivor).

Targets (issue 12): the Redis path costs at most 25% p50 over the in-memory path for a
same-replica call; a cross-replica call p50 under 3 ms on loopback. Everything shares two cores:
throughput per core is the total divided by two.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
sys.path[:0] = [str(HERE), str(TESTS)]

from core import percentile, rss_mib  # noqa: E402
from replicas import Replicas  # noqa: E402
from rpc import concurrent_callers, latency, pipelined, start_agent, table  # noqa: E402
from servers import TestServer  # noqa: E402

from arkitekt import call, easy, find  # noqa: E402

CORES = os.cpu_count() or 1
TOKEN = "bench-scale-metrics"
FAST = {
    "rpc_heartbeat_interval": 0.5,
    "rpc_heartbeat_timeout": 3,
    "rpc_reconnect_grace": 5,
    "replica_heartbeat": 0.5,
    "replica_dead_after": 2,
    "metrics_token": TOKEN,
}


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def metric(server: TestServer, name: str) -> float:
    import httpx

    text = httpx.get(
        f"{server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
    ).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return float("nan")


def ms(values: list[float]) -> tuple[str, str]:
    return f"{statistics.median(values) * 1000:.2f} ms", f"{percentile(values, 99) * 1000:.2f} ms"


def pair(name: str, cluster: Replicas, agent_on: TestServer, caller_on: TestServer,
         cache: Path, target: str) -> tuple[list[str], float]:  # fmt: skip
    key = agent_on.key("bench")
    agent = start_agent(agent_on.url, key, cache / f"agent-{name}", name)
    try:
        lat = asyncio.run(latency(caller_on.url, key, "noop", 3000))
        rate = asyncio.run(pipelined(caller_on.url, key, 5.0, 64))
    finally:
        stop([agent])
    row = [name, *ms(lat), f"{rate:.0f} calls/s ({rate / CORES:.0f}/core)", "", target]
    return row, statistics.median(lat)


async def idle_agents(cluster: Replicas, key: str, count: int) -> tuple[list[int], list[float]]:
    """``count`` agents (apps in this process) connected through the proxy: how many each
    replica holds, and each replica's RSS with them."""
    from arkitekt import App

    apps: list[App] = []
    try:
        for i in range(count):
            app = easy("bench-idle", url=cluster.url, mandate_key=key, instance_id=f"idle-{i}",
                       no_cache=True)  # fmt: skip
            await app.__aenter__()
            app.register(_idle, interface="idle")
            await app.aserve()
            apps.append(app)
        await asyncio.sleep(3)
        held = [int(metric(s, "arkitekt_agents_connected")) for s in cluster.servers]
        rss = [rss_mib(s.process.pid) for s in cluster.servers if s.process]
        return held, rss
    finally:
        for app in apps:
            await app.__aexit__(None, None, None)


async def _idle() -> None:
    """Never called: what an idle agent provides."""


def recovery(cluster: Replicas, cache: Path) -> list[str]:
    """The caller's replica is killed while it calls in a loop through the proxy."""
    a, b = cluster.servers[0], cluster.servers[1]
    key = a.key("bench")
    agent = start_agent(a.url, key, cache / "agent-recovery", "recovery")
    assert cluster.proxy is not None
    cluster.proxy.preferred = b.port
    done: list[float] = []
    failures: list[str] = []
    stop_calling = threading.Event()

    def calls() -> None:
        with easy("bench-recovery", url=cluster.url, mandate_key=key, no_cache=True):
            node = find(interface="noop_sync")
            while not stop_calling.is_set():
                try:
                    call(node)
                    done.append(time.monotonic())
                except Exception as e:  # a failed call counts; the loop goes on
                    failures.append(type(e).__name__)

    caller = threading.Thread(target=calls)
    caller.start()
    try:
        time.sleep(3)
        killed = time.monotonic()
        b.kill()
        time.sleep(15)
    finally:
        stop_calling.set()
        caller.join(60)
        stop([agent])
    before = [t for t in done if t < killed]
    after = [t for t in done if t > killed]
    first = (after[0] - killed) if after else float("nan")
    pause = max((b - a for a, b in itertools.pairwise(done)), default=float("nan"))
    failed = ", ".join(f"{n} {name}" for name, n in collections.Counter(failures).items())
    return [
        "recovery after the caller's replica is killed",
        f"{first:.1f} s to the first call after the kill",
        f"longest pause {pause:.1f} s",
        f"{len(before)} calls before, {len(after)} after; failed: {failed or 'none'}",
        "",
        "callers recover, nothing hangs",
    ]


def main() -> None:
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "cache"
        os.environ["ARKITEKT_CACHE_DIR"] = str(cache / "bench")

        with Replicas(folder / "memory", 1, users=("bench",), redis_url=None, **FAST) as one:
            row, memory_p50 = pair(
                "1 replica, in-memory broker", one, one.servers[0], one.servers[0], cache, ""
            )
            rows.append(row)
        with Replicas(folder / "redis1", 1, users=("bench",), **FAST) as one:
            row, redis_p50 = pair(
                "1 replica, Redis broker", one, one.servers[0], one.servers[0], cache,
                f"p50 <= {memory_p50 * 1.25 * 1000:.2f} ms (in-memory + 25%)",
            )  # fmt: skip
            row[4] = f"p50 +{(redis_p50 / memory_p50 - 1) * 100:.0f}% over in-memory"
            rows.append(row)
        with Replicas(folder / "two", 2, users=("bench",), **FAST) as two:
            row, _ = pair(
                "2 replicas, agent on A, caller on B", two, two.servers[0], two.servers[1],
                cache, "p50 < 3 ms",
            )  # fmt: skip
            rows.append(row)
            rows.append(recovery(two, cache))
        with Replicas(folder / "three", 3, users=("bench",), **FAST) as three:
            key = three.servers[0].key("bench")
            agents = [start_agent(three.url, key, cache / f"agent-3-{i}", str(i)) for i in range(3)]
            try:
                rate = concurrent_callers(three.url, key, cache, 3, 8.0)
            finally:
                stop(agents)
            rows.append(
                [
                    "3 replicas behind the proxy, 3 agents, 3 callers",
                    "",
                    "",
                    f"{rate:.0f} calls/s ({rate / CORES:.0f}/core)",
                    "",
                    "",
                ]
            )
            before = [rss_mib(s.process.pid) for s in three.servers if s.process]
            held, after = asyncio.run(idle_agents(three, key, 200))
            rows.append(
                [
                    "200 idle agents through the proxy",
                    "",
                    "",
                    "agents per replica: " + ", ".join(map(str, held)),
                    "RSS MiB: "
                    + ", ".join(f"{b:.0f}->{a:.0f}" for b, a in zip(before, after, strict=True)),
                    "",
                ]
            )
    print(table(rows))
    print(f"\n{CORES} cores, shared by the replicas, PostgreSQL, Redis, agents and callers")


if __name__ == "__main__":
    main()
