"""The Service protocol: what the App needs of each of its parts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from ..errors import AppStateError
from .graphql_client import GraphQLClient

if TYPE_CHECKING:
    from arkitekt.app import App


@runtime_checkable
class Service(Protocol):
    """One part of an App (fakts, auth, rpc, storage, ...).

    The App starts its services in order when it is entered and stops them in reverse order when
    it is left. ``astart`` may use the services started before it (through ``app``); ``astop``
    must release everything ``astart`` acquired and never raise for an ordinary shutdown.
    """

    name: str
    """The attribute it is reachable under: ``app.<name>``."""

    async def astart(self, app: App) -> None:
        """Connect / acquire resources. Called once per entry of the App."""
        ...

    async def astop(self) -> None:
        """Release what :meth:`astart` acquired."""
        ...


class ApiService:
    """Base of the services that talk to one API of the server (``/<key>/graphql``, ...).

    Holds the app while it is entered and the GraphQL client of that API; subclasses extend
    :meth:`astart` / :meth:`astop` for what else they hold.
    """

    api_key: ClassVar[str]
    """The server service it talks to (:mod:`arkitekt.protocol.services`)."""

    def __init__(self) -> None:
        self._app: App | None = None
        self._graphql: GraphQLClient | None = None

    async def astart(self, app: App) -> None:
        self._app = app
        self._graphql = GraphQLClient(app, self.api_key)

    async def astop(self) -> None:
        graphql, self._graphql = self._graphql, None
        if graphql is not None:
            await graphql.aclose()

    @property
    def app(self) -> App:
        """The app it belongs to (while entered)."""
        if self._app is None:
            raise AppStateError("the app is not entered: use `with app:` first")
        return self._app

    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of the app it belongs to (its methods hop there from other loops)."""
        return self._app.app_loop if self._app is not None else None

    @property
    def graphql(self) -> GraphQLClient:
        """The typed GraphQL client of its API."""
        if self._graphql is None:
            raise AppStateError("the app is not entered: use `with app:` first")
        return self._graphql
