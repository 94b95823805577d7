"""The caller's end of reading and following an agent's state (``get_state``/``watch_state``).

The server answers a ``WatchState`` with the whole value, then with JSON patches (RFC 6902) to
apply in order; after a reconnect the watch is sent again and the whole value comes first
again. Values are turned into instances of the ``@state`` class asked with (or given as dicts
when a name was asked).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from ...errors import UsageError
from ...protocol.messages import Failed, StateUpdate, WatchState
from .mailbox import Mailbox
from .node import Node
from .state import state_spec


@dataclass(frozen=True)
class StateTarget:
    """Whose state, and which one."""

    address: dict[str, Any]
    """The ``WatchState`` fields naming the agent: ``agent``, or ``node`` and ``templates``."""
    name: str
    adapter: TypeAdapter[Any] | None
    """Validates values into the ``@state`` class (None: values stay dicts)."""


def state_target(agent: Any, state: Any) -> StateTarget:
    """Read what ``get_state(agent, state)`` was given, naming the argument that is wrong."""
    if isinstance(agent, Node):
        address: dict[str, Any] = {"node": agent.id, "templates": agent.template_ids}
    elif isinstance(agent, str):
        address = {"agent": agent}
    elif isinstance(getattr(agent, "id", None), str):
        address = {"agent": agent.id}
    else:
        raise UsageError(
            f"agent= must be an agent (or its id, see app.rpc.agents()) or a node found with "
            f"find(), got {agent!r}"
        )
    if isinstance(state, str):
        return StateTarget(address, state, None)
    spec = state_spec(state)
    if spec is None:
        raise UsageError(
            f"state= must be a class declared with @state (or a state's name), got {state!r}"
        )
    return StateTarget(address, spec.name, spec.adapter)


class StateWatch(Mailbox[StateUpdate | Failed]):
    """One read or watch in flight: its updates, and the value they add up to."""

    def __init__(self, message: WatchState, target: StateTarget) -> None:
        super().__init__()
        self.message = message
        self.target = target
        self.value: dict[str, Any] | None = None

    def apply(self, update: StateUpdate) -> Any:
        """The value after ``update`` (None when it cannot be applied: wait for a whole one)."""
        if update.value is not None:
            self.value = update.value
        elif update.patch is not None and self.value is not None:
            import jsonpatch

            try:
                self.value = jsonpatch.apply_patch(self.value, update.patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
                self.value = None
                return None
        else:
            return None
        if self.target.adapter is None:
            return copy.deepcopy(self.value)
        return self.target.adapter.validate_python(self.value)
