"""Live calls: from the moment the broker accepts one until a while after its final event.

A call is started on an agent (``assigned``, then delivered to it), reports its events through
that agent, and ends with a final event. Every event is written behind by the
:class:`~.recorder.Recorder`, kept in the call's history while it is live, sent to the caller
when it is connected and to the live listeners (GraphQL subscriptions). Finished calls are kept
``keep_finished`` seconds, for callers catching up after a reconnect, then forgotten.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from arkitekt.protocol.messages import (
    FINAL_EVENTS,
    REPORT_KINDS,
    Assignment,
    ErrorInfo,
    Event,
    EventKind,
    Failed,
    Interrupt,
    Report,
)

from ..metrics import ServerMetrics
from ..models import utcnow
from .catalogue import TemplateRoute
from .recorder import Recorder
from .sessions import LiveAgent, Peer, SessionKey, Sessions

FORWARDED = frozenset(EventKind) - {EventKind.ASSIGNED}
"""Events sent to callers (``assigned`` is only stored)."""


@dataclass(eq=False, slots=True)
class LiveCall:
    id: str
    user_id: str
    caller: SessionKey
    node_id: str
    args: dict[str, Any]
    parent: str | None
    reservation: str | None
    template: TemplateRoute | None = None
    agent: LiveAgent | None = None
    index: int = -1
    history: list[Event] = field(default_factory=list)
    """Forwarded events, kept while the call is live so a reconnecting caller can catch up."""
    final: bool = False
    cancel_requested: bool = False
    started: float = field(default_factory=time.monotonic)
    """When this server took the call (for the duration metric)."""


class Calls:
    """The live (and recently finished) calls of this process, by id."""

    def __init__(
        self,
        sessions: Sessions,
        recorder: Recorder,
        *,
        keep_finished: float,
        metrics: ServerMetrics,
    ) -> None:
        self._sessions = sessions
        self._recorder = recorder
        self._metrics = metrics
        self.keep_finished = keep_finished
        self._calls: dict[str, LiveCall] = {}
        self._finished: deque[tuple[float, str]] = deque()
        self._listeners: dict[str, set[asyncio.Queue[Event]]] = {}
        """assignation id -> queues of live subscribers (GraphQL subscriptions)."""

    # -- reading ---------------------------------------------------------------------------------

    @property
    def by_id(self) -> dict[str, LiveCall]:
        """The calls by id (the dict itself: read it, do not change it)."""
        return self._calls

    @property
    def listeners(self) -> dict[str, set[asyncio.Queue[Event]]]:
        """assignation id -> queues of live subscribers (the dict itself)."""
        return self._listeners

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._calls

    def running_children(self, call_id: str) -> list[LiveCall]:
        """The unfinished calls made from inside this one."""
        return [c for c in self._calls.values() if c.parent == call_id and not c.final]

    # -- listeners -------------------------------------------------------------------------------

    def listen(self, call_id: str) -> asyncio.Queue[Event]:
        """A queue that receives the call's forwarded events from now on."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listeners.setdefault(call_id, set()).add(queue)
        return queue

    def unlisten(self, call_id: str, queue: asyncio.Queue[Event]) -> None:
        listeners = self._listeners.get(call_id)
        if listeners is None:
            return
        listeners.discard(queue)
        if not listeners:
            self._listeners.pop(call_id, None)

    # -- lifecycle -------------------------------------------------------------------------------

    def add(self, call: LiveCall, app_identifier: str) -> None:
        """A call the broker accepted: known from now on, and recorded as queued."""
        self._calls[call.id] = call
        self._metrics.calls_started.inc()
        caller = self._sessions.caller(call.caller)
        if caller is not None:
            caller.calls.add(call.id)
        self._recorder.created(
            {
                "id": call.id,
                "user_id": call.user_id,
                "app_identifier": app_identifier,
                "node_id": call.node_id,
                "template_id": None,
                "agent_id": None,
                "reservation_id": call.reservation,
                "parent_id": call.parent,
                "args": call.args,
                "status": EventKind.QUEUED.value,
                "created_at": utcnow(),
                "finished_at": None,
            }
        )

    def restore(self, call: LiveCall) -> LiveCall:
        """A call an earlier run of the server left unfinished (stored already): live again,
        with no caller connected until one watches it."""
        self._calls[call.id] = call
        return call

    def resume(self, call: LiveCall, route: TemplateRoute, agent: LiveAgent) -> None:
        """A restored call continues on the agent that still runs it (nothing is re-sent)."""
        call.template = route
        call.agent = agent
        agent.take(call.id, route.id)

    def start(self, call: LiveCall, route: TemplateRoute, agent: LiveAgent) -> None:
        call.template = route
        call.agent = agent
        agent.take(call.id, route.id)
        self._recorder.changed(call.id, template_id=route.id, agent_id=agent.id)
        self.emit(call, EventKind.ASSIGNED)
        self.deliver(call)

    def deliver(self, call: LiveCall) -> None:
        """Send the call to its agent (when that is connected)."""
        agent, route = call.agent, call.template
        if agent is None or route is None or agent.peer is None:
            return
        caller = self._sessions.caller_peer(call.caller)
        username = caller.username if caller is not None else ""
        agent.peer.send(
            Assignment(  # validating is cheaper than model_construct (pydantic's is Python)
                assignation=call.id,
                template=route.id,
                interface=route.interface,
                args=call.args,
                parent=call.parent,
                user=username,
            )
        )

    def redeliver(self, agent: LiveAgent, peer: Peer, known: list[str]) -> None:
        """The agent came back on ``peer`` knowing these calls: re-send the ones it never
        received, repeat the interrupts of those cancelled meanwhile."""
        still_known = set(known)
        for call_id in list(agent.inflight):
            call = self._calls.get(call_id)
            if call is None or call.final:
                agent.release(call_id)
            elif call_id not in still_known:
                self.deliver(call)  # it never arrived
            elif call.cancel_requested:
                peer.send(Interrupt(assignation=call_id))

    def interrupt(self, call: LiveCall) -> bool:
        """Ask the call's agent to stop it; False when it is not running on a connected agent
        (then nothing was sent)."""
        if call.agent is None or call.agent.peer is None:
            return False
        call.cancel_requested = True
        call.agent.peer.send(Interrupt(assignation=call.id))
        return True

    def cancelled(self, call: LiveCall, reason: str) -> None:
        """End a call that is not running anywhere (queued, or its agent is away)."""
        call.cancel_requested = True
        self.emit(call, EventKind.CANCELLED, message=reason)

    def reject(self, call_id: str) -> None:
        """The call's id turned out to be stored already (the recorder's durable check): it
        ends for its caller as a ``duplicate`` refusal, its agent is asked to stop, and it is
        forgotten (nothing more of it is stored)."""
        call = self._calls.pop(call_id, None)
        if call is None or call.final:
            return
        call.final = True
        if call.agent is not None:
            call.agent.release(call.id)
            if call.agent.peer is not None:
                call.agent.peer.send(Interrupt(assignation=call.id))
        caller = self._sessions.caller(call.caller)
        if caller is not None:
            caller.calls.discard(call.id)
        peer = self._sessions.caller_peer(call.caller)
        if peer is not None:
            peer.send(
                Failed(
                    assignation=call.id,
                    code="duplicate",
                    message="an assignation with this id exists already",
                )
            )

    def lose(self, agent: LiveAgent, message: str) -> None:
        """The agent is gone for good: its unfinished calls end as ``lost``."""
        for call_id in list(agent.inflight):
            call = self._calls.get(call_id)
            if call is not None and not call.final:
                self.emit(call, EventKind.LOST, message=message)
        agent.release_all()

    def report(self, peer: Peer, message: Report) -> None:
        """An agent reports on one of its calls."""
        agent = peer.agent
        if agent is None:
            peer.send(Failed(code="not_an_agent", message="register templates before reporting"))
            return
        if message.seq > agent.acked:
            agent.acked = message.seq
            call = self._calls.get(message.assignation)
            if call is None or call.agent is not agent or call.final:
                # stale (a call already lost or cancelled) or not this agent's: ignore
                pass
            elif message.kind not in REPORT_KINDS:
                peer.send(
                    Failed(
                        assignation=message.assignation,
                        code="bad_report",
                        message=f"agents cannot report {message.kind.value!r}",
                    )
                )
            else:
                self.emit(
                    call,
                    message.kind,
                    progress=message.progress,
                    message=message.message,
                    level=message.level,
                    values=message.values,
                    error=message.error,
                )
        # the gateway acknowledges once per frame (see gateway._read)

    # -- events ----------------------------------------------------------------------------------

    def emit(
        self,
        call: LiveCall,
        kind: EventKind,
        *,
        progress: int | None = None,
        message: str | None = None,
        level: Any = None,
        values: list[Any] | None = None,
        error: ErrorInfo | None = None,
    ) -> None:
        """The call's next event: recorded, and (unless ``assigned``) kept and forwarded."""
        call.index += 1
        now = utcnow()
        # built by hand: this runs twice per call, and every field is already validated
        data: dict[str, Any] = {}
        if progress is not None:
            data["progress"] = progress
        if message is not None:
            data["message"] = message
        if level is not None:
            data["level"] = str(level.value if hasattr(level, "value") else level)
        if values is not None:
            data["values"] = values
        if error is not None:
            data["error"] = error.model_dump(mode="json")
        self._recorder.event(call.id, call.index, kind.value, data, now)
        if kind in FINAL_EVENTS:
            call.final = True
            self._metrics.call_finished(kind.value, time.monotonic() - call.started)
            self._recorder.changed(call.id, status=kind.value, finished_at=now)
            if call.agent is not None:
                call.agent.release(call.id)
            caller = self._sessions.caller(call.caller)
            if caller is not None:
                caller.calls.discard(call.id)
            self._forget_finished(call.id)
        elif kind is not EventKind.LOG and kind is not EventKind.PROGRESS:
            self._recorder.changed(call.id, status=kind.value)
        if kind not in FORWARDED:
            return
        event = Event(  # validating is cheaper than model_construct (pydantic's is Python)
            assignation=call.id,
            index=call.index,
            kind=kind,
            progress=progress,
            message=message,
            level=level,
            values=values,
            error=error,
        )
        call.history.append(event)
        for queue in self._listeners.get(call.id, ()):
            queue.put_nowait(event)
        peer = self._sessions.caller_peer(call.caller)
        if peer is not None:
            peer.send(event)

    def _forget_finished(self, call_id: str) -> None:
        """Keep finished calls a while (for callers catching up), then let them go."""
        now = time.monotonic()
        self._finished.append((now + self.keep_finished, call_id))
        while self._finished and self._finished[0][0] <= now:
            self._calls.pop(self._finished.popleft()[1], None)
