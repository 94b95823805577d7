"""``app.rpc``: register, serve, find and call remote functions.

Nothing connects when the app is entered: the websocket opens on the first find, call or
``run()``, so apps that never use remote functions never hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from ..._loops import on_app_loop, on_app_loop_gen
from ..._progress import CallProgress
from ..._twins import sync_generator_twin, sync_twin
from ...context import maybe_served_call
from ...display import listing
from ...errors import AppStateError, ConfigurationError, NodeNotFoundError, UsageError
from ...protocol.codec import aexpand_returns, ashrink_args
from ...protocol.messages import Event, EventKind, Message, Welcome
from ...protocol.ports import NodeKind
from ...protocol.services import REKUEST
from ..base import ApiService
from ..sharing import Sharing, shared_with
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
        raise UsageError(f"{node.name} is a generator: iterate it with iterate()/aiterate()")


class RpcService(ApiService, Sharing[str]):
    """Remote functions for one app (``app.rpc``)."""

    name = "rpc"
    api_key = REKUEST.key

    def __init__(
        self,
        *,
        instance_id: str = "default",
        timeout: float = 30.0,
        max_backoff: float = 10.0,
    ) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.registry = Registry()
        """Functions registered on this app (``app.register`` / ``@register`` inside ``with``)."""
        self._connection: Connection | None = None
        self._caller: Caller | None = None
        self._agent: Agent | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    async def astart(self, app: App) -> None:
        await super().astart(app)
        self._lock = asyncio.Lock()

    async def astop(self) -> None:
        agent, self._agent = self._agent, None
        if agent is not None:
            await agent.stop()
        connection, self._connection = self._connection, None
        self._caller = None
        if connection is not None:
            await connection.stop()
        await super().astop()

    @property
    def connected(self) -> bool:
        """Whether the websocket has been opened (it opens on first use)."""
        return self._connection is not None

    async def _ws_url(self) -> str:
        alias = await self.app.fakts.aget_alias(REKUEST.key)
        return str(alias.to_ws_path("ws"))

    async def _token(self, stale: str | None) -> str:
        if stale is not None:
            return str(await self.app.fakts.arefresh_token(stale_token=stale))
        return str(await self.app.auth.aget_token())

    async def aconnection(self) -> Connection:
        """The app's websocket, opened on first use (waits up to ``timeout`` for it)."""
        connection = self._connection
        if connection is not None and connection.connected:
            return connection  # every call asks: no lock while the link is up
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
                    proxy=self.app.auth.proxy,
                )
                self._caller = Caller(connection)
                self._connection = connection
                connection.start()
            connection = self._connection
        await connection.wait_connected(self.timeout)
        return connection

    @on_app_loop
    async def aagents(self) -> list[api.ListAgentsAgents]:
        """Your agents (connected or not), with their app and when they were last seen."""
        return list(await api.alist_agents(client=self.graphql))

    agents = sync_twin(aagents)

    @on_app_loop
    async def aassignations(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[api.ListAssignationsAssignations]:
        """Your calls, newest first (``status``: e.g. ``done``, ``error``, ``assigned``)."""
        found = await api.alist_assignations(
            status=status, limit=limit, offset=offset, client=self.graphql
        )
        return list(found)

    assignations = sync_twin(aassignations)

    @property
    def agent(self) -> Agent | None:
        """This app's agent while it serves (``agent.id`` is what ``get_state`` takes)."""
        return self._agent

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
        concurrency: int | None = 1,
        locks: list[str] | None = None,
        thread: str | None = None,
    ) -> Callable[..., Any]:
        self.registry.register(
            function,
            interface=interface,
            name=name,
            description=description,
            concurrency=concurrency,
            locks=locks,
            thread=thread,
        )
        return function

    async def arun(self, *, thread: str | None = None) -> None:
        """Serve every registered function until cancelled (Ctrl-C in ``app.run()``).

        ``thread`` pins every sync function and hook without a thread of its own to one
        dedicated thread of that name. Raises :class:`~arkitekt.AgentStartupError` when a
        startup hook fails, :class:`~arkitekt.AgentStoppedError` when a background hook with
        ``on_error="stop"`` does.
        """
        agent = await self.aserve(thread=thread)
        logger.info(
            "serving %s as %s", ", ".join(agent.functions) or "nothing", self.app.identifier
        )
        assert agent.lifecycle is not None
        try:
            await asyncio.shield(agent.lifecycle.failed)
        finally:
            if agent.lifecycle.failed.done() and self._agent is agent:
                self._agent = None
                await agent.stop()
                await agent.unregister()

    @on_app_loop
    async def aserve(self, *, thread: str | None = None) -> Agent:
        """Start serving in the background and return once the server has the templates.

        Runs the ``@startup`` hooks first (raising :class:`~arkitekt.AgentStartupError`, with
        nothing served, when one fails) and starts the ``@background`` ones.
        """
        registries = [self.registry, default_registry]
        if not any(len(r) for r in registries):
            raise ConfigurationError(
                "there is nothing to serve: decorate functions with @register first"
            )
        if self._agent is None:
            connection = await self.aconnection()
            agent = Agent(connection, registries, thread=thread)
            agent.collect()
            self._agent = agent
            try:
                await agent.start()
            except BaseException:
                self._agent = None
                await agent.stop()
                raise
        await self._agent.wait_registered(self.timeout)
        return self._agent

    @on_app_loop
    async def aget_state(self, agent: Any, state: Any) -> Any:
        """The current value of an agent's state (see :meth:`awatch_state`)."""
        async for value in self._state_updates(agent, state, once=True):
            return value
        raise AssertionError("unreachable: a state read ends with a value or an error")

    get_state = sync_twin(aget_state)

    @on_app_loop_gen
    async def awatch_state(self, agent: Any, state: Any) -> AsyncGenerator[Any, None]:
        """Follow an agent's state: yields its value now, then again after every change.

        ``agent`` is an agent (or its id, see ``app.rpc.agents()``) or a node (its one provider);
        ``state`` the ``@state`` class (values come as instances of it) or its name (values
        come as dicts). Allowed to the agent's owner and to users it shares a function with.
        """
        async for value in self._state_updates(agent, state, once=False):
            yield value

    watch_state = sync_generator_twin(awatch_state)

    async def _state_updates(self, agent: Any, state: Any, *, once: bool) -> Any:
        await self.aconnection()
        async for value in self.caller.state_updates(agent, state, once=once, timeout=self.timeout):
            yield value

    # -- calling ---------------------------------------------------------------------------------

    @on_app_loop
    async def afind_all(
        self,
        *,
        interface: str | None = None,
        name: str | None = None,
        search: str | None = None,
        owner: str | None = None,
        shared: bool = False,
        limit: int = 50,
    ) -> list[Node]:
        """Every function you may call that matches (newest first): your own apps' functions,
        or ``owner``'s shared with you, or (``shared=True``) every one you may use."""
        return await self._search(
            interface=interface, name=name, search=search, owner=owner, shared=shared, limit=limit
        )

    find_all = sync_twin(afind_all)

    async def _search(self, **filters: Any) -> list[Node]:
        await self.aconnection()
        nodes = await self.caller.afind(self.timeout, **filters)
        return listing(Node(info, self.app) for info in nodes)

    @on_app_loop
    async def afind(
        self,
        interface: str | None = None,
        *,
        node_id: str | None = None,
        name: str | None = None,
        hash: str | None = None,
        search: str | None = None,
        owner: str | None = None,
        shared: bool = False,
    ) -> Node:
        """The one function you may call that matches every filter given.

        Whose functions: by default your own apps'. Another user's function shared with you is
        found only when you ask for it, with ``owner="bob"`` (bob's) or ``shared=True`` (anyone
        who shares it with you); calls through the node go only to the providers found here,
        so nobody can slip in by registering the same function.

        Raises :class:`~arkitekt.NodeNotFoundError` when none matches, or when several
        different functions do (pass ``node_id=`` then).
        """
        filters = dict(interface=interface, node=node_id, name=name, hash=hash, search=search)
        nodes = await self._search(**filters, owner=owner, shared=shared)
        asked = dict(
            interface=interface,
            node_id=node_id,
            name=name,
            hash=hash,
            search=search,
            owner=owner,
            shared=shared or None,
        )
        described = ", ".join(f"{k}={v!r}" for k, v in asked.items() if v is not None)
        if not nodes:
            hint = "is its agent registered? is it shared with you?"
            if owner is None and not shared:
                others = await self._search(**filters, shared=True)
                owners = sorted({t.owner for n in others for t in n.info.templates})
                if owners:
                    hint = (
                        f"not among your own apps' functions; shared with you by "
                        f"{', '.join(owners)}: pass owner={owners[0]!r} (or shared=True) to "
                        "call theirs"
                    )
            raise NodeNotFoundError(
                f"no function you may call matches {described or 'anything'} ({hint})"
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
            node.id,
            payload,
            label=node.name,
            templates=node.template_ids,
            reservation=node.reservation,
            parent=parent,
        )

    async def _result(self, node: Node, call: Any, on_event: Callable[[Event], None]) -> Any:
        """Follow a started call's events to its result (raising what it raised)."""
        # closed here, not left to the loop's async generator finalizer: that would cost every
        # call a task (and a wake of the loop) after its result
        async with contextlib.aclosing(self.caller.events(call)) as events:
            async for event in events:
                on_event(event)
                if event.kind is EventKind.DONE:
                    return await aexpand_returns(
                        node.definition, event.values or [], types=default_types
                    )
                raise_for_event(event, node.name)
                log_event(event, node.name)
        raise AssertionError("unreachable: events end with a final event")

    find = sync_twin(afind)

    @on_app_loop
    async def acall(self, node: Node, *args: Any, **kwargs: Any) -> Any:
        """Call a remote function and return its result.

        Arguments are checked against the function's definition before anything is sent. A
        remote exception is raised as a :class:`~arkitekt.RemoteError` (with the remote
        traceback); cancelling the awaiting task (Ctrl-C for ``call``) cancels the remote call.
        """
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
            running.update(event.kind.value, event.progress, event.message)

        task = asyncio.get_running_loop().create_task(self._result(node, call, follow))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        running.attach(task)
        return running

    call = sync_twin(acall)

    @on_app_loop_gen
    async def aiterate(self, node: Node, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """Stream the values a remote generator yields."""
        if node.definition.kind is not NodeKind.GENERATOR:
            raise UsageError(f"{node.name} is not a generator: call it with call()/acall()")
        call = await self._start(node, args, kwargs)
        bar = CallProgress(node.name)
        try:
            async with contextlib.aclosing(self.caller.events(call)) as events:
                async for event in events:
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

    iterate = sync_generator_twin(aiterate)

    async def achange_sharing(
        self, target: str, users: list[str], everyone: bool, *, revoke: bool
    ) -> list[str]:
        """Share the function served under the interface ``target`` (see :class:`Sharing`)."""
        await self.aconnection()
        shared = await self.caller.ashare(self.timeout, target, users, everyone, revoke)
        return shared_with(shared.users, shared.everyone)

    @on_app_loop
    async def areserve(self, node: Node) -> str:
        await self.aconnection()
        return await self.caller.areserve(node.id, self.timeout, templates=node.template_ids)

    @on_app_loop
    async def aunreserve(self, reservation: str) -> None:
        if self._caller is not None:
            self._caller.unreserve(reservation)
