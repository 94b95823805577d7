"""A call over the websocket may name only stored objects its caller may see.

An agent reads the images and files a call names with its own user's rights. Without this check
bob could hand alice's shared function the id of alice's private image, and her agent would
process it for him. The HTTP paths (GraphQL ``assign``, the run page) make the same check
(:func:`.http_calls.check_references`); this is its twin for ``Assign`` messages, kept off the
hot path: a node's definition is read once and remembered (nodes never change), and only calls
of functions that take images or files await the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from arkitekt.errors import ArgumentError
from arkitekt.protocol.messages import Assign, Failed
from arkitekt.protocol.ports import Definition, Port, PortKind

from ..storage.catalogue import StorageCatalogue
from .catalogue import Catalogue
from .http_calls import GROUPED, STORED, check_references
from .models import Node, Reservation, Template

MAX_REMEMBERED = 10_000
"""Nodes (and templates, reservations) whose answer is kept; beyond, the oldest go."""


def names_stored(port: Port) -> bool:
    """Whether a value of the port can name an image, a file, a ROI or a dataset."""
    if port.kind is PortKind.STRUCTURE:
        return (port.identifier or "") in STORED or (port.identifier or "") in GROUPED
    return any(names_stored(child) for child in port.children or ())


class ReferenceCheck:
    """Refuses ``Assign``s naming images or files the caller may not see."""

    def __init__(self, catalogue: Catalogue, storage: StorageCatalogue) -> None:
        self._catalogue = catalogue
        self._storage = storage
        self._definitions: dict[str, Definition | None] = {}
        """node id -> its definition if it takes stored objects, else None."""
        self._nodes: dict[str, str | None] = {}
        """template or reservation id -> its node id."""

    async def refusal(self, user_id: str, message: Assign) -> Failed | None:
        """Why the call may not start (None: it may, as far as stored objects go)."""
        node_id = await self._node_of(user_id, message)
        if node_id is None:
            return None  # the broker refuses it (no such node) or it names nothing stored
        definition = await self._definition(node_id)
        if definition is None:
            return None
        try:
            await check_references(self._storage, user_id, definition, message.args)
        except ArgumentError as e:
            return Failed(assignation=message.id, code="no_such_data", message=str(e))
        return None

    async def _node_of(self, user_id: str, message: Assign) -> str | None:
        if message.node is not None:
            return message.node
        key = message.reservation or (message.templates[0] if message.templates else None)
        if key is None:
            return None
        if key not in self._nodes:
            async with self._catalogue.db.new_session() as s:
                if message.reservation is not None:
                    node = await s.scalar(
                        select(Reservation.node_id).where(
                            Reservation.id == key, Reservation.user_id == user_id
                        )
                    )
                else:
                    node = await s.scalar(select(Template.node_id).where(Template.id == key))
            if node is None:
                return None  # not (yet) stored: nothing to remember
            self._remember(self._nodes, key, node)
        return self._nodes[key]

    async def _definition(self, node_id: str) -> Definition | None:
        if node_id not in self._definitions:
            async with self._catalogue.db.new_session() as s:
                raw = await s.scalar(select(Node.definition).where(Node.id == node_id))
            if raw is None:
                return None
            definition = Definition.model_validate(raw)
            taking = any(names_stored(port) for port in definition.args)
            self._remember(self._definitions, node_id, definition if taking else None)
        return self._definitions[node_id]

    @staticmethod
    def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
        if len(cache) >= MAX_REMEMBERED:
            cache.pop(next(iter(cache)))
        cache[key] = value
