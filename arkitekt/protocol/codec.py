"""Values <-> wire JSON, checked against ports on both sides.

The caller knows only the :class:`Definition` (ports): :func:`ashrink_args` checks and converts
arguments before anything is sent, :func:`aexpand_returns` turns results back into Python. The
agent also has the function's real annotations: :func:`aexpand_args` rebuilds models, enums and
structures of the right classes, :func:`ashrink_returns` checks what the function returned.
JSON only: nothing here can make the other side run code, and every payload passes
``json.dumps`` as it is.

Wire forms (see docs/functions.md):

- ``float``: a JSON number; NaN and infinities are refused (JSON has no such numbers).
- ``datetime``: ISO 8601 text (``datetime.isoformat()``). Aware datetimes keep their offset;
  naive ones stay naive (no zone is invented): pass an aware datetime when the zone matters.
- ``Enum`` / ``Literal``: the value; a caller may pass the member or its value.
- models and dataclasses: a JSON object keyed by field name; the sender fills in defaults.
- structures: the string from ``shrink()``; a :class:`StructureReference` or a plain str is
  passed on as the reference it is.
- a union of models/structures: ``{"variant": i, "value": ...}`` (``i`` indexes the port's
  children). The sender picks the variant whose class matches the value, else the first one the
  value fits.
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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import ArgumentError, ReturnValueError
from .fields import model_fields
from .ports import Definition, JSONValue, NodeKind, Port, PortKind
from .structures import (
    StructureReference,
    TypeRegistry,
    identifier_of,
    is_structure,
    structure_identifier,
)


class _Mismatch(Exception):
    """A value does not fit a port; ``path`` says where (``settings.level``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _article(text: str) -> str:
    if text.startswith(("one of", "list", "dict")):
        return text
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def _bad(path: str, port: Port, value: Any) -> _Mismatch:
    return _Mismatch(
        path,
        f"must be {_article(port.describe())}, got {_show(value)} ({type(value).__name__})",
    )


def _check_none(value: Any, port: Port, path: str) -> None:
    if not port.nullable:
        raise _Mismatch(path, f"must be {_article(port.describe())}, got None")


@functools.lru_cache(maxsize=4096)
def _has_structure(port: Port) -> bool:
    """Whether converting through ``port`` may await (only structures do)."""
    return port.kind is PortKind.STRUCTURE or any(_has_structure(c) for c in port.children)


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
                raise _Mismatch(
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
                raise _Mismatch(path, f"must be an ISO 8601 datetime, got {_show(value)}") from None
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
            raise _Mismatch(path, f"must have str keys, got {_show(key)} ({type(key).__name__})")
    return value


_MISSING: Any = object()


def _model_values(value: Any, port: Port, path: str) -> list[tuple[Port, Any, bool]]:
    """(field port, value, given) per field of a dict, dataclass or pydantic instance."""
    if isinstance(value, Mapping):
        known = {child.key for child in port.children}
        for key in value:
            if key not in known:
                raise _Mismatch(
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
    raise _Mismatch(f"{path}.{child.key}", "is missing")


def _union_order(value: Any, port: Port, path: str) -> list[int]:
    """Variants to try: the one whose class matches the value first, then all in order."""
    identifier = identifier_of(value) or structure_identifier(type(value))
    first = [i for i, c in enumerate(port.children) if c.identifier == identifier]
    if not first and isinstance(value, str):
        structures = [i for i, c in enumerate(port.children) if c.kind is PortKind.STRUCTURE]
        if len(structures) > 1:
            raise _Mismatch(
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
    raise _Mismatch(
        path, f"must be a tagged union value ({{'variant': i, 'value': ...}}), got {_show(value)}"
    )


def _structure_check(value: Any, port: Port, path: str, types: TypeRegistry) -> None:
    """A structure object or reference given for ``port`` must be of the port's type."""
    if isinstance(value, StructureReference):
        if value.identifier != port.identifier:
            raise _Mismatch(
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


def _to_wire(value: Any, port: Port, path: str, types: TypeRegistry) -> JSONValue:
    """Check and convert a value through a port whose subtree has no structure (sync)."""
    if value is None:
        _check_none(value, port, path)
        return None
    kind = port.kind
    if kind is PortKind.LIST:
        item = port.children[0]
        return [
            _to_wire(v, item, f"{path}[{i}]", types)
            for i, v in enumerate(_as_list(value, port, path))
        ]
    if kind is PortKind.DICT:
        child = port.children[0]
        return {
            k: _to_wire(v, child, f"{path}[{k!r}]", types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        out: dict[str, JSONValue] = {}
        for child, item, given in _model_values(value, port, path):
            out[child.key] = (
                _to_wire(item, child, f"{path}.{child.key}", types)
                if given
                else _field_default(child, path)
            )
        return out
    if kind is PortKind.UNION:
        for i in _union_order(value, port, path):
            try:
                return {"variant": i, "value": _to_wire(value, port.children[i], path, types)}
            except _Mismatch:
                continue
        raise _bad(path, port, value)
    if kind is PortKind.STRUCTURE:
        raise _Mismatch(path, "is a structure, which needs `await` (it cannot be a default)")
    return _scalar_to_wire(value, port, path)


async def _ato_wire(value: Any, port: Port, path: str, types: TypeRegistry) -> JSONValue:
    """Like :func:`_to_wire`, awaiting ``shrink()`` of the structures inside."""
    if not _has_structure(port):
        return _to_wire(value, port, path, types)
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
            raise _Mismatch(path, f"could not be shrunk ({type(e).__name__}: {e})") from e
        if not isinstance(shrunk, str):
            raise _Mismatch(path, f"{type(value).__name__}.shrink() must return a str")
        return shrunk
    if kind is PortKind.LIST:
        item = port.children[0]
        return [
            await _ato_wire(v, item, f"{path}[{i}]", types)
            for i, v in enumerate(_as_list(value, port, path))
        ]
    if kind is PortKind.DICT:
        child = port.children[0]
        return {
            k: await _ato_wire(v, child, f"{path}[{k!r}]", types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        out: dict[str, JSONValue] = {}
        for field, item, given in _model_values(value, port, path):
            out[field.key] = (
                await _ato_wire(item, field, f"{path}.{field.key}", types)
                if given
                else _field_default(field, path)
            )
        return out
    # a union holding a structure
    for i in _union_order(value, port, path):
        try:
            return {"variant": i, "value": await _ato_wire(value, port.children[i], path, types)}
        except _Mismatch:
            continue
    raise _bad(path, port, value)


_NO_TYPES = TypeRegistry()


def default_to_wire(value: Any, port: Port) -> JSONValue:
    """A default value in wire form (used by ``define``); raises TypeError when it does not fit."""
    try:
        return _to_wire(value, port, port.key, _NO_TYPES)
    except _Mismatch as e:
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
            raise _Mismatch(f"{path}{where}", str(error["msg"])) from e
    try:
        return cls(**init)
    except Exception as e:  # a dataclass's __post_init__ refusing the values
        raise _Mismatch(
            path, f"could not be built as {cls.__name__} ({type(e).__name__}: {e})"
        ) from e


def _from_wire(value: Any, port: Port, path: str, annotation: Any, types: TypeRegistry) -> Any:
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
        return [_from_wire(v, item, f"{path}[{i}]", inner, types) for i, v in enumerate(value)]
    if kind is PortKind.DICT:
        child, inner = port.children[0], _arg(annotation, 1)
        return {
            k: _from_wire(v, child, f"{path}[{k!r}]", inner, types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        cls = _class_for(annotation, port, types)
        hints = _field_annotations(cls)
        fields = {}
        for child, item, given in _model_values(_as_mapping(value, port, path), port, path):
            raw = item if given else _field_default(child, path)
            fields[child.key] = _from_wire(
                raw, child, f"{path}.{child.key}", hints.get(child.key), types
            )
        return _build_model(cls, fields, path)
    if kind is PortKind.UNION:
        index, inner_value = _union_index(value, port, path)
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = members[index] if index < len(members) else None
        return _from_wire(inner_value, port.children[index], path, inner, types)
    if kind is PortKind.ENUM:
        return _scalar_from_wire(value, port, path, _class_for(annotation, port, types))
    if kind is PortKind.STRUCTURE:
        raise _Mismatch(path, "is a structure, which needs `await`")
    return _scalar_from_wire(value, port, path, None)


async def _afrom_wire(
    value: Any, port: Port, path: str, annotation: Any, types: TypeRegistry
) -> Any:
    """Like :func:`_from_wire`, awaiting ``expand()`` of the structures inside."""
    if not _has_structure(port):
        return _from_wire(value, port, path, annotation, types)
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
            raise _Mismatch(
                path, f"{value!r} could not be expanded ({type(e).__name__}: {e})"
            ) from e
    if kind is PortKind.LIST:
        if not isinstance(value, list):
            raise _bad(path, port, value)
        item, inner = port.children[0], _arg(annotation, 0)
        return [
            await _afrom_wire(v, item, f"{path}[{i}]", inner, types) for i, v in enumerate(value)
        ]
    if kind is PortKind.DICT:
        child, inner = port.children[0], _arg(annotation, 1)
        return {
            k: await _afrom_wire(v, child, f"{path}[{k!r}]", inner, types)
            for k, v in _as_mapping(value, port, path).items()
        }
    if kind is PortKind.MODEL:
        cls = _class_for(annotation, port, types)
        hints = _field_annotations(cls)
        fields = {}
        for field, item, given in _model_values(_as_mapping(value, port, path), port, path):
            raw = item if given else _field_default(field, path)
            fields[field.key] = await _afrom_wire(
                raw, field, f"{path}.{field.key}", hints.get(field.key), types
            )
        return _build_model(cls, fields, path)
    index, inner_value = _union_index(value, port, path)
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    inner = members[index] if index < len(members) else None
    return await _afrom_wire(inner_value, port.children[index], path, inner, types)


# -- the four directions ---------------------------------------------------------------------------


async def ashrink_args(
    definition: Definition,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    types: TypeRegistry,
) -> dict[str, JSONValue]:
    """Caller: bind arguments like Python would, check them, and give their wire form.

    Raises :class:`ArgumentError` for too many positional arguments, an unknown or duplicate
    keyword, a missing required argument, or a value that does not fit its port. Defaults are
    filled in from the definition.
    """
    name = definition.name
    ports = definition.args
    if len(args) > len(ports):
        raise ArgumentError(
            name,
            "",
            f"takes {len(ports)} argument{'s' if len(ports) != 1 else ''} "
            f"({', '.join(p.key for p in ports) or 'none'}) but {len(args)} were given",
        )
    bound = {port.key: value for port, value in zip(ports, args, strict=False)}
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
    missing = [p.key for p in ports if p.key not in bound and not p.has_default]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        raise ArgumentError(name, missing[0], f"is required (missing: {names})")
    payload: dict[str, JSONValue] = {}
    for port in ports:
        if port.key not in bound:
            payload[port.key] = port.default
            continue
        try:
            payload[port.key] = await _ato_wire(bound[port.key], port, port.key, types)
        except _Mismatch as e:
            raise ArgumentError(name, e.path, e.reason) from e.__cause__
    return payload


async def aexpand_returns(
    definition: Definition, values: Sequence[JSONValue], *, types: TypeRegistry
) -> Any:
    """Caller: wire returns -> Python: None for no return port, the value for one, else a tuple.

    Classes come from ``types``: a known Enum gives members (else raw values), a known model
    instances (else dicts), a known structure ``await cls.expand(...)`` (else a
    :class:`StructureReference`). Datetimes come back as ``datetime``.
    """
    ports = definition.returns
    if not isinstance(values, list | tuple) or len(values) != len(ports):
        raise ReturnValueError(
            definition.name,
            "",
            f"expected {len(ports)} return value{'s' if len(ports) != 1 else ''}, "
            f"got {_show(values)}",
        )
    out = []
    for port, value in zip(ports, values, strict=True):
        try:
            out.append(await _afrom_wire(value, port, port.key, None, types))
        except _Mismatch as e:
            raise ReturnValueError(definition.name, e.path, e.reason) from e.__cause__
    if not out:
        return None
    return out[0] if len(out) == 1 else tuple(out)


async def aexpand_args(
    definition: Definition,
    payload: Mapping[str, JSONValue],
    *,
    hints: Mapping[str, Any],
    adapters: Mapping[str, TypeAdapter[Any]],
    types: TypeRegistry,
) -> dict[str, Any]:
    """Agent: check the wire arguments again and build the function's keyword arguments.

    Values become instances of the annotated classes (models, dataclasses, enums, structures
    via ``await cls.expand``); pydantic constraints in ``Annotated`` metadata are checked here.
    Raises :class:`ArgumentError` naming the argument.
    """
    name = definition.name
    if not isinstance(payload, Mapping):
        raise ArgumentError(name, "", f"the arguments must be a JSON object, got {_show(payload)}")
    by_key = {port.key for port in definition.args}
    for key in payload:
        if key not in by_key:
            raise ArgumentError(name, str(key), f"is not a parameter of {name}()")
    kwargs: dict[str, Any] = {}
    for port in definition.args:
        if port.key in payload:
            value = payload[port.key]
        elif port.has_default:
            value = port.default
        else:
            raise ArgumentError(name, port.key, "is required")
        try:
            converted = await _afrom_wire(value, port, port.key, hints.get(port.key), types)
        except _Mismatch as e:
            raise ArgumentError(name, e.path, e.reason) from e.__cause__
        adapter = adapters.get(port.key)
        if adapter is not None:
            try:
                converted = adapter.validate_python(converted)
            except ValidationError as e:
                error = e.errors()[0]
                where = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error["loc"])
                raise ArgumentError(name, f"{port.key}{where}", str(error["msg"])) from e
        kwargs[port.key] = converted
    return kwargs


async def ashrink_returns(
    definition: Definition,
    value: Any,
    *,
    types: TypeRegistry,
) -> list[JSONValue]:
    """Agent: what the function returned (or one yielded item) -> the wire return values.

    Several return ports need a tuple (or list) of that length. Raises
    :class:`ReturnValueError` naming the function and the return port.
    """
    name = definition.name
    ports = definition.returns
    if not ports:
        verb = "yield" if definition.kind is NodeKind.GENERATOR else "return"
        if value is not None:
            raise ReturnValueError(
                name,
                "",
                f"is annotated to {verb} None but gave {_show(value)} ({type(value).__name__})",
            )
        return []
    if len(ports) == 1:
        values = [value]
    else:
        if not isinstance(value, tuple | list) or len(value) != len(ports):
            raise ReturnValueError(
                name,
                "",
                f"must give a tuple of {len(ports)} values, gave {_show(value)} "
                f"({type(value).__name__})",
            )
        values = list(value)
    out = []
    for port, item in zip(ports, values, strict=True):
        try:
            out.append(await _ato_wire(item, port, port.key, types))
        except _Mismatch as e:
            raise ReturnValueError(name, e.path, e.reason) from e.__cause__
    return out
