"""Helpers shared by test modules: run the library on input files as the CLI does."""

from __future__ import annotations

from typing import Any

import gridmap


def run_files(
    addresses: Any,
    boundaries: Any,
    *,
    units: Any = None,
    exclusive: Any = None,
    barriers: Any = (),
    previous: Any = None,
    progress: Any = None,
    **options: Any,
) -> gridmap.GridResult:
    """Read input files and grid them through the public API, as ``gridmap partition`` does.

    Keywords other than the layers and `progress` are :class:`gridmap.Options` fields.
    """
    layers = {"units": units, "exclusive": exclusive, "barriers": barriers or (), "previous": previous}
    return gridmap.grid_files(addresses, boundaries, **layers, options=gridmap.Options(**options), progress=progress)


def assert_cells_make_grids(result: gridmap.GridResult) -> None:
    """Every grid of `result` is the union of its cells and holds their households (cells of live grids only)."""
    import numpy as np
    import shapely

    work = result.work_crs
    assert result.cells is not None
    grids, cells = result.grids.to_crs(work), result.cells.to_crs(work)
    assert set(cells["grid_code"]) == set(grids["grid_code"])
    assert cells["cell_id"].is_unique
    households = cells.groupby("grid_code")["households"].sum()
    np.testing.assert_array_equal(households.reindex(grids["grid_code"]).to_numpy(), grids["households"].to_numpy())
    members = cells.groupby("grid_code").indices
    geoms = cells.geometry.values
    for code, geom in zip(grids["grid_code"], grids.geometry.values, strict=True):
        union = shapely.union_all(geoms[members[code]])
        assert shapely.area(shapely.symmetric_difference(union, geom)) <= 1e-6 * max(shapely.area(geom), 1.0), code


def town_args(town: dict, out) -> list[str]:
    """``gridmap -q partition`` on the test town's addresses and boundaries into `out` (add options after it)."""
    gpkg = str(town["gpkg"])
    layers = ["--addresses-layer", "addresses", "--boundaries-layer", "boundaries"]
    return ["-q", "partition", "--addresses", gpkg, "--boundaries", gpkg, *layers, "--out", str(out)]
