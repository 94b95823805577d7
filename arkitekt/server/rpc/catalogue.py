"""Nodes, templates, agents and provisions in the database (the slow path: not per call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, or_, select, update

from arkitekt.protocol.messages import NodeInfo, TemplateIn, TemplateRef
from arkitekt.protocol.ports import Definition

from ..db import Database
from ..models import utcnow
from .models import Agent, Node, Provision, Reservation, Template, TemplateShare


@dataclass
class TemplateRoute:
    """What routing needs to know of a template: its node, and who may use it."""

    id: str
    node_id: str
    interface: str
    owner_id: str
    everyone: bool = False
    shared_with: set[str] = field(default_factory=set)

    def usable_by(self, user_id: str) -> bool:
        return self.everyone or user_id == self.owner_id or user_id in self.shared_with


def visible_to(user_id: str) -> Any:
    """SQL condition: the template is the user's own or shared with them."""
    return or_(
        Template.user_id == user_id,
        Template.shared_with_everyone.is_(True),
        exists().where(TemplateShare.template_id == Template.id, TemplateShare.user_id == user_id),
    )


class Catalogue:
    def __init__(self, db: Database, *, share_with_everyone: bool = False) -> None:
        self.db = db
        self.share_with_everyone = share_with_everyone
        self._node_ids: dict[str, str] = {}
        """hash -> node id (nodes never change once stored)."""

    async def agent(
        self, *, user_id: str, client_pk: str, app_identifier: str, instance_id: str, session: str
    ) -> str:
        """The agent row of this app instance (created on first registration), marked connected."""
        async with self.db.new_session() as s, s.begin():
            agent = await s.scalar(
                select(Agent).where(Agent.client_pk == client_pk, Agent.instance_id == instance_id)
            )
            if agent is None:
                agent = Agent(
                    user_id=user_id,
                    client_pk=client_pk,
                    app_identifier=app_identifier,
                    instance_id=instance_id,
                )
                s.add(agent)
            agent.connected = True
            agent.session = session
            agent.last_seen_at = utcnow()
            await s.flush()
            return agent.id

    async def register(
        self, *, agent_id: str, user_id: str, app_identifier: str, templates: list[TemplateIn]
    ) -> list[tuple[TemplateRoute, str]]:
        """Store nodes and templates (unchanged ones cost one read) and the agent's provisions.

        Returns each template's route and its node's hash, in order.
        """
        async with self.db.new_session() as s, s.begin():
            result: list[tuple[TemplateRoute, str]] = []
            for item in templates:
                definition = item.definition
                node_hash = definition.hash()
                node_id = self._node_ids.get(node_hash)
                if node_id is None:
                    node_id = await s.scalar(select(Node.id).where(Node.hash == node_hash))
                    if node_id is None:
                        # Another server on this database may be storing the same node now.
                        await s.execute(
                            self.db.insert_or_ignore(Node, "hash").values(
                                hash=node_hash,
                                name=definition.name,
                                description=definition.description,
                                kind=str(definition.kind.value),
                                definition=definition.model_dump(mode="json"),
                            )
                        )
                        node_id = await s.scalar(select(Node.id).where(Node.hash == node_hash))
                        assert node_id is not None
                    self._node_ids[node_hash] = node_id
                template = await s.scalar(
                    select(Template).where(
                        Template.user_id == user_id,
                        Template.app_identifier == app_identifier,
                        Template.interface == item.interface,
                    )
                )
                if template is None:
                    template = Template(
                        node_id=node_id,
                        user_id=user_id,
                        app_identifier=app_identifier,
                        interface=item.interface,
                        shared_with_everyone=self.share_with_everyone,
                    )
                    s.add(template)
                    await s.flush()
                elif template.node_id != node_id:
                    template.node_id = node_id
                    template.updated_at = utcnow()
                provision = await s.scalar(
                    select(Provision).where(
                        Provision.agent_id == agent_id, Provision.template_id == template.id
                    )
                )
                if provision is None:
                    s.add(Provision(agent_id=agent_id, template_id=template.id, active=True))
                elif not provision.active:
                    provision.active = True
                route = await self._route(s, template)
                result.append((route, node_hash))
            kept = [route.id for route, _ in result]
            await s.execute(
                update(Provision)
                .where(Provision.agent_id == agent_id, Provision.template_id.not_in(kept))
                .values(active=False)
            )
            return result

    async def _route(self, s: Any, template: Template) -> TemplateRoute:
        shared = await s.scalars(
            select(TemplateShare.user_id).where(TemplateShare.template_id == template.id)
        )
        return TemplateRoute(
            id=template.id,
            node_id=template.node_id,
            interface=template.interface,
            owner_id=template.user_id,
            everyone=template.shared_with_everyone,
            shared_with=set(shared),
        )

    async def route(self, template_id: str) -> TemplateRoute | None:
        async with self.db.new_session() as s:
            template = await s.get(Template, template_id)
            return None if template is None else await self._route(s, template)

    async def agent_gone(self, agent_id: str) -> None:
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                update(Agent)
                .where(Agent.id == agent_id)
                .values(connected=False, session=None, last_seen_at=utcnow())
            )
            await s.execute(
                update(Provision).where(Provision.agent_id == agent_id).values(active=False)
            )

    async def reset_connections(self) -> None:
        """At start-up: nobody is connected to a server that just started."""
        async with self.db.new_session() as s, s.begin():
            await s.execute(update(Agent).values(connected=False))
            await s.execute(update(Provision).values(active=False))

    async def share(
        self,
        *,
        user_id: str,
        usernames: list[str],
        everyone: bool,
        revoke: bool,
        app_identifier: str | None = None,
        interface: str | None = None,
        template_id: str | None = None,
    ) -> tuple[TemplateRoute, list[str]]:
        """Change who may use one of the user's templates (given by app + interface, or by id);
        returns its route and the usernames now shared with. Raises LookupError naming what was
        not found; another user's template is not found either."""
        from ..models import User

        async with self.db.new_session() as s, s.begin():
            query = select(Template).where(Template.user_id == user_id)
            if template_id is not None:
                query = query.where(Template.id == template_id)
            else:
                query = query.where(
                    Template.app_identifier == app_identifier, Template.interface == interface
                )
            template = await s.scalar(query)
            if template is None:
                raise LookupError(
                    "you have no such template"
                    if template_id is not None
                    else f"this app has no function registered as {interface!r} (serve it first)"
                )
            users = {
                u.username: u.id
                for u in await s.scalars(select(User).where(User.username.in_(usernames)))
            }
            missing = sorted(set(usernames) - set(users))
            if missing:
                raise LookupError(f"no such user: {', '.join(missing)}")
            existing = set(
                await s.scalars(
                    select(TemplateShare.user_id).where(TemplateShare.template_id == template.id)
                )
            )
            for uid in users.values():
                if revoke and uid in existing:
                    await s.delete(await s.get(TemplateShare, (template.id, uid)))
                elif not revoke and uid not in existing and uid != user_id:
                    s.add(TemplateShare(template_id=template.id, user_id=uid))
            if everyone:
                template.shared_with_everyone = not revoke
            await s.flush()
            route = await self._route(s, template)
            names = list(
                await s.scalars(select(User.username).where(User.id.in_(route.shared_with)))
            )
            return route, sorted(names)

    async def reservation_started(
        self, reservation_id: str, user_id: str, node_id: str, agents: list[str] | None
    ) -> None:
        async with self.db.new_session() as s, s.begin():
            row = await s.get(Reservation, reservation_id)
            if row is None:
                s.add(
                    Reservation(id=reservation_id, user_id=user_id, node_id=node_id, agents=agents)
                )
            elif row.user_id == user_id:
                row.ended_at = None  # resumed after a reconnect (or a server restart)

    async def reservation_ended(self, reservation_id: str) -> None:
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                update(Reservation)
                .where(Reservation.id == reservation_id)
                .values(ended_at=utcnow())
            )

    async def find(
        self,
        user_id: str,
        *,
        owner_id: str | None = None,
        node: str | None = None,
        hash: str | None = None,
        interface: str | None = None,
        name: str | None = None,
        search: str | None = None,
        limit: int = 50,
    ) -> list[FoundNode]:
        """Nodes the user may call, with the templates that offer them to the user (only the
        templates of ``owner_id``, when given), newest first."""
        from ..models import User

        query = (
            select(Node, Template.id, Template.interface, User.username)
            .join(Template, Template.node_id == Node.id)
            .join(User, User.id == Template.user_id)
            .where(visible_to(user_id))
        )
        if owner_id is not None:
            query = query.where(Template.user_id == owner_id)
        if node is not None:
            query = query.where(Node.id == node)
        if hash is not None:
            query = query.where(Node.hash == hash)
        if interface is not None:
            query = query.where(Template.interface == interface)
        if name is not None:
            query = query.where(Node.name == name)
        if search is not None:
            pattern = f"%{search}%"
            query = query.where(or_(Node.name.ilike(pattern), Node.description.ilike(pattern)))
        query = query.order_by(Node.created_at.desc(), Node.id, Template.id)
        found: dict[str, FoundNode] = {}
        async with self.db.new_session() as s:
            for n, template_id, iface, owner in await s.execute(query):
                entry = found.get(n.id)
                if entry is None:
                    if len(found) == limit:
                        break
                    entry = found[n.id] = FoundNode(n.id, n.hash, n.definition)
                entry.templates.append(TemplateRef(id=template_id, interface=iface, owner=owner))
        return list(found.values())

    async def user_id(self, username: str) -> str | None:
        """The id of an active user, by name."""
        from ..models import User

        async with self.db.new_session() as s:
            return await s.scalar(
                select(User.id).where(User.username == username, User.is_active.is_(True))
            )

    async def may_see_agent(self, user_id: str, agent_id: str) -> bool:
        """Whether the user may see the agent (and its state): it is theirs, or it provides a
        template shared with them (as a caller choosing it would be routed)."""
        shared = (
            select(Provision.id)
            .join(Template, Template.id == Provision.template_id)
            .where(Provision.agent_id == agent_id, visible_to(user_id))
        )
        query = select(Agent.id).where(
            Agent.id == agent_id, or_(Agent.user_id == user_id, exists(shared))
        )
        async with self.db.new_session() as s:
            return await s.scalar(query) is not None

    async def usable_templates(
        self, user_id: str, node_id: str, templates: list[str] | None
    ) -> set[str]:
        """Of the node's templates, the ``templates`` the user may use (their own, when None)."""
        query = select(Template.id).where(Template.node_id == node_id)
        if templates is None:
            query = query.where(Template.user_id == user_id)
        else:
            query = query.where(Template.id.in_(templates), visible_to(user_id))
        async with self.db.new_session() as s:
            return set(await s.scalars(query))


@dataclass
class FoundNode:
    """A node a search found, and the templates that offer it to the searcher."""

    id: str
    hash: str
    definition: dict[str, Any]
    templates: list[TemplateRef] = field(default_factory=list)

    @property
    def interfaces(self) -> list[str]:
        return sorted({t.interface for t in self.templates})


def node_info(found: FoundNode, providers: int) -> NodeInfo:
    return NodeInfo(
        id=found.id,
        hash=found.hash,
        definition=Definition.model_validate(found.definition),
        interfaces=found.interfaces,
        templates=found.templates,
        providers=providers,
    )
