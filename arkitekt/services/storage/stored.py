"""What images and files have in common: an id, an owner, sharing, deletion, passing by id."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from koil import unkoil

if TYPE_CHECKING:
    from ...app import App


class Stored:
    """Base of :class:`~.image.Image` and :class:`~.file.File`: one stored object."""

    kind: ClassVar[str]
    """``image`` or ``file``: what the server calls it."""

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

    async def adelete(self) -> None:
        """Delete it and its data (owner only)."""
        await self._app.storage.adelete(self.kind, self.id)

    def delete(self) -> None:
        """Sync :meth:`adelete`."""
        unkoil(self.adelete)

    async def ashare(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Let users (by username), or everyone, see and read it; returns who may now
        (``"*"`` first when everyone may)."""
        return await self._app.storage.ashare(self.kind, self.id, users, everyone, unshare=False)

    def share(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Sync :meth:`ashare`."""
        return unkoil(self.ashare, users, everyone=everyone)

    async def aunshare(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Take back what :meth:`ashare` gave."""
        return await self._app.storage.ashare(self.kind, self.id, users, everyone, unshare=True)

    def unshare(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Sync :meth:`aunshare`."""
        return unkoil(self.aunshare, users, everyone=everyone)

    async def shrink(self) -> str:
        """What travels in a remote call: the id."""
        return self.id

    @classmethod
    async def expand(cls, value: str) -> Self:
        """The object of an id received in a remote call (metadata now, data on demand)."""
        from ...context import get_current_app

        return cast(Self, await get_current_app().storage.aget(cls.kind, value))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Stored) and other.id == self.id

    def __hash__(self) -> int:
        return hash((self.kind, self.id))
