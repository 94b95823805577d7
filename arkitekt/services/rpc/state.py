"""Agent state: what an agent keeps between calls (where the stage is, whether the camera is on),
published so that its users can read and watch it.

A class becomes a state with :func:`state` (a dataclass or a pydantic model whose fields all have
defaults). A served function, or a ``@startup``/``@shutdown``/``@background`` hook, gets the
agent's one instance of it by annotating a parameter with the class (that parameter is not a
port: callers never pass it).

Changes are published to the server as JSON patches (RFC 6902), coalesced and at most one per
``interval`` per state: an attribute assignment schedules one, and every call or hook that ends
checks for changes made in place (``stage.history.append(...)``). The whole value is sent at
every (re)connect, so a patch lost with a link is repaired by the next connect.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from pydantic import BaseModel, TypeAdapter

from ...errors import DefinitionError
from ...protocol.messages import MAX_STATE_PATCH_OPS, PublishState

T = TypeVar("T", bound=type)

_SPEC = "__arkitekt_state__"


@dataclass(frozen=True)
class StateSpec:
    """How one state class is published."""

    name: str
    interval: float
    adapter: TypeAdapter[Any]


@overload
def state(cls: T, /) -> T: ...


@overload
def state(*, name: str | None = None, interval: float = 0.05) -> Callable[[T], T]: ...


def state(
    cls: T | None = None, /, *, name: str | None = None, interval: float = 0.05
) -> T | Callable[[T], T]:
    """Declare a class as agent state (``@state`` above ``@dataclass``, or on a pydantic model).

    ``name`` is what callers ask for (the class name by default); changes are published at most
    once per ``interval`` seconds. Every field needs a default (the agent creates the instance)
    and a JSON-able type (it is published); keep handles such as a camera object elsewhere, or
    in a pydantic ``PrivateAttr``.
    """

    def declare(target: T) -> T:
        _check(target)
        spec = StateSpec(
            name=name or target.__name__,
            interval=float(interval),
            adapter=TypeAdapter(target),
        )
        try:
            spec.adapter.json_schema(mode="serialization")
        except Exception as e:
            raise DefinitionError(
                f"@state {target.__qualname__}: its fields cannot be published as JSON ({e})"
            ) from e
        setattr(target, _SPEC, spec)
        _notify_on_assignment(target)
        return target

    if interval <= 0:
        raise DefinitionError(f"@state(interval=...) must be positive, got {interval!r}")
    if cls is not None:
        return declare(cls)
    return declare


def state_spec(annotation: Any) -> StateSpec | None:
    """The spec of a ``@state`` class, or None for anything else."""
    if not isinstance(annotation, type):
        return None
    spec = annotation.__dict__.get(_SPEC)
    return spec if isinstance(spec, StateSpec) else None


def _check(cls: type) -> None:
    label = f"@state {getattr(cls, '__qualname__', cls)!r}"
    if not isinstance(cls, type):
        raise DefinitionError(f"{label}: decorate a class (a dataclass or a pydantic model)")
    if issubclass(cls, BaseModel):
        missing = [n for n, f in cls.model_fields.items() if f.is_required()]
        frozen = bool(cls.model_config.get("frozen"))
    elif dataclasses.is_dataclass(cls):
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    else:
        raise DefinitionError(
            f"{label}: a state is a dataclass or a pydantic model; put @state above @dataclass"
        )
    if frozen:
        raise DefinitionError(f"{label}: a state changes; it cannot be frozen")
    if missing:
        raise DefinitionError(
            f"{label}: give every field a default (the agent creates the state); "
            f"without one: {', '.join(missing)}"
        )


# -- noticing changes ------------------------------------------------------------------------------

_publishers: dict[int, StatePublisher] = {}
"""id(instance) -> its publisher, for the instances agents hold (they keep them alive)."""


def _notify_on_assignment(cls: type) -> None:
    original: Callable[[Any, str, Any], None] = cls.__setattr__  # type: ignore[assignment]

    def __setattr__(self: Any, attribute: str, value: Any) -> None:
        original(self, attribute, value)
        publisher = _publishers.get(id(self))
        if publisher is not None:
            publisher.changed()

    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]


class StatePublisher:
    """Publishes one state instance of an agent (see the module docstring)."""

    def __init__(
        self,
        spec: StateSpec,
        instance: Any,
        owner: AgentStates,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.spec = spec
        self.instance = instance
        self._owner = owner
        self._loop = loop
        self.revision = 0
        self._published: Any = None
        self._last_sent = float("-inf")
        self._scheduled = False

    def value(self) -> dict[str, Any]:
        for _ in range(5):
            try:
                dumped = self.spec.adapter.dump_python(self.instance, mode="json")
                break
            except RuntimeError:  # a worker thread changed a dict while it was read: again
                continue
        else:
            dumped = self.spec.adapter.dump_python(self.instance, mode="json")
        if not isinstance(dumped, dict):
            raise TypeError(f"state {self.spec.name!r} did not dump to an object")
        return dumped

    def changed(self) -> None:
        """Something was assigned (from any thread): publish soon."""
        if self._scheduled:
            return
        self._scheduled = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._schedule()
        else:
            try:
                self._loop.call_soon_threadsafe(self._schedule)
            except RuntimeError:  # the agent's loop is closed: nothing to publish to
                self._scheduled = False

    def _schedule(self) -> None:
        wait = self._last_sent + self.spec.interval - self._loop.time()
        if wait > 0:
            self._loop.call_later(wait, self.flush)
        else:
            self.flush()

    def _send(self, message: PublishState) -> None:
        self._owner.send(message)

    def flush(self) -> None:
        """Publish what changed since the last publication (nothing when nothing did)."""
        self._scheduled = False
        if not self._owner.live:
            return  # not registered yet: the whole value goes out once it is
        current = self.value()
        if current == self._published:
            return
        import jsonpatch

        patch = jsonpatch.make_patch(self._published, current).patch
        self.revision += 1
        self._last_sent = self._loop.time()
        self._published = current
        if len(patch) > MAX_STATE_PATCH_OPS:
            self._send(PublishState(state=self.spec.name, revision=self.revision, value=current))
        else:
            self._send(PublishState(state=self.spec.name, revision=self.revision, patch=patch))

    def publish_whole(self) -> None:
        """Send the whole value (at every registration)."""
        self._scheduled = False
        if not self._owner.live:
            return
        current = self.value()
        self.revision += 1
        self._last_sent = self._loop.time()
        self._published = current
        self._send(PublishState(state=self.spec.name, revision=self.revision, value=current))


class AgentStates:
    """The states of one agent: one instance per class, created on first use.

    Nothing is published before the agent is registered (``live``): the server takes states
    from agents only; then every state goes out whole, again after every reconnect.
    """

    def __init__(self, send: Callable[[PublishState], None]) -> None:
        self.send = send
        self.live = False
        self._by_class: dict[type, StatePublisher] = {}
        self._names: dict[str, type] = {}

    def registered(self) -> None:
        """The agent is registered (again): publish every state whole."""
        self.live = True
        self.publish_whole()

    def disconnected(self) -> None:
        self.live = False

    def instance(self, cls: type) -> Any:
        publisher = self._by_class.get(cls)
        if publisher is None:
            spec = state_spec(cls)
            if spec is None:
                raise DefinitionError(f"{cls.__qualname__} is not declared with @state")
            other = self._names.get(spec.name)
            if other is not None and other is not cls:
                raise DefinitionError(
                    f"two state classes are named {spec.name!r} ({other.__qualname__} and "
                    f"{cls.__qualname__}): give one @state(name=...)"
                )
            publisher = StatePublisher(spec, cls(), self, asyncio.get_running_loop())
            self._by_class[cls] = publisher
            self._names[spec.name] = cls
            _publishers[id(publisher.instance)] = publisher
            publisher.publish_whole()
        return publisher.instance

    def inject(self, parameters: dict[str, type]) -> dict[str, Any]:
        """The keyword arguments giving a function its states."""
        return {name: self.instance(cls) for name, cls in parameters.items()}

    def publish_whole(self) -> None:
        """Every state, whole (the link is new)."""
        for publisher in self._by_class.values():
            publisher.publish_whole()

    def flush(self) -> None:
        """Publish what changed in place (after a call or hook ended)."""
        for publisher in self._by_class.values():
            publisher.flush()

    def close(self) -> None:
        self.flush()
        for publisher in self._by_class.values():
            _publishers.pop(id(publisher.instance), None)
