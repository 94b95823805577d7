"""``/rekuest/graphql``: the control plane of remote functions (Strawberry).

Queries for nodes, templates, agents and assignations; ``assign`` / ``cancel`` mutations routed
through the same broker as the websocket (so they are authorised the same way); a subscription
to an assignation's events, over ``graphql-transport-ws`` and the legacy ``graphql-ws``.

Authentication: ``Authorization: Bearer <access token>`` on HTTP; on websockets the token in the
connection-init payload (``{"authorization": "Bearer ..."}`` or ``{"token": "..."}``). Every
resolver filters by the authenticated user: what is not theirs (or shared with them) does not
exist for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from sqlalchemy import select
from starlette.routing import BaseRoute, Route, WebSocketRoute
from strawberry.scalars import JSON
from strawberry.types import Info

from arkitekt.errors import ArgumentError
from arkitekt.protocol.messages import FINAL_EVENTS, Event

from ..graphql_app import EXTENSIONS, AuthenticatedGraphQL, Schema, claims_of, state_of
from ..graphql_limits import max_page, page_size
from .catalogue import visible_to
from .http_calls import CallRefused, HttpCaller, NoSuchFunction, cancel_call, start_call
from .models import Agent as AgentRow
from .models import Assignation as AssignationRow
from .models import AssignationEvent as EventRow
from .models import Node as NodeRow
from .models import Template as TemplateRow

_state = state_of
_claims = claims_of


# -- types -----------------------------------------------------------------------------------------


@strawberry.type
class Me:
    id: strawberry.ID
    username: str


@strawberry.type(name="Node")
class NodeType:
    id: strawberry.ID
    hash: str
    name: str
    description: str | None
    kind: str
    definition: Any = strawberry.field(graphql_type=JSON)
    interfaces: list[str]
    providers: int


@strawberry.type(name="Template")
class TemplateType:
    id: strawberry.ID
    interface: str
    app: str
    node_id: strawberry.ID
    mine: bool
    shared_with_everyone: bool


@strawberry.type(name="Agent")
class AgentType:
    id: strawberry.ID
    app: str
    instance_id: str
    connected: bool
    last_seen_at: dt.datetime


@strawberry.type(name="AssignationEvent")
class EventType:
    index: int
    kind: str
    progress: int | None
    message: str | None
    values: Any = strawberry.field(graphql_type=JSON | None)
    error: Any = strawberry.field(graphql_type=JSON | None)
    created_at: dt.datetime | None


@strawberry.type(name="Assignation")
class AssignationType:
    id: strawberry.ID
    node_id: strawberry.ID
    node_name: str
    status: str
    args: Any = strawberry.field(graphql_type=JSON)
    parent_id: strawberry.ID | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @strawberry.field
    async def events(self, info: Info) -> list[EventType]:
        async with _state(info).db.new_session() as s:
            rows = await s.scalars(
                select(EventRow)
                .where(EventRow.assignation_id == str(self.id))
                .order_by(EventRow.index)
                .limit(max_page(info))  # the first ones; assignationEvents streams them all
            )
            return [_event(row.index, row.kind, row.data, row.created_at) for row in rows]


def _event(index: int, kind: str, data: dict[str, Any], at: dt.datetime | None) -> EventType:
    return EventType(
        index=index,
        kind=kind,
        progress=data.get("progress"),
        message=data.get("message"),
        values=data.get("values"),
        error=data.get("error"),
        created_at=at,
    )


def _assignation(row: AssignationRow, node_name: str) -> AssignationType:
    return AssignationType(
        id=strawberry.ID(row.id),
        node_id=strawberry.ID(row.node_id),
        node_name=node_name,
        status=row.status,
        args=row.args,
        parent_id=strawberry.ID(row.parent_id) if row.parent_id else None,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


# -- queries ---------------------------------------------------------------------------------------


async def _nodes(info: Info, **filters: Any) -> list[NodeType]:
    state, claims = _state(info), _claims(info)
    found = await state.rpc.catalogue.find(claims.user_id, **filters)
    return [
        NodeType(
            id=strawberry.ID(node.id),
            hash=node.hash,
            name=str(node.definition.get("name", "")),
            description=node.definition.get("description"),
            kind=str(node.definition.get("kind", "function")),
            definition=node.definition,
            interfaces=node.interfaces,
            providers=state.rpc.broker.provider_count(node.id, claims.user_id),
        )
        for node in found
    ]


@strawberry.type
class Query:
    @strawberry.field
    def me(self, info: Info) -> Me:
        claims = _claims(info)
        return Me(id=strawberry.ID(claims.user_id), username=claims.username)

    @strawberry.field
    async def nodes(
        self,
        info: Info,
        search: str | None = None,
        interface: str | None = None,
        limit: int = 50,
    ) -> list[NodeType]:
        return await _nodes(info, search=search, interface=interface, limit=page_size(info, limit))

    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> NodeType | None:
        found = await _nodes(info, node=str(id), limit=1)
        return found[0] if found else None

    @strawberry.field
    async def templates(self, info: Info, mine: bool = False) -> list[TemplateType]:
        claims = _claims(info)
        condition = TemplateRow.user_id == claims.user_id if mine else visible_to(claims.user_id)
        async with _state(info).db.new_session() as s:
            rows = await s.scalars(select(TemplateRow).where(condition).limit(max_page(info)))
            return [
                TemplateType(
                    id=strawberry.ID(t.id),
                    interface=t.interface,
                    app=t.app_identifier,
                    node_id=strawberry.ID(t.node_id),
                    mine=t.user_id == claims.user_id,
                    shared_with_everyone=t.shared_with_everyone,
                )
                for t in rows
            ]

    @strawberry.field
    async def agents(self, info: Info) -> list[AgentType]:
        claims = _claims(info)
        async with _state(info).db.new_session() as s:
            rows = await s.scalars(
                select(AgentRow)
                .where(AgentRow.user_id == claims.user_id)
                .order_by(AgentRow.last_seen_at.desc())
                .limit(max_page(info))
            )
            return [
                AgentType(
                    id=strawberry.ID(a.id),
                    app=a.app_identifier,
                    instance_id=a.instance_id,
                    connected=a.connected,
                    last_seen_at=a.last_seen_at,
                )
                for a in rows
            ]

    @strawberry.field
    async def assignations(
        self, info: Info, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[AssignationType]:
        state, claims = _state(info), _claims(info)
        limit = page_size(info, limit)
        await state.rpc.recorder.flush_for_reading()
        query = (
            select(AssignationRow, NodeRow.name)
            .join(NodeRow, NodeRow.id == AssignationRow.node_id)
            .where(AssignationRow.user_id == claims.user_id)
        )
        if status is not None:
            query = query.where(AssignationRow.status == status)
        query = query.order_by(AssignationRow.created_at.desc()).offset(max(0, offset)).limit(limit)
        async with state.db.new_session() as s:
            return [_assignation(row, name) for row, name in await s.execute(query)]

    @strawberry.field
    async def assignation(self, info: Info, id: strawberry.ID) -> AssignationType | None:
        state, claims = _state(info), _claims(info)
        await state.rpc.recorder.flush_for_reading()
        async with state.db.new_session() as s:
            row = await s.get(AssignationRow, str(id))
            if row is None or row.user_id != claims.user_id:
                return None  # not yours: it does not exist for you
            node = await s.get(NodeRow, row.node_id)
        return _assignation(row, node.name if node is not None else "")


# -- mutations -------------------------------------------------------------------------------------


@strawberry.type(name="Sharing")
class SharingType:
    template: strawberry.ID
    everyone: bool
    users: list[str]


async def _share(
    info: Info, template: strawberry.ID, users: list[str], everyone: bool, revoke: bool
) -> SharingType:
    state, claims = _state(info), _claims(info)
    try:
        route, usernames = await state.rpc.catalogue.share(
            user_id=claims.user_id,
            template_id=str(template),
            usernames=users,
            everyone=everyone,
            revoke=revoke,
        )
    except LookupError as e:
        raise ValueError(str(e.args[0])) from None
    await state.rpc.broker.sharing_changed(route)
    return SharingType(template=strawberry.ID(route.id), everyone=route.everyone, users=usernames)


@strawberry.type
class SharingMutation:
    @strawberry.mutation
    async def share_template(
        self,
        info: Info,
        template: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
    ) -> SharingType:
        """Owner only: let these users (or everyone) find and call the template's function."""
        return await _share(info, template, users or [], everyone, False)

    @strawberry.mutation
    async def unshare_template(
        self,
        info: Info,
        template: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
    ) -> SharingType:
        """Owner only: take back what shareTemplate gave."""
        return await _share(info, template, users or [], everyone, True)


async def _caller(info: Info) -> HttpCaller:
    """The token's user and app, as a caller over HTTP."""
    state, claims = _state(info), _claims(info)
    async with state.db.new_session() as s:
        client = await state.oauth.client_by_id(s, claims.client_id)
    if client is None:
        raise PermissionError("the app's registration was removed")
    return HttpCaller(
        user_id=claims.user_id,
        username=claims.username,
        client_pk=str(client.id),
        app_identifier=claims.app_identifier,
        instance_id="graphql",
    )


@strawberry.type
class Mutation(SharingMutation):
    @strawberry.mutation
    async def assign(
        self,
        info: Info,
        node: strawberry.ID,
        args: JSON,
        template: strawberry.ID | None = None,
    ) -> AssignationType:
        """Call a function; follow it with ``assignationEvents`` or ``assignation``.

        It goes to your own apps' templates of the node, or, to call another user's function
        shared with you, to the ``template`` you name (see ``templates``). Images and files
        the arguments name must be ones you may see."""
        state = _state(info)
        if not isinstance(args, dict):
            raise ValueError("args must be an object of argument name -> value")
        try:
            started = await start_call(
                state.rpc,
                state.storage.catalogue,
                await _caller(info),
                node_id=str(node),
                args=args,
                template=None if template is None else str(template),
            )
        except (NoSuchFunction, ArgumentError, CallRefused) as e:
            raise ValueError(str(e)) from None
        return AssignationType(
            id=strawberry.ID(started.id),
            node_id=strawberry.ID(started.node_id),
            node_name=started.definition.name,
            status=started.status,
            args=started.args,
            parent_id=None,
            created_at=started.created_at,
            finished_at=None,
        )

    @strawberry.mutation
    async def cancel(self, info: Info, assignation: strawberry.ID) -> bool:
        """Cancel one of your calls; false when there is no such running call."""
        state, claims = _state(info), _claims(info)
        call = state.rpc.broker.call(str(assignation))
        if call is None or call.user_id != claims.user_id or call.final:
            return False  # answered before the app's registration is read
        return cancel_call(state.rpc, await _caller(info), str(assignation))


# -- subscriptions ---------------------------------------------------------------------------------


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def assignation_events(
        self, info: Info, assignation: strawberry.ID
    ) -> AsyncGenerator[EventType, None]:
        """The call's events from the start, live, ending with its final event."""
        state, claims = _state(info), _claims(info)
        broker = state.rpc.broker
        call_id = str(assignation)
        call = broker.call(call_id)
        if call is None:
            await state.rpc.recorder.flush_for_reading()
            async with state.db.new_session() as s:
                row = await s.get(AssignationRow, call_id)
                if row is None or row.user_id != claims.user_id:
                    raise ValueError("no such assignation")
                events = await s.scalars(
                    select(EventRow)
                    .where(EventRow.assignation_id == call_id)
                    .order_by(EventRow.index)
                )
                for event in events:
                    yield _event(event.index, event.kind, event.data, event.created_at)
            return
        if call.user_id != claims.user_id:
            raise ValueError("no such assignation")
        queue = broker.listen(call_id)
        try:
            sent = -1
            for event in list(call.history):
                sent = event.index
                yield _from_wire(event)
            if call.final and call.history and call.history[-1].kind in FINAL_EVENTS:
                return
            while True:
                event = await queue.get()
                if event.index <= sent:
                    continue
                yield _from_wire(event)
                if event.kind in FINAL_EVENTS:
                    return
        finally:
            broker.unlisten(call_id, queue)


def _from_wire(event: Event) -> EventType:
    data = event.model_dump(mode="json", exclude_none=True)
    return _event(event.index, event.kind.value, data, None)


schema = Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=EXTENSIONS)


# -- the ASGI app ----------------------------------------------------------------------------------


def routes() -> list[BaseRoute]:
    app = AuthenticatedGraphQL(schema)
    return [
        Route("/rekuest/graphql", app, methods=["GET", "POST"]),
        WebSocketRoute("/rekuest/graphql", app),
    ]
