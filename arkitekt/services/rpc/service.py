"""``app.rpc``: register, serve, find and call remote functions.

Nothing connects when the app is entered: the websocket opens on the first find, call or
``run()``, so apps that never use remote functions never hold one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from koil import unkoil

from ..._loops import on_app_loop, on_app_loop_gen
from ..._progress import CallProgress
from ...context import maybe_served_call
from ...display import listing
from ...errors import AppStateError, ConfigurationError, NodeNotFoundError
from ...protocol.codec import aexpand_returns, ashrink_args
from ...protocol.messages import Event, EventKind, Message, Welcome
from ...protocol.ports import NodeKind
from ...protocol.services import REKUEST
from ..graphql_client import GraphQLClient
from . import api
from .agent import Agent
from .caller import Caller, log_event, raise_for_event
from .connection import Connection
from .node import Node
from .registry import Registry, default_registry
from .running import Assignation
from .structures import default_types

if TYPE_CHECKING:
    from ...app import App

logger = logging.getLogger("arkitekt.rpc")


def _not_a_generator(node: Node) -> None:
    if node.definition.kind is NodeKind.GENERATOR:
        raise TypeError(f"{node.name} is a generator: iterate it with iterate()/aiterate()")


class RpcService:
    """Remote functions for one app (``app.rpc``)."""

    name = "rpc"

    def __init__(
        self,
        *,
        instance_id: str = "default",
        timeout: float = 30.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.instance_id = instance_id
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.registry = Registry()
        """Functions registered on this app (``app.register`` / ``@register`` inside ``with``)."""
        self._app: App | None = None
        self._connection: Connection | None = None
        self._caller: Caller | None = None
        self._agent: Agent | None = None
        self._graphql: GraphQLClient | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    async def astart(self, app: App) -> None:
        self._app = app
        self._lock = asyncio.Lock()
        self._graphql = GraphQLClient(app, REKUEST.key)

    async def astop(self) -> None:
        agent, self._agent = self._agent, None
        if agent is not None:
            await agent.stop()
        connection, self._connection = self._connection, None
        self._caller = None
        if connection is not None:
            await connection.stop()
        graphql, self._graphql = self._graphql, None
        if graphql is not None:
            await graphql.aclose()

    @property
    def app(self) -> App:
        if self._app is None:
            raise AppStateError("the app is not entered: use `with app:` first")
        return self._app

    async def _ws_url(self) -> str:
        alias = await self.app.fakts.aget_alias(REKUEST.key)
        return str(alias.to_ws_path("ws"))

    async def _token(self, stale: str | None) -> str:
        if stale is not None:
            return str(await self.app.fakts.arefresh_token(stale_token=stale))
        return str(await self.app.auth.aget_token())

    async def aconnection(self) -> Connection:
        """The app's websocket, opened on first use (waits up to ``timeout`` for it)."""
        async with self._lock:
            if self._connection is None:
                connection = Connection(
                    url=self._ws_url,
                    token=self._token,
                    on_message=self._dispatch,
                    on_connected=self._on_connected,
                    known=self._known,
                    instance_id=self.instance_id,
                    max_backoff=self.max_backoff,
                    connect_timeout=self.timeout,
                )
                self._caller = Caller(connection)
                self._connection = connection
                connection.start()
            connection = self._connection
        await connection.wait_connected(self.timeout)
        return connection

    @property
    def graphql(self) -> GraphQLClient:
        """The control plane (``/rekuest/graphql``): listings of agents and calls."""
        if self._graphql is None:
            raise AppStateError("the app is not entered: use `with app:` first")
        return self._graphql

    @on_app_loop
    async def aagents(self) -> list[api.ListAgentsAgents]:
        """Your agents (connected or not), with their app and when they were last seen."""
        return list(await api.alist_agents(client=self.graphql))

    def agents(self) -> list[api.ListAgentsAgents]:
        """Sync :meth:`aagents`."""
        return unkoil(self.aagents)

    @on_app_loop
    async def aassignations(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[api.ListAssignationsAssignations]:
        """Your calls, newest first (``status``: e.g. ``done``, ``error``, ``assigned``)."""
        found = await api.alist_assignations(
            status=status, limit=limit, offset=offset, client=self.graphql
        )
        return list(found)

    def assignations(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[api.ListAssignationsAssignations]:
        """Sync :meth:`aassignations`."""
        return unkoil(self.aassignations, status=status, limit=limit, offset=offset)

    @property
    def caller(self) -> Caller:
        if self._caller is None:
            raise AppStateError("not connected yet")
        return self._caller

    def _dispatch(self, message: Message) -> None:
        if self._caller is not None and self._caller.on_message(message):
            return
        if self._agent is not None and self._agent.on_message(message):
            return
        logger.debug("unhandled %s", type(message).__name__)

    async def _on_connected(self, welcome: Welcome) -> None:
        if self._caller is not None:
            await self._caller.on_connected(welcome)
        if self._agent is not None:
            await self._agent.on_connected(welcome)

    def _known(self) -> list[str]:
        return self._agent.known() if self._agent is not None else []

    # -- serving ---------------------------------------------------------------------------------

    def register(
        self,
        function: Callable[..., Any],
        *,
        interface: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Callable[..., Any]:
        self.registry.register(function, interface=interface, name=name, description=description)
        return function

    async def arun(self) -> None:
        """Serve every registered function until cancelled (Ctrl-C in ``app.run()``)."""
        agent = await self.aserve()
        logger.info(
            "serving %s as %s", ", ".join(agent.functions) or "nothing", self.app.identifier
        )
        await asyncio.Event().wait()

    @on_app_loop
    async def aserve(self) -> Agent:
        """Start serving in the background and return once the server has the templates."""
        registries = [self.registry, default_registry]
        if not any(len(r) for r in registries):
            raise ConfigurationError(
                "there is nothing to serve: decorate functions with @register first"
            )
        if self._agent is None:
            connection = await self.aconnection()
            agent = Agent(connection, registries)
            agent.collect()
            self._agent = agent
            await agent.on_connected(connection.welcome)  # type: ignore[arg-type]
        await self._agent.wait_registered(self.timeout)
        return self._agent

    # -- calling ---------------------------------------------------------------------------------

    @on_app_loop
    async def afind_all(self, **filters: Any) -> list[Node]:
        await self.aconnection()
        nodes = await self.caller.afind(self.timeout, **filters)
        return listing(Node(info, self.app) for info in nodes)

    async def afind(self, **filters: Any) -> Node:
        nodes = await self.afind_all(**filters)
        described = ", ".join(f"{k}={v!r}" for k, v in filters.items() if v is not None)
        if not nodes:
            raise NodeNotFoundError(
                f"no function you may call matches {described or 'anything'} "
                "(is its agent registered? is it shared with you?)"
            )
        if len(nodes) > 1:
            options = "; ".join(f"{n.name} (node_id={n.id!r})" for n in nodes[:5])
            raise NodeNotFoundError(
                f"{len(nodes)} different functions match {described}: {options}. "
                "Pass node_id= to choose one."
            )
        return nodes[0]

    async def _start(self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        payload = await ashrink_args(node.definition, args, kwargs, types=default_types)
        await self.aconnection()
        current = maybe_served_call()
        parent = (
            current.id
            if current is not None and self._agent is not None and current.id in self._agent.running
            else None
        )
        return self.caller.start(
            node.id, payload, label=node.name, reservation=node._reservation, parent=parent
        )

    async def _result(self, node: Node, call: Any, on_event: Callable[[Event], None]) -> Any:
        """Follow a started call's events to its result (raising what it raised)."""
        async for event in self.caller.events(call):
            on_event(event)
            if event.kind is EventKind.DONE:
                return await aexpand_returns(
                    node.definition, event.values or [], types=default_types
                )
            raise_for_event(event, node.name)
            log_event(event, node.name)
        raise AssertionError("unreachable: events end with a final event")

    @on_app_loop
    async def acall(self, node: Node, *args: Any, **kwargs: Any) -> Any:
        _not_a_generator(node)
        call = await self._start(node, args, kwargs)
        bar = CallProgress(node.name)

        def show(event: Event) -> None:
            if event.kind is EventKind.PROGRESS:
                bar.report(event.progress, event.message)

        try:
            return await self._result(node, call, show)
        finally:
            bar.close()

    @on_app_loop
    async def astart_call(self, node: Node, *args: Any, **kwargs: Any) -> Assignation:
        """Start a call and return at once; its :class:`Assignation` follows it."""
        _not_a_generator(node)
        call = await self._start(node, args, kwargs)
        running = Assignation(node, self.app)
        running.id = call.message.id

        def follow(event: Event) -> None:
            running._update(event.kind.value, event.progress, event.message)

        task = asyncio.get_running_loop().create_task(self._result(node, call, follow))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        running._task = task
        return running

    @on_app_loop_gen
    async def aiterate(self, node: Node, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        if node.definition.kind is not NodeKind.GENERATOR:
            raise TypeError(f"{node.name} is not a generator: call it with call()/acall()")
        call = await self._start(node, args, kwargs)
        bar = CallProgress(node.name)
        try:
            async for event in self.caller.events(call):
                if event.kind is EventKind.YIELD:
                    yield await aexpand_returns(
                        node.definition, event.values or [], types=default_types
                    )
                elif event.kind is EventKind.DONE:
                    return
                else:
                    raise_for_event(event, node.name)
                    log_event(event, node.name)
                    if event.kind is EventKind.PROGRESS:
                        bar.report(event.progress, event.message)
        finally:
            bar.close()

    @on_app_loop
    async def ashare(
        self, interface: str, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Let other users (by username), or everyone, find and call one of this app's
        functions; returns who it is shared with now. Only the app that serves it may."""
        if isinstance(users, str):
            raise TypeError("users= takes a list of usernames, e.g. users=['bob']")
        await self.aconnection()
        shared = await self.caller.ashare(self.timeout, interface, list(users), everyone, False)
        return ["*", *shared.users] if shared.everyone else shared.users

    def share(
        self, interface: str, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Sync :meth:`ashare`."""
        return unkoil(self.ashare, interface, users=users, everyone=everyone)

    @on_app_loop
    async def aunshare(
        self, interface: str, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Take back what :meth:`ashare` gave."""
        if isinstance(users, str):
            raise TypeError("users= takes a list of usernames, e.g. users=['bob']")
        await self.aconnection()
        shared = await self.caller.ashare(self.timeout, interface, list(users), everyone, True)
        return ["*", *shared.users] if shared.everyone else shared.users

    def unshare(
        self, interface: str, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Sync :meth:`aunshare`."""
        return unkoil(self.aunshare, interface, users=users, everyone=everyone)

    @on_app_loop
    async def areserve(self, node: Node) -> str:
        await self.aconnection()
        return await self.caller.areserve(node.id, self.timeout)

    @on_app_loop
    async def aunreserve(self, reservation: str) -> None:
        if self._caller is not None:
            self._caller.unreserve(reservation)
