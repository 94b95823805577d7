"""Datasets: named groups of images, files, tables and child datasets, nested, shared as a unit,
passed by reference through a remote call, shown in notebooks. (Who may reach what through a shared
dataset: tests/security/test_dataset_access.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from servers import TestServer

from arkitekt import (
    DataNotFoundError,
    Dataset,
    ForbiddenError,
    InvalidDataError,
    Table,
    UsageError,
    adataset,
    adatasets,
    afrom_df,
    call,
    dataset,
    datasets,
    find,
    from_df,
    from_file,
    from_xarray,
    get_dataset,
    get_image,
    get_table,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    folder = tmp_path_factory.mktemp("datasets") / "server"
    with TestServer.in_process(folder, users=("alice", "bob")) as started:
        yield started


@pytest.fixture(scope="module")
def alice(server: TestServer) -> Iterator[Any]:
    with server.app("alice", "datasets-test") as app:
        yield app


def _image(name: str) -> Any:
    return from_xarray(np.zeros((4, 4), "uint8"), name=name, dims=["y", "x"])


def test_members_in_and_out(alice: Any, tmp_path: Path) -> None:
    ds = dataset("experiment 12")
    assert isinstance(ds, Dataset) and ds.name == "experiment 12" and ds.mine
    assert dataset("experiment 12") == ds  # running the notebook again finds the same one
    assert get_dataset(ds.id) == ds
    img, other = _image("member 1"), _image("member 2")
    (tmp_path / "notes.txt").write_text("notes")
    a_file = from_file(tmp_path / "notes.txt")
    ds.add(img, other, a_file)
    ds.add(img)  # adding again changes nothing
    assert ds.images() == [other, img]  # latest added first
    assert ds.files() == [a_file]
    ds.remove(a_file)
    assert ds.files() == []
    assert get_image(img.id) == img  # taking out deletes nothing
    assert ds.images(limit=1, offset=1) == [img]
    img.delete()  # a deleted image leaves its datasets
    assert ds.images() == [other]
    with pytest.raises(UsageError, match="holds Images, Files, Tables and Datasets"):
        ds.add("not an image")  # type: ignore[arg-type]


def test_tables_are_members(alice: Any) -> None:
    ds = dataset("measured")
    img = _image("measured image")
    first = from_df(pd.DataFrame({"area": [1.0, 2.0]}), name="first", image=img)
    second = from_df(pd.DataFrame({"area": [3.0]}), name="second")
    ds.add(img, first, second)
    ds.add(first)  # adding again changes nothing
    assert ds.tables() == [second, first]  # latest added first
    assert ds.tables(limit=1, offset=1) == [first]
    assert ds.images() == [img] and ds.files() == []
    ds.remove(second)
    assert ds.tables() == [first] and get_table(second.id) == second  # nothing deleted
    first.delete()  # a deleted table leaves its datasets
    assert ds.tables() == []
    with pytest.raises(InvalidDataError, match="tables: no table"):
        ds.add(Table(second._info.model_copy(update={"id": "0" * 32}), alice))


async def test_tables_of_a_dataset_async(server: TestServer) -> None:
    async with server.app("alice", "datasets-tables-async"):
        ds = await adataset("async tables")
        table = await afrom_df(pd.DataFrame({"a": [1]}), name="async member")
        await ds.aadd(table)
        assert await ds.atables() == [table]
        await ds.aremove(table)
        assert await ds.atables() == []
        await ds.adelete()


def test_nesting(alice: Any) -> None:
    top = dataset("nested top")
    day1 = dataset("day 1", parent=top)
    day2 = dataset("day 2", parent=top.id)
    assert day1.parent_id == top.id and day1.parent() == top and top.parent() is None
    assert top.children() == [day2, day1]
    assert datasets(parent=top) == [day2, day1]
    assert top not in datasets(parent=top) and top in datasets(root=True)
    assert dataset("day 1", parent=top) == day1 and dataset("day 1") != day1  # by place
    with pytest.raises(InvalidDataError, match="cycle"):
        day1.add(top)
    with pytest.raises(InvalidDataError, match="cycle"):
        top.add(top)
    loose = dataset("moved in")
    day1.add(loose)
    assert get_dataset(loose.id).parent_id == day1.id
    day1.remove(loose)
    assert get_dataset(loose.id).parent_id is None
    img = _image("kept")
    day2.add(img)
    top.delete()  # children go with it, members stay
    for gone in (top, day1, day2):
        with pytest.raises(DataNotFoundError):
            get_dataset(gone.id)
    assert get_image(img.id) == img


def test_depth_and_members_are_bounded(alice: Any) -> None:
    chain = [dataset("level 1")]
    for level in range(2, 17):
        chain.append(dataset(f"level {level}", parent=chain[-1]))
    with pytest.raises(InvalidDataError, match="at most 16 levels"):
        dataset("level 17", parent=chain[-1])
    other = dataset("two levels")
    dataset("below", parent=other)
    with pytest.raises(InvalidDataError, match="at most 16 levels"):
        chain[-2].add(other)  # 15 + 2 levels
    img = _image("many times")
    with pytest.raises(InvalidDataError, match="at most 1000 per change"):
        chain[0].add(*[img] * 1001)


def test_queries_filter_and_page(alice: Any) -> None:
    made = [dataset(f"query set {n}") for n in range(4)]
    newest_first = list(reversed(made))
    assert datasets(name__contains="QUERY SET") == newest_first
    assert datasets(name="query set 2") == [made[2]]
    assert datasets(name__contains="query set", limit=2, offset=1) == newest_first[1:3]
    assert datasets(name__contains="query set", mine=True) == newest_first


def test_bad_names_are_refused(alice: Any) -> None:
    with pytest.raises(InvalidDataError, match="non-empty"):
        dataset(" ")
    with pytest.raises(InvalidDataError, match="1 to 1024"):
        dataset("x" * 1025)
    with pytest.raises(DataNotFoundError):
        dataset("orphan", parent="0" * 32)


def test_sharing_shows_the_dataset_and_what_is_in_it(server: TestServer, alice: Any) -> None:
    ds = dataset("shared set")
    sub = dataset("shared child", parent=ds)
    img, inner = _image("shared member"), _image("inner member")
    ds.add(img)
    sub.add(inner)
    with server.app("bob", "datasets-bob") as bob:
        with pytest.raises(DataNotFoundError):
            get_dataset(ds.id, app=bob)
        assert ds.share(users=["bob"]) == ["bob"]
        seen = get_dataset(ds.id, app=bob)
        assert not seen.mine
        assert seen.images() == [img] and seen.children() == [sub]
        assert sub.id in {d.id for d in datasets(app=bob)}
        assert get_dataset(sub.id, app=bob).images() == [inner]
        np.testing.assert_array_equal(get_image(inner.id, app=bob).data.values, 0)
        with pytest.raises(ForbiddenError, match="only the owner"):
            seen.add(_image("alice's, by bob's hand"))
        with pytest.raises(ForbiddenError):
            seen.share(users=["bob"], everyone=True)
        assert ds.unshare(users=["bob"]) == []
        with pytest.raises(DataNotFoundError):
            get_image(inner.id, app=bob)
        with pytest.raises(DataNotFoundError):
            seen.images()


async def test_async_twins(server: TestServer) -> None:
    async with server.app("alice", "datasets-async"):
        ds = await adataset("async set")
        sub = await adataset("async child", parent=ds)
        assert await adatasets(parent=ds) == [sub]
        assert await ds.achildren() == [sub]
        await ds.adelete()


def count_images(ds: Dataset) -> int:
    """How many images a dataset holds."""
    return len(ds.images())


def test_dataset_travels_by_reference_through_a_call(server: TestServer) -> None:
    with server.app("alice", "datasets-agent") as app:
        app.register(count_images)
        app.serve()
        ds = dataset("called set")
        ds.add(_image("one"), _image("two"))
        node = find(interface="count_images")
        assert node.definition.args[0].identifier == "@arkitekt/dataset"
        assert call(node, ds) == 2


def test_datasets_show_in_notebooks(alice: Any) -> None:
    ds = dataset("<i>shown</i>")
    assert "&lt;i&gt;shown&lt;/i&gt;" in ds._repr_html_()
    table = datasets(name="<i>shown</i>")._repr_html_()  # type: ignore[attr-defined]
    assert "&lt;i&gt;shown&lt;/i&gt;" in table and ds.id in table
    assert "Dataset(" in repr(ds)


def test_the_rois_and_datasets_example_runs() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "rois_and_datasets.py")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['cell 2: ellipse', 'cell 1: rectangle']",
        "{'z': 4, 'y': 41, 'x': 71}",
        "experiment 12 -> ['day 1']",
        "['stack', 'stack > 0.5']",
    ]


def test_datasets_per_user_are_bounded(server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from arkitekt.server.storage import datasets as server_datasets

    with server.app("bob", "datasets-bound") as bob:
        owned = len(datasets(mine=True, app=bob))
        monkeypatch.setattr(server_datasets, "MAX_DATASETS", owned + 1)  # read by the server
        dataset("the last one allowed", app=bob)
        with pytest.raises(InvalidDataError, match="the most allowed"):
            dataset("one too many", app=bob)


def test_every_member_kind_is_named_explicitly() -> None:
    """What may become visible through a dataset is listed, never a fallthrough: another
    model is refused rather than treated like a file."""
    from arkitekt.server.storage.collection_models import Roi, via_datasets

    with pytest.raises(TypeError, match="not a dataset member kind"):
        via_datasets(Roi, "someone")  # type: ignore[arg-type]
