"""What images and files have in common: an id, an owner, sharing, deletion, passing by id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from ..._twins import sync_twin

if TYPE_CHECKING:
    from ...app import App
    from .kinds import Kind, Operations


class Stored:
    """Base of :class:`~.image.Image` and :class:`~.file.File`: one stored object."""

    kind: ClassVar[Kind]
    """Which kind of stored object it is (see :mod:`.kinds`)."""
    operations: ClassVar[Operations]
    """Its GraphQL operations (get, delete, share)."""

    def __init__(self, info: Any, app: App) -> None:
        self._info = info
        self._app = app

    @property
    def id(self) -> str:
        return str(self._info.id)

    @property
    def name(self) -> str:
        return str(self._info.name)

    @property
    def created_at(self) -> dt.datetime:
        created: dt.datetime = self._info.created_at
        return created

    @property
    def mine(self) -> bool:
        """Whether you own it (else it is shared with you)."""
        return bool(self._info.mine)

    @property
    def app(self) -> App:
        """The app it was read through (and is read, shared and deleted through)."""
        return self._app

    async def adelete(self) -> None:
        """Delete it and its data (owner only)."""
        await self._app.storage.adelete(self)

    delete = sync_twin(adelete)

    async def ashare(self, *, users: Sequence[str] = (), everyone: bool = False) -> list[str]:
        """Let users (by username), or everyone, see and read it; returns who may now
        (``"*"`` first when everyone may)."""
        return await self._app.storage.ashare(self, users=users, everyone=everyone)

    share = sync_twin(ashare)

    async def aunshare(self, *, users: Sequence[str] = (), everyone: bool = False) -> list[str]:
        """Take back what :meth:`ashare` gave; returns who may still."""
        return await self._app.storage.aunshare(self, users=users, everyone=everyone)

    unshare = sync_twin(aunshare)

    async def shrink(self) -> str:
        """What travels in a remote call: the id."""
        return self.id

    @classmethod
    async def expand(cls, value: str) -> Self:
        """The object of an id received in a remote call (metadata now, data on demand)."""
        from ...context import get_current_app

        return cast(Self, await get_current_app().storage.aget(cls, value))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Stored) and other.id == self.id

    def __hash__(self) -> int:
        return hash((self.kind.name, self.id))
