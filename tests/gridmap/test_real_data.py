"""The whole pipeline on real geometry: twelve Denver census tracts, blocks as units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from gridmap import LayerSpec
from partition.measures import coverage_ratio, overlap_area, pieces
from tests.helpers import run_files

DATA = Path(__file__).resolve().parents[1] / "data" / "denver_tracts.gpkg"


@pytest.fixture(scope="module")
def denver():
    config = dict(
        addresses=LayerSpec(DATA, "addresses"), boundaries=LayerSpec(DATA, "boundaries"), units=LayerSpec(DATA, "units")
    )
    result = run_files(**config)
    work = result.work_crs
    return result, result.grids.to_crs(work), result.addresses.to_crs(work), result.boundaries.to_crs(work)


def test_grids_tile_every_tract_exactly_without_overlap(denver):
    _, grids, _, boundaries = denver
    for code, geom in zip(boundaries["code"], boundaries.geometry.values, strict=True):
        mine = grids.loc[grids["village_code"].eq(code)].geometry.values
        assert coverage_ratio(mine, geom) < 1e-9, code
        assert overlap_area(mine) < 1e-6 * geom.area, code


def test_every_address_is_in_exactly_one_grid_and_inside_it(denver):
    _, grids, addresses, _ = denver
    assert addresses["grid_code"].notna().all()
    polys = grids.set_index("grid_code").geometry
    own = polys.loc[addresses["grid_code"]].values
    assert shapely.covers(own, addresses.geometry.values).all()
    assert grids["households"].sum() == addresses["households"].sum()


def test_grids_are_contiguous_and_in_band_or_flagged_with_a_reason(denver):
    _, grids, _, _ = denver
    parts = pieces(grids.geometry.values)
    assert ((parts == 1) | grids["status"].eq("enclave").to_numpy()).all()
    inside = grids["households"].between(grids["min_households"], grids["max_households"])
    out = grids[~inside]
    assert out["status"].ne("ok").all() and out["flag"].ne("").all() and out["note"].str.len().gt(20).all()
    forced = grids["flag"].isin(["unit_over_max", "no_feasible_k"])
    assert inside[~forced].mean() >= 0.99
    # an over-max flag names the block that alone is too big
    for note, hh in zip(
        grids.loc[grids["flag"].eq("unit_over_max"), "note"],
        grids.loc[grids["flag"].eq("unit_over_max"), "households"],
        strict=True,
    ):
        assert f"{hh:.0f} households" in note


def test_codes_are_unique_and_carry_the_tract_code(denver):
    _, grids, _, _ = denver
    assert grids["grid_code"].is_unique
    assert (grids["grid_code"].str[:12] == grids["village_code"]).all()
    assert np.all(grids["grid_code"].str.len() == 15)
