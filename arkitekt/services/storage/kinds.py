"""Every kind of stored object, described once: what the server calls it, its identifier on the
wire, and the class that represents it (imported on first use, so this table stays light).

Dispatch goes through this table and the class's :class:`Operations`, never through
``if kind == "image"``. A new kind is one module (its :class:`~.stored.Stored` subclass with
its GraphQL operations) plus one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...protocol.structures import (
    DATASET_STRUCTURE,
    FILE_STRUCTURE,
    IMAGE_STRUCTURE,
    ROI_STRUCTURE,
    TABLE_STRUCTURE,
)

if TYPE_CHECKING:
    from .stored import Stored


@dataclass(frozen=True)
class Operations:
    """The generated GraphQL operations of one kind (each takes the id and ``client=``)."""

    get: Callable[..., Awaitable[Any]]
    delete: Callable[..., Awaitable[Any]]
    share: Callable[..., Awaitable[Any]]
    """``share(id, users=, everyone=, unshare=, client=)`` -> who it is shared with."""


@dataclass(frozen=True)
class Kind:
    name: str
    """What the server calls it (``image``, ``file``)."""
    structure: str
    """Its identifier on the wire when it travels by reference in a call."""
    module: str
    class_name: str

    def load(self) -> type[Stored]:
        """The class (importing its module on first use)."""
        cls: type[Stored] = getattr(importlib.import_module(self.module), self.class_name)
        return cls


KINDS: tuple[Kind, ...] = (
    Kind("image", IMAGE_STRUCTURE, "arkitekt.services.storage.image", "Image"),
    Kind("file", FILE_STRUCTURE, "arkitekt.services.storage.file", "File"),
    Kind("table", TABLE_STRUCTURE, "arkitekt.services.storage.table", "Table"),
    Kind("roi", ROI_STRUCTURE, "arkitekt.services.storage.roi", "Roi"),
    Kind("dataset", DATASET_STRUCTURE, "arkitekt.services.storage.dataset", "Dataset"),
)
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
BY_STRUCTURE: dict[str, Kind] = {kind.structure: kind for kind in KINDS}


def structure_class(identifier: str) -> type | None:
    """The class of a built-in structure identifier, or None (never imports anything else)."""
    kind = BY_STRUCTURE.get(identifier)
    return kind.load() if kind is not None else None
