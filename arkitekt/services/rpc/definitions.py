"""``define()``: a function's signature, defaults and docstring -> its :class:`Definition`.

Supported: str, int, float, bool, datetime, Enum, Literal, Optional / ``X | None``, list,
dict with str keys, tuples as returns, ``None`` returns, generators (sync and async), pydantic
models and dataclasses (by value), structures (by reference), and unions of models or
structures. Anything else fails here, naming the parameter and the fix: a function is never
published with a type it cannot honour.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from ...errors import ArkitektError
from .ports import Choice, Definition, NodeKind, Port, PortKind
from .structures import TypeRegistry, default_types, is_structure

SUPPORTED = (
    "str, int, float, bool, datetime, Enum, Literal, Optional, list, dict[str, ...], "
    "pydantic models, dataclasses, structures (shrink/expand)"
)
_SCALARS = {
    str: PortKind.STRING,
    int: PortKind.INT,
    float: PortKind.FLOAT,
    bool: PortKind.BOOL,
    dt.datetime: PortKind.DATETIME,
}
_LISTS = {list, collections.abc.Sequence, collections.abc.MutableSequence}
_DICTS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_ITERATORS = {
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
}


class DefinitionError(ArkitektError, TypeError):
    """A function cannot be registered as it is (the message names the parameter and the fix)."""


class _Unsupported(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


def _is_model(tp: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_fields(tp: type) -> list[tuple[str, Any, bool, Any, str | None]]:
    """(name, annotation, has_default, default, description) of a model or dataclass."""
    hints = typing.get_type_hints(tp, include_extras=True)
    fields: list[tuple[str, Any, bool, Any, str | None]] = []
    if _is_model(tp):
        for name, info in tp.model_fields.items():  # type: ignore[attr-defined]
            required = info.is_required()
            default = None if required or info.default_factory is not None else info.default
            has_default = not required and info.default_factory is None
            if info.default_factory is not None:
                raise _Unsupported(
                    f"field {name!r} of {tp.__name__} has a default_factory; use a plain default"
                )
            fields.append(
                (name, hints.get(name, info.annotation), has_default, default, info.description)
            )
        return fields
    for f in dataclasses.fields(tp):
        has_default = f.default is not dataclasses.MISSING
        if f.default_factory is not dataclasses.MISSING:
            raise _Unsupported(
                f"field {f.name!r} of {tp.__name__} has a default_factory; use a plain default"
            )
        fields.append(
            (
                f.name,
                hints.get(f.name, f.type),
                has_default,
                f.default if has_default else None,
                None,
            )
        )
    return fields


def port_for(
    key: str,
    annotation: Any,
    types_: TypeRegistry,
    *,
    description: str | None = None,
    default: Any = inspect.Parameter.empty,
    seen: tuple[type, ...] = (),
) -> Port:
    """The port for one annotation; raises :class:`_Unsupported` with a reason."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, str):
                description = description or extra
            elif getattr(extra, "description", None):
                description = description or extra.description
        return port_for(key, base, types_, description=description, default=default, seen=seen)

    nullable = False
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            inner = port_for(key, members[0], types_, description=description, seen=seen)
            return _finish(inner.model_copy(update={"nullable": nullable}), default)
        if not all(_is_model(m) or dataclasses.is_dataclass(m) or is_structure(m) for m in members):
            raise _Unsupported(
                f"the union {_name(annotation)} is ambiguous on the wire; only unions of models "
                "or structures are supported (use one type, or Optional[...])"
            )
        children = [port_for(f"{key}[{i}]", m, types_, seen=seen) for i, m in enumerate(members)]
        return _finish(
            Port(
                key=key,
                kind=PortKind.UNION,
                label=key,
                description=description,
                nullable=nullable,
                children=children,
            ),
            default,
        )

    if annotation is None or annotation is type(None):
        raise _Unsupported("None alone is not a value type (use Optional[...])")
    if annotation in _SCALARS:
        return _finish(
            Port(key=key, kind=_SCALARS[annotation], label=key, description=description), default
        )
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        if not values or not (
            all(isinstance(v, str) for v in values)
            or all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        ):
            raise _Unsupported("Literal values must be all str or all int")
        return _finish(
            Port(
                key=key,
                kind=PortKind.ENUM,
                label=key,
                description=description,
                choices=[Choice(value=v, label=str(v)) for v in values],
            ),
            default,
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        member_values = [m.value for m in annotation]
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in member_values):
            raise _Unsupported(f"the values of {annotation.__name__} must be str or int")
        identifier = types_.add(annotation)
        return _finish(
            Port(
                key=key,
                kind=PortKind.ENUM,
                label=key,
                description=description,
                identifier=identifier,
                choices=[Choice(value=m.value, label=m.name) for m in annotation],
            ),
            default,
        )
    if annotation in _LISTS or origin in _LISTS:
        args = typing.get_args(annotation)
        if not args:
            raise _Unsupported("say what the list holds, e.g. list[int]")
        item = port_for(f"{key}[]", args[0], types_, seen=seen)
        return _finish(
            Port(key=key, kind=PortKind.LIST, label=key, description=description, children=[item]),
            default,
        )
    if annotation in _DICTS or origin in _DICTS:
        args = typing.get_args(annotation)
        if len(args) != 2 or args[0] is not str:
            raise _Unsupported("dicts must have str keys and a value type, e.g. dict[str, float]")
        value = port_for(f"{key}{{}}", args[1], types_, seen=seen)
        return _finish(
            Port(key=key, kind=PortKind.DICT, label=key, description=description, children=[value]),
            default,
        )
    if is_structure(annotation):
        identifier = types_.add(annotation)
        return _finish(
            Port(
                key=key,
                kind=PortKind.STRUCTURE,
                label=key,
                description=description,
                identifier=identifier,
            ),
            default,
        )
    if _is_model(annotation) or (
        isinstance(annotation, type) and dataclasses.is_dataclass(annotation)
    ):
        if annotation in seen:
            raise _Unsupported(
                f"{annotation.__name__} refers to itself; recursive models are not supported"
            )
        identifier = types_.add(annotation)
        children = []
        for name, field_type, has_default, field_default, field_doc in _model_fields(annotation):
            try:
                children.append(
                    port_for(
                        name,
                        field_type,
                        types_,
                        description=field_doc,
                        default=field_default if has_default else inspect.Parameter.empty,
                        seen=(*seen, annotation),
                    )
                )
            except _Unsupported as e:
                raise _Unsupported(f"field {name!r} of {annotation.__name__}: {e.reason}") from e
        return _finish(
            Port(
                key=key,
                kind=PortKind.MODEL,
                label=key,
                description=description,
                identifier=identifier,
                children=children,
            ),
            default,
        )
    if origin is tuple or annotation is tuple:
        raise _Unsupported("tuples are only supported as return values; use list[...]")
    raise _Unsupported(f"{_name(annotation)} cannot be sent to a remote function")


def _finish(port: Port, default: Any) -> Port:
    if default is inspect.Parameter.empty:
        return port
    from .serialization import default_to_wire

    if default is None:
        if not port.nullable:
            raise _Unsupported("its default is None but its type is not Optional[...]")
        return port.model_copy(update={"has_default": True, "default": None})
    try:
        wire = default_to_wire(default, port)
    except (ValueError, TypeError) as e:
        raise _Unsupported(f"its default {default!r} does not fit its type ({e})") from e
    return port.model_copy(update={"has_default": True, "default": wire})


_TERSE = re.compile(r"(?:^|\s)([A-Za-z_]\w*):\s+([^:]+?)(?=\s+[A-Za-z_]\w*:\s|$)", re.S)


def _docs(
    function: Callable[..., Any], params: list[str]
) -> tuple[str | None, dict[str, str], list[str]]:
    """Description, parameter descriptions and return descriptions from the docstring."""
    import docstring_parser

    raw = inspect.getdoc(function)
    if not raw:
        return None, {}, []
    parsed = docstring_parser.parse(raw)
    described = {p.arg_name: p.description or "" for p in parsed.params if p.description}
    returns = [r.description for r in parsed.many_returns if r.description]
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    description = "\n\n".join(parts) if parts else None
    if description and not described:
        # the terse style: "Say hello.  name: who to greet"
        first = re.search(r"\s[A-Za-z_]\w*:\s", " " + description)
        matches = [m for m in _TERSE.finditer(description) if m.group(1) in params]
        if first and matches:
            described = {m.group(1): m.group(2).strip() for m in matches}
            cut = description.find(matches[0].group(1) + ":")
            description = description[:cut].strip() or None
    return description, described, returns


def define(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    types: TypeRegistry = default_types,
    localns: dict[str, Any] | None = None,
) -> Definition:
    """The definition of ``function``; raises :class:`DefinitionError` naming what cannot work.

    ``localns`` resolves string annotations naming local classes (the decorating frame's).
    """
    label = f"{getattr(function, '__qualname__', function)!s}()"
    if not callable(function):
        raise DefinitionError(f"{function!r} is not a function")
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function, localns=localns, include_extras=True)
    except (NameError, TypeError, ValueError) as e:
        raise DefinitionError(f"{label}: its annotations cannot be read ({e})") from e
    params = list(signature.parameters.values())
    doc, param_docs, return_docs = _docs(function, [p.name for p in params])
    args: list[Port] = []
    for param in params:
        where = f"{label}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                f"{where}: *args and **kwargs cannot be described; name each parameter"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise DefinitionError(f"{where} is positional-only; remove the '/'")
        if param.name not in hints:
            raise DefinitionError(
                f"{where} has no type annotation; add one (supported: {SUPPORTED})"
            )
        try:
            args.append(
                port_for(
                    param.name,
                    hints[param.name],
                    types,
                    description=param_docs.get(param.name),
                    default=param.default,
                )
            )
        except _Unsupported as e:
            raise DefinitionError(
                f"{where} has annotation {_name(hints[param.name])}: {e.reason}. Supported: "
                f"{SUPPORTED}; store large data and pass a reference (e.g. arkitekt.Image)"
            ) from e

    kind = NodeKind.FUNCTION
    returns_annotation = hints.get("return", inspect.Signature.empty)
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        kind = NodeKind.GENERATOR
    origin = typing.get_origin(returns_annotation)
    if origin in _ITERATORS:
        kind = NodeKind.GENERATOR
        inner = typing.get_args(returns_annotation)
        returns_annotation = inner[0] if inner else inspect.Signature.empty
    elif kind is NodeKind.GENERATOR and returns_annotation is not inspect.Signature.empty:
        raise DefinitionError(
            f"{label}: a generator must be annotated Iterator[X] / "
            "AsyncIterator[X] (X is what it yields)"
        )
    if returns_annotation is inspect.Signature.empty:
        raise DefinitionError(
            f"{label}: the return value has no annotation; add one "
            "(-> None when it returns nothing)"
        )
    returns: list[Port] = []
    if returns_annotation is not None and returns_annotation is not type(None):
        if typing.get_origin(returns_annotation) is tuple:
            members = typing.get_args(returns_annotation)
            if not members or members[-1] is Ellipsis:
                raise DefinitionError(f"{label}: return a fixed tuple like tuple[int, str]")
        else:
            members = (returns_annotation,)
        if len(members) > 1 and len(return_docs) == 1:
            lines = [line.strip() for line in return_docs[0].splitlines() if line.strip()]
            if len(lines) == len(members):  # one line per value of the tuple
                return_docs = lines
        for i, member in enumerate(members):
            try:
                returns.append(
                    port_for(
                        f"return{i}",
                        member,
                        types,
                        description=return_docs[i] if i < len(return_docs) else None,
                    )
                )
            except _Unsupported as e:
                raise DefinitionError(
                    f"{label}: the return value ({_name(member)}): "
                    f"{e.reason}. Supported: {SUPPORTED}"
                ) from e
    return Definition(
        name=name or getattr(function, "__name__", "function"),
        description=description if description is not None else doc,
        kind=kind,
        args=args,
        returns=returns,
    )
