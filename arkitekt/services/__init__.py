"""The services an App is composed of. Each lives in its own module and follows :class:`Service`."""

from .base import Service

__all__ = ["Service"]
