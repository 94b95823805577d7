"""Calls started and cancelled over HTTP: GraphQL's ``assign``/``cancel`` and the dashboard's
run page, one code path for both.

A call goes the way an app's ``Assign`` goes (:meth:`Broker.assign`, so routing rules hold:
the caller's own templates of the node, or the one template it names that is shared with it),
after the checks a Python caller makes before sending (:func:`ashrink_args`: types, required,
unknown) and one a caller's process cannot make itself: every stored object the arguments name
(an image, a file) is one the caller may see. Without it a caller could hand another user's
agent the id of that user's private image, and the agent (which reads with its own rights)
would process it for the caller.

The caller is not connected to the broker (no websocket): a refusal comes back at once through
the peer's ``send`` and is raised here; events are read from the call (``Broker.call``,
``Broker.listen``) or the database, never sent to it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from arkitekt.errors import ArgumentError
from arkitekt.protocol.codec import ashrink_args
from arkitekt.protocol.ids import time_ordered_id
from arkitekt.protocol.messages import Assign, Cancel, Failed, Message
from arkitekt.protocol.ports import Definition, JSONValue
from arkitekt.protocol.structures import (
    DATASET_STRUCTURE,
    FILE_STRUCTURE,
    IMAGE_STRUCTURE,
    ROI_STRUCTURE,
    TABLE_STRUCTURE,
    TypeRegistry,
)
from arkitekt.protocol.text import NUL
from arkitekt.protocol.values import structure_references

from ..storage.catalogue import Model, NotFound, StorageCatalogue
from ..storage.datasets import DatasetCatalogue
from ..storage.models import File, Image, Table
from ..storage.rois import RoiCatalogue
from .sessions import Peer

if TYPE_CHECKING:
    from .state import RpcState

STORED: dict[str, tuple[Model, str]] = {
    IMAGE_STRUCTURE: (Image, "image"),
    FILE_STRUCTURE: (File, "file"),
    TABLE_STRUCTURE: (Table, "table"),
}
"""Structure identifier -> the stored kind whose visibility a reference is checked against."""
GROUPED: dict[str, str] = {ROI_STRUCTURE: "roi", DATASET_STRUCTURE: "dataset"}
"""Structure identifier -> a kind with no bytes of its own but access to some: a ROI opens its
image, a dataset its members. Checked like images (a ROI is visible with its image)."""
MAX_ID_LENGTH = 32
"""Stored objects' ids are at most this long (``String(32)`` columns)."""
MAX_REFERENCES = 1000
"""Stored objects one call may name (each is one lookup before the call starts)."""


@dataclass(frozen=True)
class HttpCaller:
    """Who calls over HTTP: a user, through an app (GraphQL) or the web pages."""

    user_id: str
    username: str
    client_pk: str
    """The OAuth client's primary key (GraphQL), or a name no client has (the web pages)."""
    app_identifier: str
    """Recorded with the call as the caller's app."""
    instance_id: str

    def peer(self, refusals: list[Failed]) -> Peer:
        """A one-off broker peer of this caller: refusals are collected, nothing else is sent
        (the caller reads the call's events itself)."""

        def send(message: Message) -> None:
            if isinstance(message, Failed):
                refusals.append(message)

        return Peer(
            user_id=self.user_id,
            username=self.username,
            client_pk=self.client_pk,
            app_identifier=self.app_identifier,
            instance_id=self.instance_id,
            session=uuid.uuid4().hex,
            send=send,
            close=lambda code, reason: None,
        )


class NoSuchFunction(LookupError):
    """No such node, or not one the caller may use (the same answer, on purpose)."""


class CallRefused(Exception):
    """The broker refused the call (``no_provider``, ``busy``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StartedCall:
    id: str
    node_id: str
    definition: Definition
    args: dict[str, JSONValue]
    """The arguments as they travel (defaults filled in)."""
    status: str
    """``assigned`` (an agent has it) or ``queued``."""
    created_at: dt.datetime


async def definition_for(rpc: RpcState, user_id: str, node_id: str) -> Definition:
    """The definition of a node the user may call (:class:`NoSuchFunction` otherwise)."""
    found = await rpc.catalogue.find(user_id, node=node_id, limit=1)
    if not found:
        raise NoSuchFunction("no such function")
    return Definition.model_validate(found[0].definition)


async def check_references(
    storage: StorageCatalogue,
    user_id: str,
    definition: Definition,
    payload: Mapping[str, JSONValue],
) -> None:
    """Every image, file, ROI or dataset the wire arguments name is one the user may see; raises
    :class:`ArgumentError` naming the argument (and saying no more than "no such image")."""
    count = 0
    for port in definition.args:
        for path, identifier, reference in structure_references(
            payload.get(port.key), port, port.key
        ):
            stored = STORED.get(identifier)
            grouped = GROUPED.get(identifier)
            if stored is None and grouped is None:
                continue  # a structure of the apps' own: not the server's to check
            count += 1
            if count > MAX_REFERENCES:
                raise ArgumentError(
                    definition.name, path, f"names more than {MAX_REFERENCES} stored objects"
                )
            name = stored[1] if stored is not None else str(grouped)
            try:
                if len(reference) > MAX_ID_LENGTH or NUL in reference:
                    raise NotFound(reference)  # never an id: not worth a query
                await _visible(storage, stored, grouped, reference, user_id)
            except NotFound:
                raise ArgumentError(
                    definition.name,
                    path,
                    f"names no {name} you may use (no such {name}, or it is not shared with you)",
                ) from None


async def _visible(
    storage: StorageCatalogue,
    stored: tuple[Model, str] | None,
    grouped: str | None,
    reference: str,
    user_id: str,
) -> None:
    """Raise :class:`NotFound` unless the user may see what ``reference`` names."""
    if grouped == "roi":
        await RoiCatalogue(storage).get(user_id, reference)
    elif grouped == "dataset":
        await DatasetCatalogue(storage).visible(user_id, reference)
    elif stored is not None and stored[0] is Image:
        await storage.visible(Image, reference, user_id)
    elif stored is not None and stored[0] is Table:
        await storage.visible(Table, reference, user_id)
    else:
        await storage.visible(File, reference, user_id)


async def start_call(
    rpc: RpcState,
    storage: StorageCatalogue,
    caller: HttpCaller,
    *,
    node_id: str,
    args: Mapping[str, Any],
    template: str | None = None,
) -> StartedCall:
    """Start a call of ``node_id`` with ``args`` (keyword arguments, as a Python caller passes
    them) as ``caller``: to the caller's own templates of the node, or to ``template``.

    Raises :class:`NoSuchFunction`, :class:`ArgumentError` (the port that failed and why) or
    :class:`CallRefused`.
    """
    definition = await definition_for(rpc, caller.user_id, node_id)
    # the same checks a Python caller makes before sending (types, required, unknown)
    payload = await ashrink_args(definition, (), dict(args), types=TypeRegistry())
    await check_references(storage, caller.user_id, definition, payload)
    refusals: list[Failed] = []
    call_id = time_ordered_id()
    try:
        message = Assign(
            id=call_id,
            node=node_id,
            templates=None if template is None else [template],
            args=payload,
        )
    except ValidationError:
        raise CallRefused("bad_request", "template must be a template id") from None
    rpc.broker.assign(caller.peer(refusals), message)
    if refusals:
        raise CallRefused(refusals[0].code, refusals[0].message)
    call = rpc.broker.call(call_id)
    assert call is not None  # assigned without refusal: the broker holds it
    return StartedCall(
        id=call_id,
        node_id=call.node_id,
        definition=definition,
        args=payload,
        status="assigned" if call.agent is not None else "queued",
        created_at=dt.datetime.now(dt.UTC),
    )


def cancel_call(rpc: RpcState, caller: HttpCaller, call_id: str) -> bool:
    """Cancel one of the caller's unfinished calls held here; False when there is none (not
    theirs, unknown, finished, or held by another replica)."""
    call = rpc.broker.call(call_id)
    if call is None or call.user_id != caller.user_id or call.final:
        return False
    refusals: list[Failed] = []
    rpc.broker.cancel(caller.peer(refusals), Cancel(assignation=call_id))
    return not refusals
