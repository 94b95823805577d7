"""The wire description of a function: its ports (arguments and returns) and its kind.

Shared by client and server: the server stores a :class:`Definition` as JSON, the caller checks
arguments against it before sending, the agent checks them again on arrival. Definitions come
from the network, so a :class:`Port` checks its own shape (a LIST has exactly one child, ...):
code that walks ports may rely on it.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, JsonValue, model_validator

from .text import Text

JSONValue = JsonValue
"""A value that ``json.dumps`` accepts as it is (None, bool, int, float, str, list, dict)."""


class PortKind(StrEnum):
    """What travels through a port."""

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


_SCALAR_KINDS = frozenset(
    {PortKind.STRING, PortKind.INT, PortKind.FLOAT, PortKind.BOOL, PortKind.DATETIME}
)


class Choice(BaseModel):
    """One allowed value of an ENUM port (an Enum member or a Literal value)."""

    model_config = ConfigDict(frozen=True)

    value: str | int | float | bool
    label: str
    description: str | None = None


class Port(BaseModel):
    """One argument, return value, model field, list item, dict value or union variant.

    ``children`` holds the item port of a LIST, the value port of a DICT (keys are strings),
    one port per field of a MODEL, and the variants of a UNION (in declaration order).
    ``default`` is the default in wire form; ``has_default`` tells a default of None from none.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    kind: PortKind
    label: str | None = None
    description: str | None = None
    nullable: bool = False
    default: JSONValue = None
    has_default: bool = False
    children: list[Port] = []
    choices: list[Choice] | None = None
    identifier: str | None = None
    """MODEL / STRUCTURE / ENUM: a stable name of the type (``module.QualName``)."""

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        kind, n = self.kind, len(self.children)
        if kind in (PortKind.LIST, PortKind.DICT) and n != 1:
            raise ValueError(f"a {kind.value} port has exactly one child, not {n}")
        if kind is PortKind.UNION and n < 2:
            raise ValueError("a union port has at least two children")
        if (kind in _SCALAR_KINDS or kind in (PortKind.ENUM, PortKind.STRUCTURE)) and n:
            raise ValueError(f"a {kind.value} port has no children")
        if kind is PortKind.MODEL and len({c.key for c in self.children}) != n:
            raise ValueError("the fields of a model port have distinct keys")
        if kind is PortKind.ENUM and not self.choices:
            raise ValueError("an enum port needs choices")
        if kind is not PortKind.ENUM and self.choices is not None:
            raise ValueError("only enum ports have choices")
        if kind is PortKind.STRUCTURE and not self.identifier:
            raise ValueError("a structure port needs an identifier")
        if not self.has_default and self.default is not None:
            raise ValueError("a default is given but has_default is false")
        return self

    def __hash__(self) -> int:
        # pydantic's frozen hash would hash the lists; this one agrees with == and is cheap
        return hash((self.key, self.kind, self.identifier, len(self.children)))

    def describe(self) -> str:
        """A short human name of the expected type, for error messages."""
        if self.kind is PortKind.LIST:
            return f"list of {self.children[0].describe()}"
        if self.kind is PortKind.DICT:
            return f"dict of str to {self.children[0].describe()}"
        if self.kind is PortKind.ENUM and self.choices:
            return "one of " + ", ".join(repr(c.value) for c in self.choices)
        if self.kind in (PortKind.MODEL, PortKind.STRUCTURE) and self.identifier:
            return self.identifier.rsplit(".", 1)[-1]
        if self.kind is PortKind.UNION:
            return " or ".join(child.describe() for child in self.children)
        return {"string": "str"}.get(self.kind.value, self.kind.value)

    def python_type(self) -> str:
        """The type as a Python programmer would write it: ``list[float] | None`` (listings,
        notebooks and the dashboard's run page)."""
        kind = self.kind
        if kind is PortKind.LIST:
            text = f"list[{self.children[0].python_type()}]"
        elif kind is PortKind.DICT:
            text = f"dict[str, {self.children[0].python_type()}]"
        elif kind is PortKind.UNION:
            text = " | ".join(c.python_type() for c in self.children)
        elif kind in (PortKind.MODEL, PortKind.STRUCTURE, PortKind.ENUM):
            identifier = self.identifier or kind.value
            text = identifier.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
            if kind is PortKind.STRUCTURE and identifier.startswith("@arkitekt/"):
                text = text.capitalize()
            if kind is PortKind.ENUM and self.choices:
                text += " (" + ", ".join(repr(c.value) for c in self.choices[:6]) + ")"
        else:
            text = {"string": "str", "datetime": "datetime"}.get(kind.value, kind.value)
        return f"{text} | None" if self.nullable else text


class NodeKind(StrEnum):
    """A function returns once; a generator streams values (one event per yielded item)."""

    FUNCTION = "function"
    GENERATOR = "generator"


class Definition(BaseModel):
    """What a function takes and gives; the same function always gives the same hash."""

    model_config = ConfigDict(frozen=True)

    name: Text
    description: Text | None = None
    kind: NodeKind = NodeKind.FUNCTION
    args: list[Port] = []
    returns: list[Port] = []

    @model_validator(mode="after")
    def _check_keys(self) -> Self:
        if len({p.key for p in self.args}) != len(self.args):
            raise ValueError("argument keys must be distinct")
        return self

    def __hash__(self) -> int:
        return hash((self.name, self.kind, tuple(p.key for p in self.args), len(self.returns)))

    def canonical_json(self) -> str:
        """The definition as JSON with sorted keys and no whitespace (what :meth:`hash` hashes)."""
        return json.dumps(
            self.model_dump(mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`: stable across processes and Python runs."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()
