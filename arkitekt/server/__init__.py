"""The arkitekt server (extra ``server``): fakts v2 + OAuth2, web pages, services.

Import :func:`create_app` for the ASGI application, :class:`EmbeddedServer` to run it inside a
client process, or use the ``arkitekt server`` command.
"""

from .config import ServerConfig

__all__ = ["ServerConfig"]
