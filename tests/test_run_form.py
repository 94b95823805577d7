"""The run page's form and the call page's views, without a server: ports to fields, a submitted
form to arguments judged by the codec (every failing field at once), and events to what the
page shows, kinds it does not know included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from starlette.datastructures import FormData

from arkitekt.protocol.ports import Choice, Definition, Port, PortKind
from arkitekt.protocol.structures import IMAGE_STRUCTURE
from arkitekt.protocol.values import structure_references
from arkitekt.server.call_view import ValueRenderer, event_view, status_after
from arkitekt.server.run_form import (
    Stored,
    build_fields,
    check_arguments,
    read_arguments,
    widget_of,
)

INT = Port(key="n", kind=PortKind.INT, description="How many.")
FLOAT = Port(key="ratio", kind=PortKind.FLOAT, has_default=True, default=0.5)
TEXT = Port(key="name", kind=PortKind.STRING, nullable=True, has_default=True, default=None)
FLAG = Port(key="flag", kind=PortKind.BOOL, has_default=True, default=True)
MODE = Port(
    key="mode",
    kind=PortKind.ENUM,
    identifier="m.Mode",
    choices=[Choice(value="a", label="A"), Choice(value=2, label="TWO")],
)
LEVELS = Port(key="levels", kind=PortKind.LIST, children=[Port(key="item", kind=PortKind.INT)])
WHEN = Port(key="when", kind=PortKind.DATETIME, nullable=True, has_default=True, default=None)
IMAGE = Port(key="image", kind=PortKind.STRUCTURE, identifier=IMAGE_STRUCTURE, nullable=True)
DEFINITION = Definition(name="f", args=[INT, FLOAT, TEXT, FLAG, MODE, LEVELS, WHEN, IMAGE])


def form(**fields: str) -> FormData:
    return FormData(list(fields.items()))


def test_every_port_kind_has_a_widget() -> None:
    assert [widget_of(p) for p in DEFINITION.args] == [
        "int",
        "float",
        "text",
        "checkbox",
        "choice",
        "json",
        "datetime",
        "image",
    ]
    union = Port(
        key="u",
        kind=PortKind.UNION,
        children=[Port(key="a", kind=PortKind.INT), Port(key="b", kind=PortKind.STRING)],
    )
    other = Port(key="s", kind=PortKind.STRUCTURE, identifier="my.Thing")
    maybe = Port(key="b", kind=PortKind.BOOL, nullable=True)
    assert [widget_of(p) for p in (union, other, maybe)] == ["json", "reference", "choice"]


def test_fields_show_defaults_and_keep_what_was_typed() -> None:
    images = {"image": [Stored("i1", "cells"), Stored("i2", "nuclei")]}
    fields = {f.key: f for f in build_fields(DEFINITION, images)}
    assert (
        fields["n"].required and fields["n"].text == "" and fields["n"].description == "How many."
    )
    assert fields["ratio"].text == "0.5" and not fields["ratio"].required
    assert fields["flag"].checked
    assert [(o.value, o.label, o.selected) for o in fields["mode"].options] == [
        ("", "Choose…", True),
        ("0", "A", False),
        ("1", "TWO", False),
    ]
    assert [(o.value, o.selected) for o in fields["image"].options] == [
        ("", True),
        ("i1", False),
        ("i2", False),
    ]
    assert fields["levels"].type_text == "list[int]"
    assert fields["when"].hint == "Leave empty for None."

    typed = form(**{"arg-0": "twelve", "arg-4": "1", "arg-5": "[1,", "arg-7": "elsewhere"})
    again = {f.key: f for f in build_fields(DEFINITION, images, typed)}
    assert again["n"].text == "twelve"
    assert not again["flag"].checked  # unchecked boxes are not sent
    assert [o.value for o in again["mode"].options if o.selected] == ["1"]
    assert again["levels"].text == "[1,"
    # an id not offered (typed by hand) stays what is shown
    assert [(o.value, o.selected) for o in again["image"].options][-1] == ("elsewhere", True)


async def test_the_codec_judges_every_field_at_once() -> None:
    submitted = form(
        **{
            "arg-0": "twelve",
            "arg-1": "inf",
            "arg-2": "",
            "arg-4": "9",
            "arg-5": '[1, "x"]',
            "arg-6": "soon",
        }
    )
    kwargs, unreadable = read_arguments(DEFINITION, submitted)
    assert kwargs == {
        "n": "twelve",
        "ratio": float("inf"),
        "name": None,
        "flag": False,
        "mode": "9",
        "levels": [1, "x"],
        "when": "soon",
        "image": None,
    }
    assert unreadable == {}
    payload, errors = await check_arguments(DEFINITION, kwargs)
    assert payload is None
    assert errors == {
        "n": "must be an int, got 'twelve' (str)",
        "ratio": "must be a finite float (JSON has no inf), got inf",
        "mode": "must be one of 'a', 2, got '9' (str)",
        "levels": "[1]: must be an int, got 'x' (str)",
        "when": "must be a datetime, got 'soon' (str)",
    }


async def test_good_values_become_the_wire_arguments() -> None:
    submitted = form(
        **{
            "arg-0": " 7 ",
            "arg-1": "",
            "arg-2": "cells",
            "arg-3": "true",
            "arg-4": "1",
            "arg-5": "[1, 2]",
            "arg-6": "2024-01-02T03:04:05+00:00",
            "arg-7": "i1",
        }
    )
    kwargs, unreadable = read_arguments(DEFINITION, submitted)
    assert unreadable == {}
    assert kwargs["when"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert "ratio" not in kwargs  # empty: the default
    payload, errors = await check_arguments(DEFINITION, kwargs)
    assert errors == {}
    assert payload == {
        "n": 7,
        "ratio": 0.5,
        "name": "cells",
        "flag": True,
        "mode": 2,
        "levels": [1, 2],
        "when": "2024-01-02T03:04:05+00:00",
        "image": "i1",
    }
    assert list(structure_references(payload["image"], IMAGE, "image")) == [
        ("image", IMAGE_STRUCTURE, "i1")
    ]


async def test_missing_required_values_and_broken_json() -> None:
    kwargs, unreadable = read_arguments(DEFINITION, form(**{"arg-0": " ", "arg-5": "{nope"}))
    assert list(unreadable) == ["levels"] and "is not valid JSON" in unreadable["levels"]
    _, errors = await check_arguments(DEFINITION, kwargs, skip=list(unreadable))
    assert errors["n"].startswith("is required")
    assert errors["mode"].startswith("is required")
    assert "levels" not in errors  # already judged: not valid JSON


def test_structure_references_walk_lists_models_and_unions() -> None:
    image = Port(key="i", kind=PortKind.STRUCTURE, identifier=IMAGE_STRUCTURE)
    model = Port(
        key="m",
        kind=PortKind.MODEL,
        identifier="x.M",
        children=[Port(key="pics", kind=PortKind.LIST, children=[image])],
    )
    union = Port(key="u", kind=PortKind.UNION, children=[Port(key="n", kind=PortKind.INT), model])
    value = {"variant": 1, "value": {"pics": ["a", "b"]}}
    assert list(structure_references(value, union, "u")) == [
        ("u.pics[0]", IMAGE_STRUCTURE, "a"),
        ("u.pics[1]", IMAGE_STRUCTURE, "b"),
    ]
    assert list(structure_references({"variant": 0, "value": 3}, union, "u")) == []


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("queued", {}, {"status": "queued", "log": None, "final": False}),
        ("progress", {"progress": 40, "message": "half"}, {"status": "running", "progress": 40}),
        ("log", {"message": "hi", "level": "warning"}, {"log": "hi", "level": "warning"}),
        # running (a call that waited queued on its agent started): the status only
        ("running", {}, {"status": "running", "log": None, "final": False}),
        # a kind this page does not know (a newer agent's): its status, and a log line
        ("paused", {"message": "by the user"}, {"status": "paused", "log": "paused: by the user"}),
        ("cancelled", {"message": "cancelled"}, {"status": "cancelled", "final": True}),
        ("lost", {"message": "gone"}, {"ending": "gone", "final": True}),
    ],
)
async def test_events_are_placed_for_the_page(
    kind: str, data: dict[str, Any], expected: dict[str, Any]
) -> None:
    renderer = ValueRenderer(None, "u")  # type: ignore[arg-type]  # nothing to look up here
    view = (await event_view(3, kind, data, DEFINITION, renderer)).as_json()
    assert view["index"] == 3 and view["kind"] == kind
    assert {key: view[key] for key in expected} == expected


async def test_errors_and_results() -> None:
    renderer = ValueRenderer(None, "u")  # type: ignore[arg-type]
    returns = Definition(name="g", returns=[Port(key="return0", kind=PortKind.FLOAT)])
    done = await event_view(5, "done", {"values": [1.5]}, returns, renderer)
    assert done.final and done.status == "done"
    assert done.results is not None and [(r.label, r.text) for r in done.results] == [("", "1.5")]
    error = {"type": "builtins.ValueError", "message": "bad", "traceback": "Traceback..."}
    failed = await event_view(6, "error", {"error": error}, returns, renderer)
    assert failed.error is not None and failed.error.type == "builtins.ValueError"
    assert status_after("yield") == "running" and status_after("assigned") == "assigned"
