"""ROIs and datasets across users: nothing is visible without a share, nobody gains access to
an image or a table through a dataset that its owner could not have shared, and unsharing (or
taking a member out, moving or deleting a dataset, deleting a table) ends access at once,
datalayer reads included.

alice owns the data; bob is the other user (he knows alice's ids); carol shares one image with
alice only. Everything bob does here goes through raw GraphQL with his own token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import TestServer
from storage_helpers import GRANT_FIELDS, gql, token_of

from arkitekt import DataNotFoundError, Image, Table, dataset, from_df, from_file, from_xarray


@dataclass
class People:
    server: TestServer
    alice: str
    bob: str
    carol: str
    app: Any
    """alice's app (entered)."""
    carols_image: Image
    """carol's image, shared with alice only."""


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    folder = tmp_path_factory.mktemp("dataset-access") / "server"
    with TestServer.in_process(folder, users=("alice", "bob", "carol")) as server:
        with server.app("carol", "carol-data") as carol_app:
            carols = from_xarray(
                np.full((8, 8), 7, "uint8"), "carol's secret", dims=["y", "x"], app=carol_app
            )
            carols.share(users=["alice"])
        tokens = {user: token_of(server, user) for user in ("alice", "bob", "carol")}
        with server.app("alice", "alice-data") as app:
            yield People(server, tokens["alice"], tokens["bob"], tokens["carol"], app, carols)


def ask(p: People, token: str, query: str, **variables: Any) -> dict[str, Any]:
    return gql(p.server, token, query, variables)


def refused(answer: dict[str, Any], code: str) -> str:
    assert answer.get("errors"), f"not refused: {answer}"
    assert (answer.get("data") or {}) in ({}, None) or not any((answer["data"] or {}).values())
    codes = [e.get("extensions", {}).get("code") for e in answer["errors"]]
    assert code in codes, f"refused with {codes}, expected {code}: {answer['errors']}"
    message: str = answer["errors"][0]["message"]
    return message


def image_ids(answer: dict[str, Any], field: str) -> set[str]:
    assert not answer.get("errors"), answer
    return {item["id"] for item in answer["data"][field]}


GET_IMAGE = "query($id: ID!) { image(id: $id) { id name } }"
IMAGES = "{ images(pagination: {limit: 100}) { id name } }"
GRANT = f"query($id: ID!) {{ imageGrant(id: $id) {{ {GRANT_FIELDS} }} }}"
ROI = "query($id: ID!) { roi(id: $id) { id label } }"
ROIS = "query($f: RoiFilter) { rois(filter: $f) { id label } }"
CREATE_ROI = """mutation($i: ID!) {
  createRoi(input: {image: $i, kind: "point", vectors: [[1, 1]], label: "bob's"}) { id }
}"""
DELETE_ROI = "mutation($id: ID!) { deleteRoi(id: $id) }"
DATASET = "query($id: ID!) { dataset(id: $id) { id name } }"
DATASETS = "{ datasets(pagination: {limit: 100}) { id name } }"
DATASET_IMAGES = "query($id: ID!) { datasetImages(id: $id) { id name } }"
DATASET_FILES = "query($id: ID!) { datasetFiles(id: $id) { id name } }"
ENSURE = "mutation($n: String!, $up: ID) { ensureDataset(name: $n, parent: $up) { id } }"
ADD = """mutation($id: ID!, $i: [ID!]!, $d: [ID!]!) {
  addToDataset(id: $id, members: {images: $i, datasets: $d}) { id }
}"""
REMOVE = """mutation($id: ID!, $i: [ID!]!) {
  removeFromDataset(id: $id, members: {images: $i}) { id }
}"""
DELETE_DATASET = "mutation($id: ID!) { deleteDataset(id: $id) }"
TABLE = "query($id: ID!) { table(id: $id) { id name imageId roiId } }"
TABLES = "{ tables(pagination: {limit: 100}) { id name } }"
TABLE_GRANT = f"query($id: ID!) {{ tableGrant(id: $id) {{ {GRANT_FIELDS} }} }}"
DATASET_TABLES = "query($id: ID!) { datasetTables(id: $id) { id name imageId roiId } }"
ADD_TABLES = """mutation($id: ID!, $t: [ID!]!) {
  addToDataset(id: $id, members: {tables: $t}) { id }
}"""
SHARE = """mutation($id: ID!, $u: [String!], $e: Boolean!, $un: Boolean!) {
  shareDataset(id: $id, users: $u, everyone: $e, unshare: $un) { everyone users }
}"""


def read(grant: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {grant['token']}"}
    return httpx.get(f"{grant['url']}/zarr.json", headers=headers, timeout=10)


def _image(name: str, app: Any) -> Image:
    return from_xarray(np.ones((8, 8), "uint8"), name, dims=["y", "x"], app=app)


# -- ROIs ------------------------------------------------------------------------------------------


def test_rois_of_an_image_bob_cannot_see_do_not_exist_for_him(people: People) -> None:
    p = people
    img = _image("private, annotated", p.app)
    roi = img.add_roi(kind="point", vectors=[[2, 3]], label="alice's secret label")
    refused(ask(p, p.bob, ROI, id=roi.id), "NOT_FOUND")
    for where in (None, {"image": img.id}, {"label": "alice's secret label"}):
        answer = ask(p, p.bob, ROIS, f=where)
        assert answer["data"]["rois"] == [], f"bob lists {answer} ({where})"
    refused(ask(p, p.bob, CREATE_ROI, i=img.id), "NOT_FOUND")
    refused(ask(p, p.bob, DELETE_ROI, id=roi.id), "NOT_FOUND")
    assert [r.id for r in img.rois()] == [roi.id], "bob changed alice's ROIs"


def test_a_mask_must_be_visible_to_the_creator(people: People) -> None:
    p = people
    with p.server.app("bob", "bob-masks") as bob:
        his = _image("bob's own", bob)
        alices = _image("alice's mask", p.app)
        answer = ask(
            p,
            p.bob,
            """mutation($i: ID!, $m: ID!) {
              createRoi(input: {image: $i, kind: "mask", vectors: [], mask: $m}) { id }
            }""",
            i=his.id,
            m=alices.id,
        )
        message = refused(answer, "BAD_INPUT")
        assert "not shared with you" in message and "alice's mask" not in message


# -- datasets --------------------------------------------------------------------------------------


def test_bob_can_neither_see_nor_change_alices_dataset(people: People) -> None:
    p = people
    ds = dataset("alice's private set", app=p.app)
    img = _image("in the private set", p.app)
    ds.add(img)
    refused(ask(p, p.bob, DATASET, id=ds.id), "NOT_FOUND")
    assert ds.id not in image_ids(ask(p, p.bob, DATASETS), "datasets")
    refused(ask(p, p.bob, DATASET_IMAGES, id=ds.id), "NOT_FOUND")
    refused(ask(p, p.bob, DATASET_FILES, id=ds.id), "NOT_FOUND")
    refused(ask(p, p.bob, ADD, id=ds.id, i=[], d=[]), "NOT_FOUND")
    refused(ask(p, p.bob, REMOVE, id=ds.id, i=[img.id]), "NOT_FOUND")
    refused(ask(p, p.bob, DELETE_DATASET, id=ds.id), "NOT_FOUND")
    refused(ask(p, p.bob, SHARE, id=ds.id, u=["bob"], e=True, un=False), "NOT_FOUND")
    refused(ask(p, p.bob, ENSURE, n="bob's child", up=ds.id), "NOT_FOUND")
    refused(ask(p, p.bob, GET_IMAGE, id=img.id), "NOT_FOUND")
    assert ds.images() == [img] and ds.children() == [], "bob changed alice's dataset"
    assert ds.share(users=["bob"]) == ["bob"]
    try:
        # shared: bob sees it, and still changes nothing
        assert ask(p, p.bob, DATASET, id=ds.id)["data"]["dataset"]["id"] == ds.id
        refused(ask(p, p.bob, ADD, id=ds.id, i=[], d=[]), "FORBIDDEN")
        refused(ask(p, p.bob, REMOVE, id=ds.id, i=[img.id]), "FORBIDDEN")
        refused(ask(p, p.bob, DELETE_DATASET, id=ds.id), "FORBIDDEN")
        refused(ask(p, p.bob, SHARE, id=ds.id, u=[], e=True, un=False), "FORBIDDEN")
        refused(ask(p, p.bob, ENSURE, n="bob's child", up=ds.id), "FORBIDDEN")
        assert ds.images() == [img] and ds.children() == []
    finally:
        ds.unshare(users=["bob"])


def test_bob_cannot_put_what_he_cannot_see_into_his_dataset(people: People) -> None:
    p = people
    img = _image("not bob's to group", p.app)
    alices_set = dataset("alice's set to steal", app=p.app)
    bobs = ask(p, p.bob, ENSURE, n="bob's set")["data"]["ensureDataset"]["id"]
    message = refused(ask(p, p.bob, ADD, id=bobs, i=[img.id], d=[]), "BAD_INPUT")
    assert "not shared with you" in message
    message = refused(ask(p, p.bob, ADD, id=bobs, i=[], d=[alices_set.id]), "BAD_INPUT")
    assert "of yours" in message
    assert alices_set.parent_id is None and alices_set.parent() is None
    assert ask(p, p.bob, DATASET_IMAGES, id=bobs)["data"]["datasetImages"] == []


def test_a_dataset_share_never_passes_on_someone_elses_image(people: People) -> None:
    """alice groups carol's image (shared with her only) with her own and shares the dataset
    with bob: bob gets alice's image, never carol's, by no route."""
    p = people
    ds = dataset("mixed owners", app=p.app)
    own = _image("alice's own member", p.app)
    ds.add(own, p.carols_image)
    assert set(ds.images()) == {own, p.carols_image}  # alice sees both in it
    ds.share(users=["bob"])
    try:
        for everyone in (False, True):
            ds.share(everyone=everyone)
            seen = image_ids(ask(p, p.bob, DATASET_IMAGES, id=ds.id), "datasetImages")
            assert seen == {own.id}
            assert p.carols_image.id not in image_ids(ask(p, p.bob, IMAGES), "images")
            refused(ask(p, p.bob, GET_IMAGE, id=p.carols_image.id), "NOT_FOUND")
            refused(ask(p, p.bob, GRANT, id=p.carols_image.id), "NOT_FOUND")
            refused(ask(p, p.bob, CREATE_ROI, i=p.carols_image.id), "NOT_FOUND")
        ds.unshare(everyone=True)
        # bob in turn cannot pass on what reached him through alice's dataset
        bobs = ask(p, p.bob, ENSURE, n="bob's regrouping")["data"]["ensureDataset"]["id"]
        assert not ask(p, p.bob, ADD, id=bobs, i=[own.id], d=[]).get("errors")
        ask(p, p.bob, SHARE, id=bobs, u=["carol"], e=True, un=False)
        assert own.id not in image_ids(ask(p, p.carol, IMAGES), "images")
        assert ask(p, p.carol, DATASET_IMAGES, id=bobs)["data"]["datasetImages"] == []
        refused(ask(p, p.carol, GET_IMAGE, id=own.id), "NOT_FOUND")
        ask(p, p.bob, SHARE, id=bobs, u=["carol"], e=True, un=True)
    finally:
        ds.unshare(users=["bob"], everyone=True)


def test_a_share_shows_members_and_unsharing_ends_datalayer_reads(
    people: People, tmp_path: Path
) -> None:
    p = people
    top = dataset("shared tree", app=p.app)
    child = dataset("shared leaf", parent=top, app=p.app)
    img = _image("member deep down", p.app)
    (tmp_path / "member.txt").write_text("a member file")
    a_file = from_file(tmp_path / "member.txt", app=p.app)
    child.add(img, a_file)
    top.share(users=["bob"])
    seen = image_ids(ask(p, p.bob, DATASET_IMAGES, id=child.id), "datasetImages")
    assert seen == {img.id}
    files = ask(p, p.bob, DATASET_FILES, id=child.id)["data"]["datasetFiles"]
    assert [f["id"] for f in files] == [a_file.id]
    assert img.id in image_ids(ask(p, p.bob, IMAGES), "images")
    grant = ask(p, p.bob, GRANT, id=img.id)["data"]["imageGrant"]
    assert read(grant).status_code == 200
    top.unshare(users=["bob"])
    answer = read(grant)
    assert answer.status_code == 403 and b"zarr_format" not in answer.content
    refused(ask(p, p.bob, DATASET, id=child.id), "NOT_FOUND")
    refused(ask(p, p.bob, GET_IMAGE, id=img.id), "NOT_FOUND")


@pytest.mark.parametrize("how", ["remove", "move out", "move elsewhere", "delete"])
def test_taking_a_member_away_ends_access_at_once(people: People, how: str) -> None:
    p = people
    top = dataset(f"ending by {how}", app=p.app)
    child = dataset(f"child ending by {how}", parent=top, app=p.app)
    img = _image(f"member ending by {how}", p.app)
    child.add(img)
    top.share(users=["bob"])
    grant = ask(p, p.bob, GRANT, id=img.id)["data"]["imageGrant"]
    assert read(grant).status_code == 200
    if how == "remove":
        child.remove(img)
    elif how == "move out":
        top.remove(child)  # the child leaves the shared tree
    elif how == "move elsewhere":
        dataset(f"unshared home {how}", app=p.app).add(child)
    else:
        top.delete()
    assert read(grant).status_code == 403
    refused(ask(p, p.bob, GET_IMAGE, id=img.id), "NOT_FOUND")
    if how != "delete":
        top.unshare(users=["bob"])


def test_refusals_name_no_one_elses_data(people: People) -> None:
    p = people
    ds = dataset("alice's named secret set", app=p.app)
    for query, variables in (
        (DATASET, {"id": ds.id}),
        (DELETE_DATASET, {"id": ds.id}),
        (SHARE, {"id": ds.id, "u": ["bob"], "e": False, "un": False}),
    ):
        answer = ask(p, p.bob, query, **variables)
        assert "named secret" not in str(answer) and "alice" not in str(answer), answer
    long_id = ask(p, p.bob, DATASET, id="x" * 500)
    assert "not an id" in refused(long_id, "BAD_INPUT")


# -- tables in datasets ----------------------------------------------------------------------------

SECRET_ROWS = "alice-dataset-table-rows-5e1c"


def _table(name: str, app: Any, **links: Any) -> Table:
    return from_df(pd.DataFrame({"note": [SECRET_ROWS], "n": [1]}), name, app=app, **links)


def read_range(grant: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {grant['token']}", "range": "bytes=0-3"}
    return httpx.get(f"{grant['url']}/data", headers=headers, timeout=10)


def test_bob_sees_alices_table_only_through_her_shared_dataset(people: People) -> None:
    p = people
    ds = dataset("tables for bob", app=p.app)
    table = _table("alice's member table", p.app)
    ds.add(table)
    refused(ask(p, p.bob, TABLE, id=table.id), "NOT_FOUND")
    refused(ask(p, p.bob, TABLE_GRANT, id=table.id), "NOT_FOUND")
    refused(ask(p, p.bob, DATASET_TABLES, id=ds.id), "NOT_FOUND")
    assert table.id not in image_ids(ask(p, p.bob, TABLES), "tables")
    ds.share(users=["bob"])
    try:
        assert image_ids(ask(p, p.bob, DATASET_TABLES, id=ds.id), "datasetTables") == {table.id}
        assert ask(p, p.bob, TABLE, id=table.id)["data"]["table"]["id"] == table.id
        assert table.id in image_ids(ask(p, p.bob, TABLES), "tables")
        with p.server.app("bob", "bob-tables") as bob:
            seen = bob.storage.get_table(table.id)
            assert not seen.mine and seen.df()["note"].tolist() == [SECRET_ROWS]
            grant = ask(p, p.bob, TABLE_GRANT, id=table.id)["data"]["tableGrant"]
            assert read_range(grant).content == b"PAR1"
            ds.unshare(users=["bob"])  # ends df(), new grants and the grant bob holds, at once
            with pytest.raises(DataNotFoundError):
                seen.df()
            answer = read_range(grant)
            assert answer.status_code == 403 and answer.content != b"PAR1"
        refused(ask(p, p.bob, TABLE, id=table.id), "NOT_FOUND")
        refused(ask(p, p.bob, DATASET_TABLES, id=ds.id), "NOT_FOUND")
    finally:
        ds.unshare(users=["bob"])


def test_a_dataset_share_never_passes_on_someone_elses_table(people: People) -> None:
    """carol shares a table with alice only; alice puts it in her dataset next to her own and
    shares the dataset with bob: bob gets alice's table, never carol's."""
    p = people
    with p.server.app("carol", "carol-tables") as carol:
        carols = _table("carol's measurements", carol)
        carols.share(users=["alice"])
    own = _table("alice's own measurements", p.app)
    ds = dataset("mixed owners' tables", app=p.app)
    ds.add(own, carols)
    assert set(ds.tables()) == {own, carols}  # alice sees both in it
    ds.share(users=["bob"])
    try:
        for everyone in (False, True):
            ds.share(everyone=everyone)
            seen = image_ids(ask(p, p.bob, DATASET_TABLES, id=ds.id), "datasetTables")
            assert seen == {own.id}
            assert carols.id not in image_ids(ask(p, p.bob, TABLES), "tables")
            refused(ask(p, p.bob, TABLE, id=carols.id), "NOT_FOUND")
            refused(ask(p, p.bob, TABLE_GRANT, id=carols.id), "NOT_FOUND")
        ds.unshare(everyone=True)
        # nor can bob pass on what reached him through alice's dataset, or group her private one
        bobs = ask(p, p.bob, ENSURE, n="bob's table regrouping")["data"]["ensureDataset"]["id"]
        private = _table("alice's private measurements", p.app)
        message = refused(ask(p, p.bob, ADD_TABLES, id=bobs, t=[private.id]), "BAD_INPUT")
        assert "not shared with you" in message and "private measurements" not in message
        assert not ask(p, p.bob, ADD_TABLES, id=bobs, t=[own.id]).get("errors")
        ask(p, p.bob, SHARE, id=bobs, u=["carol"], e=True, un=False)
        assert ask(p, p.carol, DATASET_TABLES, id=bobs)["data"]["datasetTables"] == []
        refused(ask(p, p.carol, TABLE, id=own.id), "NOT_FOUND")
        ask(p, p.bob, DELETE_DATASET, id=bobs)
    finally:
        ds.unshare(users=["bob"], everyone=True)


@pytest.mark.parametrize("how", ["remove", "delete the table", "delete the dataset"])
def test_taking_a_table_away_ends_access_at_once(people: People, how: str) -> None:
    p = people
    ds = dataset(f"table ending by {how}", app=p.app)
    table = _table(f"table ending by {how}", p.app)
    ds.add(table)
    ds.share(users=["bob"])
    grant = ask(p, p.bob, TABLE_GRANT, id=table.id)["data"]["tableGrant"]
    assert read_range(grant).content == b"PAR1"
    if how == "remove":
        ds.remove(table)
    elif how == "delete the table":
        table.delete()
        assert ds.tables() == []
        links = f"SELECT dataset_id FROM storage_dataset_tables WHERE table_id = '{table.id}'"
        assert p.server.stored_rows(links) == []  # its membership went with it (cascade)
    else:
        ds.delete()
    assert read_range(grant).status_code == 403
    refused(ask(p, p.bob, TABLE, id=table.id), "NOT_FOUND")
    if how != "delete the dataset":
        assert ask(p, p.bob, DATASET_TABLES, id=ds.id)["data"]["datasetTables"] == []
        ds.unshare(users=["bob"])


def test_a_table_shows_only_the_links_its_viewer_may_see(people: People) -> None:
    """alice's table about a ROI of her private image, shared through a dataset: bob sees the
    table, not which image or ROI it is about, and finds nothing by them."""
    p = people
    img = _image("private, measured", p.app)
    roi = img.add_roi(kind="point", vectors=[[1, 1]], label="alice's measured cell")
    table = _table("per-ROI measurements", p.app, roi=roi)
    assert (table.roi_id, table.image_id) == (roi.id, img.id)
    ds = dataset("measurements only", app=p.app)
    ds.add(table)
    ds.share(users=["bob"])
    try:
        for seen in (
            ask(p, p.bob, TABLE, id=table.id)["data"]["table"],
            ask(p, p.bob, DATASET_TABLES, id=ds.id)["data"]["datasetTables"][0],
        ):
            assert (seen["imageId"], seen["roiId"]) == (None, None), seen
        by_roi = "query($r: ID!) { tables(filter: {roi: $r}) { id } }"
        assert ask(p, p.bob, by_roi, r=roi.id)["data"]["tables"] == []
        # linking his own table to her ROI: no such ROI for him
        message = refused(
            ask(
                p,
                p.bob,
                """mutation($r: ID!) {
                  requestTableUpload(input: {name: "bob's", sizeBytes: 8, roi: $r}) { id }
                }""",
                r=roi.id,
            ),
            "NOT_FOUND",
        )
        assert "measured cell" not in message
        ds.add(img)  # with the image shared too, bob sees both links
        seen = ask(p, p.bob, TABLE, id=table.id)["data"]["table"]
        assert (seen["imageId"], seen["roiId"]) == (img.id, roi.id)
        assert image_ids(ask(p, p.bob, by_roi, r=roi.id), "tables") == {table.id}
    finally:
        ds.unshare(users=["bob"])
