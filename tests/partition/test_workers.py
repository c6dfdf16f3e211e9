"""Workers on a lattice of grids: contiguous areas, one township each, balanced loads."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.errors import OptionError
from partition.workers import assign_workers, composite_load, grid_neighbours, share_workers

# 8 × 4 grids of 100 m; the left 4 columns are township 310115005, the right 4 township 310115006:
#
#   +--+--+--+--+--+--+--+--+
#   |  005 (16 grids)  |  006 (16 grids)  |
#   +--+--+--+--+--+--+--+--+   (4 rows)
COLS, ROWS = 8, 4
GEOMS = np.array(
    [shapely.box(100 * c, 100 * r, 100 * c + 100, 100 * r + 100) for r in range(ROWS) for c in range(COLS)]
)
TOWNSHIP = np.array(["310115005" if c < 4 else "310115006" for r in range(ROWS) for c in range(COLS)], dtype=object)


def check(plan, township=TOWNSHIP):
    graph = grid_neighbours(GEOMS)
    for w in range(len(plan.township)):
        mine = np.flatnonzero(plan.worker == w)
        assert len(mine), f"worker {w} has no grid"
        assert set(township[mine]) == {plan.township[w]}, "a worker crosses a township"
        assert nx.is_connected(graph.subgraph(mine.tolist())), f"worker {w}'s grids are not contiguous"
    assert (plan.pieces == 1).all()


def loads(plan, load, capacity):
    return np.bincount(plan.worker, weights=load, minlength=len(capacity)) / capacity


def test_equal_grids_are_shared_exactly():
    load = np.ones(len(GEOMS))
    plan = assign_workers(GEOMS, TOWNSHIP, load, capacity=np.ones(4))
    check(plan)
    assert sorted(np.bincount(plan.worker)) == [8, 8, 8, 8]


@pytest.mark.parametrize("seed", range(5))
def test_uneven_grids_are_balanced_and_contiguous(seed):
    load = np.random.default_rng(seed).uniform(0.5, 1.5, len(GEOMS))
    plan = assign_workers(GEOMS, TOWNSHIP, load, capacity=np.ones(6))
    check(plan)
    per = loads(plan, load, np.ones(6))
    # townships hold 3 workers each (about 5 grids); within a township loads are within 15 % of each other
    for t in ("310115005", "310115006"):
        mine = per[plan.township == t]
        assert mine.max() / mine.min() < 1.15, mine


def test_workers_go_where_the_load_is():
    load = np.where(TOWNSHIP == "310115005", 3.0, 1.0)  # three times the load in the west
    plan = assign_workers(GEOMS, TOWNSHIP, load, capacity=np.ones(4))
    check(plan)
    assert list(plan.township).count("310115005") == 3


def test_small_rural_grids_are_covered_several_to_a_worker():
    load = np.where(TOWNSHIP == "310115006", 0.2, 1.0)  # village-group grids: a fifth of a band grid's households
    plan = assign_workers(GEOMS, TOWNSHIP, load, capacity=np.ones(5))
    check(plan)
    rural = plan.township == "310115006"
    assert rural.sum() == 1  # 16 small grids: one worker covers them all
    assert np.bincount(plan.worker)[rural][0] == 16


def test_capacity_scales_the_load_a_worker_carries():
    load = np.ones(len(GEOMS))
    pinned = ["310115005", "310115005", "310115006", "310115006"]
    plan = assign_workers(GEOMS, TOWNSHIP, load, capacity=np.array([3.0, 1.0, 1.0, 1.0]), pinned=pinned)
    check(plan)
    assert list(plan.township) == pinned
    assert np.bincount(plan.worker).tolist()[:2] == [12, 4]


def test_a_grid_touching_no_other_is_joined_to_the_nearest_worker_and_reported_in_pieces():
    geoms = np.append(GEOMS[:4], shapely.box(1000, 0, 1100, 100))  # 4 grids in a row, one far east
    town = np.array(["310115005"] * 5, dtype=object)
    plan = assign_workers(geoms, town, np.ones(5), capacity=np.ones(2))
    assert plan.worker[4] == plan.worker[3]  # the island goes with the grid nearest to it
    assert sorted(plan.pieces.tolist()) == [1, 2]


def test_fewer_workers_than_townships_is_refused():
    with pytest.raises(OptionError, match="1 workers for 2 townships"):
        share_workers(TOWNSHIP, np.ones(len(GEOMS)), np.ones(1), [None])
    with pytest.raises(OptionError, match="33 workers for 32 grids"):
        share_workers(TOWNSHIP, np.ones(len(GEOMS)), np.ones(33), [None] * 33)


def test_composite_load_weighs_each_measure_by_its_mean():
    m = pd.DataFrame({"households": [100.0, 300.0], "population": [200.0, 200.0]})
    assert composite_load(m, {"households": 1.0}).tolist() == [0.5, 1.5]
    assert composite_load(m, {"households": 1.0, "population": 2.0}).tolist() == [2.5, 3.5]
