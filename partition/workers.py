"""Assign workers (网格员) to grids: each a contiguous set of grids in one township, loads balanced.

Pure functions (no I/O) on grid polygons in one metric CRS. A grid's load is a weighted sum of
its measures, each divided by its mean over the grids so that households and people weigh as
the weights say. Workers are shared out to townships in proportion to their load (every township
gets at least one), then each township's grids are grown into one region per worker from seeds
far apart, and boundary grids move between neighbouring regions while that lowers the imbalance
and no region is cut in two. A worker's capacity (1 = a full load) scales the load it should carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from geodata.errors import OptionError

MIN_SHARED_M = 0.5
"""Grids sharing less border than this (metres) are not neighbours (they meet at a corner)."""
MAX_PASSES = 60
"""Rounds of boundary moves per township at most."""


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


def grid_neighbours(geoms: np.ndarray, *, min_shared_m: float = MIN_SHARED_M) -> nx.Graph:
    """Return the graph of grids that share a border of at least `min_shared_m` metres."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b])))
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
    graph = grid_neighbours(geoms)
    cen = shapely.get_coordinates(shapely.point_on_surface(geoms))
    for t in np.unique(township):
        grids = np.flatnonzero(township == t)
        staff = np.flatnonzero(where == t)
        part = _regions(graph.subgraph(grids.tolist()), grids, cen[grids], load[grids], capacity[staff])
        worker[grids] = staff[part]
    pieces = np.array(
        [nx.number_connected_components(graph.subgraph(np.flatnonzero(worker == w).tolist())) for w in range(len(where))]
    )
    return Assignment(worker=worker, township=where, pieces=pieces)


def _regions(graph: nx.Graph, grids: np.ndarray, xy: np.ndarray, load: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Split one township's grids into ``len(cap)`` regions (index per grid) grown from far-apart seeds."""
    k, n = len(cap), len(grids)
    local = {int(g): i for i, g in enumerate(grids)}
    adj = [[local[int(b)] for b in graph.neighbors(int(g))] for g in grids]
    if k == 1:
        return np.zeros(n, int)
    weight = np.maximum(load, 1e-9)
    centre = (xy * weight[:, None]).sum(axis=0) / weight.sum()
    seeds = [int(np.argmax(((xy - centre) ** 2).sum(axis=1)))]
    near = ((xy - xy[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        seeds.append(int(np.argmax(near)))
        near = np.minimum(near, ((xy - xy[seeds[-1]]) ** 2).sum(axis=1))
    part = np.full(n, -1)
    part[seeds] = np.arange(k)
    held = np.zeros(k)
    np.add.at(held, part[seeds], load[seeds])
    while (part < 0).any():
        ratio = held / cap
        grown = False
        for p in np.argsort(ratio, kind="stable"):
            members = np.flatnonzero(part == p)
            border = sorted({b for m in members for b in adj[m] if part[b] < 0})
            if border:
                dist = ((xy[border] - xy[seeds[p]]) ** 2).sum(axis=1)
                g = border[int(np.argmin(dist))]
                part[g], held[p], grown = p, held[p] + load[g], True
                break
        if not grown:  # grids no region touches (an island): the nearest region with room takes the nearest one
            free = np.flatnonzero(part < 0)
            taken = np.flatnonzero(part >= 0)
            d = ((xy[free][:, None, :] - xy[taken][None, :, :]) ** 2).sum(axis=2)
            f, t = np.unravel_index(int(np.argmin(d)), d.shape)
            g, p = free[f], part[taken[t]]
            part[g], held[p] = p, held[p] + load[g]
    return _balance(part, adj, load, cap, held)


def _balance(part: np.ndarray, adj: list[list[int]], load: np.ndarray, cap: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Move border grids to lighter neighbouring regions while Σ cap·(load/cap − mean)² falls, none cut in two."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(part)))
    graph.add_edges_from((a, b) for a, nb in enumerate(adj) for b in nb if a < b)
    rate = held.sum() / cap.sum()

    def cost(p: int, h: float) -> float:
        return float(cap[p] * (h / cap[p] - rate) ** 2)

    def pieces(members: list[int]) -> int:
        return nx.number_connected_components(graph.subgraph(members)) if members else 0

    for _ in range(MAX_PASSES):
        moved = False
        for a in np.argsort(-load, kind="stable"):
            p = part[a]
            if (part == p).sum() == 1:
                continue
            for q in sorted({int(part[b]) for b in adj[a]} - {int(p)}, key=lambda r: held[r] / cap[r]):
                gain = cost(p, held[p]) + cost(q, held[q]) - cost(p, held[p] - load[a]) - cost(q, held[q] + load[a])
                if gain <= 1e-12:
                    continue
                before = np.flatnonzero(part == p).tolist()
                after = [m for m in before if m != a]
                if pieces(after) > pieces(before):
                    continue
                part[a], held[p], held[q], moved = q, held[p] - load[a], held[q] + load[a], True
                break
        if not moved:
            break
    return part
