"""Values <-> wire JSON, checked against ports on both sides.

The caller knows only the :class:`Definition` (ports); the agent also has the function's real
annotations, so it can rebuild models, enums and structures of the right class. JSON only:
nothing here can make the other side run code.

Datetimes travel as ISO 8601 text; naive ones stay naive (no zone is invented). A union of
models/structures travels as ``{"variant": i, "value": ...}``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import typing
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ...errors import ArkitektError
from .ports import Definition, Port, PortKind
from .structures import StructureReference, TypeRegistry, default_types, is_structure


class ArgumentError(ArkitektError, ValueError):
    """An argument does not fit the function's definition (``port`` names which)."""

    def __init__(self, function: str, port: str, reason: str) -> None:
        self.function = function
        self.port = port
        self.reason = reason
        super().__init__(f"{function}(): argument {port!r} {reason}")


class ReturnValueError(ArkitektError, TypeError):
    """A served function returned (or yielded) something its annotation does not allow."""


class _Mismatch(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _type_name(value: Any) -> str:
    return type(value).__name__


def _bad(path: str, port: Port, value: Any) -> _Mismatch:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return _Mismatch(
        path, f"must be {_article(port.describe())}, got {shown} ({_type_name(value)})"
    )


def _article(text: str) -> str:
    if text.startswith(("one of", "list", "dict")):
        return text
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


# -- to the wire -----------------------------------------------------------------------------------


def _scalar_to_wire(value: Any, port: Port, path: str) -> Any:
    kind = port.kind
    if kind is PortKind.STRING:
        if isinstance(value, str):
            return value
    elif kind is PortKind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind is PortKind.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is PortKind.FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is PortKind.DATETIME:
        if isinstance(value, dt.datetime):
            return value.isoformat()
    elif kind is PortKind.ENUM:
        raw = value.value if isinstance(value, enum.Enum) else value
        if port.choices and any(
            c.value == raw and type(c.value) is type(raw) for c in port.choices
        ):
            return raw
    raise _bad(path, port, value)


def default_to_wire(value: Any, port: Port) -> Any:
    """A default value in wire form (sync: defaults cannot be structures)."""
    if port.kind in (PortKind.STRUCTURE, PortKind.UNION, PortKind.MODEL):
        raise TypeError("only None can be the default of a model or structure")
    if port.kind is PortKind.LIST:
        if not isinstance(value, list | tuple):
            raise TypeError("not a list")
        return [default_to_wire(v, port.children[0]) for v in value]
    if port.kind is PortKind.DICT:
        if not isinstance(value, dict):
            raise TypeError("not a dict")
        return {str(k): default_to_wire(v, port.children[0]) for k, v in value.items()}
    try:
        return _scalar_to_wire(value, port, port.key)
    except _Mismatch as e:
        raise TypeError(e.reason) from None


async def _to_wire(value: Any, port: Port, path: str) -> Any:
    if value is None:
        if port.nullable:
            return None
        raise _Mismatch(path, f"must be {_article(port.describe())}, got None")
    kind = port.kind
    if kind is PortKind.LIST:
        if not isinstance(value, list | tuple):
            raise _bad(path, port, value)
        item = port.children[0]
        return [await _to_wire(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind is PortKind.DICT:
        if not isinstance(value, dict):
            raise _bad(path, port, value)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Mismatch(f"{path}", f"must have str keys, got {k!r}")
            out[k] = await _to_wire(v, port.children[0], f"{path}[{k!r}]")
        return out
    if kind is PortKind.MODEL:
        return await _model_to_wire(value, port, path)
    if kind is PortKind.STRUCTURE:
        if isinstance(value, StructureReference):
            if value.identifier != port.identifier:
                raise _bad(path, port, value)
            return value.value
        if isinstance(value, str):
            return value  # a reference given directly
        if is_structure(type(value)):
            shrunk = await value.shrink()
            if not isinstance(shrunk, str):
                raise _Mismatch(path, f"{_type_name(value)}.shrink() must return a str")
            return shrunk
        raise _bad(path, port, value)
    if kind is PortKind.UNION:
        for i, variant in enumerate(port.children):
            try:
                return {"variant": i, "value": await _to_wire(value, variant, path)}
            except _Mismatch:
                continue
        raise _bad(path, port, value)
    return _scalar_to_wire(value, port, path)


async def _model_to_wire(value: Any, port: Port, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        fields = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif hasattr(type(value), "model_fields"):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
    else:
        raise _bad(path, port, value)
    known = {child.key for child in port.children}
    extra = [k for k in fields if k not in known]
    if extra:
        raise _Mismatch(
            f"{path}.{extra[0]}",
            f"is not a field of {port.describe()} (fields: {', '.join(sorted(known))})",
        )
    out = {}
    for child in port.children:
        if child.key in fields:
            out[child.key] = await _to_wire(fields[child.key], child, f"{path}.{child.key}")
        elif child.has_default:
            out[child.key] = child.default
        else:
            raise _Mismatch(f"{path}.{child.key}", "is missing")
    return out


# -- from the wire -----------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] (the port already says nullable)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, __import__("types").UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _members(annotation: Any) -> list[Any]:
    return [a for a in typing.get_args(annotation) if a is not type(None)]


async def _from_wire(
    value: Any, port: Port, path: str, annotation: Any, types: TypeRegistry
) -> Any:
    if value is None:
        if port.nullable:
            return None
        raise _Mismatch(path, f"must be {_article(port.describe())}, got None")
    annotation = _unwrap(annotation) if annotation is not None else None
    kind = port.kind
    if kind is PortKind.DATETIME:
        if not isinstance(value, str):
            raise _bad(path, port, value)
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise _bad(path, port, value) from None
    if kind is PortKind.FLOAT and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is PortKind.ENUM:
        _scalar_to_wire(value, port, path)
        cls = annotation if isinstance(annotation, type) else types.get(port.identifier)
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            return cls(value)
        return value
    if kind is PortKind.LIST:
        if not isinstance(value, list):
            raise _bad(path, port, value)
        inner = typing.get_args(annotation)[0] if typing.get_args(annotation) else None
        item = port.children[0]
        return [
            await _from_wire(v, item, f"{path}[{i}]", inner, types) for i, v in enumerate(value)
        ]
    if kind is PortKind.DICT:
        if not isinstance(value, dict):
            raise _bad(path, port, value)
        args = typing.get_args(annotation)
        inner = args[1] if len(args) == 2 else None
        return {
            k: await _from_wire(v, port.children[0], f"{path}[{k!r}]", inner, types)
            for k, v in value.items()
        }
    if kind is PortKind.MODEL:
        if not isinstance(value, dict):
            raise _bad(path, port, value)
        cls = annotation if isinstance(annotation, type) else types.get(port.identifier)
        hints = typing.get_type_hints(cls, include_extras=True) if cls is not None else {}
        known = {child.key for child in port.children}
        extra = [k for k in value if k not in known]
        if extra:
            raise _Mismatch(f"{path}.{extra[0]}", f"is not a field of {port.describe()}")
        fields = {}
        for child in port.children:
            if child.key in value:
                fields[child.key] = await _from_wire(
                    value[child.key], child, f"{path}.{child.key}", hints.get(child.key), types
                )
            elif child.has_default:
                fields[child.key] = child.default
            else:
                raise _Mismatch(f"{path}.{child.key}", "is missing")
        if cls is None:
            return fields
        if hasattr(cls, "model_validate"):
            return cls.model_validate(fields)
        return cls(**fields)
    if kind is PortKind.STRUCTURE:
        if not isinstance(value, str):
            raise _bad(path, port, value)
        cls = annotation if is_structure(annotation) else types.get(port.identifier)
        if cls is None:
            return StructureReference(port.identifier or "", value)
        expand: Any = cls.expand  # type: ignore[union-attr]
        return await expand(value)
    if kind is PortKind.UNION:
        if not (
            isinstance(value, dict)
            and isinstance(value.get("variant"), int)
            and 0 <= value["variant"] < len(port.children)
        ):
            raise _Mismatch(path, "is not a valid union value")
        members = _members(annotation) if annotation is not None else []
        index = value["variant"]
        inner = members[index] if index < len(members) else None
        return await _from_wire(value.get("value"), port.children[index], path, inner, types)
    return _scalar_to_wire(value, port, path)


# -- the four directions -----------------------------------------------------------------------


async def ashrink_args(
    definition: Definition,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    types: TypeRegistry = default_types,
) -> dict[str, Any]:
    """Caller: bind and check arguments like Python would, then put them in wire form."""
    name = definition.name
    ports = definition.args
    if len(args) > len(ports):
        raise ArgumentError(
            name,
            ports[-1].key if ports else "*",
            f"is the last one: {name}() takes {len(ports)} arguments, {len(args)} were given",
        )
    bound: dict[str, Any] = {}
    for port, value in zip(ports, args, strict=False):
        bound[port.key] = value
    by_key = {port.key: port for port in ports}
    for key, value in kwargs.items():
        if key not in by_key:
            raise ArgumentError(
                name,
                key,
                f"is not a parameter of {name}() (parameters: {', '.join(by_key) or 'none'})",
            )
        if key in bound:
            raise ArgumentError(name, key, "was given twice (by position and by name)")
        bound[key] = value
    payload: dict[str, Any] = {}
    for port in ports:
        if port.key in bound:
            try:
                payload[port.key] = await _to_wire(bound[port.key], port, port.key)
            except _Mismatch as e:
                raise ArgumentError(name, e.path, e.reason) from None
        elif port.has_default:
            payload[port.key] = port.default
        else:
            raise ArgumentError(name, port.key, "is required")
    return payload


async def aexpand_returns(
    definition: Definition, values: list[Any], *, types: TypeRegistry = default_types
) -> Any:
    """Caller: wire returns -> Python (None, one value, or a tuple)."""
    ports = definition.returns
    if len(values) != len(ports):
        raise ReturnValueError(
            f"{definition.name}: expected {len(ports)} return values, got {len(values)}"
        )
    out = []
    for port, value in zip(ports, values, strict=True):
        try:
            out.append(await _from_wire(value, port, port.key, None, types))
        except _Mismatch as e:
            raise ReturnValueError(f"{definition.name}: return value {e.path} {e.reason}") from None
    if not out:
        return None
    return out[0] if len(out) == 1 else tuple(out)


@lru_cache(maxsize=1024)
def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(function, include_extras=True)


def _return_annotations(definition: Definition, function: Callable[..., Any]) -> list[Any]:
    annotation = _hints(function).get("return")
    origin = typing.get_origin(annotation)
    if (
        origin is not None
        and origin.__module__ == "collections.abc"
        and typing.get_args(annotation)
    ):
        annotation = typing.get_args(annotation)[0]  # what a generator yields
    if typing.get_origin(annotation) is tuple:
        return list(typing.get_args(annotation))
    return [annotation] * len(definition.returns)


async def aexpand_args(
    definition: Definition, function: Callable[..., Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """Agent: check the wire arguments again and build the function's keyword arguments."""
    hints = _hints(function)
    unknown = [k for k in payload if k not in {p.key for p in definition.args}]
    if unknown:
        raise ArgumentError(definition.name, unknown[0], "is not a parameter")
    kwargs: dict[str, Any] = {}
    for port in definition.args:
        if port.key in payload:
            value = payload[port.key]
        elif port.has_default:
            value = port.default
        else:
            raise ArgumentError(definition.name, port.key, "is required")
        try:
            kwargs[port.key] = await _from_wire(
                value, port, port.key, hints.get(port.key), default_types
            )
        except _Mismatch as e:
            raise ArgumentError(definition.name, e.path, e.reason) from None
    return kwargs


async def ashrink_returns(
    definition: Definition, function: Callable[..., Any], value: Any
) -> list[Any]:
    """Agent: a return value (or one yielded item) -> wire values, checked."""
    ports = definition.returns
    if not ports:
        if value is not None:
            raise ReturnValueError(
                f"{definition.name}() is annotated to return None but returned {_type_name(value)}"
            )
        return []
    if len(ports) == 1:
        values = [value]
    else:
        if not isinstance(value, tuple | list) or len(value) != len(ports):
            raise ReturnValueError(
                f"{definition.name}() must return a tuple of {len(ports)} "
                f"values, returned {value!r:.60}"
            )
        values = list(value)
    out = []
    for port, item in zip(ports, values, strict=True):
        try:
            out.append(await _to_wire(item, port, port.key))
        except _Mismatch as e:
            raise ReturnValueError(f"{definition.name}(): return value {e.reason}") from None
    return out
