"""Units, tessellation, adjacency and liaison groups on tiny hand-built cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from partition.adjacency import edges_from_cells, graph_from_cells
from partition.liaison import liaison_groups
from partition.measures import coverage_ratio, overlap_area
from partition.reasons import UnitKind, UnitRef, unit_ref, unit_text
from partition.tessellation import cells_from_points, point_owner
from partition.units import units_from_points
from tests.conftest import UTM, grid_points, square


def test_points_of_one_building_or_one_spot_form_one_unit():
    pts = gpd.GeoDataFrame(
        {"households": [1.0, 2, 3, 4, 5], "population": [2.0, 4, 6, 8, 10], "building": ["A", "A", None, None, "B"]},
        geometry=shapely.points([(0, 0), (10, 0), (50, 50), (50, 50), (90, 0)]),
        crs=UTM,
    )
    unit, units = units_from_points(pts)
    assert unit.iloc[0] == unit.iloc[1]  # same building id, different spots
    assert unit.iloc[2] == unit.iloc[3]  # no building, same coordinates
    assert unit.nunique() == 3
    assert units["households"].sort_values().tolist() == [3.0, 5.0, 7.0]


def test_reasons_name_a_unit_by_its_building_id_else_by_where_it_stands():
    pts = gpd.GeoDataFrame(
        {"households": [1.0, 1, 1, 1], "population": [1.0, 1, 1, 1], "building": ["3号楼", 7, None, None]},
        geometry=shapely.points([(0, 0), (10, 0), (500123.04, 3200456.06), (-12.34, 1e-3)]),
        crs=UTM,
    )
    _, units = units_from_points(pts)
    labels = sorted(units["label"])
    # text as the cells table shows it, read back by unit_ref as the reference a reason names
    assert labels == sorted(["building 3号楼", "building 7", "point 500123.0, 3200456.1", "point -12.3, 0.0"])
    assert sorted(unit_ref(v) for v in labels) == sorted(
        [
            UnitRef(UnitKind.BUILDING, "3号楼"),
            UnitRef(UnitKind.BUILDING, "7"),
            UnitRef(UnitKind.POINT, "500123.0, 3200456.1"),
            UnitRef(UnitKind.POINT, "-12.3, 0.0"),
        ]
    )
    assert [unit_text(unit_ref(v)) for v in labels] == labels


def test_a_point_on_a_shared_border_has_exactly_one_owner():
    polys = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    owner = point_owner(polys, shapely.points([(1, 0.5), (0.5, 0.5), (5, 5)]))
    assert owner.tolist() == [0, 0, -1]


def test_cells_tile_the_boundary_and_do_not_straddle_a_barrier():
    pts = grid_points(6, 4)
    boundary = square(120, 80)
    road = np.array(
        [shapely.LineString([(pts.total_bounds[0] + 50, 3_459_000), (pts.total_bounds[0] + 50, 3_461_000)])]
    )
    unit, _ = units_from_points(pts)
    cells = cells_from_points(pts.geometry.values, unit.to_numpy(), boundary, barriers=road)
    assert coverage_ratio(cells.geometry.values, boundary) < 1e-9
    assert overlap_area(cells.geometry.values) < 1e-6
    assert cells["block"].nunique() == 2  # the road cuts the community in two blocks
    for geom in cells.geometry.values:  # no cell's interior crosses the road
        assert shapely.length(shapely.intersection(shapely.buffer(geom, -1e-6), road[0])) == 0


def test_rook_adjacency_of_a_three_by_three_block_ignores_corners():
    boxes = np.array([shapely.box(x, y, x + 1, y + 1) for y in range(3) for x in range(3)])
    i, j, length = edges_from_cells(boxes)
    assert len(i) == 12  # 6 horizontal + 6 vertical neighbours, no diagonal
    assert np.allclose(length, 1)
    cells = gpd.GeoDataFrame({"households": np.ones(9), "block": [0, 0, 0, 1, 1, 1, 1, 1, 1]}, geometry=boxes)
    graph = graph_from_cells(cells)
    barrier_edges = [(a, b) for a, b, d in graph.edges(data=True) if d["barrier"]]
    assert len(barrier_edges) == 3  # the row boundary between block 0 and block 1


def test_liaison_groups_cover_every_household_and_take_their_grid_code():
    pts = grid_points(10, 6, households=2)  # 120 households, 60 spots
    grid = gpd.GeoDataFrame({"grid_code": ["310115005001001"]}, geometry=[square(200, 120)], crs=UTM)
    groups, codes = liaison_groups(grid, pts, np.zeros(len(pts), int), min_households=10, max_households=15)
    assert groups["households"].sum() == 120
    assert groups["households"].between(10, 15).all()
    assert groups["liaison_code"].str.startswith("310115005001001").all()
    assert groups["liaison_code"].str.len().eq(17).all() and groups["liaison_code"].is_unique
    assert set(codes) == set(groups["liaison_code"])
    assert coverage_ratio(groups.geometry.values, grid.geometry.iloc[0]) < 1e-9
