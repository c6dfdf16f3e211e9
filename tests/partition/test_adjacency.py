"""Rook adjacency of cells: who borders whom, by how much, and across which barrier."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import partition.rows as rows_mod
from partition.adjacency import (
    MIN_SHARED,
    _group_sums,
    cell_graph,
    edges_from_cells,
    graph_from_cells,
)


def boxes(nx_: int, ny: int, size: float = 10.0) -> np.ndarray:
    """nx_ × ny squares of `size` metres, row-major from the south-west: cell (i, j) → j*nx_+i."""
    return np.array(
        [shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size) for j in range(ny) for i in range(nx_)]
    )


def test_edges_are_listed_once_smallest_cell_first_with_the_shared_length():
    i, j, length = edges_from_cells(boxes(3, 1))  # 0 | 1 | 2
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 2)]
    assert length.tolist() == pytest.approx([10.0, 10.0])


def test_cells_meeting_at_a_corner_or_not_at_all_are_not_neighbours():
    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2), shapely.box(5, 5, 6, 6)])
    i, j, length = edges_from_cells(geoms)
    assert len(i) == len(j) == len(length) == 0


def test_a_partly_shared_side_counts_only_the_shared_part():
    # a wide cell below two narrow ones: it borders each along 4 m and 6 m
    geoms = np.array([shapely.box(0, 0, 10, 5), shapely.box(0, 5, 4, 10), shapely.box(4, 5, 10, 10)])
    i, j, length = edges_from_cells(geoms)
    got = {(int(a), int(b)): float(s) for a, b, s in zip(i, j, length, strict=True)}
    assert got == pytest.approx({(0, 1): 4.0, (0, 2): 6.0, (1, 2): 5.0})


def test_a_sliver_of_shared_border_below_the_threshold_is_no_edge():
    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 1 - MIN_SHARED / 2, 2, 2)])
    i, _, _ = edges_from_cells(geoms)
    assert len(i) == 0


def test_multipolygon_and_holed_cells_border_every_cell_they_touch():
    # a ring cell around a courtyard cell, and a two-part cell touching both ends of a strip
    ring = shapely.box(0, 0, 30, 30).difference(shapely.box(10, 10, 20, 20))
    court = shapely.box(10, 10, 20, 20)
    two = shapely.MultiPolygon([shapely.box(30, 0, 40, 10), shapely.box(30, 20, 40, 30)])
    i, j, length = edges_from_cells(np.array([ring, court, two]))
    got = {(int(a), int(b)): float(s) for a, b, s in zip(i, j, length, strict=True)}
    assert got == pytest.approx({(0, 1): 40.0, (0, 2): 20.0})


def test_cell_graph_carries_cells_in_order_and_marks_block_borders_as_barriers():
    cells = gpd.GeoDataFrame(
        {"households": [5, 0, 7, 1], "block": [0, 0, 1, 1], "label": ["a", "b", "c", "d"]}, geometry=boxes(2, 2)
    )
    g = cell_graph(cells)
    assert len(g) == 4
    assert g.households.tolist() == [5.0, 0.0, 7.0, 1.0]
    assert g.x.tolist() == pytest.approx([5, 15, 5, 15]) and g.y.tolist() == pytest.approx([5, 5, 15, 15])
    assert g.area.tolist() == pytest.approx([100.0] * 4)
    assert g.label.tolist() == ["a", "b", "c", "d"]
    assert g.compound.tolist() == [None] * 4
    edges = {(int(a), int(b)): bool(r) for a, b, r in zip(g.i, g.j, g.barrier, strict=True)}
    assert edges == {(0, 1): False, (0, 2): True, (1, 3): True, (2, 3): False}


def test_the_networkx_graph_is_the_same_graph_as_the_arrays():
    cells = gpd.GeoDataFrame({"households": np.arange(6.0), "block": [0, 0, 0, 1, 1, 1]}, geometry=boxes(3, 2))
    g = cell_graph(cells)
    nxg = graph_from_cells(cells)
    assert sorted(nxg.nodes) == list(range(6))
    assert [nxg.nodes[k]["households"] for k in range(6)] == g.households.tolist()
    assert [nxg.nodes[k]["label"] for k in range(6)] == ["0", "1", "2", "3", "4", "5"]  # positions when unnamed
    assert sorted(nxg.edges) == sorted(zip(g.i.tolist(), g.j.tolist(), strict=True))
    assert sum(d["barrier"] for _, _, d in nxg.edges(data=True)) == 3
    assert all(d["length"] == pytest.approx(10.0) for _, _, d in nxg.edges(data=True))


def test_an_empty_cell_has_no_centroid_rather_than_a_wrong_one():
    cells = gpd.GeoDataFrame(
        {"households": [1.0, 0.0], "block": [0, 0]}, geometry=[shapely.box(0, 0, 1, 1), shapely.Polygon()]
    )
    g = cell_graph(cells)
    assert g.x[0] == pytest.approx(0.5) and np.isnan(g.x[1]) and np.isnan(g.y[1])
    assert len(g.i) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voronoi_cells_cut_by_the_edge_and_a_road_border_exactly_as_the_overlay_says(seed):
    """Cells on the area's outer edge and along a road (cut at different vertices on each side): every pair
    whose boundaries share more than MIN_SHARED is an edge, with the overlay's length."""
    from partition.tessellation import cells_from_points

    rng = np.random.default_rng(seed)
    area = shapely.Polygon([(0, 0), (120, -10), (140, 70), (60, 95), (-15, 60)])
    road = shapely.LineString([(-20, 30), (150, 45)])
    pts = shapely.points(rng.uniform(0, 120, (300, 2)))
    pts = pts[shapely.contains(area, pts)]
    geoms = cells_from_points(pts, np.arange(len(pts)), area, barriers=np.array([road])).geometry.values
    i, j, length = edges_from_cells(geoms)
    ti, tj = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = ti < tj
    ti, tj = ti[keep], tj[keep]
    exact = shapely.length(shapely.intersection(shapely.boundary(geoms[ti]), shapely.boundary(geoms[tj])))
    shared = exact > MIN_SHARED
    pairs = sorted(zip(ti[shared].tolist(), tj[shared].tolist(), strict=True))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == pairs
    order = np.lexsort((tj[shared], ti[shared]))
    assert np.allclose(length, exact[shared][order], rtol=0, atol=1e-9)


@pytest.mark.parametrize("hashed", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_segments_are_numbered_in_order_of_first_appearance_as_pandas_numbers_groups(seed, hashed, monkeypatch):
    # the shared-segment lengths are summed in this order: the same numbering keeps every border length to the bit
    if not hashed:  # every row one hash: the check finds two values under one number and sorts instead
        monkeypatch.setattr(rows_mod, "row_hash", lambda *cols: np.zeros(len(cols[0]), np.uint64))
    rng = np.random.default_rng(seed)
    cols = [rng.integers(-1, 3, 400).astype(float) * 0.1 for _ in range(3)]
    cols.append(np.where(rng.random(400) < 0.5, -0.0, 0.0))  # -0.0 and 0.0 are one value
    frame = pd.DataFrame(dict(enumerate(cols)))
    expected = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    assert rows_mod.first_seen(*cols).tolist() == expected.tolist()
    ints = [np.round(c * 10).astype(np.int64) for c in cols]
    assert rows_mod.first_seen(*ints).tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_border_lengths_are_summed_per_pair_to_the_bit_as_pandas_sums_them(seed):
    # pairs of cells sharing 1..12 segments, lengths of every magnitude (compensation matters), an infinity
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 60, 500) * 1_000 + rng.integers(0, 3, 500)
    values = rng.choice([1e-9, 1e-3, 1.0, 1e6, 1e12], 500) * rng.random(500)
    values[rng.integers(0, 500)] = np.inf
    expected = pd.Series(values).groupby(key, sort=True).sum()
    pair, total = _group_sums(key, values)
    assert pair.tolist() == expected.index.tolist()
    assert total.tobytes() == expected.to_numpy(float).tobytes()
    assert [len(x) for x in _group_sums(np.zeros(0, np.int64), np.zeros(0))] == [0, 0]
