"""The auth service: login, logout, the current user, and HTTP with the token attached."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from arkitekt.errors import (
    AppStateError,
    ConfigurationError,
    NotAuthenticatedError,
    ServerUnavailableError,
)

from .logins import PasswordLogin

if TYPE_CHECKING:
    from arkitekt.app import App

    from .fakts import FaktsService

logger = logging.getLogger("arkitekt.auth")


class UserInfo(BaseModel):
    """Who the app acts for (from the server's userinfo endpoint)."""

    id: str
    username: str
    is_admin: bool = False
    client_id: str
    app: str

    def __str__(self) -> str:
        return self.username


class AuthService:
    """Logs the app in when it is entered and attaches the token to HTTP requests."""

    name = "auth"

    def __init__(
        self, *, login_on_enter: bool = True, timeout: float = 30.0, proxy: str | None = None
    ) -> None:
        self.login_on_enter = login_on_enter
        self.timeout = timeout
        self.proxy = proxy
        self._app: App | None = None
        self._http: httpx.AsyncClient | None = None
        self._user: UserInfo | None = None
        self._logged_out = False
        self._base_url: str | None = None

    @property
    def _fakts(self) -> FaktsService:
        if self._app is None:
            raise AppStateError("the auth service is not started: enter the app first")
        fakts: FaktsService = self._app.fakts
        return fakts

    @property
    def user(self) -> UserInfo | None:
        """The logged-in user, or ``None`` before logging in / after logging out."""
        return self._user

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise AppStateError("the auth service is not started: enter the app first")
        return self._http

    async def astart(self, app: App) -> None:
        self._app = app
        self._logged_out = False
        self._http = httpx.AsyncClient(
            timeout=self.timeout, proxy=self.proxy, follow_redirects=False, trust_env=True
        )
        try:
            if self.login_on_enter:
                await self.alogin()
        except BaseException:
            await self.astop()
            raise

    async def astop(self) -> None:
        http, self._http = self._http, None
        self._user = None
        self._base_url = None
        if http is not None:
            await http.aclose()

    # -- session ---------------------------------------------------------------------------------

    async def alogin(self, username: str | None = None, password: str | None = None) -> UserInfo:
        """Log in (prompting only when the login method needs it) and fetch the user."""
        if username is not None:
            await self._fakts.areconfigure(PasswordLogin(username, password))
        elif password is not None:
            raise ConfigurationError("password= needs username= too")
        self._logged_out = False
        await self._fakts.alogin()
        response = await self.arequest("GET", "/o/userinfo/")
        if response.status_code != 200:
            raise ServerUnavailableError(
                "the server did not say who is logged in "
                f"({response.status_code}: {response.text[:200]})"
            )
        data = response.json()
        self._user = UserInfo(
            id=data["sub"],
            username=data["preferred_username"],
            is_admin=bool(data.get("is_admin")),
            client_id=data["client_id"],
            app=data["app"],
        )
        logger.info("logged in as %s", self._user.username)
        return self._user

    async def alogout(self) -> None:
        """Revoke the session on the server and delete the cached one."""
        client = self._fakts.client
        if client.loaded_fakts is None and await client.cache.aload() is not None:
            await self._fakts.aload()  # from the cache: so that it can be revoked, not just dropped
        await self._fakts.alogout()
        self._logged_out = True
        self._user = None

    def is_authenticated(self) -> bool:
        """Whether a session is held (it may still need a silent refresh)."""
        if self._logged_out or self._app is None or not self._app.fakts.started:
            return False
        return self._app.fakts.client.loaded_fakts is not None

    async def aget_token(self) -> str:
        """A valid access token, renewed when needed."""
        if self._logged_out:
            raise NotAuthenticatedError("the app is logged out: call app.login() first")
        return await self._fakts.aget_token()

    # -- HTTP ------------------------------------------------------------------------------------

    async def abase_url(self) -> str:
        """The server's root URL, as discovered."""
        if self._base_url is None:
            alias = await self._fakts.aget_self_alias()
            self._base_url = alias.to_http_path().rstrip("/")
        return self._base_url

    async def _url_for(self, path: str) -> str:
        base = await self.abase_url()
        if "://" in path:
            target, origin = urlsplit(path), urlsplit(base)
            if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
                raise ConfigurationError(
                    f"path {path!r} is on another server than {base}: the token is only sent to "
                    "the app's own server. Pass a path like '/health'."
                )
            return path
        return base + "/" + path.lstrip("/")

    async def arequest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request with the access token; on 401 renew the token once and retry."""
        url = await self._url_for(path)
        token = await self.aget_token()
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
            if response.status_code == 401:
                token = await self._fakts.arefresh_token(stale_token=token)
                headers["Authorization"] = f"Bearer {token}"
                response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.ProxyError as e:
            raise ServerUnavailableError(
                f"{method} {url} failed at the proxy {self.proxy}: {e}"
            ) from e
        except httpx.TransportError as e:
            via = f" (through the proxy {self.proxy})" if self.proxy else ""
            raise ServerUnavailableError(f"{method} {url} failed{via}: {e}") from e
        return response
