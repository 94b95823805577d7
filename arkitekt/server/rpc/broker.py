"""The broker: routes calls from callers to agents and their events back, in memory.

Every connected app is a :class:`Peer` (one websocket). Apps are identified across reconnects by
their *session* (chosen by the client), scoped to the user and OAuth client, so one user cannot
take over another's session. The broker never awaits the database on the hot path: routing state
lives here, and the :class:`~.recorder.Recorder` stores assignations and events behind it.

Grace windows: when an agent's link drops, its in-flight calls wait ``reconnect_grace`` seconds
for it to come back with the same session (then they continue; calls it never received are
re-delivered); otherwise they end as ``lost``. When a caller's link drops for longer than that,
its unfinished calls are cancelled and its reservations end.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arkitekt.protocol.messages import (
    FINAL_EVENTS,
    REPORT_KINDS,
    Assign,
    Assignment,
    Cancel,
    ErrorInfo,
    Event,
    EventKind,
    Failed,
    Find,
    Found,
    Interrupt,
    Message,
    Register,
    Registered,
    Report,
    ReservationStatus,
    Reserve,
    Share,
    Shared,
    TemplateInfo,
    Unreserve,
    Watch,
)

from ..models import utcnow
from .catalogue import Catalogue, TemplateRoute, node_info
from .recorder import Recorder

logger = logging.getLogger("arkitekt.server.rpc")

SessionKey = tuple[str, str, str]
"""(user id, OAuth client pk, session): what identifies one running app across reconnects."""

FORWARDED = frozenset(EventKind) - {EventKind.ASSIGNED}
"""Events sent to callers (``assigned`` is only stored)."""


@dataclass(eq=False)
class Peer:
    """One live connection."""

    user_id: str
    username: str
    client_pk: str
    app_identifier: str
    instance_id: str
    session: str
    send: Callable[[Message], None]
    close: Callable[[int, str], None]
    agent: LiveAgent | None = None

    @property
    def key(self) -> SessionKey:
        return (self.user_id, self.client_pk, self.session)


@dataclass(eq=False)
class LiveAgent:
    id: str
    key: SessionKey
    peer: Peer | None
    routes: dict[str, TemplateRoute] = field(default_factory=dict)
    """template id -> route, for what it provides."""
    inflight: set[str] = field(default_factory=set)
    acked: int = 0
    """Highest report sequence number stored."""
    gone: asyncio.TimerHandle | None = None


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


@dataclass(eq=False)
class LiveReservation:
    id: str
    user_id: str
    caller: SessionKey
    node_id: str
    agents: set[str] | None
    waiting: deque[str] = field(default_factory=deque)


@dataclass
class CallerState:
    peer: Peer | None
    calls: set[str] = field(default_factory=set)
    reservations: set[str] = field(default_factory=set)
    gone: asyncio.TimerHandle | None = None


class Broker:
    def __init__(
        self,
        catalogue: Catalogue,
        recorder: Recorder,
        *,
        reconnect_grace: float,
        keep_finished: float = 60.0,
    ) -> None:
        self.catalogue = catalogue
        self.recorder = recorder
        self.reconnect_grace = reconnect_grace
        self.keep_finished = keep_finished
        self.agents: dict[SessionKey, LiveAgent] = {}
        self.callers: dict[SessionKey, CallerState] = {}
        self.calls: dict[str, LiveCall] = {}
        self.reservations: dict[str, LiveReservation] = {}
        self.providers: dict[str, list[tuple[TemplateRoute, LiveAgent]]] = {}
        """node id -> (template, agent) of every connected agent providing it."""
        self._round_robin = itertools.count()
        self._finished: deque[tuple[float, str]] = deque()
        self.listeners: dict[str, set[asyncio.Queue[Event]]] = {}
        """assignation id -> queues of live subscribers (GraphQL subscriptions)."""

    def _forget_finished(self, call_id: str) -> None:
        """Keep finished calls a while (for callers catching up), then let them go."""
        now = time.monotonic()
        self._finished.append((now + self.keep_finished, call_id))
        while self._finished and self._finished[0][0] <= now:
            self.calls.pop(self._finished.popleft()[1], None)

    # -- connections -----------------------------------------------------------------------------

    def connect(self, peer: Peer) -> bool:
        """Bind a new connection; returns whether it resumes an earlier one."""
        resumed = False
        caller = self.callers.get(peer.key)
        if caller is not None:
            resumed = True
            if caller.peer is not None and caller.peer is not peer:
                caller.peer.close(4003, "replaced by a newer connection of the same session")
            if caller.gone is not None:
                caller.gone.cancel()
                caller.gone = None
            caller.peer = peer
        else:
            self.callers[peer.key] = CallerState(peer=peer)
        return resumed

    def disconnect(self, peer: Peer) -> None:
        caller = self.callers.get(peer.key)
        if caller is not None and caller.peer is peer:
            caller.peer = None
            loop = asyncio.get_running_loop()
            caller.gone = loop.call_later(self.reconnect_grace, self._caller_gone, peer.key)
        agent = peer.agent
        if agent is not None and agent.peer is peer:
            agent.peer = None
            self._unroute(agent)
            loop = asyncio.get_running_loop()
            agent.gone = loop.call_later(self.reconnect_grace, self._agent_gone, agent)

    def _caller_gone(self, key: SessionKey) -> None:
        caller = self.callers.pop(key, None)
        if caller is None:
            return
        for call_id in list(caller.calls):
            call = self.calls.get(call_id)
            if call is not None and not call.final:
                self._cancel(call, "the caller disconnected")
        for reservation_id in list(caller.reservations):
            self._end_reservation(reservation_id)

    def _agent_gone(self, agent: LiveAgent) -> None:
        if self.agents.get(agent.key) is not agent or agent.peer is not None:
            return
        del self.agents[agent.key]
        for call_id in list(agent.inflight):
            call = self.calls.get(call_id)
            if call is not None and not call.final:
                self._emit(
                    call,
                    EventKind.LOST,
                    message="the agent running this call disconnected and did not come back "
                    f"within {self.reconnect_grace:g} s",
                )
        agent.inflight.clear()
        task = asyncio.ensure_future(self.catalogue.agent_gone(agent.id))
        task.add_done_callback(_log_failure)

    def _unroute(self, agent: LiveAgent) -> None:
        for route in agent.routes.values():
            entries = self.providers.get(route.node_id)
            if entries:
                entries[:] = [e for e in entries if e[1] is not agent]
                if not entries:
                    del self.providers[route.node_id]
            self._reservations_changed(route.node_id)

    def _route(self, agent: LiveAgent) -> None:
        for route in agent.routes.values():
            self.providers.setdefault(route.node_id, []).append((route, agent))
            self._reservations_changed(route.node_id)

    # -- messages --------------------------------------------------------------------------------

    async def handle(self, peer: Peer, message: Message) -> None:
        if isinstance(message, Assign):
            self.assign(peer, message)
        elif isinstance(message, Report):
            self.report(peer, message)
        elif isinstance(message, Cancel):
            self.cancel(peer, message)
        elif isinstance(message, Watch):
            await self.watch(peer, message)
        elif isinstance(message, Reserve):
            await self.reserve(peer, message)
        elif isinstance(message, Unreserve):
            self.unreserve(peer, message)
        elif isinstance(message, Find):
            await self.find(peer, message)
        elif isinstance(message, Register):
            await self.register(peer, message)
        elif isinstance(message, Share):
            await self.share(peer, message)

    # -- agents ----------------------------------------------------------------------------------

    async def register(self, peer: Peer, message: Register) -> None:
        agent_id = await self.catalogue.agent(
            user_id=peer.user_id,
            client_pk=peer.client_pk,
            app_identifier=peer.app_identifier,
            instance_id=peer.instance_id,
            session=peer.session,
        )
        routes = await self.catalogue.register(
            agent_id=agent_id,
            user_id=peer.user_id,
            app_identifier=peer.app_identifier,
            templates=message.templates,
        )
        agent = self.agents.get(peer.key)
        if agent is None or agent.id != agent_id:
            agent = LiveAgent(id=agent_id, key=peer.key, peer=peer)
            self.agents[peer.key] = agent
        else:
            self._unroute(agent)
        if agent.gone is not None:
            agent.gone.cancel()
            agent.gone = None
        agent.peer = peer
        peer.agent = agent
        agent.routes = {route.id: route for route, _ in routes}
        self._route(agent)
        peer.send(
            Registered(
                rid=message.rid,
                agent=agent_id,
                templates=[
                    TemplateInfo(
                        interface=route.interface, template=route.id, node=route.node_id, hash=h
                    )
                    for route, h in routes
                ],
            )
        )

    async def share(self, peer: Peer, message: Share) -> None:
        try:
            route, usernames = await self.catalogue.share(
                user_id=peer.user_id,
                app_identifier=peer.app_identifier,
                interface=message.interface,
                usernames=message.users,
                everyone=message.everyone,
                revoke=message.revoke,
            )
        except LookupError as e:
            peer.send(Failed(rid=message.rid, code="not_found", message=str(e.args[0])))
            return
        self.sharing_changed(route)
        peer.send(
            Shared(rid=message.rid, template=route.id, everyone=route.everyone, users=usernames)
        )

    def sharing_changed(self, route: TemplateRoute) -> None:
        """Routing honours a share at once: every connected agent providing the template."""
        for agent in self.agents.values():
            live = agent.routes.get(route.id)
            if live is not None:
                live.everyone, live.shared_with = route.everyone, set(route.shared_with)
        self._reservations_changed(route.node_id)

    def resume_agent(self, peer: Peer, known: list[str]) -> None:
        """An agent came back within the grace window: continue its calls."""
        agent = self.agents.get(peer.key)
        if agent is None:
            return
        if agent.gone is not None:
            agent.gone.cancel()
            agent.gone = None
        if agent.peer is not None and agent.peer is not peer:
            agent.peer.close(4003, "replaced by a newer connection of the same session")
            self._unroute(agent)
        agent.peer = peer
        peer.agent = agent
        self._route(agent)
        still_known = set(known)
        for call_id in list(agent.inflight):
            call = self.calls.get(call_id)
            if call is None or call.final:
                agent.inflight.discard(call_id)
            elif call_id not in still_known:
                self._deliver(call)  # it never arrived
            elif call.cancel_requested:
                peer.send(Interrupt(assignation=call_id))

    def report(self, peer: Peer, message: Report) -> None:
        agent = peer.agent
        if agent is None:
            peer.send(Failed(code="not_an_agent", message="register templates before reporting"))
            return
        if message.seq > agent.acked:
            agent.acked = message.seq
            call = self.calls.get(message.assignation)
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
                self._emit(
                    call,
                    message.kind,
                    progress=message.progress,
                    message=message.message,
                    level=message.level,
                    values=message.values,
                    error=message.error,
                )
        # the gateway acknowledges once per frame (see gateway._read)

    # -- callers ---------------------------------------------------------------------------------

    def assign(self, peer: Peer, message: Assign) -> None:
        def refuse(code: str, text: str) -> None:
            peer.send(Failed(assignation=message.id, code=code, message=text))

        if message.id in self.calls:
            refuse("duplicate", "an assignation with this id exists already")
            return
        parent = None
        if message.parent is not None:
            parent = self.calls.get(message.parent)
            if parent is None or parent.agent is None or parent.agent.peer is not peer:
                refuse("bad_parent", "the parent assignation is not running on this agent")
                return
        reservation = None
        node_id = message.node
        if message.reservation is not None:
            reservation = self.reservations.get(message.reservation)
            if reservation is None or reservation.user_id != peer.user_id:
                refuse("not_found", "no such reservation (it may have ended)")
                return
            node_id = reservation.node_id
        elif message.template is not None:
            template = next(
                (
                    r
                    for entries in self.providers.values()
                    for r, _ in entries
                    if r.id == message.template
                ),
                None,
            )
            if template is None or not template.usable_by(peer.user_id):
                refuse("no_provider", "no connected agent provides this template")
                return
            node_id = template.node_id
        if node_id is None:
            refuse("bad_request", "give a node, a template or a reservation")
            return
        call = LiveCall(
            id=message.id,
            user_id=peer.user_id,
            caller=peer.key,
            node_id=node_id,
            args=message.args,
            parent=message.parent,
            reservation=message.reservation,
        )
        choice = self._choose(call, message.template, reservation)
        if choice is None and reservation is None:
            refuse(
                "no_provider",
                "no connected agent provides this function to you "
                "(start an agent, or reserve it to wait for one)",
            )
            return
        self.calls[call.id] = call
        caller = self.callers.get(peer.key)
        if caller is not None:
            caller.calls.add(call.id)
        self.recorder.created(
            {
                "id": call.id,
                "user_id": call.user_id,
                "app_identifier": peer.app_identifier,
                "node_id": node_id,
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
        if choice is None:
            assert reservation is not None
            reservation.waiting.append(call.id)
            self._emit(call, EventKind.QUEUED, message="waiting for an agent to connect")
            return
        self._start(call, *choice)

    def _choose(
        self, call: LiveCall, template_id: str | None, reservation: LiveReservation | None
    ) -> tuple[TemplateRoute, LiveAgent] | None:
        best: tuple[TemplateRoute, LiveAgent] | None = None
        best_load = -1
        candidates = self.providers.get(call.node_id, ())
        offset = next(self._round_robin)
        count = len(candidates)
        for i in range(count):
            route, agent = candidates[(offset + i) % count]
            if template_id is not None and route.id != template_id:
                continue
            if not route.usable_by(call.user_id):
                continue
            if (
                reservation is not None
                and reservation.agents
                and agent.id not in reservation.agents
            ):
                continue
            load = len(agent.inflight)
            if best is None or load < best_load:
                best, best_load = (route, agent), load
                if load == 0:
                    break
        return best

    def _start(self, call: LiveCall, route: TemplateRoute, agent: LiveAgent) -> None:
        call.template = route
        call.agent = agent
        agent.inflight.add(call.id)
        self.recorder.changed(call.id, template_id=route.id, agent_id=agent.id)
        self._emit(call, EventKind.ASSIGNED)
        self._deliver(call)

    def _deliver(self, call: LiveCall) -> None:
        agent, route = call.agent, call.template
        if agent is None or route is None or agent.peer is None:
            return
        caller = self.callers.get(call.caller)
        username = caller.peer.username if caller is not None and caller.peer else ""
        agent.peer.send(
            Assignment.model_construct(  # fields already validated on the way in
                assignation=call.id,
                template=route.id,
                interface=route.interface,
                args=call.args,
                parent=call.parent,
                user=username,
            )
        )

    def cancel(self, peer: Peer, message: Cancel) -> None:
        call = self.calls.get(message.assignation)
        if call is None or call.user_id != peer.user_id:
            peer.send(
                Failed(assignation=message.assignation, code="not_found", message="no such call")
            )
            return
        if not call.final:
            self._cancel(call, "cancelled by the caller")

    def _cancel(self, call: LiveCall, reason: str) -> None:
        for child in [c for c in self.calls.values() if c.parent == call.id and not c.final]:
            self._cancel(child, "its parent was cancelled")
        if call.agent is None or call.agent.peer is None:
            # not running anywhere right now (queued, or its agent is away): ends here
            self._drop_waiting(call)
            call.cancel_requested = True
            self._emit(call, EventKind.CANCELLED, message=reason)
            return
        call.cancel_requested = True
        call.agent.peer.send(Interrupt(assignation=call.id))

    async def watch(self, peer: Peer, message: Watch) -> None:
        caller = self.callers.get(peer.key)
        for call_id, seen in message.assignations.items():
            call = self.calls.get(call_id)
            if call is not None and call.user_id == peer.user_id:
                if caller is not None and not call.final:
                    caller.calls.add(call_id)
                call.caller = peer.key
                for event in call.history:
                    if event.index > seen:
                        peer.send(event)
                continue
            events = await self._stored_events(peer.user_id, call_id, seen)
            if events is None:
                peer.send(Failed(assignation=call_id, code="not_found", message="no such call"))
            else:
                for event in events:
                    peer.send(event)

    async def _stored_events(self, user_id: str, call_id: str, seen: int) -> list[Event] | None:
        from sqlalchemy import select

        from .models import Assignation, AssignationEvent

        await self.recorder.flush()
        async with self.catalogue.db.new_session() as s:
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

    async def reserve(self, peer: Peer, message: Reserve) -> None:
        existing = self.reservations.get(message.id)
        if existing is not None:
            if existing.user_id != peer.user_id:
                peer.send(Failed(reservation=message.id, code="duplicate", message="id in use"))
                return
            existing.caller = peer.key
        elif not await self.catalogue.node_visible(peer.user_id, message.node):
            peer.send(Failed(reservation=message.id, code="not_found", message="no such function"))
            return
        else:
            existing = LiveReservation(
                id=message.id,
                user_id=peer.user_id,
                caller=peer.key,
                node_id=message.node,
                agents=set(message.agents) if message.agents else None,
            )
            self.reservations[message.id] = existing
            await self.catalogue.reservation_started(
                message.id, peer.user_id, message.node, message.agents
            )
        caller = self.callers.get(peer.key)
        if caller is not None:
            caller.reservations.add(message.id)
        peer.send(self._reservation_status(existing))

    def unreserve(self, peer: Peer, message: Unreserve) -> None:
        reservation = self.reservations.get(message.reservation)
        if reservation is None or reservation.user_id != peer.user_id:
            return
        self._end_reservation(message.reservation)

    def _end_reservation(self, reservation_id: str) -> None:
        reservation = self.reservations.pop(reservation_id, None)
        if reservation is None:
            return
        task = asyncio.ensure_future(self.catalogue.reservation_ended(reservation_id))
        task.add_done_callback(_log_failure)
        while reservation.waiting:
            call = self.calls.get(reservation.waiting.popleft())
            if call is not None and not call.final:
                self._emit(call, EventKind.CANCELLED, message="its reservation ended")

    def _reservation_status(self, reservation: LiveReservation) -> ReservationStatus:
        providers = {
            agent.id
            for route, agent in self.providers.get(reservation.node_id, ())
            if route.usable_by(reservation.user_id)
            and (not reservation.agents or agent.id in reservation.agents)
        }
        return ReservationStatus(reservation=reservation.id, providers=len(providers))

    def _reservations_changed(self, node_id: str) -> None:
        for reservation in self.reservations.values():
            if reservation.node_id != node_id:
                continue
            status = self._reservation_status(reservation)
            caller = self.callers.get(reservation.caller)
            if caller is not None and caller.peer is not None:
                caller.peer.send(status)
            while status.providers and reservation.waiting:
                call = self.calls.get(reservation.waiting.popleft())
                if call is None or call.final:
                    continue
                choice = self._choose(call, None, reservation)
                if choice is None:
                    reservation.waiting.appendleft(call.id)
                    break
                self._start(call, *choice)

    def _drop_waiting(self, call: LiveCall) -> None:
        if call.reservation is not None:
            reservation = self.reservations.get(call.reservation)
            if reservation is not None and call.id in reservation.waiting:
                reservation.waiting.remove(call.id)

    async def find(self, peer: Peer, message: Find) -> None:
        rows = await self.catalogue.find(
            peer.user_id,
            node=message.node,
            hash=message.hash,
            interface=message.interface,
            name=message.name,
            search=message.search,
            limit=message.limit,
        )
        nodes = [node_info(row, self.provider_count(row[0], peer.user_id)) for row in rows]
        peer.send(Found(rid=message.rid, nodes=nodes))

    def provider_count(self, node_id: str, user_id: str) -> int:
        return len({a.id for r, a in self.providers.get(node_id, ()) if r.usable_by(user_id)})

    # -- events ----------------------------------------------------------------------------------

    def _emit(
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
        self.recorder.event(call.id, call.index, kind.value, data, now)
        if kind in FINAL_EVENTS:
            call.final = True
            self.recorder.changed(call.id, status=kind.value, finished_at=now)
            if call.agent is not None:
                call.agent.inflight.discard(call.id)
            caller = self.callers.get(call.caller)
            if caller is not None:
                caller.calls.discard(call.id)
            self._forget_finished(call.id)
        elif kind is not EventKind.LOG and kind is not EventKind.PROGRESS:
            self.recorder.changed(call.id, status=kind.value)
        if kind not in FORWARDED:
            return
        event = Event.model_construct(
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
        for queue in self.listeners.get(call.id, ()):
            queue.put_nowait(event)
        caller = self.callers.get(call.caller)
        if caller is not None and caller.peer is not None:
            caller.peer.send(event)

    def shutdown(self) -> None:
        """The server is stopping: cancel the grace timers."""
        for agent in self.agents.values():
            if agent.gone is not None:
                agent.gone.cancel()
        for caller in self.callers.values():
            if caller.gone is not None:
                caller.gone.cancel()


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("updating an agent failed: %s", task.exception())
