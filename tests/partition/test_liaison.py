"""Household-liaison groups (联户): contiguous groups of a grid's households, coded under the grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geodata.errors import CodeSpaceError
from partition.coding import liaison_order_codes
from partition.liaison import liaison_groups
from partition.measures import coverage_ratio, pieces
from partition.reasons import ReasonKind, decode
from tests.conftest import ORIGIN, UTM, grid_points, square

G1, G2 = "310115005001001", "310115005001002"


def two_grids() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray]:
    """Two 100 × 100 m grids side by side; 25 address points of 2 households in each (50 households)."""
    grids = gpd.GeoDataFrame(
        {"grid_code": [G1, G2]},
        geometry=[square(100, 100), square(100, 100, origin=(ORIGIN[0] + 100, ORIGIN[1]))],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(
        gpd.pd.concat(
            [grid_points(5, 5, households=2), grid_points(5, 5, households=2, origin=(ORIGIN[0] + 100, ORIGIN[1]))],
            ignore_index=True,
        ),
        crs=UTM,
    )
    return grids, pts, np.repeat([0, 1], 25)


def test_each_grid_is_tiled_by_contiguous_in_band_groups_coded_under_it_in_reading_order():
    grids, pts, where = two_grids()
    groups, codes = liaison_groups(grids, pts, where, min_households=10, max_households=15)
    for k, code in enumerate((G1, G2)):
        mine = groups[groups["grid_code"].eq(code)]
        assert mine["households"].sum() == 50
        assert mine["households"].between(10, 15).all() and mine["status"].eq("ok").all()
        assert mine["liaison_code"].tolist() == liaison_order_codes(code, len(mine))  # 01, 02, ... no gaps
        assert coverage_ratio(mine.geometry.values, grids.geometry.iloc[k]) < 1e-9
    assert (pieces(groups.geometry.values) == 1).all()
    # 01 is read first, like text: the group holding the grid's north-west address
    north_west = int(np.argmax(pts.geometry.y.to_numpy()[:25] - pts.geometry.x.to_numpy()[:25]))
    assert codes[north_west] == G1 + "01"


def test_every_address_gets_the_code_of_the_group_whose_area_holds_it():
    grids, pts, where = two_grids()
    groups, codes = liaison_groups(grids, pts, where, min_households=10, max_households=15)
    assert len(codes) == len(pts)
    by_code = groups.set_index("liaison_code").geometry
    for code, pt in zip(codes, pts.geometry.values, strict=True):
        assert shapely.covers(by_code[code], pt)
    per_group = gpd.pd.Series(pts["households"].to_numpy(), index=codes).groupby(level=0).sum()
    assert per_group.reindex(groups["liaison_code"]).tolist() == groups["households"].tolist()


def test_an_address_in_no_grid_gets_no_liaison_code():
    grids, pts, where = two_grids()
    where = where.copy()
    where[0] = -1
    groups, codes = liaison_groups(grids, pts, where, min_households=10, max_households=15)
    assert codes[0] is None and all(c is not None for c in codes[1:])
    assert groups.loc[groups["grid_code"].eq(G1), "households"].sum() == 48


def test_an_apartment_entrance_above_the_maximum_is_one_group_flagged_over_max():
    grids, pts, where = two_grids()
    pts.loc[0, "households"] = 60  # an entrance of 60 flats
    pts["building"] = [f"b{k}" for k in range(len(pts))]
    groups, _ = liaison_groups(grids, pts, where, min_households=10, max_households=15)
    big = groups[groups["households"].eq(60)]
    assert len(big) == 1 and big["status"].iloc[0] == "over_max"
    assert [r.kind for r in decode(big["reason"].iloc[0])] == [ReasonKind.UNIT_OVER_MAX]


def test_band_edges_groups_of_exactly_min_and_max_are_ok():
    grids, pts, where = two_grids()
    groups, _ = liaison_groups(grids.iloc[:1], pts.iloc[:25], where[:25], min_households=10, max_households=10)
    assert groups["households"].tolist() == [10] * 5 and groups["status"].eq("ok").all()
    groups, _ = liaison_groups(grids.iloc[:1], pts.iloc[:25], where[:25], min_households=50, max_households=50)
    assert groups["households"].tolist() == [50] and groups["status"].eq("ok").all()
    groups, _ = liaison_groups(grids.iloc[:1], pts.iloc[:25], where[:25], min_households=51, max_households=60)
    assert groups["status"].tolist() == ["under_min"]


def test_more_than_99_groups_do_not_fit_two_digits():
    assert liaison_order_codes(G1, 2) == [G1 + "01", G1 + "02"]
    assert len(liaison_order_codes(G1, 99)) == 99
    with pytest.raises(CodeSpaceError, match="100 liaison groups"):
        liaison_order_codes(G1, 100)
