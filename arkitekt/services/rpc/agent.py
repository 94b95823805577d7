"""The agent: serves registered functions to callers through the server.

How a call runs (the rules users see are in docs/functions.md):

- it waits for a slot of its function and the locks it names (:mod:`.admission`), reporting
  ``queued`` to its caller while it does and ``running`` once it starts;
- async functions run as tasks on the app's loop; sync ones on the agent's long-lived worker
  threads, or on the dedicated thread they name (:mod:`.workers`), with the context copied (so
  ``progress``/``log`` and calls to other functions work there too);
- parameters annotated with ``@state`` classes get the agent's instances (:mod:`.state`), and
  the lifecycle hooks run around serving (:mod:`.lifecycle`).

Every report is numbered; it stays in ``_unacked`` until the server acknowledges it, and is
re-sent after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from ...context import enter_served_call, leave_served_call, maybe_served_call
from ...errors import AssignationCancelledError
from ...protocol.codec import aexpand_args, ashrink_returns
from ...protocol.messages import (
    Ack,
    Assignment,
    ErrorInfo,
    EventKind,
    Interrupt,
    Message,
    Register,
    Registered,
    Report,
    Welcome,
)
from .admission import Admission
from .connection import Connection
from .definitions import argument_adapters, function_hints
from .hooks import HookKind
from .lifecycle import Lifecycle
from .registry import RegisteredFunction, Registry
from .served import ServedCall
from .state import AgentStates
from .structures import default_types
from .workers import Workers

T = TypeVar("T")

logger = logging.getLogger("arkitekt.rpc.agent")

_END = object()


class Agent:
    def __init__(
        self, connection: Connection, registries: list[Registry], *, thread: str | None = None
    ) -> None:
        self.connection = connection
        self.registries = registries
        self.thread = thread
        """The dedicated thread every sync function and hook runs on unless it names its own
        (None: the worker pool)."""
        self.functions: dict[str, RegisteredFunction] = {}
        self.running: dict[str, tuple[asyncio.Task[None], ServedCall]] = {}
        self.workers = Workers()
        self.admission = Admission()
        self.states = AgentStates(connection.send)
        self.lifecycle: Lifecycle | None = None
        self._serving = False
        self._unacked: OrderedDict[int, Report] = OrderedDict()
        self._seq = itertools.count(1)
        self._registered: asyncio.Future[Registered] | None = None
        self._rid = itertools.count(1)
        self.templates: dict[str, str] = {}
        """interface -> template id, once registered."""
        self.id: str | None = None
        """The agent's id on the server, once registered (what ``get_state`` takes)."""

    def collect(self) -> None:
        """Take every registered function and hook (app first; later registries do not
        override)."""
        functions: dict[str, RegisteredFunction] = {}
        for registry in self.registries:
            for entry in registry:
                functions.setdefault(entry.interface, entry)
        self.functions = functions

        def hooks(kind: HookKind) -> list[Any]:
            found: dict[str, Any] = {}
            for registry in self.registries:
                for hook in registry.hooks(kind):
                    found.setdefault(hook.name, hook)
            return list(found.values())

        self.lifecycle = Lifecycle(
            startup=hooks(HookKind.STARTUP),
            background=hooks(HookKind.BACKGROUND),
            shutdown=hooks(HookKind.SHUTDOWN),
            states=self.states,
            run_sync=self.run_sync,
        )

    async def run_sync(
        self,
        fn: Callable[[], T],
        thread: str | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> T:
        """Run a sync function on its thread: ``thread``, else the agent's, else the pool."""
        return await self.workers.run(fn, thread=thread or self.thread, on_cancel=on_cancel)

    async def start(self) -> None:
        """Run the startup hooks, start the background ones, then register the functions.

        Raises :class:`~arkitekt.AgentStartupError` (nothing registered) when a startup hook
        fails.
        """
        assert self.lifecycle is not None, "collect() first"
        for entry in self.functions.values():  # every state exists from the start
            for _, cls in entry.states:
                self.states.instance(cls)
        for cls in self.lifecycle.state_classes():
            self.states.instance(cls)
        await self.lifecycle.startup()
        self.lifecycle.start_background()
        self._serving = True
        await self.on_connected(self.connection.welcome)  # type: ignore[arg-type]

    def known(self) -> list[str]:
        """Calls the server must not re-deliver: running, or with reports not yet stored."""
        ids = set(self.running)
        ids.update(report.assignation for report in self._unacked.values())
        return sorted(ids)

    async def on_connected(self, welcome: Welcome) -> None:
        self.states.disconnected()  # until registered on this link
        if not self._serving:
            return  # still starting up: it registers once the startup hooks succeeded
        loop = asyncio.get_running_loop()
        self._registered = loop.create_future()
        self.connection.send(
            Register(rid=next(self._rid), templates=[f.template() for f in self.functions.values()])
        )
        for report in self._unacked.values():
            self.connection.send(report)

    async def wait_registered(self, timeout: float) -> Registered:
        while self._registered is None:
            await asyncio.sleep(0.01)
        registered = await asyncio.wait_for(asyncio.shield(self._registered), timeout)
        return registered

    def on_message(self, message: Message) -> bool:
        """Handle what is for the agent; returns False for messages it does not take."""
        if isinstance(message, Assignment):
            self._start(message)
        elif isinstance(message, Interrupt):
            self._interrupt(message.assignation)
        elif isinstance(message, Ack):
            while self._unacked and next(iter(self._unacked)) <= message.seq:
                self._unacked.popitem(last=False)
        elif isinstance(message, Registered):
            self.templates = {t.interface: t.template for t in message.templates}
            self.id = message.agent
            self.states.registered()
            if self._registered is not None and not self._registered.done():
                self._registered.set_result(message)
        else:
            return False
        return True

    # -- reports ---------------------------------------------------------------------------------

    def report(self, assignation: str, kind: EventKind, **fields: Any) -> None:
        report = Report(seq=next(self._seq), assignation=assignation, kind=kind, **fields)
        self._unacked[report.seq] = report
        self.connection.send(report)

    # -- running ---------------------------------------------------------------------------------

    def _start(self, message: Assignment) -> None:
        if message.assignation in self.running:
            return  # re-delivered after a reconnect, and already running
        entry = self.functions.get(message.interface)
        if entry is None:
            self.report(
                message.assignation,
                EventKind.CRITICAL,
                error=ErrorInfo(
                    type="arkitekt.UnknownFunction",
                    message=f"this agent does not provide {message.interface!r} (any more)",
                ),
            )
            return
        loop = asyncio.get_running_loop()
        assignation_id = message.assignation
        served = ServedCall(
            id=assignation_id,
            interface=message.interface,
            user=message.user,
            parent=message.parent,
            report=_thread_safe(loop, self, assignation_id),
            loop=loop,
        )
        task = asyncio.create_task(
            self._run(entry, message, served), name=f"arkitekt-{entry.interface}"
        )
        self.running[assignation_id] = (task, served)
        task.add_done_callback(lambda _: self.running.pop(assignation_id, None))

    def _interrupt(self, assignation_id: str) -> None:
        running = self.running.get(assignation_id)
        if running is None:
            return
        task, served = running
        served.cancel_requested = True
        task.cancel()

    async def _run(
        self, entry: RegisteredFunction, message: Assignment, served: ServedCall
    ) -> None:
        token = enter_served_call(served)
        assignation = message.assignation
        definition = entry.definition
        needs = entry.needs
        admitted = False
        try:
            kwargs = await aexpand_args(
                definition,
                message.args,
                hints=function_hints(entry.function),
                adapters=argument_adapters(entry.function),
                types=default_types,
            )
            if entry.states:
                kwargs.update(self.states.inject(dict(entry.states)))
            if not self.admission.try_enter(needs):

                def queued(reason: str) -> None:
                    self.report(assignation, EventKind.QUEUED, message=reason)

                await self.admission.enter(needs, queued)
                self.report(assignation, EventKind.RUNNING)
            admitted = True
            if entry.is_generator:
                async for item in self._items(entry, kwargs):
                    values = await ashrink_returns(definition, item, types=default_types)
                    self.report(assignation, EventKind.YIELD, values=values)
                self.report(assignation, EventKind.DONE)
            else:
                if entry.is_async:
                    result = await entry.function(**kwargs)
                else:
                    result = await self.run_sync(
                        lambda: entry.function(**kwargs), entry.thread, served.request_cancel
                    )
                values = await ashrink_returns(definition, result, types=default_types)
                self.report(assignation, EventKind.DONE, values=values)
        except (asyncio.CancelledError, AssignationCancelledError):
            self.report(assignation, EventKind.CANCELLED, message="cancelled")
            # the task ends here: cancellation of a call is not the agent's own cancellation
        except Exception as e:
            self.report(assignation, EventKind.ERROR, error=error_info(e))
        finally:
            if admitted:
                self.admission.leave(needs)
            if entry.states:
                self.states.flush()  # what the call changed in place
            with contextlib.suppress(ValueError):  # the task's context: never another one
                leave_served_call(token)

    async def _items(self, entry: RegisteredFunction, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        if inspect.isasyncgenfunction(entry.function):
            async for item in entry.function(**kwargs):
                yield item
            return
        # a sync generator: each step on a worker, so a slow step never blocks the loop
        cancel = maybe_served_call()
        on_cancel = cancel.request_cancel if cancel is not None else None
        iterator: Iterator[Any] = iter(
            await self.run_sync(lambda: entry.function(**kwargs), entry.thread, on_cancel)
        )
        while True:
            item = await self.run_sync(lambda: next(iterator, _END), entry.thread, on_cancel)
            if item is _END:
                return
            yield item

    async def unregister(self) -> None:
        """Tell the server this agent provides nothing any more (it stopped serving while the
        app goes on)."""
        if self.connection.connected:
            self.connection.send(Register(rid=next(self._rid), templates=[]))

    async def stop(self) -> None:
        """Stop serving: cancel what is running (reporting it cancelled) and wait briefly for
        it to end, stop the background hooks, run the shutdown hooks, stop the worker threads,
        publish the last state."""
        self._serving = False
        tasks = [task for task, _ in self.running.values()]
        for task, served in list(self.running.values()):
            served.cancel_requested = True
            task.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=2.0)
        if self.lifecycle is not None:
            await self.lifecycle.stop()
            await self.lifecycle.aclose()
        await self.workers.aclose()
        self.states.close()
        # let the last reports (e.g. "cancelled") and states reach the server, so callers hear
        # at once rather than after the server's reconnect grace
        deadline = asyncio.get_running_loop().time() + 2.0
        while (self._unacked or self.connection.sending) and self.connection.connected:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)


def _thread_safe(loop: asyncio.AbstractEventLoop, agent: Agent, assignation_id: str) -> Any:
    def report(kind: EventKind, **fields: Any) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            agent.report(assignation_id, kind, **fields)
        else:
            loop.call_soon_threadsafe(lambda: agent.report(assignation_id, kind, **fields))

    return report


def error_info(error: BaseException) -> ErrorInfo:
    cls = type(error)
    module = cls.__module__
    name = f"{module}.{cls.__qualname__}"
    return ErrorInfo(
        type=name,
        message=str(error),
        traceback="".join(traceback.format_exception(error)),
    )
