"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel (nbclient): against
the integrated server, and the remote one against a standalone server with a mandate key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from rpc_helpers import RpcServer, rpc_server

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def execute(path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return notebook


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RpcServer, str]]:
    with rpc_server(tmp_path / "server") as running:
        yield running, running.add_user("alice")


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "remote.ipynb", "async.ipynb"}


@pytest.mark.parametrize("name", ["quickstart.ipynb", "async.ipynb"])
def test_integrated_notebook_runs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARKITEKT_URL", raising=False)
    notebook = execute(
        ROOT / "notebooks" / name, {"ARKITEKT_DATA_DIR": str(tmp_path / "data")}, monkeypatch
    )
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    results = [o.data.get("text/plain", "") for o in outputs if "data" in o]
    if name == "quickstart.ipynb":
        assert "[3.0, 2.3333333333333335, 3.6666666666666665, 2.3333333333333335, 3.0]" in results
        assert any("text/html" in o.data for o in outputs if "data" in o)  # App, Node, Image
    else:
        assert "[0, 1, 4, 9, 16, 25, 36, 49]" in results and "[0, 1, 2, 3, 4]" in results
        assert "2016.0" in results


def test_remote_notebook_runs(
    server: tuple[RpcServer, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, key = server
    execute(
        ROOT / "notebooks" / "remote.ipynb",
        {
            "ARKITEKT_URL": running.url,
            "ARKITEKT_MANDATE_KEY": key,
            "ARKITEKT_CACHE_DIR": str(tmp_path / "cache"),
        },
        monkeypatch,
    )
