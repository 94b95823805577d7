"""Agent lifecycle hooks: ``@startup``, ``@shutdown`` and ``@background`` functions.

- ``@startup`` hooks run once, in the order they were registered, after the agent connected and
  before it registers its functions: if one raises, the agent serves nothing and ``run()`` /
  ``serve()`` raise :class:`~arkitekt.AgentStartupError` (the shutdown hooks do not run: a
  startup hook that fails cleans up after itself).
- ``@background`` hooks start once every startup hook succeeded and live as long as the agent;
  when it stops they are cancelled. One that raises is logged and published in the agent's
  ``arkitekt.agent`` state, then restarted after a growing pause (``on_error="restart"``, the
  default), or it stops the agent (``on_error="stop"``: ``run()`` raises
  :class:`~arkitekt.AgentStoppedError`). One that returns is done.
- ``@shutdown`` hooks run when the agent stops (leaving ``with app:``, Ctrl-C), after the
  running calls ended and the background hooks were cancelled, in reverse order of
  registration; one that raises is logged and the others still run.

Hooks may be sync (run on the agent's worker threads, or on ``thread=``) or async, and take
the agent's states by annotating parameters with ``@state`` classes (nothing else).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ...errors import DefinitionError
from .state import state_spec


class HookKind(StrEnum):
    STARTUP = "startup"
    SHUTDOWN = "shutdown"
    BACKGROUND = "background"


class OnError(StrEnum):
    """What a failing ``@background`` hook does to the agent."""

    RESTART = "restart"
    STOP = "stop"


@dataclass(frozen=True)
class Hook:
    kind: HookKind
    function: Callable[..., Any]
    name: str
    states: dict[str, type]
    """Parameter -> the state class it takes."""
    thread: str | None = None
    on_error: OnError = OnError.RESTART
    max_backoff: float = 30.0
    """Longest pause before restarting a failed background hook (the first is 0.1 s)."""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


def make_hook(
    kind: HookKind,
    function: Callable[..., Any],
    *,
    thread: str | None = None,
    on_error: OnError | str = OnError.RESTART,
    max_backoff: float = 30.0,
    localns: dict[str, Any] | None = None,
) -> Hook:
    """Check a hook function (every parameter takes a state) and describe it."""
    name = str(getattr(function, "__qualname__", getattr(function, "__name__", repr(function))))
    label = f"@{kind.value} {name}()"
    if not callable(function):
        raise DefinitionError(f"@{kind.value}: {function!r} is not a function")
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise DefinitionError(f"{label}: a hook is a plain function, not a generator")
    try:
        hints = typing.get_type_hints(function, localns=localns)
    except Exception as e:
        raise DefinitionError(f"{label}: its annotations cannot be read ({e})") from e
    states: dict[str, type] = {}
    for parameter in inspect.signature(function).parameters.values():
        annotation = hints.get(parameter.name)
        if state_spec(annotation) is None:
            raise DefinitionError(
                f"{label}: parameter {parameter.name!r} must be annotated with a @state class "
                "(hooks take the agent's states, nothing else)"
            )
        states[parameter.name] = annotation  # type: ignore[assignment]
    try:
        policy = OnError(on_error)
    except ValueError:
        raise DefinitionError(
            f"{label}: on_error must be 'restart' or 'stop', got {on_error!r}"
        ) from None
    if max_backoff <= 0:
        raise DefinitionError(f"{label}: max_backoff must be positive, got {max_backoff!r}")
    return Hook(
        kind=kind,
        function=function,
        name=name,
        states=states,
        thread=thread,
        on_error=policy,
        max_backoff=float(max_backoff),
    )
