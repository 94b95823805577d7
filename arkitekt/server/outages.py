"""When the database cannot be reached: a clear answer for the caller, one line in the log.

The server's own state (routing, calls in flight) lives in memory and goes on; what needs the
database (logins, listings, finding functions) fails while it is down. Such a failure is not a
bug: the caller gets 503 with ``Retry-After`` (an OAuth-shaped ``temporarily_unavailable``
error), the websocket gets ``Failed`` with code ``unavailable`` for the one message, and the log
says what is down once per failure, without a traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("arkitekt.server.outages")

OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    ConnectionError,
)
"""Exceptions that mean "the database cannot be reached right now" (not a bug)."""

RETRY_AFTER = 5
UNAVAILABLE = "the server cannot reach its database right now; try again shortly"


def log_outage(error: BaseException, doing: str) -> None:
    logger.warning("%s failed, the database is unreachable: %s", doing, type(error).__name__)


async def answer_outage(request: Request, error: Exception) -> Response:
    log_outage(error, f"{request.method} {request.url.path}")
    return JSONResponse(
        {"error": "temporarily_unavailable", "error_description": UNAVAILABLE},
        status_code=503,
        headers={"retry-after": str(RETRY_AFTER), "cache-control": "no-store"},
    )


EXCEPTION_HANDLERS = {outage: answer_outage for outage in OUTAGES}
