"""What every ``arkitekt`` command shares: the typer app, failing with an exit code, tables."""

from __future__ import annotations

import typer

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


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise what this returns to exit with ``code``."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)
