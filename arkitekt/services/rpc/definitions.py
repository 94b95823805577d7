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
import functools
import inspect
import threading
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ...errors import DefinitionError
from ...protocol.fields import Unsupported
from ...protocol.ports import Definition, NodeKind, Port
from ...protocol.structures import TypeRegistry
from .annotations import (
    ASYNC_ITERATORS,
    EMPTY,
    SUPPORTED,
    SYNC_ITERATORS,
    PortContext,
    annotation_port,
    constraint_adapter,
    explain,
    strip_annotated,
    type_name,
)
from .docstrings import parse_docstring
from .state import state_spec
from .structures import default_types

# -- define() --------------------------------------------------------------------------------------


@dataclass
class _Analysis:
    """What define() learnt about one function (cached; the agent reuses the hints)."""

    hints: dict[str, Any]
    adapters: dict[str, TypeAdapter[Any]] = dataclasses.field(default_factory=dict)
    states: dict[str, type] = dataclasses.field(default_factory=dict)
    """Parameters annotated with a ``@state`` class: injected by the agent, not ports."""
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
    doc, param_docs, return_docs = parse_docstring(func, [p.name for p in params])
    ctx = PortContext(localns=localns)
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
        if state_spec(annotation) is not None:
            analysis.states[param.name] = annotation
            continue
        default = param.default
        param_doc = param_docs.get(param.name)
        if isinstance(default, FieldInfo):  # `x: int = Field(3, description=...)`
            param_doc = default.description or param_doc
            if default.default_factory is not None:
                raise DefinitionError(f"{where}: use a plain default, not a default_factory")
            default = EMPTY if default.default is PydanticUndefined else default.default
        try:
            args.append(
                annotation_port(
                    param.name,
                    annotation,
                    ctx,
                    description=param_doc,
                    default=default,
                    label=param.name,
                )
            )
            adapter = constraint_adapter(annotation)
        except Unsupported as e:
            raise DefinitionError(explain(where, annotation, e)) from e
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
            returns.append(annotation_port(f"return{i}", member, ctx, description=doc_i))
        except Unsupported as e:
            raise DefinitionError(explain(where, member, e)) from e

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
    annotation = hints.get("return", EMPTY)
    bare, _ = strip_annotated(annotation, None)
    origin = typing.get_origin(bare) or bare
    kind = NodeKind.FUNCTION
    if origin in SYNC_ITERATORS or origin in ASYNC_ITERATORS:
        is_async = origin in ASYNC_ITERATORS
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
    if annotation is EMPTY:
        raise DefinitionError(
            f"{label}: the return value has no annotation; add one (-> None when it returns "
            "nothing)"
        )
    if annotation is None or annotation is type(None):
        return kind, []
    bare, _ = strip_annotated(annotation, None)
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


def state_parameters(func: Callable[..., Any]) -> dict[str, type]:
    """The parameters of a defined function that take agent state (``@state`` classes)."""
    analysis = _recall(func)
    if analysis is None:
        define(func)
        analysis = _recall(func)
    return analysis.states if analysis is not None else {}


def argument_adapters(func: Callable[..., Any]) -> dict[str, TypeAdapter[Any]]:
    """Pydantic adapters for the arguments whose ``Annotated`` metadata adds constraints."""
    analysis = _recall(func)
    if analysis is None:
        define(func)
        analysis = _recall(func)
    return analysis.adapters if analysis is not None else {}
