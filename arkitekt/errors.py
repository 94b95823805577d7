"""The exceptions users catch.

Every error raised by arkitekt derives from :class:`ArkitektError`; each one says what went wrong
and what to do about it.
"""

from __future__ import annotations


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


class AppStateError(ArkitektError):
    """The app was used in a state that does not allow it (e.g. configured after entering)."""


class LoginError(ArkitektError):
    """Logging in failed: wrong credentials, a denied or expired approval, a refused key."""


class NotAuthenticatedError(LoginError):
    """An operation needs a logged-in user, and there is none (e.g. after ``logout()``)."""


class ServerUnavailableError(ArkitektError):
    """The server could not be reached, or it answered in a way that shows it is not usable."""


class ServerError(ArkitektError):
    """The server answered with an error that is not the caller's fault."""
