"""``define()``: a function's signature, defaults and docstring -> its :class:`Definition`.

Supported: str, int, float, bool, datetime, Enum, Literal, Optional / ``X | None``, list /
Sequence, dict / Mapping with str keys, tuples as returns, ``None`` returns, generators (sync
and async), pydantic models and dataclasses (by value), structures (by reference), and unions
of models or structures. Anything else fails here, naming the parameter and the fix: a function
is never published with a type it cannot honour.

Decisions (see docs/functions.md):

- unions of plain values (``int | str``) are refused: on the wire they are ambiguous, and the
  caller could not tell the agent which one it meant. Unions of models/structures are tagged.
- keyword-only parameters are allowed (a remote caller may also pass them by position: the
  definition has no notion of keyword-only); positional-only ones are refused (the agent calls
  the function with keywords).
- model fields with a ``default_factory`` other than ``list`` / ``dict`` are required on the
  wire: a factory such as ``datetime.now`` cannot become one stable default.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as dt
import enum
import functools
import inspect
import re
import threading
import types
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ...errors import DefinitionError
from ...protocol.codec import default_to_wire
from ...protocol.fields import Unsupported, is_model_class, model_fields
from ...protocol.ports import Choice, Definition, NodeKind, Port, PortKind
from ...protocol.structures import TypeRegistry, is_structure, structure_identifier
from .structures import default_types

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
_SYNC_ITERATORS = {collections.abc.Iterator, collections.abc.Generator, collections.abc.Iterable}
_ASYNC_ITERATORS = {
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterable,
}
_EMPTY: Any = inspect.Parameter.empty


def type_name(tp: Any) -> str:
    """``int``, ``numpy.ndarray``, ``list[bytes]``: how an annotation reads in messages."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


# -- annotations -> ports --------------------------------------------------------------------------


@dataclass
class _Context:
    localns: dict[str, Any] | None
    classes: list[type] = dataclasses.field(default_factory=list)
    seen: tuple[type, ...] = ()


def _strip_annotated(annotation: Any, description: str | None) -> tuple[Any, str | None]:
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


def _port(
    key: str,
    annotation: Any,
    ctx: _Context,
    *,
    description: str | None = None,
    default: Any = _EMPTY,
    label: str | None = None,
) -> Port:
    """The port for one annotation; raises :class:`Unsupported` with a reason and the fix."""
    annotation, description = _strip_annotated(annotation, description)
    origin = typing.get_origin(annotation)
    common: dict[str, Any] = {"key": key, "label": label, "description": description}

    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            inner = _port(key, members[0], ctx, description=description, label=label)
            return _finish(inner.model_copy(update={"nullable": nullable}), default)
        bare = [_strip_annotated(m, None)[0] for m in members]
        if not all(is_model_class(m) or is_structure(m) for m in bare):
            raise Unsupported(
                f"the union {type_name(annotation)} is ambiguous on the wire; only unions of "
                "pydantic models, dataclasses or structures are supported (use one type, e.g. "
                "float instead of int | float, or Optional[X])",
                annotation,
            )
        variants = [_port(f"variant{i}", m, ctx) for i, m in enumerate(members)]
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
        item = _port("item", args[0], ctx)
        return _finish(Port(**common, kind=PortKind.LIST, children=[item]), default)
    if annotation in _DICTS or origin in _DICTS:
        args = typing.get_args(annotation)
        if len(args) != 2 or _strip_annotated(args[0], None)[0] is not str:
            raise Unsupported(
                "dicts must have str keys and say what they hold, e.g. dict[str, float] "
                "(JSON objects have str keys)",
                annotation,
            )
        value = _port("value", args[1], ctx)
        return _finish(Port(**common, kind=PortKind.DICT, children=[value]), default)
    if is_model_class(annotation):
        return _finish(_model_port(annotation, ctx, common), default)
    if origin is tuple or annotation is tuple:
        raise Unsupported(
            "tuples are only supported as the return annotation (several return values); "
            "use list[X] for an argument",
            annotation,
        )
    raise Unsupported("", annotation)  # the generic message: see _explain


def _enum_port(cls: type[enum.Enum], ctx: _Context, common: dict[str, Any]) -> Port:
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


def _model_port(cls: type, ctx: _Context, common: dict[str, Any]) -> Port:
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
                    _port(
                        spec.name,
                        spec.annotation,
                        ctx,
                        description=spec.description,
                        default=spec.default if spec.has_default else _EMPTY,
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
    if default is _EMPTY:
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


def _explain(where: str, annotation: Any, error: Unsupported) -> str:
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


def _constraint_adapter(annotation: Any) -> TypeAdapter[Any] | None:
    if not _has_constraints(annotation):
        return None
    try:
        return TypeAdapter(annotation)
    except Exception as e:
        raise Unsupported(
            f"its constraints cannot be checked by pydantic ({e}); remove them or use "
            "a pydantic model"
        ) from e


# -- docstrings ------------------------------------------------------------------------------------

_TERSE_KEY = re.compile(r"(?<![\w.])([A-Za-z_]\w*):\s+")


def _docs(
    function: Callable[..., Any], params: list[str]
) -> tuple[str | None, dict[str, str], list[str]]:
    """Description, parameter descriptions and return (or yield) descriptions."""
    import docstring_parser  # imported on first define(): keeps `import arkitekt` fast

    raw = inspect.getdoc(function)
    if not raw:
        return None, {}, []
    parsed = docstring_parser.parse(raw)
    described = {p.arg_name: p.description for p in parsed.params if p.description}
    returns = [r.description for r in parsed.many_returns if r.description]
    separator = "\n\n" if parsed.blank_after_short_description else "\n"
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    description = separator.join(parts) if parts else None
    if description and not described:
        description, described = _terse(description, params)
    return description, described, returns


def _terse(text: str, params: list[str]) -> tuple[str | None, dict[str, str]]:
    """The terse style ``"Say hello.  name: who to greet"``: only ``word: text`` fragments
    whose word is a parameter; each runs to the next such fragment."""
    hits = [m for m in _TERSE_KEY.finditer(text) if m.group(1) in params]
    if not hits or len({m.group(1) for m in hits}) != len(hits):
        return text, {}
    described = {}
    for m, following in zip(hits, [*hits[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        fragment = " ".join(text[m.end() : end].split())
        if fragment:
            described[m.group(1)] = fragment
    return text[: hits[0].start()].strip() or None, described


# -- define() --------------------------------------------------------------------------------------


@dataclass
class _Analysis:
    """What define() learnt about one function (cached; the agent reuses the hints)."""

    hints: dict[str, Any]
    adapters: dict[str, TypeAdapter[Any]] = dataclasses.field(default_factory=dict)
    classes: tuple[type, ...] = ()
    definitions: dict[tuple[str | None, str | None], Definition] = dataclasses.field(
        default_factory=dict
    )


_analyses: weakref.WeakKeyDictionary[Any, _Analysis] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _remember(function: Callable[..., Any], analysis: _Analysis) -> None:
    try:
        with _lock:
            _analyses[function] = analysis
    except TypeError:  # neither hashable nor weak-referenceable: just not cached
        pass


def _recall(function: Callable[..., Any]) -> _Analysis | None:
    try:
        return _analyses.get(function)
    except TypeError:
        return None


def _hint_target(function: Callable[..., Any]) -> Any:
    """What holds the annotations: the function, or ``__call__`` of a callable object."""
    if isinstance(function, functools.partial):
        return _hint_target(function.func)
    if inspect.isroutine(function):
        return function
    call = getattr(type(function), "__call__", None)  # noqa: B004 - the method, not callable()
    return call if call is not None else function


def define(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    types: TypeRegistry = default_types,
    localns: dict[str, Any] | None = None,
) -> Definition:
    """The wire definition of ``func``, from its signature, type hints, defaults and docstring.

    Raises :class:`DefinitionError` naming the function, the parameter (or the return value)
    and the fix when something cannot travel. ``name`` and ``description`` override the
    function's name and docstring; ``localns`` resolves string annotations naming local
    classes (the registering frame's locals). Every model, enum and structure class met is
    added to ``types``. Cached per function: the same function gives the same definition.
    """
    if not callable(func):
        raise DefinitionError(f"{func!r} is not a function")
    if isinstance(func, type):
        raise DefinitionError(
            f"{func.__qualname__} is a class; register a function (or a method of an instance)"
        )
    analysis = _recall(func)
    key = (name, description)
    if analysis is not None and key in analysis.definitions:
        for cls in analysis.classes:
            types.add(cls)  # a cache hit must still fill the registry asked for
        return analysis.definitions[key]
    analysis = analysis or _analyse(func, localns)
    definition = _build(func, analysis, name, description, localns)
    for cls in analysis.classes:
        types.add(cls)
    analysis.definitions[key] = definition
    _remember(func, analysis)
    return definition


def _function_name(func: Callable[..., Any], qualified: bool = False) -> str:
    inner = _hint_target(func) if isinstance(func, functools.partial) else func
    name = getattr(inner, "__qualname__" if qualified else "__name__", None)
    return name if isinstance(name, str) else type(inner).__name__


def _label(func: Callable[..., Any]) -> str:
    return f"{_function_name(func, qualified=True)}()"


def _analyse(func: Callable[..., Any], localns: dict[str, Any] | None) -> _Analysis:
    try:
        hints = typing.get_type_hints(_hint_target(func), localns=localns, include_extras=True)
    except NameError as e:
        raise DefinitionError(
            f"{_label(func)}: its annotations cannot be read ({e}); import the class at module "
            "level, or define it before the function"
        ) from e
    except Exception as e:
        raise DefinitionError(f"{_label(func)}: its annotations cannot be read ({e})") from e
    return _Analysis(hints=hints)


def _build(
    func: Callable[..., Any],
    analysis: _Analysis,
    name: str | None,
    description: str | None,
    localns: dict[str, Any] | None,
) -> Definition:
    label = _label(func)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as e:
        raise DefinitionError(f"{label}: its signature cannot be read ({e})") from e
    hints = analysis.hints
    params = list(signature.parameters.values())
    doc, param_docs, return_docs = _docs(func, [p.name for p in params])
    ctx = _Context(localns=localns)
    args: list[Port] = []
    adapters: dict[str, TypeAdapter[Any]] = {}
    for param in params:
        where = f"{label}: parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise DefinitionError(
                f"{where} ({star}{param.name}) cannot be described; name each parameter, "
                "or take a list[X] / dict[str, X]"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise DefinitionError(
                f"{where} is positional-only; remove the '/' (the function is called "
                "with keyword arguments)"
            )
        if param.name not in hints:
            raise DefinitionError(
                f"{where} has no type annotation; add one (supported: {SUPPORTED})"
            )
        annotation = hints[param.name]
        default = param.default
        param_doc = param_docs.get(param.name)
        if isinstance(default, FieldInfo):  # `x: int = Field(3, description=...)`
            param_doc = default.description or param_doc
            if default.default_factory is not None:
                raise DefinitionError(f"{where}: use a plain default, not a default_factory")
            default = _EMPTY if default.default is PydanticUndefined else default.default
        try:
            args.append(
                _port(
                    param.name,
                    annotation,
                    ctx,
                    description=param_doc,
                    default=default,
                    label=param.name,
                )
            )
            adapter = _constraint_adapter(annotation)
        except Unsupported as e:
            raise DefinitionError(_explain(where, annotation, e)) from e
        if adapter is not None:
            adapters[param.name] = adapter

    kind, members = _returns(func, hints, label)
    if len(members) > 1 and len(return_docs) == 1:
        lines = [line.strip() for line in return_docs[0].splitlines() if line.strip()]
        if len(lines) == len(members):  # one line per value of the tuple
            return_docs = lines
    returns: list[Port] = []
    for i, member in enumerate(members):
        where = (
            f"{label}: the return value"
            if len(members) == 1
            else (f"{label}: return value {i + 1} of {len(members)}")
        )
        try:
            doc_i = return_docs[i] if i < len(return_docs) else None
            returns.append(_port(f"return{i}", member, ctx, description=doc_i))
        except Unsupported as e:
            raise DefinitionError(_explain(where, member, e)) from e

    analysis.adapters.update(adapters)
    analysis.classes = tuple(dict.fromkeys((*analysis.classes, *ctx.classes)))
    return Definition(
        name=name or _function_name(func),
        description=description if description is not None else doc,
        kind=kind,
        args=args,
        returns=returns,
    )


def _returns(
    func: Callable[..., Any], hints: dict[str, Any], label: str
) -> tuple[NodeKind, list[Any]]:
    """The node kind and the annotations of the return ports (what is yielded, for generators)."""
    is_gen = inspect.isgeneratorfunction(func)
    is_agen = inspect.isasyncgenfunction(func)
    annotation = hints.get("return", _EMPTY)
    bare, _ = _strip_annotated(annotation, None)
    origin = typing.get_origin(bare) or bare
    kind = NodeKind.FUNCTION
    if origin in _SYNC_ITERATORS or origin in _ASYNC_ITERATORS:
        is_async = origin in _ASYNC_ITERATORS
        if is_async and not is_agen:
            raise DefinitionError(
                f"{label}: it is annotated {type_name(annotation)} but is not an async "
                "generator; write it as `async def` with `yield`"
            )
        if not is_async and (is_agen or inspect.iscoroutinefunction(func)):
            raise DefinitionError(
                f"{label}: it is async but annotated {type_name(annotation)}; annotate it "
                "AsyncIterator[X] and `yield` the values"
            )
        if origin in (collections.abc.Iterable, collections.abc.AsyncIterable) and not (
            is_gen or is_agen
        ):
            raise DefinitionError(
                f"{label}: it returns {type_name(annotation)}, which could be any collection; "
                "annotate list[X] to return a list, or `yield` the values (Iterator[X])"
            )
        args = typing.get_args(bare)
        if not args:
            raise DefinitionError(
                f"{label}: say what it yields, e.g. Iterator[int] / AsyncIterator[int]"
            )
        kind, annotation = NodeKind.GENERATOR, args[0]
    elif is_gen or is_agen:
        raise DefinitionError(
            f"{label}: a generator must be annotated Iterator[X] (AsyncIterator[X] for "
            "`async def`), where X is what it yields"
        )
    if annotation is _EMPTY:
        raise DefinitionError(
            f"{label}: the return value has no annotation; add one (-> None when it returns "
            "nothing)"
        )
    if annotation is None or annotation is type(None):
        return kind, []
    bare, _ = _strip_annotated(annotation, None)
    if typing.get_origin(bare) is tuple or bare is tuple:
        members = list(typing.get_args(bare))
        if len(members) < 2 or members[-1] is Ellipsis:
            raise DefinitionError(
                f"{label}: the return annotation {type_name(annotation)} is not a fixed tuple; "
                "return several values as tuple[A, B], one value as A, a sequence as list[A]"
            )
        return kind, members
    return kind, [annotation]


def function_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The resolved type hints of a defined function (what the agent converts values to).

    Taken from :func:`define`'s cache, so annotations naming local classes still resolve.
    """
    analysis = _recall(func)
    if analysis is None:
        define(func)
        analysis = _recall(func)
    return analysis.hints if analysis is not None else _analyse(func, None).hints


def argument_adapters(func: Callable[..., Any]) -> dict[str, TypeAdapter[Any]]:
    """Pydantic adapters for the arguments whose ``Annotated`` metadata adds constraints."""
    analysis = _recall(func)
    if analysis is None:
        define(func)
        analysis = _recall(func)
    return analysis.adapters if analysis is not None else {}
