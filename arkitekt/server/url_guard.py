"""Refuse URLs that carry a NUL character, before any route looks them up.

Paths and query parameters name things the server looks up (codes, image ids, object keys);
stored text cannot hold NUL (:mod:`arkitekt.protocol.text`), so one such URL would otherwise
fail deep in the database instead of as the caller's mistake.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class RefuseNulInUrls:
    """Answers 400 (or closes a websocket with 1008) when the path or query holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _has_nul(scope):
            if scope["type"] == "http":
                response = PlainTextResponse("The URL contains a NUL character.", status_code=400)
                await response(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "NUL in the URL"})
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query
