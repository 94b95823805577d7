"""Tables: per-cell measurements of an image, stored as parquet and queried by condition.

Run it with ``python examples/tables.py``. It stores an image and a table of measurements
linked to it, reads the table back whole, asks for the large cells only (just the row groups
that may hold them are read), finds the table through its image, then tidies up.
"""

import numpy as np
import pandas as pd

from arkitekt import easy, from_df, from_xarray, tables


def main() -> None:
    rng = np.random.default_rng(0)
    with easy("tables-example"):
        img = from_xarray(rng.random((256, 256), dtype=np.float32), name="cells", dims=["y", "x"])
        n = 200_000
        cells = pd.DataFrame(
            {
                "cell": np.arange(n),
                "area": np.sort(rng.gamma(4.0, 50.0, n)),  # sorted: row groups by size
                "label": rng.choice(["nucleus", "cytoplasm"], n),
            }
        )
        table = from_df(cells, name="measurements", image=img)
        print(table)
        assert table.df().equals(cells)
        large = table.query("area > 600 and label == 'nucleus'", columns=["cell", "area"])
        print(
            f"{len(large)} large nuclei; read {table.read_stats.bytes:,} of "
            f"{table.size_bytes:,} bytes"
        )
        print([t.name for t in tables(image=img)])
        table.delete()
        img.delete()


if __name__ == "__main__":
    main()
