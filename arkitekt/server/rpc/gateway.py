"""``/rekuest/ws``: the websocket every app keeps open to call functions and to serve them.

The first message must be a ``Hello`` carrying a valid access token (not in the URL, so it is
never written to access logs). Each connection gets a reader (this coroutine), a writer task
that sends everything queued as one frame, and a heartbeat task that pings, closes a link that
stayed silent for the heartbeat timeout, and closes it when the token expires without a
``Reauth``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from arkitekt.protocol.messages import (
    CLIENT_FRAME,
    CLOSE_PROTOCOL,
    CLOSE_SHUTDOWN,
    CLOSE_SILENT,
    CLOSE_SLOW,
    CLOSE_UNAUTHORIZED,
    PROTOCOL_VERSION,
    Ack,
    Assign,
    Failed,
    Goodbye,
    Hello,
    Message,
    Ping,
    Pong,
    Reauth,
    Report,
    Reserve,
    Watch,
    Welcome,
    frame_of,
)

from ..frames import close_reason, frame_problem, json_problem
from ..http import authenticate
from ..oauth import OAuthError
from ..outages import OUTAGES, UNAVAILABLE, log_outage
from .broker import Broker, Peer

logger = logging.getLogger("arkitekt.server.rpc")

HELLO_TIMEOUT = 10.0
CLOSE_TRY_AGAIN = 1013
"""RFC 6455 "Try Again Later": the server cannot serve the link right now (its database)."""


class Link:
    """The server's end of one connection: an outbox drained by a writer task.

    The outbox holds encoded messages and is bounded by ``max_queued_bytes``: a client that
    does not read what is sent to it (as fast as it asks for it) makes it grow, and past the
    bound the server gives up on it, closing with :data:`CLOSE_SLOW`, rather than holding
    ever more memory for it. The client reconnects and asks for what it missed (``Watch``).

    The writer sends everything queued since its last write as one frame; while idle it waits
    on a future the next :meth:`send` completes (a list and a future: cheaper per message than
    an ``asyncio.Queue``, which this is on the path of every call twice).
    """

    def __init__(
        self, websocket: WebSocket, send: Send, max_queued_bytes: int, sent: Counter
    ) -> None:
        self.websocket = websocket
        self._send = send
        """The server's own ASGI send: frames skip the checks :class:`WebSocket` repeats per
        message (the link accepted the connection and knows when it closes)."""
        self._sent = sent
        self.max_queued_bytes = max_queued_bytes
        self.outbox: list[str] = []
        self.queued_bytes = 0
        self.closing: tuple[int, str] | None = None
        self.last_received = time.monotonic()
        self.handling = False
        """Whether the reader is busy with a message (then the client is not silent: its
        later messages wait unread)."""
        self._writable: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._giving_up: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Start the writer task (returned, so the endpoint can wait for it at the end)."""
        self._writer = asyncio.create_task(self.write())
        return self._writer

    def send(self, message: Message) -> None:
        if self.closing is not None:
            return  # the writer stops at the close: nothing queued after it would be sent
        text = message.model_dump_json()
        self.queued_bytes += len(text)
        if self.queued_bytes > self.max_queued_bytes:
            self._give_up()
            return
        self.outbox.append(text)
        self._wake_writer()

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close (what is sent after this is dropped)."""
        if self.closing is None:
            self.closing = (code, reason)
            self._wake_writer()

    def _wake_writer(self) -> None:
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _give_up(self) -> None:
        """The client does not read: drop what is queued and close the connection.

        The writer is stuck sending to a client that does not read, so the close cannot wait
        behind it: the writer is stopped, and the close (which gives up on the client after
        the websocket's close timeout) is sent from a task of its own."""
        logger.warning(
            "closing a link whose client does not read (%d bytes queued)", self.queued_bytes
        )
        self.closing = (CLOSE_SLOW, "slow: the client does not read what it is sent")
        self.outbox.clear()
        self.queued_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        self._giving_up = asyncio.create_task(self._close_now())

    async def _close_now(self) -> None:
        code, reason = self.closing or (CLOSE_SLOW, "slow")
        with contextlib.suppress(Exception):
            await self.websocket.close(code, close_reason(reason))

    async def write(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.outbox and self.closing is None:
                self._writable = loop.create_future()
                try:
                    await self._writable
                finally:
                    self._writable = None
            batch, self.outbox = self.outbox, []
            if batch:
                self.queued_bytes -= sum(len(text) for text in batch)
                self._sent.inc(len(batch))
                try:
                    await self._send({"type": "websocket.send", "text": frame_of(batch)})
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return  # the client is gone: the reader sees it and ends the connection
            if self.closing is not None and not self.outbox:
                code, reason = self.closing
                with contextlib.suppress(Exception):
                    await self.websocket.close(code, close_reason(reason))
                return

    async def finish(self) -> None:
        """At the end of the connection: let the writer send what is queued (bounded)."""
        self.close(CLOSE_SHUTDOWN, "closing")
        tasks = {t for t in (self._writer, self._giving_up) if t is not None}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()


async def endpoint(websocket: WebSocket, send: Send) -> None:
    state = websocket.app.state.arkitekt
    rpc = state.rpc
    await websocket.accept()
    metrics = state.metrics
    link = Link(
        websocket,
        send,
        state.config.ws_max_queued_bytes,
        metrics.websocket_messages.labels("out"),
    )
    link.start()
    metrics.connections.inc()
    peer: Peer | None = None
    heartbeat: asyncio.Task[None] | None = None
    acks: DurableAcks | None = None
    try:
        hello = await _hello(websocket, link)
        if hello is None:
            return
        peer, expires_at = await _authenticate(websocket, hello, link)
        if peer is None:
            return
        resumed = rpc.broker.connect(peer)
        link.send(
            Welcome(
                session=peer.session,
                user=peer.username,
                heartbeat_interval=rpc.heartbeat_interval,
                heartbeat_timeout=rpc.heartbeat_timeout,
                resumed=resumed,
                server_time=time.time(),
            )
        )
        if hello.known or resumed:
            rpc.broker.resume_agent(peer, hello.known)
        expiry = {"at": expires_at}
        heartbeat = asyncio.create_task(_heartbeat(link, rpc, expiry))
        acks = DurableAcks(link, rpc.broker, peer)
        await _read(websocket, link, state, rpc.broker, peer, expiry, acks)
    except WebSocketDisconnect:
        pass
    except OUTAGES as e:  # authenticating needs the database
        log_outage(e, "a websocket hello")
        _refuse(link, CLOSE_TRY_AGAIN, "unavailable", UNAVAILABLE)
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        if acks is not None:
            acks.stop()
        if peer is not None:
            rpc.broker.disconnect(peer)
        await link.finish()
        metrics.connections.dec()


async def _receive(websocket: WebSocket, link: Link) -> str | None:
    """The next frame's text; None (the link refused) for a frame that is not JSON text within
    the size limit, or holds NaN/Infinity (Python reads them, other JSON parsers do not)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    limit = websocket.app.state.arkitekt.config.ws_max_message_bytes
    problem = frame_problem(message, limit) or json_problem(message["text"], full=False)
    if problem is not None:
        _refuse(link, CLOSE_PROTOCOL, "protocol", problem)
        return None
    text: str = message["text"]
    return text


async def _hello(websocket: WebSocket, link: Link) -> Hello | None:
    try:
        raw = await asyncio.wait_for(_receive(websocket, link), HELLO_TIMEOUT)
    except TimeoutError:
        _refuse(link, CLOSE_PROTOCOL, "protocol", f"no hello within {HELLO_TIMEOUT:g} s")
        return None
    if raw is None:
        return None
    try:
        frame = CLIENT_FRAME.validate_json(raw)
    except ValidationError as e:
        _refuse(link, CLOSE_PROTOCOL, "protocol", f"the first frame is not valid: {_brief(e)}")
        return None
    if len(frame) != 1 or not isinstance(frame[0], Hello):
        _refuse(link, CLOSE_PROTOCOL, "protocol", "the first frame must be one hello")
        return None
    if frame[0].protocol != PROTOCOL_VERSION:
        _refuse(
            link,
            CLOSE_PROTOCOL,
            "protocol",
            f"protocol {frame[0].protocol} is not spoken here (this server speaks "
            f"{PROTOCOL_VERSION}); upgrade arkitekt",
        )
        return None
    return frame[0]


async def _authenticate(
    websocket: WebSocket, hello: Hello, link: Link
) -> tuple[Peer | None, float]:
    state = websocket.app.state.arkitekt
    try:
        claims = await authenticate(websocket, hello.token)
    except OAuthError as e:
        _refuse(link, CLOSE_UNAUTHORIZED, "unauthorized", e.description)
        return None, 0.0
    async with state.db.new_session() as s:
        client = await state.oauth.client_by_id(s, claims.client_id)
    if client is None:
        _refuse(link, CLOSE_UNAUTHORIZED, "unauthorized", "the app's registration was removed")
        return None, 0.0
    peer = Peer(
        user_id=claims.user_id,
        username=claims.username,
        client_pk=client.id,
        app_identifier=claims.app_identifier or client.app_identifier,
        instance_id=hello.instance_id,
        session=hello.session,
        send=link.send,
        close=link.close,
        known=frozenset(hello.known),
    )
    return peer, float(claims.expires_at)


class DurableAcks:
    """Acknowledges an agent's reports once they are stored, not merely received.

    An agent keeps every report until it is acknowledged and sends it again after a reconnect;
    acknowledging only what the broker has stored (:meth:`Broker.stored`) means a result the
    server received but had not written when it crashed comes back from the agent after the
    restart, instead of the call being recorded as lost. One task per link coalesces: however
    many frames of reports arrive while it waits for a flush, it sends one cumulative ``Ack``.
    """

    def __init__(self, link: Link, broker: Broker, peer: Peer) -> None:
        self._link, self._broker, self._peer = link, broker, peer
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wanted(self) -> None:
        """Reports were handled: acknowledge them once stored."""
        self._wanted.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="arkitekt-rpc-acks")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            agent = self._peer.agent
            if agent is None:
                continue
            seq = agent.acked  # every report handled so far; later ones wait for the next turn
            await self._broker.stored(self._peer)
            self._link.send(Ack(seq=seq))


async def _read(
    websocket: WebSocket,
    link: Link,
    state: Any,
    broker: Broker,
    peer: Peer,
    expiry: dict[str, float],
    acks: DurableAcks,
) -> None:
    received = state.metrics.websocket_messages.labels("in")
    while link.closing is None:
        raw = await _receive(websocket, link)
        link.last_received = time.monotonic()
        if raw is None:
            return
        try:
            frame = CLIENT_FRAME.validate_json(raw)
        except ValidationError as e:
            _refuse(link, CLOSE_PROTOCOL, "protocol", f"invalid frame: {_brief(e)}")
            return
        received.inc(len(frame))
        for message in frame:
            if isinstance(message, Ping):
                link.send(Pong())
            elif isinstance(message, Pong):
                pass
            elif isinstance(message, Reauth):
                try:
                    claims = await authenticate(websocket, message.token)
                except OAuthError as e:
                    _refuse(link, CLOSE_UNAUTHORIZED, "unauthorized", e.description)
                    return
                if claims.user_id != peer.user_id:
                    _refuse(link, CLOSE_UNAUTHORIZED, "unauthorized", "reauth as another user")
                    return
                expiry["at"] = float(claims.expires_at)
            elif isinstance(message, Hello):
                _refuse(link, CLOSE_PROTOCOL, "protocol", "hello twice")
                return
            else:
                link.handling = True
                try:
                    if isinstance(message, Assign) and state.references is not None:
                        refused = await state.references.refusal(peer.user_id, message)
                        if refused is not None:
                            link.send(refused)
                            continue
                    await broker.handle(peer, message)
                except OUTAGES as e:  # this message needs the database, which is down
                    log_outage(e, f"a {type(message).__name__.lower()} message")
                    for refusal in _unavailable(message):
                        link.send(refusal)
                finally:
                    link.handling = False
                    link.last_received = time.monotonic()
        if peer.agent is not None and any(isinstance(m, Report) for m in frame):
            acks.wanted()


async def _heartbeat(link: Link, rpc: Any, expiry: dict[str, float]) -> None:
    while link.closing is None:
        await asyncio.sleep(rpc.heartbeat_interval)
        if not link.handling and time.monotonic() - link.last_received > rpc.heartbeat_timeout:
            _refuse(link, CLOSE_SILENT, "silent", "no message within the heartbeat timeout")
            return
        if time.time() >= expiry["at"]:
            _refuse(link, CLOSE_UNAUTHORIZED, "token_expired", "the access token expired")
            return
        link.send(Ping())


def _unavailable(message: Message) -> list[Failed]:
    """The refusal of one message that needs the database while it is down."""
    if isinstance(message, Reserve):
        return [Failed(reservation=message.id, code="unavailable", message=UNAVAILABLE)]
    if isinstance(message, Watch):
        return [
            Failed(assignation=call_id, code="unavailable", message=UNAVAILABLE)
            for call_id in message.assignations
        ]
    return [
        Failed(
            rid=getattr(message, "rid", None),
            assignation=getattr(message, "assignation", None),
            code="unavailable",
            message=UNAVAILABLE,
        )
    ]


def _refuse(link: Link, code: int, reason: str, message: str) -> None:
    link.send(Goodbye(code=reason, message=message))
    link.close(code, message)


def _brief(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/rekuest/ws", Gateway())]


class Gateway:
    """The endpoint as a plain ASGI app (Starlette routes to a class unwrapped): a function
    endpoint would pass every frame sent through Starlette's exception-handling wrapper of
    ``send``, which is on the path of every call twice."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(WebSocket(scope, receive, send), send)
