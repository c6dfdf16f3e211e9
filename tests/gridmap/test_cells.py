"""The cells layer: the partition a run is made of, written with the run and read back unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gridmap import read_run
from tests.helpers import assert_cells_make_grids


def test_a_saved_run_reads_back_the_cells_its_grids_are_made_of(sample_run, tmp_path):
    assert_cells_make_grids(sample_run)
    assert sample_run.cells.crs == sample_run.work_crs  # where the cells tile exactly
    back = read_run(sample_run.save(tmp_path / "run", maps=False))
    cols = ["cell_id", "grid_code", "village_code", "households", "units", "unit_id", "label", "group", "compound"]
    pd.testing.assert_frame_equal(
        back.cells[cols].astype(object).where(back.cells[cols].notna(), None),
        sample_run.cells[cols].astype(object).where(sample_run.cells[cols].notna(), None),
    )
    # the same coordinates (the GeoPackage stores every cell as a MultiPolygon)
    np.testing.assert_array_equal(
        shapely.get_coordinates(back.cells.geometry.values), shapely.get_coordinates(sample_run.cells.geometry.values)
    )
    assert shapely.equals(back.cells.geometry.values, sample_run.cells.geometry.values).all()
    assert_cells_make_grids(back)
    # cells without households are there too: parks, roads' pieces, the exclusive areas
    assert (back.cells["households"] == 0).any()
    excl = back.grids.loc[back.grids["grid_type"].ne("base"), "grid_code"]
    assert back.cells["grid_code"].isin(excl).any()
    assert np.isin(back.cells["grid_code"], back.grids["grid_code"]).all()
