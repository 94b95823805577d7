"""What every ``arkitekt`` command shares: the typer app, failing with an exit code, tables."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..app import App

app = typer.Typer(
    name="arkitekt",
    help="Run an arkitekt server and manage its users; log apps in and out; inspect, serve and "
    "call functions; list images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(
    help="Manage the users of a server (in its data folder).", no_args_is_help=True
)
app.add_typer(user_app, name="user")


def _print_version(asked: bool) -> None:
    if asked:
        from .._version import __version__

        typer.echo(f"arkitekt {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    """Options of the `arkitekt` command itself."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise what this returns to exit with ``code``."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


# -- how client commands connect (one shape for all of them) --------------------------------------

DEFAULT_APP = "arkitekt-cli"
"""The app every client command acts as unless ``--app`` says otherwise: one identity, so one
cached session (``arkitekt login``) serves them all."""

AppId = Annotated[
    str,
    typer.Option(
        "--app",
        help="The app to act as. Commands share the cached session of one app "
        f"(default {DEFAULT_APP}, the one `arkitekt login` logs in).",
    ),
]
AppVersion = Annotated[
    str, typer.Option("--app-version", help="The app version (as given to easy()).")
]
Url = Annotated[
    str | None,
    typer.Option(envvar=["ARKITEKT_URL", "FAKTS_URL"], help="The server URL.", show_default=False),
]
Username = Annotated[
    str | None,
    typer.Option(
        "--username",
        help="Log in as this user with a password (asked on a terminal, or ARKITEKT_PASSWORD); "
        "without it, a person approves the app in a browser.",
        show_default=False,
    ),
]
Headless = Annotated[
    bool,
    typer.Option(
        "--headless", help="Print the approval link instead of opening a browser.", metavar=""
    ),
]
Wait = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for the approval in the browser.", min=1),
]
APPROVAL_WAIT = 120.0


def _logins_file() -> Path:
    from ..settings import get_settings

    return get_settings().cache_dir / "cli-logins.json"


def _remembered() -> dict[str, str]:
    try:
        data = json.loads(_logins_file().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember_login(identifier: str, url: str, username: str | None) -> None:
    """``arkitekt login`` succeeded: the other commands log in the same way (a password
    login's session is cached per user, so they need to know which)."""
    from fakts import ensure_private_dir

    logins = _remembered()
    key = f"{identifier} {url}"
    if username:
        logins[key] = username
    else:
        logins.pop(key, None)
    path = _logins_file()
    ensure_private_dir(str(path.parent))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(logins, f)


def remembered_username(identifier: str, url: str | None) -> str | None:
    """The user ``arkitekt login --username`` last logged this app in as at ``url``."""
    return _remembered().get(f"{identifier} {url}") if url else None


def client_app(
    identifier: str,
    url: str | None,
    *,
    version: str = "0.0.1",
    username: str | None = None,
    password: str | None = None,
    headless: bool = False,
    wait: float = APPROVAL_WAIT,
    **kwargs: Any,
) -> App:
    """The app a client command acts as (not entered). Bad ``--app``/``--url`` exit with 2."""
    from ..builders import easy
    from ..errors import ConfigurationError
    from ..services.logins import DeviceCodeLogin

    password = password if password is not None else os.environ.get("ARKITEKT_PASSWORD")
    username = username or remembered_username(identifier, url)
    try:
        app = easy(
            identifier,
            version,
            url,
            username=username,
            password=password if username else None,
            headless=headless,
            **kwargs,
        )
    except ConfigurationError as e:
        raise fail(str(e), 2) from e
    if isinstance(app.fakts.login, DeviceCodeLogin):  # a person approves: not for ever
        app.fakts.login = DeviceCodeLogin(headless=headless, wait=wait)
    return app


@contextlib.contextmanager
def connected(identifier: str, url: str | None, **options: Any) -> Iterator[App]:
    """The client app, entered; an arkitekt error ends the command with its message (exit 1)."""
    from ..errors import ArkitektError

    try:
        with client_app(identifier, url, **options) as entered:
            yield entered
    except ArkitektError as e:
        raise fail(str(e)) from e
