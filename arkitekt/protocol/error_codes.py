"""The codes the server puts in a GraphQL error's ``extensions.code``.

The client turns each into the exception users catch (see ``services/graphql_client.py``); an
error without a code is the server's fault (:class:`~arkitekt.errors.ServerError`).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    """No such object that the caller may see (missing and not shared look the same)."""
    FORBIDDEN = "FORBIDDEN"
    """The caller may see the object but not do that to it."""
    BAD_INPUT = "BAD_INPUT"
    """The input cannot be accepted as it is (the message says why)."""
    TIMEOUT = "TIMEOUT"
    """The request ran past the server's time limit and was stopped."""
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    """The caller has too many requests waiting already."""
