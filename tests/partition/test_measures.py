"""Measures every tiling test relies on, checked against answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from partition.measures import (
    band_share,
    coverage_ratio,
    cv,
    gini,
    max_min_ratio,
    overlap_area,
    parity,
    pieces,
    polsby_popper,
)


def test_coverage_ratio_is_zero_for_an_exact_tiling_and_counts_gaps_and_excess():
    boundary = shapely.box(0, 0, 10, 10)
    halves = np.array([shapely.box(0, 0, 5, 10), shapely.box(5, 0, 10, 10)])
    assert coverage_ratio(halves, boundary) == 0
    gap = np.array([shapely.box(0, 0, 5, 10), shapely.box(5, 0, 9, 10)])  # 10 m² missing
    assert coverage_ratio(gap, boundary) == pytest.approx(0.10)
    excess = np.array([shapely.box(0, 0, 5, 10), shapely.box(5, 0, 12, 10)])  # 20 m² outside
    assert coverage_ratio(excess, boundary) == pytest.approx(0.20)


def test_overlap_area_sums_pairwise_intersections_only():
    a, b, c = shapely.box(0, 0, 4, 4), shapely.box(3, 0, 7, 4), shapely.box(6, 0, 10, 4)
    assert overlap_area(np.array([a, b, c])) == pytest.approx(4 + 4)
    touching = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    assert overlap_area(touching) == 0


def test_polsby_popper_of_a_square_and_a_circle():
    pp = polsby_popper(np.array([shapely.box(0, 0, 1, 1), shapely.Point(0, 0).buffer(1, quad_segs=256)]))
    assert pp[0] == pytest.approx(np.pi / 4)
    assert pp[1] == pytest.approx(1, abs=1e-4)


def test_pieces_counts_parts_of_multipolygons():
    two = shapely.union(shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6))
    assert pieces(np.array([shapely.box(0, 0, 1, 1), two])).tolist() == [1, 2]


def test_balance_figures():
    h = np.array([300.0, 400.0, 500.0])
    assert cv(h) == pytest.approx(h.std() / h.mean())
    assert max_min_ratio(h) == pytest.approx(500 / 300)
    assert parity(h) == pytest.approx(100 / 400)
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0)
    assert gini(np.array([0.0, 0.0, 3.0])) == pytest.approx(2 / 3)


def test_band_share_counts_only_household_band_grids():
    g = pd.DataFrame(
        {
            "rule": ["household_band", "household_band", "village_group", "exclusive"],
            "households": [350, 520, 40, 0],
            "min_households": 300,
            "max_households": 500,
        }
    )
    assert band_share(g) == 0.5
    assert np.isnan(band_share(g[g["rule"].ne("household_band")]))
