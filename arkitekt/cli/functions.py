"""``arkitekt inspect / run / call / nodes / images``: remote functions and data from a shell.

- ``inspect app.py``: the definitions a file would register, without connecting (table or JSON);
- ``run app.py``: serve the file's registered functions as an agent until Ctrl-C;
- ``call INTERFACE --arg k=v``: call a function, print the result (a generator streams);
- ``nodes`` / ``images``: what you may call / see, as tables (or JSON).

They connect like ``easy()``: ``--url`` / ``ARKITEKT_URL`` (else the integrated server), as one
app (``--app``, default ``arkitekt-cli``) whose cached session ``arkitekt login`` made, or with
``--username`` (password from a prompt or ``ARKITEKT_PASSWORD``). Exit codes: 0 done, 1 failed,
2 bad usage.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    APPROVAL_WAIT,
    DEFAULT_APP,
    AppId,
    Headless,
    Url,
    Username,
    Wait,
    client_app,
    connected,
    fail,
)

Target = Annotated[Path, typer.Argument(help="A Python file that registers functions.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.", metavar="")]


def load_file(path: Path) -> None:
    """Import a file as the module ``__arkitekt_app__`` (its ``@register`` calls run)."""
    if not path.is_file() or path.suffix != ".py":
        raise fail(f"{str(path)!r} is not a Python file", 2)
    spec = importlib.util.spec_from_file_location("__arkitekt_app__", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(path.resolve().parent))  # its sibling modules import as in a script
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise fail(f"importing {path} failed: {type(e).__name__}: {e}") from e


def _table(headers: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def inspect(target: Target, as_json: AsJson = False) -> None:
    """Show the functions a file registers (their definitions), without connecting."""
    from ..display import port_type
    from ..services.rpc.registry import default_registry

    before = {e.interface: e for e in default_registry}
    load_file(target)
    # only what this file registered (the process may have registered others before)
    entries = [e for e in default_registry if before.get(e.interface) is not e]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"interface": e.interface, **e.definition.model_dump(mode="json")}
                    for e in entries
                ],
                indent=2,
            )
        )
        return
    if not entries:
        raise fail(f"{target} registers no functions (decorate them with @register)")
    rows = []
    for e in entries:
        d = e.definition
        args = ", ".join(
            f"{p.key}: {port_type(p)}" + (f" = {p.default!r}" if p.has_default else "")
            for p in d.args
        )
        returns = ", ".join(port_type(p) for p in d.returns) or "None"
        rows.append([e.interface, d.kind.value, f"({args}) -> {returns}", d.description or ""])
    _table(["interface", "kind", "signature", "description"], rows)


def run(
    target: Target,
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    instance_id: Annotated[
        str | None,
        typer.Option(
            help="Tells apart several agents of one app on one machine (default: the file's name).",
            show_default=False,
        ),
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Restart when a .py file next to it is saved.", metavar="")
    ] = False,
) -> None:
    """Serve the functions a file registers, until Ctrl-C."""
    from ..errors import ArkitektError

    instance_id = instance_id or target.stem
    if dev:
        _run_reloading(target, url, identifier, instance_id, username, headless)
        return
    load_file(target)
    try:
        app = client_app(
            identifier,
            url,
            username=username,
            headless=headless,
            wait=wait,
            instance_id=instance_id,
        )
        with app:
            typer.echo(f"serving {target.name} as {app.identifier}; Ctrl-C stops", err=True)
            app.run()
    except ArkitektError as e:
        raise fail(str(e)) from e


def _run_reloading(
    target: Target,
    url: str | None,
    identifier: str,
    instance_id: str,
    username: str | None,
    headless: bool,
) -> None:
    """``run`` in a child process, restarted whenever a Python file of its folder changes."""
    try:
        import watchfiles
    except ImportError:
        raise fail("--dev needs watchfiles: pip install watchfiles", 2) from None
    command = [sys.executable, "-m", "arkitekt.cli", "run", str(target)]
    command += ["--instance-id", instance_id]
    if url:
        command += ["--url", url]
    command += ["--app", identifier]
    if username:
        command += ["--username", username]  # the password comes from ARKITEKT_PASSWORD
    if headless:
        command += ["--headless"]
    typer.echo(f"serving {target.name}, restarting on changes (Ctrl-C stops)", err=True)
    watchfiles.run_process(
        target.resolve().parent,
        target=" ".join(_quote(part) for part in command),
        target_type="command",
        watch_filter=watchfiles.PythonFilter(),
    )


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


def shell(
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    command: Annotated[
        str | None,
        typer.Option("--command", "-c", help="Run this Python code instead of a prompt."),
    ] = None,
) -> None:
    """An IPython prompt with the app entered and find/call/images... at hand."""
    import arkitekt

    names = {name: getattr(arkitekt, name) for name in arkitekt.__all__ if name != "__version__"}
    with connected(identifier, url, username=username, headless=headless, wait=wait) as app:
        namespace: dict[str, Any] = {**names, "app": app}
        if command is not None:
            exec(compile(command, "<arkitekt shell -c>", "exec"), namespace)
            return
        import importlib

        banner = (
            f"arkitekt {arkitekt.__version__}: app {app.identifier!r} is entered as `app`;"
            " find, call, from_xarray, images, ... are defined. Ctrl-D leaves."
        )
        try:
            ipython: Any = importlib.import_module("IPython")  # untyped
        except ImportError:  # the standard library's prompt will do
            import code

            code.interact(banner=banner, local=namespace, exitmsg="")
            return
        typer.echo(banner)
        ipython.start_ipython(argv=["--no-banner"], user_ns=namespace)


def _parse_value(text: str) -> Any:
    """``k=v`` values: JSON when they parse (numbers, lists, true, null), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _printable(value: Any) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def call(
    interface: Annotated[str, typer.Argument(help="The function's interface name.")],
    args: Annotated[
        list[str] | None,
        typer.Option("--arg", "-a", help="An argument as name=value (value parsed as JSON)."),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(help="Call this user's function (shared with you), not your own apps'."),
    ] = None,
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
) -> None:
    """Call a remote function and print its result (a generator prints one line per value)."""
    from ..errors import ArkitektError, NodeNotFoundError
    from ..rpc import find

    kwargs: dict[str, Any] = {}
    for item in args or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--arg {item!r} must look like name=value", 2)
        kwargs[key] = _parse_value(value)
    try:
        with client_app(identifier, url, username=username, headless=headless, wait=wait):
            node = find(interface=interface, owner=owner)
            if node.is_generator:
                for value in node.iterate(**kwargs):
                    typer.echo(_printable(value))
            else:
                typer.echo(_printable(node(**kwargs)))
    except NodeNotFoundError as e:
        raise fail(str(e)) from e
    except (ArkitektError, TypeError, ValueError) as e:
        raise fail(f"{type(e).__name__}: {e}") from e


def nodes(
    search: Annotated[str | None, typer.Option(help="Only functions whose name matches.")] = None,
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    as_json: AsJson = False,
) -> None:
    """List the functions you may call: your own apps' and those shared with you (owners)."""
    from ..display import signature
    from ..rpc import find_all

    with connected(identifier, url, username=username, headless=headless, wait=wait):
        records = [
            {
                "name": n.name,
                "kind": n.definition.kind.value,
                "signature": signature(n),
                "description": n.description,
                "owners": ", ".join(n.owners),
                "id": n.id,
            }
            for n in find_all(search=search, shared=True)
        ]
    _print(records, ["name", "signature", "owners", "description", "id"], as_json, "no functions")


def images(
    name_contains: Annotated[
        str | None, typer.Option("--name-contains", help="Only images whose name contains this.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many (newest first).", min=1, max=500)
    ] = 50,
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    as_json: AsJson = False,
) -> None:
    """List the images you may see."""
    from ..display import shape_text, size_text
    from ..storage import images as list_images

    with connected(identifier, url, username=username, headless=headless, wait=wait):
        found = list_images(name__contains=name_contains, limit=limit)
    records = [
        {
            "name": i.name,
            "dims": list(i.dims),
            "shape": list(i.shape),
            "dtype": i.dtype.name,
            "tags": list(i.tags),
            "size_bytes": i.size_bytes,
            "created": i.created_at.isoformat(),
            "id": i.id,
        }
        for i in found
    ]
    shown = {
        "shape": lambda r: shape_text(r["dims"], r["shape"]),
        "tags": lambda r: ", ".join(r["tags"]),
        "size": lambda r: size_text(r["size_bytes"]),
        "created": lambda r: _when(r["created"]),
    }
    columns = ["name", "shape", "dtype", "tags", "size", "created", "id"]
    _print(records, columns, as_json, "no images", shown)


def agents(
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    as_json: AsJson = False,
) -> None:
    """List your agents: which app, which instance, online or not, last seen."""
    with connected(identifier, url, username=username, headless=headless, wait=wait) as app:
        records = [
            {
                "app": a.app,
                "instance": a.instance_id,
                "online": a.connected,
                "last_seen": _iso(a.last_seen_at),
                "id": a.id,
            }
            for a in app.rpc.agents()
        ]
    shown = {
        "online": lambda r: "yes" if r["online"] else "no",
        "last seen": lambda r: _when(r["last_seen"]),
    }
    columns = ["app", "instance", "online", "last seen", "id"]
    _print(records, columns, as_json, "no agents", shown)


def assignations(
    status: Annotated[
        str | None, typer.Option(help="Only calls in this state (done, error, assigned...).")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many (newest first).", min=1, max=200)
    ] = 20,
    url: Url = None,
    identifier: AppId = DEFAULT_APP,
    username: Username = None,
    headless: Headless = False,
    wait: Wait = APPROVAL_WAIT,
    as_json: AsJson = False,
) -> None:
    """List your recent calls and how they ended."""
    with connected(identifier, url, username=username, headless=headless, wait=wait) as app:
        records = [
            {
                "function": c.node_name,
                "status": c.status,
                "started": _iso(c.created_at),
                "finished": _iso(c.finished_at),
                "id": c.id,
            }
            for c in app.rpc.assignations(status=status, limit=limit)
        ]
    shown = {"started": lambda r: _when(r["started"]), "finished": lambda r: _when(r["finished"])}
    columns = ["function", "status", "started", "finished", "id"]
    _print(records, columns, as_json, "no calls", shown)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _when(moment: str | None) -> str:
    """An ISO time as the table shows it (seconds, no zone); empty for none."""
    return f"{dt.datetime.fromisoformat(moment):%Y-%m-%d %H:%M:%S}" if moment else ""


Record = dict[str, Any]


def _print(
    records: list[Record],
    columns: list[str],
    as_json: bool,
    empty: str,
    shown: dict[str, Callable[[Record], str]] | None = None,
) -> None:
    """JSON (the records as they are: numbers, lists, nulls) or a table of ``columns``; a
    column's text comes from ``shown`` when given, else from the record's value."""
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    if not records:
        typer.echo(empty)
        return
    shown = shown or {}

    def cell(record: Record, column: str) -> str:
        if column in shown:
            return shown[column](record)
        value = record.get(column)
        return "" if value is None else str(value)

    _table(columns, [[cell(r, c) for c in columns] for r in records])


def add_commands(app: typer.Typer) -> None:
    for command in (inspect, run, call, nodes, agents, assignations, images, shell):
        app.command()(command)
