"""The structures this process knows: the SDK's own, and the ones users register.

>>> @structure                                            # doctest: +SKIP
... class Table:
...     async def shrink(self) -> str: ...
...     @classmethod
...     async def expand(cls, value: str) -> "Table": ...

What a structure is, and how it travels, is the protocol's (:mod:`arkitekt.protocol.structures`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

from ...errors import UsageError
from ...protocol.structures import TypeRegistry, is_structure
from ..storage.kinds import structure_class

T = TypeVar("T", bound=type)


def new_registry() -> TypeRegistry:
    """An empty registry that still knows the SDK's own structures (images, files)."""
    return TypeRegistry(fallback=structure_class)


default_types = new_registry()
"""The process-wide registry that :func:`define` and the (de)serializers use by default. The
SDK's own structures (images, files: the stored kinds) are known to it without importing them
first; identifiers from the network never name a module to import."""


def register_structure(cls: T, *, types: TypeRegistry = default_types) -> T:
    """Make a structure class known to this process, so results arrive as objects of it.

    A caller that never defines a function using the class needs this (or :func:`structure`);
    otherwise results of that type arrive as :class:`StructureReference`.
    """
    if not is_structure(cls):
        raise UsageError(
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
