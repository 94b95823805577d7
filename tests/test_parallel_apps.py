"""Several integrated apps at the same moment: in threads, in asyncio tasks, in processes.

Each ``local()`` app starts a real server (its own loop thread, its own port) and migrates its
data folder. Started together, they used to trip over each other inside one process (Alembic's
process-wide ``context`` handed one server the other's database connection: "table ... already
exists", "Lock ... is bound to a different event loop"), and processes sharing one data folder
raced on its first migration and on storing the same function. Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arkitekt import (
    NodeNotFoundError,
    acall,
    afind,
    afrom_xarray,
    aget_image,
    aimages,
    call,
    find,
    find_all,
    from_xarray,
    get_image,
    images,
    local,
)

pytestmark = pytest.mark.timeout(240)

START_TIMEOUT = 60.0
"""Seconds the apps may take to reach a rendezvous (their servers start meanwhile)."""
APP_TIMEOUT = 180.0
"""Seconds one app (thread, task or process) may take for all it does."""


def run_in_threads(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Run ``work(i, barrier)`` on ``count`` threads; re-raise the first failure."""
    barrier = threading.Barrier(count, timeout=START_TIMEOUT)
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}

    def target(i: int) -> None:
        try:
            results[i] = work(i, barrier)
        except BaseException as e:
            errors[i] = e
            barrier.abort()  # the others stop waiting at once instead of timing out

    threads = [
        threading.Thread(target=target, args=(i,), name=f"parallel-app-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + APP_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [t.name for t in threads if t.is_alive()], "an app did not finish in time"
    # A broken barrier is only the echo of another thread's failure: report the cause.
    first = sorted(
        errors.items(), key=lambda item: isinstance(item[1], threading.BrokenBarrierError)
    )
    if first:
        raise first[0][1]
    return [results[i] for i in range(count)]


def test_local_apps_entered_together_in_threads(tmp_path: Path) -> None:
    count = 3

    def work(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()  # all enter local() at the same moment
        with local(f"parallel-thread-{i}", data_dir=tmp_path / f"data-{i}") as app:
            assert app.http_get("/health").json()["status"] == "ok"

            # The same function (one definition, so one node hash) in every app, answering
            # differently: a call reaching another app's server or agent shows in the result.
            @app.register(interface="offset")
            def offset(x: int) -> int:
                """Add the app's number."""
                return x + i

            @app.register(interface=f"only-{i}")
            def only(x: int) -> int:
                """Only in one app."""
                return -x

            app.serve()
            assert call(find(interface="offset"), 10) == 10 + i
            assert find(interface=f"only-{i}")(3) == -3

            values = np.full((4, 4), i, dtype="uint8")
            img = from_xarray(values, name=f"image-{i}", dims=["y", "x"], app=app)
            np.testing.assert_array_equal(get_image(img.id).data.values, values)

            barrier.wait()  # everyone has served and stored: now look for the others' data
            for j in range(count):
                if j != i:
                    with pytest.raises(NodeNotFoundError):
                        find(interface=f"only-{j}")
            assert [image.name for image in images()] == [f"image-{i}"]
            assert len(find_all(interface="offset")) == 1
            url = str(app.server.url)
            barrier.wait()  # nobody leaves while another still asserts against its server
        assert (tmp_path / f"data-{i}" / "arkitekt.db").exists()
        return url

    urls = run_in_threads(count, work)
    assert len(set(urls)) == count


def test_local_apps_sharing_one_data_folder_in_threads(tmp_path: Path) -> None:
    count = 3
    shared = tmp_path / "shared"

    def work(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with local(f"parallel-shared-{i}", data_dir=shared) as app:

            @app.register(interface="offset")
            def offset(x: int) -> int:
                """Add the app's number."""
                return x + i

            barrier.wait()  # every server stores the same node at once
            app.serve()
            # One node, served by every app; each app's server routes to its own agent.
            assert call(find(interface="offset"), 10) == 10 + i
            values = np.full((4, 4), i, dtype="uint8")
            img = from_xarray(values, name=f"image-{i}", dims=["y", "x"])
            barrier.wait()
            # One database: every app sees all images (the same local user stored them).
            assert sorted(image.name for image in images()) == [f"image-{j}" for j in range(count)]
            np.testing.assert_array_equal(get_image(img.id).data.values, values)
            assert len(find_all(interface="offset")) == 1
            url = str(app.server.url)
            barrier.wait()
            return url

    assert len(set(run_in_threads(count, work))) == count


async def test_local_apps_entered_together_in_tasks(tmp_path: Path) -> None:
    count = 2
    barrier = asyncio.Barrier(count)

    async def work(i: int) -> str:
        await barrier.wait()
        async with local(f"parallel-task-{i}", data_dir=tmp_path / f"data-{i}") as app:
            assert (await app.ahttp_get("/health")).json()["status"] == "ok"

            @app.register(interface="offset")
            async def offset(x: int) -> int:
                """Add the app's number."""
                return x + i

            await app.aserve()
            # The module-level functions find the app of this task (its own context).
            assert await acall(await afind(interface="offset"), 10) == 10 + i

            values = np.full((4, 4), i, dtype="uint8")
            img = await afrom_xarray(values, name=f"image-{i}", dims=["y", "x"])
            np.testing.assert_array_equal((await (await aget_image(img.id)).adata()).values, values)

            await barrier.wait()
            assert [image.name for image in await aimages()] == [f"image-{i}"]
            url = str(app.server.url)
            await barrier.wait()
            return url

    # A task group: when one app fails, the others are cancelled instead of left waiting.
    async with asyncio.timeout(APP_TIMEOUT), asyncio.TaskGroup() as group:
        tasks = [group.create_task(work(i)) for i in range(count)]
    assert len({task.result() for task in tasks}) == count


# -- processes (as pytest-xdist workers would run them) ----------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    import numpy as np

    from arkitekt import call, find, from_xarray, get_image, local

    data_dir, rendezvous = sys.argv[1], Path(sys.argv[2])
    index, count = int(sys.argv[3]), int(sys.argv[4])

    def meet(stage):
        (rendezvous / f"{stage}-{index}").touch()
        deadline = time.monotonic() + 60
        while len(list(rendezvous.glob(f"{stage}-*"))) < count:
            if time.monotonic() > deadline:
                sys.exit(f"the other processes did not reach {stage!r} in time")
            time.sleep(0.005)

    meet("start")  # enter local() together (a shared folder: the first migration)
    with local(f"parallel-process-{index}", data_dir=data_dir) as app:
        assert app.http_get("/health").json()["status"] == "ok"

        @app.register(interface="offset")
        def offset(x: int) -> int:
            \"\"\"Add the app's number.\"\"\"
            return x + index

        meet("serve")  # register together (a shared folder: the same node at once)
        app.serve()
        assert call(find(interface="offset"), 10) == 10 + index
        values = np.full((4, 4), index, dtype="uint8")
        img = from_xarray(values, name=f"image-{index}", dims=["y", "x"], app=app)
        np.testing.assert_array_equal(get_image(img.id).data.values, values)
    print("done", index, flush=True)
    """
)


def run_processes(data_dirs: list[Path], rendezvous: Path) -> None:
    """One app per data folder, each in a process of its own, all started together."""
    rendezvous.mkdir()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(data_dir),
                str(rendezvous),
                str(i),
                str(len(data_dirs)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for i, data_dir in enumerate(data_dirs)
    ]
    outputs: list[str] = []
    deadline = time.monotonic() + APP_TIMEOUT
    try:
        for process in processes:
            try:
                output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate(timeout=10)
                output += "\n(killed: it did not finish in time)"
            outputs.append(output)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    for i, (process, output) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"process {i} exited with {process.returncode}:\n{output}"
        assert f"done {i}" in output, output


def test_processes_with_their_own_data_folders(tmp_path: Path) -> None:
    folders = [tmp_path / "data-0", tmp_path / "data-1"]
    run_processes(folders, tmp_path / "rendezvous")
    for i, folder in enumerate(folders):
        with local("parallel-check", data_dir=folder):
            assert [image.name for image in images()] == [f"image-{i}"]


def test_processes_sharing_one_data_folder(tmp_path: Path) -> None:
    # A shared folder is supported (the database is SQLite in WAL mode): both processes
    # migrate a fresh database and store the same function at the same moment.
    shared = tmp_path / "shared"
    run_processes([shared, shared], tmp_path / "rendezvous")
    with local("parallel-check", data_dir=shared):
        assert sorted(image.name for image in images()) == ["image-0", "image-1"]
        assert len(find_all(interface="offset")) == 1  # one node, provided by two apps


# -- the pieces underneath -------------------------------------------------------------------


def test_databases_migrate_concurrently_in_one_process(tmp_path: Path) -> None:
    """Servers' loops migrating at once, each its own database (Alembic state is global)."""
    from sqlalchemy import text

    from arkitekt.server.db import Database

    def work(i: int, barrier: threading.Barrier) -> list[str]:
        async def migrate() -> list[str]:
            db = Database(f"sqlite+aiosqlite:///{tmp_path / f'db-{i}.sqlite'}")
            try:
                barrier.wait()
                await db.migrate()
                async with db.engine.connect() as connection:
                    rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
                    return [row[0] for row in rows]
            finally:
                await db.dispose()

        return asyncio.run(migrate())

    versions = run_in_threads(4, work)
    assert all(v == versions[0] and len(v) == 1 for v in versions), versions


async def test_waiting_for_a_migration_can_be_cancelled(tmp_path: Path) -> None:
    """A migration cancelled while waiting for its turn does not keep the turn afterwards."""
    from arkitekt.server import db as db_module

    lock = db_module._MIGRATION_LOCK
    assert lock.acquire(timeout=30)  # another server is migrating
    try:
        database = db_module.Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        waiting = asyncio.ensure_future(database.migrate())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 10)
    finally:
        lock.release()
    # The helper thread got the lock after the cancellation and must have handed it back.
    await asyncio.wait_for(database.migrate(), 30)
    await database.dispose()
    assert lock.acquire(timeout=5)
    lock.release()


def test_a_failed_start_says_why(tmp_path: Path) -> None:
    from arkitekt.errors import ServerUnavailableError
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    server = EmbeddedServer(ServerConfig(data_dir=blocker / "data"))
    with pytest.raises(ServerUnavailableError, match="NotADirectoryError") as caught:
        server.start(timeout=30)
    assert isinstance(caught.value.__cause__, NotADirectoryError)
    assert not server.running
