"""A server per datalayer for storage tests: the local folder (over HTTP) or S3 (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, add_user

from arkitekt import App, easy


@dataclass
class StorageServer:
    server: Any
    """The EmbeddedServer."""
    datalayer: str
    config: Any

    def app(self, username: str = "alice", identifier: str = "storage-test") -> App:
        """A remote-mode app (over HTTP, as from another machine) logged in as ``username``."""
        return easy(
            identifier, url=self.server.url, username=username, password=PASSWORD, no_cache=True
        )

    def stored_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the datalayer under ``prefix`` (read behind the server's back)."""
        if self.datalayer == "local":
            root = Path(self.config.data_dir) / "datalayer"
            return sorted(
                str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file()
            )
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            self.config.s3_bucket,
            endpoint=self.config.s3_endpoint_url,
            region=self.config.s3_region,
            access_key_id=self.config.s3_access_key_id,
            secret_access_key=self.config.s3_secret_access_key.get_secret_value(),
            client_options={"allow_http": True},
        )
        return sorted(
            meta["path"] for batch in obstore.list(store, prefix=prefix or None) for meta in batch
        )


def start_storage_server(
    request: pytest.FixtureRequest, tmp_path: Path, datalayer: str, **overrides: Any
) -> Iterator[StorageServer]:
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer

    settings: dict[str, Any] = {"data_dir": tmp_path / "server", **overrides}
    if datalayer == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        settings.update(
            datalayer="s3",
            s3_endpoint_url=endpoint,
            s3_bucket=f"arkitekt-{uuid.uuid4().hex[:12]}",
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
        )
    config = ServerConfig(**settings)
    server = EmbeddedServer(config)
    server.start()
    try:
        add_user(server, "alice")
        add_user(server, "bob")
        yield StorageServer(server=server, datalayer=datalayer, config=config)
    finally:
        server.stop()
