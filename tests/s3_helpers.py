"""A real S3-compatible server for tests: moto's server in a subprocess on loopback.

moto issues STS credentials and stores objects like S3 does, but does not evaluate session
policies (see :mod:`arkitekt.server.storage.s3`).

Use the ``s3_endpoint`` fixture by registering this module as a plugin (in ``conftest.py`` or
a test module)::

    pytest_plugins = ["s3_helpers"]
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"
S3_REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(timeout: float = 20) -> Iterator[str]:
    """Run ``python -m moto.server`` on a free loopback port; yields its endpoint URL."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {process.returncode}")
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"moto's server did not answer within {timeout} s")
            time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto server shared by the test session (credentials: ``testing``)."""
    with moto_server() as endpoint:
        yield endpoint


def s3_server_config_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The ``ARKITEKT_*`` variables for a server whose datalayer is ``bucket`` at ``endpoint``."""
    return {
        "ARKITEKT_DATALAYER": "s3",
        "ARKITEKT_S3_ENDPOINT_URL": endpoint,
        "ARKITEKT_S3_BUCKET": bucket,
        "ARKITEKT_S3_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "ARKITEKT_S3_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
        "ARKITEKT_S3_REGION": S3_REGION,
    }
