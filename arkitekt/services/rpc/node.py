"""A function found on the server, ready to be called: what ``find()`` returns."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from koil import unkoil

from ..._twins import sync_generator_twin, sync_twin
from ...protocol.messages import NodeInfo
from ...protocol.ports import Definition, NodeKind

if TYPE_CHECKING:
    from ...app import App
    from .running import Assignation


class Node:
    """A remote function. Call it (``node(x)``, ``call(node, x)``, ``await node.acall(x)``),
    iterate it if it is a generator, or enter it (``with node:``) to hold a reservation: calls
    inside are routed among the agents providing it, and wait while none is connected.
    """

    def __init__(self, info: NodeInfo, app: App) -> None:
        self.info = info
        self._app = app
        self._reservation: str | None = None
        self._depth = 0

    @property
    def app(self) -> App:
        """The app it was found through (and is called through unless ``app=`` says else)."""
        return self._app

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def hash(self) -> str:
        return self.info.hash

    @property
    def definition(self) -> Definition:
        return self.info.definition

    @property
    def name(self) -> str:
        return self.info.definition.name

    @property
    def description(self) -> str | None:
        return self.info.definition.description

    @property
    def interfaces(self) -> list[str]:
        return self.info.interfaces

    @property
    def owners(self) -> list[str]:
        """The users whose apps serve it to you through the templates found."""
        return sorted({t.owner for t in self.info.templates})

    @property
    def template_ids(self) -> list[str] | None:
        """The templates found (calls go through these only); None when the search did not
        say (then the server takes your own apps' templates)."""
        return [t.id for t in self.info.templates] or None

    @property
    def is_generator(self) -> bool:
        return self.definition.kind is NodeKind.GENERATOR

    @property
    def reservation(self) -> str | None:
        """The reservation's id while the node is entered."""
        return self._reservation

    # -- calling ---------------------------------------------------------------------------------

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Call it and return its result (see :func:`arkitekt.acall`)."""
        return await self._app.rpc.acall(self, *args, **kwargs)

    call = sync_twin(acall)
    __call__ = call

    async def astart(self, *args: Any, **kwargs: Any) -> Assignation:
        """Start a call and return at once: an :class:`Assignation` to follow and await (in a
        notebook, ``node.start(x).show()`` displays live status)."""
        return await self._app.rpc.astart_call(self, *args, **kwargs)

    start = sync_twin(astart)

    aassign = acall
    """Like :meth:`acall` (the rekuest name)."""
    assign = call
    """Like :meth:`call` (the rekuest name)."""

    def aiterate(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """Stream the values it yields (a generator function)."""
        return self._app.rpc.aiterate(self, *args, **kwargs)

    iterate = sync_generator_twin(aiterate)

    # -- reservation -----------------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        if self._depth == 0:
            self._reservation = await self._app.rpc.areserve(self)
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0 and self._reservation is not None:
            await self._app.rpc.aunreserve(self._reservation)
            self._reservation = None

    def __enter__(self) -> Node:
        return unkoil(self.__aenter__)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        unkoil(self.__aexit__, exc_type, exc, tb)

    listing_headers = ("name", "signature", "description", "id")

    def listing_row(self) -> tuple[str, ...]:
        from ...display import signature

        return (self.name, signature(self), self.description or "", self.id)

    def _repr_html_(self) -> str:
        from ...display import node_html

        return node_html(self)

    def __repr__(self) -> str:
        args = ", ".join(port.key for port in self.definition.args)
        kind = "generator " if self.is_generator else ""
        return f"<{kind}Node {self.name}({args}) id={self.id}>"
