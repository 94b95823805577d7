"""Benchmark of storage. Prints a table; run with ``python bench/storage.py``.

For each datalayer — the local folder used in-process (``local()``), the local datalayer over
HTTP (a standalone server, a remote-mode client), S3 (moto's server; a Python S3 emulator, so
its absolute figures are moto's, the ratio is what matters) — with a 1 GiB float32 image
(``BENCH_STORAGE_MIB`` to change), zarr v3 chunks of 4 MiB, Blosc-zstd:

- upload with ``from_xarray`` vs raw zarr writing the same array to the same backend;
- full read with ``img.data.values`` and with ``get_image(id).read()`` vs raw zarr reading it
  back;
- latency of reading one chunk of a stored image (random chunks);
- peak client memory while uploading a 1 GiB dask array (a client process of its own), and
  with ``pyramid=True`` (levels made while uploading, never held whole);
- tables: ``from_df`` of a 2M-row measurement table (``BENCH_TABLE_ROWS``) in MB/s of its
  in-memory (arrow) size, full read with ``df()``, and a selective ``query`` (one row group of
  ~30 may match) vs the full read, with the bytes each fetched.

``BENCH_STORAGE_ONLY=tables`` runs the table rows only, ``BENCH_STORAGE_ONLY=images`` the
image rows, ``BENCH_STORAGE_ONLY=memory`` the two memory rows (``BENCH_STORAGE_MIB=4096`` for
the 4 GiB case).

Images (``python bench/storage.py images`` also runs only these), in-process folder, a
``BENCH_IMAGE_MIB`` (256) MiB float32 image:

- whole read: ``img.read()``, ``img.data.values`` and raw zarr (``zarr.open_array(...)[...]``
  on the image's own level-0 array), alternated;
- one 1024 x 1024 tile of level 0 through ``img.data`` (the cost of one chunk read);
- a pyramid upload (``pyramid=True``) against the same image without levels.

Targets are from the issue; they are reported, not asserted.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from koil import unkoil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import zarr  # noqa: E402
from core import PASSWORD, free_port, percentile, print_table  # noqa: E402

from arkitekt import easy, from_df, from_xarray, get_image, local  # noqa: E402
from arkitekt.services.storage import api  # noqa: E402
from arkitekt.services.storage.arrays import compressors  # noqa: E402

SIZE_MIB = int(os.environ.get("BENCH_STORAGE_MIB", "1024"))
TABLE_ROWS = int(os.environ.get("BENCH_TABLE_ROWS", "2000000"))
ONLY = os.environ.get("BENCH_STORAGE_ONLY", "")
PLANE = (2048, 2048)
CHUNKS = (1, 1024, 1024)
RUNS = 2
READ_RUNS = 5
"""Full reads are short and noisy on a small VM (fresh 1 GiB allocations): more runs."""
CHUNK_READS = 40


def timed(action: Callable[[], Any], runs: int = RUNS) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def tile_latencies(lazy: Any, planes: int) -> list[float]:
    """Seconds of ``CHUNK_READS`` reads of one random 1024 x 1024 tile (one chunk) of
    ``lazy``, a (planes, 2048, 2048) image's data."""
    latencies = []
    for _ in range(CHUNK_READS):
        z, y, x = random.randrange(planes), random.randrange(2) * 1024, random.randrange(2) * 1024
        started = time.perf_counter()
        _ = lazy[z, y : y + 1024, x : x + 1024].values
        latencies.append(time.perf_counter() - started)
    return latencies


def mb_per_s(times: list[float]) -> float:
    return SIZE_MIB * (1 << 20) / statistics.median(times) / 1e6


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    import httpx

    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(20)


@contextlib.contextmanager
def standalone(data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {"ARKITEKT_DATA_DIR": str(data_dir), **env}
    command = [sys.executable, "-m", "arkitekt.cli"]
    with process(
        [*command, "server", "--port", str(port), "--log-level", "warning"],
        env,
        f"http://127.0.0.1:{port}/health",
    ):
        subprocess.run(
            [*command, "user", "add", "bench", "--password", PASSWORD],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        yield f"http://127.0.0.1:{port}"


def raw_store(app: Any, backend: str, scratch: Path, s3: dict[str, str] | None, run: int) -> Any:
    """A fresh zarr store on the same backend, written without the SDK."""
    from obstore.store import HTTPStore, S3Store
    from zarr.storage import LocalStore, ObjectStore

    if backend == "local (in-process folder)":
        return LocalStore(scratch / "raw" / str(run))
    if backend == "local over HTTP":
        upload = unkoil(  # a write grant, used by plain zarr over HTTP
            api.arequest_image_upload,
            api.ImageUploadInput(name="raw", shape=(1,), dims=("x",), dtype="uint8", chunks=(1,)),
            client=app.storage.graphql,
        )
        grant = upload.grant
        return ObjectStore(
            HTTPStore.from_url(
                grant.url,
                client_options={
                    "allow_http": True,
                    "default_headers": {"authorization": f"Bearer {grant.token}"},
                },
            )
        )
    assert s3 is not None
    return ObjectStore(
        S3Store(
            s3["bucket"],
            prefix=f"raw/{run}",
            endpoint=s3["endpoint"],
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
    )


def bench_backend(
    app: Any, backend: str, scratch: Path, s3: dict[str, str] | None
) -> list[list[str]]:
    rng = np.random.default_rng(0)
    planes = SIZE_MIB // 16
    data = rng.random((planes, *PLANE), dtype=np.float32)
    rows: list[list[str]] = []
    stored: list[Any] = []

    def upload() -> None:
        stored.append(from_xarray(data, name="bench", dims=["z", "y", "x"], chunks=CHUNKS))

    up = timed(upload)
    stores = [raw_store(app, backend, scratch, s3, run) for run in range(RUNS)]
    runs = iter(stores)

    def raw_write() -> None:
        target = zarr.create_array(
            next(runs),
            shape=data.shape,
            dtype=data.dtype,
            chunks=CHUNKS,
            compressors=compressors(),
            dimension_names=["z", "y", "x"],
        )
        target[:] = data

    raw_up = timed(raw_write)
    image = get_image(stored[-1].id)
    os.sync()  # what the writes left dirty must not slow down whichever read comes first
    down: list[float] = []
    raw_down: list[float] = []
    whole: list[float] = []

    def read() -> None:
        values = get_image(image.id).data.values
        assert values.shape == data.shape

    def read_whole() -> None:
        values = get_image(image.id).read()
        assert values.shape == data.shape

    def raw_read() -> None:
        values = zarr.open_array(stores[0], mode="r")[:]
        assert values.shape == data.shape

    read(), raw_read(), read_whole()  # warm-up: thread pools, codecs, connections
    for _ in range(READ_RUNS):  # alternate, so neither side always reads a warmer cache
        down += timed(read, 1)
        raw_down += timed(raw_read, 1)
        whole += timed(read_whole, 1)
    ratio_up = statistics.median(raw_up) / statistics.median(up)
    ratio_down = statistics.median(raw_down) / statistics.median(down)
    rows.append(
        [
            f"{backend}: upload",
            f"{mb_per_s(up):.0f} MB/s",
            "",
            f"raw zarr {mb_per_s(raw_up):.0f} MB/s",
            f"{ratio_up:.0%} of raw",
            ">= 80% of raw",
        ]
    )
    rows.append(
        [
            f"{backend}: full read",
            f"{mb_per_s(down):.0f} MB/s",
            "",
            f"raw zarr {mb_per_s(raw_down):.0f} MB/s",
            f"{ratio_down:.0%} of raw",
            ">= 80% of raw",
        ]
    )
    rows.append(
        [
            f"{backend}: full read, get_image(id).read()",
            f"{mb_per_s(whole):.0f} MB/s",
            "",
            f"raw zarr {mb_per_s(raw_down):.0f} MB/s",
            f"{statistics.median(raw_down) / statistics.median(whole):.0%} of raw",
            ">= 80% of raw",
        ]
    )

    lazy = image.data
    _ = lazy[0, :1024, :1024].values  # warm the connection
    latencies = tile_latencies(lazy, planes)
    rows.append(
        [
            f"{backend}: read one 4 MiB chunk",
            f"{statistics.median(latencies) * 1000:.1f} ms",
            f"{percentile(latencies, 99) * 1000:.1f} ms",
            "",
            "",
            "<= 50 ms",
        ]
    )
    for img in stored:
        img.delete()
    return rows


def bench_tables(backend: str) -> list[list[str]]:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = TABLE_ROWS
    df = pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "frame": np.arange(n, dtype="int32") // 1000,
            "area": rng.gamma(4.0, 50.0, n),
            "x": rng.random(n) * 2048,
            "y": rng.random(n) * 2048,
            "label": pd.Categorical(rng.choice(["nucleus", "cytoplasm", "debris"], n)).astype(
                "string"
            ),
        }
    )
    import pyarrow as pa

    nbytes = pa.Table.from_pandas(df, preserve_index=False).nbytes
    stored: list[Any] = []
    up = timed(lambda: stored.append(from_df(df, name="bench-table")))
    table = stored[-1]
    full: list[float] = []
    selective: list[float] = []
    where = f"frame >= {n // 1000 - 20}"  # the last 20k rows: one row group may match
    for _ in range(READ_RUNS):
        full += timed(lambda: table.df(), 1)
        full_bytes = table.read_stats.bytes
        selective += timed(lambda: table.query(where, columns=["id", "area"]), 1)
        query_bytes = table.read_stats.bytes
    rate = nbytes / 1e6
    rows = [
        [
            f"{backend}: table write ({n:,} rows)",
            f"{rate / statistics.median(up):.0f} MB/s",
            "",
            f"{table.size_bytes / 1e6:.1f} MB parquet, {table.num_row_groups} row groups",
            f"{nbytes / 1e6:.0f} MB in memory",
            "",
        ],
        [
            f"{backend}: table full read (df())",
            f"{rate / statistics.median(full):.0f} MB/s",
            "",
            f"{statistics.median(full) * 1000:.0f} ms",
            f"{full_bytes / 1e6:.1f} MB fetched",
            "",
        ],
        [
            f"{backend}: table selective query",
            f"{statistics.median(selective) * 1000:.0f} ms",
            "",
            f"{statistics.median(full) / statistics.median(selective):.0f}x faster than df()",
            f"{query_bytes / 1e6:.2f} MB fetched",
            "reads only matching row groups",
        ],
    ]
    for item in stored:
        item.delete()
    return rows


MEMORY_CLIENT = """
import sys, time
import dask.array as da
from arkitekt import easy, from_xarray
size_mib = int(sys.argv[2])
pyramid = sys.argv[4] == "pyramid"
with easy("bench-memory", url=sys.argv[1], username="bench", password=sys.argv[3], no_cache=True):
    shape = (size_mib // 16, 2048, 2048)
    lazy = da.random.default_rng(1).random(shape, chunks=(1, 1024, 1024), dtype="float32")
    from_xarray(lazy[:1], name="warm-up", dims=["z", "y", "x"])
    def status(field):  # VmHWM is this process's peak (ru_maxrss would include the parent's)
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    before = status("VmRSS:")
    started = time.perf_counter()
    image = from_xarray(lazy, name="dask", dims=["z", "y", "x"], pyramid=pyramid)
    elapsed = time.perf_counter() - started
    peak = status("VmHWM:")
    image.delete()
print(before, peak, elapsed)
"""


def bench_memory(url: str, *, pyramid: bool = False) -> list[str]:
    # the server writes GiBs to disk: each run starts with none of the last run's pages dirty,
    # or it pays for their writeback (the second of two runs measured 1.5x slower for it)
    os.sync()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_CLIENT,
            url,
            str(SIZE_MIB),
            PASSWORD,
            "pyramid" if pyramid else "flat",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    before, peak, elapsed = (float(v) for v in out[-3:])
    return [
        f"dask upload of {SIZE_MIB} MiB{' with pyramid' if pyramid else ''} over HTTP: client "
        "peak RSS",
        f"{peak:.0f} MiB",
        "",
        f"{SIZE_MIB * 1.048576 / elapsed:.0f} MB/s",
        f"+{peak - before:.0f} MiB over the client before the upload",
        "<= 64 MiB (4 GiB, pyramid)",
    ]


IMAGE_MIB = int(os.environ.get("BENCH_IMAGE_MIB", "256"))


def bench_images(app: Any) -> list[list[str]]:
    """Whole reads, one tile, and the cost of a pyramid, on the in-process folder."""
    rows: list[list[str]] = []
    planes = max(1, IMAGE_MIB // 16)
    data = np.random.default_rng(0).random((planes, *PLANE), dtype=np.float32)
    nbytes = data.nbytes

    def rate(times: list[float]) -> str:
        return f"{nbytes / statistics.median(times) / 1e6:.0f} MB/s"

    image = from_xarray(data, name="bench-read", dims=["z", "y", "x"], chunks=CHUNKS)
    grant = unkoil(api.aimage_grant, image.id, client=app.storage.graphql)
    folder = app.storage._folder(grant)
    assert folder is not None, "the in-process folder"
    os.sync()

    held = get_image(image.id)
    held.read()  # its grant and store are made once per Image object

    def ours_read() -> None:
        assert held.read().shape == data.shape

    def ours_values() -> None:
        held._data = None  # open again: the dask graph is part of the cost
        assert held.data.values.shape == data.shape

    def raw() -> None:
        assert zarr.open_array(zarr.storage.LocalStore(folder / "0"), mode="r")[...].shape == (
            data.shape
        )

    readers = {"read()": ours_read, ".data.values": ours_values, "raw zarr": raw}
    times: dict[str, list[float]] = {name: [] for name in readers}
    for action in readers.values():
        action()  # warm-up
    for _ in range(READ_RUNS):  # alternate, so none always reads a warmer cache
        for name, action in readers.items():
            times[name] += timed(action, 1)
    raw_median = statistics.median(times["raw zarr"])
    for name in ("read()", ".data.values", "raw zarr"):
        share = raw_median / statistics.median(times[name])
        rows.append(
            [
                f"image {IMAGE_MIB} MiB: whole read, {name}",
                f"{statistics.median(times[name]) * 1000:.0f} ms",
                f"{max(times[name]) * 1000:.0f} ms",
                rate(times[name]),
                f"{share:.0%} of raw",
                ">= 80% of raw" if name != "raw zarr" else "",
            ]
        )
    lazy = get_image(image.id).data
    latencies = tile_latencies(lazy, planes)
    rows.append(
        [
            "image: read one 1024 x 1024 tile of level 0",
            f"{statistics.median(latencies) * 1000:.1f} ms",
            f"{percentile(latencies, 99) * 1000:.1f} ms",
            "",
            "",
            "= one chunk read",
        ]
    )
    rows += bench_pyramid(data)
    image.delete()
    return rows


def bench_pyramid(data: np.ndarray[Any, Any]) -> list[list[str]]:
    """Writing with ``pyramid=True`` against level 0 alone (the same array)."""
    plain: list[float] = []
    pyramid: list[float] = []
    for _ in range(3):  # alternate, as the reads do
        plain += timed(lambda: from_xarray(data, name="flat", dims=["z", "y", "x"]).delete(), 1)
        pyramid += timed(
            lambda: from_xarray(data, name="pyr", dims=["z", "y", "x"], pyramid=True).delete(), 1
        )
    cost = statistics.median(pyramid) / statistics.median(plain)
    return [
        [
            "image: upload with pyramid vs level 0 alone",
            f"{statistics.median(pyramid) * 1000:.0f} ms",
            "",
            f"level 0 alone {statistics.median(plain) * 1000:.0f} ms",
            f"{cost:.2f}x",
            "<= 1.4x",
        ]
    ]


def main() -> None:
    rows: list[list[str]] = []
    if ONLY == "memory":
        with tempfile.TemporaryDirectory() as folder, standalone(Path(folder), {}) as url:
            rows = [bench_memory(url), bench_memory(url, pyramid=True)]
        headers = ["measurement", "median", "p99", "throughput", "memory", "target"]
        print_table(headers, rows)
        return
    if sys.argv[1:] == ["images"] or ONLY == "images":
        with (
            tempfile.TemporaryDirectory() as folder,
            local("bench-storage", data_dir=Path(folder) / "integrated") as app,
        ):
            rows += bench_images(app)
        headers = ["measurement", "median", "p99/max", "throughput", "vs raw", "target"]
        print_table(headers, rows)
        return
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        with local("bench-storage", data_dir=scratch / "integrated") as app:
            if ONLY != "tables":
                rows += bench_backend(app, "local (in-process folder)", scratch, None)
                rows += bench_images(app)
            rows += bench_tables("local (in-process folder)")
        with standalone(scratch / "standalone", {}) as url:
            with easy(
                "bench-storage", url=url, username="bench", password=PASSWORD, no_cache=True
            ) as app:
                if ONLY != "tables":
                    rows += bench_backend(app, "local over HTTP", scratch, None)
                rows += bench_tables("local over HTTP")
            if ONLY != "tables":
                rows.append(bench_memory(url))
                rows.append(bench_memory(url, pyramid=True))
        moto_port = free_port()
        endpoint = f"http://127.0.0.1:{moto_port}"
        with process(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            {},
            f"{endpoint}/moto-api/",
        ):
            s3_env = {
                "ARKITEKT_DATALAYER": "s3",
                "ARKITEKT_S3_ENDPOINT_URL": endpoint,
                "ARKITEKT_S3_BUCKET": "bench",
                "ARKITEKT_S3_ACCESS_KEY_ID": "testing",
                "ARKITEKT_S3_SECRET_ACCESS_KEY": "testing",
            }
            with (
                standalone(scratch / "s3", s3_env) as url,
                easy(
                    "bench-storage", url=url, username="bench", password=PASSWORD, no_cache=True
                ) as app,
            ):
                if ONLY != "tables":
                    rows += bench_backend(
                        app, "S3 (moto)", scratch, {"bucket": "bench", "endpoint": endpoint}
                    )
                rows += bench_tables("S3 (moto)")

    print_table(["measurement", "median", "p99", "throughput", "vs raw / memory", "target"], rows)


if __name__ == "__main__":
    main()
