"""The in-memory broker: one process holds all routing state (see :class:`~.broker.Broker`).

It is composed of parts that each keep one kind of state, and runs the flows that cross them:

- :class:`~.sessions.Sessions`: connections, live callers and agents, reconnect grace windows;
- :class:`~.routing.Routing`: which agent provides what, and which one takes a call;
- :class:`~.calls.Calls`: live calls, their delivery, reports and events;
- :class:`~.reservations.Reservations`: reservations, their status and waiting calls;
- :class:`~.replay.Replay`: a reconnecting caller catching up on its calls;
- :class:`~.directory.Directory`: agents registering templates, sharing, finding functions;
- :class:`~.agent_states.StateHub`: agents' published states and their watchers.

It never awaits the database on the hot path: the :class:`~.recorder.Recorder` stores
assignations and events behind it, and the catalogue learns in the background what the broker
does not wait for (agents gone, reservations ended).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from arkitekt.protocol.messages import (
    Assign,
    Cancel,
    Event,
    Failed,
    Find,
    Message,
    PublishState,
    Register,
    Report,
    Reserve,
    Share,
    Unreserve,
    UnwatchState,
    Watch,
    WatchState,
)

from ..metrics import ServerMetrics
from .agent_states import StateHub
from .broker import Broker
from .call_ids import RecentCallIds
from .calls import Calls, LiveCall
from .catalogue import Catalogue, TemplateRoute
from .directory import Directory
from .recorder import Recorder
from .recovery import Recovery, StoredCall
from .replay import Replay
from .reservations import Reservations
from .routing import Routing
from .sessions import REPLACED, CallerState, LiveAgent, Peer, SessionKey, Sessions

logger = logging.getLogger("arkitekt.server.rpc")


class Replication:
    """What a broker of several replicas (:mod:`.replicated_broker`) learns from this one, and
    what it answers for calls held by another replica. This base is one replica alone: nobody
    else to tell."""

    def agent_registered(self, agent: LiveAgent, peer: Peer) -> None:
        """A connected agent registered its templates here."""
        return None

    async def template_shared(self, route: TemplateRoute) -> None:
        """An owner changed a template's sharing through this replica (routing here knows
        already): return once every replica honours it."""
        return None

    def call_created(self, call: LiveCall) -> None:
        """This replica holds a new call."""
        return None

    def call_cancelling(self, call: LiveCall) -> None:
        """A call is being cancelled: calls made from it elsewhere end too."""
        return None

    def runs_here(self, call_id: str, peer: Peer) -> bool:
        """Whether a call held by another replica runs on the agent connected as ``peer``
        (then the peer may make calls from inside it)."""
        return False

    def state_published(self, agent_id: str, message: PublishState) -> None:
        """An agent connected here published a state (the other replicas' watchers follow)."""
        return None


class InMemoryBroker(Broker):
    """Routes calls from callers to agents and their events back, in this process's memory."""

    def __init__(
        self,
        catalogue: Catalogue,
        recorder: Recorder,
        *,
        reconnect_grace: float,
        call_ids: RecentCallIds,
        keep_finished: float = 60.0,
        metrics: ServerMetrics,
        replication: Replication | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._replication = replication or Replication()
        self.recorder = recorder
        self._call_ids = call_ids
        self.reconnect_grace = reconnect_grace
        self._sessions = Sessions(
            reconnect_grace=reconnect_grace,
            on_caller_gone=self._caller_gone,
            on_agent_gone=self._agent_gone,
        )
        self._routing = Routing(on_change=self._providers_changed)
        self._calls = Calls(
            self._sessions,
            recorder,
            keep_finished=keep_finished,
            metrics=metrics,
        )
        self._reservations = Reservations(self._sessions, self._routing, self._calls, catalogue)
        self._replay = Replay(self._sessions, self._calls, catalogue, recorder)
        self._directory = Directory(
            self._sessions,
            self._routing,
            catalogue,
            on_registered=self._registered,
            on_shared=self._shared,
        )
        self._recovery = Recovery(self._calls, grace=reconnect_grace)
        self._states = StateHub(catalogue.db)
        recorder.on_rejected(self._ids_taken)

    # -- read by the GraphQL API and the dashboard -----------------------------------------------

    def call(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def listen(self, call_id: str) -> asyncio.Queue[Event]:
        return self._calls.listen(call_id)

    def unlisten(self, call_id: str, queue: asyncio.Queue[Event]) -> None:
        self._calls.unlisten(call_id, queue)

    async def stored(self, peer: Peer | None = None) -> None:
        await self.recorder.stored()

    def online_agents(self) -> set[str]:
        return self._sessions.online_agents()

    def agents_here(self) -> int:
        return len(self._sessions.online_agents())

    async def ready(self) -> None:
        return None  # nothing outside this process to reach

    def provider_count(self, node_id: str, user_id: str) -> int:
        return self._routing.offered_count(node_id, user_id)

    # -- connections -----------------------------------------------------------------------------

    def connect(self, peer: Peer) -> bool:
        return self._sessions.connect(peer)

    def disconnect(self, peer: Peer) -> None:
        self.states.peer_gone(peer)
        agent = self._sessions.disconnect(peer)
        if agent is not None:
            self._routing.remove(agent)

    def resume_agent(self, peer: Peer, known: list[str]) -> None:
        """An agent came back within the grace window: continue its calls."""
        found = self._sessions.take_back(peer)
        if found is None:
            return
        agent, replaced = found
        if replaced:
            self._routing.remove(agent)
        self._sessions.attach(agent, peer)
        self._routing.add(agent)
        self._calls.redeliver(agent, peer, known)

    def _caller_gone(self, caller: CallerState) -> None:
        for call_id in list(caller.calls):
            call = self._calls.get(call_id)
            if call is not None and not call.final:
                self._cancel(call, "the caller disconnected")
        for reservation_id in list(caller.reservations):
            self._end_reservation(reservation_id)

    async def recover(self, stored: list[StoredCall]) -> int:
        """Take back the calls an earlier run left unfinished (see :mod:`.recovery`)."""
        for call in stored:
            self._call_ids.remember(call.id)
        return self._recovery.adopt(stored)

    async def _shared(self, route: TemplateRoute) -> None:
        """An owner changed a template's sharing here (routing knows already)."""
        self.states.revalidate(self._may_see_live)
        await self._replication.template_shared(route)

    def _registered(self, agent: LiveAgent, peer: Peer) -> None:
        self._recovery.agent_back(agent, peer.known)
        self._replication.agent_registered(agent, peer)

    # -- agents and calls of other replicas (see .replicated_broker) -----------------------------

    def adopt_agent(
        self,
        peer: Peer,
        agent_id: str,
        routes: list[TemplateRoute],
        known: frozenset[str],
        capacity: dict[str, int | None],
    ) -> None:
        """An agent connected to another replica (``peer`` forwards to it) provides these
        templates: route to it, and continue the calls of this replica it runs."""
        agent = self._sessions.agent(peer.key)
        if agent is not None and agent.id == agent_id:
            self._routing.remove(agent)
            if agent.peer is not None and agent.peer is not peer:
                agent.peer.close(4003, REPLACED)
            self._sessions.attach(agent, peer)
            agent.routes = {route.id: route for route in routes}
            agent.capacity = dict(capacity)
            self._routing.add(agent)
            self._calls.redeliver(agent, peer, list(known))
            self._recovery.agent_back(agent, known)
            return
        agent = self._sessions.bind_agent(peer, agent_id)
        agent.routes = {route.id: route for route in routes}
        agent.capacity = dict(capacity)
        self._routing.add(agent)
        self._recovery.agent_back(agent, known)

    def cancel_children(self, call_id: str, reason: str) -> None:
        """Cancel the calls held here that were made from inside ``call_id``."""
        for child in self._calls.running_children(call_id):
            self._cancel(child, reason)

    def agent_peers(self, agent_ids: set[str]) -> list[Peer]:
        """The connections of these agents (those connected, here or forwarding elsewhere)."""
        return [
            agent.peer
            for agent in self._sessions.all_agents()
            if agent.id in agent_ids and agent.peer is not None
        ]

    def unfinished(self) -> list[LiveCall]:
        """The calls held here that have not ended."""
        return [call for call in self._calls.by_id.values() if not call.final]

    def caller_peer(self, key: SessionKey) -> Peer | None:
        """The connection of a session's caller, if connected."""
        return self._sessions.caller_peer(key)

    def knows_caller(self, key: SessionKey) -> bool:
        """Whether calls or reservations of this session are held here."""
        return self._sessions.caller(key) is not None

    def _ids_taken(self, call_ids: list[str]) -> None:
        for call_id in call_ids:
            call = self._calls.get(call_id)
            if call is not None:
                self._reservations.drop_waiting(call)
            self._calls.reject(call_id)

    def _agent_gone(self, agent: LiveAgent) -> None:
        self._calls.lose(
            agent,
            "the agent running this call disconnected and did not come back "
            f"within {self.reconnect_grace:g} s",
        )
        self.states.agent_gone(agent.id)
        _in_background(self.catalogue.agent_gone(agent.id))

    def _providers_changed(self, node_id: str) -> None:
        self._reservations.providers_changed(node_id)

    async def shutdown(self) -> None:
        """The server is stopping: cancel the grace timers, store the agents' states."""
        self._sessions.shutdown()
        self._recovery.shutdown()
        await self.states.stop()

    # -- messages --------------------------------------------------------------------------------

    async def handle(self, peer: Peer, message: Message) -> None:
        if isinstance(message, Assign):
            self.assign(peer, message)
        elif isinstance(message, Report):
            self._calls.report(peer, message)
        elif isinstance(message, Cancel):
            self.cancel(peer, message)
        elif isinstance(message, Watch):
            await self._replay.watch(peer, message)
        elif isinstance(message, Reserve):
            await self._reservations.reserve(peer, message)
        elif isinstance(message, Unreserve):
            self.unreserve(peer, message)
        elif isinstance(message, Find):
            await self._directory.find(peer, message)
        elif isinstance(message, Register):
            await self._directory.register(peer, message)
        elif isinstance(message, Share):
            await self._directory.share(peer, message)
        elif isinstance(message, PublishState):
            self.publish_state(peer, message)
        elif isinstance(message, WatchState):
            await self.watch_state(peer, message)
        elif isinstance(message, UnwatchState):
            self.states.unwatch(peer, message.rid)

    async def sharing_changed(self, route: TemplateRoute) -> None:
        self.apply_sharing(route)

    def apply_sharing(self, route: TemplateRoute) -> None:
        """Routing honours a share at once: every connected agent providing the template, and
        so do the watches of agents' states."""
        self._routing.sharing_changed(route, self._sessions.all_agents())
        self.states.revalidate(self._may_see_live)

    # -- agents' states --------------------------------------------------------------------------

    @property
    def states(self) -> StateHub:
        """Agents' states (see :mod:`.agent_states`)."""
        return self._states

    async def may_see_agent(self, user_id: str, agent_id: str) -> bool:
        allowed = self._may_see_live(user_id, agent_id)
        if allowed is None:
            allowed = await self.catalogue.may_see_agent(user_id, agent_id)
        return allowed

    def publish_state(self, peer: Peer, message: PublishState) -> None:
        agent = peer.agent
        if agent is None:
            peer.send(Failed(code="not_an_agent", message="register templates before states"))
            return
        self.states.start()
        refused = self.states.publish(agent.id, message)
        if refused is not None:
            peer.send(Failed(code="bad_state", message=f"state {message.state!r}: {refused}"))
            return
        self._replication.state_published(agent.id, message)

    async def watch_state(self, peer: Peer, message: WatchState) -> None:
        """Read or follow an agent's state, if the peer's user may see that agent: it is
        theirs, or it provides a template shared with them. An agent that is not visible and
        one that does not exist are refused alike."""
        agent_id = message.agent
        if agent_id is None and message.node is not None:
            templates = frozenset(message.templates) if message.templates is not None else None
            providers = self._routing.providers(message.node, peer.user_id, templates)
            if len(providers) != 1:
                why = (
                    "no connected agent provides this function to you"
                    if not providers
                    else f"{len(providers)} agents provide this function: name one of "
                    f"{', '.join(sorted(providers))}"
                )
                peer.send(Failed(rid=message.rid, code="not_found", message=why))
                return
            (agent_id,) = providers
        if agent_id is None:
            peer.send(Failed(rid=message.rid, code="bad_request", message="name an agent or node"))
            return
        if not await self.may_see_agent(peer.user_id, agent_id):
            peer.send(
                Failed(
                    rid=message.rid,
                    code="not_found",
                    message="no such agent among yours or those sharing a function with you",
                )
            )
            return
        await self.states.watch(peer, message, agent_id)

    def _may_see_live(self, user_id: str, agent_id: str) -> bool | None:
        """Whether the user may see a connected agent (None: not connected here)."""
        for agent in self._sessions.all_agents():
            if agent.id == agent_id:
                return agent.key[0] == user_id or any(
                    route.usable_by(user_id) for route in agent.routes.values()
                )
        return None

    # -- calls -----------------------------------------------------------------------------------

    def assign(self, peer: Peer, message: Assign) -> None:
        def refuse(code: str, text: str) -> None:
            peer.send(Failed(assignation=message.id, code=code, message=text))

        if message.id in self._calls:
            refuse("duplicate", "an assignation with this id exists already")
            return
        id_refused = self._call_ids.refusal(message.id)
        if id_refused is not None:
            refuse(*id_refused)
            return
        if self.recorder.overloaded:
            refuse("busy", "the server is behind storing calls; try again shortly")
            return
        if message.parent is not None and not self._replication.runs_here(message.parent, peer):
            parent = self._calls.get(message.parent)
            if parent is None or parent.agent is None or parent.agent.peer is not peer:
                refuse("bad_parent", "the parent assignation is not running on this agent")
                return
        reservation = None
        node_id = message.node
        templates = frozenset(message.templates) if message.templates is not None else None
        if message.reservation is not None:
            reservation = self._reservations.mine(message.reservation, peer.user_id)
            if reservation is None:
                refuse("not_found", "no such reservation (it may have ended)")
                return
            node_id, templates = reservation.node_id, reservation.templates
        elif node_id is None and message.templates:
            first = self._routing.template(message.templates[0])
            node_id = first.node_id if first is not None else None
            if node_id is None:
                refuse("no_provider", "no connected agent provides this template")
                return
        if node_id is None:
            refuse("bad_request", "give a node, templates or a reservation")
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
        choice = self._routing.choose(
            node_id,
            peer.user_id,
            templates=templates,
            among=reservation.agents if reservation is not None else None,
        )
        if choice is None and reservation is None:
            refuse(
                "no_provider",
                "no connected agent provides this function to you "
                + (
                    "through the templates you chose (find it again?)"
                    if templates is not None
                    else "from your own apps (to call another user's, find it with owner= "
                    "or shared=True)"
                ),
            )
            return
        self._call_ids.remember(call.id)
        self._calls.add(call, peer.app_identifier)
        if choice is None:
            assert reservation is not None
            self._replication.call_created(call)
            self._reservations.wait(reservation, call)
            return
        self._calls.start(call, *choice)
        self._replication.call_created(call)

    def cancel(self, peer: Peer, message: Cancel) -> None:
        call = self._calls.get(message.assignation)
        if call is None or call.user_id != peer.user_id:
            peer.send(
                Failed(assignation=message.assignation, code="not_found", message="no such call")
            )
            return
        if not call.final:
            self._cancel(call, "cancelled by the caller")

    def _cancel(self, call: LiveCall, reason: str) -> None:
        for child in self._calls.running_children(call.id):
            self._cancel(child, "its parent was cancelled")
        if call.agent is not None:
            self._replication.call_cancelling(call)
        if not self._calls.interrupt(call):
            # not running anywhere right now (queued, or its agent is away): ends here
            self._reservations.drop_waiting(call)
            self._calls.cancelled(call, reason)

    def unreserve(self, peer: Peer, message: Unreserve) -> None:
        if self._reservations.mine(message.reservation, peer.user_id) is not None:
            self._end_reservation(message.reservation)

    def _end_reservation(self, reservation_id: str) -> None:
        reservation = self._reservations.pop(reservation_id)
        if reservation is None:
            return
        _in_background(self.catalogue.reservation_ended(reservation_id))
        self._reservations.cancel_waiting(reservation)


def _in_background(update: Coroutine[Any, Any, None]) -> None:
    """Run a catalogue update nobody waits for; a failure is logged."""
    task = asyncio.ensure_future(update)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("updating an agent failed: %s", task.exception())
