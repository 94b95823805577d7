"""Text that can be stored: no NUL characters.

PostgreSQL's text cannot hold U+0000, so a name, a search or a username carrying one would fail
deep in the database. Such text is refused where it enters, naming the field. JSON values
(arguments, results, events) are stored as JSON, where a NUL is an escape, and pass unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

NUL = "\x00"


def refuse_nul(value: str) -> str:
    """``value`` unchanged, or ``ValueError`` when it holds a NUL character."""
    if NUL in value:
        raise ValueError("must not contain NUL characters (\\x00)")
    return value


Text = Annotated[str, AfterValidator(refuse_nul)]
"""A str field that may be stored in a text column."""


def nul_path(value: Any, path: str = "") -> str | None:
    """Where the first NUL character hides in nested dicts, lists and strings (a dotted path,
    ``""`` for ``value`` itself), or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None
