"""Serving a Strawberry schema the way every GraphQL API of this server is served.

Authentication: ``Authorization: Bearer <access token>`` of an existing, active user on HTTP
(refused with 401 before Strawberry sees the request); on websockets the token in the
connection-init payload (``{"authorization": "Bearer ..."}`` or ``{"token": "..."}``).
Resolvers find the verified claims in ``info.context["claims"]`` and the server state in
``info.context["state"]``.
Both websocket subprotocols are served: ``graphql-transport-ws`` and the legacy ``graphql-ws``.

Limits (see :mod:`.graphql_limits` for those on the operations themselves): HTTP bodies of at
most ``graphql_max_body_bytes`` (413 beyond) that are UTF-8 text (400 otherwise). On websockets
(:class:`_SocketGuard`) a text message of at most that size holding JSON without ``NaN`` or
``Infinity``; anything else (binary frames included) closes the socket with
:data:`CLOSE_BAD_MESSAGE` (1009 for a message too big), and the socket is closed with
:data:`CLOSE_TOKEN_EXPIRED` when the token it authenticated with expires, so the client
connects again with a fresh one.

Errors: what resolvers raise for the caller (refusals, limits, coded errors) arrives as it is;
anything else (a database error, a bug) arrives as "Unexpected error." and is logged by type
(:class:`HideUnexpectedErrors`), so no message carries SQL, parameters or other users' data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult, Info

from .config import ServerConfig
from .frames import close_reason, frame_problem, json_problem
from .graphql_limits import WHOLE_REQUEST_TIMED, Limits, timed_out
from .http import authenticate, bearer_user, read_body
from .oauth import AccessClaims, OAuthError

logger = logging.getLogger("arkitekt.server.graphql")

CLOSE_BAD_MESSAGE = 4400
"""Close code for a websocket message that is not JSON text (graphql-transport-ws's 4400)."""
CLOSE_TOO_BIG = 1009
"""Close code for a websocket message over ``graphql_max_body_bytes`` (RFC 6455)."""
CLOSE_TOKEN_EXPIRED = 4401
"""Close code when the token a websocket authenticated with expires (graphql-transport-ws's
4401 Unauthorized): connect again with a fresh token."""
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    GraphQLError,  # our coded errors (limits, NOT_FOUND, ...)
    ValueError,
    PermissionError,
    LookupError,
    TimeoutError,
)
"""What resolvers raise on purpose, with a message meant for the caller. Anything else is a
fault of the server (a database error, a bug) whose text may carry SQL, parameters or other
users' data: the caller gets "Unexpected error." and the log has the details."""


def _unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, EXPECTED_ERRORS):
        return False  # validation, limits, our own coded errors, refusals worded for the caller
    logger.warning(
        "GraphQL field %s failed: %s", ".".join(map(str, error.path or ())), type(original).__name__
    )
    return True


class HideUnexpectedErrors(MaskErrors):
    """Unexpected errors reach the caller as "Unexpected error.", without their text."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected)


class Counted(SchemaExtension):
    """Counts operations and those answered with errors, by API (``/rekuest/graphql``:
    ``rekuest``), in the server's metrics."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        request = context.get("request")
        api = request.url.path.strip("/").split("/")[0] if request is not None else "unknown"
        metrics = context["state"].metrics
        metrics.graphql_requests.labels(api).inc()
        result = self.execution_context.result
        if self.execution_context.pre_execution_errors or (result is not None and result.errors):
            metrics.graphql_errors.labels(api).inc()


EXTENSIONS: list[type[SchemaExtension]] = [Counted, Limits, HideUnexpectedErrors]
"""The extensions every schema of the server is built with."""


class Schema(strawberry.Schema):
    """A Strawberry schema that does not log the errors it answers with.

    Strawberry logs every error of a result with its traceback; here most are the caller's (a
    refused argument, a limit, a missing object) and say all they need to the caller, and the
    server's own faults are logged (by type) where they are hidden from the caller
    (:class:`HideUnexpectedErrors`). The log stays for what the operator must act on.
    """

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            logger.debug("GraphQL error for the caller: %s", error.message)


_GUARD = "arkitekt.graphql_socket"


def bearer(value: object) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, else None."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def state_of(info: Info) -> Any:
    return info.context["state"]


def claims_of(info: Info) -> AccessClaims:
    claims: AccessClaims = info.context["claims"]
    return claims


class _ArkitektGraphQL(GraphQL[dict[str, Any], None]):
    async def get_context(self, request: Request | WebSocket, response: Any) -> dict[str, Any]:
        state = request.app.state.arkitekt
        context: dict[str, Any] = {"request": request, "response": response, "state": state}
        if isinstance(request, Request):
            token = bearer(request.headers.get("authorization"))
            context["claims"] = await authenticate(request, token) if token else None
        return context

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """One operation over HTTP, stopped as a whole at ``graphql_timeout`` (one error, and
        every resolver still waiting is cancelled)."""
        context = kwargs["context"] if "context" in kwargs else args[3]
        context[WHOLE_REQUEST_TIMED] = True  # the resolvers need no deadline of their own
        config: ServerConfig = context["state"].config
        try:
            async with asyncio.timeout(config.graphql_timeout):
                return await super().execute_single(*args, **kwargs)
        except TimeoutError:
            return ExecutionResult(data=None, errors=[timed_out(config.graphql_timeout)])

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        params = context.get("connection_params") or {}
        token = None
        if isinstance(params, dict):
            token = bearer(params.get("authorization")) or params.get("token")
        if not isinstance(token, str) or not token:
            raise ConnectionRejectionError({"reason": "send the access token in connection_init"})
        try:
            claims = await authenticate(context["request"], token)
        except OAuthError as e:
            raise ConnectionRejectionError({"reason": e.description}) from None
        context["claims"] = claims
        guard = context["request"].scope.get(_GUARD)
        if isinstance(guard, _SocketGuard):
            guard.expire_at(float(claims.expires_at))
        return None


class AuthenticatedGraphQL:
    """A schema's ASGI app that refuses HTTP requests without a valid token."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self._graphql: ASGIApp = _ArkitektGraphQL(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            try:  # a valid token of a user who still exists (and is active)
                await bearer_user(request)
            except OAuthError as e:
                await _errors(e.description, 401)(scope, receive, send)
                return
            limit = request.app.state.arkitekt.config.graphql_max_body_bytes
            try:  # bounded, and text: Strawberry would answer a non-UTF-8 body with a 500
                body = await read_body(request, limit)
                text = body.decode()
            except OAuthError as e:
                await _errors(e.description, e.status)(scope, receive, send)
                return
            except UnicodeDecodeError:
                await _errors("the request body is not UTF-8 text", 400)(scope, receive, send)
                return
            if not _json_object_or_other(request.headers.get("content-type"), text):
                # Strawberry reads a JSON body with `.get`: `null` or `[1]` would be a 500
                await _errors("the request body must be a JSON object", 400)(scope, receive, send)
                return
            receive = _replay(body, receive)
        elif scope["type"] == "websocket":
            config = scope["app"].state.arkitekt.config
            guard = _SocketGuard(receive, send, config.graphql_max_body_bytes)
            scope[_GUARD] = guard
            try:
                await self._graphql(scope, guard.receive, guard.send)
            finally:
                guard.stop()
            return
        await self._graphql(scope, receive, send)


def _json_object_or_other(content_type: str | None, text: str) -> bool:
    """False for a JSON body (by its content type) that parses to something but an object."""
    if not (content_type or "").split(";")[0].strip().lower().endswith("json"):
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return True  # Strawberry answers malformed JSON itself (400)
    return isinstance(parsed, dict)


class _SocketGuard:
    """One GraphQL websocket between the client and Strawberry: refuses frames that are not
    bounded JSON text, and closes the socket when its token expires."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive, self._send = receive, send
        self.max_bytes = max_bytes
        self.closed: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    def expire_at(self, when: float) -> None:
        """Close the socket at ``when`` (seconds since the epoch)."""
        loop = asyncio.get_running_loop()
        delay = max(0.0, when - time.time())
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._expired)

    def _expired(self) -> None:
        self._closing = asyncio.ensure_future(
            self.close(CLOSE_TOKEN_EXPIRED, "the access token expired; connect with a fresh one")
        )

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._closing is not None and not self._closing.done():
            self._closing.cancel()

    async def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = code
            await self._send(
                {"type": "websocket.close", "code": code, "reason": close_reason(reason)}
            )

    async def send(self, message: Message) -> None:
        if self.closed is None:  # after a close of ours, Strawberry's answers have nowhere to go
            await self._send(message)

    async def receive(self) -> Message:
        if self.closed is not None:
            return {"type": "websocket.disconnect", "code": self.closed}
        message = await self._receive()
        if message["type"] != "websocket.receive":
            return message
        problem = frame_problem(message, self.max_bytes)
        code = CLOSE_TOO_BIG if isinstance(message.get("text"), str) else CLOSE_BAD_MESSAGE
        if problem is None:
            problem, code = json_problem(message["text"]), CLOSE_BAD_MESSAGE
        if problem is None:
            return message
        await self.close(code, problem)
        return {"type": "websocket.disconnect", "code": code}


def _errors(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for a request whose body was read already: the body once, then the rest."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
