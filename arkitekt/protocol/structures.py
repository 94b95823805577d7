"""By-reference types ("structures") on the wire, and the registry of classes known by name.

A structure is any class with an async ``shrink(self) -> str`` and an async classmethod
``expand(cls, value: str)``: only the string travels, the object lives in central storage.
Models, dataclasses and enums travel by value but are also known by identifier, so the receiving
side can rebuild objects of the right class.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IMAGE_STRUCTURE = "@arkitekt/image"
"""The identifier of a stored image on the wire (its value is the image's id)."""
FILE_STRUCTURE = "@arkitekt/file"
"""The identifier of a stored file on the wire (its value is the file's id)."""
TABLE_STRUCTURE = "@arkitekt/table"
"""The identifier of a stored table on the wire (its value is the table's id)."""
ROI_STRUCTURE = "@arkitekt/roi"
"""The identifier of a region of interest on the wire (its value is the ROI's id)."""
DATASET_STRUCTURE = "@arkitekt/dataset"
"""The identifier of a dataset on the wire (its value is the dataset's id)."""


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

    Filled with every structure, model, dataclass and enum a definition meets, or explicitly.
    A later class with the same identifier replaces the earlier one (a re-run notebook cell).
    It never imports anything named by the network: ``fallback`` (given by the owner of the
    registry) may answer for a fixed set of identifiers it knows.
    """

    def __init__(self, fallback: Callable[[str], type | None] | None = None) -> None:
        self._types: dict[str, type] = {}
        self._lock = threading.Lock()
        self._fallback = fallback

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
        if found is None and self._fallback is not None:
            found = self._fallback(identifier)
            if found is not None:
                self.add(found)
        return found

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._types

    def __len__(self) -> int:
        return len(self._types)


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
