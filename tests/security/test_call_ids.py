"""Issue 11, finding 2: a reused call id neither stops history being stored for everyone nor
shows anyone SQL or another user's arguments.

Call ids are chosen by the client. The broker refuses ids it holds in memory; an id it has
forgotten (a call finished a while ago) is caught by the recorder's insert, which refuses that
one call (``duplicate``) and stores every other row. A row the database refuses for another
reason (its user was removed meanwhile) is dropped alone; an unreachable database holds rows
back, bounded: past the backlog limit new calls are refused as ``busy``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from raw_protocol import Raw, connect, new_id, token_for
from servers import Servers, TestServer, wait_for

from arkitekt.protocol.ids import time_ordered_id
from arkitekt.protocol.messages import (
    Assign,
    Assignment,
    Event,
    EventKind,
    Failed,
    Register,
    Registered,
    Report,
    TemplateIn,
)
from arkitekt.server.db import Database
from arkitekt.server.models import User, utcnow
from arkitekt.server.rpc.models import Assignation, AssignationEvent, Node
from arkitekt.server.rpc.recorder import Recorder
from arkitekt.services.rpc.definitions import define


def echo(text: str) -> str:
    """Give the text back."""
    return text


ECHO = TemplateIn(interface="echo", definition=define(echo))
SQL_WORDS = ("insert", "select", "sqlite", "integrity", "parameters", "rpc_assignations")


async def serve_echo(agent: Raw) -> None:
    """Answer every assignment like ``echo`` would."""
    seq = 0
    while True:
        assignment = await agent.expect(Assignment, timeout=60)
        seq += 1
        await agent.send(
            Report(
                seq=seq,
                assignation=assignment.assignation,
                kind=EventKind.DONE,
                values=[assignment.args["text"]],
            )
        )


async def final_event(caller: Raw, call_id: str) -> Event | Failed:
    """The call's result, or the refusal the caller got for it."""

    def final(message: Any) -> bool:
        if isinstance(message, Failed):
            return message.assignation == call_id
        return (
            isinstance(message, Event)
            and message.assignation == call_id
            and message.kind is EventKind.DONE
        )

    found: Event | Failed = await caller.expect_matching(final, timeout=10)
    return found


def graphql(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/rekuest/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    text = str(body).lower()
    assert not any(word in text for word in SQL_WORDS), body
    return body


STORED = "query ($id: ID!) { assignation(id: $id) { status args } }"


def stored(url: str, token: str, call_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = graphql(url, token, STORED, id=call_id)["data"]["assignation"]
    return found


@pytest.fixture
def server(servers: Servers) -> TestServer:
    # finished calls are forgotten after 2 x grace: 1 s here
    return servers.in_process(users=("alice", "bob"), rpc_reconnect_grace=0.5)


async def test_a_reused_id_is_refused_at_assign_and_everyone_else_is_still_stored(
    server: TestServer,
) -> None:
    alice_token, bob_token = token_for(server.url, "alice"), token_for(server.url, "bob")
    alice_agent = await connect(server.url, alice_token)
    bob_agent = await connect(server.url, bob_token)
    for agent in (alice_agent, bob_agent):
        await agent.send(Register(rid=1, templates=[ECHO]))
        node = (await agent.expect(Registered)).templates[0].node
    serving = [asyncio.create_task(serve_echo(a)) for a in (alice_agent, bob_agent)]
    alice, bob = await connect(server.url, alice_token), await connect(server.url, bob_token)
    try:
        taken = new_id()
        await alice.send(Assign(id=taken, node=node, args={"text": "alice's secret"}))
        assert isinstance(await final_event(alice, taken), Event)
        # once the broker has forgotten the call, the id is still taken
        await asyncio.sleep(1.2)
        later = new_id()
        await alice.send(Assign(id=later, node=node, args={"text": "later"}))
        await final_event(alice, later)
        assert server.state.rpc is not None and server.state.rpc.broker.call(taken) is None

        await bob.send(Assign(id=taken, node=node, args={"text": "bob reuses the id"}))
        refused = await final_event(bob, taken)
        assert isinstance(refused, Failed) and refused.code == "duplicate"
        assert not any(
            isinstance(m, Assignment) and m.assignation == taken for m in bob_agent.inbox
        )

        # history goes on being stored, for both of them
        for caller, token in ((alice, alice_token), (bob, bob_token)):
            call_id = new_id()
            await caller.send(Assign(id=call_id, node=node, args={"text": "after"}))
            assert isinstance(await final_event(caller, call_id), Event)
            row = await asyncio.to_thread(
                wait_for, partial(stored, server.url, token, call_id), 10, "a call stored"
            )
            assert row["status"] == "done"

        # alice's record is untouched, and bob sees nothing of it
        assert stored(server.url, alice_token, taken) == {
            "status": "done",
            "args": {"text": "alice's secret"},
        }
        assert stored(server.url, bob_token, taken) is None
        assert server.state.rpc.recorder.pending == 0
    finally:
        for task in serving:
            task.cancel()


async def test_ids_stay_taken_across_a_restart_and_must_be_fresh(server: TestServer) -> None:
    token = token_for(server.url, "alice")
    agent = await connect(server.url, token)
    await agent.send(Register(rid=1, templates=[ECHO]))
    node = (await agent.expect(Registered)).templates[0].node
    serving = asyncio.create_task(serve_echo(agent))
    caller = await connect(server.url, token)
    taken = new_id()
    await caller.send(Assign(id=taken, node=node, args={"text": "before"}))
    assert isinstance(await final_event(caller, taken), Event)
    serving.cancel()
    await asyncio.to_thread(server.stop)  # stopping flushes what was pending
    await asyncio.to_thread(server.start)

    token = token_for(server.url, "alice")
    agent = await connect(server.url, token)
    await agent.send(Register(rid=1, templates=[ECHO]))
    await agent.expect(Registered)
    caller = await connect(server.url, token)
    cases = {
        taken: "duplicate",  # read back from the database at start
        time_ordered_id(time.time() - 3600): "expired_id",  # older than the window
        time_ordered_id(time.time() + 3600): "expired_id",  # from the future
        uuid.uuid4().hex: "bad_request",  # not time-ordered: cannot be checked
    }
    for call_id, code in cases.items():
        await caller.send(Assign(id=call_id, node=node, args={"text": "again"}))
        refused = await final_event(caller, call_id)
        assert isinstance(refused, Failed) and refused.code == code, (call_id, refused)
    assert agent.inbox == []  # none of them reached the agent


# -- the recorder on its own, against a real database ----------------------------------------------


async def _database(tmp_path: Path) -> tuple[Database, str, str]:
    """A migrated SQLite database with one user and one node; returns their ids."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    await db.migrate()
    async with db.new_session() as s, s.begin():
        user = User(username="carol", password_hash="-")
        node = Node(hash="h" * 64, name="echo", kind="function", definition={})
        s.add_all([user, node])
        await s.flush()
        return db, user.id, node.id


def _row(call_id: str, user_id: str, node_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "user_id": user_id,
        "app_identifier": "test",
        "node_id": node_id,
        "template_id": None,
        "agent_id": None,
        "reservation_id": None,
        "parent_id": None,
        "args": {"text": call_id},
        "status": "queued",
        "created_at": utcnow(),
        "finished_at": None,
    }


async def _stored_ids(db: Database) -> tuple[set[str], int]:
    from sqlalchemy import func, select

    async with db.new_session() as s:
        ids = set(await s.scalars(select(Assignation.id)))
        events = await s.scalar(select(func.count()).select_from(AssignationEvent))
    return ids, int(events or 0)


async def test_a_row_the_database_refuses_is_dropped_alone(tmp_path: Path) -> None:
    db, user_id, node_id = await _database(tmp_path)
    recorder = Recorder(db)
    rejected: list[list[str]] = []
    recorder.on_rejected(rejected.append)
    try:
        good, orphan, reused = new_id(), new_id(), new_id()
        recorder.created(_row(reused, user_id, node_id))
        await recorder.flush()
        recorder.created(_row(good, user_id, node_id))
        recorder.created(_row(orphan, new_id(), node_id))  # its user is gone: a foreign key fails
        recorder.created(_row(reused, user_id, node_id))  # its id is stored already
        for call_id in (good, orphan, reused):
            recorder.event(call_id, 0, "done", {"values": [1]}, utcnow())
            recorder.changed(call_id, status="done")
        await recorder.flush()
        assert await _stored_ids(db) == ({reused, good}, 1)
        assert rejected == [[reused]]
        assert recorder.dropped == 2 and recorder.pending == 0  # the orphan and its event
        # what comes later for the refused id is dropped too, and nothing is stuck
        recorder.event(reused, 1, "log", {}, utcnow())
        assert recorder.pending == 0
    finally:
        await db.dispose()


async def test_an_unreachable_database_holds_rows_back_within_a_bound(tmp_path: Path) -> None:
    db, user_id, node_id = await _database(tmp_path)
    recorder = Recorder(db, max_backlog=4)
    blocker = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the file: writes fail
        ids = [new_id() for _ in range(4)]
        for call_id in ids:
            recorder.created(_row(call_id, user_id, node_id))
        started = time.monotonic()
        with pytest.raises(Exception, match="OperationalError"):
            await recorder.flush()
        assert time.monotonic() - started < 30
        assert recorder.pending == 4 and recorder.overloaded  # kept, and new calls are refused
        blocker.execute("ROLLBACK")
        await recorder.flush()
        assert not recorder.overloaded and recorder.pending == 0
        assert (await _stored_ids(db))[0] == set(ids)  # nothing was lost meanwhile
    finally:
        blocker.close()
        await db.dispose()
