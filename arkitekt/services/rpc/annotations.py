"""Annotations -> ports: what one parameter, return value or model field becomes on the wire.

The rules and refusals ``define()`` applies to each annotation (see :mod:`.definitions`), and the
pydantic constraints (``Annotated[int, Field(gt=0)]``) that the agent checks on arrival.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import enum
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

from ...protocol.fields import Unsupported, is_model_class, model_fields
from ...protocol.ports import Choice, Port, PortKind
from ...protocol.structures import is_structure, structure_identifier
from ...protocol.values import default_to_wire

SUPPORTED = (
    "str, int, float, bool, datetime, Enum, Literal, list, dict, pydantic models, "
    "dataclasses, structures"
)
_REFERENCE_HINT = "store it and pass a reference (e.g. arkitekt.Image)"
_SCALARS: dict[Any, PortKind] = {
    str: PortKind.STRING,
    int: PortKind.INT,
    float: PortKind.FLOAT,
    bool: PortKind.BOOL,
    dt.datetime: PortKind.DATETIME,
}
_LISTS = {list, collections.abc.Sequence, collections.abc.MutableSequence}
_DICTS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
SYNC_ITERATORS = {collections.abc.Iterator, collections.abc.Generator, collections.abc.Iterable}
ASYNC_ITERATORS = {
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterable,
}
EMPTY: Any = inspect.Parameter.empty


def type_name(tp: Any) -> str:
    """``int``, ``numpy.ndarray``, ``list[bytes]``: how an annotation reads in messages."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


# -- annotations -> ports --------------------------------------------------------------------------


@dataclass
class PortContext:
    localns: dict[str, Any] | None
    classes: list[type] = dataclasses.field(default_factory=list)
    seen: tuple[type, ...] = ()


def strip_annotated(annotation: Any, description: str | None) -> tuple[Any, str | None]:
    """Unwrap ``Annotated`` (taking a description from it) and ``NewType``."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extras = typing.get_args(annotation)
            for extra in extras:
                text = extra if isinstance(extra, str) else getattr(extra, "description", None)
                if isinstance(text, str) and text:
                    description = text  # the annotation is closer to the value than the docstring
            continue
        supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            annotation = supertype
            continue
        return annotation, description


def annotation_port(
    key: str,
    annotation: Any,
    ctx: PortContext,
    *,
    description: str | None = None,
    default: Any = EMPTY,
    label: str | None = None,
) -> Port:
    """The port for one annotation; raises :class:`Unsupported` with a reason and the fix."""
    annotation, description = strip_annotated(annotation, description)
    origin = typing.get_origin(annotation)
    common: dict[str, Any] = {"key": key, "label": label, "description": description}

    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            inner = annotation_port(key, members[0], ctx, description=description, label=label)
            return _finish(inner.model_copy(update={"nullable": nullable}), default)
        bare = [strip_annotated(m, None)[0] for m in members]
        if not all(is_model_class(m) or is_structure(m) for m in bare):
            raise Unsupported(
                f"the union {type_name(annotation)} is ambiguous on the wire; only unions of "
                "pydantic models, dataclasses or structures are supported (use one type, e.g. "
                "float instead of int | float, or Optional[X])",
                annotation,
            )
        variants = [annotation_port(f"variant{i}", m, ctx) for i, m in enumerate(members)]
        port = Port(**common, kind=PortKind.UNION, nullable=nullable, children=variants)
        return _finish(port, default)

    if annotation is None or annotation is type(None):
        raise Unsupported("None alone is not a value type (use Optional[X])", annotation)
    if annotation in _SCALARS:
        return _finish(Port(**common, kind=_SCALARS[annotation]), default)
    if origin is typing.Literal:
        values = list(dict.fromkeys(typing.get_args(annotation)))
        if not values or not (
            all(type(v) is str for v in values) or all(type(v) is int for v in values)
        ):
            raise Unsupported("Literal values must be all str or all int", annotation)
        choices = [Choice(value=v, label=str(v)) for v in values]
        return _finish(Port(**common, kind=PortKind.ENUM, choices=choices), default)
    if is_structure(annotation):
        ctx.classes.append(annotation)
        port = Port(**common, kind=PortKind.STRUCTURE, identifier=structure_identifier(annotation))
        return _finish(port, default)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _finish(_enum_port(annotation, ctx, common), default)
    if annotation in _LISTS or origin in _LISTS:
        args = typing.get_args(annotation)
        if not args:
            raise Unsupported("say what the list holds, e.g. list[int]", annotation)
        item = annotation_port("item", args[0], ctx)
        return _finish(Port(**common, kind=PortKind.LIST, children=[item]), default)
    if annotation in _DICTS or origin in _DICTS:
        args = typing.get_args(annotation)
        if len(args) != 2 or strip_annotated(args[0], None)[0] is not str:
            raise Unsupported(
                "dicts must have str keys and say what they hold, e.g. dict[str, float] "
                "(JSON objects have str keys)",
                annotation,
            )
        value = annotation_port("value", args[1], ctx)
        return _finish(Port(**common, kind=PortKind.DICT, children=[value]), default)
    if is_model_class(annotation):
        return _finish(_model_port(annotation, ctx, common), default)
    if origin is tuple or annotation is tuple:
        raise Unsupported(
            "tuples are only supported as the return annotation (several return values); "
            "use list[X] for an argument",
            annotation,
        )
    raise Unsupported("", annotation)  # the generic message: see explain


def _enum_port(cls: type[enum.Enum], ctx: PortContext, common: dict[str, Any]) -> Port:
    members = list(cls)
    if not members:
        raise Unsupported(f"the Enum {cls.__name__} has no members", cls)
    values: list[str | int]
    raw = [m.value for m in members]
    if all(isinstance(v, str) for v in raw):
        values = [str.__str__(v) for v in raw]
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        values = [int(v) for v in raw]
    else:  # a bool is not an int here, and floats would not compare exactly
        raise Unsupported(f"the values of the Enum {cls.__name__} must be all str or all int", cls)
    ctx.classes.append(cls)
    choices = [Choice(value=v, label=m.name) for m, v in zip(members, values, strict=True)]
    return Port(**common, kind=PortKind.ENUM, identifier=structure_identifier(cls), choices=choices)


def _model_port(cls: type, ctx: PortContext, common: dict[str, Any]) -> Port:
    if cls in ctx.seen:
        raise Unsupported(
            f"{cls.__name__} refers to itself; recursive models cannot be described", cls
        )
    outer = ctx.seen
    ctx.seen = (*outer, cls)
    try:
        children = []
        for spec in model_fields(cls, ctx.localns):
            try:
                children.append(
                    annotation_port(
                        spec.name,
                        spec.annotation,
                        ctx,
                        description=spec.description,
                        default=spec.default if spec.has_default else EMPTY,
                        label=spec.name,
                    )
                )
            except Unsupported as e:
                reason = e.reason or _generic(e.culprit)
                raise Unsupported(
                    f"field {spec.name!r} of {cls.__name__}: {reason}", e.culprit
                ) from e
    finally:
        ctx.seen = outer
    ctx.classes.append(cls)
    return Port(
        **common, kind=PortKind.MODEL, identifier=structure_identifier(cls), children=children
    )


def _finish(port: Port, default: Any) -> Port:
    """Attach a default (converted to wire form, and checked against the port)."""
    if default is EMPTY:
        return port
    if default is None:
        if not port.nullable:
            raise Unsupported(
                f"its default is None but its type is not optional; write "
                f"`{port.key}: X | None = None`"
            )
        return port.model_copy(update={"has_default": True, "default": None})

    try:
        wire = default_to_wire(default, port)
    except (TypeError, ValueError) as e:
        raise Unsupported(f"its default {default!r:.80} does not fit its type: {e}") from e
    return port.model_copy(update={"has_default": True, "default": wire})


def _generic(culprit: Any) -> str:
    return (
        f"{type_name(culprit)} cannot be sent to a remote function; {_REFERENCE_HINT} "
        f"or use one of: {SUPPORTED}"
    )


def explain(where: str, annotation: Any, error: Unsupported) -> str:
    if not error.reason:
        if error.culprit is annotation or error.culprit is None:
            return (
                f"{where} has annotation {type_name(annotation)}, which cannot be sent to a "
                f"remote function; {_REFERENCE_HINT} or use one of: {SUPPORTED}"
            )
        return f"{where} has annotation {type_name(annotation)}: {_generic(error.culprit)}"
    return f"{where} has annotation {type_name(annotation)}: {error.reason}"


# -- pydantic constraints (checked by the agent) -----------------------------------------------


def _has_constraints(annotation: Any) -> bool:
    """Whether ``Annotated`` metadata (anywhere inside) does more than describe."""
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, str):
                continue
            if isinstance(extra, FieldInfo) and not extra.metadata:
                continue  # Field(description=...) only
            return True
    return any(_has_constraints(a) for a in typing.get_args(annotation))


def constraint_adapter(annotation: Any) -> TypeAdapter[Any] | None:
    if not _has_constraints(annotation):
        return None
    try:
        return TypeAdapter(annotation)
    except Exception as e:
        raise Unsupported(
            f"its constraints cannot be checked by pydantic ({e}); remove them or use "
            "a pydantic model"
        ) from e
