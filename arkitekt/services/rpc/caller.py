"""The caller: assigns calls over the app's websocket and turns their events into results.

Each call gets a client-chosen id and a queue of its events. After a reconnect, the caller asks
the server to ``Watch`` every unfinished call from the last event it saw; a call the server
never received is assigned again (same id, so it cannot run twice).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import (
    AgentLostError,
    ArkitektError,
    CriticalRemoteError,
    DataNotFoundError,
    NodeNotFoundError,
    NoProviderError,
    RemoteCancelledError,
    ServerBusyError,
    StateNotFoundError,
    remote_error,
)
from ...protocol.ids import time_ordered_id
from ...protocol.messages import (
    FINAL_EVENTS,
    Assign,
    Cancel,
    Event,
    EventKind,
    Failed,
    Find,
    Found,
    Message,
    NodeInfo,
    ReservationStatus,
    Reserve,
    Share,
    Shared,
    StateUpdate,
    Unreserve,
    UnwatchState,
    Watch,
    WatchState,
    Welcome,
)
from .connection import Connection
from .mailbox import Mailbox
from .state_watch import StateWatch, state_target

logger = logging.getLogger("arkitekt.rpc")
remote_logger = logging.getLogger("arkitekt.remote")


class PendingCall(Mailbox[Event | Failed]):
    """One call in flight and the events that arrived for it (created thousands of times per
    second: slots, and the mailbox's deque and future)."""

    __slots__ = (
        "cancelled",
        "confirmed",
        "label",
        "last_index",
        "message",
        "renamed",
        "resent",
    )

    def __init__(self, message: Assign, label: str) -> None:
        super().__init__()
        self.message = message
        self.label = label
        self.last_index = -1
        self.confirmed = False
        self.resent = False
        self.renamed = False
        self.cancelled = False


@dataclass(eq=False)
class ReservationState:
    message: Reserve
    providers: int = -1
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    failure: Failed | None = None


class Caller:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.calls: dict[str, PendingCall] = {}
        self.reservations: dict[str, ReservationState] = {}
        self._requests: dict[int, tuple[Message, asyncio.Future[Any]]] = {}
        self._rid = itertools.count(1)
        self._cancelling: set[str] = set()
        """Calls this side cancelled, until the server confirms they ended (a Cancel can be
        lost with a dropping link: these are cancelled again after a reconnect)."""
        self._watches: dict[int, StateWatch] = {}
        """Agent states being read or followed, by request id."""

    # -- connection callbacks --------------------------------------------------------------------

    async def on_connected(self, welcome: Welcome) -> None:
        for state in self.reservations.values():
            self.connection.send(state.message)
        if self.calls:
            self.connection.send(
                Watch(assignations={cid: c.last_index for cid, c in self.calls.items()})
            )
        for call_id in self._cancelling:
            self.connection.send(Cancel(assignation=call_id))
        for message, _ in self._requests.values():
            self.connection.send(message)
        for watch in self._watches.values():
            self.connection.send(watch.message)  # the whole value comes again first

    def on_message(self, message: Message) -> bool:
        if isinstance(message, Event):
            if message.kind in FINAL_EVENTS:
                self._cancelling.discard(message.assignation)
            call = self.calls.get(message.assignation)
            if call is not None and message.index > call.last_index:
                call.last_index = message.index
                call.confirmed = True
                call.put(message)
        elif isinstance(message, Failed):
            self._failed(message)
        elif isinstance(message, Found | Shared):
            self._resolve(message.rid, message)
        elif isinstance(message, StateUpdate):
            watch = self._watches.get(message.rid)
            if watch is not None:
                watch.put(message)
        elif isinstance(message, ReservationStatus):
            state = self.reservations.get(message.reservation)
            if state is not None:
                state.providers = message.providers
                state.changed.set()
        else:
            return False
        return True

    def _failed(self, message: Failed) -> None:
        if message.assignation is not None:
            self._cancelling.discard(message.assignation)  # not (or no longer) on the server
            call = self.calls.get(message.assignation)
            if call is None:
                return
            if message.code == "not_found" and not call.confirmed and not call.resent:
                call.resent = True  # the server never got it: assign it again
                self.connection.send(call.message)
                return
            if message.code == "duplicate" and call.resent:
                return  # it did arrive after all; events will follow the watch
            if message.code == "expired_id" and not call.confirmed and not call.renamed:
                # the server never ran it and its id is too old to admit (a long outage): the
                # same call under a new id
                call.renamed = True
                self.calls.pop(call.message.id, None)
                call.message = call.message.model_copy(update={"id": self.new_call_id()})
                self.calls[call.message.id] = call
                self.connection.send(call.message)
                return
            call.put(message)
        elif message.reservation is not None:
            state = self.reservations.get(message.reservation)
            if state is not None:
                state.failure = message
                state.changed.set()
        elif message.rid is not None and message.rid in self._watches:
            self._watches[message.rid].put(message)
        elif message.rid is not None:
            request = self._requests.get(message.rid)
            if request is not None and not request[1].done():
                error = NodeNotFoundError if message.code == "not_found" else ArkitektError
                request[1].set_exception(error(message.message))
        else:
            logger.warning("the server refused a message: %s", message.message)

    def _resolve(self, rid: int, value: Any) -> None:
        request = self._requests.get(rid)
        if request is not None and not request[1].done():
            request[1].set_result(value)

    # -- requests --------------------------------------------------------------------------------

    async def afind(self, timeout: float, **filters: Any) -> list[NodeInfo]:
        rid = next(self._rid)
        message = Find(rid=rid, **filters)
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        self._requests[rid] = (message, future)
        try:
            self.connection.send(message)
            found = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ArkitektError(
                f"the server did not answer a search within {timeout:g} s"
            ) from None
        finally:
            self._requests.pop(rid, None)
        return found.nodes

    async def ashare(
        self, timeout: float, interface: str, users: list[str], everyone: bool, revoke: bool
    ) -> Shared:
        rid = next(self._rid)
        message = Share(rid=rid, interface=interface, users=users, everyone=everyone, revoke=revoke)
        future: asyncio.Future[Shared] = asyncio.get_running_loop().create_future()
        self._requests[rid] = (message, future)
        try:
            self.connection.send(message)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ArkitektError(f"the server did not answer within {timeout:g} s") from None
        finally:
            self._requests.pop(rid, None)

    async def state_updates(
        self, agent: Any, state: Any, *, once: bool, timeout: float
    ) -> AsyncIterator[Any]:
        """An agent's state now, then after every change (see ``RpcService.awatch_state``)."""
        rid = next(self._rid)
        target = state_target(agent, state)
        message = WatchState(rid=rid, state=target.name, once=once, **target.address)
        watch = StateWatch(message, target)
        self._watches[rid] = watch
        self.connection.send(message)
        try:
            first = True
            while True:
                try:
                    item = await (asyncio.wait_for(watch.get(), timeout) if first else watch.get())
                except TimeoutError:
                    raise ArkitektError(
                        f"the server did not answer a state read within {timeout:g} s"
                    ) from None
                if isinstance(item, Failed):
                    raise StateNotFoundError(f"state {target.name!r}: {item.message}")
                value = watch.apply(item)
                if value is None:  # a patch that does not fit: ask for the whole value again
                    self.connection.send(watch.message)
                    continue
                first = False
                yield value
                if once:
                    return
        finally:
            self._watches.pop(rid, None)
            if not once:
                self.connection.send(UnwatchState(rid=rid))

    # -- calls -----------------------------------------------------------------------------------

    def start(
        self,
        node: str,
        args: dict[str, Any],
        *,
        label: str,
        templates: list[str] | None = None,
        reservation: str | None = None,
        parent: str | None = None,
    ) -> PendingCall:
        # validated: pydantic-core checks these fields in half the time model_construct takes
        message = Assign(
            id=self.new_call_id(),
            node=node,
            templates=templates,
            reservation=reservation,
            args=args,
            parent=parent,
        )
        call = PendingCall(message=message, label=label)
        self.calls[message.id] = call
        self.connection.send(message)
        return call

    def new_call_id(self) -> str:
        """A time-ordered id on the server's clock (see :mod:`arkitekt.protocol.ids`)."""
        return time_ordered_id(time.time() + self.connection.clock_offset)

    def cancel(self, call: PendingCall) -> None:
        if not call.cancelled:
            call.cancelled = True
            self._cancelling.add(call.message.id)
            self.connection.send(Cancel(assignation=call.message.id))

    def finish(self, call: PendingCall) -> None:
        self.calls.pop(call.message.id, None)

    async def events(self, call: PendingCall) -> AsyncGenerator[Event, None]:
        """The call's events up to and including the final one; raises for failures.

        Cancelling the consumer cancels the remote call, unless its final event was given out
        already: a consumer that stops reading at the final event (closing this generator) must
        not cancel a call that ended, which a Cancel re-sent after a server restart would do to
        a call the restarted server had not stored as ended.
        """
        ended = False
        try:
            while True:
                item = await call.get()
                if isinstance(item, Failed):
                    raise _refusal(item, call.label)
                ended = item.kind in FINAL_EVENTS
                yield item
                if ended:
                    return
        except BaseException:
            if not ended and call.message.id in self.calls:
                self.cancel(call)
            raise
        finally:
            self.finish(call)

    # -- reservations ----------------------------------------------------------------------------

    async def areserve(
        self,
        node: str,
        timeout: float,
        templates: list[str] | None = None,
        agents: list[str] | None = None,
    ) -> str:
        message = Reserve(id=uuid.uuid4().hex, node=node, templates=templates, agents=agents)
        state = ReservationState(message=message)
        self.reservations[message.id] = state
        self.connection.send(message)
        try:
            await asyncio.wait_for(state.changed.wait(), timeout)
        except TimeoutError:
            self.reservations.pop(message.id, None)
            raise ArkitektError(
                f"the server did not confirm a reservation within {timeout:g} s"
            ) from None
        if state.failure is not None:
            self.reservations.pop(message.id, None)
            raise NodeNotFoundError(f"cannot reserve it: {state.failure.message}")
        return message.id

    def unreserve(self, reservation: str) -> None:
        if self.reservations.pop(reservation, None) is not None:
            self.connection.send(Unreserve(reservation=reservation))


def _refusal(failed: Failed, label: str) -> ArkitektError:
    if failed.code == "no_provider":
        return NoProviderError(f"{label}: {failed.message}")
    if failed.code == "not_found":
        return NodeNotFoundError(f"{label}: {failed.message}")
    if failed.code == "busy":
        return ServerBusyError(f"{label}: {failed.message}")
    if failed.code == "no_such_data":
        return DataNotFoundError(f"{label}: {failed.message}")
    return ArkitektError(f"{label}: the server refused the call ({failed.code}: {failed.message})")


def raise_for_event(event: Event, label: str) -> None:
    """Turn a failed final event into the exception the caller sees."""
    error = event.error
    if event.kind is EventKind.ERROR:
        if error is None:
            raise remote_error("builtins.Exception", event.message or "failed", node=label)
        raise remote_error(error.type, error.message, error.traceback, node=label)
    if event.kind is EventKind.CRITICAL:
        raise CriticalRemoteError(
            error.type if error else "critical",
            error.message if error else (event.message or "the agent could not run the call"),
            error.traceback if error else "",
            label,
        )
    if event.kind is EventKind.LOST:
        raise AgentLostError("arkitekt.AgentLost", event.message or "the agent was lost", "", label)
    if event.kind is EventKind.CANCELLED:
        raise RemoteCancelledError(
            "arkitekt.Cancelled", event.message or "the call was cancelled", "", label
        )


def log_event(event: Event, label: str) -> None:
    """Remote progress and log lines, on the ``arkitekt.remote`` logger."""
    if event.kind is EventKind.LOG:
        level = {"debug": 10, "info": 20, "warning": 30, "error": 40}.get(
            event.level.value if event.level else "info", 20
        )
        remote_logger.log(level, "%s: %s", label, event.message)
    elif event.kind is EventKind.PROGRESS:
        remote_logger.debug("%s: %s%% %s", label, event.progress, event.message or "")
