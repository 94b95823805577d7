"""The ``arkitekt`` command.

Server side (need the ``server`` extra; honour ``--data-dir`` and ``ARKITEKT_DATA_DIR``):
``arkitekt server``, ``arkitekt user add/list/remove/passwd/key/mandate``.
Client side: ``arkitekt login/logout/status`` for one app identifier, ``arkitekt version``, and
``arkitekt inspect/run/call/nodes/images`` (see :mod:`arkitekt.cli.functions`).

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

# Importing a command module registers its commands on `app` (server first: the help lists
# them in this order).
from . import server_commands, sessions  # noqa: F401
from .common import app
from .functions import add_commands

__all__ = ["app", "main"]

add_commands(app)


def main() -> None:
    """Entry point of the ``arkitekt`` command."""
    app()
