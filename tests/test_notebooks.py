"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel (nbclient): against
the integrated server, and the remote one against a standalone server with a mandate key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from servers import TestServer

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


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "quickstart.ipynb",
        "remote.ipynb",
        "async.ipynb",
        "microscopy.ipynb",
    }


@pytest.mark.parametrize("name", ["quickstart.ipynb", "async.ipynb", "microscopy.ipynb"])
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
    elif name == "microscopy.ipynb":
        assert "{'y': 0.65, 'x': 0.65}" in results[1] and "'micrometer'" in results[1]
        assert "['DAPI', 'GFP']" in results[1] and results[1].rstrip().endswith("3)")
        assert results[2] == "(Frozen({'c': 2, 'y': 512, 'x': 512}), 2.6)" and results[3] == "12"
        assert "(['slide'], ['per-cell intensities'])" in results
    else:
        assert "[0, 1, 4, 9, 16, 25, 36, 49]" in results and "[0, 1, 2, 3, 4]" in results
        assert "2016.0" in results


def test_remote_notebook_runs(
    agent_server: TestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(
        ROOT / "notebooks" / "remote.ipynb",
        agent_server.client_env("alice", tmp_path / "cache"),
        monkeypatch,
    )


def test_device_code_login_shows_a_button_in_a_notebook() -> None:
    """In a kernel, the approval link is a clickable button in the cell's output (no browser
    is opened on the kernel's machine, no terminal prompt)."""
    cells = [
        "from types import SimpleNamespace\n"
        "from arkitekt.services.logins import DeviceCodeLogin, show_link_in_notebook\n"
        "from arkitekt.builders import build_manifest\n"
        "from arkitekt.settings import get_settings\n"
        "authorizer = DeviceCodeLogin().authorizer(build_manifest('nb', '1', get_settings()))\n"
        "assert authorizer.open_browser is False\n"
        "assert authorizer.device_code_hook is show_link_in_notebook",
        "await show_link_in_notebook(SimpleNamespace(\n"
        "    verification_uri_complete='http://host/device?code=ABCD-EFGH&x=<y>',\n"
        "    user_code='ABCD-EFGH', expires_in=600))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    shown = [o for o in notebook.cells[1].outputs if o.output_type == "display_data"]
    assert len(shown) == 1
    page = shown[0].data["text/html"]
    assert "href='http://host/device?code=ABCD-EFGH&amp;x=&lt;y&gt;'" in page
    assert "ABCD-EFGH" in page and "target='_blank'" in page


def test_interrupting_a_cell_cancels_the_call_and_leaves_no_thread(tmp_path: Path) -> None:
    """Kernel interrupt (the notebook's stop button) during a long call: the remote call is
    cancelled, the function stops (its worker thread goes back to idle), and closing the app
    leaves no thread behind."""
    cells = [
        "import threading, time\n"
        "from arkitekt import jupy, find, call, progress\n"
        f"app = jupy('interrupt', data_dir={str(tmp_path / 'data')!r})\n"
        "running = []\n"
        "@app.register\n"
        "def slow(seconds: int) -> int:\n"
        "    '''Sleep in steps.'''\n"
        "    running.append(seconds)\n"
        "    try:\n"
        "        for i in range(seconds * 10):\n"
        "            time.sleep(0.1)\n"
        "            progress(100 * i // (seconds * 10))\n"
        "    finally:\n"
        "        running.remove(seconds)\n"
        "    return seconds\n"
        "app.serve()\n"
        "node = find(interface='slow')",
        "call(node, 60)  # interrupted",
        "time.sleep(1)\n"
        "print(sorted(t.name for t in threading.enumerate() if t.name.startswith('arkitekt-')),"
        " running)",
        "app.close()\n"
        "time.sleep(0.5)\n"
        "print(sorted(t.name for t in threading.enumerate() if t.daemon and not\n"
        "      t.name.startswith(('Thread-', 'Control', 'Heartbeat', 'IOPub', 'Shell'))))",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        timeout_func=lambda cell: 4 if "interrupted" in cell.source else 60,
    ).execute()
    errors = [o for o in notebook.cells[1].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["KeyboardInterrupt"]
    assert not any(
        o.output_type == "stream" and "never retrieved" in o.text for o in notebook.cells[1].outputs
    )
    running = [o.text for o in notebook.cells[2].outputs if o.output_type == "stream"]
    # the function stopped; its worker thread stays for the next call until the app closes
    assert running == ["['arkitekt-server', 'arkitekt-worker-1'] []\n"]
    left = [o.text for o in notebook.cells[3].outputs if o.output_type == "stream"]
    assert left == ["[]\n"]
