"""Definitions from type hints, and values through the wire (no server needed: pure functions)."""

from __future__ import annotations

import datetime as dt
import enum
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel

from arkitekt.services.rpc.definitions import DefinitionError, define
from arkitekt.services.rpc.ports import NodeKind, PortKind
from arkitekt.services.rpc.serialization import (
    ArgumentError,
    ReturnValueError,
    aexpand_args,
    aexpand_returns,
    ashrink_args,
    ashrink_returns,
)
from arkitekt.services.rpc.structures import StructureReference, TypeRegistry


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Settings(BaseModel):
    level: float
    name: str = "default"
    tags: list[str] = []


@dataclass
class Point:
    x: int
    y: int = 0


STORE: dict[str, list[int]] = {}


class Blob:
    """A by-reference structure, backed by a dict standing in for central storage."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def shrink(self) -> str:
        return self.key

    @classmethod
    async def expand(cls, value: str) -> Blob:
        if value not in STORE:
            raise KeyError(value)
        return cls(value)


def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    when: dt.datetime,
    colour: Colour,
    mode: Literal["fast", "slow"],
    maybe: Optional[int],  # noqa: UP045 - the old spelling must work too
    numbers: list[int],
    table: dict[str, float],
    settings: Settings,
    point: Point,
    blob: Blob,
    note: str | None = None,
    repeat: int = 2,
) -> tuple[str, Blob]:
    """Use every supported type.

    Args:
        text: some text
        count: how many
    Returns:
        the text again
        the blob
    """
    return text, blob


def test_every_supported_annotation_becomes_a_port() -> None:
    definition = define(everything)
    kinds = {port.key: port.kind for port in definition.args}
    assert kinds == {
        "text": PortKind.STRING,
        "count": PortKind.INT,
        "ratio": PortKind.FLOAT,
        "flag": PortKind.BOOL,
        "when": PortKind.DATETIME,
        "colour": PortKind.ENUM,
        "mode": PortKind.ENUM,
        "maybe": PortKind.INT,
        "numbers": PortKind.LIST,
        "table": PortKind.DICT,
        "settings": PortKind.MODEL,
        "point": PortKind.MODEL,
        "blob": PortKind.STRUCTURE,
        "note": PortKind.STRING,
        "repeat": PortKind.INT,
    }
    ports = {port.key: port for port in definition.args}
    assert ports["maybe"].nullable and not ports["maybe"].has_default
    assert ports["note"].nullable and ports["note"].has_default and ports["note"].default is None
    assert ports["repeat"].default == 2
    assert [c.value for c in ports["colour"].choices or []] == ["red", "green"]
    assert [c.key for c in ports["settings"].children] == ["level", "name", "tags"]
    assert ports["text"].description == "some text"
    assert definition.description == "Use every supported type."
    assert [r.kind for r in definition.returns] == [PortKind.STRING, PortKind.STRUCTURE]
    assert [r.description for r in definition.returns] == ["the text again", "the blob"]
    json.dumps(definition.model_dump(mode="json"))  # the definition itself is plain JSON


def test_the_terse_docstring_style() -> None:
    def greet(name: str, times: int = 1) -> str:
        """Say hello.  name: who to greet"""
        return name

    definition = define(greet)
    assert definition.description == "Say hello."
    assert definition.args[0].description == "who to greet"
    assert definition.args[1].description is None


def test_annotated_descriptions_and_numpy_docstrings() -> None:
    def scale(factor: Annotated[float, "how much bigger"], label: str) -> float:
        """Scale.

        Parameters
        ----------
        label
            what it is called
        """
        return factor

    ports = define(scale).args
    assert [p.description for p in ports] == ["how much bigger", "what it is called"]


def test_generators_sync_and_async() -> None:
    def count(to: int) -> Iterator[int]:
        yield from range(to)

    async def acount(to: int) -> AsyncIterator[int]:
        for i in range(to):
            yield i

    for function in (count, acount):
        definition = define(function)
        assert definition.kind is NodeKind.GENERATOR
        assert [r.kind for r in definition.returns] == [PortKind.INT]


def test_the_hash_is_stable_across_processes() -> None:
    here = define(everything).hash()
    assert define(everything).hash() == here
    code = (
        "import sys; sys.path.insert(0, 'tests');"
        "from test_definitions import everything;"
        "from arkitekt.services.rpc.definitions import define;"
        "print(define(everything).hash())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == here, other.stderr


class Plain:
    pass


def f_plain(x: Plain) -> int: ...
def f_missing(x) -> int: ...  # type: ignore[no-untyped-def]
def f_set(x: set[int]) -> int: ...
def f_bytes(x: bytes) -> int: ...
def f_tuple_arg(x: tuple[int, int]) -> int: ...
def f_int_keys(x: dict[int, str]) -> int: ...
def f_bad_default(x: int = "three") -> int: ...  # type: ignore[assignment]
def f_none_default(x: int = None) -> int: ...  # type: ignore[assignment]  # noqa: RUF013
def f_varargs(*x: int) -> int: ...
def f_no_return(x: int): ...  # type: ignore[no-untyped-def]
def f_scalar_union(x: int | str) -> int: ...
def f_bare_list(x: list) -> int: ...  # type: ignore[type-arg]


@pytest.mark.parametrize(
    ("function", "mentions"),
    [
        (f_plain, "parameter 'x' has annotation"),
        (f_missing, "no type annotation"),
        (f_set, "set[int]"),
        (f_bytes, "bytes"),
        (f_tuple_arg, "only supported as return values"),
        (f_int_keys, "str keys"),
        (f_bad_default, "does not fit"),
        (f_none_default, "not Optional"),
        (f_varargs, "*args"),
        (f_no_return, "return value has no annotation"),
        (f_scalar_union, "ambiguous"),
        (f_bare_list, "what the list holds"),
    ],
)
def test_unsupported_annotations_fail_naming_the_parameter(function: object, mentions: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        define(function)  # type: ignore[arg-type]
    message = str(caught.value)
    assert mentions in message
    assert function.__name__ in message  # type: ignore[attr-defined]


async def test_values_round_trip_through_the_wire() -> None:
    STORE["b1"] = [1, 2, 3]
    definition = define(everything)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    payload = await ashrink_args(
        definition,
        ("hello", 3, 2, True, when, Colour.GREEN, "slow", None, [1, 2], {"a": 1.5}),
        {"settings": Settings(level=0.5), "point": Point(x=1), "blob": Blob("b1")},
    )
    wire = json.loads(json.dumps(payload))  # what really travels
    assert wire["ratio"] == 2.0 and wire["colour"] == "green" and wire["blob"] == "b1"
    assert wire["note"] is None and wire["repeat"] == 2  # defaults filled in
    kwargs = await aexpand_args(definition, everything, wire)
    assert kwargs["when"] == when and kwargs["colour"] is Colour.GREEN
    assert kwargs["settings"] == Settings(level=0.5) and kwargs["point"] == Point(x=1, y=0)
    assert isinstance(kwargs["blob"], Blob) and kwargs["blob"].key == "b1"
    values = await ashrink_returns(definition, everything, everything(**kwargs))
    assert values == ["hello", "b1"]
    text, blob = await aexpand_returns(definition, values)
    assert text == "hello" and isinstance(blob, Blob)


async def test_unknown_structures_arrive_as_references() -> None:
    definition = define(everything)
    values = await aexpand_returns(definition, ["x", "b1"], types=TypeRegistry())
    reference = values[1]
    assert isinstance(reference, StructureReference) and reference.value == "b1"
    assert "register the class" in repr(reference)
    # a reference can be passed on as it is
    args = await ashrink_args(
        definition,
        ("t", 1, 1.0, False, dt.datetime.now(), "red", "fast", 1, [], {}),
        {"settings": {"level": 1}, "point": {"x": 1}, "blob": reference},
    )
    assert args["blob"] == "b1"


@pytest.mark.parametrize(
    ("args", "kwargs", "port", "mentions"),
    [
        (("a", "two"), {}, "count", "must be an int"),
        (("a", True), {}, "count", "got True (bool)"),
        (("a", 1, "x"), {}, "ratio", "must be a float"),
        ((), {"text": "a", "count": 1, "nope": 1}, "nope", "not a parameter"),
        (("a",), {"text": "b"}, "text", "given twice"),
        (("a", 1), {}, "ratio", "is required"),
        (tuple(range(20)), {}, "repeat", "takes 15 arguments"),
    ],
)
async def test_argument_errors_name_the_port(
    args: tuple[object, ...], kwargs: dict[str, object], port: str, mentions: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(define(everything), args, kwargs)
    assert caught.value.port == port
    assert mentions in str(caught.value)


async def test_nested_errors_give_the_path() -> None:
    base = ("a", 1, 1.0, True, dt.datetime.now(), "red", "fast", None, [1, 2], {})
    definition = define(everything)
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(definition, (*base[:8], [1, "two"], {}), {})
    assert caught.value.port == "numbers[1]"
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(
            definition, base, {"settings": {"level": "high"}, "point": {"x": 1}, "blob": "b"}
        )
    assert caught.value.port == "settings.level"
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(
            definition, base, {"settings": {"level": 1}, "point": {"x": 1, "z": 2}, "blob": "b"}
        )
    assert caught.value.port == "point.z"
    with pytest.raises(ArgumentError, match="one of 'red', 'green'"):
        await ashrink_args(define(everything), ("a", 1, 1.0, True, dt.datetime.now(), "blue"), {})


async def test_the_agent_checks_again() -> None:
    definition = define(everything)
    with pytest.raises(ArgumentError) as caught:
        await aexpand_args(definition, everything, {"text": 5})
    assert caught.value.port == "text"


async def test_wrong_return_values_are_reported() -> None:
    def half(x: int) -> int:
        return x

    with pytest.raises(ReturnValueError, match="must be an int"):
        await ashrink_returns(define(half), half, "not a number")

    def nothing() -> None:
        return None

    with pytest.raises(ReturnValueError, match="annotated to return None"):
        await ashrink_returns(define(nothing), nothing, 3)
