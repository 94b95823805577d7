"""The wire description of a function: its ports (arguments and returns) and its kind.

Shared by client and server: the server stores a :class:`Definition` as JSON, the caller checks
arguments against it before sending, the agent checks them again on arrival.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class PortKind(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    ENUM = "enum"
    LIST = "list"
    DICT = "dict"
    MODEL = "model"
    STRUCTURE = "structure"
    UNION = "union"


class Choice(BaseModel):
    """One allowed value of an ENUM port (an Enum member or a Literal value)."""

    model_config = ConfigDict(frozen=True)

    value: str | int | float | bool
    label: str
    description: str | None = None


class Port(BaseModel):
    """One argument or return value.

    ``children`` holds the item port of a LIST, the value port of a DICT (keys are strings),
    one port per field of a MODEL, and the variants of a UNION.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    kind: PortKind
    label: str | None = None
    description: str | None = None
    nullable: bool = False
    default: Any = None
    has_default: bool = False
    children: list[Port] = []
    choices: list[Choice] | None = None
    identifier: str | None = None
    """MODEL / STRUCTURE / ENUM: a stable name of the type (``module.QualName``)."""

    def describe(self) -> str:
        """A short human name of the expected type, for error messages."""
        if self.kind is PortKind.LIST and self.children:
            return f"list of {self.children[0].describe()}"
        if self.kind is PortKind.DICT and self.children:
            return f"dict of str to {self.children[0].describe()}"
        if self.kind is PortKind.ENUM and self.choices:
            return "one of " + ", ".join(repr(c.value) for c in self.choices)
        if self.kind in (PortKind.MODEL, PortKind.STRUCTURE) and self.identifier:
            return self.identifier.rsplit(".", 1)[-1]
        if self.kind is PortKind.UNION:
            return " or ".join(child.describe() for child in self.children)
        return {"string": "str", "datetime": "datetime"}.get(self.kind.value, self.kind.value)


class NodeKind(StrEnum):
    FUNCTION = "function"
    GENERATOR = "generator"


class Definition(BaseModel):
    """What a function takes and gives; the same function always gives the same hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str | None = None
    kind: NodeKind = NodeKind.FUNCTION
    args: list[Port] = []
    returns: list[Port] = []

    def hash(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys, no whitespace)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
