"""The hot-path wire protocol: typed messages on one websocket per app (``/rekuest/ws``).

Shared by the server and the client, so both sides validate the same shapes. A frame is a JSON
array of messages: the writer sends everything that is queued in one frame, which keeps
pipelined calls cheap without delaying a lone message.

One connection serves both roles. Every app can *call* (``Assign``/``Cancel``/``Reserve``) and
*find*; an app that sends ``Register`` becomes an *agent* too and receives ``Assignment``s.

Reliability:

- the agent numbers its reports (``Report.seq``); the server acknowledges cumulatively
  (``Ack``); after a reconnect the agent re-sends what was not acknowledged;
- a reconnecting app presents the same ``session``; an agent lists the assignations it still
  knows (``Hello.known``) so the server re-delivers the ones lost on the way and waits for the
  others; a caller re-``Watch``es the calls it is waiting for;
- either side closes a link that stayed silent for the heartbeat timeout (``Ping``/``Pong``).

Ids of assignations and reservations are chosen by the client (uuid4 hex), so a call needs no
round trip before its events can be matched.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .ports import Definition
from .text import Text

PROTOCOL_VERSION = 1
ID = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
"""Ids on the wire: uuid4 hex."""


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- shared pieces ---------------------------------------------------------------------------------


class EventKind(StrEnum):
    """What happened to an assignation, in order. The last five are final.

    ``queued``: waiting, for an agent (sent by the server) or, on the agent, for a free slot
    or a lock (reported by the agent); ``running``: a call that was queued on its agent has
    started.
    """

    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    PROGRESS = "progress"
    LOG = "log"
    YIELD = "yield"
    DONE = "done"
    ERROR = "error"
    CRITICAL = "critical"
    CANCELLED = "cancelled"
    LOST = "lost"


FINAL_EVENTS = frozenset(
    {EventKind.DONE, EventKind.ERROR, EventKind.CRITICAL, EventKind.CANCELLED, EventKind.LOST}
)
REPORT_KINDS = frozenset(
    {
        EventKind.QUEUED,
        EventKind.RUNNING,
        EventKind.PROGRESS,
        EventKind.LOG,
        EventKind.YIELD,
        EventKind.DONE,
        EventKind.ERROR,
        EventKind.CRITICAL,
        EventKind.CANCELLED,
    }
)


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ErrorInfo(Message):
    """A remote exception: enough to re-raise it on the caller with its story."""

    type: str
    """The qualified type name where it was raised, e.g. ``builtins.ValueError``."""
    message: str
    traceback: str = ""


MAX_KNOWN_CALLS = 100_000
"""Most running calls an agent may list when it reconnects."""
MAX_CHOSEN_TEMPLATES = 100
"""Most templates one call or reservation may name."""


MAX_CONCURRENCY = 100_000
"""The largest concurrency a function may declare (beyond it, declare None: no limit)."""
STATE_NAME = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
]
"""The name of an agent's state (``@state`` class name by default)."""
MAX_STATE_PATCH_OPS = 1_000
"""Most operations in one state patch (an agent sends the whole value instead)."""


class TemplateRef(Message):
    """One way a node is offered: a template, under an interface name, by its owner."""

    id: ID
    interface: str
    owner: str
    """The username of the user whose app serves it."""


class NodeInfo(Message):
    """A node as the caller found it."""

    id: ID
    hash: str
    definition: Definition
    interfaces: list[str] = []
    """Interface names the node is offered under (by the templates found)."""
    templates: list[TemplateRef] = []
    """The templates the search matched: calls through this node go to these only."""
    providers: int = 0
    """Agents connected right now that provide it through those templates."""


class TemplateInfo(Message):
    interface: str
    template: ID
    node: ID
    hash: str


# -- client -> server ------------------------------------------------------------------------------


class Hello(Message):
    """First message on every connection: who is speaking."""

    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    token: str
    instance_id: Text = Field(default="default", min_length=1, max_length=200)
    session: ID
    """Stays the same across reconnects of one running app, so the server can resume it."""
    known: Annotated[list[ID], Field(max_length=MAX_KNOWN_CALLS)] = []
    """Agent only: assignations it received and has not had its final report acknowledged."""


class Reauth(Message):
    """A fresh access token for a long-lived connection (sent before the old one expires)."""

    type: Literal["reauth"] = "reauth"
    token: str


class TemplateIn(Message):
    interface: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    definition: Definition
    concurrency: int | None = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    """How many calls of it the agent runs at once (None: no limit): the server routes a call
    to the provider with a free slot first."""


class Register(Message):
    """Become an agent providing these templates (replaces what this instance registered)."""

    type: Literal["register"] = "register"
    rid: int
    templates: list[TemplateIn]


class Find(Message):
    """Look nodes up; every filter given must match.

    Whose templates are searched: by default the caller's own; ``owner`` names another user
    (their templates shared with the caller); ``shared`` takes every template the caller may
    use. A node found carries the templates that matched, and calls through it go to those only
    (DESIGN §8: a caller's call reaches only a provider it chose).
    """

    type: Literal["find"] = "find"
    rid: int
    node: ID | None = None
    hash: Text | None = None
    interface: Text | None = None
    name: Text | None = None
    search: Text | None = None
    owner: Text | None = None
    shared: bool = False
    limit: int = Field(default=50, ge=1, le=500)


class Assign(Message):
    """Call a node through chosen templates, or through a reservation.

    Without ``templates`` only the caller's own templates of the node take the call; another
    user's template is used only when named here (or in the reservation).
    """

    type: Literal["assign"] = "assign"
    id: ID
    node: ID | None = None
    templates: Annotated[list[ID], Field(max_length=MAX_CHOSEN_TEMPLATES)] | None = None
    reservation: ID | None = None
    args: dict[str, Any]
    parent: ID | None = None
    """The assignation this call is made from (a call inside a running function)."""


class Cancel(Message):
    type: Literal["cancel"] = "cancel"
    assignation: ID


class Watch(Message):
    """After a reconnect: resume the events of calls still awaited.

    Maps each assignation to the index of the last event received (-1 for none); the server
    re-sends everything after it.
    """

    type: Literal["watch"] = "watch"
    assignations: dict[ID, int]


class Reserve(Message):
    """Book a node: calls through the reservation are routed among its providers and wait
    (queued) while none is connected."""

    type: Literal["reserve"] = "reserve"
    id: ID
    node: ID
    templates: Annotated[list[ID], Field(max_length=MAX_CHOSEN_TEMPLATES)] | None = None
    """Through these templates (the caller's own templates of the node when not given)."""
    agents: Annotated[list[ID], Field(max_length=MAX_CHOSEN_TEMPLATES)] | None = None
    """Only these agents, when given."""


class Unreserve(Message):
    type: Literal["unreserve"] = "unreserve"
    reservation: ID


class Share(Message):
    """Owner only: share one of this app's templates with users (by username) or everyone, or
    take that back (``revoke``)."""

    type: Literal["share"] = "share"
    rid: int
    interface: Text
    users: list[Text] = []
    everyone: bool = False
    revoke: bool = False


class Report(Message):
    """Agent: something happened in an assignation it runs."""

    type: Literal["report"] = "report"
    seq: int
    assignation: ID
    kind: EventKind
    progress: int | None = Field(default=None, ge=0, le=100)
    message: str | None = None
    level: LogLevel | None = None
    values: list[Any] | None = None
    error: ErrorInfo | None = None


class PublishState(Message):
    """Agent: the value of one of its states (``@state``), whole or as a JSON patch.

    The whole ``value`` is sent at every (re)connect, then ``patch``es (RFC 6902) against the
    previous ``revision``; a patch whose base the server does not hold is dropped and the
    agent's next whole value repairs it.
    """

    type: Literal["publish_state"] = "publish_state"
    state: STATE_NAME
    revision: int = Field(ge=0)
    value: dict[str, Any] | None = None
    patch: Annotated[list[dict[str, Any]], Field(max_length=MAX_STATE_PATCH_OPS)] | None = None


class WatchState(Message):
    """Read (``once``) or follow an agent's state: answered by ``StateUpdate``s with this
    ``rid``, the first holding the whole value, the next ones patches, until ``Unwatch``.

    The agent is named by id, or as the one provider of ``node`` (through ``templates``, as a
    call through them would be routed). Allowed to the agent's owner and to users it shares a
    function with.
    """

    type: Literal["watch_state"] = "watch_state"
    rid: int
    state: STATE_NAME
    agent: ID | None = None
    node: ID | None = None
    templates: Annotated[list[ID], Field(max_length=MAX_CHOSEN_TEMPLATES)] | None = None
    once: bool = False


class UnwatchState(Message):
    type: Literal["unwatch_state"] = "unwatch_state"
    rid: int


class Pong(Message):
    type: Literal["pong"] = "pong"


class Ping(Message):
    type: Literal["ping"] = "ping"


ClientMessage = Annotated[
    Hello
    | Reauth
    | Register
    | Find
    | Assign
    | Cancel
    | Watch
    | Reserve
    | Unreserve
    | Share
    | Report
    | PublishState
    | WatchState
    | UnwatchState
    | Pong
    | Ping,
    Field(discriminator="type"),
]


# -- server -> client ------------------------------------------------------------------------------


class Welcome(Message):
    type: Literal["welcome"] = "welcome"
    session: ID
    user: str
    heartbeat_interval: float
    heartbeat_timeout: float
    resumed: bool = False
    server_time: float = 0.0
    """The server's clock (seconds since the epoch) when it welcomed: callers mint their call
    ids on it (:mod:`arkitekt.protocol.ids`)."""


class Registered(Message):
    type: Literal["registered"] = "registered"
    rid: int
    agent: ID
    templates: list[TemplateInfo]


class Found(Message):
    type: Literal["found"] = "found"
    rid: int
    nodes: list[NodeInfo]


class Shared(Message):
    """Who a template is shared with now."""

    type: Literal["shared"] = "shared"
    rid: int
    template: ID
    everyone: bool
    users: list[str]


class Failed(Message):
    """A request (``rid``) or a message about one object could not be done."""

    type: Literal["failed"] = "failed"
    rid: int | None = None
    assignation: ID | None = None
    reservation: ID | None = None
    code: str
    message: str


class Event(Message):
    """An assignation's event, to its caller."""

    type: Literal["event"] = "event"
    assignation: ID
    index: int
    """Position in the assignation's history (not every event is sent to the caller)."""
    kind: EventKind
    progress: int | None = None
    message: str | None = None
    level: LogLevel | None = None
    values: list[Any] | None = None
    error: ErrorInfo | None = None


class Assignment(Message):
    """Server -> agent: run this."""

    type: Literal["assignment"] = "assignment"
    assignation: ID
    template: ID
    interface: str
    args: dict[str, Any]
    parent: ID | None = None
    user: str
    """The caller's username (for logs)."""


class Interrupt(Message):
    """Server -> agent: cancel a running assignation."""

    type: Literal["interrupt"] = "interrupt"
    assignation: ID


class Ack(Message):
    """Server -> agent: every report up to ``seq`` is stored."""

    type: Literal["ack"] = "ack"
    seq: int


class StateUpdate(Message):
    """Server -> watcher: an agent's state, whole (``value``) or changed by ``patch`` (apply
    it to the value of the previous update)."""

    type: Literal["state_update"] = "state_update"
    rid: int
    agent: ID
    state: str
    revision: int
    value: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None
    connected: bool = True
    """Whether the agent is connected now (a stored value of an agent that is away is still
    given, with ``connected`` false)."""


class ReservationStatus(Message):
    type: Literal["reservation"] = "reservation"
    reservation: ID
    providers: int
    """Agents able to serve it right now; 0 means calls wait."""


class Goodbye(Message):
    """The server is closing this connection, and why (then the websocket closes)."""

    type: Literal["goodbye"] = "goodbye"
    code: str
    message: str


ServerMessage = Annotated[
    Welcome
    | Registered
    | Found
    | Shared
    | Failed
    | Event
    | Assignment
    | Interrupt
    | Ack
    | StateUpdate
    | ReservationStatus
    | Goodbye
    | Ping
    | Pong,
    Field(discriminator="type"),
]

CLIENT_FRAME: TypeAdapter[list[ClientMessage]] = TypeAdapter(list[ClientMessage])
SERVER_FRAME: TypeAdapter[list[ServerMessage]] = TypeAdapter(list[ServerMessage])


def encode(messages: list[Message]) -> str:
    """One frame: a JSON array of messages."""
    return frame_of([m.model_dump_json() for m in messages])


def frame_of(encoded: list[str]) -> str:
    """One frame of messages already encoded one by one (``model_dump_json``)."""
    return "[" + ",".join(encoded) + "]"


# Close codes (4000-4999 are for applications, RFC 6455 §7.4.2).
CLOSE_UNAUTHORIZED = 4001
CLOSE_PROTOCOL = 4002
CLOSE_REPLACED = 4003
CLOSE_SHUTDOWN = 4004
CLOSE_MOVED = 4005
"""Another replica of the server took over calls this app runs (theirs stopped): reconnect,
list them in ``Hello.known`` and send the reports not yet acknowledged again."""
CLOSE_SILENT = 4008
CLOSE_SLOW = 4009
"""The client did not read what the server sent it (``ws_max_queued_bytes`` queued): it
reconnects and asks for what it missed."""
