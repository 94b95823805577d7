"""Every client-to-server message of ``/rekuest/ws`` is checked across users: bob sends it naming
alice's objects (her calls, templates, nodes, reservation, agent and session) and is refused or
learns nothing, and alice's objects go on as if he had not.

The message types are read from the frame decoder the gateway uses (``CLIENT_FRAME``); a type
without an entry in :data:`CASES` fails here, naming it, and so does an entry for a type that
no longer exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import websockets
from cross_user import (
    HOLD_INTERFACE,
    PRIVATE_INTERFACE,
    SECRET_ARGUMENT,
    SECRET_INTERFACE,
    SHARED_INTERFACE,
    World,
    alices_secret_echo,
    shared_add,
    world,
)
from raw_protocol import Raw, closed_with, connect, new_id

from arkitekt.protocol.messages import (
    CLIENT_FRAME,
    Assign,
    Assignment,
    Cancel,
    Event,
    EventKind,
    Failed,
    Find,
    Found,
    Hello,
    Message,
    Ping,
    Pong,
    PublishState,
    Reauth,
    Register,
    Registered,
    Report,
    ReservationStatus,
    Reserve,
    Share,
    StateUpdate,
    TemplateIn,
    Unreserve,
    UnwatchState,
    Watch,
    WatchState,
    Welcome,
)
from arkitekt.services.rpc.definitions import define

HERE = "tests/security/test_every_websocket_message.py"
QUIET = 0.5
"""Seconds bob listens after alice's call ended for anything of hers reaching him."""


def client_message_types() -> list[str]:
    """The ``type`` of every message the gateway decodes from a client's frame."""
    mapping: dict[str, str] = CLIENT_FRAME.json_schema()["items"]["discriminator"]["mapping"]
    return sorted(mapping)


# -- links and calls ------------------------------------------------------------------------------


async def open_link(w: World, token: str, session: str, **hello: Any) -> tuple[Raw, Welcome]:
    """A connection that says hello with a chosen session; the link and its welcome."""
    ws = await websockets.connect(w.url.replace("http", "ws") + "/rekuest/ws", open_timeout=10)
    raw = Raw(ws)
    await raw.send(Hello(token=token, session=session, **hello))
    welcome: Welcome = await raw.expect(Welcome)
    return raw, welcome


async def until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll ``condition`` without blocking the loop; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        await asyncio.sleep(0.05)


async def alice_holds(w: World, alice: Raw, text: str) -> str:
    """alice calls her ``hold(text)`` on her link; returns the call's id once it runs."""
    call_id = new_id()
    await alice.send(Assign(id=call_id, node=w.hold_node, args={"text": text}))
    await until(lambda: text in w.holds.received, f"alice's agent running hold({text!r})")
    return call_id


async def alice_gets_her_result(w: World, alice: Raw, call_id: str, text: str) -> list[Event]:
    """Release alice's held call: she gets her own result, nothing forged; her call's events."""
    w.holds.release(text)
    events: list[Event] = []
    while not events or events[-1].kind is not EventKind.DONE:
        message = await alice.expect_matching(
            lambda m: getattr(m, "assignation", None) == call_id, timeout=20
        )
        assert isinstance(message, Event), f"alice's call {call_id} got {message}"
        assert message.kind in (EventKind.DONE, EventKind.LOG, EventKind.PROGRESS), (
            f"alice's call {call_id} ended as {message.kind}: {message}"
        )
        events.append(message)
    assert events[-1].values == [text], f"alice's call {call_id} returned {events[-1].values}"
    return events


async def bob_hears_nothing_of(w: World, bob: Raw, call_ids: set[str], what: str) -> None:
    """bob receives no event of alice's calls and none of her secrets within :data:`QUIET`."""
    try:
        found = await bob.expect_matching(
            lambda m: isinstance(m, Event) and m.assignation in call_ids, timeout=QUIET
        )
    except TimeoutError:
        pass
    else:
        raise AssertionError(f"{what}: bob received alice's event {found}")
    w.assert_no_secrets([m.model_dump() for m in bob.inbox], what)


async def refused(bob: Raw, what: str, **about: str) -> Failed:
    """The Failed bob gets about one object (``assignation=...`` / ``reservation=...``)."""
    ((field, value),) = about.items()

    def matches(message: Message) -> bool:
        return isinstance(message, Failed) and getattr(message, field) == value

    try:
        failed: Failed = await bob.expect_matching(matches, timeout=5)
    except TimeoutError:
        raise AssertionError(f"{what}: bob was not refused (got {bob.inbox})") from None
    return failed


async def answer(raw: Raw, kind: type[Message], rid: int) -> Any:
    """The answer of ``kind`` to the request ``rid``."""
    return await raw.expect_matching(
        lambda m: isinstance(m, kind) and getattr(m, "rid", None) == rid
    )


def alice_template(w: World, interface: str) -> str:
    return w.templates[interface]


def alices_templates(found: Found) -> set[str]:
    """The templates bob found that are not his own."""
    return {t.id for node in found.nodes for t in node.templates if t.owner != "bob"}


# -- the checks, one per message type -------------------------------------------------------------


Check = Callable[[World, Raw, Raw], Awaitable[None]]
"""A check gets the world, a fresh link of alice's (a caller) and one of bob's."""


async def check_hello(w: World, alice: Raw, bob: Raw) -> None:
    """bob presents the session of alice's agent (and her running call as known): he resumes
    nothing of hers, and her agent keeps its link and its calls."""
    session = new_id()
    agent, _ = await open_link(w, w.alice, session)
    try:
        await agent.send(
            Register(
                rid=1,
                templates=[TemplateIn(interface="xu_raw", definition=define(alices_secret_echo))],
            )
        )
        template = (await agent.expect(Registered)).templates[0].template
        text = "alice-held-for-hello"
        held = await alice_holds(w, alice, text)
        intruder, welcome = await open_link(w, w.bob, session, known=[held])
        try:
            assert welcome.resumed is False and welcome.user == "bob", f"bob resumed: {welcome}"
            call_id = new_id()
            await alice.send(
                Assign(
                    id=call_id,
                    node=w.secret_node,
                    templates=[template],
                    args={"text": SECRET_ARGUMENT},
                )
            )
            assignment = await agent.expect(Assignment, timeout=10)  # still alice's agent
            assert assignment.assignation == call_id and assignment.user == "alice"
            await agent.send(
                Report(seq=1, assignation=call_id, kind=EventKind.DONE, values=[SECRET_ARGUMENT])
            )
            done = await alice.expect_matching(
                lambda m: isinstance(m, Event) and m.assignation == call_id, timeout=10
            )
            assert done.kind is EventKind.DONE, done
            await alice_gets_her_result(w, alice, held, text)
            await bob_hears_nothing_of(w, intruder, {call_id, held}, "hello with alice's session")
            assert not any(isinstance(m, Assignment) for m in intruder.inbox), intruder.inbox
        finally:
            await intruder.ws.close()
    finally:
        await agent.ws.close()


async def check_reauth(w: World, alice: Raw, bob: Raw) -> None:
    """A link cannot change its user: a token of alice's on bob's link ends the link."""
    await bob.send(Reauth(token=w.alice))
    code, goodbye, message = await closed_with(bob.ws)
    assert (code, goodbye) == (4001, "unauthorized"), (code, goodbye, message)
    assert "another user" in message, message


def bobs_echo(text: str) -> str:
    """Give the text back (bob's own function)."""
    return text


BOBS_OWN = TemplateIn(interface="bob_echo", definition=define(bobs_echo))
BOBS_COPY = TemplateIn(interface="bob_copy", definition=define(shared_add))
"""bob registers alice's shared function as his own: the same node, a template of his."""


async def check_register(w: World, alice: Raw, bob: Raw) -> None:
    """bob registers alice's function as his own (the same node): he gets a template of his
    own, and alice's calls still go to her agent only."""
    await bob.send(Register(rid=7, templates=[BOBS_COPY]))
    registered: Registered = await bob.expect(Registered)
    mine = registered.templates[0]
    assert mine.node == w.shared_node, "the copy should be the same node as alice's"
    assert mine.template not in w.templates.values(), "bob was given alice's template"
    await bob.send(Find(rid=8, node=mine.node, shared=True))
    found: Found = await bob.expect(Found)
    alices = alices_templates(found)
    assert alices <= {alice_template(w, SHARED_INTERFACE)}, f"bob found alice's {alices}"
    call_id = new_id()
    await alice.send(Assign(id=call_id, node=w.shared_node, args={"a": 20, "b": 22}))
    done = await alice.expect_matching(
        lambda m: isinstance(m, Event) and m.assignation == call_id, timeout=10
    )
    assert done.kind is EventKind.DONE and done.values == [42], done
    assert not any(isinstance(m, Assignment) for m in bob.inbox), "alice's call reached bob"
    await bob_hears_nothing_of(w, bob, {call_id}, "bob's copy of alice's function")


async def check_find(w: World, alice: Raw, bob: Raw) -> None:
    """bob finds only what alice shared with him, and only through the shared template."""
    searches = [
        Find(rid=1, node=w.secret_node),
        Find(rid=2, node=w.secret_node, owner="alice"),
        Find(rid=3, node=w.hold_node, shared=True),
        Find(rid=4, interface=PRIVATE_INTERFACE, owner="alice"),
        Find(rid=5, interface=SECRET_INTERFACE, shared=True),
        Find(rid=6, search="secret", shared=True),
        Find(rid=7),
        Find(rid=8, owner="alice"),
        Find(rid=9, shared=True),
        Find(rid=10, node=w.shared_node, shared=True),
    ]
    shared = alice_template(w, SHARED_INTERFACE)
    for search in searches:
        await bob.send(search)
        found: Found = await answer(bob, Found, search.rid)
        assert alices_templates(found) <= {shared}, f"{search}: bob found {found.nodes}"
        for node in found.nodes:
            interfaces = {t.interface for t in node.templates if t.owner != "bob"}
            assert interfaces <= {SHARED_INTERFACE}, f"{search}: {node.interfaces}"
            if interfaces:
                assert node.id == w.shared_node, f"{search}: {node.id}"
        w.assert_no_secrets(found.model_dump(), str(search))


async def check_assign(w: World, alice: Raw, bob: Raw) -> None:
    """bob's calls never reach alice's private templates, her calls, nor her reservations."""
    text = "alice-held-for-assign"
    held = await alice_holds(w, alice, text)
    reservation = new_id()
    await alice.send(Reserve(id=reservation, node=w.hold_node))
    await alice.expect_matching(lambda m: isinstance(m, ReservationStatus))
    probe = {"text": "bob-probe"}
    attempts = {
        "alice's node": Assign(id=new_id(), node=w.hold_node, args=probe),
        "alice's private template": Assign(
            id=new_id(),
            node=w.secret_node,
            templates=[alice_template(w, SECRET_INTERFACE)],
            args=probe,
        ),
        "alice's template alone": Assign(
            id=new_id(), templates=[alice_template(w, HOLD_INTERFACE)], args=probe
        ),
        "the shared node, privately": Assign(
            id=new_id(),
            node=w.shared_node,
            templates=[alice_template(w, PRIVATE_INTERFACE)],
            args={"a": 1, "b": 2},
        ),
        "alice's reservation": Assign(id=new_id(), reservation=reservation, args=probe),
        "alice's call as parent": Assign(id=new_id(), node=w.hold_node, parent=held, args=probe),
        "alice's call id": Assign(id=held, node=w.hold_node, args=probe),
    }
    for what, attempt in attempts.items():
        await bob.send(attempt)
        failed = await refused(bob, what, assignation=attempt.id)
        w.assert_no_secrets(failed.model_dump(), what)
    assert "bob-probe" not in w.holds.received, "bob's call reached alice's agent"
    await alice_gets_her_result(w, alice, held, text)
    await bob_hears_nothing_of(w, bob, {held}, "bob's assigns")


async def check_cancel(w: World, alice: Raw, bob: Raw) -> None:
    text = "alice-held-for-cancel"
    held = await alice_holds(w, alice, text)
    for call_id in (held, w.done_call):
        await bob.send(Cancel(assignation=call_id))
        failed = await refused(bob, "cancel of alice's call", assignation=call_id)
        assert failed.code == "not_found", failed
    await alice_gets_her_result(w, alice, held, text)  # not cancelled
    await bob_hears_nothing_of(w, bob, {held}, "bob's cancel")


async def check_watch(w: World, alice: Raw, bob: Raw) -> None:
    text = "alice-held-for-watch"
    held = await alice_holds(w, alice, text)
    await bob.send(Watch(assignations={held: -1, w.done_call: -1}))
    for call_id in (held, w.done_call):
        failed = await refused(bob, "watch of alice's call", assignation=call_id)
        assert failed.code == "not_found", failed
    await alice_gets_her_result(w, alice, held, text)
    await bob_hears_nothing_of(w, bob, {held, w.done_call}, "bob's watch")


async def check_reserve(w: World, alice: Raw, bob: Raw) -> None:
    reservation = new_id()
    await alice.send(Reserve(id=reservation, node=w.hold_node))
    await alice.expect_matching(lambda m: isinstance(m, ReservationStatus))
    attempts = {
        "alice's reservation id": Reserve(
            id=reservation, node=w.shared_node, templates=[alice_template(w, SHARED_INTERFACE)]
        ),
        "alice's node": Reserve(id=new_id(), node=w.hold_node),
        "alice's private template": Reserve(
            id=new_id(), node=w.secret_node, templates=[alice_template(w, SECRET_INTERFACE)]
        ),
        "the shared node, privately": Reserve(
            id=new_id(), node=w.shared_node, templates=[alice_template(w, PRIVATE_INTERFACE)]
        ),
        "alice's agent": Reserve(id=new_id(), node=w.hold_node, agents=[w.agent]),
    }
    for what, attempt in attempts.items():
        await bob.send(attempt)
        failed = await refused(bob, what, reservation=attempt.id)
        assert failed.code in ("duplicate", "not_found"), f"{what}: {failed}"
    assert not any(isinstance(m, ReservationStatus) for m in bob.inbox), bob.inbox
    await alice_calls_through(w, alice, reservation, "alice-through-reserved")


async def alice_calls_through(w: World, alice: Raw, reservation: str, text: str) -> None:
    """alice's reservation is still hers: a call through it runs on her agent."""
    call_id = new_id()
    await alice.send(Assign(id=call_id, reservation=reservation, args={"text": text}))
    await until(lambda: text in w.holds.received, "alice's call through her reservation")
    await alice_gets_her_result(w, alice, call_id, text)


async def check_unreserve(w: World, alice: Raw, bob: Raw) -> None:
    reservation = new_id()
    await alice.send(Reserve(id=reservation, node=w.hold_node))
    await alice.expect_matching(lambda m: isinstance(m, ReservationStatus))
    await bob.send(Unreserve(reservation=reservation))
    await bob.send(Ping())
    await bob.expect(Pong)  # the unreserve was handled before the ping
    await alice_calls_through(w, alice, reservation, "alice-after-unreserve")
    assert not any(isinstance(m, ReservationStatus) for m in bob.inbox), bob.inbox


async def check_share(w: World, alice: Raw, bob: Raw) -> None:
    """Share names an interface of the sender's own app: alice's cannot be reached."""
    for rid, (interface, revoke) in enumerate(
        [(PRIVATE_INTERFACE, False), (SECRET_INTERFACE, False), (SHARED_INTERFACE, True)]
    ):
        await bob.send(
            Share(rid=rid, interface=interface, users=["bob"], everyone=True, revoke=revoke)
        )
        failed = await answer(bob, Failed, rid)
        assert failed.code == "not_found", f"share {interface} (revoke={revoke}): {failed}"
    await bob.send(Find(rid=99, owner="alice"))
    found: Found = await bob.expect(Found)
    templates = alices_templates(found)
    assert templates == {alice_template(w, SHARED_INTERFACE)}, f"bob now finds {templates}"


async def check_report(w: World, alice: Raw, bob: Raw) -> None:
    """bob's reports on alice's call, as a non-agent and as an agent, change nothing of it."""
    text = "alice-held-for-report"
    held = await alice_holds(w, alice, text)
    await bob.send(Report(seq=1, assignation=held, kind=EventKind.DONE, values=["forged"]))
    failed = await bob.expect(Failed)
    assert failed.code == "not_an_agent", failed
    await bob.send(Register(rid=1, templates=[BOBS_OWN]))
    await bob.expect(Registered)
    forged = [
        Report(seq=2, assignation=held, kind=EventKind.PROGRESS, progress=99, message="forged"),
        Report(seq=3, assignation=held, kind=EventKind.LOG, message="forged"),
        Report(seq=4, assignation=held, kind=EventKind.DONE, values=["forged"]),
        Report(seq=5, assignation=w.done_call, kind=EventKind.ERROR, message="forged"),
    ]
    await bob.send(*forged)
    events = await alice_gets_her_result(w, alice, held, text)
    assert not any("forged" in e.model_dump_json() for e in events), events
    await bob_hears_nothing_of(w, bob, {held}, "bob's reports")


async def alices_bench(w: World, alice: Raw, rid: int) -> StateUpdate:
    """alice reads her agent's state."""
    await alice.send(WatchState(rid=rid, agent=w.agent, state="Bench", once=True))
    update: StateUpdate = await answer(alice, StateUpdate, rid)
    return update


async def check_publish_state(w: World, alice: Raw, bob: Raw) -> None:
    """States are their agent's: bob as a non-agent is refused; as an agent, what he publishes
    under the name of alice's state is his agent's, and hers is unchanged."""
    before = await alices_bench(w, alice, 70)
    await bob.send(PublishState(state="Bench", revision=1, value={"holds": 999}))
    failed = await bob.expect(Failed)
    assert failed.code == "not_an_agent", failed
    await bob.send(Register(rid=1, templates=[BOBS_OWN]))
    registered: Registered = await bob.expect(Registered)
    await bob.send(
        PublishState(state="Bench", revision=1, value={"holds": 999}),
        PublishState(
            state="Bench", revision=2, patch=[{"op": "replace", "path": "/holds", "value": 998}]
        ),
    )
    await bob.send(WatchState(rid=71, agent=registered.agent, state="Bench", once=True))
    his: StateUpdate = await answer(bob, StateUpdate, 71)
    assert his.value == {"holds": 998}, his
    after = await alices_bench(w, alice, 72)
    assert (after.agent, after.value) == (w.agent, before.value), after


async def check_watch_state(w: World, alice: Raw, bob: Raw) -> None:
    """bob reads the state of no agent of alice's except through a function she shares with
    him; unknown and unshared agents look alike."""
    private = alice_template(w, PRIVATE_INTERFACE)
    attempts = {
        "an unknown agent": WatchState(rid=81, agent=new_id(), state="Bench"),
        "alice's private node": WatchState(rid=82, node=w.secret_node, state="Bench"),
        "the shared node through her private template": WatchState(
            rid=83, node=w.shared_node, templates=[private], state="Bench"
        ),
        "the shared node, as if his own": WatchState(rid=84, node=w.shared_node, state="Bench"),
    }
    for what, attempt in attempts.items():
        await bob.send(attempt)
        failed: Failed = await answer(bob, Failed, attempt.rid)
        assert failed.code == "not_found", f"{what}: {failed}"
    shared = alice_template(w, SHARED_INTERFACE)
    await bob.send(
        WatchState(rid=85, node=w.shared_node, templates=[shared], state="Bench", once=True)
    )
    update: StateUpdate = await answer(bob, StateUpdate, 85)
    assert update.agent == w.agent, update  # she shares `add` with him: allowed
    w.assert_no_secrets([m.model_dump() for m in bob.inbox], "bob's state watches")


async def check_unwatch_state(w: World, alice: Raw, bob: Raw) -> None:
    """bob cannot end alice's watch by naming its request id."""
    await alice.send(WatchState(rid=91, agent=w.agent, state="Bench"))
    first: StateUpdate = await answer(alice, StateUpdate, 91)
    await bob.send(UnwatchState(rid=91))
    text = "alice-held-for-unwatch"
    held = await alice_holds(w, alice, text)
    changed = await alice.expect_matching(
        lambda m: isinstance(m, StateUpdate) and m.rid == 91 and m.revision > first.revision
    )
    assert changed.agent == w.agent
    await alice_gets_her_result(w, alice, held, text)
    await alice.send(UnwatchState(rid=91))
    assert not any(isinstance(m, StateUpdate) for m in bob.inbox), bob.inbox


async def check_ping(w: World, alice: Raw, bob: Raw) -> None:
    text = "alice-held-for-ping"
    held = await alice_holds(w, alice, text)
    await bob.send(Ping())
    await bob.expect(Pong)
    await alice_gets_her_result(w, alice, held, text)
    await bob_hears_nothing_of(w, bob, {held}, "bob's ping")


async def check_pong(w: World, alice: Raw, bob: Raw) -> None:
    text = "alice-held-for-pong"
    held = await alice_holds(w, alice, text)
    await bob.send(Pong())
    await alice_gets_her_result(w, alice, held, text)
    await bob_hears_nothing_of(w, bob, {held}, "bob's pong")
    await bob.send(Ping())
    await bob.expect(Pong)  # the link is still open and answers only bob


CASES: dict[str, Check] = {
    "hello": check_hello,
    "reauth": check_reauth,
    "register": check_register,
    "find": check_find,
    "assign": check_assign,
    "cancel": check_cancel,
    "watch": check_watch,
    "reserve": check_reserve,
    "unreserve": check_unreserve,
    "share": check_share,
    "report": check_report,
    "publish_state": check_publish_state,
    "watch_state": check_watch_state,
    "unwatch_state": check_unwatch_state,
    "ping": check_ping,
    "pong": check_pong,
}


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("ws-messages") / "server") as built:
        yield built


MESSAGE_TYPES = client_message_types()


@pytest.mark.parametrize("kind", sorted(set(MESSAGE_TYPES) | set(CASES)))
async def test_bob_learns_nothing_of_alices(w: World, kind: str) -> None:
    assert kind in MESSAGE_TYPES, (
        f"CASES in {HERE} names {kind!r}, which the protocol no longer has: remove the entry"
    )
    assert kind in CASES, (
        f"the client message {kind!r} has no cross-user check: add one to CASES in {HERE}"
    )
    alice, bob = await connect(w.url, w.alice), await connect(w.url, w.bob)
    try:
        async with asyncio.timeout(60):
            await CASES[kind](w, alice, bob)
    finally:
        await alice.ws.close()
        await bob.ws.close()
