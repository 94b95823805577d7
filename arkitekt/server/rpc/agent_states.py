"""Agents' states on the server: the latest value of each, its watchers, and its storage.

An agent publishes each ``@state`` whole at every connect and then as JSON patches (RFC 6902)
against the previous revision (:class:`~arkitekt.protocol.messages.PublishState`). The hub keeps
the current value in memory, forwards every change to the watchers as it came (whole or patch),
and writes the latest values behind to the database (at most every ``flush_interval``), so a
state stays readable after its agent left and after a restart.

Who may read and watch is decided by the broker (:meth:`InMemoryBroker.watch_state`): the
agent's owner and users it shares a function with. When a sharing change takes that away, the
watch ends (``Failed``, code ``forbidden``).

Bounded: states per agent, the size of a value, and watches per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from arkitekt.protocol.messages import Failed, PublishState, StateUpdate, WatchState

from ..db import Database
from ..models import utcnow
from .models import AgentState
from .sessions import Peer

logger = logging.getLogger("arkitekt.server.rpc")

MAX_STATES_PER_AGENT = 32
MAX_STATE_BYTES = 256 * 1024
"""Largest value of one state, as JSON."""
MAX_WATCHES_PER_PEER = 100


@dataclass
class LiveState:
    agent_id: str
    name: str
    revision: int
    value: dict[str, Any]
    connected: bool = True
    dirty: bool = False


@dataclass(eq=False)
class Watch:
    peer: Peer
    rid: int
    user_id: str
    key: tuple[str, str]
    """(agent id, state name)."""


@dataclass
class _PeerWatches:
    by_rid: dict[int, Watch] = field(default_factory=dict)


class StateHub:
    """The states of the agents this server knows, and who watches them."""

    def __init__(self, db: Database, *, flush_interval: float = 0.5) -> None:
        self._db = db
        self.flush_interval = flush_interval
        self._states: dict[tuple[str, str], LiveState] = {}
        self._watchers: dict[tuple[str, str], set[Watch]] = {}
        self._peers: dict[Peer, _PeerWatches] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, agent_id: str, message: PublishState, *, store: bool = True) -> str | None:
        """Apply what an agent published; returns why it was refused (None: taken)."""
        key = (agent_id, message.state)
        current = self._states.get(key)
        if current is None and sum(1 for a, _ in self._states if a == agent_id) >= (
            MAX_STATES_PER_AGENT
        ):
            return f"an agent may publish at most {MAX_STATES_PER_AGENT} states"
        if message.value is not None:
            value = message.value
        elif message.patch is not None:
            if current is None or message.revision != current.revision + 1:
                return None  # a patch against a value not held here: the next whole one repairs
            import jsonpatch

            try:
                value = jsonpatch.apply_patch(current.value, message.patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                return f"the patch does not apply: {e}"
            if not isinstance(value, dict):
                return "a state's value must stay a JSON object"
        else:
            return "give the state's value or a patch"
        if len(json.dumps(value, separators=(",", ":"))) > MAX_STATE_BYTES:
            return f"a state's value may be at most {MAX_STATE_BYTES // 1024} KiB of JSON"
        if current is None:
            current = self._states[key] = LiveState(agent_id, message.state, 0, value)
        current.revision = message.revision
        current.value = value
        current.connected = True
        if store:
            current.dirty = True
            self._wake.set()
        for watch in self._watchers.get(key, ()):
            watch.peer.send(
                StateUpdate(
                    rid=watch.rid,
                    agent=agent_id,
                    state=message.state,
                    revision=message.revision,
                    value=message.value,
                    patch=message.patch if message.value is None else None,
                )
            )
        return None

    def agent_gone(self, agent_id: str) -> None:
        """The agent left for good: its states stay readable, marked not connected."""
        for (owner, name), state in self._states.items():
            if owner != agent_id or not state.connected:
                continue
            state.connected = False
            for watch in self._watchers.get((owner, name), ()):
                watch.peer.send(self._whole(watch.rid, state))

    # -- reading ---------------------------------------------------------------------------------

    async def watch(self, peer: Peer, message: WatchState, agent_id: str) -> None:
        """Send the state now (and, unless ``once``, every change) to a peer allowed to see the
        agent (the broker checked)."""
        key = (agent_id, message.state)
        state = self._states.get(key) or await self._load(key)
        if state is None:
            peer.send(_not_found(message.rid, "the agent has published no such state"))
            return
        if not message.once:
            watches = self._peers.setdefault(peer, _PeerWatches())
            if message.rid not in watches.by_rid and len(watches.by_rid) >= MAX_WATCHES_PER_PEER:
                peer.send(
                    Failed(
                        rid=message.rid,
                        code="too_many",
                        message=f"at most {MAX_WATCHES_PER_PEER} state watches per connection",
                    )
                )
                return
            self.unwatch(peer, message.rid)  # a repeated watch (after a reconnect) replaces
            watch = Watch(peer=peer, rid=message.rid, user_id=peer.user_id, key=key)
            watches.by_rid[message.rid] = watch
            self._watchers.setdefault(key, set()).add(watch)
        peer.send(self._whole(message.rid, state))

    def unwatch(self, peer: Peer, rid: int) -> None:
        watches = self._peers.get(peer)
        watch = watches.by_rid.pop(rid, None) if watches is not None else None
        if watch is None:
            return
        watchers = self._watchers.get(watch.key)
        if watchers is not None:
            watchers.discard(watch)
            if not watchers:
                del self._watchers[watch.key]

    def peer_gone(self, peer: Peer) -> None:
        watches = self._peers.pop(peer, None)
        if watches is None:
            return
        for watch in watches.by_rid.values():
            watchers = self._watchers.get(watch.key)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watchers[watch.key]

    def revalidate(self, allowed: Callable[[str, str], bool | None]) -> None:
        """End the watches whose user may no longer see the agent (a share taken back).

        ``allowed(user_id, agent_id)``: None when it cannot tell here (the agent is not
        connected to this server), which keeps the watch.
        """
        for watchers in list(self._watchers.values()):
            for watch in list(watchers):
                if allowed(watch.user_id, watch.key[0]) is False:
                    self.unwatch(watch.peer, watch.rid)
                    watch.peer.send(
                        Failed(
                            rid=watch.rid,
                            code="forbidden",
                            message="the agent no longer shares a function with you",
                        )
                    )

    async def current(self, agent_id: str, name: str) -> LiveState | None:
        """The state as it is now (held here, or stored)."""
        return self._states.get((agent_id, name)) or await self._load((agent_id, name))

    async def names(self, agent_id: str) -> list[str]:
        """The states the agent published (held here or stored), by name."""
        names = {name for owner, name in self._states if owner == agent_id}
        async with self._db.new_session() as s:
            stored = await s.scalars(
                select(AgentState.name)
                .where(AgentState.agent_id == agent_id)
                .limit(MAX_STATES_PER_AGENT)
            )
            names.update(stored)
        return sorted(names)

    def _whole(self, rid: int, state: LiveState) -> StateUpdate:
        return StateUpdate(
            rid=rid,
            agent=state.agent_id,
            state=state.name,
            revision=state.revision,
            value=copy.deepcopy(state.value),
            connected=state.connected,
        )

    async def _load(self, key: tuple[str, str]) -> LiveState | None:
        async with self._db.new_session() as s:
            row = await s.get(AgentState, key)
        if row is None:
            return None
        state = self._states.get(key)  # published while this read ran
        if state is None:
            state = LiveState(key[0], key[1], row.revision, dict(row.value), connected=False)
        return state

    # -- storing ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(), name="arkitekt-agent-states")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.flush()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is away: keep the values, try again
                logger.warning("storing agent states failed (%s); retrying", type(e).__name__)
                self._wake.set()
            await asyncio.sleep(self.flush_interval)

    async def flush(self) -> None:
        """Write every changed state."""
        dirty = [state for state in self._states.values() if state.dirty]
        if not dirty:
            return
        for state in dirty:
            state.dirty = False
        rows = [
            {
                "agent_id": s.agent_id,
                "name": s.name,
                "revision": s.revision,
                "value": s.value,
                "updated_at": utcnow(),
            }
            for s in dirty
        ]
        try:
            async with self._db.new_session() as session, session.begin():
                await session.execute(
                    self._db.insert_or_update(
                        AgentState, ["agent_id", "name"], ["revision", "value", "updated_at"]
                    ),
                    rows,
                )
        except BaseException:
            for state in dirty:
                state.dirty = True
            raise


def _not_found(rid: int, reason: str) -> Failed:
    return Failed(rid=rid, code="not_found", message=reason)
