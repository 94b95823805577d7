"""One value through one port: checked, and converted to or from its wire form.

The walks behind :mod:`.codec`: ``to_wire``/``ato_wire`` (Python -> JSON, awaiting
``shrink()`` of structures inside) and ``from_wire``/``afrom_wire`` (JSON -> Python, rebuilding
models, enums and structures of the classes known from annotations or a :class:`TypeRegistry`).
A value that does not fit raises :class:`Mismatch` with the path to the culprit
(``settings.levels[2]``); the codec turns it into the error users see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import math
import numbers
import types as pytypes  # `types` names the TypeRegistry parameters below
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .fields import model_fields
from .ports import JSONValue, Port, PortKind
from .structures import (
    StructureReference,
    TypeRegistry,
    identifier_of,
    is_structure,
    structure_identifier,
)


class Mismatch(Exception):
    """A value does not fit a port; ``path`` says where (``settings.level``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _article(text: str) -> str:
    if text.startswith(("one of", "list", "dict")):
        return text
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def _bad(path: str, port: Port, value: Any) -> Mismatch:
    return Mismatch(
        path,
        f"must be {_article(port.describe())}, got {show(value)} ({type(value).__name__})",
    )


def _check_none(value: Any, port: Port, path: str) -> None:
    if not port.nullable:
        raise Mismatch(path, f"must be {_article(port.describe())}, got None")


@functools.lru_cache(maxsize=4096)
def _has_structure(port: Port) -> bool:
    """Whether converting through ``port`` may await (only structures do)."""
    return port.kind is PortKind.STRUCTURE or any(_has_structure(c) for c in port.children)


def structure_references(value: Any, port: Port, path: str) -> Iterator[tuple[str, str, str]]:
    """``(path, identifier, reference)`` of every structure in a wire value that fits ``port``
    (what :func:`ato_wire` gave): the objects a call names by reference. Parts that do not fit
    are skipped (the codec refuses them)."""
    if value is None or not _has_structure(port):
        return
    kind = port.kind
    if kind is PortKind.STRUCTURE:
        if isinstance(value, str):
            yield path, port.identifier or "", value
    elif kind is PortKind.LIST and isinstance(value, list):
        for i, item in enumerate(value):
            yield from structure_references(item, port.children[0], f"{path}[{i}]")
    elif kind is PortKind.DICT and isinstance(value, Mapping):
        for key, item in value.items():
            yield from structure_references(item, port.children[0], f"{path}[{key!r}]")
    elif kind is PortKind.MODEL and isinstance(value, Mapping):
        for child in port.children:
            yield from structure_references(value.get(child.key), child, f"{path}.{child.key}")
    elif kind is PortKind.UNION and isinstance(value, Mapping):
        index = value.get("variant")
        if type(index) is int and 0 <= index < len(port.children):
            yield from structure_references(value.get("value"), port.children[index], path)


# -- scalars ---------------------------------------------------------------------------------------


def _scalar_to_wire(value: Any, port: Port, path: str) -> JSONValue:
    """Check a Python scalar and give its wire form (lenient like Python: int for float)."""
    kind = port.kind
    if kind is PortKind.STRING:
        if isinstance(value, str):
            return value if type(value) is str else str.__str__(value)
    elif kind is PortKind.INT:
        if type(value) is int:
            return value
        # int subclasses (IntEnum) and numpy integers, never bool
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif kind is PortKind.FLOAT:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            number = float(value)
            if not math.isfinite(number):
                raise Mismatch(
                    path, f"must be a finite float (JSON has no {number!r}), got {number!r}"
                )
            return number
    elif kind is PortKind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind is PortKind.DATETIME:
        if isinstance(value, dt.datetime):
            return value.isoformat()
    elif kind is PortKind.ENUM:
        raw = value.value if isinstance(value, enum.Enum) else value
        for choice in port.choices or ():
            if choice.value == raw and type(choice.value) is _plain_type(raw):
                return choice.value
    raise _bad(path, port, value)


def _plain_type(value: Any) -> type:
    if isinstance(value, bool):
        return bool
    for plain in (str, int, float):
        if isinstance(value, plain):
            return plain
    return type(value)


def _scalar_from_wire(value: Any, port: Port, path: str, enum_cls: type | None) -> Any:
    """Check a wire scalar (strictly: JSON types) and give the Python value."""
    kind = port.kind
    if kind is PortKind.STRING:
        if isinstance(value, str):
            return value
    elif kind is PortKind.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is PortKind.FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is PortKind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind is PortKind.DATETIME:
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                raise Mismatch(path, f"must be an ISO 8601 datetime, got {show(value)}") from None
    elif kind is PortKind.ENUM:
        for choice in port.choices or ():
            if choice.value == value and type(choice.value) is type(value):
                if enum_cls is not None and issubclass(enum_cls, enum.Enum):
                    return enum_cls(value)
                return value
    raise _bad(path, port, value)


# -- containers (shared by the sync and async walks) -----------------------------------------------


def _as_list(value: Any, port: Port, path: str) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return value
    raise _bad(path, port, value)


def _as_mapping(value: Any, port: Port, path: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _bad(path, port, value)
    for key in value:
        if not isinstance(key, str):
            raise Mismatch(path, f"must have str keys, got {show(key)} ({type(key).__name__})")
    return value


_MISSING: Any = object()


def _model_values(value: Any, port: Port, path: str) -> list[tuple[Port, Any, bool]]:
    """(field port, value, given) per field of a dict, dataclass or pydantic instance."""
    if isinstance(value, Mapping):
        known = {child.key for child in port.children}
        for key in value:
            if key not in known:
                raise Mismatch(
                    f"{path}.{key}",
                    f"is not a field of {port.describe()} (fields: {', '.join(sorted(known))})",
                )
        return [
            (child, value.get(child.key, _MISSING), child.key in value) for child in port.children
        ]
    if isinstance(value, BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        out = []
        for child in port.children:
            item = getattr(value, child.key, _MISSING)
            out.append((child, item, item is not _MISSING))
        return out
    raise _bad(path, port, value)


def _field_default(child: Port, path: str) -> Any:
    if child.has_default:
        return child.default
    raise Mismatch(f"{path}.{child.key}", "is missing")


def _union_order(value: Any, port: Port, path: str) -> list[int]:
    """Variants to try: the one whose class matches the value first, then all in order."""
    identifier = identifier_of(value) or structure_identifier(type(value))
    first = [i for i, c in enumerate(port.children) if c.identifier == identifier]
    if not first and isinstance(value, str):
        structures = [i for i, c in enumerate(port.children) if c.kind is PortKind.STRUCTURE]
        if len(structures) > 1:
            raise Mismatch(
                path,
                f"is a plain str, which could be any of {port.describe()}; pass the object "
                "or a StructureReference",
            )
    return first + [i for i in range(len(port.children)) if i not in first]


def _union_index(value: Any, port: Port, path: str) -> tuple[int, Any]:
    if (
        isinstance(value, Mapping)
        and set(value) == {"variant", "value"}
        and type(value["variant"]) is int
        and 0 <= value["variant"] < len(port.children)
    ):
        return value["variant"], value["value"]
    raise Mismatch(
        path, f"must be a tagged union value ({{'variant': i, 'value': ...}}), got {show(value)}"
    )


def _structure_check(value: Any, port: Port, path: str, types: TypeRegistry) -> None:
    """A structure object or reference given for ``port`` must be of the port's type."""
    if isinstance(value, StructureReference):
        if value.identifier != port.identifier:
            raise Mismatch(
                path,
                f"must be {_article(port.describe())}, got a reference to {value.identifier}",
            )
        return
    if not is_structure(type(value)):
        raise _bad(path, port, value)
    if structure_identifier(type(value)) == port.identifier:
        return
    known = types.get(port.identifier)
    if known is not None and isinstance(value, known):  # a subclass of the port's class
        return
    raise _bad(path, port, value)


# -- to the wire -----------------------------------------------------------------------------------


def to_wire(value: Any, port: Port, path: str, types: TypeRegistry) -> JSONValue:
    """Check and convert a value through a port whose subtree has no structure (sync)."""
    if value is None:
        _check_none(value, port, path)
        return None
    kind = port.kind
    if kind is PortKind.LIST:
        item = port.children[0]
        return [
            to_wire(v, item, f"{path}[{i}]", types)
            for i, v in enumerate(_as_list(value, port, path))
        ]
    if kind is PortKind.DICT:
        child = port.children[0]
        return {
            k: to_wire(v, child, f"{path}[{k!r}]", types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        out: dict[str, JSONValue] = {}
        for child, item, given in _model_values(value, port, path):
            out[child.key] = (
                to_wire(item, child, f"{path}.{child.key}", types)
                if given
                else _field_default(child, path)
            )
        return out
    if kind is PortKind.UNION:
        for i in _union_order(value, port, path):
            try:
                return {"variant": i, "value": to_wire(value, port.children[i], path, types)}
            except Mismatch:
                continue
        raise _bad(path, port, value)
    if kind is PortKind.STRUCTURE:
        raise Mismatch(path, "is a structure, which needs `await` (it cannot be a default)")
    return _scalar_to_wire(value, port, path)


async def ato_wire(value: Any, port: Port, path: str, types: TypeRegistry) -> JSONValue:
    """Like :func:`to_wire`, awaiting ``shrink()`` of the structures inside."""
    if not _has_structure(port):
        return to_wire(value, port, path, types)
    if value is None:
        _check_none(value, port, path)
        return None
    kind = port.kind
    if kind is PortKind.STRUCTURE:
        if isinstance(value, str):
            return value if type(value) is str else str.__str__(value)  # a reference, as given
        _structure_check(value, port, path, types)
        try:
            shrunk = await value.shrink()
        except Exception as e:
            raise Mismatch(path, f"could not be shrunk ({type(e).__name__}: {e})") from e
        if not isinstance(shrunk, str):
            raise Mismatch(path, f"{type(value).__name__}.shrink() must return a str")
        return shrunk
    if kind is PortKind.LIST:
        item = port.children[0]
        return [
            await ato_wire(v, item, f"{path}[{i}]", types)
            for i, v in enumerate(_as_list(value, port, path))
        ]
    if kind is PortKind.DICT:
        child = port.children[0]
        return {
            k: await ato_wire(v, child, f"{path}[{k!r}]", types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        out: dict[str, JSONValue] = {}
        for field, item, given in _model_values(value, port, path):
            out[field.key] = (
                await ato_wire(item, field, f"{path}.{field.key}", types)
                if given
                else _field_default(field, path)
            )
        return out
    # a union holding a structure
    for i in _union_order(value, port, path):
        try:
            return {"variant": i, "value": await ato_wire(value, port.children[i], path, types)}
        except Mismatch:
            continue
    raise _bad(path, port, value)


_NO_TYPES = TypeRegistry()


def default_to_wire(value: Any, port: Port) -> JSONValue:
    """A default value in wire form (used by ``define``); raises TypeError when it does not fit."""
    try:
        return to_wire(value, port, port.key, _NO_TYPES)
    except Mismatch as e:
        where = e.path[len(port.key) :].lstrip(".")
        raise TypeError(f"{where + ' ' if where else ''}{e.reason}") from None


# -- from the wire ---------------------------------------------------------------------------------


def _bare(annotation: Any) -> Any:
    """Strip ``Annotated``, ``NewType`` and a lone ``Optional`` (the port says nullable)."""
    while annotation is not None:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif hasattr(annotation, "__supertype__"):
            annotation = annotation.__supertype__
        elif origin is typing.Union or origin is pytypes.UnionType:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
    return None


def _arg(annotation: Any, index: int) -> Any:
    args = typing.get_args(annotation)
    return args[index] if len(args) > index else None


def _class_for(annotation: Any, port: Port, types: TypeRegistry) -> type | None:
    """The class to rebuild: the annotation's (agent), else the one known by identifier."""
    if isinstance(annotation, type):
        return annotation
    return types.get(port.identifier)


def _field_annotations(cls: type | None) -> dict[str, Any]:
    if cls is None:
        return {}
    return {spec.name: spec.annotation for spec in model_fields(cls)}


def _build_model(cls: type | None, fields: dict[str, Any], path: str) -> Any:
    """An instance of ``cls`` from converted field values (a dict when the class is unknown)."""
    if cls is None:
        return fields
    keys = {spec.name: spec.init_key for spec in model_fields(cls)}
    init = {keys.get(name, name): value for name, value in fields.items()}
    if issubclass(cls, BaseModel):
        try:
            return cls.model_validate(init)
        except ValidationError as e:
            error = e.errors()[0]
            where = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error["loc"])
            raise Mismatch(f"{path}{where}", str(error["msg"])) from e
    try:
        return cls(**init)
    except Exception as e:  # a dataclass's __post_init__ refusing the values
        raise Mismatch(
            path, f"could not be built as {cls.__name__} ({type(e).__name__}: {e})"
        ) from e


def from_wire(value: Any, port: Port, path: str, annotation: Any, types: TypeRegistry) -> Any:
    """Check a wire value against a port without structures and give the Python value."""
    if value is None:
        _check_none(value, port, path)
        return None
    annotation = _bare(annotation)
    kind = port.kind
    if kind is PortKind.LIST:
        if not isinstance(value, list):
            raise _bad(path, port, value)
        item, inner = port.children[0], _arg(annotation, 0)
        return [from_wire(v, item, f"{path}[{i}]", inner, types) for i, v in enumerate(value)]
    if kind is PortKind.DICT:
        child, inner = port.children[0], _arg(annotation, 1)
        return {
            k: from_wire(v, child, f"{path}[{k!r}]", inner, types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        cls = _class_for(annotation, port, types)
        hints = _field_annotations(cls)
        fields = {}
        for child, item, given in _model_values(_as_mapping(value, port, path), port, path):
            raw = item if given else _field_default(child, path)
            fields[child.key] = from_wire(
                raw, child, f"{path}.{child.key}", hints.get(child.key), types
            )
        return _build_model(cls, fields, path)
    if kind is PortKind.UNION:
        index, inner_value = _union_index(value, port, path)
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = members[index] if index < len(members) else None
        return from_wire(inner_value, port.children[index], path, inner, types)
    if kind is PortKind.ENUM:
        return _scalar_from_wire(value, port, path, _class_for(annotation, port, types))
    if kind is PortKind.STRUCTURE:
        raise Mismatch(path, "is a structure, which needs `await`")
    return _scalar_from_wire(value, port, path, None)


async def afrom_wire(
    value: Any, port: Port, path: str, annotation: Any, types: TypeRegistry
) -> Any:
    """Like :func:`from_wire`, awaiting ``expand()`` of the structures inside."""
    if not _has_structure(port):
        return from_wire(value, port, path, annotation, types)
    if value is None:
        _check_none(value, port, path)
        return None
    annotation = _bare(annotation)
    kind = port.kind
    if kind is PortKind.STRUCTURE:
        if not isinstance(value, str):
            raise _bad(path, port, value)
        cls = annotation if is_structure(annotation) else types.get(port.identifier)
        if cls is None:
            return StructureReference(port.identifier or "", value)
        expand: Callable[[str], Any] = getattr(cls, "expand")  # noqa: B009 - any structure class
        try:
            return await expand(value)
        except Exception as e:
            raise Mismatch(
                path, f"{value!r} could not be expanded ({type(e).__name__}: {e})"
            ) from e
    if kind is PortKind.LIST:
        if not isinstance(value, list):
            raise _bad(path, port, value)
        item, inner = port.children[0], _arg(annotation, 0)
        return [
            await afrom_wire(v, item, f"{path}[{i}]", inner, types) for i, v in enumerate(value)
        ]
    if kind is PortKind.DICT:
        child, inner = port.children[0], _arg(annotation, 1)
        return {
            k: await afrom_wire(v, child, f"{path}[{k!r}]", inner, types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        cls = _class_for(annotation, port, types)
        hints = _field_annotations(cls)
        fields = {}
        for field, item, given in _model_values(_as_mapping(value, port, path), port, path):
            raw = item if given else _field_default(field, path)
            fields[field.key] = await afrom_wire(
                raw, field, f"{path}.{field.key}", hints.get(field.key), types
            )
        return _build_model(cls, fields, path)
    index, inner_value = _union_index(value, port, path)
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    inner = members[index] if index < len(members) else None
    return await afrom_wire(inner_value, port.children[index], path, inner, types)
