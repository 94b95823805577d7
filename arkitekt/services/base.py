"""The Service protocol: what the App needs of each of its parts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from arkitekt.app import App


@runtime_checkable
class Service(Protocol):
    """One part of an App (fakts, auth, rpc, storage, ...).

    The App starts its services in order when it is entered and stops them in reverse order when
    it is left. ``astart`` may use the services started before it (through ``app``); ``astop``
    must release everything ``astart`` acquired and never raise for an ordinary shutdown.
    """

    name: str
    """The attribute it is reachable under: ``app.<name>``."""

    async def astart(self, app: App) -> None:
        """Connect / acquire resources. Called once per entry of the App."""
        ...

    async def astop(self) -> None:
        """Release what :meth:`astart` acquired."""
        ...
