# mypy: disable-error-code="empty-body"
# (many functions here exist only for their signatures)
"""Definitions from type hints, and values through the wire (pure functions: no server).

The round trips follow a value the way a call does: caller ``ashrink_args`` -> JSON text ->
agent ``aexpand_args`` -> the function -> agent ``ashrink_returns`` -> JSON text -> caller
``aexpand_returns``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal  # noqa: UP035 - old spellings must work

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator
from rpc_sample_functions import Colour, Config, Level, Point, Table, acount, count, everything

from arkitekt.errors import ArgumentError, ArkitektError, DefinitionError, ReturnValueError
from arkitekt.protocol import codec
from arkitekt.protocol.ports import Definition, JSONValue, NodeKind, Port, PortKind
from arkitekt.protocol.structures import (
    StructureReference,
    TypeRegistry,
    is_structure,
    structure_identifier,
)
from arkitekt.services.rpc.definitions import argument_adapters, define, function_hints
from arkitekt.services.rpc.structures import default_types, register_structure, structure

TESTS = Path(__file__).parent


# -- the codec as the caller and the agent use it (the agent knows the function's hints) ---------


async def ashrink_args(
    definition: Definition,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    types: TypeRegistry = default_types,
) -> dict[str, JSONValue]:
    return await codec.ashrink_args(definition, args, kwargs, types=types)


async def aexpand_returns(
    definition: Definition, values: Any, *, types: TypeRegistry = default_types
) -> Any:
    return await codec.aexpand_returns(definition, values, types=types)


async def aexpand_args(
    definition: Definition,
    func: Callable[..., Any],
    payload: Any,
    *,
    types: TypeRegistry = default_types,
) -> dict[str, Any]:
    return await codec.aexpand_args(
        definition,
        payload,
        hints=function_hints(func),
        adapters=argument_adapters(func),
        types=types,
    )


async def ashrink_returns(
    definition: Definition,
    func: Callable[..., Any],
    value: Any,
    *,
    types: TypeRegistry = default_types,
) -> list[JSONValue]:
    return await codec.ashrink_returns(definition, value, types=types)


# -- a structure defined here, backed by a dict standing in for central storage ------------------

STORE: dict[str, list[int]] = {}


class Blob:
    """By reference: ``shrink`` stores the data and gives its key, ``expand`` loads it."""

    def __init__(self, data: list[int], key: str | None = None) -> None:
        self.data = data
        self.key = key

    async def shrink(self) -> str:
        if self.key is None:
            self.key = f"blob-{len(STORE)}"
            STORE[self.key] = list(self.data)
        return self.key

    @classmethod
    async def expand(cls, value: str) -> Blob:
        return cls(STORE[value], key=value)  # KeyError for an unknown key


class Holder(BaseModel):
    name: str
    blobs: list[Blob]
    model_config = {"arbitrary_types_allowed": True}


def ports_of(definition: Definition) -> dict[str, Port]:
    return {port.key: port for port in definition.args}


async def through_the_wire(
    func: Callable[..., Any], *args: Any, types: TypeRegistry = default_types, **kwargs: Any
) -> Any:
    """Call ``func`` the way a remote call does, with JSON text in between both ways."""
    definition = define(func)
    payload = await ashrink_args(definition, args, kwargs, types=types)
    arrived = json.loads(json.dumps(payload, allow_nan=False))
    call_kwargs = await aexpand_args(definition, func, arrived)
    values = await ashrink_returns(definition, func, func(**call_kwargs))
    returned = json.loads(json.dumps(values, allow_nan=False))
    return await aexpand_returns(definition, returned, types=types)


# -- ports from annotations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (str, PortKind.STRING),
        (int, PortKind.INT),
        (float, PortKind.FLOAT),
        (bool, PortKind.BOOL),
        (dt.datetime, PortKind.DATETIME),
        (Colour, PortKind.ENUM),
        (Literal["a", "b"], PortKind.ENUM),
        (list[int], PortKind.LIST),
        (dict[str, int], PortKind.DICT),
        (Config, PortKind.MODEL),
        (Point, PortKind.MODEL),
        (Table, PortKind.STRUCTURE),
        (Config | Table, PortKind.UNION),
    ],
)
def test_each_supported_annotation_as_argument_and_return(annotation: Any, kind: PortKind) -> None:
    def f(value):  # type: ignore[no-untyped-def]
        return value

    f.__annotations__ = {"value": annotation, "return": annotation}
    definition = define(f)
    assert definition.args[0].kind is kind and definition.args[0].key == "value"
    assert definition.args[0].label == "value"
    assert definition.returns[0].kind is kind and definition.returns[0].key == "return0"


def test_the_sample_function_in_full() -> None:
    definition = define(everything)
    assert definition.name == "everything" and definition.kind is NodeKind.FUNCTION
    assert definition.description == "Use every supported type.\n\nThe long description."
    kinds = {port.key: port.kind.value for port in definition.args}
    assert kinds == {
        "text": "string",
        "count": "int",
        "ratio": "float",
        "flag": "bool",
        "when": "datetime",
        "colour": "enum",
        "level": "enum",
        "mode": "enum",
        "maybe": "int",
        "numbers": "list",
        "sequence": "list",
        "table": "dict",
        "mapping": "dict",
        "config": "model",
        "point": "model",
        "ref": "structure",
        "either": "union",
        "described": "string",
        "note": "string",
        "repeat": "int",
    }
    ports = ports_of(definition)
    assert ports["text"].description == "some text" and ports["count"].description == "how many"
    assert ports["described"].description == "said in the annotation"
    assert [r.kind for r in definition.returns] == [PortKind.STRING, PortKind.STRUCTURE]
    assert [r.description for r in definition.returns] == ["the text again", "the table"]
    assert ports["mapping"].children[0].kind is PortKind.LIST
    assert ports["sequence"].children[0].kind is PortKind.FLOAT
    json.dumps(definition.model_dump(mode="json"))  # the definition itself is plain JSON


def test_enums_and_literals_become_choices() -> None:
    ports = ports_of(define(everything))
    colour, level, mode = ports["colour"], ports["level"], ports["mode"]
    assert [(c.value, c.label) for c in colour.choices or []] == [
        ("red", "RED"),
        ("green", "GREEN"),
    ]
    assert colour.identifier == "rpc_sample_functions.Colour"
    assert [c.value for c in level.choices or []] == [1, 2]
    assert [c.value for c in mode.choices or []] == ["fast", "slow"] and mode.identifier is None

    def lit(n: Literal[1, 2, 3]) -> None: ...

    assert [c.value for c in define(lit).args[0].choices or []] == [1, 2, 3]


def test_optional_and_defaults_are_told_apart() -> None:
    ports = ports_of(define(everything))
    maybe, note, repeat, text = ports["maybe"], ports["note"], ports["repeat"], ports["text"]
    assert maybe.nullable and not maybe.has_default  # Optional but still required
    assert note.nullable and note.has_default and note.default is None  # a default of None
    assert not repeat.nullable and repeat.has_default and repeat.default == 2
    assert not text.has_default and text.default is None


def test_defaults_travel_in_wire_form() -> None:
    def f(
        when: dt.datetime = dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        colour: Colour = Colour.GREEN,
        ratio: float = 1,
        point: Point = Point(x=1),  # noqa: B008 - a by-value default
        levels: list[int] = [1, 2],  # noqa: B006
        limit: int = Field(5, description="at most this many"),
    ) -> None: ...

    ports = ports_of(define(f))
    assert ports["when"].default == "2026-01-02T00:00:00+00:00"
    assert ports["colour"].default == "green"
    assert ports["ratio"].default == 1.0 and isinstance(ports["ratio"].default, float)
    assert ports["point"].default == {"x": 1, "y": 0, "tags": []}
    assert ports["levels"].default == [1, 2]
    assert ports["limit"].default == 5 and ports["limit"].description == "at most this many"


def test_lists_and_dicts_in_every_spelling() -> None:
    def f(
        a: List[int],  # noqa: UP006
        b: Dict[str, bool],  # noqa: UP006
        c: list[dict[str, list[Colour]]],
    ) -> dict[str, Point]: ...

    definition = define(f)
    a, b, c = definition.args
    assert (a.kind, a.children[0].kind) == (PortKind.LIST, PortKind.INT)
    assert (b.kind, b.children[0].kind) == (PortKind.DICT, PortKind.BOOL)
    assert c.children[0].children[0].children[0].kind is PortKind.ENUM
    assert definition.returns[0].children[0].identifier == "rpc_sample_functions.Point"


def test_models_and_dataclasses_by_value() -> None:
    ports = ports_of(define(everything))
    config, point = ports["config"], ports["point"]
    assert config.identifier == "rpc_sample_functions.Config"
    fields = {c.key: c for c in config.children}
    assert list(fields) == ["threshold", "levels", "mode", "origin", "colour"]
    assert (
        fields["threshold"].description == "cut-off, 0 to 1" and not fields["threshold"].has_default
    )
    assert fields["levels"].default == [] and fields["levels"].has_default
    assert fields["origin"].kind is PortKind.MODEL and fields["origin"].nullable
    assert fields["colour"].default == "red"
    assert [c.key for c in point.children] == ["x", "y", "tags"]
    assert point.children[2].has_default and point.children[2].default == []  # default_factory
    assert default_types.get("rpc_sample_functions.Config") is Config


def test_structures_and_unions() -> None:
    ports = ports_of(define(everything))
    assert ports["ref"].identifier == "samples.Table"  # the class's own identifier
    either = ports["either"]
    assert [v.kind for v in either.children] == [PortKind.MODEL, PortKind.STRUCTURE]
    assert is_structure(Blob) and not is_structure(Point) and not is_structure(Blob(data=[]))
    assert structure_identifier(Blob) == "test_definitions.Blob"
    assert default_types.get("samples.Table") is Table


def test_annotated_descriptions_win_over_the_docstring() -> None:
    def f(
        a: Annotated[float, "from a str"],
        b: Annotated[int, Field(description="from a Field")],
        c: Annotated[list[int], "a list"] | None = None,
    ) -> Annotated[int, "the result"]:
        """Do it.

        Args:
            a: from the docstring
            b: from the docstring
        """
        return 0

    definition = define(f)
    a, b, c = definition.args
    assert (a.description, b.description, c.description) == ("from a str", "from a Field", "a list")
    assert c.nullable and c.kind is PortKind.LIST
    assert definition.returns[0].description == "the result"


# -- returns and generators --------------------------------------------------------------------


def test_return_shapes() -> None:
    def none() -> None: ...
    def pair() -> tuple[int, str]: ...
    def model() -> Config: ...

    assert define(none).returns == []
    assert [r.key for r in define(pair).returns] == ["return0", "return1"]
    assert define(model).returns[0].identifier == "rpc_sample_functions.Config"


@pytest.mark.parametrize("func", [count, acount])
def test_generators_sync_and_async(func: Callable[..., Any]) -> None:
    definition = define(func)
    assert definition.kind is NodeKind.GENERATOR
    assert len(definition.returns) == 1


def test_generator_spellings() -> None:
    def gen(n: int) -> Generator[str, None, None]:
        yield "x"

    async def agen(n: int) -> AsyncGenerator[tuple[int, str], None]:
        yield 1, "x"

    def iterable(n: int) -> Iterable[int]:
        yield 1

    def returns_iterator(n: int) -> Iterator[int]:
        return iter(range(n))

    assert define(gen).returns[0].kind is PortKind.STRING
    assert [r.kind for r in define(agen).returns] == [PortKind.INT, PortKind.STRING]
    assert define(iterable).kind is NodeKind.GENERATOR
    assert define(returns_iterator).kind is NodeKind.GENERATOR
    assert define(count).returns[0].description == "the numbers, one by one"


# -- docstrings ----------------------------------------------------------------------------------


def test_google_numpy_and_rest_docstrings() -> None:
    def google(name: str, times: int) -> str:
        """Greet.

        Args:
            name: who to greet
            times: how often

        Returns:
            the greeting
        """
        return name

    def numpy(name: str, times: int) -> tuple[str, int]:
        """Greet.

        Parameters
        ----------
        name : str
            who to greet
        times : int
            how often

        Returns
        -------
        str
            the greeting
        int
            its length
        """
        return name, times

    def rest(name: str, times: int) -> str:
        """Greet.

        :param name: who to greet
        :param times: how often
        :returns: the greeting
        """
        return name

    for func in (google, numpy, rest):
        definition = define(func)
        assert definition.description == "Greet."
        assert [p.description for p in definition.args] == ["who to greet", "how often"]
        assert definition.returns[0].description == "the greeting"
    assert define(numpy).returns[1].description == "its length"


def test_the_terse_docstring_style() -> None:
    def greet(name: str, times: int = 1) -> str:
        """Say hello.  name: who to greet"""
        return name

    definition = define(greet)
    assert definition.description == "Say hello."
    assert [p.description for p in definition.args] == ["who to greet", None]

    def multi(name: str, times: int = 1) -> str:
        """Say hello.

        name: who to greet
        times: how often, at most 3
        """
        return name

    definition = define(multi)
    assert definition.description == "Say hello."
    assert [p.description for p in definition.args] == ["who to greet", "how often, at most 3"]


def test_the_terse_style_is_conservative() -> None:
    def f(name: str) -> str:
        """Say hello. Note: this is slow. See https://example.org for more."""
        return name

    definition = define(f)
    assert (
        definition.description == "Say hello. Note: this is slow. See https://example.org for more."
    )
    assert definition.args[0].description is None

    def g(x: int) -> int:
        """No docstring sections here."""
        return x

    assert define(g, description="Overridden").description == "Overridden"
    assert define(g, name="other").name == "other"


# -- hashing and the wire form of definitions ----------------------------------------------------


def test_definitions_round_trip_and_hash_stably() -> None:
    first = define(everything)
    again = define(everything)
    assert again == first and again.hash() == first.hash()
    restored = Definition.model_validate(json.loads(json.dumps(first.model_dump(mode="json"))))
    assert restored == first and restored.hash() == first.hash()
    assert len(first.hash()) == 64 and int(first.hash(), 16) >= 0
    assert define(everything, name="renamed").hash() != first.hash()
    assert len({first, restored}) == 1  # hashable, consistent with ==
    assert hash(first.args[0]) == hash(restored.args[0])


def test_the_hash_is_the_same_in_a_fresh_interpreter() -> None:
    here = [define(f).hash() for f in (everything, count, acount)]
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from rpc_sample_functions import everything, count, acount\n"
        "from arkitekt.services.rpc.definitions import define\n"
        "print(' '.join(define(f).hash() for f in (everything, count, acount)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert other.stdout.split() == here, other.stderr


def test_define_is_cached_per_function() -> None:
    first = define(everything)
    assert define(everything) is first  # no second analysis
    assert define(everything, name="other") is not first


def test_a_cache_hit_still_fills_the_registry_it_is_given() -> None:
    define(everything)
    fresh = TypeRegistry()
    define(everything, types=fresh)
    assert fresh.get("rpc_sample_functions.Config") is Config
    assert fresh.get("samples.Table") is Table and "rpc_sample_functions.Colour" in fresh


def test_malformed_ports_from_the_network_are_refused() -> None:
    with pytest.raises(ValidationError, match="exactly one child"):
        Port.model_validate({"key": "x", "kind": "list"})
    with pytest.raises(ValidationError, match="needs choices"):
        Port.model_validate({"key": "x", "kind": "enum"})
    with pytest.raises(ValidationError, match="identifier"):
        Port.model_validate({"key": "x", "kind": "structure"})
    with pytest.raises(ValidationError, match="distinct"):
        Definition.model_validate(
            {"name": "f", "args": [{"key": "a", "kind": "int"}, {"key": "a", "kind": "string"}]}
        )


# -- what cannot be defined ----------------------------------------------------------------------


class ndarray:  # stands in for numpy's
    pass


class Node(BaseModel):
    value: int
    children: list[Node] = []


class HasSet(BaseModel):
    items: set[int]


def f_plain(img: ndarray) -> int: ...
def f_missing(x) -> int: ...  # type: ignore[no-untyped-def]
def f_any(x: Any) -> int: ...
def f_object(x: object) -> int: ...
def f_set(x: set[int]) -> int: ...
def f_bytes(x: bytes) -> int: ...
def f_date(x: dt.date) -> int: ...
def f_tuple_arg(x: tuple[int, int]) -> int: ...
def f_int_keys(x: dict[int, str]) -> int: ...
def f_bare_list(x: list) -> int: ...  # type: ignore[type-arg]
def f_bad_default(x: int = "three") -> int: ...  # type: ignore[assignment]
def f_none_default(x: int = None) -> int: ...  # type: ignore[assignment]  # noqa: RUF013
def f_object_default(x: str = object()) -> int: ...  # type: ignore[assignment]
def f_nan_default(x: float = float("nan")) -> int: ...
def f_varargs(*x: int) -> int: ...
def f_kwargs(**x: int) -> int: ...
def f_positional(x: int, /) -> int: ...
def f_scalar_union(x: int | str) -> int: ...
def f_mixed_literal(x: Literal["a", 1]) -> int: ...
def f_recursive(x: Node) -> int: ...
def f_bad_field(x: HasSet) -> int: ...
def f_no_return(x: int): ...  # type: ignore[no-untyped-def]
def f_bad_return(x: int) -> bytes: ...
def f_open_tuple(x: int) -> tuple[int, ...]: ...
def f_one_tuple(x: int) -> tuple[int]: ...
def f_iterable_return(x: int) -> Iterable[int]:
    return [x]


def f_gen_unannotated(x: int):  # type: ignore[no-untyped-def]
    yield x


async def f_async_sync_iter(x: int) -> Iterator[int]:  # type: ignore[misc]
    yield x


async def f_coro_async_iter(x: int) -> AsyncIterator[int]:
    return f_async_iter_helper()


async def f_async_iter_helper() -> AsyncIterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("func", "where", "mentions"),
    [
        (
            f_plain,
            "parameter 'img'",
            "has annotation test_definitions.ndarray, which cannot be sent",
        ),
        (f_missing, "parameter 'x'", "no type annotation"),
        (f_any, "parameter 'x'", "annotation typing.Any, which cannot be sent"),
        (f_object, "parameter 'x'", "annotation object, which cannot be sent"),
        (f_set, "parameter 'x'", "set[int]"),
        (f_bytes, "parameter 'x'", "annotation bytes"),
        (f_date, "parameter 'x'", "annotation datetime.date"),
        (f_tuple_arg, "parameter 'x'", "use list[X] for an argument"),
        (f_int_keys, "parameter 'x'", "str keys"),
        (f_bare_list, "parameter 'x'", "say what the list holds"),
        (f_bad_default, "parameter 'x'", "default 'three' does not fit"),
        (f_none_default, "parameter 'x'", "not optional"),
        (f_object_default, "parameter 'x'", "does not fit"),
        (f_nan_default, "parameter 'x'", "finite"),
        (f_varargs, "parameter 'x'", "(*x) cannot be described"),
        (f_kwargs, "parameter 'x'", "(**x) cannot be described"),
        (f_positional, "parameter 'x'", "positional-only"),
        (f_scalar_union, "parameter 'x'", "ambiguous"),
        (f_mixed_literal, "parameter 'x'", "all str or all int"),
        (f_recursive, "parameter 'x'", "recursive"),
        (f_bad_field, "parameter 'x'", "field 'items' of HasSet: set[int] cannot be sent"),
        (f_no_return, "return value", "has no annotation"),
        (f_bad_return, "the return value", "annotation bytes"),
        (f_open_tuple, "f_open_tuple()", "not a fixed tuple"),
        (f_one_tuple, "f_one_tuple()", "not a fixed tuple"),
        (f_iterable_return, "f_iterable_return()", "annotate list[X]"),
        (f_gen_unannotated, "f_gen_unannotated()", "must be annotated Iterator[X]"),
        (f_async_sync_iter, "f_async_sync_iter()", "AsyncIterator[X]"),
        (f_coro_async_iter, "f_coro_async_iter()", "not an async generator"),
    ],
)
def test_what_cannot_travel_fails_naming_the_function_and_parameter(
    func: Callable[..., Any], where: str, mentions: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        define(func)
    message = str(caught.value)
    assert message.startswith(f"{func.__name__}(): ")
    assert where in message and mentions in message
    assert isinstance(caught.value, ArkitektError) and isinstance(caught.value, TypeError)


def test_the_message_for_an_unknown_type_says_what_to_do() -> None:
    with pytest.raises(DefinitionError) as caught:
        define(f_plain)
    assert str(caught.value) == (
        "f_plain(): parameter 'img' has annotation test_definitions.ndarray, which cannot be "
        "sent to a remote function; store it and pass a reference (e.g. arkitekt.Image) or use "
        "one of: str, int, float, bool, datetime, Enum, Literal, list, dict, pydantic models, "
        "dataclasses, structures"
    )


def test_local_classes_resolve_through_localns() -> None:
    @dataclasses.dataclass
    class Local:
        n: int

    def f(x: Local) -> Local:
        return x

    with pytest.raises(DefinitionError, match="annotations cannot be read"):
        define(f)
    assert define(f, localns=locals()).args[0].kind is PortKind.MODEL


async def test_the_agent_uses_the_annotations_define_resolved() -> None:
    @dataclasses.dataclass
    class Local:
        n: int

    def f(x: Local) -> int:
        return x.n

    definition = define(f, localns=locals())
    kwargs = await aexpand_args(definition, f, {"x": {"n": 3}})
    assert isinstance(kwargs["x"], Local) and kwargs["x"].n == 3


def test_callable_objects_can_be_defined() -> None:
    class Scaler:
        def __call__(self, x: float) -> float:
            """Scale x."""
            return 2 * x

    definition = define(Scaler())
    assert [p.key for p in definition.args] == ["x"] and definition.name == "Scaler"

    def power(base: float, exponent: int) -> float:
        return float(base**exponent)

    squared = define(functools.partial(power, exponent=2))
    assert squared.name == "power" and [p.key for p in squared.args] == ["base", "exponent"]
    assert squared.args[1].default == 2  # the bound keyword becomes a default
    with pytest.raises(DefinitionError, match="is a class; register a function"):
        define(Scaler)


# -- round trips ---------------------------------------------------------------------------------


async def test_every_kind_round_trips() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    config = Config(threshold=0.5, levels=[1, 2], mode="slow", origin=Point(x=1, y=2))

    def echo(
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        when: dt.datetime,
        colour: Colour,
        level: Level,
        mode: Literal["fast", "slow"],
        maybe: int | None,
        numbers: list[int],
        table: dict[str, float],
        config: Config,
        point: Point,
        blob: Blob,
        blobs: list[Blob],
        holder: Holder,
        either: Point | Blob,
    ) -> tuple[
        str, int, float, bool, dt.datetime, Colour, Level, str, int | None, list[int],
        dict[str, float], Config, Point, Blob, list[Blob], Holder, Point | Blob,
    ]:  # fmt: skip
        assert isinstance(blob, Blob) and blob.data == [1, 2, 3]
        assert isinstance(colour, Colour) and isinstance(level, Level)
        assert isinstance(config, Config) and isinstance(config.origin, Point)
        return (
            text, count, ratio, flag, when, colour, level, mode, maybe, numbers, table,
            config, point, blob, blobs, holder, either,
        )  # fmt: skip

    result = await through_the_wire(
        echo,
        "hello",
        3,
        2,  # an int for a float
        True,
        when,
        Colour.GREEN,
        2,  # the value of an IntEnum member
        "slow",
        None,
        (1, 2),  # a tuple for a list
        {"a": 1.5},
        config,
        {"x": 4},  # a dict for a dataclass
        Blob([1, 2, 3]),
        [Blob([4]), Blob([5])],
        Holder(name="h", blobs=[Blob([6])]),
        Blob([7]),
    )
    assert result[:11] == (
        "hello", 3, 2.0, True, when, Colour.GREEN, Level.HIGH, "slow", None, [1, 2], {"a": 1.5},
    )  # fmt: skip
    assert isinstance(result[2], float) and result[4].utcoffset() == dt.timedelta(hours=2)
    assert result[11] == config
    assert result[12] == Point(x=4, y=0, tags=[])
    blob, blobs, holder, either = result[13:]
    assert isinstance(blob, Blob) and blob.data == [1, 2, 3]
    assert [b.data for b in blobs] == [[4], [5]]
    assert isinstance(holder, Holder) and holder.blobs[0].data == [6]
    assert isinstance(either, Blob) and either.data == [7]


async def test_the_wire_form_is_plain_json() -> None:
    def f(
        when: dt.datetime, colour: Colour, point: Point, blob: Blob, either: Point | Blob
    ) -> None:
        return None

    payload = await ashrink_args(
        define(f),
        (dt.datetime(2026, 5, 6, 7, 8), Colour.RED, Point(x=1), Blob([1]), Point(x=2)),
        {},
    )
    expected: dict[str, JSONValue] = {
        "when": "2026-05-06T07:08:00",  # naive stays naive
        "colour": "red",
        "point": {"x": 1, "y": 0, "tags": []},
        "blob": payload["blob"],
        "either": {"variant": 0, "value": {"x": 2, "y": 0, "tags": []}},
    }
    assert payload == expected
    assert STORE[str(payload["blob"])] == [1]
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


async def test_naive_datetimes_stay_naive() -> None:
    def f(when: dt.datetime) -> dt.datetime:
        return when

    naive = dt.datetime(2026, 1, 1, 12, 0)
    assert (await through_the_wire(f, naive)).tzinfo is None
    assert await through_the_wire(f, naive) == naive


async def test_generator_items_round_trip() -> None:
    definition = define(acount)
    kwargs = await aexpand_args(definition, acount, await ashrink_args(definition, (3,), {}))
    items = [await ashrink_returns(definition, acount, item) async for item in acount(**kwargs)]
    assert items == [[{"x": i, "y": 0, "tags": []}] for i in range(3)]
    assert await aexpand_returns(definition, items[2]) == Point(x=2)


async def test_defaults_are_filled_in_by_the_caller() -> None:
    def f(a: int, b: str = "b", c: Config | None = None, d: Colour = Colour.GREEN) -> None: ...

    assert await ashrink_args(define(f), (1,), {}) == {"a": 1, "b": "b", "c": None, "d": "green"}
    kwargs = await aexpand_args(define(f), f, {"a": 1})  # the agent fills them in too
    assert kwargs == {"a": 1, "b": "b", "c": None, "d": Colour.GREEN}


async def test_model_field_defaults_and_aliases() -> None:
    class Aliased(BaseModel):
        value: int = Field(alias="Value")
        unit: str = "m"

    def f(x: Aliased) -> Aliased:
        return x

    definition = define(f, localns=locals())
    assert [c.key for c in definition.args[0].children] == ["value", "unit"]
    payload = await ashrink_args(definition, ({"value": 3},), {})
    assert payload == {"x": {"value": 3, "unit": "m"}}
    kwargs = await aexpand_args(definition, f, payload)
    assert kwargs["x"] == Aliased(Value=3)


# -- structures -----------------------------------------------------------------------------------


async def test_unknown_structures_arrive_as_references_and_can_be_passed_on() -> None:
    STORE["kept"] = [9]

    def make() -> Blob:
        return Blob([], key="kept")

    def use(blob: Blob) -> int:
        return sum(blob.data)

    stranger = TypeRegistry()  # a caller that never saw the Blob class
    returned = await aexpand_returns(define(make), ["kept"], types=stranger)
    assert returned == StructureReference("test_definitions.Blob", "kept")
    assert "import it and decorate it with @arkitekt.structure" in repr(returned)
    assert await through_the_wire(use, returned, types=stranger) == 9
    assert await through_the_wire(use, "kept") == 9  # a plain reference works too


async def test_structures_of_another_type_are_refused() -> None:
    def use(blob: Blob) -> None: ...

    with pytest.raises(ArgumentError, match="must be a Blob, got <") as caught:
        await ashrink_args(define(use), (Table("t"),), {})
    assert caught.value.port == "blob"
    with pytest.raises(ArgumentError, match=r"reference to samples\.Table"):
        await ashrink_args(define(use), (StructureReference("samples.Table", "t"),), {})


async def test_an_expand_failure_names_the_argument() -> None:
    def use(blob: Blob) -> None: ...

    with pytest.raises(ArgumentError, match="could not be expanded") as caught:
        await aexpand_args(define(use), use, {"blob": "no-such-key"})
    assert caught.value.port == "blob" and isinstance(caught.value.__cause__, KeyError)


def test_structure_registration() -> None:
    @structure(identifier="tests.Volume")
    class Volume:
        async def shrink(self) -> str:
            return "v"

        @classmethod
        async def expand(cls, value: str) -> Volume:
            return cls()

    assert default_types.get("tests.Volume") is Volume
    assert structure_identifier(Volume) == "tests.Volume"
    assert register_structure(Blob) is Blob

    class NotOne:
        async def shrink(self) -> str:
            return ""

        async def expand(self, value: str) -> None: ...  # not a classmethod

    assert not is_structure(NotOne)
    with pytest.raises(TypeError, match="is not a structure"):
        structure(NotOne)
    with pytest.raises(TypeError, match="only those can be known"):
        TypeRegistry().add(int)


# -- what the caller and the agent refuse --------------------------------------------------------

BASE: tuple[Any, ...] = (
    "a",
    1,
    1.0,
    True,
    dt.datetime(2026, 1, 1),
    "red",
    1,
    "fast",
    None,
    [1],
    [1.0],
    {},
    {},
)
REST = {"config": {"threshold": 1}, "point": {"x": 1}, "ref": "t", "either": Table("t")}
KEYS = [port.key for port in define(everything).args]


def valid(**changes: Any) -> dict[str, Any]:
    """All arguments of ``everything`` by keyword, with some changed."""
    return {**dict(zip(KEYS, BASE, strict=False)), **REST, **changes}


@pytest.mark.parametrize(
    ("changes", "port", "mentions"),
    [
        (
            {"count": "two"},
            "count",
            "everything(): argument 'count' must be an int, got 'two' (str)",
        ),
        ({"count": True}, "count", "got True (bool)"),
        ({"ratio": "x"}, "ratio", "must be a float"),
        ({"ratio": float("nan")}, "ratio", "finite"),
        ({"flag": 1}, "flag", "must be a bool"),
        ({"when": "2026-01-01"}, "when", "must be a datetime"),
        ({"colour": "blue"}, "colour", "one of 'red', 'green'"),
        ({"colour": Level.LOW}, "colour", "one of 'red', 'green'"),
        ({"level": 3}, "level", "one of 1, 2"),
        ({"mode": "medium"}, "mode", "one of 'fast', 'slow'"),
        ({"maybe": 1.5}, "maybe", "must be an int"),
        ({"numbers": [1, "two"]}, "numbers[1]", "must be an int"),
        ({"numbers": {1}}, "numbers", "must be list of int"),
        ({"table": {1: 2.0}}, "table", "must have str keys"),
        ({"mapping": {"a": [1, None]}}, "mapping['a'][1]", "got None"),
        ({"config": {"threshold": 1, "levels": [1, 2, "x"]}}, "config.levels[2]", "an int"),
        ({"config": {"threshold": 1, "origin": {"y": 1}}}, "config.origin.x", "is missing"),
        ({"config": {}}, "config.threshold", "is missing"),
        ({"point": {"x": 1, "z": 2}}, "point.z", "is not a field of Point"),
        ({"point": Config(threshold=1)}, "point.x", "is missing"),
        ({"point": 3}, "point", "must be a Point, got 3 (int)"),
        ({"ref": 3}, "ref", "must be a Table"),
        ({"either": 3}, "either", "must be a Config or Table, got 3 (int)"),
        ({"nope": 1}, "nope", "is not a parameter of everything()"),
    ],
)
async def test_bad_arguments_are_refused_by_the_caller(
    changes: dict[str, Any], port: str, mentions: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(define(everything), (), valid(**changes))
    assert caught.value.port == port
    assert mentions in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ArkitektError)


@pytest.mark.parametrize(
    ("args", "kwargs", "port", "mentions"),
    [
        (("a",), {"text": "b"}, "text", "was given twice"),
        (("a", 1), {}, "ratio", "is required (missing: 'ratio', 'flag'"),
        (tuple(range(30)), {}, "", "everything(): takes 20 arguments (text, count"),
    ],
)
async def test_binding_errors_like_python(
    args: tuple[Any, ...], kwargs: dict[str, Any], port: str, mentions: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        await ashrink_args(define(everything), args, kwargs)
    assert caught.value.port == port and mentions in str(caught.value)


async def test_positional_and_keyword_arguments_bind_like_python() -> None:
    by_keyword = await ashrink_args(define(everything), (), valid())
    by_position = await ashrink_args(define(everything), BASE, REST)
    assert by_keyword == by_position

    def f(a: int, *, scale: float = 1.0) -> None: ...

    # the definition has no keyword-only notion: a remote caller may pass it by position
    assert await ashrink_args(define(f), (1, 2), {}) == {"a": 1, "scale": 2.0}
    assert await aexpand_args(define(f), f, {"a": 1, "scale": 2.0}) == {"a": 1, "scale": 2.0}


async def test_the_whole_call_passes_when_the_arguments_fit() -> None:
    payload = await ashrink_args(define(everything), BASE, REST)
    assert payload["config"] == {
        "threshold": 1.0,
        "levels": [],
        "mode": "fast",
        "origin": None,
        "colour": "red",
    }
    assert payload["either"] == {"variant": 1, "value": "t"}
    kwargs = await aexpand_args(define(everything), everything, json.loads(json.dumps(payload)))
    assert isinstance(kwargs["either"], Table) and kwargs["config"] == Config(threshold=1)
    assert kwargs["level"] is Level.LOW and kwargs["described"] == "x"


@pytest.mark.parametrize(
    ("payload", "port", "mentions"),
    [
        ({"count": "1"}, "count", "must be an int"),
        ({"ratio": "1.0"}, "ratio", "must be a float"),
        ({"when": "yesterday"}, "when", "ISO 8601"),
        ({"colour": "RED"}, "colour", "one of"),
        ({"numbers": "1,2"}, "numbers", "must be list of int"),
        ({"either": {"variant": 5, "value": "t"}}, "either", "tagged union"),
        ({"nope": 1}, "nope", "is not a parameter"),
    ],
)
async def test_the_agent_checks_again(payload: dict[str, Any], port: str, mentions: str) -> None:
    valid = await ashrink_args(define(everything), BASE, REST)
    with pytest.raises(ArgumentError) as caught:
        await aexpand_args(define(everything), everything, {**valid, **payload})
    assert caught.value.port == port and mentions in str(caught.value)


async def test_the_agent_enforces_pydantic_constraints_and_validators() -> None:
    class Positive(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def positive(cls, value: int) -> int:
            if value <= 0:
                raise ValueError("must be positive")
            return value

    def f(k: Annotated[int, Field(ge=0, description="a count")], p: Positive) -> None: ...

    definition = define(f, localns=locals())
    assert definition.args[0].description == "a count"
    with pytest.raises(ArgumentError, match="greater than or equal to 0") as caught:
        await aexpand_args(definition, f, {"k": -1, "p": {"n": 1}})
    assert caught.value.port == "k"
    with pytest.raises(ArgumentError, match="must be positive") as caught:
        await aexpand_args(definition, f, {"k": 1, "p": {"n": 0}})
    assert caught.value.port == "p.n"
    assert (await aexpand_args(definition, f, {"k": 1, "p": {"n": 2}}))["p"] == Positive(n=2)


def test_argument_errors_survive_pickling() -> None:
    import pickle

    error = ArgumentError("greet", "times", "must be an int, got 'two' (str)")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.port, copy.reason, str(copy)) == (error.port, error.reason, str(error))
    assert str(error) == "greet(): argument 'times' must be an int, got 'two' (str)"


# -- what the function gives -----------------------------------------------------------------------


async def test_wrong_return_values_are_reported() -> None:
    def half(x: int) -> int:
        return x

    def pair(x: int) -> tuple[int, Config]:
        return x, Config(threshold=1)

    def nothing() -> None:
        return None

    with pytest.raises(ReturnValueError) as caught:
        await ashrink_returns(define(half), half, "not a number")
    assert str(caught.value) == (
        "half(): return value 'return0' must be an int, got 'not a number' (str)"
    )
    assert caught.value.port == "return0" and isinstance(caught.value, TypeError)
    with pytest.raises(ReturnValueError, match="must give a tuple of 2 values, gave 3"):
        await ashrink_returns(define(pair), pair, 3)
    with pytest.raises(ReturnValueError) as caught:
        await ashrink_returns(define(pair), pair, (1, {"threshold": "high"}))
    assert caught.value.port == "return1.threshold"
    with pytest.raises(ReturnValueError, match="annotated to return None"):
        await ashrink_returns(define(nothing), nothing, 3)
    with pytest.raises(ReturnValueError, match="got None"):
        await ashrink_returns(define(half), half, None)
    assert await ashrink_returns(define(pair), pair, [2, {"threshold": 1}]) == [
        2,
        {"threshold": 1.0, "levels": [], "mode": "fast", "origin": None, "colour": "red"},
    ]


async def test_the_caller_expands_what_it_knows_and_keeps_the_rest_raw() -> None:
    def f() -> tuple[Colour, Config, dt.datetime]: ...

    wire: list[JSONValue] = ["green", {"threshold": 0.5, "colour": "red"}, "2026-01-01T00:00:00Z"]
    known = await aexpand_returns(define(f), wire)
    assert known == (Colour.GREEN, Config(threshold=0.5), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    raw = await aexpand_returns(define(f), wire, types=TypeRegistry())
    assert raw[0] == "green" and not isinstance(raw[0], Colour)
    assert raw[1] == {
        "threshold": 0.5,
        "levels": [],
        "mode": "fast",
        "origin": None,
        "colour": "red",
    }
    with pytest.raises(ReturnValueError, match="expected 3 return values"):
        await aexpand_returns(define(f), ["green"])
    with pytest.raises(ReturnValueError) as caught:
        await aexpand_returns(define(f), ["purple", {"threshold": 0.5}, "2026-01-01"])
    assert caught.value.port == "return0"
    assert await aexpand_returns(define(count), [4]) == 4

    def none() -> None: ...

    assert await aexpand_returns(define(none), []) is None
