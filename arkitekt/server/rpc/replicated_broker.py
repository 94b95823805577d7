"""The broker of several replicas: each replica's :class:`~.memory_broker.InMemoryBroker`,
joined to the others through Redis (:class:`~.cluster.Cluster`).

Who holds what
    A call lives on the replica its caller sent it to (its *home*): that broker routes it,
    numbers and records its events, and sends them to the caller. An app connected to another
    replica appears in the home's broker as a *forwarding peer*: a :class:`~.sessions.Peer`
    whose ``send`` posts the message to the replica the app is connected to, which passes it
    on. So the in-memory broker's rules (choosing a provider, reservations, grace windows,
    re-delivery) hold unchanged across replicas, and a call whose caller and agent share a
    replica never touches Redis on its way.

What replicas tell each other (envelopes, ``k``)
    ``session``        an app connected here (a replica that held it closes its older
                       connection, and sends what it holds for the session here from now on)
    ``session_down``   an app's connection here ended (grace windows start where it matters)
    ``agent``          an agent registered here, with its templates and the calls it still runs
    ``hello``          a replica joined: the others tell it their agents
    ``send``/``close`` for an app connected here, from the home of its calls
    ``msg``            a message of an app connected there, for the home of the call it is
                       about (an agent's report, a caller's cancel or watch)
    ``stored``         reports forwarded so far are stored: acknowledge them to the agent
    ``sharing``        a template's sharing changed
    ``children``       a call is cancelled: cancel the calls made from inside it

Reports stay durable across replicas: the replica an agent is connected to acknowledges its
reports (``Ack``) only once the home of each call confirms it has stored them, so a report lost
with a replica comes back from the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import asdict
from typing import Any

from pydantic import TypeAdapter

from arkitekt.protocol.messages import (
    CLOSE_MOVED,
    FINAL_EVENTS,
    Assign,
    Assignment,
    Cancel,
    ClientMessage,
    Event,
    Message,
    PublishState,
    Report,
    ServerMessage,
    Watch,
)

from ..metrics import ServerMetrics
from .agent_states import StateHub
from .broker import Broker
from .call_ids import RecentCallIds
from .calls import LiveCall
from .catalogue import Catalogue, TemplateRoute
from .cluster import Cluster, Envelope
from .memory_broker import InMemoryBroker, Replication
from .recorder import Recorder
from .recovery import StoredCall, unfinished_calls
from .sessions import REPLACED, LiveAgent, Peer, SessionKey

logger = logging.getLogger("arkitekt.server.rpc.replicas")

MOVED = "another replica took over calls of this app: reconnect"
APPLY_WAIT = 2.0
"""Longest wait for the other replicas to apply a sharing change."""

CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
PEER_FIELDS = ("user_id", "username", "client_pk", "app_identifier", "instance_id", "session")


def _who(peer: Peer) -> dict[str, str]:
    return {name: getattr(peer, name) for name in PEER_FIELDS}


def _key(who: dict[str, str]) -> SessionKey:
    return (who["user_id"], who["client_pk"], who["session"])


def _session(value: list[str]) -> SessionKey:
    return (str(value[0]), str(value[1]), str(value[2]))


class ReplicatedBroker(Broker, Replication):
    """Routes calls between the apps connected to every replica (see the module's docstring)."""

    def __init__(
        self,
        catalogue: Catalogue,
        recorder: Recorder,
        *,
        cluster: Cluster,
        reconnect_grace: float,
        call_ids: RecentCallIds,
        keep_finished: float,
        metrics: ServerMetrics,
    ) -> None:
        self.cluster = cluster
        self.keep_finished = keep_finished
        self.local = InMemoryBroker(
            catalogue,
            recorder,
            reconnect_grace=reconnect_grace,
            call_ids=call_ids,
            keep_finished=keep_finished,
            metrics=metrics,
            replication=self,
        )
        self._here: dict[SessionKey, Peer] = {}
        """The apps connected to this replica, by session."""
        self._remote: dict[tuple[str, SessionKey], Peer] = {}
        """Forwarding peers: (replica, session) -> a peer whose messages go there."""
        self._delivered: dict[str, tuple[str, SessionKey]] = {}
        """Calls held elsewhere that an agent here was given: call id -> (home, agent session)."""
        self._forwarded: dict[str, int] = {}
        """Home replica -> number of the last report forwarded to it."""
        self._pending: dict[SessionKey, dict[str, int]] = {}
        """Agent session here -> {home: number of its last report forwarded there}."""
        self._confirmed: dict[str, int] = {}
        """Home replica -> number of the last forwarded report it has stored."""
        self._asked = 0
        self._applied: dict[int, set[str]] = {}
        """Sharing changes sent -> the replicas that have not confirmed applying them yet."""
        self._seen: dict[SessionKey, str] = {}
        """Session -> the replica it last connected to (from what replicas tell)."""
        self._moved_from: dict[SessionKey, str] = {}
        """Sessions here that were connected to another replica before (its calls may be
        held there)."""
        self._callers_of: dict[str, set[SessionKey]] = {}
        """Replica -> sessions here whose watches or cancels were forwarded there."""
        self.adoption_wait = 3 * cluster.dead_after + 2
        """Longest wait for the calls of a stopped replica to be taken over."""
        self._confirmations = asyncio.Condition()
        self._to_confirm: dict[str, int] = {}
        self._confirming: dict[str, asyncio.Task[None]] = {}
        cluster.on_envelope = self._receive
        cluster.on_replica_gone = self._replica_gone
        cluster.on_redis_restarted = self._redis_restarted

    async def start(self) -> None:
        """Join the other replicas and learn their agents."""
        await self.cluster.start()
        self.cluster.broadcast({"k": "hello"})

    # -- connections -----------------------------------------------------------------------------

    def connect(self, peer: Peer) -> bool:
        self._here[peer.key] = peer
        before = self._seen.get(peer.key)
        if before is not None and before != self.cluster.replica:
            self._moved_from[peer.key] = before
        self._seen[peer.key] = self.cluster.replica
        resumed = self.local.connect(peer)
        self.cluster.broadcast({"k": "session", "p": _who(peer)})
        return resumed

    def disconnect(self, peer: Peer) -> None:
        if self._here.get(peer.key) is peer:
            del self._here[peer.key]
            self._pending.pop(peer.key, None)
            self._moved_from.pop(peer.key, None)
            for callers in self._callers_of.values():
                callers.discard(peer.key)
            for call_id in [i for i, (_, key) in self._delivered.items() if key == peer.key]:
                del self._delivered[call_id]  # its reports find their calls' homes in Redis
            if self._seen.get(peer.key) == self.cluster.replica:
                del self._seen[peer.key]
            self.cluster.broadcast({"k": "session_down", "s": list(peer.key)})
        self.local.disconnect(peer)

    def resume_agent(self, peer: Peer, known: list[str]) -> None:
        self.local.resume_agent(peer, known)

    async def handle(self, peer: Peer, message: Message) -> None:
        if isinstance(message, Assign) and message.parent is not None:
            await self._find_parent(peer, message.parent)
        if isinstance(message, Report) and self.local.call(message.assignation) is None:
            where = self._delivered.get(message.assignation)
            home = where[0] if where is not None else await self._home(message.assignation, True)
            if home is not None:
                self._forward_report(home, peer, message)
                return
        elif isinstance(message, Cancel) and self.local.call(message.assignation) is None:
            home = await self._home(message.assignation)
            if home is not None:
                self._forward(home, peer, message)
                return
        elif isinstance(message, Watch):
            message = await self._forward_watches(peer, message)
        await self.local.handle(peer, message)

    async def _find_parent(self, peer: Peer, parent: str) -> None:
        """A call made from inside ``parent``: when another replica holds the parent and it
        runs on this agent (by its home record), this replica learns so (``runs_here``)."""
        if self.local.call(parent) is not None or parent in self._delivered:
            return
        home = await self.cluster.home(parent)
        if home is not None and home.agent == peer.key and self.cluster.alive(home.replica):
            self._delivered[parent] = (home.replica, peer.key)

    def _forward(self, home: str, peer: Peer, message: Message, **extra: Any) -> None:
        if not isinstance(message, Report):
            self._callers_of.setdefault(home, set()).add(peer.key)
        envelope = {"k": "msg", "p": _who(peer), "m": message.model_dump(mode="json"), **extra}
        self.cluster.post(home, envelope)

    def _forward_report(self, home: str, peer: Peer, message: Report) -> None:
        agent = peer.agent
        if agent is not None and message.seq > agent.acked:
            agent.acked = message.seq  # acknowledged once the home confirms it stored it
        number = self._forwarded.get(home, 0) + 1
        self._forwarded[home] = number
        self._pending.setdefault(peer.key, {})[home] = number
        self._forward(home, peer, message, n=number)
        if message.kind in FINAL_EVENTS:
            loop = asyncio.get_running_loop()
            loop.call_later(self.keep_finished, self._delivered.pop, message.assignation, None)

    async def _home(self, call_id: str, report: bool = False) -> str | None:
        """Another live replica holding the call, if any. When its holder stopped, this waits
        (at most :attr:`adoption_wait`) for another replica to take the call over. For an
        agent's report it also waits a little for an unknown call to be claimed: after Redis
        restarted, replicas say again which calls they hold."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.adoption_wait
        claimed_by = loop.time() + (3 * self.cluster.heartbeat + 1 if report else 0)
        while True:
            found = await self.cluster.home(call_id)
            home = found.replica if found is not None else None
            if home is None and loop.time() < claimed_by:
                await asyncio.sleep(0.2)
                continue
            if home is None or home == self.cluster.replica:
                return None
            if self.cluster.alive(home):
                return home
            if loop.time() >= deadline or await self.cluster.done(f"take-over:{home}"):
                return None  # taken over, and not among its calls: ended (see the database)
            await asyncio.sleep(0.2)

    async def _forward_watches(self, peer: Peer, message: Watch) -> Watch:
        """Send the watches of calls held elsewhere to their homes; what is left is for here."""
        elsewhere = [i for i in message.assignations if self.local.call(i) is None]
        by_home: dict[str, dict[str, int]] = {}
        for call_id in elsewhere:
            home = await self._home(call_id)
            if home is not None:
                by_home.setdefault(home, {})[call_id] = message.assignations[call_id]
        for home, assignations in by_home.items():
            self._forward(home, peer, Watch(assignations=assignations))
        forwarded = {i for group in by_home.values() for i in group}
        return Watch(
            assignations={i: n for i, n in message.assignations.items() if i not in forwarded}
        )

    # -- calls (also the GraphQL API) ------------------------------------------------------------

    def assign(self, peer: Peer, message: Assign) -> None:
        self.local.assign(peer, message)

    async def stored(self, peer: Peer | None = None) -> None:
        wanted = dict(self._pending.get(peer.key, {})) if peer is not None else {}
        await self.local.stored()
        if not wanted:
            return
        # A home that stopped never confirms: the link is closed then (see _replica_gone) and
        # the agent sends its unacknowledged reports again, to the replica that took over.
        async with self._confirmations:
            await self._confirmations.wait_for(
                lambda: all(self._confirmed.get(h, 0) >= n for h, n in wanted.items())
            )

    def cancel(self, peer: Peer, message: Cancel) -> None:
        if self.local.call(message.assignation) is not None:
            self.local.cancel(peer, message)
            return
        task = asyncio.ensure_future(self.handle(peer, message))
        task.add_done_callback(_log_failure)

    def call(self, call_id: str) -> LiveCall | None:
        return self.local.call(call_id)

    def listen(self, call_id: str) -> asyncio.Queue[Event]:
        return self.local.listen(call_id)

    def unlisten(self, call_id: str, queue: asyncio.Queue[Event]) -> None:
        self.local.unlisten(call_id, queue)

    # -- providers -------------------------------------------------------------------------------

    async def sharing_changed(self, route: TemplateRoute) -> None:
        self.local.apply_sharing(route)
        await self.template_shared(route)

    @property
    def states(self) -> StateHub:
        return self.local.states

    async def may_see_agent(self, user_id: str, agent_id: str) -> bool:
        return await self.local.may_see_agent(user_id, agent_id)

    def provider_count(self, node_id: str, user_id: str) -> int:
        return self.local.provider_count(node_id, user_id)

    def online_agents(self) -> set[str]:
        return self.local.online_agents()

    def agents_here(self) -> int:
        return sum(1 for peer in self._here.values() if peer.agent is not None)

    async def ready(self) -> None:
        await self.cluster.ping()

    async def recover(self, stored: list[StoredCall]) -> int:
        """At start: the unfinished calls no live replica holds. Those of a stopped replica
        are taken over once (see :meth:`_take_over`); those held by none (stored before
        replicas, or long ago) by the first replica of a cluster."""
        homes = await self.cluster.homes([call.id for call in stored])
        homeless: list[StoredCall] = []
        stopped: dict[str, list[StoredCall]] = {}
        for call in stored:
            home = homes.get(call.id)
            if home is None:
                homeless.append(call)
            elif not self.cluster.alive(home.replica):
                stopped.setdefault(home.replica, []).append(call)
        taken = await self.local.recover(homeless) if not self.cluster.others else 0
        for replica, calls in stopped.items():
            taken += await self._take_over(replica, calls)
        return taken

    async def shutdown(self) -> None:
        await self.local.shutdown()
        for task in self._confirming.values():
            task.cancel()
        await self.cluster.stop()

    # -- what the local broker tells (Replication) -----------------------------------------------

    def agent_registered(self, agent: LiveAgent, peer: Peer) -> None:
        self.cluster.broadcast(self._agent_envelope(agent, peer))

    def _agent_envelope(self, agent: LiveAgent, peer: Peer) -> Envelope:
        return {
            "k": "agent",
            "p": _who(peer),
            "a": agent.id,
            "r": [_route_json(route) for route in agent.routes.values()],
            "known": sorted(peer.known),
            "cap": agent.capacity,
        }

    async def template_shared(self, route: TemplateRoute) -> None:
        """Tell every replica, and wait (at most :data:`APPLY_WAIT` s) until each applied it:
        a share taken back is refused everywhere once its owner hears back."""
        others = self.cluster.others
        if not others:
            return
        self._asked += 1
        number = self._asked
        waiting = self._applied[number] = set(others)
        self.cluster.broadcast({"k": "sharing", "r": _route_json(route), "n": number})
        try:
            async with asyncio.timeout(APPLY_WAIT), self._confirmations:
                await self._confirmations.wait_for(
                    lambda: not {r for r in waiting if self.cluster.alive(r)}
                )
        except TimeoutError:
            logger.warning("replicas %s did not confirm a sharing change", sorted(waiting))
        finally:
            del self._applied[number]

    def call_created(self, call: LiveCall) -> None:
        agent = call.agent.key if call.agent is not None else None
        self.cluster.set_home(call.id, list(call.caller), list(agent) if agent else None)

    def call_cancelling(self, call: LiveCall) -> None:
        self.cluster.broadcast({"k": "children", "id": call.id})

    def runs_here(self, call_id: str, peer: Peer) -> bool:
        where = self._delivered.get(call_id)
        return where is not None and where[1] == peer.key

    def state_published(self, agent_id: str, message: PublishState) -> None:
        self.cluster.broadcast(
            {"k": "state", "a": agent_id, "m": message.model_dump(mode="json", exclude_none=True)}
        )

    # -- what other replicas tell ----------------------------------------------------------------

    def _forwarding_peer(self, replica: str, who: dict[str, str]) -> Peer:
        key = _key(who)
        peer = self._remote.get((replica, key))
        if peer is None:
            session = list(key)

            def send(message: Message) -> None:
                envelope = {"k": "send", "s": session, "m": message.model_dump(mode="json")}
                self.cluster.post(replica, envelope)

            def close(code: int, reason: str) -> None:
                self.cluster.post(replica, {"k": "close", "s": session, "c": code, "r": reason})

            peer = Peer(
                user_id=who["user_id"],
                username=who["username"],
                client_pk=who["client_pk"],
                app_identifier=who["app_identifier"],
                instance_id=who["instance_id"],
                session=who["session"],
                send=send,
                close=close,
            )
            self._remote[(replica, key)] = peer
        return peer

    async def _receive(self, origin: str, envelope: Envelope) -> None:
        kind = envelope["k"]
        if kind == "send":
            self._pass_on(origin, envelope)
        elif kind == "msg":
            peer = self._forwarding_peer(origin, envelope["p"])
            message = CLIENT_MESSAGE.validate_python(envelope["m"])
            if not isinstance(message, Report) and self.local.caller_peer(peer.key) is not peer:
                self.local.connect(peer)  # its calls here send their events there from now on
            await self.local.handle(peer, message)
            if "n" in envelope:
                self._confirm(origin, int(envelope["n"]))
        elif kind == "stored":
            async with self._confirmations:
                self._confirmed[origin] = max(self._confirmed.get(origin, 0), int(envelope["n"]))
                self._confirmations.notify_all()
        elif kind == "session":
            self._session_moved(origin, envelope["p"])
        elif kind == "session_down":
            key = _session(envelope["s"])
            if self._seen.get(key) == origin:
                del self._seen[key]
            gone = self._remote.pop((origin, key), None)
            if gone is not None:
                self.local.disconnect(gone)
        elif kind == "agent":
            peer = self._forwarding_peer(origin, envelope["p"])
            routes = [_route_of(route) for route in envelope["r"]]
            self.local.adopt_agent(
                peer, envelope["a"], routes, frozenset(envelope["known"]), envelope.get("cap", {})
            )
        elif kind == "state":
            self.local.states.publish(
                envelope["a"], PublishState.model_validate(envelope["m"]), store=False
            )
        elif kind == "close":
            here = self._here.get(_session(envelope["s"]))
            if here is not None:
                here.close(int(envelope["c"]), str(envelope["r"]))
        elif kind == "sharing":
            self.local.apply_sharing(_route_of(envelope["r"]))
            if "n" in envelope:
                self.cluster.post(origin, {"k": "applied", "n": envelope["n"]})
        elif kind == "applied":
            async with self._confirmations:
                self._applied.get(int(envelope["n"]), set()).discard(origin)
                self._confirmations.notify_all()
        elif kind == "children":
            self.local.cancel_children(envelope["id"], "its parent was cancelled")
        elif kind == "hello":
            for peer in self._here.values():
                agent = peer.agent
                if agent is not None and agent.peer is peer:
                    self.cluster.post(origin, self._agent_envelope(agent, peer))

    def _pass_on(self, home: str, envelope: Envelope) -> None:
        """A message from a call's home for an app connected here."""
        peer = self._here.get(_session(envelope["s"]))
        if peer is None:
            return  # gone: the home sends it again when the app is back
        message = SERVER_MESSAGE.validate_python(envelope["m"])
        if isinstance(message, Assignment):
            self._delivered[message.assignation] = (home, peer.key)
        peer.send(message)

    def _session_moved(self, replica: str, who: dict[str, str]) -> None:
        """An app connected to ``replica``: an older connection here is replaced, and what this
        replica holds for the session goes there from now on."""
        key = _key(who)
        self._seen[key] = replica
        older = self._here.pop(key, None)
        if older is not None:
            older.close(4003, REPLACED)
        if self.local.knows_caller(key):
            self.local.connect(self._forwarding_peer(replica, who))

    def _confirm(self, origin: str, number: int) -> None:
        """Tell ``origin`` once the reports it forwarded up to ``number`` are stored."""
        self._to_confirm[origin] = number
        if origin not in self._confirming:
            task = asyncio.create_task(self._confirm_when_stored(origin))
            self._confirming[origin] = task

    async def _confirm_when_stored(self, origin: str) -> None:
        try:
            while origin in self._to_confirm:
                number = self._to_confirm.pop(origin)
                await self.local.stored()
                self.cluster.post(origin, {"k": "stored", "n": number})
        finally:
            self._confirming.pop(origin, None)

    def _redis_restarted(self) -> None:
        """What was in flight between replicas may be lost: every app connected here
        reconnects (agents send again what was not acknowledged and say which calls they run,
        callers watch their calls again), and the others tell this replica their agents."""
        for call in self.local.unfinished():
            self.call_created(call)  # Redis forgot where they are
        for peer in list(self._here.values()):
            peer.close(CLOSE_MOVED, "the server's message broker restarted: reconnect")
        self.cluster.broadcast({"k": "hello"})

    def _replica_gone(self, replica: str) -> None:
        """A replica stopped: its apps count as disconnected from what is held here; agents
        here that ran its calls start again (their unacknowledged reports then reach the
        replica that takes the calls over); one replica takes them over."""
        for where, peer in list(self._remote.items()):
            if where[0] == replica:
                del self._remote[where]
                self.local.disconnect(peer)
        for key in [k for k, r in self._seen.items() if r == replica]:
            del self._seen[key]
        ran = {key for home, key in self._delivered.values() if home == replica}
        ran |= {
            key
            for key, homes in self._pending.items()
            if homes.get(replica, 0) > self._confirmed.get(replica, 0)
        }
        for call_id in [i for i, (home, _) in self._delivered.items() if home == replica]:
            del self._delivered[call_id]
        for key in ran:
            running = self._here.get(key)
            if running is not None:
                running.close(CLOSE_MOVED, MOVED)
        waiting = self._callers_of.pop(replica, set())
        waiting |= {key for key, before in self._moved_from.items() if before == replica}
        for task in (self._take_over(replica), self._resume_callers(replica, waiting)):
            asyncio.ensure_future(task).add_done_callback(_log_failure)

    async def _resume_callers(self, replica: str, sessions: set[SessionKey]) -> None:
        """Callers here that may wait for calls of a stopped replica reconnect once its calls
        were taken over: they watch them again, and each watch reaches the replica that took
        the call over, or (a call it never stored) is answered ``not_found``. Never a hang."""
        if not sessions:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.adoption_wait
        while loop.time() < deadline and not await self.cluster.done(f"take-over:{replica}"):
            await asyncio.sleep(0.2)
        for key in sessions:
            peer = self._here.get(key)
            if peer is not None:
                self._moved_from.pop(key, None)
                peer.close(CLOSE_MOVED, MOVED)

    async def _take_over(self, replica: str, stored: list[StoredCall] | None = None) -> int:
        """Hold the unfinished calls of a stopped replica (one replica does, under a lease):
        each continues on its agent when that comes back still running it, or ends as lost
        (as after a restart, see :mod:`.recovery`). Their agents and callers reconnect, so
        agents send what was not stored and callers watch the calls here."""
        job = f"take-over:{replica}"
        if not await self.cluster.lease(job, 60) or await self.cluster.done(job):
            return 0
        if stored is None:
            stored = await unfinished_calls(self.local.catalogue.db)
        homes = await self.cluster.homes([call.id for call in stored])
        orphans = [
            dataclasses.replace(call, caller=homes[call.id].caller)
            for call in stored
            if call.id in homes and homes[call.id].replica == replica
        ]
        if orphans:
            logger.warning(
                "replica %s stopped with %d unfinished calls: taking them over",
                replica,
                len(orphans),
            )
        taken = await self.local.recover(orphans)
        for call in orphans:
            assert call.caller is not None
            agent = homes[call.id].agent
            self.cluster.set_home(call.id, list(call.caller), list(agent) if agent else None)
        await self.cluster.mark_done(job, 24 * 3600)
        agents = {call.agent_id for call in orphans if call.agent_id is not None}
        for peer in self.local.agent_peers(agents):
            peer.close(CLOSE_MOVED, MOVED)
        for caller in {call.caller for call in orphans if call.caller is not None}:
            self._close_session(caller)
        return taken

    def _close_session(self, key: SessionKey) -> None:
        """Ask the app of a session to reconnect, wherever it is connected."""
        replica = self._seen.get(key)
        if replica == self.cluster.replica:
            peer = self._here.get(key)
            if peer is not None:
                peer.close(CLOSE_MOVED, MOVED)
        elif replica is not None:
            self.cluster.post(replica, {"k": "close", "s": list(key), "c": CLOSE_MOVED, "r": MOVED})


def _route_json(route: TemplateRoute) -> dict[str, Any]:
    data = asdict(route)
    data["shared_with"] = sorted(route.shared_with)
    return data


def _route_of(data: dict[str, Any]) -> TemplateRoute:
    return TemplateRoute(**{**data, "shared_with": set(data["shared_with"])})


def _log_failure(task: asyncio.Future[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if task.exception() is not None:
            logger.warning("forwarding to another replica failed: %r", task.exception())
