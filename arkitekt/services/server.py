"""The integrated server: the arkitekt server started inside this process (``local()``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from arkitekt._threads import run_in_thread

from .logins import MandateKeyLogin

if TYPE_CHECKING:
    from arkitekt.app import App
    from arkitekt.server.embedded import EmbeddedServer

logger = logging.getLogger("arkitekt.server")


def load_server() -> type[EmbeddedServer]:
    """Import the server package; a clear error when the ``server`` extra is missing."""
    try:
        from arkitekt.server.embedded import EmbeddedServer
    except ImportError as e:  # pragma: no cover - depends on the installation
        from arkitekt.errors import ConfigurationError

        raise ConfigurationError(
            f"the integrated server needs the server extra: pip install 'arkitekt[server]' ({e})"
        ) from e
    return EmbeddedServer


class IntegratedServer:
    """Starts the server on a loopback port, logs the app in as the local user, stops it on exit.

    Needs the ``server`` extra (``pip install "arkitekt[server]"``).
    """

    name = "server"

    def __init__(self, data_dir: Path, *, username: str | None = None, port: int = 0) -> None:
        self.data_dir = data_dir
        self.username = username
        self.port = port
        self._server: EmbeddedServer | None = None
        self._key: str | None = None

    @property
    def url(self) -> str | None:
        """Where the server listens (``None`` when it is not running)."""
        return self._server.url if self._server is not None else None

    @property
    def embedded(self) -> EmbeddedServer | None:
        return self._server

    def folder_of(self, prefix: str) -> Path | None:
        """The folder of a datalayer prefix, when this server keeps its data in a local folder
        (an app in the server's own process writes and reads it directly)."""
        from arkitekt.server.storage.datalayer import LocalDatalayer

        server = self._server
        storage = server.state.storage if server is not None else None
        if storage is None or not isinstance(storage.datalayer, LocalDatalayer):
            return None
        parts = prefix.split("/")
        if not prefix or any(part in ("", ".", "..") for part in parts):
            return None
        return storage.datalayer.root.joinpath(*parts)

    async def astart(self, app: App) -> None:
        from arkitekt.server.config import ServerConfig

        server = load_server()(ServerConfig(data_dir=self.data_dir), port=self.port)
        self._server = server
        try:
            await run_in_thread(server.start, name="arkitekt-server-start")
            self._key = await run_in_thread(
                lambda: server.issue_local_key(app.identifier, self.username)
            )
        except BaseException:
            await self.astop()
            raise
        logger.info("integrated server on %s (data in %s)", server.url, self.data_dir)
        app.fakts.use_server(server.url, MandateKeyLogin(self._key))

    async def astop(self) -> None:
        server, self._server = self._server, None
        key, self._key = self._key, None
        if server is None:
            return

        def shutdown() -> None:
            if key is not None and server.running:
                try:
                    server.revoke_local_key(key)
                except Exception as e:  # the key expires by itself within a day
                    logger.debug("could not revoke the integrated login key: %s", e)
            server.stop()

        await run_in_thread(shutdown, name="arkitekt-server-stop")
