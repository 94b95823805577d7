"""Serving a Strawberry schema the way every GraphQL API of this server is served.

Authentication: ``Authorization: Bearer <access token>`` of an existing, active user on HTTP
(refused with 401 before Strawberry sees the request); on websockets the token in the
connection-init payload (``{"authorization": "Bearer ..."}`` or ``{"token": "..."}``).
Resolvers find the verified claims in ``info.context["claims"]`` and the server state in
``info.context["state"]``.
Both websocket subprotocols are served: ``graphql-transport-ws`` and the legacy ``graphql-ws``.
"""

from __future__ import annotations

from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import Info

from .http import authenticate, bearer_user, read_body
from .oauth import AccessClaims, OAuthError


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

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        params = context.get("connection_params") or {}
        token = None
        if isinstance(params, dict):
            token = bearer(params.get("authorization")) or params.get("token")
        if not isinstance(token, str) or not token:
            raise ConnectionRejectionError({"reason": "send the access token in connection_init"})
        try:
            context["claims"] = await authenticate(context["request"], token)
        except OAuthError as e:
            raise ConnectionRejectionError({"reason": e.description}) from None
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
            try:  # bounded, and text: Strawberry would answer a non-UTF-8 body with a 500
                body = await read_body(request, MAX_QUERY_BODY)
                body.decode()
            except OAuthError as e:
                await _errors(e.description, e.status)(scope, receive, send)
                return
            except UnicodeDecodeError:
                await _errors("the request body is not UTF-8 text", 400)(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self._graphql(scope, receive, send)


MAX_QUERY_BODY = 1 << 20
"""Bytes of one GraphQL request (queries and their variables; data goes to the datalayer)."""


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
