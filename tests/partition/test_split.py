"""The balanced splitter on hand-built graphs with known answers."""

from __future__ import annotations

import networkx as nx
import pytest

from partition.split import choose_k, feasible_k, split_graph


def lattice(nx_: int, ny: int, households=10.0, *, barrier_x: float | None = None, compound=None) -> nx.Graph:
    """nx_ × ny unit squares; node (i, j) → id j*nx_+i; optional vertical barrier between columns.

    ::

        (0,1) (1,1) (2,1)
        (0,0) (1,0) (2,0)      barrier_x=1.5 puts a road between columns 1 and 2
    """
    g = nx.Graph()
    for j in range(ny):
        for i in range(nx_):
            hh = households(i, j) if callable(households) else households
            g.add_node(j * nx_ + i, households=float(hh), x=i + 0.5, y=j + 0.5, area=1.0,
                       compound=compound(i, j) if compound else None, label=f"cell {i},{j}")
    for j in range(ny):
        for i in range(nx_):
            v = j * nx_ + i
            if i + 1 < nx_:
                crosses = barrier_x is not None and i + 0.5 < barrier_x < i + 1.5
                g.add_edge(v, v + 1, length=1.0, barrier=crosses)
            if j + 1 < ny:
                g.add_edge(v, v + nx_, length=1.0, barrier=False)
    return g


def connected(g: nx.Graph, nodes) -> bool:
    return nx.is_connected(g.subgraph(nodes))


def test_feasible_k_and_choice():
    assert list(feasible_k(1000, min_households=300, max_households=500)) == [2, 3]
    assert list(feasible_k(550, min_households=300, max_households=500)) == []
    assert choose_k(1200, min_households=300, max_households=500) == 3
    assert choose_k(250, min_households=300, max_households=500) == 1


def test_strip_splits_into_the_two_halves():
    g = lattice(10, 1, households=100)
    parts = split_graph(g, min_households=300, max_households=500)
    assert sorted(p.nodes for p in parts) == [tuple(range(5)), tuple(range(5, 10))]
    assert all(p.status == "ok" for p in parts)


def test_lattice_parts_are_in_band_contiguous_and_cover_every_node():
    g = lattice(20, 15, households=lambda i, j: 5 + (i * 7 + j * 3) % 11)
    parts = split_graph(g, min_households=300, max_households=500)
    nodes = sorted(n for p in parts for n in p.nodes)
    assert nodes == sorted(g.nodes)
    for p in parts:
        assert 300 <= p.households <= 500
        assert connected(g, p.nodes)
        assert p.status == "ok"


def test_deterministic():
    g = lattice(17, 13, households=lambda i, j: 3 + (i * j) % 9)
    a = split_graph(g, min_households=300, max_households=500)
    b = split_graph(g, min_households=300, max_households=500)
    assert a == b


def test_compound_that_fits_is_never_split():
    # a 4x4 compound of 160 households sits right where the middle cut would fall
    g = lattice(12, 6, households=10, compound=lambda i, j: "C" if 4 <= i < 8 and 1 <= j < 5 else None)
    parts = split_graph(g, min_households=300, max_households=500)
    compound = {j * 12 + i for i in range(4, 8) for j in range(1, 5)}
    holders = [p for p in parts if compound & set(p.nodes)]
    assert len(holders) == 1 and compound <= set(holders[0].nodes)


def test_compound_cut_by_a_stray_cell_is_joined_through_it():
    # compound "C" owns columns 4 and 7 of rows 1-4; houses in columns 5-6 between them
    # (not in the compound) cut it into two pieces, so joining it needs those houses
    def comp(i, j):
        inside = 4 <= i < 8 and 1 <= j < 5
        gap = i in (5, 6)
        return "C" if inside and not gap else None

    g = lattice(12, 6, households=10, compound=comp)
    parts = split_graph(g, min_households=300, max_households=500)
    compound = {j * 12 + i for i in (4, 7) for j in range(1, 5)}
    holders = [p for p in parts if compound & set(p.nodes)]
    assert len(holders) == 1 and compound <= set(holders[0].nodes)
    assert connected(g, holders[0].nodes)


def test_oversize_unit_is_its_own_flagged_grid():
    g = lattice(6, 4, households=lambda i, j: 620 if (i, j) == (0, 0) else 30)
    parts = split_graph(g, min_households=300, max_households=500)
    big = [p for p in parts if 0 in p.nodes]
    assert big[0].nodes == (0,)
    assert big[0].status == "over_max"
    assert "cell 0,0 alone has 620 households" in big[0].note
    assert big[0].flag == "unit_over_max"


def test_too_few_households_gives_one_flagged_grid():
    parts = split_graph(lattice(4, 4, households=10), min_households=300, max_households=500)
    assert len(parts) == 1 and parts[0].status == "under_min"
    assert "160 households" in parts[0].note
    assert parts[0].flag == "no_feasible_k"


def test_grids_do_not_cross_a_barrier_when_both_sides_are_feasible():
    g = lattice(10, 8, households=10, barrier_x=5.0)  # 400 households each side of the road
    parts = split_graph(g, min_households=300, max_households=500)
    for p in parts:
        sides = {g.nodes[n]["x"] < 5.0 for n in p.nodes}
        assert len(sides) == 1
        assert 300 <= p.households <= 500


def test_infeasible_side_of_a_barrier_joins_its_neighbour():
    # 30 households east of the road cannot be a grid: they join the west side (one crossing)
    g = lattice(10, 8, households=lambda i, j: 0 if i >= 8 else 12.5, barrier_x=7.0)
    for j in range(8):
        g.nodes[j * 10 + 7]["households"] = 3.75
    parts = split_graph(g, min_households=300, max_households=500)
    assert all(p.status == "ok" for p in parts)
    assert sum(p.households for p in parts) == pytest.approx(730)
    assert len(parts) == 2


def test_empty_cells_are_attached():
    g = lattice(10, 6, households=lambda i, j: 0 if j == 5 else 10)
    parts = split_graph(g, min_households=250, max_households=400)
    assert sorted(n for p in parts for n in p.nodes) == sorted(g.nodes)
    assert all(connected(g, p.nodes) for p in parts)
