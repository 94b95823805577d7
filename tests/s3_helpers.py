"""A real S3-compatible server for tests: moto's server in a subprocess on loopback.

moto issues STS credentials and stores objects like S3 does, but does not evaluate session
policies (see :mod:`arkitekt.server.storage.s3`).

Use the ``s3_endpoint`` fixture by registering this module as a plugin (in ``conftest.py`` or
a test module)::

    pytest_plugins = ["s3_helpers"]
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from servers import env_variables, free_port, stop_process, wait_healthy

S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"
S3_REGION = "us-east-1"


@contextmanager
def moto_server(timeout: float = 20) -> Iterator[str]:
    """Run ``python -m moto.server`` on a free loopback port; yields its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(endpoint, process, timeout, path="/moto-api/")
        yield endpoint
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto server shared by the test session (credentials: ``testing``)."""
    with moto_server() as endpoint:
        yield endpoint


def s3_settings(endpoint: str, bucket: str | None = None) -> dict[str, Any]:
    """ServerConfig settings for a datalayer in ``bucket`` (default: a new one) at ``endpoint``."""
    return {
        "datalayer": "s3",
        "s3_endpoint_url": endpoint,
        "s3_bucket": bucket or f"arkitekt-{uuid.uuid4().hex[:12]}",
        "s3_access_key_id": S3_ACCESS_KEY_ID,
        "s3_secret_access_key": S3_SECRET_ACCESS_KEY,
        "s3_region": S3_REGION,
    }


def s3_server_config_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The ``ARKITEKT_*`` variables for a server whose datalayer is ``bucket`` at ``endpoint``."""
    return env_variables(s3_settings(endpoint, bucket))
