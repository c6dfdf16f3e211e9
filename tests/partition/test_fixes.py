"""Suggested fixes for a grid that misses a limit: cells to move, keeping every grid in its band."""

from __future__ import annotations

import numpy as np

from partition.adjacency import CellGraph
from partition.fixes import suggest_fix
from partition.values import Band, Limit


def street(households: list[float]) -> CellGraph:
    """Cells in a row, each touching the next (a street of houses)."""
    n = len(households)
    i = np.arange(n - 1)
    return CellGraph(
        households=np.asarray(households, float),
        x=np.arange(n, dtype=float),
        y=np.zeros(n),
        area=np.ones(n),
        block=np.zeros(n, int),
        compound=np.full(n, None, dtype=object),
        label=np.array([f"house {k}" for k in range(n)], dtype=object),
        i=i,
        j=i + 1,
        length=np.ones(n - 1),
        barrier=np.zeros(n - 1, bool),
    )


def test_the_heavy_border_cell_moves_to_the_neighbour_that_has_room():
    graph = street([10.0] * 10)
    label = np.array([0] * 6 + [1] * 4)
    minors = np.array([1, 1, 1, 1, 5, 20, 1, 1, 1, 1], float)  # grid 0 holds 29, grid 1 holds 4
    fix = suggest_fix(graph, label, 0, values=minors, limit=Limit("minors", max=25), band=Band(30, 70))
    assert fix.kind == "move" and fix.moves == ((5, 1),)
    assert fix.before == 29 and fix.after == 9
    # the move is a real fix: both grids then meet the limit and the band
    after = label.copy()
    after[5] = 1
    for grid in (0, 1):
        assert minors[after == grid].sum() <= 25
        assert 30 <= graph.households[after == grid].sum() <= 70


def test_no_move_when_the_neighbour_would_pass_the_limit_or_the_band_would_break():
    graph = street([10.0] * 10)
    label = np.array([0] * 6 + [1] * 4)
    minors = np.array([1, 1, 1, 1, 5, 20, 1, 1, 1, 1], float)
    tight = suggest_fix(graph, label, 0, values=minors, limit=Limit("minors", max=15), band=Band(30, 70))
    assert tight.kind == "split"  # grid 1 would hold 24 > 15; grid 0's 60 households make two grids of 30
    at_min = suggest_fix(graph, label, 0, values=minors, limit=Limit("minors", max=25), band=Band(60, 70))
    assert at_min.kind == "none"  # grid 0 has 60 households, the minimum: it cannot give a cell
