"""After a restart: the calls an earlier run of the server left in flight end, never hang.

A server that stopped (or crashed) while calls ran left them stored as unfinished. At start they
are taken back into memory as *orphans*:

- a call that was running on an agent waits for that agent: when it registers again and still
  knows the call (``Hello.known``), the call continues on it (its reports are taken, its result
  reaches the caller); when the agent no longer knows it, the call ends as ``lost`` (it may
  have finished while the server was down: it is never run again);
- a call no agent had taken yet (waiting on a reservation) ends as ``lost`` at once: the
  reservation went with the old run, and calls are not re-run silently;
- whatever is still waiting ``grace`` seconds after the start ends as ``lost``.

Callers come back with ``Watch`` and follow their orphans like any live call. Events a crashed
server had sent but not stored are gone; an orphan's new events continue at its last stored
index plus :data:`INDEX_GAP`, so a caller that saw the lost ones never takes a new event for
one it has seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from arkitekt.protocol.messages import FINAL_EVENTS, EventKind

from ..db import Database
from .calls import Calls, LiveCall
from .models import Assignation, AssignationEvent
from .sessions import LiveAgent, SessionKey

INDEX_GAP = 1 << 20
"""How far an orphan's event indexes jump: more than a crashed run can have sent unstored."""

NOT_TAKEN = "the server restarted before an agent took this call; call it again"
FORGOTTEN = (
    "the server restarted while this call ran, and its agent no longer knows it "
    "(it may have finished while the server was down)"
)


def not_back(grace: float) -> str:
    return (
        "the server restarted while this call ran, and its agent did not come back "
        f"within {grace:g} s"
    )


@dataclass(frozen=True)
class StoredCall:
    """What the database holds of an unfinished call."""

    id: str
    user_id: str
    node_id: str
    template_id: str | None
    agent_id: str | None
    reservation_id: str | None
    parent_id: str | None
    args: dict[str, object]
    last_index: int
    caller: SessionKey | None = None
    """The caller's session, when known (a replica taking over another's calls knows it)."""


async def unfinished_calls(db: Database) -> list[StoredCall]:
    """The calls stored as not finished, with the index of their last stored event."""
    last = (
        select(AssignationEvent.assignation_id, func.max(AssignationEvent.index).label("last"))
        .group_by(AssignationEvent.assignation_id)
        .subquery()
    )
    query = (
        select(Assignation, last.c.last)
        .outerjoin(last, last.c.assignation_id == Assignation.id)
        .where(Assignation.status.not_in([kind.value for kind in FINAL_EVENTS]))
    )
    async with db.new_session() as s:
        return [
            StoredCall(
                id=row.id,
                user_id=row.user_id,
                node_id=row.node_id,
                template_id=row.template_id,
                agent_id=row.agent_id,
                reservation_id=row.reservation_id,
                parent_id=row.parent_id,
                args=dict(row.args),
                last_index=-1 if index is None else int(index),
            )
            for row, index in await s.execute(query)
        ]


class Recovery:
    """The orphans of an earlier run, until their agents claim them or the grace runs out."""

    def __init__(self, calls: Calls, *, grace: float) -> None:
        self._calls = calls
        self._grace = grace
        self._by_agent: dict[str, dict[str, str | None]] = {}
        """agent id -> {call id: template id} of the orphans it ran."""
        self._deadlines: set[asyncio.TimerHandle] = set()

    def adopt(self, stored: Iterable[StoredCall]) -> int:
        """Take the stored unfinished calls back; returns how many wait for their agents."""
        waiting: list[str] = []
        for row in stored:
            call = self._calls.restore(
                LiveCall(
                    id=row.id,
                    user_id=row.user_id,
                    # nobody's session until the caller watches, unless known
                    caller=row.caller or (row.user_id, "", ""),
                    node_id=row.node_id,
                    args=dict(row.args),
                    parent=row.parent_id,
                    reservation=row.reservation_id,
                    index=row.last_index + INDEX_GAP,
                )
            )
            if row.agent_id is None:
                self._calls.emit(call, EventKind.LOST, message=NOT_TAKEN)
            else:
                self._by_agent.setdefault(row.agent_id, {})[row.id] = row.template_id
                waiting.append(row.id)
        if waiting:
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None

            def give_up() -> None:
                self._deadlines.discard(handle)
                self._give_up(set(waiting))

            handle = loop.call_later(self._grace, give_up)
            self._deadlines.add(handle)
        return len(waiting)

    def agent_back(self, agent: LiveAgent, known: frozenset[str]) -> None:
        """An agent registered: continue its orphans that it still knows, end the others."""
        orphans = self._by_agent.pop(agent.id, None)
        if not orphans:
            return
        for call_id, template_id in orphans.items():
            call = self._calls.get(call_id)
            if call is None or call.final:
                continue
            route = agent.routes.get(template_id) if template_id is not None else None
            if call_id in known and route is not None:
                self._calls.resume(call, route, agent)
            else:
                self._calls.emit(call, EventKind.LOST, message=FORGOTTEN)

    def _give_up(self, batch: set[str]) -> None:
        """The grace of one adoption ran out: its orphans still waiting end as lost."""
        message = not_back(self._grace)
        for agent_id, orphans in list(self._by_agent.items()):
            for call_id in [c for c in orphans if c in batch]:
                del orphans[call_id]
                call = self._calls.get(call_id)
                if call is not None and not call.final:
                    self._calls.emit(call, EventKind.LOST, message=message)
            if not orphans:
                del self._by_agent[agent_id]

    def waiting_agents(self) -> set[str]:
        """Ids of the agents orphans wait for."""
        return set(self._by_agent)

    def shutdown(self) -> None:
        for handle in self._deadlines:
            handle.cancel()
        self._deadlines.clear()
