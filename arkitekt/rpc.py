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
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._twins import sync_generator_twin, sync_twin
from .context import (
    current_served_call,
    hook_stopping,
    maybe_current_app,
    maybe_served_call,
    resolve_app,
)
from .errors import AssignationCancelledError
from .protocol.messages import LogLevel
from .services.rpc.hooks import HookKind
from .services.rpc.registry import Registry, default_registry

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
    concurrency: int | None = 1,
    locks: list[str] | None = None,
    thread: str | None = None,
    app: App | None = None,
) -> Callable[[F], F]: ...


def register(
    function: F | None = None,
    /,
    *,
    interface: str | None = None,
    name: str | None = None,
    description: str | None = None,
    concurrency: int | None = 1,
    locks: list[str] | None = None,
    thread: str | None = None,
    app: App | None = None,
) -> F | Callable[[F], F]:
    """Make a function callable remotely once the app serves (``app.run()``).

    The signature, defaults and docstring become the function's public definition; an
    annotation that cannot be sent raises here, naming the parameter. Parameters annotated
    with a ``@state`` class are not part of it: the agent passes its state there. Used at
    module level (before any app exists) the function is served by every app of this process;
    inside ``with app:`` or with ``app=``, by that app only. The function itself is returned
    unchanged, so it can still be called locally.

    How calls run: ``concurrency`` calls of it at once (1 by default: one after the other;
    ``None``: no limit); ``locks`` names locks it holds while it runs, shared with every
    function of the agent naming them; calls waiting for either are queued in arrival order
    (their callers see ``queued``). A sync function runs on the agent's worker threads, or
    always on the one dedicated ``thread`` of that name (shared by every function and hook
    naming it).
    """

    def decorate(fn: F) -> F:
        _registry(app).register(
            fn,
            interface=interface,
            name=name,
            description=description,
            concurrency=concurrency,
            locks=locks,
            thread=thread,
            localns=_user_locals(),
        )
        return fn

    if function is not None:
        return decorate(function)
    return decorate


def _registry(app: App | None) -> Registry:
    """The app's registry (``app=`` or the current app), else the process-wide one."""
    target = app or maybe_current_app()
    service = target.services.get("rpc") if target is not None else None
    registry = getattr(service, "registry", None)
    if registry is None:  # (an app's registry may be empty: never fall back for that)
        registry = default_registry
    return registry


@overload
def startup(function: F, /) -> F: ...


@overload
def startup(*, thread: str | None = None, app: App | None = None) -> Callable[[F], F]: ...


def startup(
    function: F | None = None, /, *, thread: str | None = None, app: App | None = None
) -> F | Callable[[F], F]:
    """``@startup``: run this function once when the agent starts, before it serves anything
    (connect the instrument). Parameters take the agent's ``@state`` classes.

    If it raises, the agent serves nothing and ``run()``/``serve()`` raise
    :class:`~arkitekt.AgentStartupError`. Startup hooks run in the order they were registered;
    ``thread`` as for :func:`register`.
    """

    def decorate(fn: F) -> F:
        _registry(app).add_hook(HookKind.STARTUP, fn, thread=thread, localns=_user_locals())
        return fn

    return decorate(function) if function is not None else decorate


@overload
def shutdown(function: F, /) -> F: ...


@overload
def shutdown(*, thread: str | None = None, app: App | None = None) -> Callable[[F], F]: ...


def shutdown(
    function: F | None = None, /, *, thread: str | None = None, app: App | None = None
) -> F | Callable[[F], F]:
    """``@shutdown``: run this function when the agent stops (leaving ``with app:``, Ctrl-C),
    after its calls ended, in reverse order of registration, if every startup hook succeeded.

    An error is logged and the other shutdown hooks still run; each may take 10 s.
    """

    def decorate(fn: F) -> F:
        _registry(app).add_hook(HookKind.SHUTDOWN, fn, thread=thread, localns=_user_locals())
        return fn

    return decorate(function) if function is not None else decorate


@overload
def background(function: F, /) -> F: ...


@overload
def background(
    *,
    on_error: str = "restart",
    max_backoff: float = 30.0,
    thread: str | None = None,
    app: App | None = None,
) -> Callable[[F], F]: ...


def background(
    function: F | None = None,
    /,
    *,
    on_error: str = "restart",
    max_backoff: float = 30.0,
    thread: str | None = None,
    app: App | None = None,
) -> F | Callable[[F], F]:
    """``@background``: run this function for as long as the agent serves (poll a sensor).

    Starts after the startup hooks, is cancelled when the agent stops (a sync one should
    call :func:`check_cancelled` in its loop). If it raises, the error is logged and shown in
    the agent's ``arkitekt.agent`` state, then it is restarted after a pause that doubles up
    to ``max_backoff`` seconds (``on_error="restart"``), or the agent stops serving and
    ``run()`` raises :class:`~arkitekt.AgentStoppedError` (``on_error="stop"``).
    """

    def decorate(fn: F) -> F:
        _registry(app).add_hook(
            HookKind.BACKGROUND,
            fn,
            thread=thread,
            on_error=on_error,
            max_backoff=max_backoff,
            localns=_user_locals(),
        )
        return fn

    return decorate(function) if function is not None else decorate


def _user_locals() -> dict[str, Any] | None:
    """The locals of the code that registers (to resolve annotations naming local classes)."""
    frame = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("arkitekt."):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return dict(frame.f_locals)


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
    """Inside a served sync function: raise if the caller cancelled the call. Inside a sync
    lifecycle hook (``@background``): raise once the agent is stopping."""
    stopping = hook_stopping()
    if stopping is not None and maybe_served_call() is None:
        if stopping.is_set():
            raise AssignationCancelledError("the agent is stopping")
        return
    current_served_call().check_cancelled()


# The operations below act on an app: the current one, or ``app=``.

# -- generated by scripts/generate_functions.py from the service methods: do not edit --


async def afind(
    interface: str | None = None,
    *,
    node_id: str | None = None,
    name: str | None = None,
    hash: str | None = None,
    search: str | None = None,
    owner: str | None = None,
    shared: bool = False,
    app: App | None = None,
) -> Node:
    """The one function you may call that matches every filter given.

    Whose functions: by default your own apps'. Another user's function shared with you is
    found only when you ask for it, with ``owner="bob"`` (bob's) or ``shared=True`` (anyone
    who shares it with you); calls through the node go only to the providers found here,
    so nobody can slip in by registering the same function.

    Raises :class:`~arkitekt.NodeNotFoundError` when none matches, or when several
    different functions do (pass ``node_id=`` then).
    """
    return await resolve_app(app, "find()").rpc.afind(
        interface, node_id=node_id, name=name, hash=hash, search=search, owner=owner, shared=shared
    )


find = sync_twin(afind)


async def afind_all(
    *,
    interface: str | None = None,
    name: str | None = None,
    search: str | None = None,
    owner: str | None = None,
    shared: bool = False,
    limit: int = 50,
    app: App | None = None,
) -> list[Node]:
    """Every function you may call that matches (newest first): your own apps' functions,
    or ``owner``'s shared with you, or (``shared=True``) every one you may use.
    """
    return await resolve_app(app, "find_all()").rpc.afind_all(
        interface=interface, name=name, search=search, owner=owner, shared=shared, limit=limit
    )


find_all = sync_twin(afind_all)


async def acall(node: Node, *args: Any, app: App | None = None, **kwargs: Any) -> Any:
    """Call a remote function and return its result.

    Arguments are checked against the function's definition before anything is sent. A
    remote exception is raised as a :class:`~arkitekt.RemoteError` (with the remote
    traceback); cancelling the awaiting task (Ctrl-C for ``call``) cancels the remote call.
    """
    return await resolve_app(app or node.app, "call()").rpc.acall(node, *args, **kwargs)


call = sync_twin(acall)


def aiterate(
    node: Node, *args: Any, app: App | None = None, **kwargs: Any
) -> AsyncGenerator[Any, None]:
    """Stream the values a remote generator yields."""
    return resolve_app(app or node.app, "iterate()").rpc.aiterate(node, *args, **kwargs)


iterate = sync_generator_twin(aiterate)


async def aget_state(agent: Any, state: Any, *, app: App | None = None) -> Any:
    """The current value of an agent's state (see :func:`awatch_state`)."""
    return await resolve_app(app, "get_state()").rpc.aget_state(agent, state)


get_state = sync_twin(aget_state)


def awatch_state(agent: Any, state: Any, *, app: App | None = None) -> AsyncGenerator[Any, None]:
    """Follow an agent's state: yields its value now, then again after every change.

    ``agent`` is an agent (or its id, see ``app.rpc.agents()``) or a node (its one provider);
    ``state`` the ``@state`` class (values come as instances of it) or its name (values
    come as dicts). Allowed to the agent's owner and to users it shares a function with.
    """
    return resolve_app(app, "watch_state()").rpc.awatch_state(agent, state)


watch_state = sync_generator_twin(awatch_state)
