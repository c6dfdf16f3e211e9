"""Measure limits in the splitter: met where the households allow, flagged with a proof that holds where not."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from partition.reasons import ReasonKind
from partition.split import split_graph
from partition.values import Band, Limit
from tests.partition.test_split import connected, lattice


def minors_left(g: nx.Graph, *, columns: int = 3, per_cell: float = 10.0) -> nx.Graph:
    """Put `per_cell` minors on every cell of the `columns` westmost columns, none elsewhere."""
    for v in g.nodes:
        g.nodes[v]["minors"] = per_cell if g.nodes[v]["x"] < columns else 0.0
    return g


def minors(g: nx.Graph, part) -> float:
    return sum(g.nodes[v]["minors"] for v in part.nodes)


def test_a_feasible_limit_is_met_inside_the_band_where_the_plain_split_misses_it():
    """10 × 6 cells of 10 households, 180 minors in the three west columns, band 100-300.

    The shortest cuts are vertical, so the plain split puts all 180 minors in one grid; three
    grids of two rows each hold 60 minors, so ``minors ≤ 70`` is feasible.
    """
    g = minors_left(lattice(10, 6))
    plain = split_graph(g, min_households=100, max_households=300)
    assert max(minors(g, p) for p in plain) > 70  # without the limit it is missed: the test can fail
    parts = split_graph(g, min_households=100, max_households=300, limits=(Limit("minors", max=70),))
    assert all(minors(g, p) <= 70 for p in parts)
    assert all(100 <= p.households <= 300 and p.status == "ok" and not p.flag for p in parts)
    assert all(connected(g, p.nodes) for p in parts)
    assert sorted(v for p in parts for v in p.nodes) == sorted(g.nodes)


def test_an_infeasible_limit_is_flagged_with_the_area_proof_and_the_band_is_kept():
    """Band 150-300 allows at most 4 grids of 600 households; 180 minors over 4 grids is 45 > 40."""
    g = minors_left(lattice(10, 6))
    band = Band(150, 300)
    parts = split_graph(g, min_households=150, max_households=300, limits=(Limit("minors", max=40),))
    assert all(band.contains(p.households) and p.status == "ok" for p in parts)  # never traded for the limit
    over = [p for p in parts if minors(g, p) > 40]
    assert over
    for p in over:
        assert p.flag == "limit_forced"
        (reason,) = [r for r in p.reasons if r.kind == ReasonKind.AREA_OVER_LIMIT]
        v = reason.values
        # the proof holds: the most grids the band allows, and the area's minors spread over them, exceed the limit
        assert v["grids"] == max(band.feasible_counts(v["households"]))
        assert v["households"] == 600 and v["total"] == 180
        assert v["total"] / v["grids"] > v["limit"]
    assert all(not p.flag for p in parts if minors(g, p) <= 40)


def test_a_unit_over_the_limit_is_named_with_its_value():
    g = minors_left(lattice(10, 6))
    g.nodes[0]["minors"] = 60.0
    parts = split_graph(g, min_households=100, max_households=300, limits=(Limit("minors", max=55),))
    (holder,) = [p for p in parts if 0 in p.nodes]
    assert holder.flag == "limit_forced"
    (reason,) = holder.reasons
    assert reason.kind == ReasonKind.UNIT_OVER_LIMIT
    assert reason.values["unit"] == "cell 0,0" and reason.values["value"] == 60 > reason.values["limit"]


def path_graph(households: list[float], values: list[float]) -> nx.Graph:
    g = nx.path_graph(len(households))
    for v, (h, m) in enumerate(zip(households, values, strict=True)):
        g.nodes[v].update(households=h, minors=m, x=float(v), y=0.0, area=1.0, label=f"n{v}")
    nx.set_edge_attributes(g, 1.0, "length")
    nx.set_edge_attributes(g, False, "barrier")
    return g


def test_limit_forced_by_the_units_around_one_unit_and_the_proof_checks_out_by_enumeration():
    """A street of six houses, 10 households each, band 20-30; the first two hold 12 minors each.

    The area proof does not apply (24 minors over up to 3 grids is 8 each) and no unit alone is over
    20, but every connected in-band grid holding the end house also holds its neighbour: 24 > 20.
    """
    g = path_graph([10.0] * 6, [12.0, 12.0, 0, 0, 0, 0])
    parts = split_graph(g, min_households=20, max_households=30, limits=(Limit("minors", max=20),))
    (holder,) = [p for p in parts if 0 in p.nodes]
    assert holder.flag == "limit_forced"
    (reason,) = holder.reasons
    assert reason.kind == ReasonKind.LIMIT_FORCED and reason.values["unit"] == "n0"
    # brute force: every connected set of nodes holding n0 with 20-30 households has more than 20 minors
    for size in range(1, 7):
        for nodes in itertools.combinations(g.nodes, size):
            if 0 in nodes and nx.is_connected(g.subgraph(nodes)):
                h = sum(g.nodes[v]["households"] for v in nodes)
                if 20 <= h <= 30:
                    assert sum(g.nodes[v]["minors"] for v in nodes) > 20
    assert all(20 <= p.households <= 30 for p in parts)


def test_a_minimum_limit_is_met_where_it_can_be():
    """Band 100-300 on 600 households; 180 minors in the west: every grid should hold at least 50."""
    g = minors_left(lattice(10, 6))
    plain = split_graph(g, min_households=100, max_households=300)
    assert min(minors(g, p) for p in plain) < 50
    parts = split_graph(g, min_households=100, max_households=300, limits=(Limit("minors", min=50),))
    assert all(minors(g, p) >= 50 for p in parts)
    assert all(100 <= p.households <= 300 for p in parts)


@pytest.mark.parametrize("seed", range(6))
def test_the_band_is_never_traded_for_a_soft_measure(seed):
    """Random households and minors: wherever the plain split is in band, the measured split is too."""
    rng = np.random.default_rng(seed)
    hh = rng.integers(5, 40, size=(8, 8)).astype(float)
    g = lattice(8, 8, households=lambda i, j: hh[j, i])
    for v in g.nodes:
        g.nodes[v]["minors"] = float(rng.integers(0, 30))
    band = Band(150, 300)
    plain = split_graph(g, min_households=150, max_households=300)
    measured = split_graph(
        g,
        min_households=150,
        max_households=300,
        limits=(Limit("minors", max=float(rng.integers(60, 200))),),
        balance=(("minors", 1.0),),
    )
    out_plain = sum(band.violation(p.households) for p in plain)
    out_measured = sum(band.violation(p.households) for p in measured)
    assert out_measured <= out_plain + 1e-9
    if out_plain == 0:
        assert all(band.contains(p.households) for p in measured)
    assert all(connected(g, p.nodes) for p in measured)


def test_balance_evens_a_measure_without_leaving_the_band():
    g = minors_left(lattice(10, 6))
    spread = [minors(g, p) for p in split_graph(g, min_households=100, max_households=300)]
    parts = split_graph(g, min_households=100, max_households=300, balance=(("minors", 1.0),))
    evened = [minors(g, p) for p in parts]
    assert np.std(evened) < np.std(spread)
    assert all(100 <= p.households <= 300 for p in parts)
