"""Grids of one village/community: exact tiling, households inside their grid, rules applied."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from partition.grids import Village, _note_base_under_min, dissolve_cells, partition_village
from partition.measures import coverage_ratio, overlap_area
from partition.reasons import Reason, ReasonKind, decode
from partition.rules import Rule
from partition.tessellation import blocks_from_barriers, cells_from_points
from partition.units import units_from_points
from partition.values import Flag, Status
from tests.conftest import ORIGIN, grid_points, square


def assert_tiles(grids, boundary):
    assert coverage_ratio(grids.geometry.values, boundary) < 1e-9
    assert overlap_area(grids.geometry.values) < 1e-6 * boundary.area


def assert_points_in_own_grid(result, points):
    pg = result.point_grid.to_numpy()
    assert (pg >= 0).all()
    geoms = result.grids.geometry.values[pg]
    assert shapely.intersects(geoms, points.geometry.values).all()


def test_units_by_building_and_identical_coordinates():
    pts = grid_points(3, 1)
    pts = gpd.GeoDataFrame(pd.concat([pts, pts.iloc[[0]]], ignore_index=True), crs=pts.crs)  # same spot twice
    pts["building"] = [None, "B", "B", None]
    unit, units = units_from_points(pts)
    assert unit.iloc[0] == unit.iloc[3]
    assert unit.iloc[1] == unit.iloc[2]
    assert len(units) == 2
    assert units["households"].sum() == pts["households"].sum()


def test_voronoi_cells_tile_and_do_not_straddle_the_barrier():
    pts = grid_points(10, 10)
    boundary = square(200, 200)
    road = np.array([shapely.LineString([(ORIGIN[0] + 95, ORIGIN[1] - 10), (ORIGIN[0] + 105, ORIGIN[1] + 210)])])
    unit, _ = units_from_points(pts)
    cells = cells_from_points(pts.geometry.values, unit.to_numpy(), boundary, barriers=road)
    assert coverage_ratio(cells.geometry.values, boundary) < 1e-9
    inter = shapely.intersection(cells.geometry.values, shapely.buffer(road[0], 1e-6))
    assert (shapely.area(inter) < 1e-3).all(), "a cell has area on both sides of the road"


@pytest.mark.parametrize("short", [0.0, 1e-9, 0.3])
def test_a_road_that_stops_just_short_of_the_border_still_cuts(short):
    # digitised roads often end a hair (or a few decimetres) inside the border they meet
    boundary = square(200, 200)
    x0, y0 = ORIGIN
    road = np.array([shapely.LineString([(x0 + 95, y0 + short), (x0 + 105, y0 + 200 - short)])])
    blocks = blocks_from_barriers(boundary, road)
    assert len(blocks) == 2
    assert coverage_ratio(blocks, boundary) < 1e-9 and overlap_area(blocks) < 1e-6


def test_household_band_tiles_the_community_exactly():
    pts = grid_points(30, 20, households=5)  # 3,000 households
    boundary = square(600, 400)
    res = partition_village(Village(code="310115005001", boundary=boundary, rule=Rule(), points=pts))
    assert_tiles(res.grids, boundary)
    assert_points_in_own_grid(res, pts)
    assert res.grids["households"].sum() == 3000
    assert res.grids["households"].between(300, 500).all()
    assert (shapely.get_num_geometries(res.grids.geometry.values) == 1).all()


def test_exclusive_area_is_carved_out_first():
    pts = grid_points(30, 20, households=5)
    boundary = square(600, 400)
    school = shapely.box(ORIGIN[0] + 200, ORIGIN[1] + 100, ORIGIN[0] + 300, ORIGIN[1] + 200)
    ex = gpd.GeoDataFrame({"name": ["第一小学"], "type": ["school"]}, geometry=[school], crs=pts.crs)
    res = partition_village(Village(code="310115005001", boundary=boundary, rule=Rule(), points=pts, exclusive=ex))
    assert_tiles(res.grids, boundary)
    ex_grid = res.grids[res.grids["grid_type"].eq("exclusive/school")]
    assert len(ex_grid) == 1
    assert ex_grid.geometry.iloc[0].equals(school)
    inside = shapely.intersects(school, pts.geometry.values)
    assert ex_grid["households"].iloc[0] == pts["households"][inside].sum()
    assert_points_in_own_grid(res, pts)


def test_village_group_rule_one_grid_per_group_and_enclaves_reported():
    pts = grid_points(12, 6, households=2)
    x = pts.geometry.x - ORIGIN[0]
    pts["group"] = np.where(x < 80, "一组", np.where(x < 160, "二组", "三组"))
    # an isolated household of 一组 far east makes 一组 an enclave
    far = pts.index[(x > 200) & (pts.geometry.y - ORIGIN[1] > 100)][0]
    pts.loc[far, "group"] = "一组"
    boundary = square(240, 120)
    res = partition_village(Village(code="310115103269", boundary=boundary, rule=Rule("village_group"), points=pts))
    assert_tiles(res.grids, boundary)
    assert_points_in_own_grid(res, pts)
    assert len(res.grids) == 3
    assert res.grids["status"].tolist().count("enclave") == 1
    enclave = decode(res.grids.loc[res.grids["status"].eq("enclave"), "reason"].iloc[0])
    assert enclave[-1] == Reason.of(ReasonKind.PIECES, pieces=2)


def test_unit_polygons_that_tile_are_used_as_cells():
    blocks = [shapely.box(ORIGIN[0] + i * 50, ORIGIN[1], ORIGIN[0] + (i + 1) * 50, ORIGIN[1] + 100) for i in range(8)]
    polys = gpd.GeoDataFrame({"building": [f"b{i}" for i in range(8)]}, geometry=blocks, crs="EPSG:32651")
    pts = gpd.GeoDataFrame(
        {"households": [100.0] * 8, "population": [np.nan] * 8}, geometry=[b.centroid for b in blocks], crs="EPSG:32651"
    )
    boundary = square(400, 100)
    res = partition_village(
        Village(code="310115005001", boundary=boundary, rule=Rule(), points=pts, unit_polygons=polys)
    )
    assert_tiles(res.grids, boundary)
    # grids are unions of whole blocks: every grid edge lies on a block edge
    for g in res.grids.geometry:
        assert shapely.get_coordinates(g)[:, 0] % 50 == pytest.approx(0, abs=1e-6)
    assert sorted(res.grids["households"]) == [400, 400]


def test_array_graph_and_networkx_graph_split_alike():
    # the pipeline splits the array graph (cell_graph); hand-built tests use networkx graphs:
    # both must give the same grids, compounds included
    from partition.adjacency import cell_graph, graph_from_cells
    from partition.split import split_graph

    pts = grid_points(24, 12)
    pts["compound"] = np.where((pts.geometry.x < ORIGIN[0] + 100) & (pts.geometry.y < ORIGIN[1] + 100), "C1", None)
    boundary = square(480, 240)
    unit, units = units_from_points(pts)
    cells = cells_from_points(
        pts.geometry.values,
        unit.to_numpy(),
        boundary,
        barriers=np.array(
            [shapely.LineString([(ORIGIN[0] + 250, ORIGIN[1] - 10), (ORIGIN[0] + 250, ORIGIN[1] + 250)])]
        ),
    )
    u = cells["unit"].to_numpy()
    cells["households"] = np.where(u >= 0, units["households"].to_numpy()[np.maximum(u, 0)], 0.0)
    cells["compound"] = np.where(u >= 0, units["compound"].to_numpy()[np.maximum(u, 0)], None)
    a = split_graph(cell_graph(cells), min_households=300, max_households=500)
    b = split_graph(graph_from_cells(cells), min_households=300, max_households=500)
    assert a == b and len(a) > 2


def test_blank_village_groups_are_named_in_the_reasons_of_the_grid_that_took_them():
    pts = grid_points(12, 6, households=2)
    x = pts.geometry.x - ORIGIN[0]
    pts["group"] = np.where(x < 120, "一组", "二组").astype(object)
    blank = pts.index[(x > 200) & (pts.geometry.y - ORIGIN[1] < 40)]  # inside 二组's side
    pts.loc[blank, "group"] = None
    pts.index = pts.index + 1000  # ids are the caller's, not positions
    res = partition_village(
        Village(code="310115103269", boundary=square(240, 120), rule=Rule("village_group"), points=pts)
    )
    assert len(res.grids) == 2
    reasons = {decode(r)[0].values["group"]: decode(r)[1:] for r in res.grids["reason"]}
    (took,) = reasons["二组"]
    assert took.kind == ReasonKind.BLANK_GROUP
    assert (took.values["addresses"], took.values["households"]) == (len(blank), 2 * len(blank))
    assert took.values["address_ids"][:3] == [str(i + 1000) for i in blank[:3]]
    assert reasons["一组"] == ()


def test_the_grids_carry_the_cells_they_are_made_of():
    blocks = [shapely.box(ORIGIN[0] + i * 50, ORIGIN[1], ORIGIN[0] + (i + 1) * 50, ORIGIN[1] + 100) for i in range(8)]
    polys = gpd.GeoDataFrame({"building": [f"b{i}" for i in range(8)]}, geometry=blocks, crs="EPSG:32651")
    pts = gpd.GeoDataFrame(
        {"households": [100.0] * 8, "population": [250.0] * 8}, geometry=[b.centroid for b in blocks], crs="EPSG:32651"
    )
    school = shapely.box(ORIGIN[0] + 400, ORIGIN[1], ORIGIN[0] + 450, ORIGIN[1] + 100)
    ex = gpd.GeoDataFrame({"name": ["第一小学"], "type": ["school"]}, geometry=[school], crs=pts.crs)
    village = Village(
        code="310115005001", boundary=square(450, 100), rule=Rule(), points=pts, unit_polygons=polys, exclusive=ex
    )
    res = partition_village(village)
    cells = res.cells
    # one cell per block, and the exclusive area as one cell of its own grid
    assert sorted(cells["unit_id"].dropna()) == [f"b{i}" for i in range(8)]
    assert len(cells) == 9
    geoms = np.asarray(cells["geometry"].to_numpy(), dtype=object)
    for g, grid in enumerate(res.grids.itertuples()):
        mine = cells["grid"].to_numpy() == g
        assert cells.loc[mine, "households"].sum() == grid.households
        assert shapely.area(shapely.symmetric_difference(shapely.union_all(geoms[mine]), grid.geometry)) < 1e-6
    assert (
        cells.loc[cells["label"].str.startswith("exclusive"), "grid"]
        .map(res.grids["grid_type"])
        .eq("exclusive/school")
        .all()
    )


def _box(x0: float, y0: float, x1: float, y1: float):
    return shapely.box(ORIGIN[0] + x0, ORIGIN[1] + y0, ORIGIN[0] + x1, ORIGIN[1] + y1)


def test_an_exclusive_grid_row_says_what_it_is_and_holds_the_households_inside_it():
    pts = grid_points(20, 10, households=4)  # 400 × 200 m, 800 households
    pts["population"] = np.where(np.arange(len(pts)) % 2, 10.0, np.nan)  # population partly unknown
    park = _box(0, 0, 100, 200)  # the 5 western columns: 50 points
    ex = gpd.GeoDataFrame({"name": ["滨江公园"], "type": ["park"]}, geometry=[park], crs=pts.crs)
    res = partition_village(
        Village(code="310115005001", boundary=square(400, 200), rule=Rule(), points=pts, exclusive=ex)
    )
    row = res.grids[res.grids["grid_type"].eq("exclusive/park")].iloc[0]
    inside = shapely.within(pts.geometry.values, park)
    assert (row["rule"], row["status"], row["flag"], row["name"]) == ("exclusive", "ok", "", "滨江公园")
    assert row["households"] == 200 and row["units"] == inside.sum() == 50
    assert row["population"] == np.nansum(pts["population"].to_numpy()[inside]) == 200  # unknown counts as none
    assert decode(row["reason"]) == (Reason.of(ReasonKind.EXCLUSIVE, name="滨江公园"),)
    assert (res.point_grid[inside] == res.grids.index[res.grids["grid_type"].eq("exclusive/park")][0]).all()
    # the rest is the base area, gridded under the band; its cells never reach into the park
    base = res.grids[res.grids["grid_type"].eq("base")]
    assert base["households"].sum() == 600 and base["rule"].eq("household_band").all()
    cell = res.cells[res.cells["label"].eq("exclusive area 滨江公园")]
    assert len(cell) == 1 and cell["households"].iloc[0] == 200 and cell["n_units"].iloc[0] == 50
    assert shapely.equals(cell["geometry"].iloc[0], park)
    assert_tiles(res.grids, square(400, 200))


def test_where_two_exclusive_areas_overlap_the_first_keeps_the_overlap():
    pts = grid_points(20, 10, households=4)
    school, hospital = _box(0, 0, 100, 200), _box(60, 0, 160, 200)  # overlap 60-100 m
    ex = gpd.GeoDataFrame(
        {"name": ["一小", "医院"], "type": ["school", "hospital"]}, geometry=[school, hospital], crs=pts.crs
    )
    res = partition_village(
        Village(code="310115005001", boundary=square(400, 200), rule=Rule(), points=pts, exclusive=ex)
    )
    by_type = res.grids.set_index("grid_type")
    assert shapely.equals(by_type.loc["exclusive/school"].geometry, school)
    assert shapely.area(by_type.loc["exclusive/hospital"].geometry) == pytest.approx(60 * 200)
    assert (
        by_type.loc["exclusive/school", "households"] == 200 and by_type.loc["exclusive/hospital", "households"] == 120
    )
    assert_tiles(res.grids, square(400, 200))


def test_an_exclusive_area_outside_the_village_or_only_touching_it_makes_no_grid():
    pts = grid_points(20, 10, households=4)
    far = _box(500, 0, 600, 200)  # outside the 400 m wide village
    touching = _box(400, 0, 450, 200)  # shares the east border only
    ex = gpd.GeoDataFrame({"name": ["远", "邻"], "type": ["school", "park"]}, geometry=[far, touching], crs=pts.crs)
    res = partition_village(
        Village(code="310115005001", boundary=square(400, 200), rule=Rule(), points=pts, exclusive=ex)
    )
    assert res.grids["grid_type"].eq("base").all() and res.grids["households"].sum() == 800


@pytest.mark.parametrize(
    ("rule", "status", "flag"), [(Rule(), "under_min", "no_feasible_k"), (Rule("village_group"), "ok", "")]
)
def test_a_base_area_without_households_is_one_grid_under_its_rule(rule, status, flag):
    pts = grid_points(5, 10, households=4)  # all 50 points inside the school in the west
    school = _box(0, 0, 100, 200)
    ex = gpd.GeoDataFrame({"name": ["一小"], "type": ["school"]}, geometry=[school], crs=pts.crs)
    res = partition_village(
        Village(code="310115103269", boundary=square(400, 200), rule=rule, points=pts, exclusive=ex)
    )
    base = res.grids[res.grids["grid_type"].eq("base")]
    assert len(base) == 1
    row = base.iloc[0]
    assert (row["households"], row["population"], row["units"]) == (0, 0, 0)
    assert (row["rule"], row["status"], str(row["flag"])) == (rule.name, status, flag)
    assert decode(row["reason"])[0] == Reason.of(ReasonKind.NO_HOUSEHOLDS)
    assert shapely.area(row.geometry) == pytest.approx(300 * 200)
    assert (res.point_grid >= 0).all() and (res.point_grid != base.index[0]).all()  # nobody lives in it
    cell = res.cells[res.cells["grid"].eq(base.index[0])]
    assert len(cell) == 1 and cell["label"].iloc[0] == "area without households" and cell["households"].iloc[0] == 0


def test_a_community_with_fewer_households_than_the_minimum_is_one_grid_saying_so():
    pts = grid_points(10, 10, households=2)  # 200 households in all: no grid can reach 300
    res = partition_village(Village(code="310115005001", boundary=square(200, 200), rule=Rule(), points=pts))
    assert len(res.grids) == 1
    row = res.grids.iloc[0]
    assert (row["status"], str(row["flag"])) == ("under_min", "no_feasible_k")
    assert decode(row["reason"]) == (Reason.of(ReasonKind.AREA_FITS_NO_COUNT, households=200, min=300, max=500),)
    assert (row["min_households"], row["max_households"], row["village_code"]) == (300, 500, "310115005001")


def test_cell_table_keeps_every_column_and_integer_types():
    from geodata.schema import VILLAGE_CELL_COLUMNS
    from partition.grids import cell_table

    empty = cell_table([])
    assert list(empty.columns) == [*VILLAGE_CELL_COLUMNS, "geometry"] and len(empty) == 0
    pts = grid_points(10, 10, households=4)
    res = partition_village(Village(code="310115005001", boundary=square(200, 200), rule=Rule(), points=pts))
    cells = res.cells
    assert list(cells.columns) == [*VILLAGE_CELL_COLUMNS, "geometry"]
    for col in ("grid", "n_units", "block"):
        assert cells[col].dtype == np.int64, col
    assert cells["label"].map(type).eq(str).all()  # unit refs as text, as the cells layer stores them
    assert cells["households"].sum() == 400 and cells["n_units"].sum() == 100


def test_dissolved_grids_keep_the_hole_of_a_grid_inside_them_and_their_pieces():
    # grid 0: eight squares around grid 1's square, and one square apart; a planner's edits make such grids
    square_at = [(x, y) for x in range(3) for y in range(3)] + [(5, 5)]
    cells = np.array([shapely.box(x, y, x + 1, y + 1) for x, y in square_at], dtype=object)
    label = np.array([1 if xy == (1, 1) else 0 for xy in square_at])
    grids = dissolve_cells(cells, label)
    assert shapely.equals(grids[0], shapely.union_all(cells[label == 0]))
    assert [len(p.interiors) for p in grids[0].geoms] == [1, 0] and grids[0].area == 9
    assert shapely.equals(grids[1], cells[4])


def test_every_grid_dissolves_to_its_cells_union_where_coverage_union_fails_or_misleads():
    # all grids are dissolved in one batch: a grid GEOS cannot coverage-union (a vertex on one side
    # of a shared edge only), one that overlaps itself and single cells must each still get their union
    unnoded = [shapely.box(0, 0, 1, 1), shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5)])]
    overlapping = [shapely.box(10, 0, 11, 1), shapely.box(10.5, 0.5, 11.5, 1.5)]
    tiles = [shapely.box(x, 5, x + 1, 6) for x in range(4)]
    single = [shapely.box(20, 20, 22, 21)]
    cells = np.array([*tiles, *unnoded, *single, *overlapping], dtype=object)
    label = np.array([2, 2, 2, 2, 0, 0, 3, 1, 1])
    grids = dissolve_cells(cells, label)
    assert sorted(grids) == [0, 1, 2, 3]
    for k, grid in grids.items():
        assert shapely.is_valid(grid) and shapely.equals(grid, shapely.union_all(cells[label == k])), k
    assert shapely.get_num_geometries(grids[0]) == 1 and grids[0].area == 2


def test_band_grids_left_under_the_minimum_unexplained_are_flagged_with_the_area_total():
    def row(rule, households, status=Status.OK):
        return {"rule": rule, "households": households, "status": status, "flag": "", "reasons": ()}

    rows = [row("exclusive", 40.0), row("household_band", 120.0), row("household_band", 90.0, Status.UNDER_MIN)]
    _note_base_under_min(rows, Rule())
    assert [r["status"] for r in rows] == [Status.OK, Status.UNDER_MIN, Status.UNDER_MIN]
    assert rows[1]["flag"] == Flag.NO_FEASIBLE_K and rows[2]["flag"] == ""  # the splitter's own verdict stays
    (reason,) = rows[1]["reasons"]
    assert reason.kind is ReasonKind.BASE_UNDER_MIN
    assert reason.values == {"households": 250, "min": 300}
    assert rows[0]["reasons"] == () and rows[2]["reasons"] == ()
