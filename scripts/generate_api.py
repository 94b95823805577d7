"""Regenerate the typed GraphQL clients from the server's schemas.

    python scripts/generate_api.py          # rewrite each schema.graphql and api.py
    python scripts/generate_api.py --check  # exit 1 when the committed files are out of date

For each API (``PROJECTS``: storage at /mikro/graphql, remote functions at /rekuest/graphql):
export the Strawberry schema the server serves to ``<package>/schema.graphql``, then run turms
(``graphql.config.yaml``) over the operations in ``<package>/graphql/`` to write
``<package>/api.py``. ``--check`` does it all in a scratch folder and compares, so CI fails when
a schema or the operations changed without regenerating.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "graphql.config.yaml"
PROJECTS = {
    # turms project: (the module whose `schema` the server serves, the client package)
    "mikro": ("arkitekt.server.storage.graphql_api", ROOT / "arkitekt" / "services" / "storage"),
    "rekuest": ("arkitekt.server.rpc.graphql_api", ROOT / "arkitekt" / "services" / "rpc"),
}


def export_schema(module: str) -> str:
    import importlib

    return str(importlib.import_module(module).schema.as_str()) + "\n"


def generate(name: str, workdir: Path) -> tuple[str, str]:
    """Export and generate one project inside ``workdir``; returns (schema, generated code)."""
    module, package = PROJECTS[name]
    schema_text = export_schema(module)
    (workdir / "schema.graphql").write_text(schema_text)
    shutil.copytree(package / "graphql", workdir / "graphql")
    config = yaml.safe_load(CONFIG.read_text())
    config["projects"] = {name: config["projects"][name]}
    project = config["projects"][name]
    project["schema"] = str(workdir / "schema.graphql")
    project["documents"] = str(workdir / "graphql" / "*.graphql")
    project["extensions"]["turms"]["out_dir"] = str(workdir / "out")
    (workdir / "graphql.config.yaml").write_text(yaml.safe_dump(config))
    # turms's ruff processor formats with the project's settings: run it from the project root.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from turms.cli.main import cli; cli()",
            "gen",
            "--config",
            str(workdir / "graphql.config.yaml"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return schema_text, (workdir / "out" / "api.py").read_text()


def _formatted(code: str, path: Path) -> str:
    """``code`` as this machine's ruff formats it."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return result.stdout if result.returncode == 0 else code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    check = parser.parse_args().check
    stale = []
    for name, (_, package) in PROJECTS.items():
        with tempfile.TemporaryDirectory() as scratch:
            schema_text, code = generate(name, Path(scratch))
        schema, generated = package / "schema.graphql", package / "api.py"
        if not check:
            schema.write_text(schema_text)
            generated.write_text(code)
            print(f"wrote {schema.relative_to(ROOT)} and {generated.relative_to(ROOT)}")
            continue
        stale += _stale(((schema, schema_text), (generated, code)))
    if not check:
        return 0
    if stale:
        print("out of date: run `python scripts/generate_api.py`", file=sys.stderr)
        return 1
    print("the generated GraphQL clients are up to date")
    return 0


def _stale(pairs: tuple[tuple[Path, str], ...]) -> list[Path]:
    stale = []
    for path, fresh in pairs:
        current = path.read_text() if path.exists() else ""
        if path.suffix == ".py":  # another ruff release may format alike code differently
            current = _formatted(current, path)
        if current != fresh:
            stale.append(path)
            diff = difflib.unified_diff(
                current.splitlines(), fresh.splitlines(), str(path), "regenerated", lineterm=""
            )
            print("\n".join(list(diff)[:40]))
    return stale


if __name__ == "__main__":
    sys.exit(main())
