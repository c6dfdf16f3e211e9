"""Assign workers (网格员) to grids: each a contiguous set of grids in one township, loads balanced.

Pure functions (no I/O) on grid polygons in one metric CRS. A grid's load is a weighted sum of
its measures, each divided by its mean over the grids so that households and people weigh as
the weights say. Workers are shared out to townships in proportion to their load (every township
gets at least one). Each township's grids are then cut in two along an edge of a spanning tree of
their neighbour graph where the two sides' loads best match the capacities of the two halves of its
workers (the best cut of several random trees, as ReCom does), recursively down to one worker:
each side of a tree cut is connected, so every worker's grids are. A worker's capacity (1 = a full
load) scales the load it should carry. A grid that touches no other grid of its township (an island)
is joined to the nearest grid for the cut, so the worker holding it has an area in pieces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

from geodata.errors import OptionError
from partition.adjacency import edges_from_cells

MIN_SHARED_M = 0.5
"""Grids sharing less border than this (metres) are not neighbours (they meet at a corner)."""
TOLERANCE_M = 0.05
"""Grid outlines this close count as one border (grids made in another CRS and reprojected)."""
TRIES = 48
"""Random spanning trees tried per cut at most (fewer when a cut within 1 % of a worker's load is found)."""


def composite_load(measures: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """Return each grid's load: Σ weight × measure ÷ the measure's mean over the grids (missing = 0).

    Examples
    --------
    >>> composite_load(pd.DataFrame({"households": [100, 300], "population": [300, 300]}),
    ...                {"households": 1, "population": 1}).round(2).tolist()
    [1.5, 2.5]
    """
    load = np.zeros(len(measures))
    for name, weight in weights.items():
        values = pd.to_numeric(measures[name], errors="coerce").fillna(0).to_numpy(float)
        mean = values.mean() if len(values) else 0.0
        if mean > 0:
            load += weight * values / mean
    return load


@dataclass(frozen=True)
class Assignment:
    """Result of :func:`assign_workers`."""

    worker: np.ndarray
    """Index into the workers of every grid."""
    township: np.ndarray
    """Township of every worker."""
    pieces: np.ndarray
    """Connected pieces of every worker's area (1: contiguous)."""


def grid_neighbours(
    geoms: np.ndarray,
    *,
    cells: np.ndarray | None = None,
    cell_grid: np.ndarray | None = None,
    min_shared_m: float = MIN_SHARED_M,
) -> nx.Graph:
    """Return the graph of grids that share a border of at least `min_shared_m` metres.

    From the cells the grids are unions of when given (`cells`, and `cell_grid`: the grid of each
    cell), whose borders match exactly; else from the grids' own outlines, matched within
    :data:`TOLERANCE_M` (grids reprojected from another CRS no longer share their vertices exactly).
    """
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    if cells is not None and cell_grid is not None:
        ci, cj, length = edges_from_cells(cells)
        a, b = cell_grid[ci], cell_grid[cj]
        shared = pd.Series(length).groupby([np.minimum(a, b), np.maximum(a, b)]).sum()
        shared = shared[shared.index.get_level_values(0) != shared.index.get_level_values(1)]
        pairs = shared[shared >= min_shared_m].index
        graph.add_edges_from((int(x), int(y)) for x, y in pairs)
        return graph
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=TOLERANCE_M)
    keep = a < b
    a, b = a[keep], b[keep]
    rings = shapely.boundary(geoms)
    shared = shapely.length(shapely.intersection(rings[a], shapely.buffer(rings[b], TOLERANCE_M)))
    graph.add_edges_from(zip(a[shared >= min_shared_m].tolist(), b[shared >= min_shared_m].tolist(), strict=True))
    return graph


def share_workers(
    township: np.ndarray, load: np.ndarray, capacity: np.ndarray, pinned: Sequence[str | None]
) -> np.ndarray:
    """Return the township of every worker: pinned ones where pinned, the rest where load per capacity is highest.

    Every township gets a worker first (the heaviest first), then each further worker (largest
    capacity first) goes where the load left per capacity is highest; no township gets more
    workers than grids.

    Raises
    ------
    OptionError
        When there are fewer workers than townships, or more than grids.
    """
    towns, inv = np.unique(township, return_inverse=True)
    t_load = np.bincount(inv, weights=load, minlength=len(towns))
    t_grids = np.bincount(inv, minlength=len(towns))
    n = len(capacity)
    if n > len(township):
        msg = f"`workers`: {n} workers for {len(township)} grids; every worker needs at least one grid."
        raise OptionError(msg)
    out = np.array(pinned, dtype=object)
    cap = np.zeros(len(towns))
    count = np.zeros(len(towns), int)
    for i, t in enumerate(pinned):
        if t is not None:
            j = int(np.searchsorted(towns, t))
            cap[j] += capacity[i]
            count[j] += 1
    free = [i for i in np.argsort(-capacity, kind="stable") if pinned[i] is None]
    empty = [j for j in np.argsort(-t_load, kind="stable") if count[j] == 0]
    if len(empty) > len(free):
        msg = (
            f"`workers`: {n} workers for {len(towns)} townships; every township needs at least one worker "
            f"({len(empty)} have none)."
        )
        raise OptionError(msg)
    for j, i in zip(empty, free, strict=False):
        out[i], cap[j], count[j] = towns[j], cap[j] + capacity[i], count[j] + 1
    rate = load.sum() / max(capacity.sum(), 1e-12)
    for i in free[len(empty) :]:
        left = np.where(count < t_grids, t_load - rate * cap, -np.inf)
        j = int(np.argmax(left))
        out[i], cap[j], count[j] = towns[j], cap[j] + capacity[i], count[j] + 1
    return out


def assign_workers(
    geoms: np.ndarray,
    township: np.ndarray,
    load: np.ndarray,
    *,
    capacity: np.ndarray,
    pinned: Sequence[str | None] | None = None,
    neighbours: nx.Graph | None = None,
) -> Assignment:
    """Give every grid a worker: one contiguous set of grids per worker, within one township, loads balanced.

    Parameters
    ----------
    geoms
        Grid polygons (metric CRS).
    township
        Township code of every grid (the first 9 digits of its village code).
    load
        Composite load of every grid (:func:`composite_load`).
    capacity
        Capacity of every worker (> 0; 1 = a full load).
    pinned
        Township of every worker who must work there (None: anywhere).
    neighbours
        Which grids share a border (:func:`grid_neighbours`); found from `geoms` when not given.

    Returns
    -------
    assignment
        See :class:`Assignment`.

    Raises
    ------
    OptionError
        When the workers cannot cover the townships (see :func:`share_workers`).
    """
    capacity = np.asarray(capacity, float)
    township = np.asarray(township, dtype=object)
    load = np.asarray(load, float)
    pins = list(pinned) if pinned is not None else [None] * len(capacity)
    where = share_workers(township, load, capacity, pins)
    worker = np.full(len(geoms), -1)
    graph = grid_neighbours(geoms) if neighbours is None else neighbours
    cen = shapely.get_coordinates(shapely.point_on_surface(geoms))
    for t in np.unique(township):
        grids = np.flatnonzero(township == t)
        staff = np.flatnonzero(where == t)
        part = _regions(graph.subgraph(grids.tolist()), grids, cen[grids], load[grids], capacity[staff])
        worker[grids] = staff[part]
    pieces = np.array(
        [
            nx.number_connected_components(graph.subgraph(np.flatnonzero(worker == w).tolist()))
            for w in range(len(where))
        ]
    )
    return Assignment(worker=worker, township=where, pieces=pieces)


def _regions(graph: nx.Graph, grids: np.ndarray, xy: np.ndarray, load: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Split one township's grids into ``len(cap)`` regions (index per grid) by recursive tree bisection."""
    n = len(grids)
    part = np.zeros(n, int)
    if len(cap) > 1:
        local = {int(g): i for i, g in enumerate(grids)}
        edges = np.array([(local[int(a)], local[int(b)]) for a, b in graph.edges()], dtype=np.int64).reshape(-1, 2)
        edges = _joined(edges, xy)
        rng = np.random.default_rng(0)
        _bisect(edges, np.arange(n), list(range(len(cap))), part, xy, load, cap, rng)
    return part


def _joined(edges: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Return `edges` with islands joined to their nearest grid (so one tree spans the township)."""
    n = len(xy)
    while True:
        adj = coo_array((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        k, label = connected_components(adj, directed=False)
        if k == 1:
            return edges
        first, rest = np.flatnonzero(label == 0), np.flatnonzero(label != 0)
        d = ((xy[first][:, None, :] - xy[rest][None, :, :]) ** 2).sum(axis=2)
        f, r = np.unravel_index(int(np.argmin(d)), d.shape)
        edges = np.vstack([edges, [[first[f], rest[r]]]])


def _bisect(
    edges: np.ndarray,
    nodes: np.ndarray,
    staff: list[int],
    part: np.ndarray,
    xy: np.ndarray,
    load: np.ndarray,
    cap: np.ndarray,
    rng: np.random.Generator,
    tries: int = TRIES,
) -> None:
    """Give `nodes` to `staff`: cut a spanning tree where the loads match the two halves' capacities, recurse."""
    if len(staff) == 1:
        part[nodes] = staff[0]
        return
    half = len(staff) // 2
    left_staff, right_staff = staff[:half], staff[half:]
    share = cap[left_staff].sum() / cap[staff].sum()
    m = len(nodes)
    pos = np.full(len(xy), -1)
    pos[nodes] = np.arange(m)
    inside = (pos[edges[:, 0]] >= 0) & (pos[edges[:, 1]] >= 0)
    a, b = pos[edges[inside, 0]], pos[edges[inside, 1]]
    dist = np.hypot(*(xy[nodes][a] - xy[nodes][b]).T) + 1e-6  # csgraph reads a weight of 0 as no edge
    w = load[nodes]
    total = w.sum()
    best: tuple[float, np.ndarray, np.ndarray, int, bool] | None = None  # error, BFS order, parents, cut child, side
    for _ in range(tries):
        tree = minimum_spanning_tree(coo_array((dist * rng.uniform(1.0, 2.0, len(dist)), (a, b)), shape=(m, m)))
        order, parent = breadth_first_order(tree, 0, directed=False, return_predecessors=True)
        below, count = w.astype(float), np.ones(m)
        for v in order[:0:-1]:
            below[parent[v]] += below[v]
            count[parent[v]] += count[v]
        child = order[1:]
        for left in (True, False):  # the part below the cut goes to the left or the right half of the staff
            mine = len(left_staff) if left else len(right_staff)
            fits = (count[child] >= mine) & (m - count[child] >= len(staff) - mine)
            err = np.where(fits, np.abs(below[child] - total * (share if left else 1 - share)), np.inf)
            j = int(np.argmin(err))
            if np.isfinite(err[j]) and (best is None or err[j] < best[0]):
                best = (float(err[j]), order, parent, int(child[j]), left)
        if best is not None and best[0] <= 0.01 * total / len(staff):
            break
    if best is None:  # cannot happen: every township has at least as many grids as workers
        part[nodes] = staff[0]
        return
    _, order, parent, cut, child_left = best
    below_cut = np.zeros(m, bool)
    below_cut[cut] = True
    for v in order:  # breadth first: a parent is marked before its children
        if parent[v] >= 0 and below_cut[parent[v]]:
            below_cut[v] = True
    west, east = (nodes[below_cut], nodes[~below_cut]) if child_left else (nodes[~below_cut], nodes[below_cut])
    _bisect(edges, west, left_staff, part, xy, load, cap, rng, tries)
    _bisect(edges, east, right_staff, part, xy, load, cap, rng, tries)
