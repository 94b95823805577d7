"""The app's end of ``/rekuest/ws``: one websocket that reconnects on its own.

Users never see this class: the caller and the agent send messages through it and get the
server's messages from it. After every (re)connect it calls ``on_connected`` so they can re-send
what the server may have missed (pending calls, unacknowledged reports, reservations); what was
queued while disconnected is dropped for that reason, never sent twice by this layer.

While connected, three tasks serve the link: a reader (each frame handed to ``on_message`` as it
arrives), a writer (everything queued since its last write goes out as one frame) and a watchdog
(the heartbeat timeout and the token's renewal). They are started once per connection: a message
costs no task, no ``asyncio.wait`` and no event of its own. The first message of a turn of the
loop goes out at once when the writer is idle (a lone call does not wait a turn for the writer);
the messages after it in that turn wait for the writer and share its next frame.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from ...errors import ConnectionRefusedByServer, NotAuthenticatedError, ServerUnavailableError
from ...protocol.messages import (
    CLOSE_PROTOCOL,
    CLOSE_UNAUTHORIZED,
    SERVER_FRAME,
    Goodbye,
    Hello,
    Message,
    Ping,
    Pong,
    Reauth,
    Welcome,
    encode,
)

logger = logging.getLogger("arkitekt.rpc")

TokenSource = Callable[[str | None], Awaitable[str]]
"""Gives an access token; given the token the server refused, a renewed one."""


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT, read without verifying (only to know when to renew it)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(data["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class Connection:
    def __init__(
        self,
        *,
        url: Callable[[], Awaitable[str]],
        token: TokenSource,
        on_message: Callable[[Message], None],
        on_connected: Callable[[Welcome], Awaitable[None]],
        known: Callable[[], list[str]] = list,
        instance_id: str = "default",
        max_backoff: float = 10.0,
        connect_timeout: float = 10.0,
        proxy: str | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._on_message = on_message
        self._on_connected = on_connected
        self._known = known
        self.instance_id = instance_id
        self.session = uuid.uuid4().hex
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.proxy = proxy
        """An HTTP proxy for the websocket (None: the environment's HTTPS_PROXY/NO_PROXY)."""
        self._outbox: list[Message] = []
        self._writable: asyncio.Future[None] | None = None
        """The idle writer waits on it; set by the first message queued (see :meth:`send`)."""
        self._ws: Any = None
        """The open websocket while the link is served."""
        self._wrote_this_turn = False
        """A message went out at once in this turn of the loop (later ones wait for the writer)."""
        self._last_received = 0.0
        self._token_sent = ""
        """The token the link was opened (or last re-authorised) with."""
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        self._first_attempt = asyncio.Event()
        self._last_error: BaseException | None = None
        self.welcome: Welcome | None = None
        self.clock_offset = 0.0
        """The server's clock minus this machine's (seconds), learnt at each welcome."""

    # -- public ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="arkitekt-rpc-connection")

    async def wait_connected(self, timeout: float | None) -> None:
        """Wait until the link is up; raises why it is not when ``timeout`` passes."""
        self.start()
        if self._connected.is_set():
            return
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            if self._fatal is not None:
                raise self._fatal from None
            reason = f": {self._last_error}" if self._last_error else ""
            raise ServerUnavailableError(
                f"could not reach the function service within {timeout:g} s{reason}"
            ) from None
        finally:
            waiter.cancel()
        if self._fatal is not None:
            raise self._fatal

    @property
    def sending(self) -> bool:
        """Whether messages queued here have not been written to the socket yet."""
        return bool(self._outbox)

    def send(self, message: Message) -> None:
        """Send a message, or queue it; dropped when the link is down (see the module
        docstring).

        The first message of a turn of the loop is written at once when nothing is queued or
        being written (so order is kept); the writer sends everything queued after it as one
        frame, so messages of one turn (a burst of calls, a report and its log lines) share a
        frame."""
        if self._connected.is_set():
            self._queue(message)

    def _queue(self, message: Message) -> None:
        writable = self._writable
        idle = writable is not None and not writable.done() and not self._outbox
        if idle and not self._wrote_this_turn and _write_now(self._ws, encode([message])):
            self._wrote_this_turn = True
            asyncio.get_running_loop().call_soon(self._next_turn)
            return
        self._outbox.append(message)
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _next_turn(self) -> None:
        self._wrote_this_turn = False

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._connected.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        import websockets

        attempt = 0
        down_since: float | None = None  # when the link was lost (None: up, or never up)
        stale: str | None = None
        while True:
            try:
                url = await self._url()
                token = await self._token(stale)
                stale = None
                async with websockets.connect(
                    url,
                    open_timeout=self.connect_timeout,
                    max_size=None,
                    ping_interval=None,  # the protocol has its own heartbeat
                    compression=None,
                    proxy=self.proxy or True,
                ) as ws:
                    await ws.send(
                        encode(
                            [
                                Hello(
                                    token=token,
                                    instance_id=self.instance_id,
                                    session=self.session,
                                    known=self._known(),
                                )
                            ]
                        )
                    )
                    welcome = await self._welcome(ws)
                    if down_since is not None:
                        logger.warning(
                            "function service link back after %.1f s (%d attempts)",
                            time.monotonic() - down_since,
                            attempt,
                        )
                        down_since = None
                    attempt = 0
                    self._last_error = None
                    self.welcome = welcome
                    if welcome.server_time:
                        self.clock_offset = welcome.server_time - time.time()
                    self._outbox.clear()
                    self._connected.set()
                    try:
                        await self._on_connected(welcome)
                        await self._serve(ws, welcome, token)
                    finally:
                        self._connected.clear()
                        self._outbox.clear()
            except asyncio.CancelledError:
                raise
            except ConnectionRefusedByServer as e:
                self._fatal = e
                self._connected.set()  # wake waiters, who raise it
                self._connected.clear()
                logger.error("%s", e)
                return
            except _Unauthorized as e:
                stale = e.token
                self._last_error = e
                logger.info("the server refused the access token; renewing it")
            except NotAuthenticatedError as e:
                self._fatal = e
                return
            except Exception as e:
                self._last_error = e
                via = f" through the proxy {self.proxy}" if self.proxy else ""
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning(
                        "function service link down%s (%s); reconnecting",
                        via,
                        e or type(e).__name__,
                    )
                else:  # one line per failure would flood the log during an outage
                    logger.log(
                        logging.INFO if attempt % 10 == 0 else logging.DEBUG,
                        "still reconnecting after %.0f s (%s)",
                        time.monotonic() - down_since,
                        e or type(e).__name__,
                    )
            attempt += 1
            delay = min(self.max_backoff, 0.1 * 2 ** min(attempt, 10))
            await asyncio.sleep(delay * (0.5 + random.random() / 2))

    async def _welcome(self, ws: Any) -> Welcome:
        raw = await asyncio.wait_for(ws.recv(), self.connect_timeout)
        for message in SERVER_FRAME.validate_json(raw):
            if isinstance(message, Welcome):
                return message
            if isinstance(message, Goodbye):
                if message.code in ("unauthorized", "token_expired"):
                    raise _Unauthorized(message.message, None)
                raise ConnectionRefusedByServer(
                    f"the server refused the connection: {message.message}"
                )
        raise ConnectionRefusedByServer("the server did not welcome this app")

    async def _serve(self, ws: Any, welcome: Welcome, token: str) -> None:
        """Serve one connection until it fails: reader, writer and watchdog as three tasks
        (see the module docstring); the first to end takes the others down and its error is
        raised."""
        self._last_received = time.monotonic()
        self._token_sent = token
        self._ws = ws
        tasks = {
            asyncio.create_task(self._read(ws), name="arkitekt-rpc-reader"),
            asyncio.create_task(self._write(ws), name="arkitekt-rpc-writer"),
            asyncio.create_task(self._watch(welcome), name="arkitekt-rpc-watchdog"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why the link ended
            raise ConnectionError("the link's tasks ended")  # they only end by raising
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, ws: Any) -> None:
        import websockets

        while True:
            try:
                raw = await ws.recv()
            except websockets.ConnectionClosed as e:
                self._closed(e, self._token_sent)
                raise
            self._last_received = time.monotonic()
            self._dispatch(raw, self._token_sent)

    async def _write(self, ws: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._outbox:
                self._writable = loop.create_future()
                try:
                    await self._writable
                finally:
                    self._writable = None
            batch, self._outbox = self._outbox, []
            text = encode(batch)
            if not _write_now(ws, text):
                await ws.send(text)  # closing, or held back by the network: send() handles it

    async def _watch(self, welcome: Welcome) -> None:
        """Close a link the server stayed silent on; send a renewed token before it expires."""
        reauth_at = _reauth_time(self._token_sent)
        while True:
            timeout = welcome.heartbeat_timeout - (time.monotonic() - self._last_received)
            if reauth_at is not None:
                timeout = min(timeout, reauth_at - time.time())
            if timeout > 0:
                await asyncio.sleep(timeout)
            if reauth_at is not None and time.time() >= reauth_at:
                token = await self._token(self._token_sent)  # renew it, not the cached one
                reauth_at = _reauth_time(token)
                self._token_sent = token
                self._queue(Reauth(token=token))
            if time.monotonic() - self._last_received >= welcome.heartbeat_timeout:
                raise TimeoutError(
                    f"no message from the server for {welcome.heartbeat_timeout:g} s"
                )

    def _dispatch(self, raw: str | bytes, token: str) -> None:
        try:
            frame = SERVER_FRAME.validate_json(raw)
        except ValidationError as e:
            logger.error("ignoring a frame the server sent that this client cannot read: %s", e)
            return
        for message in frame:
            if isinstance(message, Ping):
                self._queue(Pong())
            elif isinstance(message, Goodbye):
                if message.code in ("unauthorized", "token_expired"):
                    raise _Unauthorized(message.message, token)
                logger.warning("the server is closing the link: %s", message.message)
            else:
                try:
                    self._on_message(message)
                except Exception:
                    logger.exception("handling %s failed", message.type)

    def _closed(self, error: Any, token: str) -> None:
        code = getattr(getattr(error, "rcvd", None), "code", None)
        if code == CLOSE_UNAUTHORIZED:
            raise _Unauthorized("the server closed the link: not authorised", token)
        if code == CLOSE_PROTOCOL:
            reason = getattr(getattr(error, "rcvd", None), "reason", "")
            raise ConnectionRefusedByServer(f"the server closed the link: {reason}")


def _write_now(ws: Any, text: str) -> bool:
    """Write one text frame at once if the link is open and keeps up; False when not (then
    ``ws.send()`` must do it: it waits for a full buffer to drain and handles a closing link).

    websockets' ``send()`` spends ~20 us of Python per message (an async context manager
    around the write, its state and close bookkeeping), twice on the path of every call. While
    the protocol is open and nothing is left in the transport's buffer, the frame goes to
    websockets' sans-I/O protocol and straight to the transport instead.
    """
    if ws is None:
        return False
    protocol, transport = ws.protocol, ws.transport
    if protocol.state is not _open_state() or transport.get_write_buffer_size():
        return False
    protocol.send_text(text.encode())
    for data in protocol.data_to_send():
        transport.write(data)
    return True


@functools.cache
def _open_state() -> Any:
    from websockets.protocol import State  # imported on first use: `import arkitekt` stays light

    return State.OPEN


class _Unauthorized(Exception):
    def __init__(self, message: str, token: str | None) -> None:
        super().__init__(message)
        self.token = token


def _reauth_time(token: str) -> float | None:
    """When to send a fresh token: at 80 % of this one's remaining life."""
    expiry = token_expiry(token)
    if expiry is None:
        return None
    now = time.time()
    return now + max(1.0, (expiry - now) * 0.8)
