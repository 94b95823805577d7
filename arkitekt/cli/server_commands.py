"""``arkitekt server`` and ``arkitekt user ...``: run a server and manage its users.

They need the ``server`` extra and work on a data folder (``--data-dir`` /
``ARKITEKT_DATA_DIR``). The only commands that import the server package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from .._version import __version__
from .common import app, fail, user_app

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from ..server.config import ServerConfig

T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="ARKITEKT_DATA_DIR",
        help="The server's data folder (database, data). Default: the user data folder.",
        show_default=False,
    ),
]


def _server_config(data_dir: Path | None) -> ServerConfig:
    try:
        from ..server.config import ServerConfig
    except ImportError as e:
        raise fail(
            f"this command needs the server extra: pip install 'arkitekt[server]' ({e})"
        ) from e
    return ServerConfig(data_dir=data_dir) if data_dir is not None else ServerConfig()


def _prepare_data_dir(config: ServerConfig) -> None:
    """Create the data folder (unless the database is elsewhere), or fail saying why not."""
    from ..server.app import prepare_data_dir

    if config.database_url is None:
        try:
            prepare_data_dir(config)
        except OSError as e:
            raise fail(f"cannot create the data folder {config.data_dir} ({e.strerror})") from e


def _with_session(config: ServerConfig, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Open the server's database (migrating it), run ``fn`` in a session, close it."""
    from ..server.db import Database
    from ..server.users import UserError

    _prepare_data_dir(config)

    async def run() -> T:
        db = Database.of(config)
        try:
            await db.migrate()
            async with db.session() as session:
                return await fn(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except UserError as e:
        raise fail(str(e)) from e


# -- server ----------------------------------------------------------------------------------------


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Proxies trusted for X-Forwarded-* headers (behind a TLS proxy)."),
    ] = None,
) -> None:
    """Run the server (until Ctrl-C)."""
    config = _server_config(data_dir)
    _prepare_data_dir(config)
    import uvicorn

    from ..server.app import create_app
    from ..server.serving import log_config, uvicorn_options

    logs = log_config(config)
    started = (
        f"arkitekt {__version__}: data in {config.data_dir}, listening on http://{host}:{port}"
    )
    if logs is None:
        typer.echo(started)
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=5,
        log_config=logs or uvicorn.config.LOGGING_CONFIG,
        **uvicorn_options(config),
    )


# -- users -----------------------------------------------------------------------------------------


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (keeps it out of the shell history).",
        metavar="",
    ),
]


def _password(name: str, given: str | None, from_stdin: bool) -> str:
    """The password from --password, standard input, or a prompt (asked twice)."""
    if given is not None and from_stdin:
        raise fail("give the password with --password or --password-stdin, not both", 2)
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if given is not None:
        return given
    password: str = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    password: Annotated[
        str | None, typer.Option(help="The password (prompted when missing).", show_default=False)
    ] = None,
    admin: Annotated[
        bool, typer.Option(help="Make the user an administrator.", metavar="")
    ] = False,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Create a user."""
    from ..server.users import create_user

    config = _server_config(data_dir)
    secret = _password(name, password, password_stdin)
    _with_session(config, lambda s: create_user(s, name, secret, is_admin=admin))
    typer.echo(f"created user {name}")


@user_app.command("list")
def user_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.", metavar="")] = False,
) -> None:
    """List the users."""
    from ..server.users import list_users

    users = _with_session(_server_config(data_dir), list_users)
    rows = [
        {
            "username": u.username,
            "admin": u.is_admin,
            "active": u.is_active,
            "password": u.password_hash is not None,
            "created": u.created_at.isoformat(),
        }
        for u in users
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        flags = ", ".join(
            f for f, on in (("admin", row["admin"]), ("no password", not row["password"])) if on
        )
        typer.echo(f"{row['username']}" + (f"  ({flags})" if flags else ""))


@user_app.command("remove")
def user_remove(
    name: Annotated[str, typer.Argument(help="The user to remove.")],
    data_dir: DataDir = None,
) -> None:
    """Remove a user, with their apps and sessions."""
    from ..server.users import remove_user

    _with_session(_server_config(data_dir), lambda s: remove_user(s, name))
    typer.echo(f"removed user {name}")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="The user.")],
    password: Annotated[
        str | None, typer.Option(help="The new password (prompted when missing).")
    ] = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Set a user's password."""
    from ..server.users import set_password

    config = _server_config(data_dir)
    secret = _password(name, password, password_stdin)
    _with_session(config, lambda s: set_password(s, name, secret))
    typer.echo(f"password of {name} changed")


@user_app.command("key")
def user_key(
    name: Annotated[str, typer.Argument(help="The user the key logs in as.")],
    public_key: Annotated[
        Path,
        typer.Argument(help="A PEM public key or X.509 certificate.", exists=True, dir_okay=False),
    ],
    label: Annotated[str, typer.Option(help="A note on what the key is for.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Register a public key for key logins (easy(username=..., private_key=...))."""
    from ..server.credentials import add_user_key

    try:
        pem = public_key.read_text()
    except UnicodeDecodeError as e:
        raise fail(f"{public_key} is not a PEM file (PEM is text; convert DER with openssl)") from e
    kid = _with_session(_server_config(data_dir), lambda s: add_user_key(s, name, pem, name=label))
    typer.echo(f"registered key {kid} for {name}")


@user_app.command("mandate")
def user_mandate(
    name: Annotated[str, typer.Argument(help="The user the key logs in as.")],
    app_identifier: Annotated[
        str | None, typer.Option("--app", help="Only this app may use the key.")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Expire after this many days.", min=1)] = None,
    label: Annotated[str, typer.Option(help="A note on what the key is for.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a mandate key for unattended logins; it is printed once."""
    from ..server.credentials import create_mandate_key

    expires = dt.timedelta(days=days) if days else None
    key = _with_session(
        _server_config(data_dir),
        lambda s: create_mandate_key(
            s, name, name=label, app_identifier=app_identifier, expires_in=expires
        ),
    )
    typer.echo(key)
