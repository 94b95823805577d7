"""The directory: what is provided. Agents register their templates, owners share them, and
callers find functions, each with how many connected agents provide it to them.

The catalogue stores templates and shares (the slow path, awaited here: none of these messages is
per call); routing learns the result at once.
"""

from __future__ import annotations

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

from .catalogue import Catalogue, node_info
from .routing import Routing
from .sessions import Peer, Sessions


class Directory:
    def __init__(self, sessions: Sessions, routing: Routing, catalogue: Catalogue) -> None:
        self._sessions = sessions
        self._routing = routing
        self._catalogue = catalogue

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
        self._routing.add(agent)
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
        peer.send(
            Shared(rid=message.rid, template=route.id, everyone=route.everyone, users=usernames)
        )

    async def find(self, peer: Peer, message: Find) -> None:
        """Functions visible to the peer's user, with their live provider counts."""
        rows = await self._catalogue.find(
            peer.user_id,
            node=message.node,
            hash=message.hash,
            interface=message.interface,
            name=message.name,
            search=message.search,
            limit=message.limit,
        )
        nodes = [node_info(row, self._routing.provider_count(row[0], peer.user_id)) for row in rows]
        peer.send(Found(rid=message.rid, nodes=nodes))
