"""A call's events as server-sent events (``text/event-stream``), for the call page.

The stream sends the call's stored events after the one the page already shows (``after``,
or the ``Last-Event-ID`` a reconnecting browser sends), then its live events from the
broker's per-call listener, the way the GraphQL ``assignationEvents`` subscription combines
history and live events. Each message is one :class:`~.call_view.EventView` as JSON, with the
event's index as its id.

Every stream is bounded:

- it ends after the call's final event (then an ``end`` message tells the page not to
  reconnect), when the browser goes away, and after ``web_stream_max_seconds`` (the browser
  reconnects on its own, with the session checked again);
- a user has at most ``web_streams_per_user`` open on one server process (more get 429);
- a stream that falls behind its call by :data:`MAX_BEHIND` events is ended (the browser
  reconnects from the last event it got) rather than queueing without bound;
- a call this process does not hold (finished long ago, or on another replica) is sent from
  the database; unfinished, the stream then ends and the browser asks again after
  :data:`RETRY_MS` (polling, each request bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from arkitekt.protocol.messages import FINAL_EVENTS

from .call_view import CallRecord, ValueRenderer, event_view, stored_events_after, wire_event
from .state import ServerState

RETRY_MS = 3000
"""How long a browser waits before it reconnects a stream that ended unfinished."""
MAX_BEHIND = 1000
"""Live events one stream may have waiting; a reader that slow reconnects instead."""
PAGE = 500
"""Stored events read at once."""


def message(data: Any = None, *, event: str | None = None, id: int | None = None) -> str:
    """One server-sent event: JSON data on one line (no field can break out of it)."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


@dataclass
class StreamSlots:
    """How many streams each user has open on this process (a bound per user)."""

    per_user: int
    open: dict[str, int] = field(default_factory=dict)

    def take(self, user_id: str) -> bool:
        """One more for the user; False (nothing taken) when they are at the limit."""
        count = self.open.get(user_id, 0)
        if count >= self.per_user:
            return False
        self.open[user_id] = count + 1
        return True

    def give_back(self, user_id: str) -> None:
        count = self.open.get(user_id, 0) - 1
        if count > 0:
            self.open[user_id] = count
        else:
            self.open.pop(user_id, None)


def slots_of(request: Request, per_user: int) -> StreamSlots:
    """The running server's stream slots (made on first use, kept on the app's state)."""
    app_state = request.app.state
    slots: StreamSlots | None = getattr(app_state, "call_stream_slots", None)
    if slots is None:
        slots = app_state.call_stream_slots = StreamSlots(per_user)
    return slots


class EventStreamResponse(StreamingResponse):
    """A streaming answer that closes its stream and runs ``done`` however it ends (the
    browser gone mid-stream included), so what the stream holds is always given back."""

    def __init__(self, stream: AsyncIterator[str], done: Callable[[], None]) -> None:
        super().__init__(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._stream = stream
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                aclose = getattr(self._stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            finally:
                self._done()


def no_stream(text: str, status: int) -> Response:
    """The plain answer of a stream that is not opened (not found, too many)."""
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


async def open_stream(
    request: Request,
    user_id: str,
    per_user: int,
    too_many: str,
    make: Callable[[], Awaitable[AsyncIterator[str]]],
) -> Response:
    """Answer an authorised stream request: the headers alone for HEAD, 429 when the user has
    ``per_user`` streams open already (``too_many`` says so), else the stream ``make`` gives,
    holding one of the user's slots until it ends however it ends."""
    if request.method == "HEAD":  # the headers only: no stream is held open for nobody
        return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    slots = slots_of(request, per_user)
    if not slots.take(user_id):
        response = no_stream(too_many, 429)
        response.headers["Retry-After"] = "10"
        return response
    try:
        return EventStreamResponse(await make(), lambda: slots.give_back(user_id))
    except BaseException:
        slots.give_back(user_id)
        raise


async def call_events(
    state: ServerState,
    record: CallRecord,
    user_id: str,
    after: int,
    *,
    max_seconds: float,
    keepalive: float,
) -> AsyncIterator[str]:
    """The messages of one stream (see the module's docstring); ``record``: the user's call,
    loaded (and authorised) by the caller."""
    assert state.rpc is not None and state.storage is not None
    broker = state.rpc.broker
    renderer = ValueRenderer(state.storage.catalogue, user_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    yield f"retry: {RETRY_MS}\n\n"
    call = broker.call(record.id)
    live = call is not None and call.user_id == user_id
    queue = broker.listen(record.id) if live else None  # before reading: nothing falls between
    try:
        sent = after
        final = False
        # what is stored already (the call as of now, flushed when it was loaded)
        while True:
            if loop.time() > deadline:
                return  # a long history: the browser reconnects from the last event it got
            batch = await stored_events_after(state, record.id, sent, PAGE)
            for index, kind, data in batch:
                view = await event_view(index, kind, data, record.definition, renderer)
                yield message(view.as_json(), id=index)
                sent, final = index, final or view.final
            if len(batch) < PAGE:
                break
        if final or queue is None:
            if final or record.final:
                yield message(None, event="end")
            return  # not held here and unfinished: the browser asks again after RETRY_MS
        assert call is not None
        for event in list(call.history):  # what the recorder had not stored yet
            if event.index > sent:
                index, kind, data = wire_event(event)
                view = await event_view(index, kind, data, record.definition, renderer)
                yield message(view.as_json(), id=index)
                sent, final = index, final or view.final
        while not final:
            remaining = deadline - loop.time()
            if remaining <= 0 or queue.qsize() > MAX_BEHIND:
                return  # the browser reconnects, from the last event it got
            try:
                event = await asyncio.wait_for(queue.get(), min(keepalive, remaining))
            except TimeoutError:
                yield ": keepalive\n\n"  # also how a browser gone quietly is noticed
                continue
            if event.index <= sent:
                continue
            index, kind, data = wire_event(event)
            view = await event_view(index, kind, data, record.definition, renderer)
            yield message(view.as_json(), id=index)
            sent, final = index, event.kind in FINAL_EVENTS
        yield message(None, event="end")
    finally:
        if queue is not None:
            broker.unlisten(record.id, queue)
