"""Builders: the one-line ways to get an App.

- :func:`easy` connects to a server (``url=`` or ``ARKITEKT_URL``/``FAKTS_URL``) and falls back
  to the integrated server when none is configured;
- :func:`local` always starts the integrated server in this process;
- :func:`jupy` is :func:`easy` for notebooks: it enters at once and stays entered across cells.

Builders only assemble; nothing connects until the app is entered.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from . import context
from .app import App
from .errors import ConfigurationError
from .protocol.services import SERVICES
from .settings import Settings, get_settings

logger = logging.getLogger("arkitekt")

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def _default_identifier() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    stem = Path(path).stem if path else ""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", stem).strip("-.")
    return cleaned or "arkitekt-app"


def _check_identifier(identifier: str | None) -> str:
    identifier = identifier or _default_identifier()
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        raise ConfigurationError(
            f"identifier {identifier!r} is not valid: use letters, digits, '_', '.' or '-' "
            "(at most 255 characters, starting with a letter or digit), e.g. 'my-app'"
        )
    return identifier


def _check_url(url: str) -> str:
    url = url.strip()
    if "://" in url and not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"url {url!r} must start with http:// or https://")
    if not url or url in ("http://", "https://"):
        raise ConfigurationError("url must not be empty")
    return url


def _device_id(cache_dir: Path) -> str:
    """A random id for this machine, kept in the cache dir (one registration per device)."""
    from fakts import ensure_private_dir

    path = cache_dir / "device_id"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except OSError:
        pass
    value = uuid.uuid4().hex
    try:
        ensure_private_dir(str(cache_dir))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
    except OSError as e:  # a read-only home still works, just without a stable id
        logger.debug("could not store the device id: %s", e)
    return value


def build_manifest(identifier: str, version: str, settings: Settings, **extra: Any) -> Any:
    """The fakts manifest of an app: who it is and the services it needs."""
    from fakts import Manifest, Requirement

    if not isinstance(version, str) or not version:
        raise ConfigurationError(f"version must be a non-empty string, got {version!r}")
    return Manifest(
        identifier=identifier,
        version=version,
        scopes=["openid", "profile"],
        device_id=_device_id(settings.cache_dir),
        requirements=[
            Requirement(
                key=service.key,
                service=service.identifier,
                optional=True,
                description=service.description,
            )
            for service in SERVICES
        ],
        **extra,
    )


def _choose_login(
    settings: Settings,
    *,
    token: str | None,
    mandate_key: str | None,
    username: str | None,
    password: str | None,
    private_key: Any,
    headless: bool,
) -> Any:
    from .services import logins

    explicit = [
        name
        for name, value in (
            ("token", token),
            ("mandate_key", mandate_key),
            ("private_key", private_key),
        )
        if value is not None
    ]
    if len(explicit) > 1:
        raise ConfigurationError(
            f"pass only one of {', '.join(explicit)} (each is a way to log in)"
        )
    if private_key is not None:
        if not username:
            raise ConfigurationError(
                "private_key= needs username= (the user the key is registered for)"
            )
        return logins.KeyLogin(username, private_key)
    if token is not None:
        return logins.TokenLogin(token)
    if mandate_key is not None:
        return logins.MandateKeyLogin(mandate_key)
    if username is not None:
        return logins.PasswordLogin(username, password)
    if password is not None:
        raise ConfigurationError("password= needs username= too")
    if settings.token is not None:
        return logins.TokenLogin(settings.token.get_secret_value())
    if settings.mandate_key is not None:
        return logins.MandateKeyLogin(settings.mandate_key.get_secret_value())
    env_key = os.environ.get("FAKTS_MANDATE_KEY")
    if env_key:
        return logins.MandateKeyLogin(env_key)
    return logins.DeviceCodeLogin(headless=headless)


def easy(
    identifier: str | None = None,
    version: str = "0.0.1",
    url: str | None = None,
    *,
    token: str | None = None,
    mandate_key: str | None = None,
    username: str | None = None,
    password: str | None = None,
    private_key: Any = None,
    headless: bool | None = None,
    no_cache: bool = False,
    proxy: str | None = None,
    data_dir: str | Path | None = None,
    login_on_enter: bool = True,
    instance_id: str = "default",
) -> App:
    """An app connected to a server, or to the integrated server when no URL is configured.

    Args:
        identifier: The app's name (default: the script's file name).
        version: The app's version; a new version asks for approval again.
        url: The server. Falls back to ``ARKITEKT_URL``, then ``FAKTS_URL``, then to the
            integrated server (see :func:`local`).
        token: Log in with this access token (or ``ARKITEKT_TOKEN``).
        mandate_key: Log in with this mandate key (or ``ARKITEKT_MANDATE_KEY``).
        username: Log in as this user with ``password`` (prompted on a terminal when missing),
            or with ``private_key``.
        private_key: A PEM private key (path or text) registered for ``username``.
        headless: Never open a browser for the device-code login; print the link instead.
        no_cache: Do not keep the session on disk (every run logs in again).
        proxy: An HTTP(S) proxy (default: ``ARKITEKT_PROXY`` or the standard variables).
        data_dir: The integrated server's data folder (only used without a URL).
        login_on_enter: Log in when the app is entered (otherwise call ``app.login()``).
        instance_id: Tells apart several agents of one app run by one user on one machine.
    """
    settings = get_settings()
    identifier = _check_identifier(identifier)
    resolved = url or settings.resolved_url()
    if resolved is None:
        logger.info(
            "no server URL configured (url=, ARKITEKT_URL, FAKTS_URL): using the integrated server"
        )
        return local(identifier, version, data_dir=data_dir, proxy=proxy, instance_id=instance_id)
    resolved = _check_url(resolved)
    from .services.auth import AuthService
    from .services.fakts import FaktsService
    from .services.rpc.service import RpcService
    from .services.storage.service import StorageService

    manifest = build_manifest(identifier, version, settings)
    login = _choose_login(
        settings,
        token=token,
        mandate_key=mandate_key,
        username=username,
        password=password,
        private_key=private_key,
        headless=settings.headless if headless is None else headless,
    )
    return App(
        manifest,
        [
            FaktsService(
                manifest, login, resolved, cache_dir=settings.cache_dir, no_cache=no_cache
            ),
            AuthService(
                login_on_enter=login_on_enter,
                timeout=settings.timeout,
                proxy=proxy or settings.proxy,
            ),
            RpcService(instance_id=instance_id, timeout=settings.timeout),
            StorageService(),
        ],
    )


def local(
    identifier: str | None = None,
    version: str = "0.0.1",
    *,
    data_dir: str | Path | None = None,
    username: str | None = None,
    port: int = 0,
    proxy: str | None = None,
    instance_id: str = "default",
) -> App:
    """An app with the server started inside this process (the integrated mode).

    Nothing to configure: the server listens on a free loopback port, keeps its data in
    ``data_dir`` (default: ``ARKITEKT_DATA_DIR`` or the user data folder), and logs the app in
    as the local user. Leaving the app stops the server.
    """
    settings = get_settings()
    identifier = _check_identifier(identifier)
    from .services.auth import AuthService
    from .services.fakts import FaktsService
    from .services.rpc.service import RpcService
    from .services.server import IntegratedServer, load_server
    from .services.storage.service import StorageService

    load_server()  # import the server now, so entering the app only starts it
    manifest = build_manifest(identifier, version, settings)
    folder = Path(data_dir).expanduser() if data_dir is not None else settings.data_dir
    return App(
        manifest,
        [
            IntegratedServer(folder, username=username, port=port),
            FaktsService(manifest, None, None, cache_dir=settings.cache_dir, no_cache=True),
            AuthService(timeout=settings.timeout, proxy=proxy or settings.proxy),
            RpcService(instance_id=instance_id, timeout=settings.timeout),
            StorageService(),
        ],
    )


def jupy(
    identifier: str | None = None, version: str = "0.0.1", url: str | None = None, **kwargs: Any
) -> App:
    """:func:`easy` for notebooks: the app is entered at once and stays entered across cells.

    Running the cell again closes the previous app first; the app closes when the kernel shuts
    down, or earlier with ``app.close()``. Module-level functions find it from any cell.
    """
    previous = context.set_notebook_app(None)
    if previous is not None:
        atexit.unregister(previous.close)
        previous.close()
    app = easy(identifier or "notebook", version, url, **kwargs)
    app.__enter__()
    context.set_notebook_app(app)
    atexit.register(app.close)
    return app
