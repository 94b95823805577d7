"""Issue 11, fault tests: the server killed (SIGKILL) while an image is being uploaded.

An upload is a record (in progress) plus objects written with a grant, then a finish the
server checks. Killing the server in the middle must leave nothing half-visible: the uploader
gets a clear error (or, if its writes resumed after the restart and it finished, a complete
image); no listing ever shows an unfinished image; images stored before are intact; and the
sweeper removes the abandoned upload's objects once its write grant has ended.
"""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servers import TestServer, wait_for

from arkitekt import ArkitektError, from_xarray, images

GRANT_TTL = 3


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with TestServer.standalone(
        tmp_path / "server",
        users=("alice",),
        log=tmp_path / "server.log",
        storage_grant_ttl=GRANT_TTL,
        storage_upload_grace=0,
        storage_sweep_interval=1.0,
    ) as started:
        yield started


def _image_folders(server: TestServer) -> set[str]:
    return {key.split("/")[1] for key in server.stored_keys("images")}


def test_an_upload_cut_by_a_crash_leaves_nothing_half_visible(server: TestServer) -> None:
    kept = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    big = np.random.default_rng(7).integers(0, 255, (96, 512, 512), dtype="uint8")  # 24 MiB
    outcome: dict[str, Any] = {}

    with server.app("alice", "upload-crash") as app:
        before = from_xarray(kept, "kept", dims=["y", "x"], app=app)
        folders_before = _image_folders(server)

        def upload() -> None:
            try:
                outcome["image"] = from_xarray(
                    big, "cut", dims=["z", "y", "x"], chunks=(1, 512, 512), app=app
                )
            except BaseException as e:  # what the uploader gets is the point of the test
                outcome["error"] = e

        uploader = threading.Thread(target=contextvars.copy_context().run, args=(upload,))
        uploader.start()
        wait_for(  # some chunks are written: the upload is under way
            lambda: len(server.stored_keys("images")) > len(folders_before) * 2 + 10,
            30,
            "chunks of the upload",
        )
        server.kill()
        time.sleep(0.5)
        server.start()
        uploader.join(120)
        assert not uploader.is_alive(), "the uploader still waits after the restart"

        print("the uploader got", repr(outcome.get("error", "its image")))
        if "error" in outcome:
            error = outcome["error"]
            assert isinstance(error, ArkitektError), repr(error)
            assert "discarded" in " ".join(getattr(error, "__notes__", [])), error
            assert [i.name for i in images(app=app)] == ["kept"]
        else:  # the writes went on after the restart and the server accepted the finish
            assert np.array_equal(outcome["image"].data.values, big)
            assert sorted(i.name for i in images(app=app)) == ["cut", "kept"]
        assert np.array_equal(before.data.values, kept)  # what was stored before is intact

        finished = {i.id for i in images(app=app)}
        # The abandoned upload's objects go once its write grant ended (and the sweeper ran).
        wait_for(
            lambda: _image_folders(server) <= finished,
            GRANT_TTL + 20,
            "the abandoned upload's objects to be swept",
        )
        assert np.array_equal(images(app=app, name="kept")[0].data.values, kept)
