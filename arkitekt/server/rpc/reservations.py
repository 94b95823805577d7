"""Reservations: a caller's standing claim on a function, whether or not anyone provides it yet.

A reservation names a node, the templates it goes through (the caller's own when it names
none, as for a call) and optionally the agents allowed to run it. Its caller is told how
many agents provide it, each time that changes. Calls made through a reservation while nobody
provides it wait in its queue and start, in order, as soon as a provider connects; they are
cancelled when the reservation ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from arkitekt.protocol.messages import EventKind, Failed, ReservationStatus, Reserve

from .calls import Calls, LiveCall
from .catalogue import Catalogue
from .routing import Routing
from .sessions import Peer, SessionKey, Sessions


@dataclass(eq=False)
class LiveReservation:
    id: str
    user_id: str
    caller: SessionKey
    node_id: str
    templates: frozenset[str] | None
    """The templates its calls go through; None: the user's own templates of the node."""
    agents: set[str] | None
    waiting: deque[str] = field(default_factory=deque)


class Reservations:
    """The live reservations of this process, by id."""

    def __init__(
        self, sessions: Sessions, routing: Routing, calls: Calls, catalogue: Catalogue
    ) -> None:
        self._sessions = sessions
        self._routing = routing
        self._calls = calls
        self._catalogue = catalogue
        self._reservations: dict[str, LiveReservation] = {}

    def get(self, reservation_id: str) -> LiveReservation | None:
        return self._reservations.get(reservation_id)

    def mine(self, reservation_id: str, user_id: str) -> LiveReservation | None:
        """The reservation, if it is the user's."""
        reservation = self._reservations.get(reservation_id)
        return reservation if reservation is not None and reservation.user_id == user_id else None

    async def reserve(self, peer: Peer, message: Reserve) -> None:
        """Start a reservation, or take over one of the user's after a reconnect; the caller
        gets its status either way."""
        existing = self._reservations.get(message.id)
        if existing is not None:
            if existing.user_id != peer.user_id:
                peer.send(Failed(reservation=message.id, code="duplicate", message="id in use"))
                return
            existing.caller = peer.key
        elif not await self._catalogue.usable_templates(
            peer.user_id, message.node, message.templates
        ):
            peer.send(
                Failed(
                    reservation=message.id,
                    code="not_found",
                    message="no such function"
                    + (
                        " through the templates you chose"
                        if message.templates is not None
                        else " among your own (name another user's templates to reserve theirs)"
                    ),
                )
            )
            return
        else:
            existing = LiveReservation(
                id=message.id,
                user_id=peer.user_id,
                caller=peer.key,
                node_id=message.node,
                templates=(frozenset(message.templates) if message.templates is not None else None),
                agents=set(message.agents) if message.agents else None,
            )
            self._reservations[message.id] = existing
            await self._catalogue.reservation_started(
                message.id, peer.user_id, message.node, message.agents
            )
        caller = self._sessions.caller(peer.key)
        if caller is not None:
            caller.reservations.add(message.id)
        peer.send(self.status(existing))

    def pop(self, reservation_id: str) -> LiveReservation | None:
        """Forget a reservation (the broker records its end, then cancels what waits on it)."""
        return self._reservations.pop(reservation_id, None)

    def cancel_waiting(self, reservation: LiveReservation) -> None:
        """The reservation ended: the calls still waiting on it end as cancelled."""
        while reservation.waiting:
            call = self._calls.get(reservation.waiting.popleft())
            if call is not None and not call.final:
                self._calls.emit(call, EventKind.CANCELLED, message="its reservation ended")

    def status(self, reservation: LiveReservation) -> ReservationStatus:
        providers = self._routing.providers(
            reservation.node_id, reservation.user_id, reservation.templates, reservation.agents
        )
        return ReservationStatus(reservation=reservation.id, providers=len(providers))

    # -- waiting calls ---------------------------------------------------------------------------

    def wait(self, reservation: LiveReservation, call: LiveCall) -> None:
        """Nobody provides the function yet: the call waits for an agent."""
        reservation.waiting.append(call.id)
        self._calls.emit(call, EventKind.QUEUED, message="waiting for an agent to connect")

    def drop_waiting(self, call: LiveCall) -> None:
        """The call no longer waits (it was cancelled)."""
        if call.reservation is not None:
            reservation = self._reservations.get(call.reservation)
            if reservation is not None and call.id in reservation.waiting:
                reservation.waiting.remove(call.id)

    def providers_changed(self, node_id: str) -> None:
        """An agent providing the node came or went: tell the reservations' callers, and start
        the calls waiting on them while there are providers to take them."""
        for reservation in self._on_node(node_id):
            status = self.status(reservation)
            peer = self._sessions.caller_peer(reservation.caller)
            if peer is not None:
                peer.send(status)
            while status.providers and reservation.waiting:
                call = self._calls.get(reservation.waiting.popleft())
                if call is None or call.final:
                    continue
                choice = self._routing.choose(
                    call.node_id,
                    call.user_id,
                    templates=reservation.templates,
                    among=reservation.agents,
                )
                if choice is None:
                    reservation.waiting.appendleft(call.id)
                    break
                self._calls.start(call, *choice)

    def _on_node(self, node_id: str) -> Iterator[LiveReservation]:
        return (r for r in self._reservations.values() if r.node_id == node_id)
