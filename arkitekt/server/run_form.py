"""The run page's form: a function's argument ports as form fields, and a submitted form back
to keyword arguments, judged by the codec the SDK uses.

Each port becomes one field by its kind: text for strings, numbers and datetimes, a checkbox
for a bool (a choice of None/True/False when it is optional), a ``<select>`` for an enum, the
user's images (or files) for those structures, an id for other structures, and JSON for lists,
dicts, models and unions. Defaults are filled in; an optional port left empty is None.

Reading a form interprets as little as possible: an int field's text becomes an int when it
reads as one and stays text otherwise, and so on. Whether the values fit is the codec's
judgement (:func:`~arkitekt.protocol.codec.ashrink_args`, the check a Python caller makes
before sending): its message for a port is shown next to that port's field. The only message
of this module's own is for JSON that does not parse. What the user typed is kept as typed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from arkitekt.errors import ArgumentError
from arkitekt.protocol.codec import ashrink_args
from arkitekt.protocol.ports import Definition, JSONValue, Port, PortKind
from arkitekt.protocol.structures import FILE_STRUCTURE, IMAGE_STRUCTURE, TypeRegistry

from .http import parse_json
from .oauth import OAuthError

_OMIT: Any = object()
"""Not passed at all: the codec fills in the default, or says the argument is required."""
JSON_KINDS = frozenset({PortKind.LIST, PortKind.DICT, PortKind.MODEL, PortKind.UNION})
STORED_WIDGETS = {IMAGE_STRUCTURE: "image", FILE_STRUCTURE: "file"}


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    selected: bool = False


@dataclass(frozen=True)
class Stored:
    """An image or file the user may pick (theirs or shared with them)."""

    id: str
    label: str


@dataclass
class FormField:
    """One argument as the page shows it."""

    name: str
    """The form field's name (and the input's id): ``arg-<position>``, whatever the key."""
    key: str
    label: str
    description: str | None
    type_text: str
    """The type as Python writes it (``list[int] | None``)."""
    widget: str
    """text, int, float, datetime, checkbox, choice, json, image, file or reference."""
    text: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)
    required: bool = False
    hint: str | None = None
    """What leaving the field empty means."""
    error: str | None = None


def widget_of(port: Port) -> str:
    kind = port.kind
    if kind is PortKind.BOOL:
        return "choice" if port.nullable else "checkbox"
    if kind is PortKind.ENUM:
        return "choice"
    if kind in JSON_KINDS:
        return "json"
    if kind is PortKind.STRUCTURE:
        return STORED_WIDGETS.get(port.identifier or "", "reference")
    return {PortKind.INT: "int", PortKind.FLOAT: "float", PortKind.DATETIME: "datetime"}.get(
        kind, "text"
    )


def _default_text(port: Port) -> str:
    """A default (wire form) as the field's text."""
    if not port.has_default or port.default is None:
        return ""
    if port.kind in JSON_KINDS:
        return json.dumps(port.default, ensure_ascii=False)
    return str(port.default)


def _choices(port: Port) -> list[tuple[str, str, Any]]:
    """(option value, label, Python value) of a choice field."""
    if port.kind is PortKind.BOOL:
        return [("true", "True", True), ("false", "False", False)]
    return [
        (str(i), c.label if c.label else repr(c.value), c.value)
        for i, c in enumerate(port.choices or ())
    ]


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def build_fields(
    definition: Definition,
    stored: Mapping[str, Sequence[Stored]],
    submitted: FormData | None = None,
) -> list[FormField]:
    """The form's fields: defaults, or what was ``submitted`` (kept as typed).

    ``stored``: what the user may pick for image and file ports (by widget name).
    """
    fields = []
    for i, port in enumerate(definition.args):
        name = f"arg-{i}"
        widget = widget_of(port)
        raw = submitted.get(name) if submitted is not None else None
        typed = raw if isinstance(raw, str) else None
        required = not port.has_default and not port.nullable
        if widget in ("checkbox", "choice", "image", "file"):
            hint = None  # what each choice means is on it
        elif port.nullable:
            hint = "Leave empty for None."
        elif port.has_default and widget != "text":  # (empty text is the empty str)
            hint = "Leave empty for the default."
        else:
            hint = None
        item = FormField(
            name=name,
            key=port.key,
            label=port.label or port.key,
            description=port.description,
            type_text=port.python_type(),
            widget=widget,
            required=required,
            hint=hint,
        )
        if widget == "checkbox":
            item.checked = typed is not None if submitted is not None else port.default is True
        elif widget == "choice":
            current = typed if submitted is not None else None
            options = []
            if port.nullable or not port.has_default:
                blank = "None" if port.nullable else "Choose…"
                options.append(Option("", blank, selected=not current))
            for value, label, python in _choices(port):
                chosen = (
                    current == value
                    if submitted is not None
                    else port.has_default and _same(python, port.default)
                )
                options.append(Option(value, label, chosen))
            item.options = options
        elif widget in ("image", "file"):
            current = typed if submitted is not None else _default_text(port)
            thing = "an image" if widget == "image" else "a file"
            blank = "None" if port.nullable else f"Choose {thing}…"
            options = [Option("", blank, selected=not current)]
            listed = False
            for entry in stored.get(widget, ()):
                options.append(Option(entry.id, entry.label, entry.id == current))
                listed = listed or entry.id == current
            if current and not listed:  # what was sent stays what is shown
                options.append(Option(current, current, True))
            item.options = options
        else:
            item.text = typed if typed is not None else _default_text(port)
        fields.append(item)
    return fields


# -- reading a submitted form ---------------------------------------------------------------------


def _empty(port: Port) -> Any:
    """What an empty field means: None for an optional port, else nothing given."""
    return None if port.nullable else _OMIT


def _read_one(port: Port, widget: str, raw: str | None) -> Any:
    """The Python value a field's text stands for, interpreted as little as possible (the
    codec judges it), or :data:`_OMIT`. Raises ValueError for JSON that does not parse."""
    if widget == "checkbox":
        return raw is not None
    text = raw or ""
    if widget == "text":
        return None if text == "" and port.nullable else text
    if text.strip() == "":
        return _empty(port)
    if widget == "choice":
        for value, _, python in _choices(port):
            if text == value:
                return python
        return text  # not one of the choices: the codec says which are
    if widget == "int":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if widget == "float":
        try:
            return float(text.strip())
        except ValueError:
            return text
    if widget == "datetime":
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return text
    if widget == "json":
        try:
            return parse_json(text, "the value")
        except OAuthError as e:
            raise ValueError(e.description) from None
    return text.strip()  # a reference: an id


def read_arguments(definition: Definition, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """Keyword arguments from a submitted form, and the fields that could not be read at all
    (JSON that does not parse): key -> message."""
    kwargs: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for i, port in enumerate(definition.args):
        raw = form.get(f"arg-{i}")
        try:
            value = _read_one(port, widget_of(port), raw if isinstance(raw, str) else None)
        except ValueError as e:
            unreadable[port.key] = str(e)
            continue
        if value is not _OMIT:
            kwargs[port.key] = value
    return kwargs, unreadable


def port_key(path: str, ports: Sequence[Port]) -> str | None:
    """The argument a codec path (``levels[2].x``) starts with."""
    found = [
        p.key
        for p in ports
        if path == p.key or (path.startswith(p.key) and path[len(p.key)] in ".[")
    ]
    return max(found, key=len) if found else None


async def check_arguments(
    definition: Definition, kwargs: Mapping[str, Any], skip: Sequence[str] = ()
) -> tuple[dict[str, JSONValue] | None, dict[str, str]]:
    """The wire arguments (None when anything failed) and the codec's message per argument.

    The codec stops at the first argument that fails; it runs again without that argument
    until the others pass, so every field shows its own message at once. ``skip``: arguments
    already known to be wrong (not judged again).
    """
    errors: dict[str, str] = {}
    ports = [p for p in definition.args if p.key not in skip]
    while True:
        keys = {p.key for p in ports}
        remaining = definition.model_copy(update={"args": ports})
        given = {k: v for k, v in kwargs.items() if k in keys}
        try:
            payload = await ashrink_args(remaining, (), given, types=TypeRegistry())
        except ArgumentError as e:
            key = port_key(e.port, ports)
            if key is None:  # no one argument at fault (cannot happen for a form's fields)
                errors[""] = e.reason
                return None, errors
            errors[key] = field_message(e, key)
            ports = [p for p in ports if p.key != key]
            continue
        return (payload if not errors and not skip else None), errors


def field_message(error: ArgumentError, key: str) -> str:
    """The codec's reason, with where inside the argument when it is nested (``[2]``)."""
    inside = error.port[len(key) :].lstrip(".")
    return f"{inside}: {error.reason}" if inside else error.reason
