"""Storage: images and files by reference, on the integrated server (or ARKITEKT_URL's).

Run it with ``python examples/storage.py``. It stores a 4-D image as OME-Zarr (its channel
names, pixel size and unit from its coordinates), reads one plane back (only that plane's
chunks are fetched) and then all of it, lists images by name and tag, stores a file and
downloads it, then tidies up.
"""

import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from arkitekt import delete, easy, from_file, from_xarray, get_image, images


def main() -> None:
    with easy("storage-example"):
        stack = xr.DataArray(
            np.random.default_rng(0).random((2, 32, 512, 512), dtype=np.float32),
            dims=["c", "z", "y", "x"],
            coords={
                "c": ["DAPI", "GFP"],
                "z": ("z", np.arange(32) * 0.5, {"units": "um"}),
                "y": ("y", np.arange(512) * 0.1, {"units": "um"}),
                "x": ("x", np.arange(512) * 0.1, {"units": "um"}),
            },
        )
        img = from_xarray(stack, name="cells", tags=["example"])
        print(img)
        assert img.scale["z"] == 0.5 and img.units["x"] == "micrometer"
        assert [c.name for c in img.channels] == ["DAPI", "GFP"]
        plane = img.data.sel(c="DAPI", z=5.0).compute()  # reads one chunk of 64
        assert np.array_equal(plane.values, stack.sel(c="DAPI", z=5.0).values)
        assert img.read().equals(stack)  # the whole image, coordinates included

        # a dask array is computed and uploaded a few chunks at a time, never whole
        lazy = da.random.default_rng(1).random((8, 1024, 1024), chunks=(1, 1024, 1024))
        streamed = from_xarray(lazy, name="streamed", dims=["t", "y", "x"], tags=["example"])

        print([i.name for i in images(tags=["example"])])
        assert get_image(img.id) == img

        with tempfile.TemporaryDirectory() as folder:
            notes = Path(folder) / "notes.txt"
            notes.write_text("acquired on the spinning disk\n")
            stored = from_file(notes)
            copy = stored.download(Path(folder) / "copy.txt")
            print(f"{stored.name}: {copy.read_text().strip()!r}")

        for item in (img, streamed, stored):
            delete(item)


if __name__ == "__main__":
    main()
