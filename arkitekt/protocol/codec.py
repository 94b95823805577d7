"""A call's arguments and results <-> wire JSON, checked against the definition on both sides.

The caller knows only the :class:`Definition` (ports): :func:`ashrink_args` binds and checks
arguments before anything is sent, :func:`aexpand_returns` turns results back into Python. The
agent also has the function's real annotations (``hints``): :func:`aexpand_args` rebuilds
models, enums and structures of the right classes, :func:`ashrink_returns` checks what the
function returned. One value through one port is :mod:`.values`' job.
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

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import ArgumentError, ReturnValueError
from .ports import Definition, JSONValue, NodeKind
from .structures import TypeRegistry
from .values import Mismatch, afrom_wire, ato_wire, show

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
            payload[port.key] = await ato_wire(bound[port.key], port, port.key, types)
        except Mismatch as e:
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
            f"got {show(values)}",
        )
    out = []
    for port, value in zip(ports, values, strict=True):
        try:
            out.append(await afrom_wire(value, port, port.key, None, types))
        except Mismatch as e:
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
        raise ArgumentError(name, "", f"the arguments must be a JSON object, got {show(payload)}")
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
            converted = await afrom_wire(value, port, port.key, hints.get(port.key), types)
        except Mismatch as e:
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
                f"is annotated to {verb} None but gave {show(value)} ({type(value).__name__})",
            )
        return []
    if len(ports) == 1:
        values = [value]
    else:
        if not isinstance(value, tuple | list) or len(value) != len(ports):
            raise ReturnValueError(
                name,
                "",
                f"must give a tuple of {len(ports)} values, gave {show(value)} "
                f"({type(value).__name__})",
            )
        values = list(value)
    out = []
    for port, item in zip(ports, values, strict=True):
        try:
            out.append(await ato_wire(item, port, port.key, types))
        except Mismatch as e:
            raise ReturnValueError(name, e.path, e.reason) from e.__cause__
    return out
