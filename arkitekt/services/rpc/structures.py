"""By-reference types ("structures") and the registry of types this process knows by name.

A structure is any class with an async ``shrink(self) -> str`` and an async classmethod
``expand(cls, value: str)``: only the string travels, the object lives in central storage.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def is_structure(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and inspect.iscoroutinefunction(getattr(tp, "shrink", None))
        and inspect.iscoroutinefunction(getattr(tp, "expand", None))
    )


def type_identifier(cls: type) -> str:
    """``__structure_identifier__`` when the class sets one, else ``module.QualName``."""
    explicit = getattr(cls, "__structure_identifier__", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    return f"{cls.__module__}.{cls.__qualname__}"


class TypeRegistry:
    """Identifier -> class, for turning wire values back into objects.

    Filled when a function using the class is defined, or explicitly. Never imports a module
    by name: identifiers come from the network.
    """

    def __init__(self) -> None:
        self._types: dict[str, type] = {}

    def add(self, cls: type) -> str:
        identifier = type_identifier(cls)
        self._types[identifier] = cls
        return identifier

    def get(self, identifier: str | None) -> type | None:
        return None if identifier is None else self._types.get(identifier)


default_types = TypeRegistry()


def register_structure(cls: T) -> T:
    """Make a structure class known to this process (e.g. in a caller that receives it)."""
    if not is_structure(cls):
        raise TypeError(
            f"{cls!r} is not a structure: it needs `async def shrink(self) -> str` and "
            "`@classmethod async def expand(cls, value: str)`"
        )
    default_types.add(cls)
    return cls


structure = register_structure
"""Class decorator form: ``@structure class Image: ...``."""


@dataclass(frozen=True)
class StructureReference:
    """A structure whose class this process does not know: its identifier and reference.

    Pass it on to another function as it is; to get the object, import (or
    :func:`register_structure`) the class before calling.
    """

    identifier: str
    value: str

    def __repr__(self) -> str:
        return (
            f"StructureReference({self.identifier!r}, {self.value!r}) "
            "- register the class to receive objects"
        )
