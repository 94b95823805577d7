"""How uvicorn serves the app, the same for ``arkitekt server`` and the embedded server.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a
client takes to send a request's headers: a connection that sends half a request line and
stalls (slowloris) is held until the client goes away. :class:`HeaderTimeoutProtocol` arms a
timer when a connection opens and when an answer ends, and disarms it when a request's headers
are complete; a connection still sending headers after ``http_header_timeout`` is closed.

uvicorn's websocket protocol pauses reading its socket after every message and resumes it when
the app takes the message: two changes to the event loop's selector (two system calls and their
bookkeeping) per message, ~16% of the gateway's py-spy samples per message on ``/rekuest/ws``.
:class:`ReadAheadWebSocketProtocol` lets a few small messages wait for the app before it pauses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .config import ServerConfig


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()  # also before a websocket upgrade hands the connection over
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request's headers were read already
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_for(config: ServerConfig) -> type[HeaderTimeoutProtocol]:
    """A protocol class with ``config``'s header timeout (uvicorn takes a class, not options)."""
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout": config.http_header_timeout},
    )


class ReadAheadWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, pausing reads only once messages pile up for the app.

    Reading pauses when ``read_ahead`` messages wait for the app, or after a message of more
    than ``read_ahead_bytes`` (as uvicorn pauses after every message), and resumes when the app
    has taken every waiting message. So a client that sends faster than the app reads is still
    held back by TCP, and what waits in memory stays bounded: fewer than ``read_ahead`` small
    messages plus one message of at most the size limit.
    """

    read_ahead = 16
    read_ahead_bytes = 64 << 10

    def send_receive_event_to_app(self) -> None:
        size = self._message_size()
        paused = self.read_paused
        self.read_paused = True  # uvicorn's method pauses only when not paused already
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if not paused and (size > self.read_ahead_bytes or self.queue.qsize() >= self.read_ahead):
            self.read_paused = True
            self.transport.pause_reading()

    def _message_size(self) -> int | float:
        """Bytes of the message being handed to the app; infinite (pause, as uvicorn does) for
        a uvicorn that keeps them elsewhere."""
        frames = getattr(self, "frames", None)  # recent uvicorn
        if isinstance(frames, list):
            return sum(len(frame) for frame in frames)
        data = getattr(self, "bytes", None)  # uvicorn 0.35
        return len(data) if isinstance(data, bytes) else float("inf")


def uvicorn_options(config: ServerConfig) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that carry the server's connection limits."""
    return {
        "http": protocol_for(config),
        "ws": ReadAheadWebSocketProtocol,
        "ws_max_size": config.ws_max_message_bytes,
        "limit_concurrency": config.http_max_connections,
    }


JSON_LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(config: ServerConfig) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for ``arkitekt server``: None keeps uvicorn's text lines;
    ``log_format="json"`` sends every logger (the server's and uvicorn's, access lines too)
    through one handler writing one JSON object per line to stderr."""
    if config.log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": JSON_LOG_FIELDS,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
