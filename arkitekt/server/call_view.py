"""What the call page shows of one call: its record, and each event as plain data.

The page renders a call's events as they stand when it loads (``call.html``); later ones come
over the event stream (:mod:`.call_stream`) as JSON that ``static/run.js`` renders the same
way. Where an event goes (the status it leaves, a log line, results, the progress bar, the
error) is decided here once, so the template and the script only place what they are given.
Event kinds this module does not know (a newer agent's) still set the status and show as a log
line.

Values are rendered from their ports: text for scalars, images the user may see as the
dashboard's thumbnails, other structures by id, containers as JSON; everything is cut to a
bounded size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from arkitekt.protocol.messages import FINAL_EVENTS, Event
from arkitekt.protocol.ports import Definition, JSONValue, Port, PortKind
from arkitekt.protocol.structures import FILE_STRUCTURE, IMAGE_STRUCTURE

from .dashboard import MAX_ID_LENGTH, Moment, moment, thumbnail_size
from .rpc.models import Assignation, AssignationEvent, Node
from .state import ServerState
from .storage.catalogue import NotFound, StorageCatalogue
from .storage.models import File, Image

FINAL_KINDS = frozenset(kind.value for kind in FINAL_EVENTS)
RUNNING_KINDS = frozenset({"progress", "log", "yield"})
"""Kinds an agent reports only while it runs the call."""
STATUS_KINDS = frozenset({"queued", "assigned", "running"})
"""Kinds that only change the status (``running``: an agent that held the call queued
started it; sent by agents newer than this page may know)."""
MAX_TEXT = 10_000
"""Characters of one rendered value (longer ones are cut, saying so)."""
MAX_ITEMS = 50
"""Items of one list rendered one by one (images); the rest are counted."""
MAX_LOOKUPS = 50
"""Stored objects looked up for one rendering (each is a query)."""
EVENTS_SHOWN = 500
"""Most events the page loads with (the newest); the stream sends any number after them."""


def status_after(kind: str) -> str:
    """The call's status once an event of ``kind`` happened: a running kind means running,
    any other kind (queued, assigned, the final ones, kinds unknown here) names it."""
    return "running" if kind in RUNNING_KINDS else kind


# -- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageView:
    id: str
    name: str
    thumbnail: str | None
    """The dashboard's thumbnail URL (None for an image without pixels)."""
    width: int
    height: int


@dataclass
class ValueView:
    """One value: ``type`` is text, none, image, reference, json or list (of ``items``)."""

    label: str
    type: str
    text: str = ""
    image: ImageView | None = None
    items: list[ValueView] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorView:
    type: str
    message: str
    traceback: str


@dataclass
class EventView:
    """One event, as the page places it."""

    index: int
    kind: str
    status: str
    """The call's status after it."""
    final: bool
    progress: int | None = None
    """Set for progress events: the bar's new value."""
    log: str | None = None
    """A line for the log (log events, and kinds the page does not know)."""
    level: str | None = None
    results: list[ValueView] | None = None
    """What a done or yield event carries, one view per return port."""
    error: ErrorView | None = None
    ending: str | None = None
    """Why a call ended without a result (cancelled, lost)."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _cut(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"


def _json_text(value: Any) -> str:
    return _cut(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


class ValueRenderer:
    """Renders wire values through their ports for one user (images they may not see are
    shown by id only); lookups are cached and bounded."""

    def __init__(self, storage: StorageCatalogue, user_id: str) -> None:
        self._storage = storage
        self._user_id = user_id
        self._images: dict[str, ImageView | None] = {}
        self._files: dict[str, str | None] = {}
        self._lookups = 0

    async def values(
        self,
        ports: Sequence[Port],
        values: Sequence[JSONValue] | Mapping[str, JSONValue],
        *,
        returns: bool = False,
    ) -> list[ValueView]:
        """One view per port: ``values`` in port order (returns) or by key (arguments). A
        lone return value without a label of its own gets none (not its key, ``return0``)."""
        views = []
        for i, port in enumerate(ports):
            if isinstance(values, Mapping):
                value = values.get(port.key)
            else:
                value = values[i] if i < len(values) else None
            label = port.label or ("" if returns and len(ports) == 1 else port.key)
            views.append(await self.one(port, value, label))
        return views

    async def one(self, port: Port, value: Any, label: str) -> ValueView:
        if value is None:
            return ValueView(label, "none", "None")
        kind = port.kind
        if kind is PortKind.UNION and isinstance(value, Mapping):
            index = value.get("variant")
            if type(index) is int and 0 <= index < len(port.children):
                return await self.one(port.children[index], value.get("value"), label)
        if kind is PortKind.STRUCTURE and isinstance(value, str):
            return await self._structure(port.identifier or "", value, label)
        if kind is PortKind.LIST and isinstance(value, list) and _stored(port.children[0]):
            items = [
                await self.one(port.children[0], item, f"{label}[{i}]")
                for i, item in enumerate(value[:MAX_ITEMS])
            ]
            more = len(value) - len(items)
            text = f"{len(value)} items" + (f" ({more} not shown)" if more > 0 else "")
            return ValueView(label, "list", text, items=items)
        if kind in (PortKind.LIST, PortKind.DICT, PortKind.MODEL, PortKind.UNION):
            return ValueView(label, "json", _json_text(value))
        if kind is PortKind.ENUM:
            for choice in port.choices or ():
                if choice.value == value and type(choice.value) is type(value):
                    return ValueView(label, "text", _cut(choice.label or str(value)))
        if isinstance(value, bool):
            return ValueView(label, "text", "True" if value else "False")
        if isinstance(value, str | int | float):
            return ValueView(label, "text", _cut(str(value)))
        return ValueView(label, "json", _json_text(value))

    async def _structure(self, identifier: str, value: str, label: str) -> ValueView:
        if identifier == IMAGE_STRUCTURE:
            image = await self._image(value)
            if image is not None:
                return ValueView(label, "image", image.name, image=image)
        elif identifier == FILE_STRUCTURE:
            name = await self._file(value)
            if name is not None:
                return ValueView(label, "reference", f"{name} (file {value})")
        return ValueView(label, "reference", _cut(value))

    def _may_look_up(self, object_id: str) -> bool:
        if len(object_id) > MAX_ID_LENGTH or self._lookups >= MAX_LOOKUPS:
            return False
        self._lookups += 1
        return True

    async def _image(self, image_id: str) -> ImageView | None:
        if image_id in self._images or not self._may_look_up(image_id):
            return self._images.get(image_id)
        try:
            row = await self._storage.visible(Image, image_id, self._user_id)
        except NotFound:
            self._images[image_id] = None
            return None
        shape = [int(n) for n in row.shape]
        width, height = thumbnail_size(shape)
        has_pixels = bool(shape) and all(n > 0 for n in shape)
        view = ImageView(
            id=row.id,
            name=row.name,
            thumbnail=f"/dashboard/images/{row.id}/thumbnail.png" if has_pixels else None,
            width=width,
            height=height,
        )
        self._images[image_id] = view
        return view

    async def _file(self, file_id: str) -> str | None:
        if file_id in self._files or not self._may_look_up(file_id):
            return self._files.get(file_id)
        try:
            row = await self._storage.visible(File, file_id, self._user_id)
        except NotFound:
            self._files[file_id] = None
            return None
        self._files[file_id] = row.name
        return row.name


def _stored(port: Port) -> bool:
    return port.kind is PortKind.STRUCTURE and port.identifier in (IMAGE_STRUCTURE, FILE_STRUCTURE)


async def event_view(
    index: int,
    kind: str,
    data: Mapping[str, Any],
    definition: Definition,
    renderer: ValueRenderer,
) -> EventView:
    """One event as the page places it."""
    view = EventView(index=index, kind=kind, status=status_after(kind), final=kind in FINAL_KINDS)
    message = data.get("message")
    text = str(message) if message is not None else None
    if kind == "progress":
        progress = data.get("progress")
        view.progress = int(progress) if isinstance(progress, int) else None
        view.log = text  # a progress message tells what is being done
    elif kind == "log":
        view.log = text or ""
        view.level = str(data.get("level") or "info")
    elif kind in ("error", "critical"):
        found = data.get("error")
        error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        view.error = ErrorView(
            type=str(error.get("type") or kind),
            message=_cut(str(error.get("message") or text or "")),
            traceback=_cut(str(error.get("traceback") or "")),
        )
    elif kind in ("cancelled", "lost"):
        view.ending = text or kind
    elif kind not in STATUS_KINDS and kind not in ("yield", "done"):
        view.log = f"{kind}: {text}" if text else kind  # a kind this page does not know
    values = data.get("values")
    if isinstance(values, list) and kind in ("done", "yield") and definition.returns:
        view.results = await renderer.values(definition.returns, values, returns=True)
    return view


def wire_event(event: Event) -> tuple[int, str, dict[str, Any]]:
    """(index, kind, data) of a live event, as the database stores them."""
    data = event.model_dump(mode="json", exclude_none=True)
    kind = event.kind
    return event.index, str(getattr(kind, "value", kind)), data


# -- a call as stored -----------------------------------------------------------------------------


@dataclass
class CallRecord:
    """One of the user's calls, as stored (written behind, flushed before reading)."""

    id: str
    node_id: str
    definition: Definition
    args: dict[str, Any]
    status: str
    created: Moment
    finished: Moment | None
    events: list[tuple[int, str, dict[str, Any]]]
    """(index, kind, data), oldest first: the newest :data:`EVENTS_SHOWN` only."""
    truncated: bool
    """Whether older events were left out."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_KINDS

    @property
    def last_index(self) -> int:
        return self.events[-1][0] if self.events else -1


async def load_call(state: ServerState, user_id: str, call_id: str) -> CallRecord | None:
    """The user's call with its newest events; None for a call that is not theirs, exactly as
    for one that does not exist."""
    if not call_id or len(call_id) > MAX_ID_LENGTH or state.rpc is None:
        return None
    await state.rpc.recorder.flush_for_reading()  # a call just made is stored now
    async with state.db.new_session() as s:
        row = await s.get(Assignation, call_id)
        if row is None or row.user_id != user_id:
            return None
        node = await s.get(Node, row.node_id)
        rows = list(
            await s.scalars(
                select(AssignationEvent)
                .where(AssignationEvent.assignation_id == call_id)
                .order_by(AssignationEvent.index.desc())
                .limit(EVENTS_SHOWN + 1)
            )
        )
        truncated = len(rows) > EVENTS_SHOWN
        rows = rows[:EVENTS_SHOWN]
    definition = (
        Definition.model_validate(node.definition)
        if node is not None
        else Definition(name="(unknown function)")
    )
    return CallRecord(
        id=row.id,
        node_id=row.node_id,
        definition=definition,
        args=dict(row.args or {}),
        status=row.status,
        created=moment(row.created_at),
        finished=moment(row.finished_at) if row.finished_at is not None else None,
        events=[(r.index, r.kind, dict(r.data or {})) for r in reversed(rows)],
        truncated=truncated,
    )


async def stored_events_after(
    state: ServerState, call_id: str, after: int, limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """The call's stored events after index ``after``, oldest first, at most ``limit``."""
    async with state.db.new_session() as s:
        rows = await s.scalars(
            select(AssignationEvent)
            .where(AssignationEvent.assignation_id == call_id, AssignationEvent.index > after)
            .order_by(AssignationEvent.index)
            .limit(limit)
        )
        return [(r.index, r.kind, dict(r.data or {})) for r in rows]
