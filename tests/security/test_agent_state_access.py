"""An agent's state is seen by its owner and by the users it shares a function with, nobody
else: bob cannot read or watch alice's agent's state by its id or through her functions, an
unknown agent and an unshared one look alike to him, a share lets him in, taking the share back
ends his watch at once, and the stored state of an agent that left follows the same rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from servers import Servers

from arkitekt import StateNotFoundError, aget_state, awatch_state, state

SECRET = "alice-stage-secret-4d1e"


@state
@dataclass
class Microscope:
    objective: str = SECRET
    x: float = 0.0


def alices_move(x: float, scope: Microscope) -> float:
    """Move alice's stage."""
    scope.x = x
    return x


async def test_only_the_owner_and_those_shared_with_see_an_agents_state(
    servers: Servers,
) -> None:
    server = servers.in_process(users=("alice", "bob"), rpc_reconnect_grace=0.5)
    alice, bob = server.app("alice", "scope"), server.app("bob", "bob-app")
    async with alice, bob:
        alice.register(alices_move, interface="move")
        await alice.aserve()
        assert alice.rpc.agent is not None and alice.rpc.agent.id is not None
        agent_id = alice.rpc.agent.id
        assert (await aget_state(agent_id, Microscope, app=alice)).objective == SECRET

        # not shared: by id, by name, unknown and unshared alike
        refusals = []
        for who in (agent_id, "0" * 32):
            with pytest.raises(StateNotFoundError) as caught:
                await aget_state(who, Microscope, app=bob)
            refusals.append(str(caught.value))
            assert SECRET not in str(caught.value)
        assert refusals[0] == refusals[1]
        with pytest.raises(StateNotFoundError):
            await anext(awatch_state(agent_id, "Microscope", app=bob))

        # shared: through her function, or by the agent's id
        await alice.rpc.ashare("move", users=["bob"])
        node = await bob.rpc.afind("move", owner="alice")
        assert (await aget_state(node, Microscope, app=bob)).objective == SECRET
        watch = awatch_state(agent_id, Microscope, app=bob)
        assert (await anext(watch)).x == 0.0

        # taken back: his watch ends, and reads are refused again
        await alice.rpc.aunshare("move", users=["bob"])
        with pytest.raises(StateNotFoundError, match="no longer shares"):
            await asyncio.wait_for(anext(watch), 10)
        with pytest.raises(StateNotFoundError):
            await aget_state(agent_id, Microscope, app=bob)

        # the stored state of an agent that left: the same rules
        await alice.rpc.ashare("move", users=["bob"])
    async with server.app("alice", "scope") as owner, server.app("bob", "bob-later") as later:
        for _ in range(100):  # the agent's reconnect grace runs out
            if not any(agent.connected for agent in await owner.rpc.aagents()):
                break
            await asyncio.sleep(0.05)
        assert (await aget_state(agent_id, Microscope, app=later)).objective == SECRET
        await owner.rpc.aunshare("move", users=["bob"])
        with pytest.raises(StateNotFoundError):
            await aget_state(agent_id, Microscope, app=later)
        assert (await aget_state(agent_id, Microscope, app=owner)).x == 0.0
