"""What a function's docstring says: its description and each parameter's and return's.

Google, NumPy, reST and Epydoc styles (``docstring_parser``), and a terse one-line style
(``"Say hello.  name: who to greet"``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

_TERSE_KEY = re.compile(r"(?<![\w.])([A-Za-z_]\w*):\s+")


def parse_docstring(
    function: Callable[..., Any], params: list[str]
) -> tuple[str | None, dict[str, str], list[str]]:
    """Description, parameter descriptions and return (or yield) descriptions."""
    import docstring_parser  # imported on first define(): keeps `import arkitekt` fast

    raw = inspect.getdoc(function)
    if not raw:
        return None, {}, []
    parsed = docstring_parser.parse(raw)
    described = {p.arg_name: p.description for p in parsed.params if p.description}
    returns = [r.description for r in parsed.many_returns if r.description]
    separator = "\n\n" if parsed.blank_after_short_description else "\n"
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    description = separator.join(parts) if parts else None
    if description and not described:
        description, described = _terse(description, params)
    return description, described, returns


def _terse(text: str, params: list[str]) -> tuple[str | None, dict[str, str]]:
    """The terse style ``"Say hello.  name: who to greet"``: only ``word: text`` fragments
    whose word is a parameter; each runs to the next such fragment."""
    hits = [m for m in _TERSE_KEY.finditer(text) if m.group(1) in params]
    if not hits or len({m.group(1) for m in hits}) != len(hits):
        return text, {}
    described = {}
    for m, following in zip(hits, [*hits[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        fragment = " ".join(text[m.end() : end].split())
        if fragment:
            described[m.group(1)] = fragment
    return text[: hits[0].start()].strip() or None, described
