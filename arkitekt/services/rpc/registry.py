"""Registered functions and hooks: what an agent serves, and how it runs them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import DefinitionError
from ...protocol.messages import MAX_CONCURRENCY, TemplateIn
from ...protocol.ports import Definition, NodeKind
from .admission import Needs
from .definitions import define, state_parameters
from .hooks import Hook, HookKind, OnError, make_hook


@dataclass(frozen=True)
class RegisteredFunction:
    interface: str
    function: Callable[..., Any]
    definition: Definition
    concurrency: int | None = 1
    """Calls of it that run at once (None: no limit)."""
    locks: tuple[str, ...] = ()
    """Named locks it holds while it runs (shared with every function naming them)."""
    thread: str | None = None
    """The dedicated thread a sync function runs on (None: the agent's worker pool)."""
    states: tuple[tuple[str, type], ...] = ()
    """(parameter, ``@state`` class) the agent injects."""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function) or inspect.isasyncgenfunction(
            self.function
        )

    @property
    def is_generator(self) -> bool:
        return self.definition.kind is NodeKind.GENERATOR

    @property
    def needs(self) -> Needs:
        return Needs.of(self.interface, self.concurrency, self.locks)

    def template(self) -> TemplateIn:
        return TemplateIn(
            interface=self.interface, definition=self.definition, concurrency=self.concurrency
        )


def _check_options(
    label: str, concurrency: int | None, locks: Iterable[str] | None, thread: str | None
) -> tuple[str, ...]:
    if concurrency is not None and (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise DefinitionError(
            f"{label}: concurrency must be a whole number from 1 to {MAX_CONCURRENCY:,} "
            f"(or None for no limit), got {concurrency!r}"
        )
    if isinstance(locks, str):
        raise DefinitionError(f"{label}: locks takes a list of names, e.g. locks=[{locks!r}]")
    names = tuple(locks or ())
    for name in names:
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"{label}: every lock is a non-empty name, got {name!r}")
    if thread is not None and (not isinstance(thread, str) or not thread):
        raise DefinitionError(f"{label}: thread must be a non-empty name, got {thread!r}")
    return names


class Registry:
    """Functions by interface name, and lifecycle hooks. Registering a name again replaces it
    (re-run cells)."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}
        self._hooks: dict[tuple[HookKind, str], Hook] = {}

    def register(
        self,
        function: Callable[..., Any],
        *,
        interface: str | None = None,
        name: str | None = None,
        description: str | None = None,
        concurrency: int | None = 1,
        locks: Iterable[str] | None = None,
        thread: str | None = None,
        localns: dict[str, Any] | None = None,
    ) -> RegisteredFunction:
        """Define ``function`` from its signature (raising on what cannot be sent) and keep it."""
        label = f"@register {interface or getattr(function, '__name__', repr(function))}"
        lock_names = _check_options(label, concurrency, locks, thread)
        definition = define(function, name=name, description=description, localns=localns)
        interface = interface or str(getattr(function, "__name__", definition.name))
        entry = RegisteredFunction(
            interface=interface,
            function=function,
            definition=definition,
            concurrency=concurrency,
            locks=lock_names,
            thread=thread,
            states=tuple(state_parameters(function).items()),
        )
        self._functions[entry.interface] = entry
        return entry

    def add_hook(
        self,
        kind: HookKind,
        function: Callable[..., Any],
        *,
        thread: str | None = None,
        on_error: OnError | str = OnError.RESTART,
        max_backoff: float = 30.0,
        localns: dict[str, Any] | None = None,
    ) -> Hook:
        """Keep a lifecycle hook (see :mod:`.hooks`); the same function again replaces it."""
        hook = make_hook(
            kind,
            function,
            thread=thread,
            on_error=on_error,
            max_backoff=max_backoff,
            localns=localns,
        )
        self._hooks[(kind, hook.name)] = hook
        return hook

    def hooks(self, kind: HookKind) -> list[Hook]:
        """The hooks of one kind, in the order they were registered."""
        return [hook for (k, _), hook in self._hooks.items() if k is kind]

    def get(self, interface: str) -> RegisteredFunction | None:
        return self._functions.get(interface)

    def __iter__(self) -> Iterator[RegisteredFunction]:
        return iter(list(self._functions.values()))

    def __len__(self) -> int:
        return len(self._functions)

    def __contains__(self, interface: object) -> bool:
        return interface in self._functions

    def remove(self, interface: str) -> RegisteredFunction | None:
        """Stop serving ``interface`` (from the next registration of the app on); returns what
        was registered under it, or None."""
        return self._functions.pop(interface, None)

    def clear(self) -> None:
        self._functions.clear()
        self._hooks.clear()


default_registry = Registry()
"""Where ``@register`` puts functions when no app is entered (module level, before ``with``)."""
