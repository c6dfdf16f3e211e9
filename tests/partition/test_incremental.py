"""Incremental regeneration: which previous grids are kept, and what is regridded around them."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from partition.grids import Village
from partition.incremental import KEPT_REASON, partition_incremental, valid_previous
from partition.measures import coverage_ratio, overlap_area
from partition.rules import Rule
from tests.conftest import ORIGIN, UTM, grid_points, square

CODE = "310115005001"


def community(west: float, east: float) -> gpd.GeoDataFrame:
    """Two 100 × 100 m halves of 25 address points each: `west` and `east` households in all.

    ::

        +----------+----------+
        |  west    |  east    |   previous grids 001 | 002
        +----------+----------+
    """
    w = grid_points(5, 5, households=west / 25)
    e = grid_points(5, 5, households=east / 25, origin=(ORIGIN[0] + 100, ORIGIN[1]))
    return gpd.GeoDataFrame(gpd.pd.concat([w, e], ignore_index=True), crs=UTM)


def previous(west: float = 400, east: float = 400) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"grid_code": [CODE + "001", CODE + "002"], "households": [west, east], "grid_type": "base"},
        geometry=[square(100, 100), square(100, 100, origin=(ORIGIN[0] + 100, ORIGIN[1]))],
        crs=UTM,
    )


def village(points: gpd.GeoDataFrame, **kw) -> Village:
    return Village(code=CODE, boundary=square(200, 100), rule=kw.pop("rule", Rule()), points=points, **kw)


@pytest.mark.parametrize(
    ("west", "kept"),
    [(300, True), (500, True), (299, False), (501, False)],
)
def test_band_edges_a_grid_of_exactly_min_or_max_is_kept_one_household_beyond_is_not(west, kept):
    now = community(west, 400)
    assert valid_previous(village(now), previous(west, 400)).tolist() == [kept, True]


def test_a_grid_whose_households_moved_more_than_the_tolerance_is_regridded():
    grown = community(400, 400)
    grown.loc[0, "households"] += 40  # exactly 10 % more than before: still kept
    assert valid_previous(village(grown), previous(400, 400)).tolist() == [True, True]
    grown.loc[0, "households"] += 1  # 41 more
    assert valid_previous(village(grown), previous(400, 400)).tolist() == [False, True]
    assert valid_previous(village(grown), previous(400, 400), tolerance=0.2).tolist() == [True, True]


def test_a_grid_outside_the_boundary_or_under_an_exclusive_area_is_not_kept():
    now = community(400, 400)
    moved = village(now)
    moved.boundary = square(190, 100)  # the boundary moved into the east grid
    assert valid_previous(moved, previous()).tolist() == [True, False]
    school = gpd.GeoDataFrame(
        {"name": ["小学"], "type": ["school"]},
        geometry=[shapely.box(ORIGIN[0] + 10, ORIGIN[1] + 10, ORIGIN[0] + 30, ORIGIN[1] + 30)],
        crs=UTM,
    )
    assert valid_previous(village(now, exclusive=school), previous()).tolist() == [False, True]


def test_a_grid_in_pieces_is_regridded_not_kept_as_ok():
    # west 200 | middle 400 | east 200 households; the previous 001 is west + east: in band, but in two pieces
    pts = [
        grid_points(5, 5, households=h / 25, origin=(ORIGIN[0] + 100 * i, ORIGIN[1]))
        for i, h in enumerate([200, 400, 200])
    ]
    now = gpd.GeoDataFrame(gpd.pd.concat(pts, ignore_index=True), crs=UTM)
    west, middle, east = (square(100, 100, origin=(ORIGIN[0] + 100 * i, ORIGIN[1])) for i in range(3))
    prev = gpd.GeoDataFrame(
        {"grid_code": [CODE + "001", CODE + "002"], "households": [400, 400], "grid_type": "base"},
        geometry=[shapely.union(west, east), middle],
        crs=UTM,
    )
    whole = Village(code=CODE, boundary=square(300, 100), rule=Rule(), points=now)
    assert valid_previous(whole, prev).tolist() == [False, True]
    out = partition_incremental(whole, prev)
    assert (shapely.get_num_geometries(out.grids.geometry.values) == 1).all()  # every grid in one piece
    assert out.grids["status"].eq("ok").all() and out.grids["households"].between(300, 500).all()


def test_only_household_band_base_grids_are_ever_kept():
    now = community(400, 400)
    assert not valid_previous(village(now, rule=Rule("village_group")), previous()).any()
    prev = previous()
    prev.loc[0, "grid_type"] = "exclusive/school"
    assert valid_previous(village(now), prev).tolist() == [False, True]
    assert valid_previous(village(now), prev.iloc[:0]).tolist() == []


def test_kept_grids_stay_exactly_and_the_rest_is_regridded_to_tile_the_community():
    now = community(400, 700)  # the east half grew: regridded, the west half kept
    res = partition_incremental(village(now), previous(400, 400))
    g = res.grids
    kept = g[g["kept_code"].notna()]
    assert kept["kept_code"].tolist() == [CODE + "001"]
    assert kept.geometry.iloc[0].equals(square(100, 100))
    assert kept["reason"].tolist() == [KEPT_REASON] and kept["status"].tolist() == ["ok"]
    assert kept["households"].tolist() == [400]
    assert coverage_ratio(g.geometry.values, square(200, 100)) < 1e-9
    assert overlap_area(g.geometry.values) < 1e-6
    assert g["households"].sum() == 1100
    regridded = g[g["kept_code"].isna()]
    assert regridded["households"].between(300, 500).all() and len(regridded) == 2
    # every point is in the grid that holds it
    owner = res.point_grid.to_numpy()
    assert (owner >= 0).all()
    assert np.bincount(owner, weights=now["households"], minlength=len(g)).tolist() == g["households"].tolist()
    assert set(g["min_households"]) == {300} and set(g["max_households"]) == {500}


def test_a_kept_grid_is_released_when_the_area_left_between_kept_grids_fits_no_grid():
    # three previous grids in a row; the middle one grew to 550 households, which no number of
    # grids fits (1 × 550 is over, 2 × 275 under): a neighbour is released to regrid with it
    pts = []
    for k, hh in enumerate((400, 550, 400)):
        pts.append(grid_points(5, 5, households=hh / 25, origin=(ORIGIN[0] + 100 * k, ORIGIN[1])))
    now = gpd.GeoDataFrame(gpd.pd.concat(pts, ignore_index=True), crs=UTM)
    prev = gpd.GeoDataFrame(
        {"grid_code": [CODE + f"00{k + 1}" for k in range(3)], "households": [400, 400, 400], "grid_type": "base"},
        geometry=[square(100, 100, origin=(ORIGIN[0] + 100 * k, ORIGIN[1])) for k in range(3)],
        crs=UTM,
    )
    v = Village(code=CODE, boundary=square(300, 100), rule=Rule(), points=now)
    assert valid_previous(v, prev).tolist() == [True, False, True]
    res = partition_incremental(v, prev)
    kept = res.grids["kept_code"].dropna().tolist()
    assert len(kept) == 1  # one neighbour was released
    assert res.grids["households"].between(300, 500).all()
    assert coverage_ratio(res.grids.geometry.values, square(300, 100)) < 1e-9


def test_with_nothing_to_keep_it_is_a_fresh_partition():
    now = community(400, 400)
    res = partition_incremental(village(now, rule=Rule("village_group")), previous())
    assert res.grids["kept_code"].isna().all()
