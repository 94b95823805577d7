"""Module-level operations used outside any app say so in arkitekt's words (not koil's), sync
and async alike, in a script, a thread and a running loop; the list comes from the public names.
(Inside an app, every one of them is exercised by the storage and remote-function tests.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import arkitekt
from arkitekt import NoActiveAppError, NotInAssignationError

CALLS: dict[str, tuple[Any, ...]] = {
    "find": ("greet",),
    "find_all": (),
    "from_xarray": (np.zeros((2, 2)), "x"),
    "get_image": ("some-id",),
    "images": (),
    "from_file": (__file__,),
    "get_file": ("some-id",),
    "files": (),
    "from_df": (pd.DataFrame({"a": [1]}), "x"),
    "get_table": ("some-id",),
    "tables": (),
    "delete": ("some-id",),
    "add_roi": ("some-id", "point", [[0, 0]]),
    "rois": (),
    "get_roi": ("some-id",),
    "dataset": ("experiment",),
    "get_dataset": ("some-id",),
    "datasets": (),
    "get_state": ("0" * 32, "Stage"),
    "watch_state": ("0" * 32, "Stage"),
}


def test_every_public_operation_is_covered_here() -> None:
    """Every public I/O operation (a name with an async twin ``a<name>``) is in CALLS, or is
    one of the functions only a served call may use."""
    operations = {
        name
        for name in arkitekt.__all__
        if f"a{name}" in arkitekt.__all__ and callable(getattr(arkitekt, name))
    }
    assert operations - set(CALLS) - set(NODE_CALLS) == set(SERVED_ONLY) - {"check_cancelled"}


NODE_CALLS = {"call", "iterate"}
"""They take a Node, which knows the app it was found through: no ambient app is needed."""


SERVED_ONLY = {"progress": (50,), "log": ("hello",), "check_cancelled": ()}


@pytest.mark.parametrize("name", sorted(SERVED_ONLY))
def test_served_call_functions_outside_a_served_call(name: str) -> None:
    with pytest.raises(NotInAssignationError, match="only available inside a function"):
        getattr(arkitekt, name)(*SERVED_ONLY[name])
    if name != "check_cancelled":

        async def main() -> None:
            with pytest.raises(NotInAssignationError):
                await getattr(arkitekt, "a" + name)(*SERVED_ONLY[name])

        asyncio.run(main())


def invoke(name: str) -> None:
    """Call the sync operation (a generator starts at its first item, like ``iterate``)."""
    result = getattr(arkitekt, name)(*CALLS[name])
    if isinstance(result, Iterator):
        next(result)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_sync_operation_outside_an_app(name: str) -> None:
    with pytest.raises(NoActiveAppError, match=rf"{name}\(\) needs an active arkitekt app"):
        invoke(name)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_sync_operation_outside_an_app_in_a_thread(name: str) -> None:
    caught: list[BaseException] = []

    def run() -> None:
        try:
            invoke(name)
        except BaseException as e:
            caught.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert len(caught) == 1 and isinstance(caught[0], NoActiveAppError), caught


@pytest.mark.parametrize("name", sorted(CALLS))
def test_async_operation_outside_an_app(name: str) -> None:
    async def main() -> None:
        with pytest.raises(NoActiveAppError, match=rf"{name}\(\) needs an active arkitekt app"):
            await getattr(arkitekt, "a" + name)(*CALLS[name])

    asyncio.run(main())


def test_sync_operation_inside_a_running_loop_outside_an_app() -> None:
    async def main() -> None:
        with pytest.raises(NoActiveAppError):
            arkitekt.images()

    asyncio.run(main())
