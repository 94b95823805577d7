"""ROIs and datasets, on the integrated server (or ARKITEKT_URL's).

Run it with ``python examples/rois_and_datasets.py``. It stores a stack, marks two cells on it,
reads one cell's crop (only the chunks under it are fetched), groups the stack and a derived
mask in a dataset with a child per day, lists what is in it, then tidies up.
"""

import numpy as np
import xarray as xr

from arkitekt import dataset, easy, from_xarray, rois


def main() -> None:
    with easy("rois-example"):
        values = np.random.default_rng(0).random((4, 256, 256), dtype=np.float32)
        stack = from_xarray(xr.DataArray(values, dims=["z", "y", "x"]), name="stack")
        cell = stack.add_roi(kind="rectangle", vectors=[[0, 10, 10], [3, 50, 80]], label="cell 1")
        stack.add_roi(kind="ellipse", vectors=[[2, 120, 120], [0, 20, 30]], label="cell 2")
        print([f"{r.label}: {r.geometry}" for r in rois(stack)])

        crop = cell.crop()  # lazy: reads only the chunks under the box
        print(dict(crop.data.sizes))
        assert np.array_equal(crop.data.values, values[0:4, 10:51, 10:81])

        mask = from_xarray((stack.data > 0.5).astype("uint8"), name="stack > 0.5")
        experiment = dataset("experiment 12")
        day1 = dataset("day 1", parent=experiment)
        day1.add(stack, mask)
        print(experiment.name, "->", [d.name for d in experiment.children()])
        print(sorted(i.name for i in day1.images()))

        experiment.delete()  # its children go with it; the images stay
        for image in (stack, mask):
            image.delete()  # and their ROIs with them


if __name__ == "__main__":
    main()
