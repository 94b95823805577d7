"""Routing: which connected agents provide which function, and which one takes a call.

A call names a node (a function); agents provide it through templates. A call goes only to a
provider its caller chose (DESIGN §8): the templates it names, if they are shared with the
caller, or else the caller's own templates of the node. Sharing a template lets others call it
when they name it; it never lets it receive calls meant for someone else's. Among the chosen
providers one with a free slot of the function (agents declare how many calls of each they run
at once) takes the call, the least loaded first; ties go round robin, so equal agents share the
work. When every provider is busy the least loaded still takes it, and the call waits queued on
that agent.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable

from .catalogue import TemplateRoute
from .sessions import LiveAgent

Provider = tuple[TemplateRoute, LiveAgent]
"""A template and the connected agent that provides it."""


class Routing:
    """The connected providers of every node."""

    def __init__(self, *, on_change: Callable[[str], None]) -> None:
        self._on_change = on_change
        """Told the node id whenever a provider of that node comes or goes."""
        self._providers: dict[str, list[Provider]] = {}
        """node id -> (template, agent) of every connected agent providing it."""
        self._round_robin = itertools.count()

    def add(self, agent: LiveAgent) -> None:
        """Route to every template of a (newly) connected agent."""
        for route in agent.routes.values():
            self._providers.setdefault(route.node_id, []).append((route, agent))
            self._on_change(route.node_id)

    def remove(self, agent: LiveAgent) -> None:
        """Stop routing to an agent (its link dropped, or it registers anew)."""
        for route in agent.routes.values():
            entries = self._providers.get(route.node_id)
            if entries:
                entries[:] = [e for e in entries if e[1] is not agent]
                if not entries:
                    del self._providers[route.node_id]
            self._on_change(route.node_id)

    def sharing_changed(self, route: TemplateRoute, agents: Iterable[LiveAgent]) -> None:
        """Routing honours a share at once: every one of the agents providing the template."""
        for agent in agents:
            agent.apply_sharing(route)
        self._on_change(route.node_id)

    def template(self, template_id: str) -> TemplateRoute | None:
        """A template some connected agent provides."""
        return next(
            (r for entries in self._providers.values() for r, _ in entries if r.id == template_id),
            None,
        )

    def providers(
        self,
        node_id: str,
        user_id: str,
        templates: Collection[str] | None = None,
        among: Collection[str] | None = None,
    ) -> set[str]:
        """Ids of the connected agents a call of the user would be routed to (see
        :meth:`choose`)."""
        return {
            agent.id
            for route, agent in self._providers.get(node_id, ())
            if _chosen(route, user_id, templates) and (not among or agent.id in among)
        }

    def offered_count(self, node_id: str, user_id: str) -> int:
        """How many connected agents offer the node to the user through any template the user
        may use (their own or shared with them): what a listing shows."""
        return len(
            {
                agent.id
                for route, agent in self._providers.get(node_id, ())
                if route.usable_by(user_id)
            }
        )

    def choose(
        self,
        node_id: str,
        user_id: str,
        templates: Collection[str] | None = None,
        among: Collection[str] | None = None,
    ) -> Provider | None:
        """The provider to take a call of the user: through one of ``templates`` that the user
        may use (or, when None, one of the user's own templates), on one of the agents ``among``
        (if given and not empty); one with a free slot before a busy one, the least loaded
        first, round robin between equals."""
        best: Provider | None = None
        best_load = (True, -1)
        candidates = self._providers.get(node_id, ())
        offset = next(self._round_robin)
        count = len(candidates)
        for i in range(count):
            route, agent = candidates[(offset + i) % count]
            if not _chosen(route, user_id, templates):
                continue
            if among and agent.id not in among:
                continue
            load = (not agent.has_free_slot(route.id), len(agent.inflight))
            if best is None or load < best_load:
                best, best_load = (route, agent), load
                if load == (False, 0):
                    break
        return best


def _chosen(route: TemplateRoute, user_id: str, templates: Collection[str] | None) -> bool:
    """Whether a call of the user may go through this template: one it named and may use, or
    (naming none) one of its own."""
    if templates is None:
        return route.owner_id == user_id
    return route.id in templates and route.usable_by(user_id)
