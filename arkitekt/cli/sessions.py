"""``arkitekt login / logout / status / version``: an app's session on this machine."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._version import __version__
from .common import (
    APPROVAL_WAIT,
    DEFAULT_APP,
    AppId,
    AppVersion,
    Headless,
    Url,
    Username,
    Wait,
    app,
    client_app,
    fail,
    remember_login,
    remembered_username,
)

if TYPE_CHECKING:
    from ..app import App


def _client_app(identifier: str, version: str, url: str | None, **kwargs: Any) -> App:
    if not url:
        raise fail("no server given: pass --url or set ARKITEKT_URL", 2)
    return client_app(identifier, url, version=version, **kwargs)


@app.command()
def login(
    identifier: AppId = DEFAULT_APP,
    version: AppVersion = "0.0.1",
    url: Url = None,
    username: Username = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input.", metavar=""),
    ] = False,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
) -> None:
    """Log an app in and keep the session in the cache: the other commands (and scripts using
    the same app identifier) then run without asking again."""
    from ..errors import ArkitektError

    password = None
    if password_stdin:
        if not username:
            raise fail("--password-stdin needs --username", 2)
        password = sys.stdin.readline().rstrip("\r\n")
    client = _client_app(
        identifier,
        version,
        url,
        username=username,
        password=password,
        headless=headless,
        wait=wait,
    )
    try:
        with client:
            who = client.auth.user.username if client.auth.user else "?"
        remember_login(identifier, str(url), username)
        typer.echo(f"logged in to {url} as {who} (app {identifier})")
    except ArkitektError as e:
        raise fail(str(e)) from e


SessionUser = Annotated[
    str | None,
    typer.Option(
        "--username",
        help="The user of a session logged in with --username (sessions are kept per login).",
        show_default=False,
    ),
]


def _offline_app(identifier: str, version: str, url: str | None, username: str | None) -> App:
    """The app, entered without logging in (only its cached session is looked at)."""
    return _client_app(identifier, version, url, username=username, login_on_enter=False)


def _not_logged_in(identifier: str, url: str | None, username: str | None) -> str:
    hint = f" as {username}" if username else " (logged in with --username? pass it here too)"
    return f"{identifier}: not logged in to {url}{hint}"


def _cached_session(client: Any) -> Any:
    """The session cached for this app, or None; never starts a login."""
    from koil import unkoil

    return unkoil(client.fakts.client.cache.aload)


@app.command()
def logout(
    identifier: AppId = DEFAULT_APP,
    version: AppVersion = "0.0.1",
    url: Url = None,
    username: SessionUser = None,
) -> None:
    """Revoke an app's cached session and delete it."""
    from ..errors import ArkitektError

    client = _offline_app(identifier, version, url, username)
    try:
        with client:
            if _cached_session(client) is None:
                typer.echo(_not_logged_in(identifier, url, username))
                return
            client.logout()
    except ArkitektError as e:
        raise fail(str(e)) from e
    if url and username in (None, remembered_username(identifier, url)):
        remember_login(identifier, url, None)  # later commands no longer log in as that user
    typer.echo("logged out")


@app.command()
def status(
    identifier: AppId = DEFAULT_APP,
    version: AppVersion = "0.0.1",
    url: Url = None,
    username: SessionUser = None,
) -> None:
    """Show whether an app has a cached session, for whom, and until when (no network)."""
    client = _offline_app(identifier, version, url, username)
    with client:
        cached = _cached_session(client)
    if cached is None:
        typer.echo(_not_logged_in(identifier, url, username))
        raise typer.Exit(1)
    claims = _unverified_claims(cached.auth.access_token or "")
    who = claims.get("preferred_username", "?")
    expires = cached.auth.expires_at
    refresh = bool(cached.auth.refresh_token)
    renewal = "renewed with its refresh token" if refresh else "renewed by logging in again"
    if not expires:
        token = f"access token of unknown lifetime ({renewal} when needed)"
    else:
        moment = dt.datetime.fromtimestamp(expires).isoformat(timespec="seconds")
        if expires <= dt.datetime.now().timestamp():
            token = f"access token expired at {moment} (it is {renewal} on next use)"
        else:
            token = f"access token until {moment} (then {renewal})"
    typer.echo(f"{identifier}: logged in to {url} as {who}; {token}")


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, for display only (no signature check)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return data if isinstance(data, dict) else {}
    except (IndexError, ValueError):
        return {}


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"arkitekt {__version__}")
