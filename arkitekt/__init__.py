"""arkitekt: turn Python functions into remotely callable building blocks.

>>> from arkitekt import easy
>>> with easy("my-app") as app:          # doctest: +SKIP
...     print(app.http_get("/health").json())

Names are imported on first use, so ``import arkitekt`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import App, get_current_app
    from .builders import easy, jupy, local
    from .errors import (
        AppStateError,
        ArkitektError,
        ConfigurationError,
        LoginError,
        NoActiveAppError,
        NotAuthenticatedError,
        ServerError,
        ServerUnavailableError,
    )
    from .settings import Settings, get_settings

_EXPORTS = {
    "App": "app",
    "get_current_app": "app",
    "easy": "builders",
    "jupy": "builders",
    "local": "builders",
    "AppStateError": "errors",
    "ArkitektError": "errors",
    "ConfigurationError": "errors",
    "LoginError": "errors",
    "NoActiveAppError": "errors",
    "NotAuthenticatedError": "errors",
    "ServerError": "errors",
    "ServerUnavailableError": "errors",
    "Settings": "settings",
    "get_settings": "settings",
}

__all__ = [
    "App",
    "AppStateError",
    "ArkitektError",
    "ConfigurationError",
    "LoginError",
    "NoActiveAppError",
    "NotAuthenticatedError",
    "ServerError",
    "ServerUnavailableError",
    "Settings",
    "__version__",
    "easy",
    "get_current_app",
    "get_settings",
    "jupy",
    "local",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arkitekt' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
