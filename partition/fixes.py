"""Suggested fixes for a grid that misses a measure limit: which cells to move to which neighbouring grid."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from partition.adjacency import CellGraph
from partition.values import Band, Limit

MAX_MOVES = 12
"""Most cells one suggestion moves."""


@dataclass(frozen=True)
class Fix:
    """A suggestion for one grid: ``move`` cells to neighbours, ``split`` it in two, or ``none`` found.

    ``moves`` holds ``(cell, grid)`` pairs in order; ``before``/``after`` the grid's measure.
    """

    grid: int
    kind: str
    moves: tuple[tuple[int, int], ...] = ()
    before: float = 0.0
    after: float = 0.0


def suggest_fix(graph: CellGraph, label: np.ndarray, grid: int, *, values: np.ndarray, limit: Limit, band: Band) -> Fix:
    """Return the cells to move out of (or into) `grid` so that it meets `limit`, keeping every grid in band.

    Greedy over the grid's border: each step moves the cell that changes the measure most towards
    the limit, where the grid left behind stays connected, both grids keep their households in
    `band` (when they were), and the neighbour stays within the limit itself. When no such sequence
    meets the limit, a grid with households for two in-band grids gets ``split``, else ``none``.

    Parameters
    ----------
    graph
        The cells' adjacency (:func:`partition.adjacency.cell_graph`).
    label
        Grid number of every cell.
    grid
        The grid to fix.
    values
        The measure of every cell.
    limit, band
        The limit missed, and the household band every grid keeps.

    Returns
    -------
    fix
        The suggestion.
    """
    label = np.asarray(label).copy()
    values = np.asarray(values, float)
    hh = np.bincount(label, weights=graph.households, minlength=label.max() + 1)
    mv = np.bincount(label, weights=values, minlength=label.max() + 1)
    before = float(mv[grid])
    over = limit.max is not None and before > limit.max
    g = nx.Graph()
    g.add_nodes_from(range(len(label)))
    g.add_edges_from(zip(graph.i.tolist(), graph.j.tolist(), strict=True))
    moves: list[tuple[int, int]] = []
    while not limit.contains(mv[grid]) and len(moves) < MAX_MOVES:
        mine = set(np.flatnonzero(label == grid).tolist())
        best = None
        for v, u in [(a, b) for a, b in g.edges(sorted(mine)) if (label[a] == grid) != (label[b] == grid)]:
            inside, outside = (v, u) if label[v] == grid else (u, v)
            cell, src, dst = (inside, grid, int(label[outside])) if over else (outside, int(label[outside]), grid)
            if values[cell] <= 0 or (over and len(mine) <= 1):
                continue
            h_src, h_dst = hh[src] - graph.households[cell], hh[dst] + graph.households[cell]
            if (band.contains(hh[src]) and not band.contains(h_src)) or (
                band.contains(hh[dst]) and not band.contains(h_dst)
            ):
                continue
            other = dst if over else src
            after_other = mv[other] + values[cell] if over else mv[other] - values[cell]
            if not limit.contains(after_other):
                continue
            rest = np.flatnonzero(label == src)
            rest = rest[rest != cell]
            if len(rest) and not nx.is_connected(g.subgraph(rest.tolist())):
                continue
            key = (-values[cell], cell, dst)
            if best is None or key < best[0]:
                best = (key, cell, src, dst)
        if best is None:
            break
        _, cell, src, dst = best
        label[cell] = dst
        hh[src] -= graph.households[cell]
        hh[dst] += graph.households[cell]
        mv[src] -= values[cell]
        mv[dst] += values[cell]
        moves.append((int(cell), int(dst)))
    if limit.contains(mv[grid]):
        return Fix(grid, "move", tuple(moves), before, float(mv[grid]))
    if over and hh[grid] >= 2 * band.min_households:
        return Fix(grid, "split", (), before, before / 2)
    return Fix(grid, "none", (), before, before)
