"""Regenerate the typed GraphQL client of the storage API from the server's schema.

    python scripts/generate_api.py          # rewrite schema.graphql and api.py
    python scripts/generate_api.py --check  # exit 1 when the committed files are out of date

Two steps: export the Strawberry schema the server serves to
``arkitekt/services/storage/schema.graphql``, then run turms (``graphql.config.yaml``) over the
operations in ``arkitekt/services/storage/graphql/`` to write ``arkitekt/services/storage/api.py``.
``--check`` does both in a scratch folder and compares, so CI fails when the server's schema or
the operations changed without regenerating.
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
PACKAGE = ROOT / "arkitekt" / "services" / "storage"
SCHEMA = PACKAGE / "schema.graphql"
GENERATED = PACKAGE / "api.py"
CONFIG = ROOT / "graphql.config.yaml"


def export_schema() -> str:
    from arkitekt.server.storage.graphql_api import schema

    return schema.as_str() + "\n"


def generate(workdir: Path) -> tuple[str, str]:
    """Export and generate inside ``workdir``; returns (schema text, generated code)."""
    schema_text = export_schema()
    (workdir / "schema.graphql").write_text(schema_text)
    shutil.copytree(PACKAGE / "graphql", workdir / "graphql")
    config = yaml.safe_load(CONFIG.read_text())
    project = config["projects"]["mikro"]
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
    with tempfile.TemporaryDirectory() as scratch:
        schema_text, code = generate(Path(scratch))
    if not check:
        SCHEMA.write_text(schema_text)
        GENERATED.write_text(code)
        print(f"wrote {SCHEMA.relative_to(ROOT)} and {GENERATED.relative_to(ROOT)}")
        return 0
    stale = []
    for path, fresh in ((SCHEMA, schema_text), (GENERATED, code)):
        current = path.read_text() if path.exists() else ""
        if path.suffix == ".py":  # another ruff release may format alike code differently
            current = _formatted(current, path)
        if current != fresh:
            stale.append(path)
            diff = difflib.unified_diff(
                current.splitlines(), fresh.splitlines(), str(path), "regenerated", lineterm=""
            )
            print("\n".join(list(diff)[:40]))
    if stale:
        print("out of date: run `python scripts/generate_api.py`", file=sys.stderr)
        return 1
    print("the generated GraphQL client is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
