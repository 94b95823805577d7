"""Sessions: who is connected, as caller and as agent, and how long an absent one is waited for.

Every connected app is a :class:`Peer` (one websocket). Apps are identified across reconnects by
their *session* (chosen by the client), scoped to the user and OAuth client, so one user cannot
take over another's session: the :data:`SessionKey`.

Every session is a caller (:class:`CallerState`); one that registered templates is also an agent
(:class:`LiveAgent`). When a link drops, both wait ``reconnect_grace`` seconds for the session to
come back; when the window runs out, :class:`Sessions` forgets them and tells its owner (the
broker ends their calls and reservations).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from arkitekt.protocol.messages import Message

from .catalogue import TemplateRoute

SessionKey = tuple[str, str, str]
"""(user id, OAuth client pk, session): what identifies one running app across reconnects."""

REPLACED = "replaced by a newer connection of the same session"


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
    known: frozenset[str] = frozenset()
    """The calls the app still ran when it connected (``Hello.known``)."""

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
    capacity: dict[str, int | None] = field(default_factory=dict)
    """template id -> how many calls of it the agent runs at once (None, or absent: no
    limit)."""
    inflight: dict[str, str] = field(default_factory=dict)
    """call id -> template id, for the calls it runs (or will run: queued on it)."""
    busy: dict[str, int] = field(default_factory=dict)
    """template id -> how many of ``inflight`` are its calls."""
    acked: int = 0
    """Highest report sequence number stored."""
    gone: asyncio.TimerHandle | None = None

    def take(self, call_id: str, template_id: str) -> None:
        """The agent runs this call (from now on)."""
        if call_id not in self.inflight:
            self.inflight[call_id] = template_id
            self.busy[template_id] = self.busy.get(template_id, 0) + 1

    def release(self, call_id: str) -> None:
        """The call no longer runs on the agent."""
        template_id = self.inflight.pop(call_id, None)
        if template_id is not None:
            left = self.busy.get(template_id, 1) - 1
            if left > 0:
                self.busy[template_id] = left
            else:
                self.busy.pop(template_id, None)

    def release_all(self) -> None:
        self.inflight.clear()
        self.busy.clear()

    def has_free_slot(self, template_id: str) -> bool:
        """Whether a call of the template would start at once (as far as the server knows:
        locks shared with other functions are the agent's business)."""
        limit = self.capacity.get(template_id)
        return limit is None or self.busy.get(template_id, 0) < limit

    def apply_sharing(self, route: TemplateRoute) -> None:
        """Take over a template's new sharing, if this agent provides it."""
        live = self.routes.get(route.id)
        if live is not None:
            live.everyone, live.shared_with = route.everyone, set(route.shared_with)


@dataclass
class CallerState:
    peer: Peer | None
    calls: set[str] = field(default_factory=set)
    reservations: set[str] = field(default_factory=set)
    gone: asyncio.TimerHandle | None = None


class Sessions:
    """The live callers and agents of this process, by session, with their grace windows."""

    def __init__(
        self,
        *,
        reconnect_grace: float,
        on_caller_gone: Callable[[CallerState], None],
        on_agent_gone: Callable[[LiveAgent], None],
    ) -> None:
        self.reconnect_grace = reconnect_grace
        self._on_caller_gone = on_caller_gone
        self._on_agent_gone = on_agent_gone
        self._agents: dict[SessionKey, LiveAgent] = {}
        self._callers: dict[SessionKey, CallerState] = {}

    # -- reading ---------------------------------------------------------------------------------

    @property
    def agents(self) -> dict[SessionKey, LiveAgent]:
        """The live agents by session (the dict itself: read it, do not change it)."""
        return self._agents

    @property
    def callers(self) -> dict[SessionKey, CallerState]:
        """The live callers by session (the dict itself)."""
        return self._callers

    def agent(self, key: SessionKey) -> LiveAgent | None:
        return self._agents.get(key)

    def all_agents(self) -> Iterator[LiveAgent]:
        """Every agent, connected or within its grace window."""
        return iter(self._agents.values())

    def caller(self, key: SessionKey) -> CallerState | None:
        return self._callers.get(key)

    def caller_peer(self, key: SessionKey) -> Peer | None:
        """The caller's connection, if it is connected right now."""
        caller = self._callers.get(key)
        return caller.peer if caller is not None else None

    # -- connections -----------------------------------------------------------------------------

    def connect(self, peer: Peer) -> bool:
        """Bind a new connection; returns whether it resumes an earlier one."""
        resumed = False
        caller = self._callers.get(peer.key)
        if caller is not None:
            resumed = True
            if caller.peer is not None and caller.peer is not peer:
                caller.peer.close(4003, REPLACED)
            if caller.gone is not None:
                caller.gone.cancel()
                caller.gone = None
            caller.peer = peer
        else:
            self._callers[peer.key] = CallerState(peer=peer)
        return resumed

    def disconnect(self, peer: Peer) -> LiveAgent | None:
        """A connection ended: start the grace windows. Returns the agent that went away with it
        (for the broker to stop routing to), if any."""
        caller = self._callers.get(peer.key)
        if caller is not None and caller.peer is peer:
            caller.peer = None
            loop = asyncio.get_running_loop()
            caller.gone = loop.call_later(self.reconnect_grace, self._caller_gone, peer.key)
        agent = peer.agent
        if agent is None or agent.peer is not peer:
            return None
        agent.peer = None
        loop = asyncio.get_running_loop()
        agent.gone = loop.call_later(self.reconnect_grace, self._agent_gone, agent)
        return agent

    def _caller_gone(self, key: SessionKey) -> None:
        caller = self._callers.pop(key, None)
        if caller is not None:
            self._on_caller_gone(caller)

    def _agent_gone(self, agent: LiveAgent) -> None:
        if self._agents.get(agent.key) is not agent or agent.peer is not None:
            return
        del self._agents[agent.key]
        self._on_agent_gone(agent)

    # -- agents ----------------------------------------------------------------------------------

    def bind_agent(self, peer: Peer, agent_id: str) -> LiveAgent:
        """The peer registered as agent ``agent_id``: its live agent (the session's earlier one
        when it is the same agent, else a new one), bound to the peer."""
        agent = self._agents.get(peer.key)
        if agent is None or agent.id != agent_id:
            agent = LiveAgent(id=agent_id, key=peer.key, peer=peer)
            self._agents[peer.key] = agent
        self.attach(agent, peer)
        return agent

    def take_back(self, peer: Peer) -> tuple[LiveAgent, bool] | None:
        """The session's agent, as the peer resumes it (then :meth:`attach` it), and whether an
        older link still held it (that link is closed now). None: the session has no agent."""
        agent = self._agents.get(peer.key)
        if agent is None:
            return None
        older = agent.peer
        if older is None or older is peer:
            return agent, False
        older.close(4003, REPLACED)
        return agent, True

    def attach(self, agent: LiveAgent, peer: Peer) -> None:
        """The agent runs on this peer from now on."""
        if agent.gone is not None:
            agent.gone.cancel()
            agent.gone = None
        agent.peer = peer
        peer.agent = agent

    def online_agents(self) -> set[str]:
        """Ids of the agents connected right now."""
        return {agent.id for agent in self._agents.values() if agent.peer is not None}

    def shutdown(self) -> None:
        """The server is stopping: cancel the grace timers."""
        for agent in self._agents.values():
            if agent.gone is not None:
                agent.gone.cancel()
        for caller in self._callers.values():
            if caller.gone is not None:
                caller.gone.cancel()
