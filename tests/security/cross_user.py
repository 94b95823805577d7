"""The world the cross-user suite attacks: one server, alice's objects of every kind, and bob.

alice (an ordinary user) serves functions from a real SDK agent, shares one of them with bob and
keeps the others private, makes calls, stores images, files and tables (one of each shared with
bob; both tables about a ROI of her private image), groups them in datasets (one shared with
bob), and leaves an image, a file and a table upload in progress. bob is a second ordinary user
who knows every id of hers (ids leak: logs, screenshots, guesses) and must get nothing from them.
Her private names and arguments are :attr:`World.secrets`: no answer to bob may contain any of
them.

The three modules ``test_every_graphql_field``, ``test_every_http_route`` and
``test_every_websocket_message`` each build one world (module scope) and check every field,
route and message against it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from raw_protocol import token_for
from servers import TestServer, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arkitekt import dataset, from_df, from_file, from_xarray, state

PRIVATE_IMAGE = "alice-private-image-c41f"
SHARED_IMAGE = "alice-shared-image-9e07"
PRIVATE_FILE = "alice-private-file-77b2"
SHARED_FILE = "alice-shared-file-1d5a"
UPLOAD_IMAGE = "alice-upload-image-5c9e"
UPLOAD_FILE = "alice-upload-file-0b3d"
PRIVATE_TABLE = "alice-private-table-3a8c"
SHARED_TABLE = "alice-shared-table-6d21"
UPLOAD_TABLE = "alice-upload-table-e5f0"
SECRET_ARGUMENT = "alice-secret-argument-7f3a"
PRIVATE_ROI = "alice-private-roi-3a8d"
SHARED_ROI = "alice-shared-roi-e512"
PRIVATE_DATASET = "alice-private-dataset-6b21"
SHARED_DATASET = "alice-shared-dataset-94c0"
SECRET_INTERFACE = "xu_secret_echo"
PRIVATE_INTERFACE = "xu_private_add"
SHARED_INTERFACE = "xu_shared_add"
HOLD_INTERFACE = "xu_hold"
SECRET_FUNCTION = "alices_secret_echo"
FINAL = ("done", "error", "critical", "cancelled", "lost")


def shared_add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def private_add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


# one definition, two templates: a shared one and a private one of the same node
shared_add.__name__ = private_add.__name__ = "add"


def alices_secret_echo(text: str) -> str:
    """Give the text back (a function only alice may see)."""
    return text


class Holds:
    """alice's ``hold(text)``: runs until the test releases ``text`` (bounded), so a call can be
    attacked while it runs; remembers every text it was called with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._releases: dict[str, threading.Event] = {}
        self.received: list[str] = []

    def _event(self, text: str) -> threading.Event:
        with self._lock:
            return self._releases.setdefault(text, threading.Event())

    def release(self, text: str) -> None:
        self._event(text).set()

    def release_all(self) -> None:
        with self._lock:
            for event in self._releases.values():
                event.set()

    def function(self) -> Any:
        def hold(text: str, bench: Bench) -> str:
            """Wait until released, then give the text back."""
            self.received.append(text)
            bench.holds += 1
            self._event(text).wait(30)
            return text

        return hold


@state
@dataclass
class Bench:
    """The state of alice's agent (she shares a function with bob, so he may read it)."""

    holds: int = 0


@dataclass
class World:
    """The live server, alice's objects (by id) and both users' access tokens."""

    server: TestServer
    alice: str
    bob: str
    holds: Holds
    templates: dict[str, str]
    """alice's interface -> template id."""
    shared_node: str
    """The node of ``add``: offered by a shared and by a private template of alice's."""
    secret_node: str
    """The node of alice's secret echo: only a private template offers it."""
    hold_node: str
    agent: str
    done_call: str
    private_image: str
    shared_image: str
    private_file: str
    shared_file: str
    image_upload: str
    file_upload: str
    private_table: str
    shared_table: str
    table_upload: str
    image_store: str
    """The datalayer prefix of alice's private image."""
    private_roi: str = ""
    """A ROI on alice's private image."""
    shared_roi: str = ""
    """A ROI on alice's shared image."""
    private_dataset: str = ""
    """Holds her private image, file and table."""
    shared_dataset: str = ""
    """Shared with bob; holds her shared image, file and table."""
    secrets: tuple[str, ...] = field(
        default=(
            PRIVATE_ROI,
            PRIVATE_DATASET,
            PRIVATE_IMAGE,
            PRIVATE_FILE,
            UPLOAD_IMAGE,
            UPLOAD_FILE,
            PRIVATE_TABLE,
            UPLOAD_TABLE,
            SECRET_ARGUMENT,
            SECRET_INTERFACE,
            PRIVATE_INTERFACE,
            SECRET_FUNCTION,
        )
    )

    @property
    def url(self) -> str:
        return self.server.url

    def assert_no_secrets(self, answer: object, what: str) -> None:
        """``answer`` (any JSON-able value or text) holds none of alice's private names."""
        text = str(answer)
        leaked = [secret for secret in self.secrets if secret in text]
        assert not leaked, f"{what}: bob's answer carries alice's {leaked}: {text[:500]}"


def graphql(
    url: str,
    path: str,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
) -> httpx.Response:
    """One GraphQL operation over HTTP (``path``: ``/rekuest/graphql`` or ``/mikro/graphql``)."""
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(
        f"{url}{path}",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )


def data(answer: httpx.Response, what: str) -> dict[str, Any]:
    """The ``data`` of a successful answer (AssertionError naming ``what`` otherwise)."""
    assert answer.status_code == 200, f"{what}: HTTP {answer.status_code}: {answer.text}"
    body: dict[str, Any] = answer.json()
    assert not body.get("errors"), f"{what}: {body['errors']}"
    found: dict[str, Any] = body["data"]
    return found


def rpc(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    """The data of a successful ``/rekuest/graphql`` operation."""
    return data(graphql(url, "/rekuest/graphql", token, query, variables), query)


def storage(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    """The data of a successful ``/mikro/graphql`` operation."""
    return data(graphql(url, "/mikro/graphql", token, query, variables), query)


def subscribe(url: str, token: str | None, query: str, variables: dict[str, Any]) -> list[Any]:
    """Run a ``/rekuest/graphql`` subscription over graphql-transport-ws; the server's messages
    up to its end. A refused connection gives its close code as the only item."""
    address = url.replace("http", "ws") + "/rekuest/graphql"
    protocols: Any = ["graphql-transport-ws"]
    with connect(address, subprotocols=protocols, open_timeout=10) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if token is not None:
            init["payload"] = {"token": token}
        ws.send(json.dumps(init))
        try:
            ack = json.loads(ws.recv(timeout=10))
        except ConnectionClosed as closed:
            return [closed.rcvd.code if closed.rcvd else None]
        assert ack["type"] == "connection_ack", ack
        payload = {"query": query, "variables": variables}
        ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": payload}))
        messages: list[Any] = []
        while True:
            message = json.loads(ws.recv(timeout=15))
            if message["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages
            if message["type"] == "next" and message["payload"].get("errors"):
                return messages


ASSIGN = "mutation($n: ID!, $a: JSON!) { assign(node: $n, args: $a) { id } }"
STATUS = "query($id: ID!) { assignation(id: $id) { status events { kind values } } }"


def assign(world: World, node: str, args: dict[str, Any]) -> str:
    """alice calls her own function through GraphQL; the call's id."""
    call_id: str = rpc(world.url, world.alice, ASSIGN, n=node, a=args)["assign"]["id"]
    return call_id


def status(world: World, call_id: str) -> dict[str, Any]:
    """alice's view of her call: status and events."""
    found: dict[str, Any] | None = rpc(world.url, world.alice, STATUS, id=call_id)["assignation"]
    assert found is not None, f"alice lost sight of her call {call_id}"
    return found


def finished(world: World, call_id: str, timeout: float = 30) -> dict[str, Any]:
    """alice's call once it has ended."""

    def ended() -> dict[str, Any] | None:
        found = status(world, call_id)
        return found if found["status"] in FINAL else None

    return wait_for(ended, timeout, f"alice's call {call_id} to end")


def running(world: World, call_id: str) -> None:
    """Wait until alice's call runs on her agent (assigned, not ended)."""
    wait_for(
        lambda: status(world, call_id)["status"] == "assigned",
        20,
        f"alice's call {call_id} to be assigned",
    )


def start_held_call(world: World, text: str) -> str:
    """alice calls ``hold(text)``; returns once her agent runs it."""
    call_id = assign(world, world.hold_node, {"text": text})
    wait_for(lambda: text in world.holds.received, 20, f"alice's agent to run hold({text!r})")
    running(world, call_id)
    return call_id


def finish_held_call(world: World, call_id: str, text: str) -> None:
    """Release alice's held call and check that she gets her own result."""
    world.holds.release(text)
    ended = finished(world, call_id)
    assert ended["status"] == "done", f"alice's call ended as {ended['status']}: {ended}"
    assert ended["events"][-1]["values"] == [text], f"alice got {ended['events'][-1]}"


UPLOAD_IMAGE_OP = """mutation($input: ImageUploadInput!) {
  requestImageUpload(input: $input) { id grant { prefix } }
}"""
UPLOAD_FILE_OP = """mutation($input: FileUploadInput!) {
  requestFileUpload(input: $input) { id grant { prefix } }
}"""
UPLOAD_TABLE_OP = """mutation($input: TableUploadInput!) {
  requestTableUpload(input: $input) { id grant { prefix } }
}"""


def image_upload_input(name: str) -> dict[str, Any]:
    return {"name": name, "shape": [4, 4], "dims": ["y", "x"], "dtype": "uint8", "chunks": [4, 4]}


@contextlib.contextmanager
def world(folder: Path) -> Iterator[World]:
    """Start a server with alice and bob and give alice one object of every kind."""
    holds = Holds()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(TestServer.in_process(folder, users=("alice", "bob")))
        app = server.app("alice", "xu-alice")
        stack.enter_context(app)
        stack.callback(holds.release_all)  # before the app leaves: nothing waits on a hold
        app.register(shared_add, interface=SHARED_INTERFACE)
        app.register(private_add, interface=PRIVATE_INTERFACE)
        app.register(alices_secret_echo, interface=SECRET_INTERFACE)
        app.register(holds.function(), interface=HOLD_INTERFACE)
        app.serve()
        app.rpc.share(SHARED_INTERFACE, users=["bob"])

        alice, bob = token_for(server.url, "alice"), token_for(server.url, "bob")
        mine = rpc(server.url, alice, "{ templates(mine: true) { id interface nodeId } }")[
            "templates"
        ]
        templates = {t["interface"]: t["id"] for t in mine}
        nodes = {t["interface"]: t["nodeId"] for t in mine}
        agents = rpc(server.url, alice, "{ agents { id connected } }")["agents"]
        agent = next(a["id"] for a in agents if a["connected"])

        private_image = from_xarray(
            np.arange(64, dtype="uint8").reshape(8, 8), PRIVATE_IMAGE, dims=["y", "x"], app=app
        )
        shared_image = from_xarray(
            np.ones((8, 8), "uint8"), SHARED_IMAGE, dims=["y", "x"], tags=["xu"], app=app
        )
        shared_image.share(users=["bob"])
        private_file = from_file(_bytes_file(folder, PRIVATE_FILE), PRIVATE_FILE, app=app)
        shared_file = from_file(_bytes_file(folder, SHARED_FILE), SHARED_FILE, app=app)
        shared_file.share(users=["bob"])
        image_upload = storage(
            server.url, alice, UPLOAD_IMAGE_OP, input=image_upload_input(UPLOAD_IMAGE)
        )
        file_upload = storage(
            server.url, alice, UPLOAD_FILE_OP, input={"name": UPLOAD_FILE, "sizeBytes": 3}
        )
        private_roi = private_image.add_roi(kind="point", vectors=[[1, 1]], label=PRIVATE_ROI)
        shared_roi = shared_image.add_roi(kind="point", vectors=[[2, 2]], label=SHARED_ROI)
        columns = {"cell": [1, 2], "note": [PRIVATE_TABLE, PRIVATE_TABLE]}
        private_table = from_df(
            pd.DataFrame(columns), PRIVATE_TABLE, image=private_image, roi=private_roi, app=app
        )
        shared_table = from_df(
            pd.DataFrame({"cell": [1, 2]}), SHARED_TABLE, roi=private_roi, app=app
        )
        shared_table.share(users=["bob"])
        table_upload = storage(
            server.url, alice, UPLOAD_TABLE_OP, input={"name": UPLOAD_TABLE, "sizeBytes": 3}
        )
        image_store = storage(
            server.url,
            alice,
            "query($id: ID!) { imageGrant(id: $id) { prefix } }",
            id=private_image.id,
        )["imageGrant"]["prefix"]

        built = World(
            server=server,
            alice=alice,
            bob=bob,
            holds=holds,
            templates=templates,
            shared_node=nodes[SHARED_INTERFACE],
            secret_node=nodes[SECRET_INTERFACE],
            hold_node=nodes[HOLD_INTERFACE],
            agent=agent,
            done_call="",
            private_image=private_image.id,
            shared_image=shared_image.id,
            private_file=private_file.id,
            shared_file=shared_file.id,
            image_upload=image_upload["requestImageUpload"]["id"],
            file_upload=file_upload["requestFileUpload"]["id"],
            private_table=private_table.id,
            shared_table=shared_table.id,
            table_upload=table_upload["requestTableUpload"]["id"],
            image_store=image_store,
            private_roi=private_roi.id,
            shared_roi=shared_roi.id,
        )
        private_set = dataset(PRIVATE_DATASET, app=app)
        private_set.add(private_image, private_file, private_table)
        shared_set = dataset(SHARED_DATASET, app=app)
        shared_set.add(shared_image, shared_file, shared_table)
        shared_set.share(users=["bob"])
        built.private_dataset, built.shared_dataset = private_set.id, shared_set.id
        built.done_call = assign(built, built.secret_node, {"text": SECRET_ARGUMENT})
        assert finished(built, built.done_call)["status"] == "done"
        yield built


def _bytes_file(folder: Path, name: str) -> Path:
    path = folder.parent / f"{folder.name}-{name}.bin"
    path.write_bytes(f"the content of {name}".encode())
    return path
