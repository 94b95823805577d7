"""How a model class (pydantic or dataclass) travels: its fields, in wire order.

Shared by the client's type-hint analysis (``define``), which turns fields into ports, and by
the value codec, which rebuilds instances from wire values.
"""

from __future__ import annotations

import dataclasses
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


class Unsupported(Exception):
    """Why one annotation cannot travel; ``culprit`` is the (part of the) annotation at fault."""

    def __init__(self, reason: str, culprit: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.culprit = culprit


@dataclass(frozen=True)
class FieldSpec:
    """One field of a pydantic model or dataclass, as it travels."""

    name: str  # the attribute, and the key on the wire
    annotation: Any
    has_default: bool
    default: Any
    description: str | None
    init_key: str  # what the class's constructor / model_validate expects (an alias, maybe)


_fields_cache: weakref.WeakKeyDictionary[type, tuple[FieldSpec, ...]] = weakref.WeakKeyDictionary()
_STATIC_FACTORIES: dict[Any, Callable[[], Any]] = {list: list, dict: dict}


def is_model_class(tp: Any) -> bool:
    """A pydantic model class or a dataclass (both travel by value, field by field)."""
    return isinstance(tp, type) and (
        (issubclass(tp, BaseModel) and tp is not BaseModel) or dataclasses.is_dataclass(tp)
    )


def model_fields(cls: type, localns: dict[str, Any] | None = None) -> tuple[FieldSpec, ...]:
    """The fields of a model or dataclass (cached per class); raises :class:`Unsupported`."""
    cached = _fields_cache.get(cls)
    if cached is not None:
        return cached
    try:
        hints = typing.get_type_hints(cls, localns=localns, include_extras=True)
    except Exception:  # forward references pydantic resolved on its own, or unresolvable ones
        hints = {}
    specs: list[FieldSpec] = []
    if issubclass(cls, BaseModel):
        for name, info in cls.model_fields.items():
            has_default, default = _field_default(info.default, info.default_factory)
            alias = info.validation_alias if info.validation_alias is not None else info.alias
            if alias is not None and not isinstance(alias, str):
                raise Unsupported(
                    f"field {name!r} of {cls.__name__} uses AliasPath/AliasChoices; "
                    "use a plain str alias",
                    cls,
                )
            annotation = hints.get(name, info.annotation)
            specs.append(
                FieldSpec(name, annotation, has_default, default, info.description, alias or name)
            )
    else:
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # is_model_class said so
            if not f.init:
                continue  # computed in __post_init__: not part of the value that travels
            annotation = hints.get(f.name, f.type)
            if isinstance(annotation, str):
                raise Unsupported(
                    f"the annotation {annotation!r} of field {f.name!r} of {cls.__name__} "
                    "cannot be resolved; define the classes it names at module level",
                    cls,
                )
            factory = None if f.default_factory is dataclasses.MISSING else f.default_factory
            default_value = PydanticUndefined if f.default is dataclasses.MISSING else f.default
            has_default, default = _field_default(default_value, factory)
            doc = f.metadata.get("description")
            specs.append(
                FieldSpec(
                    f.name,
                    annotation,
                    has_default,
                    default,
                    doc if isinstance(doc, str) else None,
                    f.name,
                )
            )
    result = tuple(specs)
    _fields_cache[cls] = result
    return result


def _field_default(default: Any, factory: Any) -> tuple[bool, Any]:
    if factory is not None:
        if factory in _STATIC_FACTORIES:
            return True, _STATIC_FACTORIES[factory]()
        return False, None  # see the module docstring: required on the wire
    if default is PydanticUndefined:
        return False, None
    return True, default
