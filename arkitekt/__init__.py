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
    from .app import App
    from .builders import easy, jupy, local
    from .context import get_current_app
    from .errors import (
        AgentLostError,
        AppStateError,
        ArgumentError,
        ArkitektError,
        AssignationCancelledError,
        CallCancelledError,
        ConfigurationError,
        ConnectionRefusedByServer,
        CriticalRemoteError,
        DataNotFoundError,
        DefinitionError,
        ForbiddenError,
        IncompatibleServerError,
        InvalidDataError,
        LocalFileExistsError,
        LocalFileNotFoundError,
        LoginError,
        NoActiveAppError,
        NodeNotFoundError,
        NoProviderError,
        NotAuthenticatedError,
        NotInAssignationError,
        RemoteCancelledError,
        RemoteError,
        ReturnValueError,
        ServerBusyError,
        ServerError,
        ServerUnavailableError,
        TransferError,
        UsageError,
    )
    from .rpc import (
        acall,
        afind,
        afind_all,
        aiterate,
        alog,
        aprogress,
        call,
        check_cancelled,
        find,
        find_all,
        iterate,
        log,
        progress,
        register,
    )
    from .services.rpc.node import Node
    from .services.rpc.running import Assignation
    from .services.rpc.structures import register_type, structure
    from .services.storage.file import File
    from .services.storage.image import Image
    from .settings import Settings, get_settings
    from .storage import (
        adelete,
        afiles,
        afrom_file,
        afrom_xarray,
        aget_file,
        aget_image,
        aimages,
        delete,
        files,
        from_file,
        from_xarray,
        get_file,
        get_image,
        images,
    )

_EXPORTS = {
    "App": "app",
    "get_current_app": "context",
    "easy": "builders",
    "jupy": "builders",
    "local": "builders",
    "AppStateError": "errors",
    "ArkitektError": "errors",
    "ConfigurationError": "errors",
    "LoginError": "errors",
    "NoActiveAppError": "errors",
    "NotAuthenticatedError": "errors",
    "ServerBusyError": "errors",
    "ServerError": "errors",
    "ServerUnavailableError": "errors",
    "AgentLostError": "errors",
    "CriticalRemoteError": "errors",
    "NodeNotFoundError": "errors",
    "NoProviderError": "errors",
    "RemoteCancelledError": "errors",
    "RemoteError": "errors",
    "CallCancelledError": "errors",
    "DataNotFoundError": "errors",
    "ForbiddenError": "errors",
    "InvalidDataError": "errors",
    "TransferError": "errors",
    "ConnectionRefusedByServer": "errors",
    "UsageError": "errors",
    "ReturnValueError": "errors",
    "NotInAssignationError": "errors",
    "LocalFileNotFoundError": "errors",
    "LocalFileExistsError": "errors",
    "IncompatibleServerError": "errors",
    "File": "services.storage.file",
    "Image": "services.storage.image",
    "adelete": "storage",
    "afiles": "storage",
    "afrom_file": "storage",
    "afrom_xarray": "storage",
    "aget_file": "storage",
    "aget_image": "storage",
    "aimages": "storage",
    "delete": "storage",
    "files": "storage",
    "from_file": "storage",
    "from_xarray": "storage",
    "get_file": "storage",
    "get_image": "storage",
    "images": "storage",
    "acall": "rpc",
    "afind": "rpc",
    "afind_all": "rpc",
    "aiterate": "rpc",
    "alog": "rpc",
    "aprogress": "rpc",
    "call": "rpc",
    "check_cancelled": "rpc",
    "find": "rpc",
    "find_all": "rpc",
    "iterate": "rpc",
    "log": "rpc",
    "progress": "rpc",
    "register": "rpc",
    "AssignationCancelledError": "errors",
    "DefinitionError": "errors",
    "Node": "services.rpc.node",
    "Assignation": "services.rpc.running",
    "ArgumentError": "errors",
    "register_type": "services.rpc.structures",
    "structure": "services.rpc.structures",
    "Settings": "settings",
    "get_settings": "settings",
}

__all__ = [
    "AgentLostError",
    "App",
    "AppStateError",
    "ArgumentError",
    "ArkitektError",
    "Assignation",
    "AssignationCancelledError",
    "CallCancelledError",
    "ConfigurationError",
    "ConnectionRefusedByServer",
    "CriticalRemoteError",
    "DataNotFoundError",
    "DefinitionError",
    "File",
    "ForbiddenError",
    "Image",
    "IncompatibleServerError",
    "InvalidDataError",
    "LocalFileExistsError",
    "LocalFileNotFoundError",
    "LoginError",
    "NoActiveAppError",
    "NoProviderError",
    "Node",
    "NodeNotFoundError",
    "NotAuthenticatedError",
    "NotInAssignationError",
    "RemoteCancelledError",
    "RemoteError",
    "ReturnValueError",
    "ServerBusyError",
    "ServerError",
    "ServerUnavailableError",
    "Settings",
    "TransferError",
    "UsageError",
    "__version__",
    "acall",
    "adelete",
    "afiles",
    "afind",
    "afind_all",
    "afrom_file",
    "afrom_xarray",
    "aget_file",
    "aget_image",
    "aimages",
    "aiterate",
    "alog",
    "aprogress",
    "call",
    "check_cancelled",
    "delete",
    "easy",
    "files",
    "find",
    "find_all",
    "from_file",
    "from_xarray",
    "get_current_app",
    "get_file",
    "get_image",
    "get_settings",
    "images",
    "iterate",
    "jupy",
    "local",
    "log",
    "progress",
    "register",
    "register_type",
    "structure",
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
