"""Tables across users: bob, who knows the ids of alice's tables and images, gets nothing of
hers without a share (get, list, grant, delete, share, linking his tables to her image, naming
her table in a call to a function she shares), and a share, once taken back, ends the read
grants he already holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from koil import unkoil
from servers import Servers, TestServer

from arkitekt import DataNotFoundError, ForbiddenError, Table, call, find, from_df, from_xarray
from arkitekt.services.storage import api

pytestmark = pytest.mark.engines

SECRET = "alice-private-measurements-4b1e"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    folder = tmp_path_factory.mktemp("table-access") / "server"
    with TestServer.in_process(folder, users=("alice", "bob")) as started:
        yield started


@pytest.fixture(scope="module")
def alice(server: TestServer) -> Iterator[Any]:
    with server.app("alice", "tables-alice") as app:
        yield app


@pytest.fixture(scope="module")
def bob(server: TestServer) -> Iterator[Any]:
    with server.app("bob", "tables-bob") as app:
        yield app


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_bob_gets_nothing_without_a_share(alice: Any, bob: Any) -> None:
    image = from_xarray(np.zeros((4, 4), "uint8"), name="alice-cells", dims=["y", "x"], app=alice)
    table = from_df(pd.DataFrame({"note": [SECRET]}), name=SECRET, image=image, app=alice)
    with pytest.raises(DataNotFoundError) as failure:
        bob.storage.get_table(table.id)
    assert SECRET not in str(failure.value)
    assert bob.storage.tables() == []
    assert bob.storage.tables(image=image.id) == []
    assert bob.storage.tables(name=SECRET) == []
    client = bob.storage.graphql
    with pytest.raises(DataNotFoundError):
        unkoil(api.atable_grant, table.id, client=client)
    with pytest.raises(DataNotFoundError):
        unkoil(api.adelete_table, table.id, client=client)
    with pytest.raises(DataNotFoundError):
        unkoil(api.ashare_table, table.id, users=["bob"], client=client)
    # linking his own table to her image needs him to see that image
    with pytest.raises(DataNotFoundError):
        from_df(pd.DataFrame({"a": [1]}), name="bobs", image=image.id, app=bob)
    assert bob.storage.tables(name="bobs") == []
    assert alice.storage.get_table(table.id).df()["note"].tolist() == [SECRET]


def test_bob_links_no_table_to_a_roi_he_cannot_see(alice: Any, bob: Any) -> None:
    """A ROI is visible with its image: bob cannot link his table to a ROI of alice's private
    image (the same answer as for no such ROI), nor find her tables by it; a table she shares
    does not tell him which ROI it is about until he may see the image."""
    image = from_xarray(np.zeros((4, 4), "uint8"), name="roi-cells", dims=["y", "x"], app=alice)
    roi = image.add_roi(kind="point", vectors=[[1, 1]], label=SECRET)
    table = from_df(pd.DataFrame({"a": [1]}), name="per-roi", roi=roi, app=alice)
    with pytest.raises(DataNotFoundError) as failure:
        from_df(pd.DataFrame({"a": [1]}), name="bobs-per-roi", roi=roi.id, app=bob)
    assert SECRET not in str(failure.value)
    assert bob.storage.tables(name="bobs-per-roi") == []
    assert bob.storage.tables(roi=roi.id) == []
    table.share(users=["bob"])
    seen = bob.storage.get_table(table.id)
    assert (seen.roi_id, seen.image_id) == (None, None)
    image.share(users=["bob"])
    seen = bob.storage.get_table(table.id)
    assert (seen.roi_id, seen.image_id) == (roi.id, image.id)
    assert [t.id for t in bob.storage.tables(roi=roi.id)] == [table.id]
    his = from_df(pd.DataFrame({"a": [2]}), name="bobs-per-roi", roi=roi.id, app=bob)
    assert his.mine and (his.roi_id, his.image_id) == (roi.id, image.id)


def test_a_share_lets_bob_read_but_not_change(alice: Any, bob: Any) -> None:
    image = from_xarray(np.zeros((4, 4), "uint8"), name="shared-cells", dims=["y", "x"], app=alice)
    table = from_df(pd.DataFrame({"area": [1.0, 200.0]}), name="shared", image=image, app=alice)
    table.share(users=["bob"])
    seen = bob.storage.get_table(table.id)
    assert not seen.mine and seen.image_id is None  # the table is shared, the image is not
    assert seen.query("area > 100")["area"].tolist() == [200.0]
    with pytest.raises(ForbiddenError):
        seen.delete()
    with pytest.raises(ForbiddenError):
        seen.share(users=["bob"], everyone=True)
    assert not alice.storage.get_table(table.id).shared_with_everyone
    image.share(users=["bob"])
    assert bob.storage.get_table(table.id).image_id == image.id
    assert [t.id for t in bob.storage.tables(image=image)] == [table.id]
    # with the image shared, bob may link his own tables to it
    his = from_df(pd.DataFrame({"a": [1]}), name="bobs-on-alices", image=image.id, app=bob)
    assert his.image_id == image.id and his.mine
    assert {t.id for t in alice.storage.tables(image=image)} == {table.id}  # his stays his


def test_unsharing_ends_bobs_read_grant(server: TestServer, alice: Any, bob: Any) -> None:
    table = from_df(pd.DataFrame({"x": [1, 2, 3]}), name="briefly-shared", app=alice)
    private = from_df(pd.DataFrame({"note": [SECRET]}), name="private", app=alice)
    table.share(users=["bob"])
    grant = unkoil(api.atable_grant, table.id, client=bob.storage.graphql)
    assert not grant.write
    assert grant.url is not None and grant.token is not None
    assert _get(f"{grant.url}/data", grant.token).content.startswith(b"PAR1")
    # his grant covers that table only
    other = grant.url.replace(table.id, private.id)
    refused = _get(f"{other}/data", grant.token)
    assert refused.status_code == 403 and SECRET.encode() not in refused.content
    table.unshare(users=["bob"])
    assert _get(f"{grant.url}/data", grant.token).status_code == 403
    with pytest.raises(DataNotFoundError):
        bob.storage.get_table(table.id)


def test_ranged_reads_of_the_local_datalayer(alice: Any) -> None:
    """The local datalayer answers ``Range`` with just those bytes (what queries rely on)."""
    table = from_df(pd.DataFrame({"x": np.arange(1000)}), name="ranged", app=alice)
    grant = unkoil(api.atable_grant, table.id, client=alice.storage.graphql)
    assert grant.url is not None and grant.token is not None
    answer = httpx.get(
        f"{grant.url}/data",
        headers={"authorization": f"Bearer {grant.token}", "range": "bytes=0-3"},
        timeout=10,
    )
    assert answer.status_code == 206 and answer.content == b"PAR1"
    many = ",".join(f"{i}-{i}" for i in range(0, 200, 2))  # bounded: the whole object instead
    answer = httpx.get(
        f"{grant.url}/data",
        headers={"authorization": f"Bearer {grant.token}", "range": f"bytes={many}"},
        timeout=10,
    )
    assert answer.status_code == 200 and len(answer.content) == table.size_bytes


def count_rows(table: Table) -> int:
    """How many rows the table has, read by the agent."""
    return len(table.df())


def test_naming_a_table_you_may_not_see_in_a_call_is_refused(servers: Servers) -> None:
    """alice shares a function that reads tables; bob may call it with a table shared with him,
    never with her private one (refused before anything runs)."""
    server = servers.in_process(users=("alice", "bob"))
    with server.app("alice", "counter") as alice:
        alice.register(count_rows, interface="count_rows")
        alice.serve()
        private = from_df(pd.DataFrame({"note": [SECRET] * 3}), name=SECRET)
        shared = from_df(pd.DataFrame({"a": [1, 2]}), name="shared-rows")
        shared.share(users=["bob"])
        alice.rpc.share("count_rows", users=["bob"])
        assert call(find(interface="count_rows"), private) == 3  # alice may, of course
        with server.app("bob", "bob-sdk"):
            theirs = find(interface="count_rows", owner="alice")
            with pytest.raises(DataNotFoundError, match="no table") as refused:
                call(theirs, private.id)
            assert SECRET not in str(refused.value)
            assert call(theirs, shared.id) == 2
