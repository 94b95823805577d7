"""Many apps on three replicas (issue 12): 200 agents and 8 callers connected through the
round-robin proxy, every call answered exactly once: no result lost, none duplicated, no
function run twice, every call stored as done."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import httpx
from replicas import Replicas
from servers import FAST_RPC

from arkitekt import App, acall, afind, easy

AGENTS = 200
CALLERS = 8
CALLS_PER_CALLER = 150
TOKEN = "scale-test-metrics"

runs: collections.Counter[int] = collections.Counter()
"""How often each input was run, across every agent (they all live in this process)."""


async def tag(x: int) -> int:
    """Return x, counting that it ran."""
    runs[x] += 1
    await asyncio.sleep(0.001)
    return x


async def _agents(url: str, key: str) -> list[App]:
    apps = []
    for i in range(AGENTS):
        app = easy("scale-agent", url=url, mandate_key=key, instance_id=f"a{i}", no_cache=True)
        await app.__aenter__()
        app.register(tag, interface="tag")
        await app.aserve()
        apps.append(app)
    return apps


async def _caller(url: str, key: str, number: int) -> list[int]:
    async with easy("scale-caller", url=url, mandate_key=key, instance_id=f"c{number}",
                    no_cache=True):  # fmt: skip
        node = await afind(interface="tag")
        first = number * CALLS_PER_CALLER
        inputs = range(first, first + CALLS_PER_CALLER)
        return list(await asyncio.gather(*(acall(node, x) for x in inputs)))


def _agents_held(cluster: Replicas) -> list[int]:
    counts = []
    for server in cluster.servers:
        answer = httpx.get(
            f"{server.url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        line = next(
            x for x in answer.text.splitlines() if x.startswith("arkitekt_agents_connected ")
        )
        counts.append(int(float(line.split()[1])))
    return counts


async def _run(cluster: Replicas, key: str) -> tuple[list[list[int]], list[int]]:
    agents = await _agents(cluster.url, key)
    try:
        held = _agents_held(cluster)
        callers = (_caller(cluster.url, key, n) for n in range(CALLERS))
        return list(await asyncio.gather(*callers)), held
    finally:
        for app in agents:
            await app.__aexit__(None, None, None)


def test_three_replicas_many_agents_many_callers(tmp_path: Path) -> None:
    settings = {**FAST_RPC, "metrics_token": TOKEN}
    with Replicas(tmp_path / "cluster", 3, users=("alice",), **settings) as cluster:
        key = cluster.servers[0].key("alice")
        results, held = asyncio.run(_run(cluster, key))
        assert sum(held) == AGENTS and min(held) > AGENTS // 6, held  # spread by the proxy
        total = CALLERS * CALLS_PER_CALLER
        for number, answers in enumerate(results):
            first = number * CALLS_PER_CALLER
            assert answers == list(range(first, first + CALLS_PER_CALLER))  # none lost or mixed
        assert sum(runs.values()) == total and set(runs.values()) == {1}  # each ran once
        stored = cluster.servers[0].stored_rows(
            "SELECT status, count(*) FROM rpc_assignations GROUP BY status"
        )
        assert dict(stored) == {"done": total}, stored
        assert _agents_held(cluster) == [0, 0, 0]  # all gone again
