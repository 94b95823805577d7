"""``/health/live`` and ``/health/ready``: what a load balancer or an orchestrator asks.

*Live* means the process answers (restart it if not). *Ready* means it can serve: the
database, the broker's engine (Redis, with replicas) and the datalayer each answered within
``READY_TIMEOUT``; a replica that is not ready should get no traffic (503). Failures are named
by part and exception type only: hosts, credentials and SQL stay in the server's log.
Answers are reused for ``READY_CACHE`` seconds, so probes cannot make the server do more than
a few checks a second however often they come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from arkitekt._version import __version__

from .state import ServerState

logger = logging.getLogger("arkitekt.server.health")

READY_TIMEOUT = 2.0
READY_CACHE = 1.0


class Readiness:
    """The last readiness answer, shared by concurrent probes."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._lock = asyncio.Lock()
        self._checked_at = -READY_CACHE
        self._checks: dict[str, str] = {}

    async def checks(self) -> dict[str, str]:
        """Part name -> ``ok`` or why not."""
        async with self._lock:
            if time.monotonic() - self._checked_at >= READY_CACHE:
                self._checks = await self._run()
                self._checked_at = time.monotonic()
            return self._checks

    async def _run(self) -> dict[str, str]:
        state = self._state
        parts: dict[str, Callable[[], Awaitable[Any]] | None] = {"database": self._database}
        parts["broker"] = state.rpc.broker.ready if state.rpc is not None else None
        parts["datalayer"] = state.storage.datalayer.ready if state.storage is not None else None
        names = list(parts)
        answers = await asyncio.gather(*(_check(name, parts[name]) for name in names))
        return dict(zip(names, answers, strict=True))

    async def _database(self) -> None:
        async with self._state.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))


async def _check(name: str, probe: Callable[[], Awaitable[Any]] | None) -> str:
    if probe is None:
        return "starting"
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await probe()
    except TimeoutError:
        logger.warning("readiness: the %s did not answer within %g s", name, READY_TIMEOUT)
        return f"no answer within {READY_TIMEOUT:g} s"
    except Exception as e:
        logger.warning("readiness: the %s failed: %r", name, e)
        return f"failed ({type(e).__name__})"
    return "ok"


async def live(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    state: ServerState = request.app.state.arkitekt
    checks = await state.readiness.checks()
    ok = all(answer == "ok" for answer in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "version": __version__, "checks": checks},
        status_code=200 if ok else 503,
        headers={"cache-control": "no-store"},
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/health", live, methods=["GET"]),  # the original probe: live
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
    ]
