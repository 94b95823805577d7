"""Remote functions at module level: ``register``, ``find``, ``call``, ``iterate``, ``progress``,
``log``. Each finds the active app on its own (or takes ``app=``).

>>> @register                                   # doctest: +SKIP
... def greet(name: str) -> str:
...     return f"Hello {name}!"
>>> with easy("caller"):                        # doctest: +SKIP
...     print(call(find(interface="greet"), "world"))
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from koil import unkoil, unkoil_gen

from .context import current_served_call, maybe_current_app, resolve_app
from .protocol.messages import LogLevel
from .services.rpc.registry import default_registry

if TYPE_CHECKING:
    from .app import App
    from .services.rpc.node import Node

F = TypeVar("F", bound=Callable[..., Any])


@overload
def register(function: F, /) -> F: ...


@overload
def register(
    *,
    interface: str | None = None,
    name: str | None = None,
    description: str | None = None,
    app: App | None = None,
) -> Callable[[F], F]: ...


def register(
    function: F | None = None,
    /,
    *,
    interface: str | None = None,
    name: str | None = None,
    description: str | None = None,
    app: App | None = None,
) -> F | Callable[[F], F]:
    """Make a function callable remotely once the app serves (``app.run()``).

    The signature, defaults and docstring become the function's public definition; an
    annotation that cannot be sent raises here, naming the parameter. Used at module level
    (before any app exists) the function is served by every app of this process; inside
    ``with app:`` or with ``app=``, by that app only. The function itself is returned
    unchanged, so it can still be called locally.
    """

    def decorate(fn: F) -> F:
        localns = _user_locals()
        target = app or maybe_current_app()
        service = target.services.get("rpc") if target is not None else None
        registry = getattr(service, "registry", None)
        if registry is None:  # (an app's registry may be empty: never fall back for that)
            registry = default_registry
        registry.register(
            fn, interface=interface, name=name, description=description, localns=localns
        )
        return fn

    if function is not None:
        return decorate(function)
    return decorate


def _user_locals() -> dict[str, Any] | None:
    """The locals of the code that registers (to resolve annotations naming local classes)."""
    frame = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("arkitekt."):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return dict(frame.f_locals)


async def afind(
    interface: str | None = None,
    *,
    node_id: str | None = None,
    name: str | None = None,
    hash: str | None = None,
    search: str | None = None,
    app: App | None = None,
) -> Node:
    """The one function you may call that matches every filter given.

    Raises :class:`~arkitekt.NodeNotFoundError` when none matches, or when several different
    functions do (pass ``node_id=`` then).
    """
    target = resolve_app(app, "find()")
    return await target.rpc.afind(
        interface=interface, node=node_id, name=name, hash=hash, search=search
    )


def find(
    interface: str | None = None,
    *,
    node_id: str | None = None,
    name: str | None = None,
    hash: str | None = None,
    search: str | None = None,
    app: App | None = None,
) -> Node:
    """Sync :func:`afind`."""
    return unkoil(afind, interface, node_id=node_id, name=name, hash=hash, search=search, app=app)


async def afind_all(
    *,
    interface: str | None = None,
    name: str | None = None,
    search: str | None = None,
    limit: int = 50,
    app: App | None = None,
) -> list[Node]:
    """Every function you may call that matches (newest first)."""
    target = resolve_app(app, "find_all()")
    return await target.rpc.afind_all(interface=interface, name=name, search=search, limit=limit)


def find_all(
    *,
    interface: str | None = None,
    name: str | None = None,
    search: str | None = None,
    limit: int = 50,
    app: App | None = None,
) -> list[Node]:
    """Sync :func:`afind_all`."""
    return unkoil(afind_all, interface=interface, name=name, search=search, limit=limit, app=app)


async def acall(node: Node, *args: Any, app: App | None = None, **kwargs: Any) -> Any:
    """Call a remote function and return its result.

    Arguments are checked against the function's definition before anything is sent. A remote
    exception is raised as a :class:`~arkitekt.RemoteError` (with the remote traceback);
    cancelling the awaiting task cancels the remote call.
    """
    target = app or node._app
    return await target.rpc.acall(node, *args, **kwargs)


def call(node: Node, *args: Any, app: App | None = None, **kwargs: Any) -> Any:
    """Sync :func:`acall` (Ctrl-C cancels the remote call)."""
    target = app or node._app
    return unkoil(target.rpc.acall, node, *args, **kwargs)


def aiterate(
    node: Node, *args: Any, app: App | None = None, **kwargs: Any
) -> AsyncGenerator[Any, None]:
    """Stream the values a remote generator yields."""
    target = app or node._app
    return target.rpc.aiterate(node, *args, **kwargs)


def iterate(node: Node, *args: Any, app: App | None = None, **kwargs: Any) -> Iterator[Any]:
    """Sync :func:`aiterate`."""
    target = app or node._app
    return unkoil_gen(target.rpc.aiterate, node, *args, **kwargs)


def progress(percent: int | float, message: str | None = None) -> None:
    """Inside a served function: report how far it is (0-100) to the caller.

    Also a cancellation point for sync functions: raises once the call is cancelled.
    """
    current_served_call().progress(percent, message)


async def aprogress(percent: int | float, message: str | None = None) -> None:
    """Async twin of :func:`progress`."""
    current_served_call().progress(percent, message)


def log(message: str, level: LogLevel | str = LogLevel.INFO) -> None:
    """Inside a served function: send a log line to the caller (also a cancellation point)."""
    current_served_call().log(message, level)


async def alog(message: str, level: LogLevel | str = LogLevel.INFO) -> None:
    """Async twin of :func:`log`."""
    current_served_call().log(message, level)


def check_cancelled() -> None:
    """Inside a served sync function: raise if the caller cancelled the call."""
    current_served_call().check_cancelled()
