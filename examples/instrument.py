"""An instrument agent: a simulated motorised stage and camera, served until stopped (Ctrl-C).

What an instrument needs, in one file:

- ``@state``: where the stage is and what the camera does, published live to the users of the
  agent (``get_state(node, Stage)``, ``watch_state(...)``, the dashboard);
- ``@startup``/``@shutdown``: open the hardware once before serving, close it on the way out
  (Ctrl-C included); ``@background``: poll a sensor for as long as the agent serves;
- ``locks=["stage"]``: moving and snapping never drive the stage at the same time, and every
  function runs one call at a time unless it says otherwise (``concurrency=4`` for the pure
  computation); waiting calls show ``queued`` to their callers;
- ``thread="camera"``: the camera SDK is only ever called from the one thread that opened it.

Run it against a server (``ARKITEKT_URL=... python examples/instrument.py``) and call it::

    with easy("scope-user"):
        move = find(interface="move")
        move(100.0, 50.0)
        print(get_state(move, Stage))

``INSTRUMENT_WARMUP`` (seconds, default 0) makes the camera warm up at start-up.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from arkitekt import (
    Image,
    background,
    check_cancelled,
    easy,
    from_xarray,
    progress,
    register,
    shutdown,
    startup,
    state,
)


@state
@dataclass
class Stage:
    """The motorised stage (micrometres)."""

    x: float = 0.0
    y: float = 0.0
    busy: bool = False
    temperature: float = 21.0
    moves: int = 0


@state
@dataclass
class Camera:
    """The camera, and the thread its SDK is bound to."""

    connected: bool = False
    exposure_ms: float = 10.0
    frames: int = 0
    thread: str = ""
    history: list[str] = field(default_factory=list)


@startup(thread="camera")
def connect(camera: Camera) -> None:
    """Open the camera (on its thread) and let it warm up."""
    warmup = float(os.environ.get("INSTRUMENT_WARMUP", "0"))
    deadline = time.monotonic() + warmup
    print("instrument warming up", flush=True)
    while time.monotonic() < deadline:
        check_cancelled()  # Ctrl-C during the warm-up stops here
        time.sleep(0.05)
    camera.connected = True
    camera.thread = threading.current_thread().name
    print("instrument connected", flush=True)


@shutdown(thread="camera")
def disconnect(camera: Camera, stage: Stage) -> None:
    """Close the camera; park the stage."""
    camera.connected = False
    stage.busy = False
    print("instrument disconnected", flush=True)


@background
async def poll_temperature(stage: Stage) -> None:
    """Read the stage's temperature sensor every half second."""
    started = time.monotonic()
    while True:
        stage.temperature = round(21.0 + 0.5 * math.sin(time.monotonic() - started), 3)
        await asyncio.sleep(0.5)


@register(locks=["stage"])
def move(x: float, y: float, stage: Stage, speed: float = 1000.0) -> tuple[float, float]:
    """Move the stage to (x, y).

    Args:
        x: target x (micrometres)
        y: target y (micrometres)
        speed: micrometres per second

    Returns:
        the x reached
        the y reached
    """
    distance = math.hypot(x - stage.x, y - stage.y)
    steps = max(1, min(100, int(distance / speed / 0.01)))
    start_x, start_y = stage.x, stage.y
    stage.busy = True
    try:
        for i in range(1, steps + 1):
            progress(100 * i // steps)  # also where a cancelled move stops
            time.sleep(distance / speed / steps)
            stage.x = start_x + (x - start_x) * i / steps
            stage.y = start_y + (y - start_y) * i / steps
        stage.moves += 1
    finally:
        stage.busy = False
    return stage.x, stage.y


@register(locks=["stage"], thread="camera")
def snap(camera: Camera, stage: Stage, exposure_ms: float = 10.0, size: int = 64) -> Image:
    """Take a picture where the stage is (the stage must stand still meanwhile).

    Args:
        exposure_ms: exposure time in milliseconds
        size: the picture's width and height in pixels
    """
    if not camera.connected:
        raise RuntimeError("the camera is not connected")
    time.sleep(exposure_ms / 1000)
    camera.exposure_ms = exposure_ms
    camera.frames += 1
    camera.history.append(f"{stage.x:.1f},{stage.y:.1f}")
    rng = np.random.default_rng(camera.frames)
    pixels = rng.poisson(exposure_ms, size=(size, size)).astype("uint16")
    return from_xarray(xr.DataArray(pixels, dims=("y", "x")), name=f"frame {camera.frames}")


@register(concurrency=4)
def segment(image: Image, threshold: float = 0.5) -> Image:
    """Mark the pixels brighter than ``threshold`` of the image's maximum (runs 4 at a time).

    Args:
        image: the picture to segment
        threshold: fraction of the maximum
    """
    data = image.data.values
    mask = (data > threshold * data.max()).astype("uint8")
    return from_xarray(xr.DataArray(mask, dims=image.data.dims), name=f"{image.name} mask")


if __name__ == "__main__":
    with easy("instrument", version="1.0") as app:
        app.run()
