"""The partition object: figures and rule checks from the assignment, moves that make new partitions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from partition.adjacency import cell_graph
from partition.partition import Partition
from partition.rules import Rule
from tests.conftest import ORIGIN, UTM

BAND = Rule("household_band", 300, 500)


def three_by_three(households=100.0, groups=None) -> gpd.GeoDataFrame:
    """Nine 10 m square cells, numbered row by row from the south-west::

    6 7 8
    3 4 5
    0 1 2
    """
    x0, y0 = ORIGIN
    boxes = [
        shapely.box(x0 + 10 * c, y0 + 10 * r, x0 + 10 * c + 10, y0 + 10 * r + 10) for r in range(3) for c in range(3)
    ]
    hh = np.broadcast_to(np.asarray(households, float), (9,)).copy()
    return gpd.GeoDataFrame(
        {
            "households": hh,
            "population": hh * 2.5,
            "n_units": (hh > 0).astype(int),
            "group": groups if groups is not None else [None] * 9,
            "block": 0,
        },
        geometry=boxes,
        crs=UTM,
    )


# grids of the 3 × 3 cells:   B B B
#                             A A B
#                             A A A
TWO_GRIDS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])


def partition(cells=None, assignment=TWO_GRIDS, rule=BAND) -> Partition:
    cells = three_by_three() if cells is None else cells
    return Partition(cell_graph(cells), assignment, [rule] * (int(assignment.max()) + 1))


def test_figures_and_status_come_from_the_assignment():
    p = partition()
    np.testing.assert_array_equal(p.households, [500, 400])
    np.testing.assert_array_equal(p.population, [1250, 1000])
    np.testing.assert_array_equal(p.units, [5, 4])
    np.testing.assert_array_equal(p.pieces, [1, 1])
    assert list(p.status()) == ["ok", "ok"]
    np.testing.assert_array_equal(p.cells_of(1), [5, 6, 7, 8])


def test_band_edges_exactly_min_and_max_are_in_one_more_is_out():
    p = partition(rule=Rule("household_band", 400, 500))  # A holds exactly 500, B exactly 400
    assert p.in_band().all()
    hh = np.full(9, 100.0)
    hh[0] = 101  # A: 501
    over = partition(three_by_three(hh), rule=Rule("household_band", 400, 500))
    assert list(over.status()) == ["over_max", "ok"]
    under = partition(rule=Rule("household_band", 401, 500))  # B: 400
    assert list(under.status()) == ["ok", "under_min"]


def test_move_returns_a_new_partition_and_leaves_the_original_unchanged():
    p = partition()
    before = p.households.copy()
    q = p.move([5], 0)
    assert q is not p and q.parent is p
    np.testing.assert_array_equal(p.assignment, TWO_GRIDS)
    np.testing.assert_array_equal(p.households, before)
    np.testing.assert_array_equal(q.households, [600, 300])
    np.testing.assert_array_equal(q.moved, [5])
    assert list(q.status()) == ["over_max", "ok"]
    with pytest.raises(ValueError, match="read-only"):
        p.assignment[0] = 1  # nobody changes a partition in place


def test_a_new_grid_takes_the_rule_of_the_grid_its_first_cell_came_from():
    rural = Rule("village_group")
    p = Partition(cell_graph(three_by_three()), TWO_GRIDS, [BAND, rural])
    q = p.reassign(np.array([1, 7]), np.array([0, 2]))  # cell 7 (grid B, rural) founds grid 2
    assert q.rules == (BAND, rural, rural) and q.parent is p
    assert p.reassign(np.array([1]), np.array([1]), keep_parent=False).parent is None  # an editor's long history
    assert p.move([3], 2).rules[2] == BAND


def test_a_move_that_breaks_contiguity_is_detected():
    # moving 1 and 4 to B leaves A as {0, 3} and {2}:   B B B
    #                                                   A B B
    #                                                   A B A
    p = partition()
    q = p.move([1, 4], 1)
    assert q.contiguous().tolist() == [False, True]
    np.testing.assert_array_equal(q.pieces, [2, 1])
    assert list(q.status()) == ["enclave", "over_max"]  # A holds 300: in band, but in pieces
    assert p.contiguous().all()  # the original is as it was


def test_out_of_band_comes_before_enclave():
    q = partition().move([1, 4, 3], 1)  # A: {0} and {2}, 200 households
    assert list(q.status()) == ["under_min", "over_max"]
    assert not q.contiguous()[0]


def test_rural_rule_flags_two_village_groups_in_one_grid():
    groups = ["一组"] * 5 + ["二组"] * 4
    rural = Rule("village_group")
    p = partition(three_by_three(groups=groups), rule=rural)
    assert p.one_group().all()
    moved = p.move([4], 1)  # a 一组 cell into the 二组 grid
    assert moved.one_group().tolist() == [True, False]
    np.testing.assert_array_equal(moved.groups, [1, 2])
    merged = p.move(p.cells_of(1), 0)  # the two groups' grids merged
    assert not merged.one_group()[0]
    # the band and other rules do not care about groups
    assert partition(three_by_three(groups=groups), assignment=np.zeros(9, int)).one_group().all()


def test_exclusive_areas_have_no_band():
    p = Partition(cell_graph(three_by_three()), TWO_GRIDS, [None, BAND])  # grid 0: an exclusive area, 500
    q = p.move([5, 6], 0)  # 700 households, still no band
    assert q.in_band().tolist() == [True, False]


def test_bad_assignments_are_refused():
    graph = cell_graph(three_by_three())
    with pytest.raises(ValueError, match="9 cells"):
        Partition(graph, np.zeros(8, int), [BAND])
    with pytest.raises(ValueError, match=r"names grids outside 0\.\.0\."):
        Partition(graph, TWO_GRIDS, [BAND])
    with pytest.raises(ValueError, match="does not exist"):
        partition().move([0], 5)


def _fresh(p: Partition) -> Partition:
    """The same assignment computed from scratch (no tallies carried over from a parent)."""
    return Partition(p.graph, p.assignment, p.rules)


@pytest.mark.parametrize("given", [True, False], ids=["cells carry population and units", "they do not"])
def test_tallies_carried_through_moves_equal_figures_counted_afresh(given):
    from dataclasses import replace

    hh = np.array([0, 120, 80, 100, 0, 60, 90, 40, 10], float)
    cells = three_by_three(hh)
    graph = cell_graph(cells)
    if given:
        graph = replace(graph, population=np.arange(9.0) * 3, units=np.array([0, 2, 1, 1, 0, 3, 1, 1, 1]))
    else:
        graph = replace(graph, population=None, units=None)
    graph = replace(graph, measures={"minors": np.arange(9.0) ** 2})
    p = Partition(graph, TWO_GRIDS, [BAND, BAND])
    for figure in ("households", "population", "units", "n_cells"):
        getattr(p, figure)  # tallied now, so the moves below update them instead of recounting
    p.measure("minors")
    moved = p.move([5, 2], 1).flip({8: 0, 0: 1}).move([4], 2).reassign(np.array([4]), np.array([1]))
    moved = moved.with_grids([BAND])  # a fourth grid, empty: every figure has a (zero) entry for it
    fresh = _fresh(moved)
    for figure in ("households", "population", "units", "n_cells"):
        np.testing.assert_allclose(getattr(moved, figure), getattr(fresh, figure), err_msg=figure)
    assert len(moved) == 4 and moved.households[3] == 0 and len(fresh.households) == 4
    np.testing.assert_array_equal(moved.households, [np.sum(hh[moved.assignment == g]) for g in range(4)])
    if given:
        np.testing.assert_array_equal(
            moved.population, [np.sum(graph.population[moved.assignment == g]) for g in range(4)]
        )
    else:
        np.testing.assert_array_equal(moved.population, [0, 0, 0, 0])  # no population: zero, not NaN
        # without unit counts, a unit is a cell with households (cells 0 and 4 hold none)
        np.testing.assert_array_equal(moved.units, [np.sum(hh[moved.assignment == g] > 0) for g in range(4)])
    np.testing.assert_array_equal(moved.n_cells, np.bincount(moved.assignment, minlength=4))
    np.testing.assert_allclose(moved.measure("minors"), fresh.measure("minors"))
    np.testing.assert_array_equal(moved.measure("minors"), np.bincount(moved.assignment, np.arange(9.0) ** 2, 4))


def test_a_grid_over_a_measure_limit_of_its_rule_says_so_and_walk_m_is_not_judged():
    from dataclasses import replace

    from partition.reasons import ReasonKind
    from partition.values import Limit

    graph = replace(cell_graph(three_by_three()), measures={"minors": np.array([40.0, 0, 0, 0, 0, 0, 0, 0, 30])})
    rule = Rule("household_band", 300, 500, limits=(Limit("minors", max=50), Limit("walk_m", max=1)))
    p = Partition(graph, TWO_GRIDS, [rule, rule])
    assert p.limit_reasons(0) == p.limit_reasons(1) == ()  # 40 and 30 minors; walk_m is not on the cells
    q = p.move([8], 0)  # 70 minors in A
    (why,) = q.limit_reasons(0)
    assert why.kind is ReasonKind.LIMIT_UNMET and why.values == {"measure": "minors", "value": 70.0, "limit": "≤ 50"}
    assert q.limit_reasons(1) == () and q.move([8], 1).limit_reasons(0) == ()
    # an exclusive area has no rule: no limits unless the caller names them
    r = Partition(graph, np.zeros(9, int), [None])
    assert r.limit_reasons(0) == () and len(r.limit_reasons(0, limits=rule.limits)) == 1


def test_a_rule_without_a_band_reads_ok_as_text_whatever_the_households():
    from partition.partition import band_status

    for rule in (None, Rule("village_group"), Rule("single")):
        out = band_status(np.array([0, 10_000]), rule)
        assert out.tolist() == ["ok", "ok"] and out.dtype == object
    assert band_status([299, 300, 500, 501], BAND).tolist() == ["under_min", "ok", "ok", "over_max"]
