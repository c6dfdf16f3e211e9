"""Helpers shared by test modules: run the library on input files as the CLI does."""

from __future__ import annotations

from typing import Any

import gridmap

READ_KEYS = (
    "units",
    "exclusive",
    "barriers",
    "previous",
    "input_crs",
    "x_col",
    "y_col",
    "encoding",
    "addresses_crs",
    "boundaries_crs",
    "units_crs",
    "exclusive_crs",
    "barriers_crs",
    "addresses_sheet",
)


def run_files(addresses: Any, boundaries: Any, **kw: Any) -> gridmap.GridResult:
    """Read input files with :func:`gridmap.read_inputs`, then grid them with :func:`gridmap.make_grids`."""
    read = {k: kw.pop(k) for k in READ_KEYS if k in kw}
    inputs = gridmap.read_inputs(addresses, boundaries, **read)
    return gridmap.make_grids(**inputs.frames(), **kw)


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
