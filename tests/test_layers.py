"""The house rules that keep the layers apart, and the public names intact.

Layers (docs/architecture.md): client -> protocol <- server. ``arkitekt.protocol`` is what both
sides speak and imports neither; the server never imports the client; the client imports the
server only where it starts one (the integrated-server service, the CLI's server commands,
the pytest plugin's fixtures). The base modules (errors, version, default paths) import nothing.
"""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import arkitekt

PACKAGE = Path(arkitekt.__file__).parent

BASE = {"arkitekt", "arkitekt._version", "arkitekt.errors", "arkitekt._paths"}
STARTS_A_SERVER = {"arkitekt.services.server", "arkitekt.cli.server_commands", "arkitekt.testing"}
"""The only client modules that may import ``arkitekt.server``: each starts one."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``arkitekt`` module a file imports, wherever the import stands (TYPE_CHECKING,
    inside functions): what it may reach is what counts."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "arkitekt" or m.startswith("arkitekt.")}


def _graph() -> dict[str, set[str]]:
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        # keep only names that are modules (``from .x import Name`` also yields ``.x.Name``)
        graph[_module_name(path)] = {m for m in _imports(path) if m in known}
    return graph


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_base_imports_nothing_of_arkitekt() -> None:
    graph = _graph()
    for module in BASE - {"arkitekt"}:
        assert graph[module] <= {"arkitekt"}, (module, graph[module])


def test_protocol_imports_neither_client_nor_server() -> None:
    offending = {
        (module, target)
        for module, targets in _graph().items()
        if _within(module, "arkitekt.protocol")
        for target in targets
        if not (_within(target, "arkitekt.protocol") or target in BASE)
    }
    assert not offending, sorted(offending)


def test_the_server_never_imports_the_client() -> None:
    offending = {
        (module, target)
        for module, targets in _graph().items()
        if _within(module, "arkitekt.server")
        for target in targets
        if not (
            _within(target, "arkitekt.server")
            or _within(target, "arkitekt.protocol")
            or target in BASE
        )
    }
    assert not offending, sorted(offending)


def test_the_client_imports_the_server_only_to_start_one() -> None:
    offending = {
        (module, target)
        for module, targets in _graph().items()
        if not _within(module, "arkitekt.server") and module not in STARTS_A_SERVER
        for target in targets
        if _within(target, "arkitekt.server")
    }
    assert not offending, sorted(offending)


def test_the_graph_sees_imports() -> None:
    """The rules above would pass vacuously if the parser missed imports: it does not."""
    graph = _graph()
    assert "arkitekt.protocol.messages" in graph["arkitekt.server.rpc.gateway"]
    assert "arkitekt.server.embedded" in graph["arkitekt.services.server"]
    assert "arkitekt.context" in graph["arkitekt.rpc"]


def test_no_submodule_is_named_like_a_public_name() -> None:
    """``import arkitekt.x`` sets the attribute ``x`` on the package: a submodule named like a
    public name would replace it (``from arkitekt import progress`` gave the module)."""
    submodules = {info.name for info in pkgutil.iter_modules(arkitekt.__path__)}
    assert not submodules & set(arkitekt.__all__)


def test_every_public_name_is_the_documented_object_after_real_use(tmp_path: Path) -> None:
    """In a fresh interpreter: enter an app, serve and call a function, store an image (which
    imports most of the package), then every public name is still what ``__init__`` says."""
    script = textwrap.dedent(
        """
        import importlib, inspect, types
        import numpy as np
        import arkitekt
        from arkitekt import local, register, find, call, from_xarray, progress

        @register
        def double(x: int) -> int:
            progress(50)
            return 2 * x

        with local("names", data_dir=DATA) as app:
            app.serve()
            assert call(find(interface="double"), 21) == 42
            image = from_xarray(np.zeros((4, 4)), name="z", dims=["y", "x"])
            assert image.data.shape == (4, 4)

        from arkitekt import progress as again
        assert again is progress and callable(again), again
        for name in arkitekt.__all__:
            value = getattr(arkitekt, name)
            assert not isinstance(value, types.ModuleType), name
            if name == "__version__":
                assert isinstance(value, str)
                continue
            module = arkitekt._EXPORTS[name]
            documented = getattr(importlib.import_module("arkitekt." + module), name)
            assert value is documented, name
            assert value.__name__ == name, name
        print("ok")
        """
    ).replace("DATA", repr(str(tmp_path / "data")))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def _documented_files() -> set[str]:
    """The files docs/architecture.md lists in its ``## Files`` tree (paths from the root)."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    tree = text.split("## Files", 1)[1].split("```", 2)[1]
    entry = re.compile(r"^(?P<indent> *)(?P<name>[\w.]+/|[\w.]+\.(?:py|graphql))(?:\s|$)")
    folders: list[str] = []
    listed = set()
    for line in tree.splitlines():
        match = entry.match(line)
        if match is None:
            continue  # a description continued from the line above
        depth = len(match["indent"]) // 2
        folders = folders[:depth]
        name = match["name"]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        else:
            listed.add("/".join([*folders, name]))
    return listed


def test_the_architecture_page_lists_every_module_and_no_other() -> None:
    """docs/architecture.md follows the code: every module is described, none that is gone."""
    actual = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }
    listed = {path for path in _documented_files() if path.endswith(".py")}
    listed = {path for path in listed if not path.endswith("__init__.py")}
    assert sorted(actual - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - actual) == [], "docs/architecture.md lists modules that do not exist"


def test_every_error_is_in_errors_py_under_one_root_and_exported() -> None:
    """Users catch ``ArkitektError`` (or the specific class, exported by name); the one class
    outside the root is the cancellation signal, which must not be an ``Exception``."""
    from arkitekt import errors

    classes = {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }
    outside = {name for name, cls in classes.items() if not issubclass(cls, errors.ArkitektError)}
    assert outside == {"AssignationCancelledError"}
    assert not issubclass(errors.AssignationCancelledError, Exception)
    assert set(classes) <= set(arkitekt.__all__)
    documented = (PACKAGE.parent / "docs" / "errors.md").read_text()
    assert [name for name in classes if f"`{name}`" not in documented] == []
    defined_elsewhere = [
        f"{path.relative_to(PACKAGE.parent)}: {node.name}"
        for path in PACKAGE.rglob("*.py")
        if "server" not in path.parts and path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(
            getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
            for b in node.bases
        )
    ]
    # internal signals of the codec and of define(): always turned into ArgumentError,
    # ReturnValueError or DefinitionError before anything reaches a user
    internal = ["arkitekt/protocol/fields.py: Unsupported", "arkitekt/protocol/values.py: Mismatch"]
    assert sorted(defined_elsewhere) == internal, "user-facing errors belong in errors.py"
