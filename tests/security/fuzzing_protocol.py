"""Fuzzing ``/rekuest/ws``: frames built from the protocol's own message models, then broken.

Every client message type of :data:`arkitekt.protocol.messages.ClientMessage` is generated with
each of its fields either plausible (ids of the right shape, small numbers, event kinds, a real
function definition) or any JSON at all, fields left out or unknown ones added; frames hold one
to three of them, or are JSON of another shape, cut-off text, or binary. Each case opens a
connection, says hello (or sends the fuzzed frame *as* its hello), sends the frame and then a
ping. The oracle: the server answers with frames its own decoder reads, and either keeps
serving (the ping is answered) or closes with a protocol close code and a reason short enough
for a close frame. Never an internal error (1011), a dropped connection without a close frame,
or silence.
"""

from __future__ import annotations

import json
import time
import typing
from typing import Any

from fuzzing import ANSWER_BOUND, HOSTILE_TEXT, JSON_VALUES, SCALARS, Tally, Target
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from arkitekt.protocol.ids import time_ordered_id
from arkitekt.protocol.messages import (
    SERVER_FRAME,
    ClientMessage,
    EventKind,
    Hello,
    LogLevel,
    Ping,
    Pong,
    Welcome,
    encode,
)

MESSAGE_MODELS = typing.get_args(typing.get_args(ClientMessage)[0])
"""The client message classes, read from the protocol's union."""

ALLOWED_CLOSE_CODES = {1000, 1001, 1003, 1007, 1008, 1009} | set(range(4000, 5000))
"""Close codes that are a deliberate answer (RFC 6455's policy/size/data codes, ours 4xxx)."""

MAX_CLOSE_REASON_BYTES = 123
"""A close frame's reason may be at most this many UTF-8 bytes (RFC 6455 §5.5)."""

IDS = st.one_of(st.uuids().map(lambda u: u.hex), st.builds(time_ordered_id))

DEFINITION = {
    "name": "Fuzzed",
    "description": "a function the fuzzer registers",
    "kind": "function",
    "args": [{"key": "x", "kind": "int", "nullable": False}],
    "returns": [{"key": "return0", "kind": "int", "nullable": False}],
}

TEXT = st.one_of(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), HOSTILE_TEXT)
TEMPLATES_IN = st.lists(
    st.fixed_dictionaries({"interface": TEXT, "definition": st.just(DEFINITION)}), max_size=2
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": IDS,
    "node": IDS,
    "reservation": IDS,
    "parent": IDS,
    "assignation": IDS,
    "session": IDS,
    "templates": st.lists(IDS, max_size=3),
    "Register.templates": TEMPLATES_IN,
    "agents": st.lists(IDS, max_size=3),
    "known": st.lists(IDS, max_size=3),
    "assignations": st.dictionaries(IDS, st.integers(min_value=-2, max_value=5), max_size=3),
    "rid": st.integers(min_value=-1, max_value=2**40),
    "seq": st.integers(min_value=-1, max_value=2**40),
    "limit": st.integers(min_value=-1, max_value=600),
    "progress": st.integers(min_value=-1, max_value=101),
    "protocol": st.integers(min_value=0, max_value=2),
    "kind": st.sampled_from([k.value for k in EventKind]),
    "level": st.sampled_from([lvl.value for lvl in LogLevel]),
    "args": st.dictionaries(TEXT, JSON_VALUES, max_size=3),
    "values": st.lists(JSON_VALUES, max_size=3),
    "error": st.fixed_dictionaries({"type": TEXT, "message": HOSTILE_TEXT}),
    "users": st.lists(TEXT, max_size=3),
    "everyone": st.booleans(),
    "revoke": st.booleans(),
    "shared": st.booleans(),
}
"""Plausible values of each field (by name, or ``Model.field`` where the name is ambiguous);
fields not named here get text."""


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """One client message: a real type with each field plausible (mostly), any JSON at all,
    or left out, and now and then a field the model does not have."""
    model = draw(st.sampled_from(MESSAGE_MODELS))
    kind = model.model_fields["type"].default
    broken = draw(st.integers(0, 3)) == 2  # a quarter of the messages break their model
    message: dict[str, Any] = {"type": draw(SCALARS) if draw(st.integers(0, 19)) == 13 else kind}
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        choice = draw(st.integers(0, 2))
        if choice == 0 and (broken or not info.is_required()):
            continue  # a field left out
        plausible = FIELDS.get(f"{model.__name__}.{name}", FIELDS.get(name, TEXT))
        message[name] = draw(JSON_VALUES if broken and choice == 1 else plausible)
    if draw(st.integers(0, 19)) == 13:
        message[draw(st.text(max_size=10))] = draw(JSON_VALUES)
    return message


def _cut(text: str, where: int) -> str:
    return text[: where % (len(text) + 1)]


FRAMES: st.SearchStrategy[str | bytes] = st.one_of(
    st.lists(messages(), min_size=1, max_size=3).map(json.dumps),
    st.lists(messages(), min_size=1, max_size=3).map(json.dumps),
    st.lists(messages(), min_size=1, max_size=3).map(json.dumps),
    st.lists(messages(), min_size=1, max_size=3)
    .map(json.dumps)
    .flatmap(lambda text: st.integers(0, 10_000).map(lambda where: _cut(text, where))),
    messages().map(json.dumps),  # a message not wrapped in a frame (a list)
    JSON_VALUES.map(json.dumps),
    HOSTILE_TEXT,
    st.sampled_from(["[NaN]", "[Infinity]", '[{"type": "ping"}] x', "[" * 10_000, '"' * 3]),
    st.binary(max_size=200),
)
"""Text (or binary) frames, most of them shaped like the protocol's."""

CASES = st.tuples(FRAMES, st.sampled_from(["after hello", "after hello", "as hello"]))


def _hello(token: str) -> str:
    return encode([Hello(token=token, session=time_ordered_id(), instance_id="fuzzer")])


def _receive(ws: ClientConnection, tally: Tally, deadline: float) -> list[Any] | None:
    """The server's next frame, decoded with the protocol's own decoder (None at a close)."""
    try:
        raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed:
        return None
    except TimeoutError:
        tally.record("hang", ANSWER_BOUND)
        tally.fail(f"the server neither answered nor closed within {ANSWER_BOUND:g} s")
        return None
    try:
        return list(SERVER_FRAME.validate_json(raw))
    except ValidationError as e:
        tally.fail(f"the server sent a frame its own protocol cannot read: {raw!r:.200} ({e})")
        return None


def _closed(ws: ClientConnection, tally: Tally, started: float) -> None:
    """Judge how the server closed the connection."""
    code = ws.close_code
    reason = ws.close_reason or ""
    if code is None or code == 1006:
        tally.record("dropped", time.monotonic() - started)
        tally.fail("the server dropped the connection without a close frame")
    if code not in ALLOWED_CLOSE_CODES:
        tally.record(f"close {code}", time.monotonic() - started)
        tally.fail(f"closed with {code} ({reason!r}): not a deliberate refusal")
    if len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
        tally.fail(f"close reason of {len(reason.encode())} bytes: {reason!r:.100}")
    tally.record(f"close {code}", time.monotonic() - started)


def send_frame(target: Target, tally: Tally, case: tuple[str | bytes, str]) -> None:
    """One connection: hello (or the fuzzed frame as hello), the frame, a ping; judged."""
    frame, position = case
    started = time.monotonic()
    deadline = started + ANSWER_BOUND
    with connect(
        target.url.replace("http", "ws") + "/rekuest/ws",
        open_timeout=ANSWER_BOUND,
        close_timeout=5,
        max_size=None,
    ) as ws:
        try:
            if position == "after hello":
                ws.send(_hello(target.tokens["alice"]))
                welcome = _receive(ws, tally, deadline)
                if not welcome or not isinstance(welcome[0], Welcome):
                    tally.fail(f"a valid hello was not welcomed: {welcome}")
            ws.send(frame)
            ws.send(encode([Ping()]))
        except ConnectionClosed:
            _closed(ws, tally, started)
            return
        while True:
            answer = _receive(ws, tally, deadline)
            if answer is None:
                _closed(ws, tally, started)
                return
            if position == "as hello" and any(isinstance(m, Welcome) for m in answer):
                tally.record("welcomed", time.monotonic() - started)
                return
            if any(isinstance(m, Pong) for m in answer):
                tally.record("served", time.monotonic() - started)
                return
            if any(isinstance(m, Ping) for m in answer):
                ws.send(encode([Pong()]))
