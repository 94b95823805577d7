"""The ``/rekuest/ws`` protocol spoken by hand: every message is authorised, bad input closes the
link with a reason, silent or expired links are closed. A real in-process server; the client is
a raw websocket using the shared message models."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from servers import PASSWORD, Servers, TestServer

from arkitekt.protocol.messages import (
    SERVER_FRAME,
    Assign,
    Assignment,
    Cancel,
    Event,
    EventKind,
    Failed,
    Hello,
    Message,
    Ping,
    Pong,
    Reauth,
    Register,
    Registered,
    Report,
    TemplateIn,
    Watch,
    Welcome,
    encode,
)
from arkitekt.services.rpc.definitions import define


def token_for(url: str, username: str) -> str:
    response = httpx.post(
        f"{url}/f/token/",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "manifest": json.dumps({"identifier": f"raw-{username}", "version": "1"}),
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def new_id() -> str:
    return uuid.uuid4().hex


class Raw:
    """A hand-driven connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox: list[Message] = []

    async def send(self, *messages: Message) -> None:
        await self.ws.send(encode(list(messages)))

    async def expect(self, kind: type[Message], timeout: float = 5.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for i, message in enumerate(self.inbox):
                    if isinstance(message, kind):
                        return self.inbox.pop(i)
                frame = SERVER_FRAME.validate_json(await self.ws.recv())
                for message in frame:
                    if isinstance(message, Ping):
                        await self.send(Pong())
                    else:
                        self.inbox.append(message)


async def connect(url: str, token: str, **hello: Any) -> Raw:
    ws = await websockets.connect(url.replace("http", "ws") + "/rekuest/ws")
    raw = Raw(ws)
    await raw.send(Hello(token=token, session=new_id(), **hello))
    await raw.expect(Welcome)
    return raw


async def closed_with(ws: Any) -> tuple[int, str, str]:
    """Read until the server closes; returns (close code, goodbye code, goodbye message)."""
    goodbye = ("", "")
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with asyncio.timeout(10):
            while True:
                for message in json.loads(await ws.recv()):
                    if message["type"] == "goodbye":
                        goodbye = (message["code"], message["message"])
    return caught.value.rcvd.code, *goodbye  # type: ignore[union-attr]


def echo(text: str) -> str:
    """Give the text back."""
    return text


ECHO = TemplateIn(interface="echo", definition=define(echo))


@pytest.fixture
def server(servers: Servers) -> TestServer:
    return servers.in_process(
        users=("alice", "bob"),
        rpc_heartbeat_interval=0.2,
        rpc_heartbeat_timeout=1.0,
        access_token_ttl=3,
    )


@pytest.mark.parametrize(
    ("first_frame", "code", "mentions"),
    [
        ("not json", "protocol", "not valid"),
        ("[]", "protocol", "one hello"),
        ('[{"type": "find", "rid": 1}]', "protocol", "one hello"),
        ('[{"type": "hello", "token": "x", "session": "short"}]', "protocol", "session"),
        ('[{"type": "hello", "token": "nope", "session": "' + "a" * 32 + '"}]', "unauthorized", ""),
        ('[{"type": "nonsense"}]', "protocol", "not valid"),
    ],
)
async def test_a_bad_first_frame_closes_with_a_reason(
    server: Any, first_frame: str, code: str, mentions: str
) -> None:
    async with websockets.connect(server.url.replace("http", "ws") + "/rekuest/ws") as ws:
        await ws.send(first_frame)
        close_code, goodbye, message = await closed_with(ws)
    assert goodbye == code
    assert close_code == (4001 if code == "unauthorized" else 4002)
    assert mentions in message


async def test_a_newer_protocol_is_refused_with_a_hint(server: Any) -> None:
    token = token_for(server.url, "alice")
    async with websockets.connect(server.url.replace("http", "ws") + "/rekuest/ws") as ws:
        await ws.send(encode([Hello(token=token, session=new_id(), protocol=99)]))
        _, goodbye, message = await closed_with(ws)
    assert goodbye == "protocol" and "upgrade arkitekt" in message


async def test_hello_twice_and_bad_frames_later_close_the_link(server: Any) -> None:
    token = token_for(server.url, "alice")
    raw = await connect(server.url, token)
    await raw.send(Hello(token=token, session=new_id()))
    _, goodbye, message = await closed_with(raw.ws)
    assert goodbye == "protocol" and "hello twice" in message
    raw = await connect(server.url, token)
    await raw.ws.send('[{"type": "assign", "id": "zz", "args": {}}]')
    _, goodbye, message = await closed_with(raw.ws)
    assert goodbye == "protocol" and "id" in message


async def test_every_message_is_authorised(server: Any) -> None:
    alice_token, bob_token = token_for(server.url, "alice"), token_for(server.url, "bob")
    agent = await connect(server.url, alice_token)
    await agent.send(Register(rid=1, templates=[ECHO]))
    registered = await agent.expect(Registered)
    node = registered.templates[0].node
    caller = await connect(server.url, alice_token)
    bob = await connect(server.url, bob_token)

    # bob cannot call alice's private function: it is simply not there for him
    await bob.send(Assign(id=new_id(), node=node, args={"text": "hi"}))
    failed = await bob.expect(Failed)
    assert failed.code == "no_provider"

    # alice can; her call reaches her agent
    call_id = new_id()
    await caller.send(Assign(id=call_id, node=node, args={"text": "hi"}))
    assignment = await agent.expect(Assignment)
    assert assignment.assignation == call_id and assignment.args == {"text": "hi"}

    # bob can neither cancel it, watch it, nor report on it
    await bob.send(Cancel(assignation=call_id))
    assert (await bob.expect(Failed)).code == "not_found"
    await bob.send(Watch(assignations={call_id: -1}))
    assert (await bob.expect(Failed)).code == "not_found"
    await bob.send(Report(seq=1, assignation=call_id, kind=EventKind.DONE, values=["forged"]))
    assert (await bob.expect(Failed)).code == "not_an_agent"
    # ... not even as an agent of his own
    await bob.send(Register(rid=1, templates=[ECHO]))
    await bob.expect(Registered)
    await bob.send(Report(seq=2, assignation=call_id, kind=EventKind.DONE, values=["forged"]))
    # a child call needs a parent running on the sender's own agent
    await bob.send(Assign(id=new_id(), node=node, args={"text": "x"}, parent=call_id))
    assert (await bob.expect(Failed)).code == "bad_parent"

    # agents cannot invent server events
    await agent.send(Report(seq=1, assignation=call_id, kind=EventKind.LOST))
    assert (await agent.expect(Failed)).code == "bad_report"
    # the real agent's answer is the one the caller gets
    await agent.send(Report(seq=2, assignation=call_id, kind=EventKind.DONE, values=["hi"]))
    event = await caller.expect(Event)
    assert event.kind is EventKind.DONE and event.values == ["hi"]

    # a duplicate id is refused
    await caller.send(Assign(id=call_id, node=node, args={"text": "again"}))
    assert (await caller.expect(Failed)).code == "duplicate"
    for raw in (agent, caller, bob):
        await raw.ws.close()


async def test_reports_are_acknowledged_and_resent_reports_ignored(server: Any) -> None:
    token = token_for(server.url, "alice")
    agent = await connect(server.url, token)
    await agent.send(Register(rid=1, templates=[ECHO]))
    node = (await agent.expect(Registered)).templates[0].node
    caller = await connect(server.url, token)
    call_id = new_id()
    await caller.send(Assign(id=call_id, node=node, args={"text": "a"}))
    await agent.expect(Assignment)
    report = Report(seq=1, assignation=call_id, kind=EventKind.PROGRESS, progress=50)
    await agent.send(report, report)  # the second is a re-send: stored once
    await agent.send(Report(seq=2, assignation=call_id, kind=EventKind.DONE, values=["a"]))
    events = [await caller.expect(Event), await caller.expect(Event)]
    assert [e.kind for e in events] == [EventKind.PROGRESS, EventKind.DONE]
    await caller.send(Watch(assignations={call_id: -1}))  # a caller catching up gets it all again
    replay = [await caller.expect(Event), await caller.expect(Event)]
    assert [e.index for e in replay] == [e.index for e in events]


async def test_a_silent_client_is_disconnected(server: Any) -> None:
    token = token_for(server.url, "alice")
    async with websockets.connect(server.url.replace("http", "ws") + "/rekuest/ws") as ws:
        await ws.send(encode([Hello(token=token, session=new_id())]))
        # never answer the pings
        close_code, goodbye, _ = await closed_with(ws)
    assert (close_code, goodbye) == (4008, "silent")


async def test_an_expired_token_closes_the_link_unless_renewed(server: Any) -> None:
    raw = await connect(server.url, token_for(server.url, "alice"))
    # renewing the token before it expires (3 s) keeps the link open past its first expiry
    for step in range(8):
        await asyncio.sleep(0.6)
        await raw.send(Pong())
        if step % 3 == 2:
            await raw.send(Reauth(token=token_for(server.url, "alice")))
    await raw.send(Ping())
    await raw.expect(Pong)
    # stop renewing (still answering): closed when the last token expires
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with asyncio.timeout(10):
            while True:
                await asyncio.sleep(0.3)
                await raw.send(Pong())
    assert caught.value.rcvd.code == 4001  # type: ignore[union-attr]


async def test_reauth_as_another_user_is_refused(server: Any) -> None:
    raw = await connect(server.url, token_for(server.url, "alice"))
    await raw.send(Reauth(token=token_for(server.url, "bob")))
    close_code, goodbye, message = await closed_with(raw.ws)
    assert (close_code, goodbye) == (4001, "unauthorized") and "another user" in message


async def test_reservations_and_calls_are_stored(server: Any) -> None:
    from sqlalchemy import select

    from arkitekt.protocol.messages import ReservationStatus, Reserve, Unreserve
    from arkitekt.server.rpc.models import Assignation, AssignationEvent, Reservation

    token = token_for(server.url, "alice")
    agent = await connect(server.url, token)
    await agent.send(Register(rid=1, templates=[ECHO]))
    node = (await agent.expect(Registered)).templates[0].node
    caller = await connect(server.url, token)
    reservation, call_id = new_id(), new_id()
    await caller.send(Reserve(id=reservation, node=node))
    assert (await caller.expect(ReservationStatus)).providers == 1
    await caller.send(Assign(id=call_id, reservation=reservation, args={"text": "kept"}))
    await agent.expect(Assignment)
    await agent.send(Report(seq=1, assignation=call_id, kind=EventKind.DONE, values=["kept"]))
    await caller.expect(Event)
    await caller.send(Unreserve(reservation=reservation))

    async def stored() -> tuple[Any, Any, list[str]]:
        await server.state.rpc.recorder.flush()
        async with server.state.db.new_session() as s:
            row = await s.get(Reservation, reservation)
            call = await s.get(Assignation, call_id)
            kinds = list(
                await s.scalars(
                    select(AssignationEvent.kind)
                    .where(AssignationEvent.assignation_id == call_id)
                    .order_by(AssignationEvent.index)
                )
            )
            return row, call, kinds

    for _ in range(50):
        row, call, kinds = server.call(stored)
        if row is not None and row.ended_at is not None:
            break
        await asyncio.sleep(0.05)
    assert row.node_id == node and row.ended_at is not None
    assert call.status == "done" and call.reservation_id == reservation
    assert call.args == {"text": "kept"} and call.finished_at is not None
    assert kinds == ["assigned", "done"]
