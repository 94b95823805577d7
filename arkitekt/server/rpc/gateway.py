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

from pydantic import ValidationError
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from arkitekt.protocol.messages import (
    CLIENT_FRAME,
    CLOSE_PROTOCOL,
    CLOSE_SHUTDOWN,
    CLOSE_SILENT,
    CLOSE_UNAUTHORIZED,
    PROTOCOL_VERSION,
    Ack,
    Goodbye,
    Hello,
    Message,
    Ping,
    Pong,
    Reauth,
    Report,
    Welcome,
    encode,
)

from ..frames import close_reason, frame_problem, json_problem
from ..http import authenticate
from ..oauth import OAuthError
from .broker import Broker, Peer

logger = logging.getLogger("arkitekt.server.rpc")

HELLO_TIMEOUT = 10.0


class Link:
    """The server's end of one connection: an outbox drained by a writer task."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self.closing: tuple[int, str] | None = None
        self.last_received = time.monotonic()

    def send(self, message: Message) -> None:
        self.outbox.put_nowait(message)

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            self.outbox.put_nowait(None)

    async def write(self) -> None:
        while True:
            first = await self.outbox.get()
            batch: list[Message] = []
            stop = first is None
            if first is not None:
                batch.append(first)
            while not stop and not self.outbox.empty():
                message = self.outbox.get_nowait()
                if message is None:
                    stop = True
                else:
                    batch.append(message)
            if batch:
                await self.websocket.send_text(encode(batch))
            if stop:
                code, reason = self.closing or (CLOSE_SHUTDOWN, "closing")
                with contextlib.suppress(Exception):
                    await self.websocket.close(code, close_reason(reason))
                return


async def endpoint(websocket: WebSocket) -> None:
    state = websocket.app.state.arkitekt
    rpc = state.rpc
    await websocket.accept()
    link = Link(websocket)
    writer = asyncio.create_task(link.write())
    peer: Peer | None = None
    heartbeat: asyncio.Task[None] | None = None
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
        await _read(websocket, link, state, rpc.broker, peer, expiry)
    except WebSocketDisconnect:
        pass
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        if peer is not None:
            rpc.broker.disconnect(peer)
        link.close(CLOSE_SHUTDOWN, "closing")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, 2.0)
        writer.cancel()


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


async def _read(
    websocket: WebSocket,
    link: Link,
    state: Any,
    broker: Broker,
    peer: Peer,
    expiry: dict[str, float],
) -> None:
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
                await broker.handle(peer, message)
        if peer.agent is not None and any(isinstance(m, Report) for m in frame):
            link.send(Ack(seq=peer.agent.acked))  # one cumulative ack per frame


async def _heartbeat(link: Link, rpc: Any, expiry: dict[str, float]) -> None:
    while link.closing is None:
        await asyncio.sleep(rpc.heartbeat_interval)
        if time.monotonic() - link.last_received > rpc.heartbeat_timeout:
            _refuse(link, CLOSE_SILENT, "silent", "no message within the heartbeat timeout")
            return
        if time.time() >= expiry["at"]:
            _refuse(link, CLOSE_UNAUTHORIZED, "token_expired", "the access token expired")
            return
        link.send(Ping())


def _refuse(link: Link, code: int, reason: str, message: str) -> None:
    link.send(Goodbye(code=reason, message=message))
    link.close(code, message)


def _brief(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/rekuest/ws", endpoint)]
