"""The ``/rekuest/ws`` protocol spoken by hand: every message is authorised, bad input closes the
link with a reason, silent or expired links are closed. A real in-process server; the client is
a raw websocket using the shared message models."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import websockets
from raw_protocol import closed_with, connect, new_id, token_for
from servers import Servers, TestServer

from arkitekt.protocol.messages import (
    Assign,
    Assignment,
    Cancel,
    Event,
    EventKind,
    Failed,
    Hello,
    Ping,
    Pong,
    Reauth,
    Register,
    Registered,
    Report,
    TemplateIn,
    Watch,
    encode,
)
from arkitekt.services.rpc.definitions import define


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
    first_expiry = time.monotonic() + 3  # the fixture's access tokens live 3 s

    async def keep_answering() -> None:  # heartbeats time out after 1 s here
        while True:
            await raw.send(Pong())
            await asyncio.sleep(0.3)

    answering = asyncio.create_task(keep_answering())
    try:
        # renewing keeps the link open past the first token's expiry (a password login can
        # take a while on a loaded machine: it runs beside the heartbeats)
        while time.monotonic() < first_expiry + 1.5:
            await raw.send(Reauth(token=await asyncio.to_thread(token_for, server.url, "alice")))
        await raw.send(Ping())
        await raw.expect(Pong)
        # stop renewing (still answering): closed when the last token expires
        with pytest.raises(websockets.ConnectionClosed) as caught:
            async with asyncio.timeout(10):
                while True:
                    await raw.expect(Pong, timeout=10)
    finally:
        answering.cancel()
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
