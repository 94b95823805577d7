"""An agent's page on the dashboard: what it is and its states, live.

``GET /dashboard/agents/{agent_id}``
    The agent (app, instance, connected or not) and every state it published (``@state``),
    as the server holds them now.
``GET /dashboard/agents/{agent_id}/states/events``
    Server-sent events: each time a state changes, its whole new value (one JSON object per
    message: ``state``, ``value``, ``connected``); ``static/agent.js`` puts them on the page.

The page and its stream are the user's when they may see the agent: it is theirs, or it shares
a function with them (the rule of ``get_state``); otherwise the agent is not found, exactly as
one that does not exist. A stream is bounded like a call's (:mod:`.call_stream`): per user, in
time, and in what it may fall behind; it ends when a share taken back hides the agent.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from arkitekt.protocol.messages import Failed, Message, StateUpdate, WatchState

from .call_stream import RETRY_MS, message, no_stream, open_stream
from .dashboard import MAX_ID_LENGTH, Moment, moment
from .http import state_of
from .models import WebSession
from .pages import _login_redirect, current_session, render
from .rpc.agent_states import StateHub
from .rpc.models import Agent
from .rpc.sessions import Peer
from .state import ServerState

MAX_BEHIND = 100
"""State updates one stream may have waiting; a reader that slow reconnects instead."""


@dataclass(frozen=True)
class StateView:
    name: str
    fields: list[tuple[str, str]]
    """Each top-level field and its value as JSON text."""
    revision: int


@dataclass(frozen=True)
class AgentView:
    id: str
    app: str
    instance: str
    online: bool
    last_seen: Moment
    mine: bool


def fields_of(value: dict[str, Any]) -> list[tuple[str, str]]:
    """A state's value as rows: field name -> compact JSON (what agent.js writes too)."""
    return [(key, json.dumps(item, ensure_ascii=False)) for key, item in value.items()]


async def visible_agent(state: ServerState, user_id: str, agent_id: str) -> AgentView | None:
    """The agent, if the user may see it (None: not found, or not theirs to see)."""
    if not agent_id or len(agent_id) > MAX_ID_LENGTH or state.rpc is None:
        return None
    broker = state.rpc.broker
    if not await broker.may_see_agent(user_id, agent_id):
        return None
    async with state.db.new_session() as s:
        row = await s.scalar(select(Agent).where(Agent.id == agent_id))
    if row is None:
        return None
    return AgentView(
        id=row.id,
        app=row.app_identifier,
        instance=row.instance_id,
        online=row.id in broker.online_agents(),
        last_seen=moment(row.last_seen_at),
        mine=row.user_id == user_id,
    )


def _not_found(request: Request, session: WebSession) -> Response:
    return render(
        request,
        "message.html",
        404,
        user=session.user,
        title="Not found",
        message="No such agent (or it shares nothing with you).",
    )


async def agent_page(request: Request) -> Response:
    """``GET /dashboard/agents/{agent_id}``."""
    session = await current_session(request)
    if session is None:
        return _login_redirect(request)
    state = state_of(request)
    agent = await visible_agent(state, session.user_id, str(request.path_params["agent_id"]))
    if agent is None or state.rpc is None:
        return _not_found(request, session)
    hub = state.rpc.broker.states
    views = []
    for name in await hub.names(agent.id):
        current = await hub.current(agent.id, name)
        if current is not None:
            views.append(StateView(name, fields_of(current.value), current.revision))
    return render(
        request,
        "agent.html",
        user=session.user,
        agent=agent,
        states=views,
        stream=f"/dashboard/agents/{agent.id}/states/events",
    )


def _stream_peer(session: WebSession, queue: asyncio.Queue[Message]) -> Peer:
    """A watcher that is not an app: what the hub sends it goes into ``queue``."""
    return Peer(
        user_id=session.user_id,
        username=session.user.username,
        client_pk="web",
        app_identifier="dashboard",
        instance_id="agent-page",
        session=uuid.uuid4().hex,
        send=queue.put_nowait,
        close=lambda code, reason: None,
    )


async def state_events(
    hub: StateHub,
    peer: Peer,
    queue: asyncio.Queue[Message],
    agent_id: str,
    names: list[str],
    *,
    max_seconds: float,
    keepalive: float,
) -> AsyncIterator[str]:
    """The stream's messages: each state's whole value now, then again at every change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    values: dict[str, dict[str, Any]] = {}
    yield f"retry: {RETRY_MS}\n\n"
    try:
        for rid, name in enumerate(names):
            await hub.watch(peer, WatchState(rid=rid, agent=agent_id, state=name), agent_id)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or queue.qsize() > MAX_BEHIND:
                return  # the browser reconnects and gets every value whole again
            try:
                update = await asyncio.wait_for(queue.get(), min(keepalive, remaining))
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if isinstance(update, Failed):
                yield message(None, event="end")  # no longer visible (a share taken back)
                return
            if not isinstance(update, StateUpdate):
                continue
            value = _applied(values.get(update.state), update)
            if value is None:
                return  # out of step: the browser reconnects
            values[update.state] = value
            yield message(
                {"state": update.state, "fields": fields_of(value), "connected": update.connected}
            )
    finally:
        hub.peer_gone(peer)


def _applied(before: dict[str, Any] | None, update: StateUpdate) -> dict[str, Any] | None:
    if update.value is not None:
        return update.value
    if before is None or update.patch is None:
        return None
    import jsonpatch

    try:
        after = jsonpatch.apply_patch(copy.deepcopy(before), update.patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        return None
    return after if isinstance(after, dict) else None


async def agent_stream(request: Request) -> Response:
    """``GET /dashboard/agents/{agent_id}/states/events``."""
    session = await current_session(request)
    state = state_of(request)
    agent = (
        await visible_agent(state, session.user_id, str(request.path_params["agent_id"]))
        if session is not None
        else None
    )
    if session is None or agent is None or state.rpc is None:
        return no_stream("No such agent.", 404)
    config = state.config
    hub = state.rpc.broker.states

    async def make() -> AsyncIterator[str]:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        return state_events(
            hub,
            _stream_peer(session, queue),
            queue,
            agent.id,
            await hub.names(agent.id),
            max_seconds=config.web_stream_max_seconds,
            keepalive=config.web_stream_keepalive,
        )

    return await open_stream(
        request,
        session.user_id,
        config.web_streams_per_user,
        f"You have {config.web_streams_per_user} live pages open; close one.",
        make,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard/agents/{agent_id}", agent_page, methods=["GET"]),
        Route("/dashboard/agents/{agent_id}/states/events", agent_stream, methods=["GET"]),
    ]
