"""Tests for ``lab.py``, run against a real server by the ``arkitekt.testing`` pytest plugin.

Run them with ``python -m pytest examples/testing``: no deployment, no Docker. The fixtures
``arkitekt_app`` and ``arkitekt_app_factory`` come from the plugin (nothing to import).
"""

from __future__ import annotations

import lab  # registers its functions (@register at module level serves them from every app)
import numpy as np
import pytest
import xarray as xr

from arkitekt import (
    App,
    Image,
    NodeNotFoundError,
    call,
    find,
    from_xarray,
    iterate,
)
from arkitekt.testing import AppFactory


def test_greet(arkitekt_app: App) -> None:
    arkitekt_app.serve()  # the app serves lab's functions in the background ...
    greet = find(interface="greet")  # ... and calls them, through the server
    assert call(greet, "Ada") == "Hello Ada!"
    assert greet("Bob") == "Hello Bob!"
    assert lab.greet("local") == "Hello local!"  # still a plain function too


def test_generator_streams(arkitekt_app: App) -> None:
    arkitekt_app.serve()
    assert list(iterate(find(interface="fibonacci"), 8)) == [0, 1, 1, 2, 3, 5, 8, 13]


def test_image_in_image_out(arkitekt_app: App) -> None:
    arkitekt_app.serve()
    pixels = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16)
    image = from_xarray(xr.DataArray(pixels, dims=["z", "y", "x"]), name="cells")
    brighter = call(find(interface="brighten"), image, factor=3.0)
    assert isinstance(brighter, Image)
    assert brighter.name == "cells x3"
    assert brighter.dims == image.dims
    np.testing.assert_allclose(brighter.data.values, pixels * 3)


def test_alice_shares_with_bob(arkitekt_app_factory: AppFactory) -> None:
    alice = arkitekt_app_factory("alice", "lab-agent")
    alice.serve()
    bob = arkitekt_app_factory("bob", "lab-client")
    with pytest.raises(NodeNotFoundError):  # alice's functions are hers until she shares
        find(interface="greet", app=bob)
    assert alice.rpc.share("greet", users=["bob"]) == ["bob"]
    assert call(find(interface="greet", owner="alice", app=bob), "Bob") == "Hello Bob!"
