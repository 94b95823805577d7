"""The ASGI application: every route of the server behind one Starlette app."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import (
    agent_page,
    dashboard,
    fakts_routes,
    health,
    metrics,
    oidc_routes,
    outages,
    pages,
    run_page,
    slow_bodies,
)
from .config import ServerConfig
from .db import Database
from .health import Readiness
from .keys import KeyStore
from .oauth import OAuthCore
from .passwords import PasswordGuard
from .revocation import SessionCheck
from .rpc import gateway, graphql_api
from .rpc.references import ReferenceCheck
from .rpc.state import RpcState
from .services import SERVICE_NAMES, challenge_routes
from .state import ServerState
from .storage import graphql_api as storage_graphql_api
from .storage import local_routes
from .storage.state import StorageState
from .url_guard import RefuseNulInUrls

logger = logging.getLogger("arkitekt.server")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
]


class SecurityHeaders:
    """Adds conservative browser security headers to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


DATABASE_FILES = ("arkitekt.db", "arkitekt.db-wal", "arkitekt.db-shm")


def prepare_data_dir(config: ServerConfig) -> None:
    """Create the data folder and the database file, both private to this user (0700, 0600).

    SQLite gives its -wal and -shm files the database file's mode; files an older version
    created world-readable are narrowed here too.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(config.data_dir, 0o700)
    database = config.data_dir / DATABASE_FILES[0]
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in DATABASE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(config.data_dir / name, 0o600)


async def open_state(config: ServerConfig) -> ServerState:
    """Connect the database, migrate it and load the keys."""
    if config.database_url is None:
        prepare_data_dir(config)
    db = Database.of(config)
    try:
        await db.migrate()
        keys = await KeyStore.load(db, SERVICE_NAMES)
    except BaseException:
        await db.dispose()
        raise
    state = ServerState(
        config=config,
        db=db,
        keys=keys,
        oauth=OAuthCore(config, keys),
        passwords=PasswordGuard(config, db),
        sessions=SessionCheck(db, config.session_check_ttl),
    )
    state.readiness = Readiness(state)
    return state


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The server as an ASGI app; the database is opened in its lifespan."""
    config = config or ServerConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        state = await open_state(config)
        app.state.arkitekt = state
        try:
            if config.redis_url is not None:
                from .rpc.cluster import Cluster

                state.cluster = Cluster.of(config)
            state.rpc = await RpcState.start(config, state.db, state.metrics, state.cluster)
            state.storage = await StorageState.start(
                config, state.db, state.keys, lease=state.cluster.lease if state.cluster else None
            )
            state.references = ReferenceCheck(state.rpc.catalogue, state.storage.catalogue)
            yield {}
        finally:
            if state.storage is not None:
                await state.storage.stop()
            if state.rpc is not None:
                await state.rpc.stop()
            await state.db.dispose()

    app = Starlette(
        routes=[
            *health.routes(),
            *metrics.routes(),
            *fakts_routes.routes(),
            *oidc_routes.routes(),
            *challenge_routes(),
            *pages.routes(),
            *dashboard.routes(),
            *run_page.routes(),
            *agent_page.routes(),
            *gateway.routes(),
            *graphql_api.routes(),
            *storage_graphql_api.routes(),
            *local_routes.routes(),
        ],
        lifespan=lifespan,
        exception_handlers={**slow_bodies.EXCEPTION_HANDLERS, **outages.EXCEPTION_HANDLERS},
    )
    app.add_middleware(
        slow_bodies.BodyDeadline,
        timeout=config.http_body_timeout,
        min_rate=config.http_body_min_rate,
    )
    app.add_middleware(RefuseNulInUrls)
    app.add_middleware(SecurityHeaders)
    # Outermost: a request naming a host this server does not answer to goes no further.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.trusted_hosts())
    return app
