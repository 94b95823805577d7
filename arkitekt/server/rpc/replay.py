"""Watch replay: a caller that reconnects catches up on the events of its calls.

The caller says, per call, the last event index it saw. A live call replays from its history in
memory (and is followed by this connection from now on); a call already forgotten replays from
the database, once the recorder has written what it still held.
"""

from __future__ import annotations

from arkitekt.protocol.messages import Event, EventKind, Failed, Watch

from .calls import FORWARDED, Calls
from .catalogue import Catalogue
from .recorder import Recorder
from .sessions import Peer, Sessions


class Replay:
    def __init__(
        self, sessions: Sessions, calls: Calls, catalogue: Catalogue, recorder: Recorder
    ) -> None:
        self._sessions = sessions
        self._calls = calls
        self._catalogue = catalogue
        self._recorder = recorder

    async def watch(self, peer: Peer, message: Watch) -> None:
        caller = self._sessions.caller(peer.key)
        for call_id, seen in message.assignations.items():
            call = self._calls.get(call_id)
            if call is not None and call.user_id == peer.user_id:
                if caller is not None and not call.final:
                    caller.calls.add(call_id)
                call.caller = peer.key
                for event in call.history:
                    if event.index > seen:
                        peer.send(event)
                continue
            events = await self.stored_events(peer.user_id, call_id, seen)
            if events is None:
                peer.send(Failed(assignation=call_id, code="not_found", message="no such call"))
            else:
                for event in events:
                    peer.send(event)

    async def stored_events(self, user_id: str, call_id: str, seen: int) -> list[Event] | None:
        """The user's call's forwarded events after ``seen``, from the database; None when the
        call is not the user's (or does not exist)."""
        from sqlalchemy import select

        from .models import Assignation, AssignationEvent

        await self._recorder.flush_for_reading()
        async with self._catalogue.db.new_session() as s:
            owner = await s.scalar(select(Assignation.user_id).where(Assignation.id == call_id))
            if owner != user_id:
                return None
            rows = await s.scalars(
                select(AssignationEvent)
                .where(AssignationEvent.assignation_id == call_id, AssignationEvent.index > seen)
                .order_by(AssignationEvent.index)
            )
            return [
                Event(assignation=call_id, index=row.index, kind=EventKind(row.kind), **row.data)
                for row in rows
                if row.kind in FORWARDED
            ]
