"""Helpers shared by test modules: run the library on input files as the CLI does."""

from __future__ import annotations

from typing import Any

import gridmap

READ_KEYS = ("units", "exclusive", "barriers", "previous", "input_crs", "x_col", "y_col", "encoding", "addresses_crs",
             "boundaries_crs", "units_crs", "exclusive_crs", "barriers_crs", "addresses_sheet")


def run_files(addresses: Any, boundaries: Any, **kw: Any) -> gridmap.GridResult:
    """Read input files with :func:`gridmap.read_inputs`, then grid them with :func:`gridmap.make_grids`."""
    read = {k: kw.pop(k) for k in READ_KEYS if k in kw}
    inputs = gridmap.read_inputs(addresses, boundaries, **read)
    return gridmap.make_grids(**inputs.frames(), **kw)
