"""Every piece of ambient state in one place: the current app and the call being served.

Module-level functions (``find``, ``call``, ``from_xarray``, ``progress``, ...) find what they
act on here, never through a global of their own:

- the **current app**: a contextvar set by ``with app:`` / ``async with app:`` (and by the
  FastAPI dependency for one request), so nested apps, threads and asyncio tasks each see their
  own; entering pushes a token, leaving pops it (:func:`enter_app` / :func:`leave_app`);
- the **notebook app**: notebook cells do not share a context, so the app ``jupy()`` entered is
  the process-wide fallback when no ``with`` block made another app current;
- the **served call**: inside a function an agent runs, the call it serves (for ``progress``,
  ``log``, cancellation checks and child calls);
- the **hook's stop signal**: inside an agent's lifecycle hook, the event set when the agent
  stops (so a sync ``@background`` loop can ``check_cancelled()``).

:func:`resolve_app` is the one resolver: ``app=`` when given, else the current app, else the
notebook app, else :class:`~arkitekt.errors.NoActiveAppError` naming the function.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING

from .errors import NoActiveAppError, NotInAssignationError

if TYPE_CHECKING:
    from .app import App
    from .services.rpc.served import ServedCall

_current_app: contextvars.ContextVar[App | None] = contextvars.ContextVar(
    "arkitekt_current_app", default=None
)
_served_call: contextvars.ContextVar[ServedCall | None] = contextvars.ContextVar(
    "arkitekt_served_call", default=None
)
_hook_stopping: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "arkitekt_hook_stopping", default=None
)
_notebook_app: App | None = None

AppToken = contextvars.Token["App | None"]


# -- the current app ------------------------------------------------------------------------------


def maybe_current_app() -> App | None:
    """The app entered in this context, else the notebook's ``jupy()`` app, else None."""
    return _current_app.get() or _notebook_app


def get_current_app() -> App:
    """The app entered in this context (``with app:``), else the notebook's ``jupy()`` app.

    Raises :class:`~arkitekt.NoActiveAppError` with a hint when there is none.
    """
    return resolve_app(None, "get_current_app()")


def resolve_app(app: App | None, what: str) -> App:
    """``app`` when given, else the current app; ``what`` names the caller in the error."""
    found = app if app is not None else maybe_current_app()
    if found is None:
        raise NoActiveAppError(what)
    return found


def enter_app(app: App) -> AppToken:
    """Make ``app`` current in this context; give the token back to :func:`leave_app`."""
    return _current_app.set(app)


def leave_app(token: AppToken, app: App) -> None:
    """Undo :func:`enter_app`, restoring the app that was current before."""
    try:
        _current_app.reset(token)
    except ValueError:
        # Left in another context than it was entered in (notebook cells): just clear it.
        if _current_app.get() is app:
            _current_app.set(None)


def set_notebook_app(app: App | None) -> App | None:
    """Make ``app`` the process-wide fallback (``jupy()``); returns the previous one."""
    global _notebook_app
    previous, _notebook_app = _notebook_app, app
    return previous


def forget_notebook_app(app: App) -> None:
    """Stop using ``app`` as the fallback (it is being closed); another app stays."""
    global _notebook_app
    if _notebook_app is app:
        _notebook_app = None


# -- the served call ------------------------------------------------------------------------------


def maybe_served_call() -> ServedCall | None:
    """The call this code serves, or None outside a function an agent runs."""
    return _served_call.get()


def current_served_call() -> ServedCall:
    """The call this code serves; raises :class:`~arkitekt.NotInAssignationError` outside one."""
    call = _served_call.get()
    if call is None:
        raise NotInAssignationError(
            "this is only available inside a function that an agent is running "
            "(registered with @register and called remotely)"
        )
    return call


def enter_served_call(call: ServedCall) -> contextvars.Token[ServedCall | None]:
    """Make ``call`` the served call of this context (the agent, around the function)."""
    return _served_call.set(call)


def leave_served_call(token: contextvars.Token[ServedCall | None]) -> None:
    """Undo :func:`enter_served_call`."""
    _served_call.reset(token)


# -- lifecycle hooks ------------------------------------------------------------------------------


def hook_stopping() -> threading.Event | None:
    """Inside an agent's lifecycle hook: the event set when the agent stops (else None)."""
    return _hook_stopping.get()


def enter_hook(stopping: threading.Event) -> contextvars.Token[threading.Event | None]:
    """Run a lifecycle hook in this context (the agent, around the hook)."""
    return _hook_stopping.set(stopping)


def leave_hook(token: contextvars.Token[threading.Event | None]) -> None:
    """Undo :func:`enter_hook`."""
    _hook_stopping.reset(token)
