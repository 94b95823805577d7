"""The exceptions users catch.

Every error raised by arkitekt derives from :class:`ArkitektError`; each one says what went wrong
and what to do about it.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ArkitektError(Exception):
    """Base class of every error raised by arkitekt."""


class ConfigurationError(ArkitektError):
    """The app is configured in a way that cannot work (bad argument, unusable server answer)."""


class NoActiveAppError(ArkitektError):
    """A module-level function was called outside of an entered app."""

    def __init__(self, what: str = "This function") -> None:
        super().__init__(
            f"{what} needs an active arkitekt app, but none is entered here. "
            "Wrap your code in `with easy('my-app'):` (or `async with ...`), "
            "use `jupy('my-app')` in a notebook, or pass `app=` explicitly."
        )


class UsageError(ArkitektError, TypeError):
    """An arkitekt function was called the wrong way: an argument of the wrong type, a generator
    called like a function, ... (the message names the argument and shows the right way)."""


class AppStateError(ArkitektError):
    """The app was used in a state that does not allow it (e.g. configured after entering)."""


class LoginError(ArkitektError):
    """Logging in failed: wrong credentials, a denied or expired approval, a refused key."""


class NotAuthenticatedError(LoginError):
    """An operation needs a logged-in user, and there is none (e.g. after ``logout()``)."""


class ServerUnavailableError(ArkitektError):
    """The server could not be reached, or it answered in a way that shows it is not usable."""


class IncompatibleServerError(ServerUnavailableError):
    """The URL answers, but not as a server this SDK can talk to (e.g. another protocol version)."""


class ConnectionRefusedByServer(ServerUnavailableError):
    """The server refused this app's connection for a reason retrying will not fix."""


class ServerError(ArkitektError):
    """The server answered with an error that is not the caller's fault."""


class ServerBusyError(ServerError):
    """The server refused or stopped a request to protect itself and its other users: too many
    of yours at once, a query past its time limit, or a backlog it must work off first. Retry
    later, or ask for less at a time."""


# -- remote functions ------------------------------------------------------------------------------


class DefinitionError(ArkitektError, TypeError):
    """A function cannot be registered as it is (the message names the parameter and the fix)."""


class ArgumentError(ArkitektError, ValueError):
    """An argument does not fit the function's definition.

    ``port`` names the argument, with a path into it for nested values (``config.levels[2]``);
    it is empty when no single argument is at fault (too many positional arguments).
    """

    def __init__(self, function: str, port: str, reason: str) -> None:
        self.function = function
        self.port = port
        self.reason = reason
        where = f"argument {port!r} " if port else ""
        super().__init__(f"{function}(): {where}{reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.function, self.port, self.reason))


class ReturnValueError(ArkitektError, TypeError):
    """A function returned (or yielded) something its return annotation does not allow.

    ``port`` names the return port (``return0``, ``return1``, ... with a path for nested
    values). Raised on the agent for what the function gave, and on the caller for what arrived.
    """

    def __init__(self, function: str, port: str, reason: str) -> None:
        self.function = function
        self.port = port
        self.reason = reason
        where = f"return value {port!r} " if port else ""
        super().__init__(f"{function}(): {where}{reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.function, self.port, self.reason))


class NotInAssignationError(ArkitektError):
    """``progress``/``log``/``check_cancelled`` were used outside of a function an agent runs."""


class AssignationCancelledError(asyncio.CancelledError):
    """Raised inside a running sync function at a cancellation check once its call is cancelled.

    The one class outside :class:`ArkitektError`, on purpose: like
    :class:`asyncio.CancelledError` (which it derives from, so one ``except`` handles sync and
    async functions) it is not an :class:`Exception`, so a broad ``except Exception`` in the
    function does not swallow the cancellation. Let it propagate (or clean up and re-raise).
    """


class AgentStartupError(ArkitektError):
    """A ``@startup`` hook failed: the agent serves nothing (the cause is chained)."""


class AgentStoppedError(ArkitektError):
    """The agent stopped serving because a ``@background`` task declared with
    ``on_error="stop"`` failed (the cause is chained)."""


class StateNotFoundError(ArkitektError, LookupError):
    """The agent has no such state, or it is not visible to you (not your agent, and it
    shares no function with you)."""


class NodeNotFoundError(ArkitektError, LookupError):
    """No function you may call matches what was asked for (or several do, ambiguously)."""


class NoProviderError(ArkitektError):
    """No connected agent provides the function to you right now."""


class DataNotFoundError(ArkitektError, LookupError):
    """No image or file with that id that you may see (it does not exist, or is not shared with
    you: the server does not tell these apart)."""


class ForbiddenError(ArkitektError, PermissionError):
    """You may see this object but not do that to it (e.g. delete someone else's image)."""


class InvalidDataError(ArkitektError, ValueError):
    """What was given or written cannot be stored (bad dims, dtype, a corrupt upload, ...)."""


class LocalFileNotFoundError(ArkitektError, FileNotFoundError):
    """A local file that was to be stored does not exist (or is not a file)."""


class LocalFileExistsError(ArkitektError, FileExistsError):
    """A download would replace an existing local file (pass ``overwrite=True`` to allow it)."""


class TransferError(ArkitektError):
    """Moving bytes to or from the datalayer failed (the upload was discarded)."""


class CallCancelledError(ArkitektError):
    """The result of a call you cancelled yourself (``Assignation.cancel()``) was asked for."""


class RemoteError(ArkitektError):
    """A remote function raised. Carries the remote exception's type, message and traceback.

    For the common built-in exceptions the class also derives from the built-in one, so
    ``except ValueError`` catches a remote ``ValueError``.
    """

    def __init__(
        self, remote_type: str, remote_message: str, remote_traceback: str = "", node: str = ""
    ) -> None:
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.node = node
        where = f" in {node}" if node else ""
        text = f"{remote_type}{where}: {remote_message}"
        if remote_traceback:
            text += "\n\nRemote traceback:\n" + remote_traceback.rstrip()
        super().__init__(text)

    def __str__(self) -> str:  # not KeyError's quoting
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[object, ...]:
        return (remote_error, (self.remote_type, self.remote_message, self.remote_traceback))


class AgentLostError(RemoteError):
    """The agent running a call disconnected and did not come back in time; the call is lost."""


class RemoteCancelledError(RemoteError):
    """The call was cancelled on the remote side (not by this caller)."""


class CriticalRemoteError(RemoteError):
    """The agent could not run the call at all (e.g. it no longer provides the function)."""


# Built-in exceptions safe to mix in (their constructor takes one message).
_BUILTIN_MIXINS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        LookupError,
        RuntimeError,
        ZeroDivisionError,
        ArithmeticError,
        NotImplementedError,
        AssertionError,
        AttributeError,
        TimeoutError,
    )
}
_remote_classes: dict[str, type[RemoteError]] = {}


def remote_error_class(remote_type: str) -> type[RemoteError]:
    """The :class:`RemoteError` subclass for a remote exception type name (cached)."""
    cls = _remote_classes.get(remote_type)
    if cls is None:
        module, _, name = remote_type.rpartition(".")
        builtin = _BUILTIN_MIXINS.get(name) if module in ("builtins", "") else None
        bases: tuple[type, ...] = (RemoteError, builtin) if builtin else (RemoteError,)
        safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "Error"
        cls = type(f"Remote{safe}", bases, {"__module__": __name__})
        _remote_classes[remote_type] = cls
    return cls


def remote_error(
    remote_type: str, remote_message: str, remote_traceback: str = "", node: str = ""
) -> RemoteError:
    """A :class:`RemoteError` of the right subclass for the remote exception."""
    return remote_error_class(remote_type)(remote_type, remote_message, remote_traceback, node)
