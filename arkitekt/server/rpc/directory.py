"""The directory: what is provided. Agents register their templates, owners share them, and
callers find functions, each with the templates found and how many connected agents provide it
through them.

The catalogue stores templates and shares (the slow path, awaited here: none of these messages is
per call); routing learns the result at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from arkitekt.protocol.messages import (
    Failed,
    Find,
    Found,
    Register,
    Registered,
    Share,
    Shared,
    TemplateInfo,
)

from .catalogue import Catalogue, TemplateRoute, node_info
from .routing import Routing
from .sessions import LiveAgent, Peer, Sessions


class Directory:
    def __init__(
        self,
        sessions: Sessions,
        routing: Routing,
        catalogue: Catalogue,
        *,
        on_registered: Callable[[LiveAgent, Peer], None],
        on_shared: Callable[[TemplateRoute], Awaitable[None]],
    ) -> None:
        self._sessions = sessions
        self._routing = routing
        self._catalogue = catalogue
        self._on_registered = on_registered
        """Told each agent that registered, with its connection (before any later message)."""
        self._on_shared = on_shared
        """Told each template whose sharing an owner changed (routing here knows already)."""

    async def register(self, peer: Peer, message: Register) -> None:
        """The peer becomes (or stays) its session's agent, providing these templates."""
        agent_id = await self._catalogue.agent(
            user_id=peer.user_id,
            client_pk=peer.client_pk,
            app_identifier=peer.app_identifier,
            instance_id=peer.instance_id,
            session=peer.session,
        )
        routes = await self._catalogue.register(
            agent_id=agent_id,
            user_id=peer.user_id,
            app_identifier=peer.app_identifier,
            templates=message.templates,
        )
        known = self._sessions.agent(peer.key)
        if known is not None and known.id == agent_id:
            self._routing.remove(known)
        agent = self._sessions.bind_agent(peer, agent_id)
        agent.routes = {route.id: route for route, _ in routes}
        concurrency = {t.interface: t.concurrency for t in message.templates}
        agent.capacity = {route.id: concurrency.get(route.interface) for route, _ in routes}
        self._routing.add(agent)
        self._on_registered(agent, peer)
        peer.send(
            Registered(
                rid=message.rid,
                agent=agent_id,
                templates=[
                    TemplateInfo(
                        interface=route.interface, template=route.id, node=route.node_id, hash=h
                    )
                    for route, h in routes
                ],
            )
        )

    async def share(self, peer: Peer, message: Share) -> None:
        """The owner shares one of their templates (or takes a share back)."""
        try:
            route, usernames = await self._catalogue.share(
                user_id=peer.user_id,
                app_identifier=peer.app_identifier,
                interface=message.interface,
                usernames=message.users,
                everyone=message.everyone,
                revoke=message.revoke,
            )
        except LookupError as e:
            peer.send(Failed(rid=message.rid, code="not_found", message=str(e.args[0])))
            return
        self._routing.sharing_changed(route, self._sessions.all_agents())
        await self._on_shared(route)  # every replica honours it before the owner hears back
        peer.send(
            Shared(rid=message.rid, template=route.id, everyone=route.everyone, users=usernames)
        )

    async def find(self, peer: Peer, message: Find) -> None:
        """Functions the peer's user may call, through the templates the search chose: the
        user's own by default, one other user's (``owner``), or all shared (``shared``)."""
        owner_id: str | None = peer.user_id
        if message.owner is not None:
            owner_id = await self._catalogue.user_id(message.owner)
            if owner_id is None:
                peer.send(Found(rid=message.rid, nodes=[]))  # unknown and unshared look alike
                return
        elif message.shared:
            owner_id = None
        found = await self._catalogue.find(
            peer.user_id,
            owner_id=owner_id,
            node=message.node,
            hash=message.hash,
            interface=message.interface,
            name=message.name,
            search=message.search,
            limit=message.limit,
        )
        nodes = [
            node_info(
                node,
                len(
                    self._routing.providers(
                        node.id, peer.user_id, templates={t.id for t in node.templates}
                    )
                ),
            )
            for node in found
        ]
        peer.send(Found(rid=message.rid, nodes=nodes))
