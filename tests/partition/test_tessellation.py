"""Tessellation: cells that tile a boundary, cut by barriers, one per unit; owners of points."""

from __future__ import annotations

import numpy as np
import shapely

from partition.measures import coverage_ratio, overlap_area
from partition.rows import distinct_rows
from partition.tessellation import (
    EMPTY,
    _site_blocks,
    blocks_from_barriers,
    cells_from_points,
    cells_from_polygons,
    point_owner,
    union_runs,
)

BOUNDARY = shapely.box(0, 0, 100, 60)


def test_every_point_has_at_most_one_owner_the_first_polygon_covering_it():
    polys = np.array([shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10), shapely.box(20, 0, 30, 10)])
    pts = shapely.points([(7, 5), (12, 5), (25, 5), (50, 50), (10, 10)])
    assert point_owner(polys, pts).tolist() == [0, 1, 2, -1, 0]
    assert point_owner(polys[:0], pts).tolist() == [-1] * 5
    assert point_owner(polys, pts[:0]).tolist() == []


def test_barriers_cut_the_boundary_into_blocks_and_lines_that_cut_nothing_are_ignored():
    road = shapely.LineString([(50, -10), (50, 70)])  # crosses the whole boundary
    stub = shapely.LineString([(10, 10), (20, 10)])  # ends inside a block: cuts nothing
    far = shapely.LineString([(500, 0), (500, 60)])
    blocks = blocks_from_barriers(BOUNDARY, np.array([road, stub, far]))
    assert len(blocks) == 2
    assert sorted(shapely.area(blocks).tolist()) == [3000.0, 3000.0]
    assert len(blocks_from_barriers(BOUNDARY, None)) == 1


def test_a_barrier_ending_just_short_of_the_border_still_cuts():
    # digitised roads often stop a few decimetres before the boundary line
    road = shapely.LineString([(50, 0.3), (50, 59.7)])
    assert len(blocks_from_barriers(BOUNDARY, np.array([road]))) == 2


def test_voronoi_cells_tile_the_boundary_one_per_unit():
    pts = shapely.points([(10, 10), (12, 12), (80, 50), (50, 30)])
    unit = np.array([0, 0, 1, 2])  # the first two points are one building
    cells = cells_from_points(pts, unit, BOUNDARY)
    assert coverage_ratio(cells.geometry.values, BOUNDARY) < 1e-9
    assert overlap_area(cells.geometry.values) < 1e-6
    assert sorted(cells["unit"].tolist()) == [0, 1, 2]
    owner = point_owner(cells.geometry.values, pts)
    assert cells["unit"].to_numpy()[owner].tolist() == unit.tolist()  # each point lies in its unit's cell


def test_no_cell_crosses_a_barrier_and_a_block_without_points_is_an_empty_cell():
    road = shapely.LineString([(50, -10), (50, 70)])
    pts = shapely.points([(10, 10), (30, 40)])  # both west of the road
    cells = cells_from_points(pts, np.array([0, 1]), BOUNDARY, barriers=np.array([road]))
    assert coverage_ratio(cells.geometry.values, BOUNDARY) < 1e-9
    east = cells[cells.geometry.centroid.x > 50]
    assert east["unit"].eq(EMPTY).all()  # pieces of the west points' Voronoi cells: nobody's
    assert shapely.area(east.geometry.values).sum() == 3000.0
    assert cells["block"].nunique() == 2
    for geom in cells.geometry.values:
        assert shapely.length(shapely.intersection(shapely.buffer(geom, -1e-6), road)) == 0


def test_a_single_point_or_none_still_tiles_the_boundary():
    one = cells_from_points(shapely.points([(5, 5)]), np.array([3]), BOUNDARY)
    assert one["unit"].tolist() == [3] and coverage_ratio(one.geometry.values, BOUNDARY) < 1e-9
    none = cells_from_points(shapely.points(np.zeros((0, 2))), np.zeros(0, int), BOUNDARY)
    assert none["unit"].tolist() == [EMPTY]
    assert coverage_ratio(none.geometry.values, BOUNDARY) < 1e-9


def test_unit_polygons_that_tile_the_boundary_are_the_cells_and_the_rest_is_empty():
    west, east = shapely.box(0, 0, 50, 60), shapely.box(50, 0, 99, 60)  # 1 m strip left uncovered
    cells = cells_from_polygons(np.array([west, east]), np.array([7, 8]), BOUNDARY)
    assert cells is not None
    assert coverage_ratio(cells.geometry.values, BOUNDARY) < 1e-9
    assert sorted(cells["unit"].tolist()) == [EMPTY, 7, 8]
    assert shapely.area(cells.loc[cells["unit"].eq(EMPTY)].geometry.values).sum() == 60.0


def test_overlapping_unit_polygons_are_made_disjoint_in_input_order():
    a, b = shapely.box(0, 0, 60, 60), shapely.box(40, 0, 100, 60)
    cells = cells_from_polygons(np.array([a, b]), np.array([0, 1]), BOUNDARY)
    assert overlap_area(cells.geometry.values) < 1e-9
    by_unit = dict(zip(cells["unit"], shapely.area(cells.geometry.values), strict=True))
    assert by_unit == {0: 3600.0, 1: 2400.0}  # the first polygon keeps the overlap


def test_footprints_with_streets_between_them_are_not_cells():
    houses = np.array([shapely.box(0, 0, 40, 60), shapely.box(60, 0, 100, 60)])  # 80 % of the area
    assert cells_from_polygons(houses, np.array([0, 1]), BOUNDARY) is None
    assert cells_from_polygons(houses, np.array([0, 1]), BOUNDARY, min_share=0.8) is not None


def test_runs_of_voronoi_pieces_and_of_overlapping_polygons_dissolve_to_their_union():
    rng = np.random.default_rng(3)
    pts = shapely.points(rng.uniform(0, 100, (400, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=BOUNDARY, ordered=True))
    cells = shapely.intersection(cells, BOUNDARY)
    # runs of 1..40 pieces; the last run overlaps itself (not a coverage): the general union is used there
    sizes = rng.integers(1, 41, 30)
    sizes = sizes[np.cumsum(sizes) <= len(cells)]
    overlapping = np.array([shapely.box(0, 0, 10, 10), shapely.box(5, 5, 15, 15), shapely.box(8, 0, 12, 3)])
    geoms = np.concatenate([cells[: sizes.sum()], overlapping])
    size = np.r_[sizes, len(overlapping)]
    start = np.r_[0, np.cumsum(size)[:-1]]
    out = union_runs(geoms, start, size)
    want = [shapely.union_all(geoms[a : a + n]) for a, n in zip(start, size, strict=True)]
    assert shapely.equals(out, want).all()
    assert shapely.is_valid(out).all()
    assert np.isclose(shapely.area(out[-1]), 100 + 100 + 12 - 25 - 6)  # overlaps counted once


def test_sites_are_the_distinct_coordinates_numpy_finds():
    # Voronoi sites: each distinct spot once (sorted by x then y), its first address, every address's site
    rng = np.random.default_rng(5)
    for n in (1, 2, 50, 3000):
        xy = np.round(rng.uniform(-5, 5, (n, 2)), 0)  # many shared spots, ties in x
        xy[rng.random(n) < 0.1] *= -1.0  # signed zeros among them
        rank, first = distinct_rows(xy[:, 0], xy[:, 1])
        got = (xy[first], first, rank)
        want = np.unique(xy, axis=0, return_index=True, return_inverse=True)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w.reshape(g.shape)), n


def test_a_household_on_the_edge_belongs_to_the_area_and_one_outside_to_no_block():
    xy = np.array([(30.0, 30.0), (0.0, 30.0), (100.0, 60.0), (130.0, 30.0), (50.0, 10.0)])
    whole = blocks_from_barriers(BOUNDARY, None)  # no barrier: one block, tested by coordinates
    assert _site_blocks(whole, xy).tolist() == [0, 0, 0, -1, 0]
    road = shapely.LineString([(50, -10), (50, 70)])
    halves = blocks_from_barriers(BOUNDARY, np.array([road]))
    west = int(shapely.contains_xy(halves[1], 10.0, 10.0))  # which of the two blocks lies west
    got = _site_blocks(halves, xy)
    assert got[[0, 1, 3]].tolist() == [west, west, -1] and got[2] == 1 - west
    assert got[4] in (0, 1)  # on the road: one block, never none


def test_a_run_geos_cannot_coverage_union_gets_the_general_union_instead_of_failing_the_village():
    # a unit's pieces cut at different vertices along their shared edge (a road clipped each separately)
    unnoded = [shapely.box(0, 0, 1, 1), shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5)])]
    alone = shapely.box(5, 5, 6, 6)
    geoms = np.array([*unnoded, alone], dtype=object)
    out = union_runs(geoms, np.array([0, 2]), np.array([2, 1]))
    assert shapely.equals(out[0], shapely.box(0, 0, 2, 1)) and shapely.is_valid(out[0])
    assert out[1] is alone  # a run of one is left as it is
