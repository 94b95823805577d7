"""The broker: routes calls from callers to agents and their events back.

:class:`Broker` is what the gateway (``/rekuest/ws``), the GraphQL API and the dashboard use.
Today one implementation exists, :class:`~.memory_broker.InMemoryBroker`: one process holds all
routing state. A Redis-backed broker (several replicas behind a load balancer, DESIGN §9) would
implement the same interface; the contract below is what it must keep. "The server" means every
replica together.

Sessions
    Every connected app is a :class:`Peer` (one websocket), identified across reconnects by
    ``peer.key``: (user id, OAuth client pk, session chosen by the client), so one user cannot
    take over another's session. A newer connection of a session replaces an older one (closed
    with 4003), on whichever replica either landed. :meth:`Broker.connect` says whether the
    session was known.

Grace windows
    When an agent's link drops, its in-flight calls wait ``reconnect_grace`` seconds for it to
    come back with the same session (:meth:`Broker.resume_agent`: calls it never received are
    delivered again, interrupts repeated); otherwise they end as ``lost``, never re-run
    elsewhere. When a caller's link drops for longer than that, its unfinished calls are
    cancelled and its reservations end.

Calls
    Ids are chosen by the client, time-ordered (:mod:`arkitekt.protocol.ids`): an id taken
    before is refused (``duplicate``) however long ago, from memory (:mod:`.call_ids`), so
    re-sending an ``Assign`` after a reconnect cannot run a call twice, and one user cannot
    reuse another's id; an id minted too far from the server's clock is refused
    (``expired_id``). A broker of several replicas must hold the window of ids in common.
    A call goes only to a provider its caller chose (DESIGN §8): the templates the ``Assign``
    or its reservation names, if shared with the caller, else the caller's own templates of
    the node; among those, the least loaded connected agent (round robin between equals).
    With no such agent it waits on its reservation until one connects; without a reservation
    it is refused (``no_provider``).
    A call's events have increasing indexes from 0; every one is recorded, and all but
    ``assigned`` go to the caller (when connected) and to listeners; a final event ends the
    call. Cancelling reaches the calls made from inside it too.
    A caller's ``Watch`` replays what it missed, from memory or from the database. While the
    history recorder cannot keep up (database slow or down), new calls are refused (``busy``).

Restarts
    Calls an earlier run left unfinished are taken back at start (:meth:`Broker.recover`): each
    continues on its agent when that registers again still knowing it, and otherwise ends as
    ``lost`` within ``reconnect_grace``; never re-run.

Never awaiting the database on the hot path
    ``assign``, ``cancel``, agent reports and event delivery do not wait for storage: the
    recorder writes assignations and events behind. Only the acknowledgement of an agent's
    reports waits (:meth:`Broker.stored`), off the path of the calls themselves. The methods
    are synchronous where they are today; a broker that needs the network to route (Redis)
    must keep that (queue and flush, as the recorder does) or the interface becomes ``async``
    together with its users.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from arkitekt.protocol.messages import Assign, Cancel, Event, Message

from .agent_states import StateHub
from .calls import LiveCall
from .catalogue import TemplateRoute
from .recovery import StoredCall
from .sessions import Peer

__all__ = ["Broker", "Peer"]


class Broker(Protocol):
    """Routes calls between the connected apps of the server (see the module's contract)."""

    # -- connections (the gateway) ---------------------------------------------------------------

    def connect(self, peer: Peer) -> bool:
        """Bind a new connection; returns whether it resumes an earlier one of its session."""
        ...

    def disconnect(self, peer: Peer) -> None:
        """The connection ended: start its session's grace windows."""
        ...

    def resume_agent(self, peer: Peer, known: list[str]) -> None:
        """The session's agent is back on ``peer``, still knowing the calls ``known``: route to
        it again, re-deliver its calls it does not know, repeat pending interrupts."""
        ...

    async def handle(self, peer: Peer, message: Message) -> None:
        """One message from the peer: ``Assign``, ``Report``, ``Cancel``, ``Watch``,
        ``Reserve``, ``Unreserve``, ``Find``, ``Register`` or ``Share``. Answers and refusals
        (``Failed``) go to ``peer.send``; other messages are ignored."""
        ...

    # -- calls (also the GraphQL API) ------------------------------------------------------------

    def assign(self, peer: Peer, message: Assign) -> None:
        """Start a call, or refuse it with ``Failed`` to ``peer.send``."""
        ...

    async def stored(self, peer: Peer) -> None:
        """Return once everything routed so far (calls, agents' reports, events), the reports
        of ``peer`` included, is stored durably: the gateway acknowledges an agent's reports
        only then (``Ack``), so a report lost in a crash is sent again by its agent."""
        ...

    def cancel(self, peer: Peer, message: Cancel) -> None:
        """Cancel one of the peer's user's calls (``Failed`` ``not_found`` otherwise)."""
        ...

    def call(self, call_id: str) -> LiveCall | None:
        """A live call, or one finished a short while ago; None once forgotten (then the
        database has it)."""
        ...

    def listen(self, call_id: str) -> asyncio.Queue[Event]:
        """A queue that receives the call's forwarded events from now on."""
        ...

    def unlisten(self, call_id: str, queue: asyncio.Queue[Event]) -> None:
        """Stop feeding a queue :meth:`listen` returned."""
        ...

    # -- agents' states (also the dashboard) ------------------------------------------------------

    @property
    def states(self) -> StateHub:
        """The agents' published states and their watchers."""
        ...

    async def may_see_agent(self, user_id: str, agent_id: str) -> bool:
        """Whether the user may see the agent and its states: it is theirs, or it provides a
        template shared with them."""
        ...

    # -- providers -------------------------------------------------------------------------------

    async def sharing_changed(self, route: TemplateRoute) -> None:
        """A template's sharing changed (stored already): routing honours it at once, on every
        replica once this returns."""
        ...

    def provider_count(self, node_id: str, user_id: str) -> int:
        """How many connected agents offer the function to the user through any template the
        user may use (what listings show; routing needs the caller's choice too)."""
        ...

    def online_agents(self) -> set[str]:
        """Ids of the agents connected right now (to any replica)."""
        ...

    def agents_here(self) -> int:
        """How many agents are connected to this replica."""
        ...

    async def ready(self) -> None:
        """Return when the broker can route (its engine answers); raise when it cannot."""
        ...

    async def recover(self, stored: list[StoredCall]) -> int:
        """At start: take back the calls an earlier run left unfinished, so each ends for its
        caller (see :mod:`.recovery`); returns how many wait for their agents."""
        ...

    async def shutdown(self) -> None:
        """The server is stopping: cancel the grace timers (and leave the other replicas)."""
        ...
