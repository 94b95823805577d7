"""Quickstart: the integrated server in this process; serve a function, call it, store an image.

Run it with ``python examples/quickstart.py``; nothing else needs to run.
Set ARKITEKT_DATA_DIR to keep the server's data somewhere else than the user data folder.
"""

import numpy as np
import xarray as xr

from arkitekt import Image, call, find, from_xarray, get_current_app, local


def main() -> None:
    with local("quickstart") as app:  # starts the server, logs in as the local user
        assert get_current_app() is app
        health = app.http_get("/health").json()
        print(f"server {app.server.url} is {health['status']} (version {health['version']})")
        print(f"logged in as {app.auth.user.username} (app {app.identifier})")

        @app.register
        def greet(name: str, times: int = 1) -> str:
            """Say hello.  name: who to greet"""
            return " ".join([f"Hello {name}!"] * times)

        @app.register
        def brightest(image: Image) -> float:
            """The largest value of an image (it arrives by reference, read lazily)."""
            return float(image.data.max().compute())

        app.serve()  # this app is its own agent here; another process could be
        print(call(find(interface="greet"), "world", times=2))

        cells = xr.DataArray(np.random.rand(2, 16, 256, 256), dims=["c", "z", "y", "x"])
        image = from_xarray(cells, name="cells")  # stored as zarr; only its id travels
        print(f"stored {image.name!r}: {dict(zip(image.dims, image.shape, strict=True))}")
        print(f"brightest pixel: {call(find(interface='brightest'), image):.3f}")
        image.delete()
    print("server stopped")


if __name__ == "__main__":
    main()
