"""How arkitekt objects show themselves in notebooks (``_repr_html_``): small, escaped HTML.

Kept free of imports beyond the standard library: rendering never touches the network, except
an Image's thumbnail (see :mod:`arkitekt.services.storage.image`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .app import App
    from .protocol.ports import Port
    from .services.rpc.node import Node

T = TypeVar("T")

_STYLE = "border-collapse:collapse;text-align:left;font-size:0.9em"
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top"


def escape(value: object) -> str:
    return html.escape("" if value is None else str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then the caller escaped them)."""
    head = "".join(f"<th style='{_CELL}'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='{_CELL}'>{c if raw else escape(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table style='{_STYLE}'><tr>{head}</tr>{body}</table>"


def port_type(port: Port) -> str:
    """A port's type as a Python programmer would write it: ``list[float] | None``."""
    return port.python_type()


def node_html(node: Node) -> str:
    definition = node.definition
    rows = []
    for port in definition.args:
        default = f" = {port.default!r}" if port.has_default else ""
        rows.append(("argument", port.key, port_type(port) + default, port.description or ""))
    for port in definition.returns:
        rows.append(("returns", port.key, port_type(port), port.description or ""))
    kind = "generator" if node.is_generator else "function"
    return (
        f"<div><strong>{escape(node.name)}</strong> <em>({kind})</em>"
        f"<div>{escape(node.description or '')}</div>"
        + table(["", "name", "type", "description"], rows)
        + f"<div style='color:#888;font-size:0.8em'>node {escape(node.id)}</div></div>"
    )


def app_html(app: App) -> str:
    services = app.services
    server = getattr(services.get("server"), "url", None) or getattr(
        services.get("fakts"), "url", None
    )
    auth = services.get("auth")
    user = getattr(auth, "user", None) if app.entered else None
    rpc = services.get("rpc")
    states = []
    for name in services:
        state = "started" if app.entered else "stopped"
        if name == "rpc" and app.entered:
            state = "connected" if getattr(rpc, "connected", False) else "connects on first use"
        states.append((name, state))
    rows = [
        ("app", f"{app.identifier} {app.manifest.version}"),
        ("status", "entered" if app.entered else "not entered"),
        ("server", server or "integrated (starts when entered)"),
        ("user", user.username if user is not None else "—"),
        ("services", ", ".join(f"{n}: {s}" for n, s in states)),
    ]
    return table(["", ""], rows)


class Listing(list[T]):
    """A list that shows itself as a table in notebooks (what ``images()``, ``files()`` and
    ``find_all()`` return); otherwise an ordinary list.

    Items describe their own row: a class attribute ``listing_headers`` and a method
    ``listing_row()`` returning one cell per header.
    """

    def _repr_html_(self) -> str:
        if not self:
            return "<em>nothing</em>"
        headers = getattr(type(self[0]), "listing_headers", None)
        if headers is None or not all(type(x) is type(self[0]) for x in self):
            return table(["item"], ((repr(x),) for x in self))
        return table(headers, (x.listing_row() for x in self))  # type: ignore[attr-defined]


def size_text(n: int | None) -> str:
    """Bytes for people: ``3.2 MiB``."""
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def signature(node: Node) -> str:
    """``(image: Image, level: float = 0.5) -> Image``; a generator's ``-> stream of int``."""
    args = ", ".join(
        f"{p.key}: {port_type(p)}" + (f" = {p.default!r}" if p.has_default else "")
        for p in node.definition.args
    )
    returns = ", ".join(port_type(p) for p in node.definition.returns) or "None"
    if node.is_generator:
        returns = f"stream of {returns}"
    return f"({args}) -> {returns}"


def shape_text(dims: Sequence[str], shape: Sequence[int]) -> str:
    """``(y: 64, x: 64)``."""
    return "(" + ", ".join(f"{d}: {n}" for d, n in zip(dims, shape, strict=True)) + ")"


def listing(items: Iterable[T]) -> Listing[T]:
    return Listing(items)
