"""Tables by reference (parquet on the datalayer), on each datalayer: the local folder (served
over HTTP to a remote-mode app) and S3 (moto's server on loopback)."""

from __future__ import annotations

import datetime as dt
import io
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from koil import unkoil
from s3_helpers import s3_settings
from servers import SWEEP_GRANT_TTL, Servers, TestServer

from arkitekt import (
    DataNotFoundError,
    InvalidDataError,
    Table,
    TransferError,
    atables,
    call,
    find,
    from_df,
    from_xarray,
    get_table,
    tables,
)
from arkitekt.services.storage import api

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module", params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestServer]:
    tmp = tmp_path_factory.mktemp(f"tables-{request.param}")
    s3 = s3_settings(request.getfixturevalue("s3_endpoint")) if request.param == "s3" else {}
    with TestServer.in_process(tmp / "server", users=("alice", "bob"), **s3) as server:
        yield server


@pytest.fixture(scope="module")
def alice(storage: TestServer) -> Iterator[Any]:
    with storage.app("alice", "tables-test") as app:
        yield app


def _measurements(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "small": np.arange(n, dtype="int16") % 100,
            "area": rng.random(n) * 500,
            "ratio": rng.random(n).astype("float32"),
            "label": pd.array([f"cell-{i % 7}" for i in range(n)], dtype="string"),
            "dividing": (np.arange(n) % 3) == 0,
            "seen": [start + pd.Timedelta(seconds=i) for i in range(n)],
            "maybe": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
        }
    )


# -- round trips -----------------------------------------------------------------------------------


def test_pandas_round_trip_keeps_dtypes_and_nulls(alice: Any) -> None:
    df = _measurements()
    table = from_df(df, name="measurements")
    assert isinstance(table, Table) and table.num_rows == len(df) and table.mine
    assert table.columns == list(df.columns)
    assert table.schema["id"] == "int64" and table.schema["seen"].startswith("timestamp")
    back = get_table(table.id).df()
    pd.testing.assert_frame_equal(back, df)
    assert back["maybe"].isna().sum() == 200


def test_arrow_round_trip(alice: Any) -> None:
    arrow = pa.table(
        {
            "x": pa.array([1, None, 3], pa.int32()),
            "name": pa.array(["a", None, "c"]),
            "flag": pa.array([True, False, None]),
            "when": pa.array([dt.datetime(2026, 1, 1), None, dt.datetime(2026, 1, 3)]),
        }
    )
    table = from_df(arrow, name="arrow")
    assert table.arrow().equals(arrow)
    assert table.arrow(columns=["name"]).column_names == ["name"]


def test_empty_table(alice: Any) -> None:
    df = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="float64")})
    table = from_df(df, name="empty")
    assert table.num_rows == 0
    pd.testing.assert_frame_equal(table.df(), df)
    assert table.query("a > 1").empty


def test_large_table_has_many_row_groups_and_query_reads_a_subset(alice: Any) -> None:
    n = 1_000_000
    df = pd.DataFrame({"id": np.arange(n), "area": np.arange(n) * 0.5, "noise": np.random.rand(n)})
    table = from_df(df, name="large")
    assert table.num_row_groups == 16  # 64k rows each
    full = table.df()
    full_stats = table.read_stats
    pd.testing.assert_frame_equal(full, df)
    subset = table.query("area >= 490000 and id < 990000", columns=["id", "area"])
    query_stats = table.read_stats
    assert list(subset.columns) == ["id", "area"]
    assert subset["id"].tolist() == list(range(980000, 990000))
    # the footer and the matching row group's two columns: a small part of the whole
    assert query_stats.bytes < full_stats.bytes / 8, (query_stats, full_stats)
    assert query_stats.requests <= 6, query_stats


def test_the_server_counts_what_the_reader_counts(storage: TestServer, alice: Any) -> None:
    """The local datalayer's object route counts GETs itself: it sees exactly the requests the
    client's reader counted, so the reader's byte counts (a query's a fraction of a full
    read's) are what the datalayer served."""
    if storage.config.datalayer != "local":
        pytest.skip("requests are counted by the local datalayer's HTTP routes")
    n = 1_000_000  # 16 row groups
    table = from_df(pd.DataFrame({"id": np.arange(n), "v": np.arange(n) % 1000}), name="counted")
    stats = storage.state.stats
    before = stats.get("datalayer_gets", 0)
    table.df()
    full, full_bytes = stats["datalayer_gets"] - before, table.read_stats.bytes
    assert full == table.read_stats.requests and full_bytes >= table.size_bytes * 0.9
    before = stats["datalayer_gets"]
    found = table.query("id == 5", columns=["id"])
    assert found["id"].tolist() == [5]
    assert stats["datalayer_gets"] - before == table.read_stats.requests
    assert table.read_stats.bytes < full_bytes / 8, (table.read_stats, full_bytes)


def test_query_forms(alice: Any) -> None:
    df = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "cell area": [10.0, 200.0, 300.0, None],
            "label": ["a", "b", "a", "c"],
        }
    )
    table = from_df(df, name="forms")
    assert table.query("`cell area` > 100")["id"].tolist() == [2, 3]
    assert table.query("label == 'a' or id in [4]")["id"].tolist() == [1, 3, 4]
    assert table.query("~(id > 1) | (label != 'b') & (id >= 3)")["id"].tolist() == [1, 3, 4]
    assert table.query("not (id > 1 or label == 'c')")["id"].tolist() == [1]
    assert table.query("`cell area`.isnull()")["id"].tolist() == [4]
    assert table.query("1 < id <= 3")["id"].tolist() == [2, 3]
    assert table.query("id * 2 > 6")["id"].tolist() == [4]


def test_query_compares_times_with_iso_strings(alice: Any) -> None:
    table = from_df(_measurements(100), name="timed")
    found = table.query("seen >= '2026-01-01T00:01:30' and seen < '2026-01-01T00:01:32+00:00'")
    assert found["id"].tolist() == [90, 91]
    with pytest.raises(InvalidDataError, match="not an ISO 8601 time"):
        table.query("seen > 'yesterday'")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("nope > 1", "no column 'nope'"),
        ("__import__('os').system('true')", "is not supported"),
        ("id > ", "not a valid condition"),
        ("open('/etc/passwd').read() == 'x'", "is not supported"),
        ("label > 3", "does not fit the columns' types"),
        ("x" * 5000, "at most 4096"),
    ],
)
def test_bad_queries_are_refused(alice: Any, where: str, message: str) -> None:
    table = from_df(pd.DataFrame({"id": [1], "label": ["a"]}), name="bad-queries")
    with pytest.raises(InvalidDataError, match=message):
        table.query(where)


# -- links to images ------------------------------------------------------------------------------


def test_linked_to_an_image(alice: Any) -> None:
    img = from_xarray(np.zeros((4, 4), "uint8"), name="cells", dims=["y", "x"])
    roi = img.add_roi(kind="point", vectors=[[1, 1]], label="cell 1")
    other = img.add_roi(kind="point", vectors=[[2, 2]], label="cell 2")
    table = from_df(pd.DataFrame({"id": [1, 2]}), name="per-cell", image=img, roi=roi)
    assert table.image_id == img.id and table.roi_id == roi.id
    assert table.image() == img
    assert [t.id for t in tables(image=img)] == [table.id]
    assert [t.id for t in tables(image=img.id, roi=roi.id, mine=True)] == [table.id]
    assert [t.id for t in tables(roi=roi)] == [table.id]
    assert tables(image=img, roi=other) == []
    assert tables(roi="0" * 32) == []
    assert [t.id for t in tables(name__contains="PER-C")] == [table.id]
    assert unkoil(atables, name="per-cell", limit=1, offset=1) == []
    img.delete()  # the table stays, about no image (nor ROI) any more
    assert get_table(table.id).image_id is None
    assert get_table(table.id).roi_id is None


def test_linked_to_a_roi(alice: Any) -> None:
    img = from_xarray(np.zeros((4, 4), "uint8"), name="roi cells", dims=["y", "x"])
    roi = img.add_roi(kind="rectangle", vectors=[[0, 0], [2, 2]], label="nucleus")
    # the ROI alone links its image too; an id works like the Roi
    table = from_df(pd.DataFrame({"area": [4.0]}), name="per-roi", roi=roi.id)
    assert (table.roi_id, table.image_id) == (roi.id, img.id)
    assert table.roi() == roi and table.image() == img and roi.id in table._repr_html_()
    assert [t.id for t in tables(roi=roi)] == [table.id]
    assert [t.id for t in tables(image=img)] == [table.id]
    roi.delete()  # the link is cleared (ON DELETE SET NULL), the table and its image stay
    found = get_table(table.id)
    assert found.roi_id is None and found.roi() is None and found.image_id == img.id
    assert tables(roi=roi.id) == []
    assert found.df()["area"].tolist() == [4.0]


def test_a_roi_must_be_on_the_image_named(alice: Any) -> None:
    img = from_xarray(np.zeros((4, 4), "uint8"), name="first", dims=["y", "x"])
    elsewhere = from_xarray(np.zeros((4, 4), "uint8"), name="second", dims=["y", "x"])
    roi = elsewhere.add_roi(kind="point", vectors=[[1, 1]])
    # checked by the client when it holds the Roi, and by the server for ids
    with pytest.raises(InvalidDataError, match="roi= is on image"):
        from_df(pd.DataFrame({"a": [1]}), name="mismatched", image=img, roi=roi)
    with pytest.raises(InvalidDataError, match="on another image"):
        from_df(pd.DataFrame({"a": [1]}), name="mismatched", image=img.id, roi=roi.id)
    with pytest.raises(DataNotFoundError):
        from_df(pd.DataFrame({"a": [1]}), name="mismatched", roi="0" * 32)
    with pytest.raises(InvalidDataError, match="roi= takes a Roi"):
        from_df(pd.DataFrame({"a": [1]}), name="mismatched", roi=42)  # type: ignore[arg-type]
    assert tables(name="mismatched") == []


def test_a_roi_deleted_while_linking_is_no_such_roi(storage: TestServer, alice: Any) -> None:
    """The ROI is checked, then the table recorded: a ROI deleted in between is refused by the
    foreign key and answered as no such ROI (not as a database error)."""
    from arkitekt.server.storage.catalogue import NotFound

    state = storage.state.storage
    assert state is not None
    [(owner,)] = storage.stored_rows("SELECT id FROM users WHERE username = 'alice'")
    with pytest.raises(NotFound, match="no such image or roi"):
        storage.call(
            lambda: state.catalogue.start_table(
                owner_id=owner,
                name="raced",
                size_bytes=8,
                image_id=None,
                roi_id="0" * 32,
                datalayer="local",
                deadline=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
            )
        )
    assert storage.stored_rows("SELECT id FROM storage_tables WHERE name = 'raced'") == []


def test_linking_to_an_unknown_image_fails(alice: Any) -> None:
    with pytest.raises(DataNotFoundError):
        from_df(pd.DataFrame({"id": [1]}), name="orphan", image="0" * 32)
    assert tables(name="orphan") == []


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_names_the_argument(alice: Any) -> None:
    with pytest.raises(InvalidDataError, match="df must be a pandas DataFrame"):
        from_df([1, 2, 3], name="list")
    with pytest.raises(InvalidDataError, match="column names must be strings"):
        from_df(pd.DataFrame({0: [1], 1: [2]}), name="ints")
    with pytest.raises(InvalidDataError, match="column 'obj'"):
        from_df(pd.DataFrame({"ok": [1, 2], "obj": [object(), object()]}), name="objects")
    with pytest.raises(InvalidDataError, match="at most 4096"):
        from_df(pd.DataFrame({f"c{i}": [i] for i in range(4097)}), name="wide")
    with pytest.raises(InvalidDataError, match="at most 1024 characters"):
        from_df(pd.DataFrame({"x" * 1025: [1]}), name="long")
    with pytest.raises(InvalidDataError, match="name must be a non-empty string"):
        from_df(pd.DataFrame({"a": [1]}), name="")
    with pytest.raises(DataNotFoundError):
        get_table("f" * 32)


# -- failures leave nothing behind -----------------------------------------------------------------


def test_failed_upload_is_discarded(storage: TestServer, alice: Any) -> None:
    before = storage.stored_keys("tables")

    # the server refuses what is not parquet (written by hand through the write grant)
    client = alice.storage.graphql
    upload = unkoil(
        api.arequest_table_upload, api.TableUploadInput(name="fake", sizeBytes=16), client=client
    )
    import io

    from arkitekt.services.storage import file_bytes

    fake = file_bytes.Source(
        io.BytesIO(b"PAR1" + b"x" * 4 + struct.pack("<I", 4) + b"PAR1"), "d", 16
    )
    unkoil(file_bytes.put, upload.grant, fake, lambda n: None)
    with pytest.raises(Exception, match="parquet footer"):
        unkoil(api.afinish_table_upload, upload.id, client=client)
    assert tables(name="fake") == []
    assert storage.stored_keys("tables") == before


def test_upload_cut_short_is_discarded(
    storage: TestServer, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails midway (the grant expired, the connection dropped) is aborted."""
    before = storage.stored_keys("tables")
    from arkitekt.services.storage import file_bytes

    original = file_bytes.put

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection reset")

    monkeypatch.setattr(file_bytes, "put", broken)  # the write fails midway, as a network would
    with pytest.raises(TransferError, match="the upload was discarded"):
        from_df(pd.DataFrame({"a": [1]}), name="cut-short")
    monkeypatch.setattr(file_bytes, "put", original)
    assert tables(name="cut-short") == []
    assert storage.stored_keys("tables") == before


def test_abandoned_upload_is_swept(servers: Servers, storage: TestServer) -> None:
    """A client that dies mid-upload leaves a record and an object that the server removes."""
    from arkitekt.services.storage import file_bytes

    short = servers.in_process(
        users=("alice",),
        s3=storage.config.datalayer == "s3",
        storage_grant_ttl=SWEEP_GRANT_TTL,
        storage_upload_grace=0,
    )
    with short.app("alice", "tables-sweep") as app:
        upload = unkoil(
            api.arequest_table_upload,
            api.TableUploadInput(name="orphan", sizeBytes=4),
            client=app.storage.graphql,
        )
        source = file_bytes.Source(io.BytesIO(b"PAR1"), "data", 4)
        unkoil(file_bytes.put, upload.grant, source, lambda n: None)
        assert short.stored_keys(upload.grant.prefix)
        time.sleep(SWEEP_GRANT_TTL + 0.2)  # past the upload's deadline
        assert short.call(short.state.storage.sweep) == 1
        assert short.stored_keys(upload.grant.prefix) == []
        assert app.storage.tables(name="orphan") == []


# -- by reference --------------------------------------------------------------------------------


def test_delete_and_share(storage: TestServer, alice: Any) -> None:
    table = from_df(pd.DataFrame({"a": [1]}), name="to-share")
    assert table.share(users=["bob"]) == ["bob"]
    with storage.app("bob", "tables-bob") as bob:
        seen = bob.storage.get_table(table.id)
        assert not seen.mine and seen.df()["a"].tolist() == [1]
    table.delete()
    with pytest.raises(DataNotFoundError):
        get_table(table.id)
    assert storage.stored_keys(f"tables/{table.id}") == []


def test_display(alice: Any) -> None:
    table = from_df(_measurements(20), name="shown")
    page = table._repr_html_()
    assert "shown" in page and "20 in 1 row group" in page and "cell-0" in page
    assert "<code>int64</code>" in page
    listed = tables(name="shown")
    assert "shown" in listed._repr_html_() and "20" in repr(table)


# -- by reference through remote functions ---------------------------------------------------------


def large_cells(table: Table, min_area: float) -> Table:
    """The rows of cells larger than ``min_area``."""
    found = table.query(f"area > {float(min_area)!r}")
    return from_df(found, name=f"{table.name} > {min_area}")


def test_table_travels_by_reference_through_a_call(storage: TestServer) -> None:
    with storage.app("alice", "tables-agent") as app:
        app.register(large_cells)
        app.serve()
        df = _measurements(200)
        table = from_df(df, name="cells")
        node = find(interface="large_cells")
        assert node.definition.args[0].identifier == "@arkitekt/table"
        result = call(node, table, 250.0)
        assert isinstance(result, Table) and result.name == "cells > 250.0"
        expected = df[df["area"] > 250.0].reset_index(drop=True)
        pd.testing.assert_frame_equal(result.df().reset_index(drop=True), expected)


# -- without the tables extra ----------------------------------------------------------------------


def test_without_pyarrow_the_error_says_what_to_install() -> None:
    """``import arkitekt`` needs neither pandas nor pyarrow; tables say how to get them."""
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pandas'] = None\n"
        "import arkitekt\n"
        "from arkitekt.services.storage import table_io\n"
        "try:\n"
        "    table_io.as_arrow([1])\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'arkitekt[tables]'" in done.stdout, done


def test_the_tables_example_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "tables.py")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Table(id=") and "rows=200000" in lines[0]
    read, whole = (
        int(n.replace(",", "")) for n in lines[1].split("read ")[1].split(" bytes")[0].split(" of ")
    )
    assert read < whole / 4, lines[1]
    assert lines[2] == "['measurements']"


def test_in_process_server_reads_the_folder_directly(tmp_path: Path) -> None:
    """With the server in this process (``local()``), tables are read from its folder: no HTTP
    request reaches the datalayer, and a query still reads only what it needs."""
    from arkitekt import local

    with local("tables-integrated", data_dir=tmp_path) as app:
        n = 500_000
        table = from_df(pd.DataFrame({"id": np.arange(n), "v": np.arange(n) * 2.0}), name="here")
        stats = app.services["server"].embedded.state.stats
        before = stats.get("datalayer_gets", 0)
        assert table.df()["v"].iloc[-1] == (n - 1) * 2.0
        full = table.read_stats.bytes
        assert table.query("id >= 499990")["id"].tolist() == list(range(499990, n))
        assert table.read_stats.bytes < full / 4
        assert stats.get("datalayer_gets", 0) == before
