"""By-reference types ("structures") and the registry of types this process knows by name.

A structure is any class with an async ``shrink(self) -> str`` and an async classmethod
``expand(cls, value: str)``: only the string travels, the object lives in central storage.

>>> @structure                                            # doctest: +SKIP
... class Table:
...     async def shrink(self) -> str: ...
...     @classmethod
...     async def expand(cls, value: str) -> "Table": ...
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

T = TypeVar("T", bound=type)


BUILTIN_STRUCTURES = {
    "@arkitekt/image": ("arkitekt.services.storage.image", "Image"),
    "@arkitekt/file": ("arkitekt.services.storage.file", "File"),
}
"""The SDK's own structures, known to every process without importing them first (a fixed
table: identifiers from the network never name a module to import)."""


def _import_builtin(identifier: str) -> type:
    import importlib

    module, name = BUILTIN_STRUCTURES[identifier]
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def is_structure(tp: object) -> bool:
    """Whether ``tp`` is a class with ``async shrink(self)`` and ``async classmethod expand``."""
    if not isinstance(tp, type):
        return False
    expand = getattr(tp, "expand", None)
    return (
        inspect.iscoroutinefunction(getattr(tp, "shrink", None))
        and inspect.ismethod(expand)  # bound to the class: a classmethod
        and expand.__self__ is tp
        and inspect.iscoroutinefunction(expand)
    )


def structure_identifier(cls: type) -> str:
    """The stable name of a type on the wire.

    ``__structure_identifier__`` when the class sets one (keep it when you move the class),
    else ``module.QualName``. Used for structures, models, dataclasses and enums alike.
    """
    explicit = cls.__dict__.get("__structure_identifier__")  # not inherited: subclasses differ
    if isinstance(explicit, str) and explicit:
        return explicit
    return f"{cls.__module__}.{cls.__qualname__}"


def _registrable(cls: type) -> bool:
    return (
        is_structure(cls)
        or dataclasses.is_dataclass(cls)
        or issubclass(cls, enum.Enum)
        or callable(getattr(cls, "model_validate", None))  # pydantic models
    )


class TypeRegistry:
    """Identifier -> class, for turning wire values back into objects of the right class.

    Filled by :func:`~arkitekt.services.rpc.definitions.define` with every structure, model,
    dataclass and enum it meets, or explicitly (:func:`register_structure`, :func:`register_type`).
    A later class with the same identifier replaces the earlier one (a re-run notebook cell).
    It never imports anything by name: identifiers come from the network.
    """

    def __init__(self) -> None:
        self._types: dict[str, type] = {}
        self._lock = threading.Lock()

    def add(self, cls: type) -> str:
        """Remember ``cls`` under its identifier; returns the identifier."""
        if not isinstance(cls, type) or not _registrable(cls):
            raise TypeError(
                f"{cls!r} is not a structure, pydantic model, dataclass or Enum; "
                "only those can be known by identifier"
            )
        identifier = structure_identifier(cls)
        with self._lock:
            self._types[identifier] = cls
        return identifier

    def get(self, identifier: str | None) -> type | None:
        """The class known under ``identifier``, or None."""
        if identifier is None:
            return None
        found = self._types.get(identifier)
        if found is None and identifier in BUILTIN_STRUCTURES:
            found = _import_builtin(identifier)
            self.add(found)
        return found

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._types

    def __len__(self) -> int:
        return len(self._types)


default_types = TypeRegistry()
"""The process-wide registry that :func:`define` and the (de)serializers use by default."""


def register_structure(cls: T, *, types: TypeRegistry = default_types) -> T:
    """Make a structure class known to this process, so results arrive as objects of it.

    A caller that never defines a function using the class needs this (or :func:`structure`);
    otherwise results of that type arrive as :class:`StructureReference`.
    """
    if not is_structure(cls):
        raise TypeError(
            f"{cls!r} is not a structure: it needs `async def shrink(self) -> str` and "
            "`@classmethod async def expand(cls, value: str)`"
        )
    types.add(cls)
    return cls


def register_type(cls: T, *, types: TypeRegistry = default_types) -> T:
    """Make a pydantic model, dataclass, Enum or structure class known to this process.

    Results of a known model type arrive as instances (else as dicts), of a known Enum as
    members (else as raw values).
    """
    types.add(cls)
    return cls


@overload
def structure(cls: T, /) -> T: ...
@overload
def structure(*, identifier: str | None = None) -> Callable[[T], T]: ...
def structure(cls: T | None = None, /, *, identifier: str | None = None) -> T | Callable[[T], T]:
    """Class decorator: check that a class is a structure and register it.

    ``@structure`` or ``@structure(identifier="mylab.Table")``; an explicit identifier keeps
    working when the class moves to another module.
    """

    def decorate(target: T) -> T:
        if identifier is not None:
            target.__structure_identifier__ = identifier  # type: ignore[attr-defined]
        return register_structure(target)

    return decorate(cls) if cls is not None else decorate


@dataclass(frozen=True)
class StructureReference:
    """A structure whose class this process does not know: its identifier and its value.

    It can be passed on unchanged as an argument of a function that takes that structure. To
    receive objects instead, import the class and register it (``arkitekt.structure``) before
    calling.
    """

    identifier: str
    value: str

    async def shrink(self) -> str:
        """The reference itself: what travels for this structure."""
        return self.value

    def __repr__(self) -> str:
        return (
            f"StructureReference(identifier={self.identifier!r}, value={self.value!r}) "
            f"- this process does not know the class {self.identifier!r}; import it and "
            "decorate it with @arkitekt.structure (or call register_structure) to receive "
            "objects"
        )


def identifier_of(value: Any) -> str | None:
    """The identifier of a structure instance or reference (None for anything else)."""
    if isinstance(value, StructureReference):
        return value.identifier
    if is_structure(type(value)):
        return structure_identifier(type(value))
    return None
