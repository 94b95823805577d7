"""A GraphQL API of the server, through rath, as the app's user.

The generated operations (:mod:`.api`) call :func:`aexecute` with their operation class; it
validates the variables, sends the document with the app's token (refreshed and retried once on
401/403), and turns the answer into the operation's typed result. Errors the server marks with a
code become the exceptions users catch (:class:`~arkitekt.errors.DataNotFoundError`, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import (
    ArkitektError,
    DataNotFoundError,
    ForbiddenError,
    InvalidDataError,
    ServerBusyError,
    ServerError,
    ServerUnavailableError,
)
from ..protocol.error_codes import ErrorCode

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rath import Rath

    from ..app import App

_CODES: dict[str, type[ArkitektError]] = {
    ErrorCode.NOT_FOUND: DataNotFoundError,
    ErrorCode.FORBIDDEN: ForbiddenError,
    ErrorCode.BAD_INPUT: InvalidDataError,
    ErrorCode.TIMEOUT: ServerBusyError,
    ErrorCode.TOO_MANY_REQUESTS: ServerBusyError,
}


T = TypeVar("T", bound="BaseModel")
"""A generated operation: a pydantic model with nested ``Arguments`` (model) and ``Meta``
(its ``document``)."""


def translate(errors: Any, fallback: str) -> ArkitektError:
    """The exception for a GraphQL ``errors`` list (the first error's code decides)."""
    first = errors[0] if isinstance(errors, list) and errors else {}
    message = str(first.get("message") or fallback) if isinstance(first, dict) else fallback
    code = (first.get("extensions") or {}).get("code") if isinstance(first, dict) else None
    return _CODES.get(str(code), ServerError)(message)


class GraphQLClient:
    """One GraphQL API of the server (``/<service>/graphql``), opened on first use."""

    def __init__(self, app: App, service: str) -> None:
        self.app = app
        self.service = service
        self._rath: Rath | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> Rath:
        async with self._lock:
            if self._rath is None:
                from rath import Rath
                from rath.links.aiohttp import AIOHttpLink
                from rath.links.auth import ComposedAuthLink
                from rath.links.compose import compose

                alias = await self.app.fakts.aget_alias(self.service)
                app = self.app

                async def load_token() -> str:
                    return await app.auth.aget_token()

                async def refresh_token() -> str:
                    stale = await app.auth.aget_token()
                    return str(await app.fakts.arefresh_token(stale_token=stale))

                link = compose(
                    ComposedAuthLink(token_loader=load_token, token_refresher=refresh_token),
                    AIOHttpLink(
                        endpoint_url=str(alias.to_http_path("graphql")),
                        auth_errors=[HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN],
                        proxy=getattr(app.auth, "proxy", None),
                    ),
                )
                rath = Rath(link=link)
                await rath.__aenter__()
                self._rath = rath
            return self._rath

    async def aquery(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Run a query or mutation; returns its ``data``."""
        from rath.links.errors import AuthenticationError
        from rath.operation import GraphQLException

        rath = await self._open()
        try:
            result = await rath.aquery(document, dict(variables))
        except GraphQLException as e:
            raise translate(e.errors, e.message) from None
        except AuthenticationError as e:
            raise ServerError(f"the server refused the token for {self.service}: {e}") from None
        except OSError as e:
            raise ServerUnavailableError(f"could not reach {self.service}: {e}") from e
        return dict(result.data)

    async def asubscribe(
        self, document: str, variables: Mapping[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError(f"{self.service} has no subscriptions")
        yield {}  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        rath, self._rath = self._rath, None
        if rath is not None:
            await rath.__aexit__(None, None, None)


_SERVICE_OF_MODULE = {
    "arkitekt.services.storage.api": "storage",
    "arkitekt.services.rpc.api": "rpc",
}
"""Which service's client runs the operations of a generated module by default."""


def _client(client: GraphQLClient | None, operation: type[Any]) -> GraphQLClient:
    if client is not None:
        return client
    from ..context import get_current_app

    service: Any = getattr(get_current_app(), _SERVICE_OF_MODULE[operation.__module__])
    graphql: GraphQLClient = service.graphql
    return graphql


async def aexecute(
    operation: type[T], variables: Mapping[str, Any], client: GraphQLClient | None = None
) -> T:
    """Run a generated operation (default: with the current app's client)."""
    generated: Any = operation
    arguments = generated.Arguments(**variables).model_dump(
        by_alias=True, exclude_unset=True, mode="json"
    )
    data = await _client(client, operation).aquery(generated.Meta.document, arguments)
    return operation(**data)


async def asubscribe(
    operation: type[T], variables: Mapping[str, Any], client: GraphQLClient | None = None
) -> AsyncIterator[T]:
    """Run a generated subscription (none of the storage API's operations is one)."""
    generated: Any = operation
    arguments = generated.Arguments(**variables).model_dump(
        by_alias=True, exclude_unset=True, mode="json"
    )
    async for data in _client(client, operation).asubscribe(generated.Meta.document, arguments):
        yield operation(**data)
