"""Request bodies must keep coming: a body that trickles in (slowloris on the body) is cut off.

uvicorn bounds the time to send headers (``http_header_timeout``, see :mod:`.serving`) but not
the body: a client can hold a connection, a request handler and whatever the handler holds by
sending one byte every few seconds. :class:`BodyDeadline` gives every request body a deadline
that grows with what arrived: ``http_body_timeout`` seconds plus one second per
``http_body_min_rate`` bytes received. A big upload at any honest speed never meets it; a
trickle does, and is answered 408 with the connection closed.

A client that goes away mid-body is not an error of the server: the handler's read raises
Starlette's ``ClientDisconnect``, answered quietly here (nobody is listening).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("arkitekt.server.http")


class BodyTooSlow(Exception):
    """The request body did not arrive in time."""


class BodyDeadline:
    """ASGI middleware: each HTTP request body arrives within its deadline, or
    :class:`BodyTooSlow` is raised from the handler's read (answered by :func:`too_slow`)."""

    def __init__(self, app: ASGIApp, timeout: float, min_rate: float) -> None:
        self.app = app
        self.timeout = timeout
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        complete = False

        async def receive_in_time() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is the wait for a disconnect
                return await receive()
            deadline = started + self.timeout + received / self.min_rate
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(
                    f"the request body came too slowly ({received} bytes in "
                    f"{loop.time() - started:.0f} s)"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, receive_in_time, send)


async def too_slow(request: Request, error: Exception) -> Response:
    """408 for a body that came too slowly; the connection is closed after it."""
    logger.info("%s %s: %s", request.method, request.url.path, error)
    return PlainTextResponse(str(error), status_code=408, headers={"connection": "close"})


async def client_gone(request: Request, error: Exception) -> Response:
    """The client disconnected mid-request: nothing to answer, nothing to log as an error."""
    logger.debug("%s %s: the client disconnected", request.method, request.url.path)
    return Response(status_code=400, headers={"connection": "close"})


EXCEPTION_HANDLERS = {BodyTooSlow: too_slow, ClientDisconnect: client_gone}
"""Starlette exception handlers for the two ways a body can fail to arrive."""
