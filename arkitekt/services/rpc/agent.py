"""The agent: serves registered functions to callers through the server.

Async functions run as tasks on the app's loop; sync functions on a thread of their own with
the context copied (so ``progress``/``log`` and calls to other functions work there too).
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
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..._threads import run_in_thread
from ...context import enter_served_call, leave_served_call
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
    TemplateIn,
    Welcome,
)
from .connection import Connection
from .definitions import argument_adapters, function_hints
from .registry import RegisteredFunction, Registry
from .served import ServedCall
from .structures import default_types

logger = logging.getLogger("arkitekt.rpc.agent")

_END = object()


class Agent:
    def __init__(self, connection: Connection, registries: list[Registry]) -> None:
        self.connection = connection
        self.registries = registries
        self.functions: dict[str, RegisteredFunction] = {}
        self.running: dict[str, tuple[asyncio.Task[None], ServedCall]] = {}
        self._unacked: OrderedDict[int, Report] = OrderedDict()
        self._seq = itertools.count(1)
        self._registered: asyncio.Future[Registered] | None = None
        self._rid = itertools.count(1)
        self.templates: dict[str, str] = {}
        """interface -> template id, once registered."""

    def collect(self) -> None:
        """Take every registered function (app first; later registries do not override)."""
        functions: dict[str, RegisteredFunction] = {}
        for registry in self.registries:
            for entry in registry:
                functions.setdefault(entry.interface, entry)
        self.functions = functions

    def known(self) -> list[str]:
        """Calls the server must not re-deliver: running, or with reports not yet stored."""
        ids = set(self.running)
        ids.update(report.assignation for report in self._unacked.values())
        return sorted(ids)

    async def on_connected(self, welcome: Welcome) -> None:
        loop = asyncio.get_running_loop()
        self._registered = loop.create_future()
        self.connection.send(
            Register(
                rid=next(self._rid),
                templates=[
                    TemplateIn(interface=f.interface, definition=f.definition)
                    for f in self.functions.values()
                ],
            )
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
        definition = entry.definition
        try:
            kwargs = await aexpand_args(
                definition,
                message.args,
                hints=function_hints(entry.function),
                adapters=argument_adapters(entry.function),
                types=default_types,
            )
            if entry.is_generator:
                async for item in self._items(entry, kwargs):
                    values = await ashrink_returns(definition, item, types=default_types)
                    self.report(message.assignation, EventKind.YIELD, values=values)
                self.report(message.assignation, EventKind.DONE)
            else:
                if entry.is_async:
                    result = await entry.function(**kwargs)
                else:
                    result = await run_in_thread(
                        lambda: entry.function(**kwargs), name=f"arkitekt-{entry.interface}"
                    )
                values = await ashrink_returns(definition, result, types=default_types)
                self.report(message.assignation, EventKind.DONE, values=values)
        except (asyncio.CancelledError, AssignationCancelledError):
            self.report(message.assignation, EventKind.CANCELLED, message="cancelled")
            # the task ends here: cancellation of a call is not the agent's own cancellation
        except Exception as e:
            self.report(message.assignation, EventKind.ERROR, error=error_info(e))
        finally:
            with contextlib.suppress(ValueError):  # the task's context: never another one
                leave_served_call(token)

    async def _items(self, entry: RegisteredFunction, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        if inspect.isasyncgenfunction(entry.function):
            async for item in entry.function(**kwargs):
                yield item
            return
        # a sync generator: each step on a thread, so a slow step never blocks the loop
        iterator: Iterator[Any] = iter(await run_in_thread(lambda: entry.function(**kwargs)))
        while True:
            item = await run_in_thread(lambda: next(iterator, _END))
            if item is _END:
                return
            yield item

    async def stop(self) -> None:
        """Cancel what is running (reporting it cancelled) and wait briefly for it to end."""
        tasks = [task for task, _ in self.running.values()]
        for task, served in list(self.running.values()):
            served.cancel_requested = True
            task.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=2.0)
        # let the last reports (e.g. "cancelled") reach the server, so callers hear at once
        # rather than after the server's reconnect grace
        deadline = asyncio.get_running_loop().time() + 2.0
        while self._unacked and self.connection.connected:
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
