"""The fakts service: configuration discovery and the session, through the ``fakts`` client.

It owns one :class:`fakts.Fakts` per entry of the App, built from the server URL, the app's
manifest, a login method (:mod:`arkitekt.services.logins`) and a private cache file, and translates
fakts' errors into arkitekt's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakts import Alias, Fakts, FileCache, Manifest, NoCache, ensure_private_dir
from fakts.errors import FaktsError, NeedsReauthenticationError
from fakts.grants.remote.discovery.well_known import WellKnownDiscovery
from fakts.grants.remote.errors import (
    DeviceCodeExpiredError,
    DeviceCodeTimeoutError,
    DiscoveryError,
    RemoteGrantError,
    UserDeniedError,
)
from fakts.oauth2 import InsecureTransportError

from arkitekt.errors import (
    AppStateError,
    ArkitektError,
    ConfigurationError,
    IncompatibleServerError,
    LoginError,
    ServerUnavailableError,
)

from .logins import ArkitektGrant, Login

if TYPE_CHECKING:
    from arkitekt.app import App

logger = logging.getLogger("arkitekt.fakts")


@contextlib.contextmanager
def translated_errors(url: str | None, login: Login | None = None) -> Iterator[None]:
    """Re-raise fakts' errors as arkitekt errors that say what happened and what to do."""
    try:
        yield
    except ArkitektError:
        raise
    except UserDeniedError as e:
        raise LoginError("the app was denied access in the browser") from e
    except (DeviceCodeExpiredError, DeviceCodeTimeoutError) as e:
        raise LoginError(
            f"nobody approved the login in time ({e}): open the link shown above in a browser "
            "(with headless, on any machine that reaches the server) and approve it, then run "
            "it again; or log in without a browser (username and password, or a mandate key)"
        ) from e
    except (DiscoveryError, RemoteGrantError) as e:
        # fakts wraps whatever discovery raised in a RemoteGrantError; look at the original.
        discovery_failed = isinstance(e, DiscoveryError) or str(e).startswith("Could not discover")
        if not discovery_failed:
            raise LoginError(f"logging in at {url} failed: {e}") from e
        text = str(e.__cause__ or e)
        if "protocol version" in text or "advertises no" in text:
            raise IncompatibleServerError(
                f"{url} is not a compatible arkitekt server: {text}"
            ) from e
        answered = re.search(r"answered with status code (\d+)", text)
        if answered:  # something answers there, but not the fakts discovery document
            raise IncompatibleServerError(
                f"{url} answers, but it is not an arkitekt server (its /.well-known/fakts gave "
                f"HTTP {answered.group(1)}). Give the server's base URL, e.g. "
                "http://host:8000, as url= or ARKITEKT_URL"
            ) from e
        raise ServerUnavailableError(
            f"could not reach an arkitekt server at {url}. Is it running, and is the URL right? "
            f"({text})"
        ) from e
    except NeedsReauthenticationError as e:
        reason = str(e).strip().split(". ")[0].rstrip(".")
        if login is None or login.interactive:
            raise LoginError(
                f"the session ended and must be renewed ({reason}): log in again with "
                "app.login() (or arkitekt login)"
            ) from e
        reason = reason[:1].lower() + reason[1:]
        raise LoginError(f"{reason}; {login.when_refused}") from e
    except InsecureTransportError as e:
        raise ConfigurationError(str(e)) from e
    except FaktsError as e:
        raise LoginError(f"talking to {url} failed: {e}") from e
    except OSError as e:  # connection refused, DNS, ...
        raise ServerUnavailableError(f"could not reach {url}: {e}") from e


def cache_path(cache_dir: Path, identifier: str, url: str, identity: str) -> Path:
    """One private file per app, server and login identity."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", identifier)[:64]
    digest = hashlib.sha256(f"{url}|{identity}".encode()).hexdigest()[:16]
    return cache_dir / f"{safe}-{digest}.json"


class FaktsService:
    """Discovers the server and holds the app's session. Reachable as ``app.fakts``."""

    name = "fakts"

    def __init__(
        self,
        manifest: Manifest,
        login: Login | None,
        url: str | None,
        *,
        cache_dir: Path,
        no_cache: bool = False,
    ) -> None:
        self.manifest = manifest
        self.login = login
        self.url = url
        self.cache_dir = cache_dir
        self.no_cache = no_cache
        self._client: Fakts | None = None

    # -- configuration ---------------------------------------------------------------------------

    def use_server(self, url: str, login: Login, *, no_cache: bool = True) -> None:
        """Point at a server started by another service (the integrated mode)."""
        self.url, self.login, self.no_cache = url, login, no_cache

    def _build(self) -> Fakts:
        if self.url is None or self.login is None:
            raise ConfigurationError("no server URL is configured: pass url= or use local()")
        cache: FileCache | NoCache
        if self.no_cache:
            cache = NoCache()
        else:
            ensure_private_dir(str(self.cache_dir))
            path = cache_path(
                self.cache_dir, str(self.manifest.identifier), self.url, self.login.identity
            )
            bound = hashlib.sha256(
                f"v2:{self.url}:{self.login.identity}:{self.manifest.hash()}".encode()
            ).hexdigest()
            cache = FileCache(cache_file=str(path), hash=bound)
        return Fakts(
            grant=ArkitektGrant(
                discovery=WellKnownDiscovery(url=self.url, auto_protocols=["https", "http"]),
                authorizer=self.login.authorizer(self.manifest),
            ),
            cache=cache,
            manifest=self.manifest,
            mesh=None,
        )

    @property
    def started(self) -> bool:
        """Whether the fakts client exists (the app is entered)."""
        return self._client is not None

    @property
    def client(self) -> Fakts:
        """The live :class:`fakts.Fakts` (only while the app is entered)."""
        if self._client is None:
            raise AppStateError("the fakts service is not started: enter the app first")
        return self._client

    @property
    def cache_file(self) -> Path | None:
        cache = self._client.cache if self._client else None
        return Path(cache.cache_file) if isinstance(cache, FileCache) else None

    # -- lifecycle -------------------------------------------------------------------------------

    async def astart(self, app: App) -> None:
        await self._open()

    async def _open(self) -> None:
        client = self._build()
        await client.__aenter__()
        self._client = client

    async def astop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)

    async def areconfigure(self, login: Login) -> None:
        """Switch to another login method (a new client and cache); the old session is kept."""
        self.login = login
        if self._client is not None:
            await self.astop()
            await self._open()

    # -- what other services use -----------------------------------------------------------------

    async def aload(self) -> Any:
        with translated_errors(self.url, self.login):
            return await self.client.aload()

    async def alogin(self) -> None:
        """Make sure there is a session, running the login only when needed."""
        with translated_errors(self.url, self.login):
            await self.client.alogin()

    async def alogout(self) -> None:
        with translated_errors(self.url, self.login):
            await self.client.alogout()

    async def aget_token(self) -> str:
        with translated_errors(self.url, self.login):
            return await self.client.aget_token()

    async def arefresh_token(self, stale_token: str | None = None) -> str:
        with translated_errors(self.url, self.login):
            return await self.client.arefresh_token(stale_token=stale_token)

    async def aget_alias(self, key: str) -> Alias:
        """The checked address of a service (its alias challenge passed, signature verified)."""
        with translated_errors(self.url, self.login):
            return await self.client.aget_alias(key)

    async def aget_self_alias(self) -> Alias:
        with translated_errors(self.url, self.login):
            return await self.client.aget_self_alias()
