"""Functions and types for tests/test_definitions.py, importable from a fresh interpreter too
(the definition hash must be the same in every process)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, Field


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


class Config(BaseModel):
    threshold: float = Field(description="cut-off, 0 to 1")
    levels: list[int] = []
    mode: Literal["fast", "slow"] = "fast"
    origin: Point | None = None
    colour: Colour = Colour.RED


class Table:
    """A structure: only its key travels."""

    __structure_identifier__ = "samples.Table"

    def __init__(self, key: str) -> None:
        self.key = key

    async def shrink(self) -> str:
        return self.key

    @classmethod
    async def expand(cls, value: str) -> Table:
        return cls(value)


def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    when: dt.datetime,
    colour: Colour,
    level: Level,
    mode: Literal["fast", "slow"],
    maybe: Optional[int],  # noqa: UP045 - the old spelling must work too
    numbers: list[int],
    sequence: Sequence[float],
    table: dict[str, float],
    mapping: Mapping[str, list[int]],
    config: Config,
    point: Point,
    ref: Table,
    either: Config | Table,
    described: Annotated[str, "said in the annotation"] = "x",
    note: str | None = None,
    repeat: int = 2,
) -> tuple[str, Table]:
    """Use every supported type.

    The long description.

    Args:
        text: some text
        count: how many
    Returns:
        the text again
        the table
    """
    return text, ref


def count(to: int) -> Iterator[int]:
    """Count up.

    Args:
        to: where to stop

    Yields:
        the numbers, one by one
    """
    yield from range(to)


async def acount(to: int) -> AsyncIterator[Point]:
    """Count up, asynchronously, in points."""
    for i in range(to):
        yield Point(x=i)
