"""The dashboard: what a person logged in on the web pages has on this server.

``GET /dashboard`` lists, for the user of the web session (never anybody else's data): their
agents, the functions they may call (their own or shared with them) and whether a connected
agent provides them, their recent calls, the newest images they may see, each with a
thumbnail from ``GET /dashboard/images/{id}/thumbnail.png``, and the newest datasets (with
what each holds for this user) and tables they may see.

Each function links to its run page and each call to its page (:mod:`.run_page`).

Server-rendered (Jinja2, autoescaped), no JavaScript. Thumbnails come from the same origin, so
the server's ``default-src 'self'`` policy holds. Thumbnails are made within bounds, once per
image, and kept (:mod:`.storage.thumbnails`); the route answers 404 for an image the session's
user may not see, exactly as for one that does not exist (and for one without a thumbnail).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from arkitekt.protocol.thumbnail import THUMBNAIL_EDGE

from .http import state_of
from .pages import _login_redirect, current_session, render
from .rpc.models import Agent, Assignation, Node
from .rpc.state import RpcState
from .state import ServerState
from .storage.catalogue import ImageFilter, NotFound, TableFilter
from .storage.datasets import DatasetCatalogue
from .storage.models import Image
from .storage.state import StorageState

logger = logging.getLogger("arkitekt.server.dashboard")

AGENTS_SHOWN = 50
FUNCTIONS_SHOWN = 50
CALLS_SHOWN = 20
IMAGES_SHOWN = 12
DATASETS_SHOWN = 20
TABLES_SHOWN = 20
THUMBNAIL_MAX_AGE = 300
"""Seconds a browser may keep a thumbnail (a ready image never changes; it may be deleted)."""
MAX_ID_LENGTH = 32
"""Object ids are at most this long (``String(32)`` columns): longer ones are not looked up."""


# -- what the template shows (plain strings, formatted here) -------------------------------------


@dataclass(frozen=True)
class Moment:
    """A point in time as shown (``text``) and as machine-readable ISO 8601 (``iso``)."""

    text: str
    iso: str


@dataclass(frozen=True)
class AgentRow:
    id: str
    """The agent's id (its page is ``/dashboard/agents/{id}``: its state, live)."""
    app: str
    instance: str
    online: bool
    """Connected right now (one that dropped is offline at once, though the broker keeps its
    calls for the reconnect grace window and the database marks it gone only after that)."""
    last_seen: Moment


@dataclass(frozen=True)
class FunctionRow:
    id: str
    """The node's id (its run page is ``/dashboard/functions/{id}/run``)."""
    name: str
    description: str
    interfaces: list[str]
    providers: int
    """Connected agents that provide it to this user."""


@dataclass(frozen=True)
class CallRow:
    id: str
    """The call's id (its page is ``/dashboard/calls/{id}``)."""
    function: str
    status: str
    created: Moment
    finished: Moment | None


@dataclass(frozen=True)
class ImageRow:
    id: str
    name: str
    shape: list[int]
    dims: list[str]
    dtype: str
    mine: bool
    created: Moment
    thumbnail: str | None
    """The thumbnail's URL; None for an image without pixels (a zero-sized dimension)."""
    thumbnail_width: int
    thumbnail_height: int


@dataclass(frozen=True)
class DatasetRow:
    id: str
    name: str
    mine: bool
    created: Moment
    holds: str
    """What it holds that this user may see, e.g. "3 images · 1 table" (or "empty")."""


@dataclass(frozen=True)
class TableRow:
    id: str
    name: str
    rows: int
    columns: list[str]
    mine: bool
    created: Moment


def moment(when: dt.datetime) -> Moment:
    """A timestamp for the page (stored ones are UTC; SQLite returns them naive)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    when = when.astimezone(dt.UTC)
    return Moment(text=when.strftime("%Y-%m-%d %H:%M:%S UTC"), iso=when.isoformat())


def thumbnail_size(shape: Sequence[int]) -> tuple[int, int]:
    """``(width, height)`` of the thumbnail PNG of ``shape`` (see :mod:`.storage.thumbnails`)."""
    sizes = [-(-n // max(1, -(-n // THUMBNAIL_EDGE))) for n in shape[-2:]]
    if len(sizes) == 1:
        return sizes[0], 1
    return sizes[1], sizes[0]


# -- the page ------------------------------------------------------------------------------------


def _parts(state: ServerState) -> tuple[RpcState, StorageState]:
    if state.rpc is None or state.storage is None:
        raise RuntimeError("the server has not started (its lifespan did not run)")
    return state.rpc, state.storage


async def _agents(state: ServerState, rpc: RpcState, user_id: str) -> list[AgentRow]:
    query = (
        select(Agent)
        .where(Agent.user_id == user_id)
        .order_by(Agent.connected.desc(), Agent.last_seen_at.desc(), Agent.id)
        .limit(AGENTS_SHOWN)
    )
    async with state.db.new_session() as s:
        rows = list(await s.scalars(query))
    # the broker (in memory, on this replica) knows who is connected now
    live = rpc.broker.online_agents()
    shown = [
        AgentRow(
            id=a.id,
            app=a.app_identifier,
            instance=a.instance_id,
            online=a.id in live,
            last_seen=moment(a.last_seen_at),
        )
        for a in rows
    ]
    return sorted(shown, key=lambda row: not row.online)  # stable: online first, then by time


async def _functions(rpc: RpcState, user_id: str) -> list[FunctionRow]:
    found = await rpc.catalogue.find(user_id, limit=FUNCTIONS_SHOWN)
    return [
        FunctionRow(
            id=node.id,
            name=str(node.definition.get("name") or ""),
            description=str(node.definition.get("description") or ""),
            interfaces=node.interfaces,
            providers=rpc.broker.provider_count(node.id, user_id),
        )
        for node in found
    ]


async def _calls(state: ServerState, rpc: RpcState, user_id: str) -> list[CallRow]:
    await rpc.recorder.flush_for_reading()  # calls are written behind: show the ones just made too
    query = (
        select(Assignation, Node.name)
        .join(Node, Node.id == Assignation.node_id)
        .where(Assignation.user_id == user_id)
        .order_by(Assignation.created_at.desc(), Assignation.id)
        .limit(CALLS_SHOWN)
    )
    async with state.db.new_session() as s:
        rows = [(row[0], str(row[1])) for row in await s.execute(query)]
    return [
        CallRow(
            id=call.id,
            function=name,
            status=call.status,
            created=moment(call.created_at),
            finished=moment(call.finished_at) if call.finished_at is not None else None,
        )
        for call, name in rows
    ]


async def _images(storage: StorageState, user_id: str) -> list[ImageRow]:
    rows = await storage.catalogue.images(user_id, ImageFilter(), limit=IMAGES_SHOWN, offset=0)
    shown: list[ImageRow] = []
    for image in rows:
        shape = [int(n) for n in image.shape]
        width, height = thumbnail_size(shape)
        has_pixels = bool(shape) and all(n > 0 for n in shape)
        shown.append(
            ImageRow(
                id=image.id,
                name=image.name,
                shape=shape,
                dims=[str(d) for d in image.dims],
                dtype=image.dtype,
                mine=image.owner_id == user_id,
                created=moment(image.created_at),
                thumbnail=f"/dashboard/images/{image.id}/thumbnail.png" if has_pixels else None,
                thumbnail_width=width,
                thumbnail_height=height,
            )
        )
    return shown


def holdings(counts: dict[str, int]) -> str:
    """``{"images": 3, "tables": 1, ...}`` as "3 images · 1 table" (kinds with none left out)."""
    parts = [
        f"{counts[kind]} {kind if counts[kind] != 1 else kind[:-1]}"
        for kind in ("images", "tables", "files", "datasets")
        if counts.get(kind)
    ]
    return " · ".join(parts) or "empty"


async def _datasets(storage: StorageState, user_id: str) -> list[DatasetRow]:
    datasets = DatasetCatalogue(storage.catalogue)
    rows = await datasets.find(
        user_id,
        name=None,
        name_contains=None,
        parent=None,
        root=False,
        mine=False,
        limit=DATASETS_SHOWN,
        offset=0,
    )
    counts = await datasets.member_counts(user_id, [row.id for row in rows])
    return [
        DatasetRow(
            id=row.id,
            name=row.name,
            mine=row.owner_id == user_id,
            created=moment(row.created_at),
            holds=holdings(counts[row.id]),
        )
        for row in rows
    ]


async def _tables(storage: StorageState, user_id: str) -> list[TableRow]:
    rows = await storage.catalogue.tables(user_id, TableFilter(), limit=TABLES_SHOWN, offset=0)
    return [
        TableRow(
            id=row.id,
            name=row.name,
            rows=int(row.num_rows or 0),
            columns=[str(column.get("name", "")) for column in row.columns or []],
            mine=row.owner_id == user_id,
            created=moment(row.created_at),
        )
        for row in rows
    ]


async def dashboard_page(request: Request) -> Response:
    """``GET /dashboard``: the logged-in user's agents, functions, calls, images, datasets and
    tables."""
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    state = state_of(request)
    rpc, storage = _parts(state)
    user_id = session.user_id
    return render(
        request,
        "dashboard.html",
        user=session.user,
        agents=await _agents(state, rpc, user_id),
        functions=await _functions(rpc, user_id),
        calls=await _calls(state, rpc, user_id),
        images=await _images(storage, user_id),
        datasets=await _datasets(storage, user_id),
        tables=await _tables(storage, user_id),
        calls_shown=CALLS_SHOWN,
        images_shown=IMAGES_SHOWN,
        datasets_shown=DATASETS_SHOWN,
        tables_shown=TABLES_SHOWN,
    )


# -- thumbnails ----------------------------------------------------------------------------------


def _not_found() -> Response:
    return PlainTextResponse(
        "No such image (or it is not shared with you).",
        status_code=404,
        headers={"Cache-Control": "no-store"},
    )


async def thumbnail(request: Request) -> Response:
    """``GET /dashboard/images/{image_id}/thumbnail.png`` for the web session's user."""
    session = await current_session(request)
    image_id = str(request.path_params["image_id"])
    if session is None or not image_id or len(image_id) > MAX_ID_LENGTH:
        return _not_found()
    state = state_of(request)
    _, storage = _parts(state)
    try:
        image = await storage.catalogue.visible(Image, image_id, session.user_id)
        if not image.shape or any(int(n) <= 0 for n in image.shape):
            raise NotFound(f"image {image_id!r} has no pixels")
        png = await storage.thumbnails.get(image)
    except NotFound:
        return _not_found()
    if png is None:  # unreadable, or not within the bounds of a thumbnail (logged)
        return _not_found()
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": f"private, max-age={THUMBNAIL_MAX_AGE}", "Vary": "Cookie"},
    )


def routes() -> list[BaseRoute]:
    """The dashboard's routes, added to the server's app."""
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/images/{image_id}/thumbnail.png", thumbnail, methods=["GET"]),
    ]
