"""The one shape of sharing, for functions and stored objects alike.

``share(target, *, users=[...], everyone=False)`` and ``unshare(...)`` with the same arguments;
both return who may use the target now, ``"*"`` first when everyone may.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from .._loops import on_app_loop
from .._twins import sync_twin
from ..errors import UsageError

Target = TypeVar("Target")


def users_argument(users: Sequence[str]) -> list[str]:
    """``users=`` as a list of usernames; a lone string is a mistake worth naming."""
    if isinstance(users, str):
        raise UsageError(f"users= takes a list of usernames, e.g. users=[{users!r}]")
    return list(users)


def shared_with(users: Iterable[str], everyone: bool) -> list[str]:
    """Who may use it: the usernames, led by ``"*"`` when everyone may."""
    return ["*", *users] if everyone else list(users)


class Sharing(Generic[Target]):
    """``share``/``unshare`` (+ async twins) for a service; it says how a change is made.

    For functions, sharing is consent to *serve* other users' calls (only the app that serves a
    function may share it); for stored objects, it lets others see and read them (owner only).
    """

    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        raise NotImplementedError

    @on_app_loop
    async def ashare(
        self, target: Target, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Let users (by username), or everyone, use ``target``; returns who may now
        (``"*"`` first when everyone may)."""
        return await self.achange_sharing(target, users_argument(users), everyone, revoke=False)

    share = sync_twin(ashare)

    @on_app_loop
    async def aunshare(
        self, target: Target, *, users: Sequence[str] = (), everyone: bool = False
    ) -> list[str]:
        """Take back what :meth:`ashare` gave; returns who may still."""
        return await self.achange_sharing(target, users_argument(users), everyone, revoke=True)

    unshare = sync_twin(aunshare)

    async def achange_sharing(
        self, target: Target, users: list[str], everyone: bool, *, revoke: bool
    ) -> list[str]:
        """Grant (or with ``revoke``, take back) and return who may use ``target`` now."""
        raise NotImplementedError
