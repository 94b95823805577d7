"""Every root field of both GraphQL schemas is checked across users: bob (an ordinary user who
knows alice's ids) gets nothing of alice's and changes nothing of hers, and a request without a
token is refused.

The fields are read from the Strawberry schemas themselves (``/rekuest/graphql`` and
``/mikro/graphql``); :data:`CASES` maps each ``"<schema>.<Type>.<field>"`` to its check. A new
field without an entry fails here, naming the field; an entry for a field that no longer exists
fails too. Fields with their own resolvers on non-root types (relations reached through an
object) need an entry in :data:`NESTED` in the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import strawberry
from cross_user import (
    PRIVATE_DATASET,
    PRIVATE_ROI,
    SECRET_ARGUMENT,
    SHARED_INTERFACE,
    UPLOAD_FILE_OP,
    UPLOAD_IMAGE_OP,
    UPLOAD_TABLE_OP,
    World,
    finish_held_call,
    graphql,
    image_upload_input,
    rpc,
    start_held_call,
    storage,
    subscribe,
    world,
)
from graphql import build_schema

from arkitekt.server.rpc.graphql_api import schema as rekuest_schema
from arkitekt.server.storage.graphql_api import schema as mikro_schema

SCHEMAS: dict[str, tuple[strawberry.Schema, str]] = {
    "rekuest": (rekuest_schema, "/rekuest/graphql"),
    "mikro": (mikro_schema, "/mikro/graphql"),
}
HERE = "tests/security/test_every_graphql_field.py"


def root_fields() -> list[str]:
    """``<schema>.<Type>.<field>`` of every Query, Mutation and Subscription field served."""
    found: list[str] = []
    for name, (schema, _) in SCHEMAS.items():
        served = build_schema(schema.as_str())
        for root in (served.query_type, served.mutation_type, served.subscription_type):
            if root is not None:
                found.extend(f"{name}.{root.name}.{field}" for field in root.fields)
    return sorted(found)


def nested_resolvers() -> list[str]:
    """``<schema>.<Type>.<field>`` of every field with a resolver of its own on a type that is
    not a root type: what a client reaches through an object it was given."""
    found: list[str] = []
    for name, (schema, _) in SCHEMAS.items():
        served = build_schema(schema.as_str())
        roots = {
            t.name for t in (served.query_type, served.mutation_type, served.subscription_type) if t
        }
        for type_name in served.type_map:
            definition = schema.get_type_by_name(type_name)
            if type_name.startswith("__") or type_name in roots or definition is None:
                continue
            for field in getattr(definition, "fields", ()):
                if field.base_resolver is not None:
                    graphql_name = schema.config.name_converter.get_graphql_name(field)
                    found.append(f"{name}.{type_name}.{graphql_name}")
    return sorted(found)


# -- what bob gets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """bob's answer to one operation: its data and errors."""

    what: str
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]

    def refused(self, field: str, code: str | None = None) -> str:
        """Assert the field was refused (null, with an error of ``code``); the message."""
        assert self.errors, f"{self.what}: bob was not refused: {self.data}"
        assert self.data is None or self.data.get(field) is None, (
            f"{self.what}: bob got data with the refusal: {self.data}"
        )
        if code is not None:
            codes = [e.get("extensions", {}).get("code") for e in self.errors]
            assert code in codes, (
                f"{self.what}: refused with {codes}, expected {code}: {self.errors}"
            )
        message: str = self.errors[0]["message"]
        return message

    def value(self, field: str) -> Any:
        assert not self.errors, f"{self.what}: {self.errors}"
        assert self.data is not None, f"{self.what}: no data"
        return self.data[field]


def ask(w: World, schema: str, token: str | None, query: str, **variables: Any) -> Answer:
    """One operation as ``token``'s user; every answer to bob is checked for alice's secrets."""
    path = SCHEMAS[schema][1]
    response = graphql(w.url, path, token, query, variables)
    assert response.status_code == 200, f"{query}: HTTP {response.status_code}: {response.text}"
    body = response.json()
    if token == w.bob:
        w.assert_no_secrets(body, query)
    return Answer(query, body.get("data"), body.get("errors") or [])


def bob(w: World, schema: str, query: str, **variables: Any) -> Answer:
    return ask(w, schema, w.bob, query, **variables)


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def alices_template_sharing(w: World) -> dict[str, bool]:
    found = rpc(w.url, w.alice, "{ templates(mine: true) { id sharedWithEveryone } }")
    return {t["id"]: t["sharedWithEveryone"] for t in found["templates"]}


def bobs_templates(w: World) -> set[str]:
    return ids(rpc(w.url, w.bob, "{ templates { id } }")["templates"])


def upload_in_progress(w: World, upload_id: str) -> None:
    """alice can still renew her upload's grant: it was neither finished nor aborted."""
    renewed = storage(
        w.url, w.alice, "mutation($id: ID!) { renewUploadGrant(id: $id) { prefix } }", id=upload_id
    )
    assert renewed["renewUploadGrant"]["prefix"], f"alice's upload {upload_id} was ended by bob"


def alice_sees(w: World, kind: str, object_id: str) -> dict[str, Any]:
    found: dict[str, Any] = storage(
        w.url,
        w.alice,
        f"query($id: ID!) {{ {kind}(id: $id) {{ id sharedWithEveryone }} }}",
        id=object_id,
    )[kind]
    return found


def datalayer(method: str, url: str, token: str) -> httpx.Response:
    return httpx.request(
        method,
        url,
        content=b"x" if method == "PUT" else None,
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )


def grant_cannot_reach_alices_image(w: World, grant: dict[str, Any], what: str) -> None:
    """A grant bob holds opens nothing of alice's private image (GET, HEAD, PUT, DELETE)."""
    assert grant["prefix"] != w.image_store, f"{what}: bob's grant is for alice's image"
    base = grant["url"].rstrip("/").removesuffix(grant["prefix"]).rstrip("/")
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        answer = datalayer(method, f"{base}/{w.image_store}/zarr.json", grant["token"])
        assert answer.status_code == 403, (
            f"{what}: {method} on alice's image with bob's grant: {answer.status_code}"
        )
        assert b"zarr_format" not in answer.content, f"{what}: {method} returned alice's bytes"


# -- the checks, one per root field ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``query`` is bob's operation (sent without a token as well); ``check`` runs it as bob
    and asserts what he got and that alice's object is unchanged."""

    query: str
    variables: Callable[[World], dict[str, Any]]
    check: Callable[[World], None]


def _no_variables(w: World) -> dict[str, Any]:
    return {}


# rekuest: queries


ME = "{ me { id username } }"


def check_me(w: World) -> None:
    me = bob(w, "rekuest", ME).value("me")
    alice = rpc(w.url, w.alice, ME)["me"]
    assert me["username"] == "bob" and me["id"] != alice["id"], f"bob's me is {me}"


NODES = """query($s: String, $i: String) {
  nodes(search: $s, interface: $i) { id name interfaces providers definition }
}"""


def check_nodes(w: World) -> None:
    listed = bob(w, "rekuest", NODES).value("nodes")
    assert ids(listed) == {w.shared_node}, f"bob lists nodes {ids(listed)}"
    shared = listed[0]
    # through the shared node: only the shared template's interface, only its provider
    assert shared["interfaces"] == [SHARED_INTERFACE], f"bob sees interfaces {shared['interfaces']}"
    assert shared["providers"] == 1, f"bob sees {shared['providers']} providers"
    for search in ("secret", "hold", "add"):
        found = bob(w, "rekuest", NODES, s=search).value("nodes")
        assert ids(found) <= {w.shared_node}, f"search {search!r}: {found}"
    for interface in w.templates:
        found = bob(w, "rekuest", NODES, i=interface).value("nodes")
        expected = {w.shared_node} if interface == SHARED_INTERFACE else set()
        assert ids(found) == expected, f"interface {interface!r}: {found}"


NODE = "query($id: ID!) { node(id: $id) { id interfaces providers } }"


def check_node(w: World) -> None:
    for node in (w.secret_node, w.hold_node):
        assert bob(w, "rekuest", NODE, id=node).value("node") is None, f"bob got node {node}"
    shared = bob(w, "rekuest", NODE, id=w.shared_node).value("node")
    assert shared["interfaces"] == [SHARED_INTERFACE], f"bob sees {shared}"


TEMPLATES = (
    "query($m: Boolean!) { templates(mine: $m) { id interface mine nodeId sharedWithEveryone } }"
)


def check_templates(w: World) -> None:
    listed = bob(w, "rekuest", TEMPLATES, m=False).value("templates")
    shared = w.templates[SHARED_INTERFACE]
    assert ids(listed) == {shared}, f"bob lists templates {listed}"
    assert listed[0]["mine"] is False, f"alice's template is bob's: {listed[0]}"
    assert bob(w, "rekuest", TEMPLATES, m=True).value("templates") == []


AGENTS = "{ agents { id app instanceId connected } }"


def check_agents(w: World) -> None:
    listed = bob(w, "rekuest", AGENTS).value("agents")
    assert w.agent not in ids(listed), f"bob lists alice's agent: {listed}"


ASSIGNATIONS = (
    "query($s: String) { assignations(status: $s, limit: 20) { id args events { values } } }"
)


def check_assignations(w: World) -> None:
    for status in (None, "done"):
        listed = bob(w, "rekuest", ASSIGNATIONS, s=status).value("assignations")
        assert w.done_call not in ids(listed), f"bob lists alice's call: {listed}"


ASSIGNATION = "query($id: ID!) { assignation(id: $id) { id args events { values } } }"


def check_assignation(w: World) -> None:
    found = bob(w, "rekuest", ASSIGNATION, id=w.done_call).value("assignation")
    assert found is None, f"bob read alice's call: {found}"


# rekuest: mutations

SHARE_TEMPLATE = """mutation($t: ID!, $u: [String!], $e: Boolean!) {
  shareTemplate(template: $t, users: $u, everyone: $e) { template everyone users }
}"""
UNSHARE_TEMPLATE = """mutation($t: ID!, $u: [String!], $e: Boolean!) {
  unshareTemplate(template: $t, users: $u, everyone: $e) { template everyone users }
}"""


def check_share_template(w: World) -> None:
    before = alices_template_sharing(w)
    for interface, template in w.templates.items():
        if interface == SHARED_INTERFACE:
            continue
        message = bob(w, "rekuest", SHARE_TEMPLATE, t=template, u=["bob"], e=True).refused(
            "shareTemplate"
        )
        assert "no such template" in message, f"sharing {interface}: {message}"
    assert bobs_templates(w) == {w.templates[SHARED_INTERFACE]}, "bob shared himself a template"
    assert alices_template_sharing(w) == before, "bob changed who alice's templates are shared with"


def check_unshare_template(w: World) -> None:
    shared = w.templates[SHARED_INTERFACE]
    message = bob(w, "rekuest", UNSHARE_TEMPLATE, t=shared, u=["bob"], e=True).refused(
        "unshareTemplate"
    )
    assert "no such template" in message, message
    assert shared in bobs_templates(w), "bob's refused unshare took alice's share away"


ASSIGN = """mutation($n: ID!, $a: JSON!, $t: ID) {
  assign(node: $n, args: $a, template: $t) { id args }
}"""


def check_assign(w: World) -> None:
    probe = "bob-assign-probe"
    attempts = [
        (w.secret_node, {"text": probe}, None),
        (w.secret_node, {"text": probe}, w.templates["xu_secret_echo"]),
        (w.hold_node, {"text": probe}, w.templates["xu_hold"]),
        (w.shared_node, {"a": 1, "b": 2}, w.templates["xu_private_add"]),
        (w.shared_node, {"a": 1, "b": 2}, None),  # the shared node, but no template of bob's
    ]
    for node, args, template in attempts:
        message = bob(w, "rekuest", ASSIGN, n=node, a=args, t=template).refused("assign")
        assert "no such function" in message or "no_provider" in message, (
            f"assign({node}, template={template}): {message}"
        )
    assert probe not in w.holds.received, "bob's call reached alice's agent"


CANCEL = "mutation($a: ID!) { cancel(assignation: $a) }"


def check_cancel(w: World) -> None:
    text = "alice-held-for-cancel"
    call_id = start_held_call(w, text)
    assert bob(w, "rekuest", CANCEL, a=call_id).value("cancel") is False
    assert bob(w, "rekuest", CANCEL, a=w.done_call).value("cancel") is False
    finish_held_call(w, call_id, text)  # not cancelled: alice gets her result


EVENTS = "subscription($a: ID!) { assignationEvents(assignation: $a) { index kind values } }"


def check_assignation_events(w: World) -> None:
    text = "alice-held-for-subscription"
    call_id = start_held_call(w, text)
    for target in (call_id, w.done_call):
        messages = subscribe(w.url, w.bob, EVENTS, {"a": target})
        w.assert_no_secrets(messages, f"bob's subscription to {target}")
        got = [m["payload"].get("data") for m in messages if m["type"] == "next"]
        assert not any(got), f"bob received events of alice's call {target}: {got}"
        assert "no such assignation" in json.dumps(messages), f"bob was not refused: {messages}"
    finish_held_call(w, call_id, text)
    mine = subscribe(w.url, w.alice, EVENTS, {"a": call_id})
    assert mine[-2]["payload"]["data"]["assignationEvents"]["values"] == [text], mine


# mikro: queries

IMAGE = """query($id: ID!) {
  image(id: $id) { id name tags mine sharedWithEveryone format levels scale units channels }
}"""
IMAGES = """query($f: ImageFilter) {
  images(filter: $f, pagination: {limit: 100}) { id name mine }
}"""
FILE = "query($id: ID!) { file(id: $id) { id name mine } }"
FILES = "query($f: FileFilter) { files(filter: $f, pagination: {limit: 100}) { id name mine } }"
IMAGE_GRANT = "query($id: ID!) { imageGrant(id: $id) { prefix url token write } }"
FILE_GRANT = "query($id: ID!) { fileGrant(id: $id) { prefix url token write } }"
TABLE = "query($id: ID!) { table(id: $id) { id name mine imageId roiId columns } }"
TABLES = """query($f: TableFilter) {
  tables(filter: $f, pagination: {limit: 100}) { id name mine imageId }
}"""
TABLE_GRANT = "query($id: ID!) { tableGrant(id: $id) { prefix url token write } }"


def check_one(kind: str, query: str, private: str, shared: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        for upload in (w.image_upload, w.file_upload, w.table_upload):  # nobody sees these yet
            bob(w, "mikro", query, id=upload).refused(kind, "NOT_FOUND")
        bob(w, "mikro", query, id=getattr(w, private)).refused(kind, "NOT_FOUND")
        seen = bob(w, "mikro", query, id=getattr(w, shared)).value(kind)
        assert seen["mine"] is False, f"alice's shared {kind} is bob's: {seen}"

    return check


def check_many(kind: str, query: str, private: str, shared: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        for where in (None, {"mine": False}, {"nameContains": "alice"}):
            listed = bob(w, "mikro", query, f=where).value(kind)
            assert ids(listed) == {getattr(w, shared)}, f"bob lists {kind} {listed} ({where})"
            assert listed[0]["mine"] is False
        assert bob(w, "mikro", query, f={"mine": True}).value(kind) == []

    return check


def check_grant(kind: str, query: str, private: str, shared: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        bob(w, "mikro", query, id=getattr(w, private)).refused(kind, "NOT_FOUND")
        # what the shared object's grant opens: that object, nothing else of alice's
        grant = bob(w, "mikro", query, id=getattr(w, shared)).value(kind)
        assert grant["write"] is False, f"bob's {kind} of a shared object writes"
        grant_cannot_reach_alices_image(w, grant, f"{kind} of alice's shared object")

    return check


# mikro: mutations

REQUEST_IMAGE = UPLOAD_IMAGE_OP.replace("grant { prefix }", "grant { prefix url token }")
REQUEST_FILE = UPLOAD_FILE_OP.replace("grant { prefix }", "grant { prefix url token }")
REQUEST_TABLE = UPLOAD_TABLE_OP.replace("grant { prefix }", "grant { prefix url token }")
ABORT = "mutation($id: ID!) { abortUpload(id: $id) }"


def check_request_upload(kind: str, query: str, name: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        variables = (
            {"input": image_upload_input(name)}
            if kind == "requestImageUpload"
            else {"input": {"name": name, "sizeBytes": 1}}
        )
        if kind == "requestTableUpload":  # linking to alice's private image or ROI: no such one
            for link in ({"image": w.private_image}, {"roi": w.private_roi}):
                linked = {"input": {"name": name, "sizeBytes": 1, **link}}
                bob(w, "mikro", query, **linked).refused(kind, "NOT_FOUND")
            # her shared image with the ROI of her private one: still no such ROI for bob
            crossed = {"image": w.shared_image, "roi": w.private_roi}
            bob(w, "mikro", query, input={"name": name, "sizeBytes": 1, **crossed}).refused(
                kind, "NOT_FOUND"
            )
        upload = bob(w, "mikro", query, **variables).value(kind)
        try:
            grant_cannot_reach_alices_image(w, upload["grant"], f"bob's {kind} grant")
        finally:
            storage(w.url, w.bob, ABORT, id=upload["id"])

    return check


def check_on_alices_uploads(kind: str, query: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        for upload in (w.image_upload, w.file_upload, w.table_upload):
            bob(w, "mikro", query, id=upload).refused(kind, "NOT_FOUND")
        for upload in (w.image_upload, w.file_upload, w.table_upload):
            upload_in_progress(w, upload)

    return check


RENEW = "mutation($id: ID!) { renewUploadGrant(id: $id) { prefix url token } }"
FINISH_IMAGE = "mutation($id: ID!) { finishImageUpload(id: $id) { id name } }"
FINISH_FILE = "mutation($id: ID!) { finishFileUpload(id: $id) { id name } }"
DELETE_IMAGE = "mutation($id: ID!) { deleteImage(id: $id) }"
DELETE_FILE = "mutation($id: ID!) { deleteFile(id: $id) }"
FINISH_TABLE = "mutation($id: ID!) { finishTableUpload(id: $id) { id name } }"
DELETE_TABLE = "mutation($id: ID!) { deleteTable(id: $id) }"
SEEN_AS = {
    "deleteImage": "image",
    "deleteFile": "file",
    "deleteTable": "table",
    "shareImage": "image",
    "shareFile": "file",
    "shareTable": "table",
}


def check_delete(kind: str, query: str, private: str, shared: str) -> Callable[[World], None]:
    seen_as = SEEN_AS[kind]

    def check(w: World) -> None:
        bob(w, "mikro", query, id=getattr(w, private)).refused(kind, "NOT_FOUND")
        bob(w, "mikro", query, id=getattr(w, shared)).refused(kind, "FORBIDDEN")
        for name in (private, shared):
            assert alice_sees(w, seen_as, getattr(w, name))["id"] == getattr(w, name)

    return check


SHARE_IMAGE = """mutation($id: ID!, $u: [String!], $e: Boolean!, $un: Boolean!) {
  shareImage(id: $id, users: $u, everyone: $e, unshare: $un) { everyone users }
}"""
SHARE_FILE = SHARE_IMAGE.replace("shareImage", "shareFile")
SHARE_TABLE = SHARE_IMAGE.replace("shareImage", "shareTable")


def check_share(kind: str, query: str, private: str, shared: str) -> Callable[[World], None]:
    seen_as = SEEN_AS[kind]
    one = {"image": IMAGE, "file": FILE, "table": TABLE}[seen_as]

    def check(w: World) -> None:
        private_id, shared_id = getattr(w, private), getattr(w, shared)
        bob(w, "mikro", query, id=private_id, u=["bob"], e=True, un=False).refused(
            kind, "NOT_FOUND"
        )
        bob(w, "mikro", query, id=shared_id, u=[], e=True, un=False).refused(kind, "FORBIDDEN")
        bob(w, "mikro", query, id=shared_id, u=["bob"], e=False, un=True).refused(kind, "FORBIDDEN")
        bob(w, "mikro", one, id=private_id).refused(seen_as, "NOT_FOUND")
        assert bob(w, "mikro", one, id=shared_id).value(seen_as)["id"] == shared_id
        for object_id in (private_id, shared_id):
            assert alice_sees(w, seen_as, object_id)["sharedWithEveryone"] is False

    return check


def check_table_links(w: World) -> None:
    """alice's shared table is about a ROI of her private image: bob sees the table, not the
    image or the ROI (their ids are left out), and listing tables by them gives him nothing."""
    seen = bob(w, "mikro", TABLE, id=w.shared_table).value("table")
    assert seen["imageId"] is None, f"bob sees the image of alice's shared table: {seen}"
    assert seen["roiId"] is None, f"bob sees the ROI of alice's shared table: {seen}"
    for where in ({"image": w.private_image}, {"roi": w.private_roi}):
        listed = bob(w, "mikro", TABLES, f=where).value("tables")
        assert listed == [], f"bob lists tables by alice's private {where}: {listed}"
    mine = storage(w.url, w.alice, TABLE, id=w.shared_table)["table"]
    assert (mine["imageId"], mine["roiId"]) == (w.private_image, w.private_roi)


def check_one_table(w: World) -> None:
    check_one("table", TABLE, "private_table", "shared_table")(w)
    check_table_links(w)


def _id(attribute: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"id": getattr(w, attribute)}


# mikro: ROIs and datasets (visible with their image / through a share; changed by owners)

ROI = "query($id: ID!) { roi(id: $id) { id label mine creator } }"
ROIS = "query($f: RoiFilter) { rois(filter: $f, pagination: {limit: 100}) { id label mine } }"
CREATE_ROI = """mutation($i: ID!, $m: ID, $k: String!) {
  createRoi(input: {image: $i, kind: $k, vectors: [], mask: $m, label: "bob's"}) { id mine }
}"""
DELETE_ROI = "mutation($id: ID!) { deleteRoi(id: $id) }"
DATASET = "query($id: ID!) { dataset(id: $id) { id name mine } }"
DATASETS = """query($f: DatasetFilter) {
  datasets(filter: $f, pagination: {limit: 100}) { id name mine }
}"""
DATASET_IMAGES = "query($id: ID!) { datasetImages(id: $id) { id name mine } }"
DATASET_FILES = "query($id: ID!) { datasetFiles(id: $id) { id name mine } }"
DATASET_TABLES = "query($id: ID!) { datasetTables(id: $id) { id name mine imageId roiId } }"
ENSURE_DATASET = """mutation($n: String!, $parent: ID) {
  ensureDataset(name: $n, parent: $parent) { id mine parent }
}"""
ADD_TO_DATASET = """mutation($id: ID!, $i: [ID!]!, $d: [ID!]!, $t: [ID!]! = []) {
  addToDataset(id: $id, members: {images: $i, datasets: $d, tables: $t}) { id }
}"""
REMOVE_FROM_DATASET = """mutation($id: ID!, $i: [ID!]!, $t: [ID!]! = []) {
  removeFromDataset(id: $id, members: {images: $i, tables: $t}) { id }
}"""
DELETE_DATASET = "mutation($id: ID!) { deleteDataset(id: $id) }"
SHARE_DATASET = SHARE_IMAGE.replace("shareImage", "shareDataset")


def alices_rois(w: World) -> set[str]:
    return ids(storage(w.url, w.alice, "{ rois(pagination: {limit: 100}) { id } }")["rois"])


def alices_set(w: World, dataset_id: str) -> dict[str, Any]:
    """alice's view of her dataset: itself, its images, tables and children."""
    found = storage(
        w.url,
        w.alice,
        """query($id: ID!) {
          dataset(id: $id) { id sharedWithEveryone }
          datasetImages(id: $id) { id }
          datasetTables(id: $id) { id }
          datasets(filter: {parent: $id}) { id }
        }""",
        id=dataset_id,
    )
    return {
        "shared": found["dataset"]["sharedWithEveryone"],
        "images": ids(found["datasetImages"]),
        "tables": ids(found["datasetTables"]),
        "children": ids(found["datasets"]),
    }


def alices_sets_unchanged(w: World) -> None:
    assert alices_set(w, w.private_dataset) == {
        "shared": False,
        "images": {w.private_image},
        "tables": {w.private_table},
        "children": set(),
    }, "bob changed alice's private dataset"
    assert alices_set(w, w.shared_dataset) == {
        "shared": False,
        "images": {w.shared_image},
        "tables": {w.shared_table},
        "children": set(),
    }, "bob changed alice's shared dataset"


def check_roi(w: World) -> None:
    bob(w, "mikro", ROI, id=w.private_roi).refused("roi", "NOT_FOUND")
    seen = bob(w, "mikro", ROI, id=w.shared_roi).value("roi")
    assert (seen["mine"], seen["creator"]) == (False, "alice"), seen


def check_rois(w: World) -> None:
    assert ids(bob(w, "mikro", ROIS).value("rois")) == {w.shared_roi}
    for where in ({"image": w.private_image}, {"label": PRIVATE_ROI}, {"kind": "point"}):
        listed = bob(w, "mikro", ROIS, f=where).value("rois")
        assert ids(listed) <= {w.shared_roi}, f"bob lists {listed} ({where})"


def check_create_roi(w: World) -> None:
    before = alices_rois(w)
    bob(w, "mikro", CREATE_ROI, i=w.private_image, k="mask", m=w.shared_image).refused(
        "createRoi", "NOT_FOUND"
    )
    message = bob(w, "mikro", CREATE_ROI, i=w.shared_image, k="mask", m=w.private_image).refused(
        "createRoi", "BAD_INPUT"
    )
    assert "not shared with you" in message, message
    # who may see an image may annotate it (docs/security.md): bob's own ROI, his to delete
    made = bob(w, "mikro", CREATE_ROI, i=w.shared_image, k="mask", m=w.shared_image).value(
        "createRoi"
    )
    assert made["mine"] is True
    assert bob(w, "mikro", DELETE_ROI, id=made["id"]).value("deleteRoi") == made["id"]
    assert alices_rois(w) == before


def check_delete_roi(w: World) -> None:
    bob(w, "mikro", DELETE_ROI, id=w.private_roi).refused("deleteRoi", "NOT_FOUND")
    bob(w, "mikro", DELETE_ROI, id=w.shared_roi).refused("deleteRoi", "FORBIDDEN")
    assert {w.private_roi, w.shared_roi} <= alices_rois(w)


def check_dataset(w: World) -> None:
    bob(w, "mikro", DATASET, id=w.private_dataset).refused("dataset", "NOT_FOUND")
    assert bob(w, "mikro", DATASET, id=w.shared_dataset).value("dataset")["mine"] is False


def check_datasets(w: World) -> None:
    for where in (None, {"nameContains": "alice"}, {"root": True}):
        listed = bob(w, "mikro", DATASETS, f=where).value("datasets")
        assert ids(listed) == {w.shared_dataset}, f"bob lists {listed} ({where})"
    assert bob(w, "mikro", DATASETS, f={"mine": True}).value("datasets") == []
    assert bob(w, "mikro", DATASETS, f={"parent": w.private_dataset}).value("datasets") == []


def check_dataset_members(kind: str, query: str, shared: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        bob(w, "mikro", query, id=w.private_dataset).refused(kind, "NOT_FOUND")
        listed = bob(w, "mikro", query, id=w.shared_dataset).value(kind)
        assert ids(listed) == {getattr(w, shared)}, f"bob lists {listed}"
        if kind == "datasetTables":  # the shared table is about alice's private ROI and image
            assert (listed[0]["imageId"], listed[0]["roiId"]) == (None, None), listed

    return check


def check_ensure_dataset(w: World) -> None:
    for parent, code in ((w.private_dataset, "NOT_FOUND"), (w.shared_dataset, "FORBIDDEN")):
        bob(w, "mikro", ENSURE_DATASET, n="bob's child", parent=parent).refused(
            "ensureDataset", code
        )
    made = bob(w, "mikro", ENSURE_DATASET, n=PRIVATE_DATASET).value("ensureDataset")
    assert made["id"] not in (w.private_dataset, w.shared_dataset), "bob got alice's dataset"
    assert (made["mine"], made["parent"]) == (True, None)
    assert bob(w, "mikro", DELETE_DATASET, id=made["id"]).value("deleteDataset") == made["id"]
    alices_sets_unchanged(w)


def check_add_to_dataset(w: World) -> None:
    for target, code in ((w.private_dataset, "NOT_FOUND"), (w.shared_dataset, "FORBIDDEN")):
        bob(w, "mikro", ADD_TO_DATASET, id=target, i=[], d=[]).refused("addToDataset", code)
    own = bob(w, "mikro", ENSURE_DATASET, n="bob's thief").value("ensureDataset")["id"]
    try:
        for images, datasets, tables in (
            ([w.private_image], [], []),
            ([], [w.private_dataset], []),
            ([], [w.shared_dataset], []),
            ([], [], [w.private_table]),
            ([], [], [w.table_upload]),
        ):
            bob(w, "mikro", ADD_TO_DATASET, id=own, i=images, d=datasets, t=tables).refused(
                "addToDataset", "BAD_INPUT"
            )
    finally:
        storage(w.url, w.bob, DELETE_DATASET, id=own)
    alices_sets_unchanged(w)


def check_remove_from_dataset(w: World) -> None:
    bob(w, "mikro", REMOVE_FROM_DATASET, id=w.private_dataset, i=[w.private_image]).refused(
        "removeFromDataset", "NOT_FOUND"
    )
    bob(w, "mikro", REMOVE_FROM_DATASET, id=w.shared_dataset, i=[w.shared_image]).refused(
        "removeFromDataset", "FORBIDDEN"
    )
    for target, code in ((w.private_dataset, "NOT_FOUND"), (w.shared_dataset, "FORBIDDEN")):
        tables = [w.private_table, w.shared_table]
        bob(w, "mikro", REMOVE_FROM_DATASET, id=target, i=[], t=tables).refused(
            "removeFromDataset", code
        )
    alices_sets_unchanged(w)


def check_delete_dataset(w: World) -> None:
    bob(w, "mikro", DELETE_DATASET, id=w.private_dataset).refused("deleteDataset", "NOT_FOUND")
    bob(w, "mikro", DELETE_DATASET, id=w.shared_dataset).refused("deleteDataset", "FORBIDDEN")
    alices_sets_unchanged(w)


def check_share_dataset(w: World) -> None:
    bob(w, "mikro", SHARE_DATASET, id=w.private_dataset, u=["bob"], e=True, un=False).refused(
        "shareDataset", "NOT_FOUND"
    )
    bob(w, "mikro", SHARE_DATASET, id=w.shared_dataset, u=[], e=True, un=False).refused(
        "shareDataset", "FORBIDDEN"
    )
    bob(w, "mikro", SHARE_DATASET, id=w.shared_dataset, u=["bob"], e=False, un=True).refused(
        "shareDataset", "FORBIDDEN"
    )
    bob(w, "mikro", DATASET, id=w.private_dataset).refused("dataset", "NOT_FOUND")
    assert bob(w, "mikro", DATASET, id=w.shared_dataset).value("dataset")["id"]
    alices_sets_unchanged(w)


CASES: dict[str, Case] = {
    "rekuest.Query.me": Case(ME, _no_variables, check_me),
    "rekuest.Query.nodes": Case(NODES, _no_variables, check_nodes),
    "rekuest.Query.node": Case(NODE, lambda w: {"id": w.secret_node}, check_node),
    "rekuest.Query.templates": Case(TEMPLATES, lambda w: {"m": False}, check_templates),
    "rekuest.Query.agents": Case(AGENTS, _no_variables, check_agents),
    "rekuest.Query.assignations": Case(ASSIGNATIONS, _no_variables, check_assignations),
    "rekuest.Query.assignation": Case(
        ASSIGNATION, lambda w: {"id": w.done_call}, check_assignation
    ),
    "rekuest.Mutation.shareTemplate": Case(
        SHARE_TEMPLATE,
        lambda w: {"t": w.templates["xu_secret_echo"], "u": ["bob"], "e": True},
        check_share_template,
    ),
    "rekuest.Mutation.unshareTemplate": Case(
        UNSHARE_TEMPLATE,
        lambda w: {"t": w.templates[SHARED_INTERFACE], "u": ["bob"], "e": True},
        check_unshare_template,
    ),
    "rekuest.Mutation.assign": Case(
        ASSIGN, lambda w: {"n": w.secret_node, "a": {"text": "x"}}, check_assign
    ),
    "rekuest.Mutation.cancel": Case(CANCEL, lambda w: {"a": w.done_call}, check_cancel),
    "rekuest.Subscription.assignationEvents": Case(
        EVENTS, lambda w: {"a": w.done_call}, check_assignation_events
    ),
    "mikro.Query.image": Case(
        IMAGE, _id("private_image"), check_one("image", IMAGE, "private_image", "shared_image")
    ),
    "mikro.Query.images": Case(
        IMAGES, _no_variables, check_many("images", IMAGES, "private_image", "shared_image")
    ),
    "mikro.Query.file": Case(
        FILE, _id("private_file"), check_one("file", FILE, "private_file", "shared_file")
    ),
    "mikro.Query.files": Case(
        FILES, _no_variables, check_many("files", FILES, "private_file", "shared_file")
    ),
    "mikro.Query.imageGrant": Case(
        IMAGE_GRANT,
        _id("private_image"),
        check_grant("imageGrant", IMAGE_GRANT, "private_image", "shared_image"),
    ),
    "mikro.Query.fileGrant": Case(
        FILE_GRANT,
        _id("private_file"),
        check_grant("fileGrant", FILE_GRANT, "private_file", "shared_file"),
    ),
    "mikro.Mutation.requestImageUpload": Case(
        REQUEST_IMAGE,
        lambda w: {"input": image_upload_input("bob-image")},
        check_request_upload("requestImageUpload", REQUEST_IMAGE, "bob-image"),
    ),
    "mikro.Mutation.requestFileUpload": Case(
        REQUEST_FILE,
        lambda w: {"input": {"name": "bob-file", "sizeBytes": 1}},
        check_request_upload("requestFileUpload", REQUEST_FILE, "bob-file"),
    ),
    "mikro.Mutation.renewUploadGrant": Case(
        RENEW, _id("image_upload"), check_on_alices_uploads("renewUploadGrant", RENEW)
    ),
    "mikro.Mutation.finishImageUpload": Case(
        FINISH_IMAGE,
        _id("image_upload"),
        check_on_alices_uploads("finishImageUpload", FINISH_IMAGE),
    ),
    "mikro.Mutation.finishFileUpload": Case(
        FINISH_FILE, _id("file_upload"), check_on_alices_uploads("finishFileUpload", FINISH_FILE)
    ),
    "mikro.Mutation.abortUpload": Case(
        ABORT, _id("image_upload"), check_on_alices_uploads("abortUpload", ABORT)
    ),
    "mikro.Mutation.deleteImage": Case(
        DELETE_IMAGE,
        _id("private_image"),
        check_delete("deleteImage", DELETE_IMAGE, "private_image", "shared_image"),
    ),
    "mikro.Mutation.deleteFile": Case(
        DELETE_FILE,
        _id("private_file"),
        check_delete("deleteFile", DELETE_FILE, "private_file", "shared_file"),
    ),
    "mikro.Mutation.shareImage": Case(
        SHARE_IMAGE,
        lambda w: {"id": w.private_image, "u": ["bob"], "e": True, "un": False},
        check_share("shareImage", SHARE_IMAGE, "private_image", "shared_image"),
    ),
    "mikro.Query.table": Case(TABLE, _id("private_table"), check_one_table),
    "mikro.Query.tables": Case(
        TABLES, _no_variables, check_many("tables", TABLES, "private_table", "shared_table")
    ),
    "mikro.Query.tableGrant": Case(
        TABLE_GRANT,
        _id("private_table"),
        check_grant("tableGrant", TABLE_GRANT, "private_table", "shared_table"),
    ),
    "mikro.Mutation.requestTableUpload": Case(
        REQUEST_TABLE,
        lambda w: {"input": {"name": "bob-table", "sizeBytes": 1}},
        check_request_upload("requestTableUpload", REQUEST_TABLE, "bob-table"),
    ),
    "mikro.Mutation.finishTableUpload": Case(
        FINISH_TABLE,
        _id("table_upload"),
        check_on_alices_uploads("finishTableUpload", FINISH_TABLE),
    ),
    "mikro.Mutation.deleteTable": Case(
        DELETE_TABLE,
        _id("private_table"),
        check_delete("deleteTable", DELETE_TABLE, "private_table", "shared_table"),
    ),
    "mikro.Mutation.shareTable": Case(
        SHARE_TABLE,
        lambda w: {"id": w.private_table, "u": ["bob"], "e": True, "un": False},
        check_share("shareTable", SHARE_TABLE, "private_table", "shared_table"),
    ),
    "mikro.Mutation.shareFile": Case(
        SHARE_FILE,
        lambda w: {"id": w.private_file, "u": ["bob"], "e": True, "un": False},
        check_share("shareFile", SHARE_FILE, "private_file", "shared_file"),
    ),
    "mikro.Query.roi": Case(ROI, _id("private_roi"), check_roi),
    "mikro.Query.rois": Case(ROIS, _no_variables, check_rois),
    "mikro.Query.dataset": Case(DATASET, _id("private_dataset"), check_dataset),
    "mikro.Query.datasets": Case(DATASETS, _no_variables, check_datasets),
    "mikro.Query.datasetImages": Case(
        DATASET_IMAGES,
        _id("private_dataset"),
        check_dataset_members("datasetImages", DATASET_IMAGES, "shared_image"),
    ),
    "mikro.Query.datasetFiles": Case(
        DATASET_FILES,
        _id("private_dataset"),
        check_dataset_members("datasetFiles", DATASET_FILES, "shared_file"),
    ),
    "mikro.Query.datasetTables": Case(
        DATASET_TABLES,
        _id("private_dataset"),
        check_dataset_members("datasetTables", DATASET_TABLES, "shared_table"),
    ),
    "mikro.Mutation.createRoi": Case(
        CREATE_ROI,
        lambda w: {"i": w.private_image, "k": "mask", "m": w.private_image},
        check_create_roi,
    ),
    "mikro.Mutation.deleteRoi": Case(DELETE_ROI, _id("private_roi"), check_delete_roi),
    "mikro.Mutation.ensureDataset": Case(
        ENSURE_DATASET, lambda w: {"n": "x", "parent": w.private_dataset}, check_ensure_dataset
    ),
    "mikro.Mutation.addToDataset": Case(
        ADD_TO_DATASET,
        lambda w: {"id": w.private_dataset, "i": [w.private_image], "d": []},
        check_add_to_dataset,
    ),
    "mikro.Mutation.removeFromDataset": Case(
        REMOVE_FROM_DATASET,
        lambda w: {"id": w.private_dataset, "i": [w.private_image]},
        check_remove_from_dataset,
    ),
    "mikro.Mutation.deleteDataset": Case(
        DELETE_DATASET, _id("private_dataset"), check_delete_dataset
    ),
    "mikro.Mutation.shareDataset": Case(
        SHARE_DATASET,
        lambda w: {"id": w.private_dataset, "u": ["bob"], "e": True, "un": False},
        check_share_dataset,
    ),
}


# -- nested resolvers -----------------------------------------------------------------------------


def check_events_of_a_call(w: World) -> None:
    """A call's events are reached only through the call, and bob reaches no call of alice's."""
    listed = bob(w, "rekuest", ASSIGNATIONS).value("assignations")
    events = [e for call in listed for e in call["events"]]
    w.assert_no_secrets(events, "events through bob's assignations")
    assert bob(w, "rekuest", ASSIGNATION, id=w.done_call).value("assignation") is None
    mine = rpc(w.url, w.alice, ASSIGNATION, id=w.done_call)["assignation"]
    assert mine["events"][-1]["values"] == [SECRET_ARGUMENT], "alice lost her call's events"


NESTED: dict[str, Callable[[World], None]] = {
    "rekuest.Assignation.events": check_events_of_a_call,
}


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("graphql-fields") / "server") as built:
        yield built


def _covered(name: str, served: list[str], table: dict[str, Any], table_name: str) -> None:
    assert name in served, (
        f"{table_name} in {HERE} names {name!r}, which the schema no longer has: remove the entry"
    )
    assert name in table, (
        f"{name} has no cross-user check: add an entry for it to {table_name} in {HERE}"
    )


ROOT_FIELDS = root_fields()
NESTED_FIELDS = nested_resolvers()


@pytest.mark.parametrize("name", sorted(set(ROOT_FIELDS) | set(CASES)))
def test_bob_gets_nothing_of_alices(w: World, name: str) -> None:
    _covered(name, ROOT_FIELDS, CASES, "CASES")
    CASES[name].check(w)


@pytest.mark.parametrize("name", sorted(set(ROOT_FIELDS) | set(CASES)))
def test_without_a_token_every_field_is_refused(w: World, name: str) -> None:
    _covered(name, ROOT_FIELDS, CASES, "CASES")
    case = CASES[name]
    schema = name.split(".")[0]
    for token in (None, "garbage", w.alice + "x"):
        answer = graphql(w.url, SCHEMAS[schema][1], token, case.query, case.variables(w))
        assert answer.status_code == 401, f"{name} with token {token!r}: HTTP {answer.status_code}"
        assert "data" not in answer.json(), f"{name} with token {token!r}: {answer.text}"
    if ".Subscription." in name:
        for token in (None, "garbage"):
            refused = subscribe(w.url, token, case.query, case.variables(w))
            assert refused == [4403], f"{name} over a websocket with token {token!r}: {refused}"


@pytest.mark.parametrize("name", sorted(set(NESTED_FIELDS) | set(NESTED)))
def test_relations_reached_through_objects(w: World, name: str) -> None:
    _covered(name, NESTED_FIELDS, NESTED, "NESTED")
    NESTED[name](w)
