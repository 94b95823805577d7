"""Registered functions: what an agent serves."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...protocol.ports import Definition, NodeKind
from .definitions import define


@dataclass(frozen=True)
class RegisteredFunction:
    interface: str
    function: Callable[..., Any]
    definition: Definition

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function) or inspect.isasyncgenfunction(
            self.function
        )

    @property
    def is_generator(self) -> bool:
        return self.definition.kind is NodeKind.GENERATOR


class Registry:
    """Functions by interface name. Registering a name again replaces it (re-run cells)."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}

    def register(
        self,
        function: Callable[..., Any],
        *,
        interface: str | None = None,
        name: str | None = None,
        description: str | None = None,
        localns: dict[str, Any] | None = None,
    ) -> RegisteredFunction:
        """Define ``function`` from its signature (raising on what cannot be sent) and keep it."""
        definition = define(function, name=name, description=description, localns=localns)
        entry = RegisteredFunction(
            interface=interface or str(getattr(function, "__name__", definition.name)),
            function=function,
            definition=definition,
        )
        self._functions[entry.interface] = entry
        return entry

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


default_registry = Registry()
"""Where ``@register`` puts functions when no app is entered (module level, before ``with``)."""
