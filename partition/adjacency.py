"""Rook adjacency graphs of cells: shared border length, and whether the border is a barrier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from partition.rows import first_seen, sorted_runs

MIN_SHARED = 1e-6
"""Shared border (metres) below which two cells only touch at a corner and are not neighbours."""


def _ring_coordinates(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(xy, ring, ring_cell, loose)``: every ring vertex, its ring, each ring's cell, odd cells.

    Rings come exterior first, then holes, polygon part by polygon part (GEOS order). Cells of
    polygons and multipolygons are read as one ragged array without copying any geometry;
    anything else (a collection) takes the slower path and is marked loose, to be measured exactly.
    """
    types = shapely.get_type_id(geoms)
    if len(geoms) and np.isin(types, (3, 6)).all() and not shapely.is_empty(geoms).any():
        _, xy, offsets = shapely.to_ragged_array(geoms, include_z=False)
        ring_off, *part_off, geom_off = offsets  # polygons: rings, cells; with multipolygons also parts
        ring = np.repeat(np.arange(len(ring_off) - 1), np.diff(ring_off))
        ring_cell = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
        if part_off:
            ring_cell = np.repeat(ring_cell, np.diff(part_off[0]))
        return xy, ring, ring_cell, np.zeros(len(geoms), bool)
    polys, poly_cell = shapely.get_parts(geoms, return_index=True)  # get_rings skips multipolygons
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    loose = np.zeros(len(geoms), bool)
    loose[poly_cell[shapely.get_type_id(polys) != 3]] = True  # not a polygon part: measure exactly
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    return xy, ring, poly_cell[ring_poly], loose


def _matched_segments(
    geoms: np.ndarray, tree: shapely.STRtree
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shared borders made of identical ring segments, and which cells have any other segment.

    Neighbouring cells of one tessellation share their border vertex for vertex, so each shared
    segment appears once in each cell's ring. Returns ``(i, j, length, loose)``: summed length of
    the segments found in exactly two cells ``i < j``, and a mask of cells with a segment found in
    more than two cells, or in one cell only while touching another (a border whose vertices do not
    match; a segment alone on the area's outer edge touches none). `tree` indexes `geoms`.
    """
    xy, ring, ring_cell, loose = _ring_coordinates(geoms)
    same = ring[1:] == ring[:-1]
    a, b, cell = xy[:-1][same], xy[1:][same], ring_cell[ring[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p = np.where(swap[:, None], b, a)
    q = np.where(swap[:, None], a, b)
    key = first_seen(p[:, 0], p[:, 1], q[:, 0], q[:, 1])
    count = np.bincount(key)[key]
    odd = np.flatnonzero(count != 2)
    # a segment of one cell alone on the area's outer edge touches no other cell: it has no neighbour to
    # measure, so it does not make its cell loose (borders cut at different vertices touch the other cell)
    alone = odd[count[odd] == 1]
    mid = shapely.points((p[alone] + q[alone]) / 2)
    hit, other = tree.query(mid, predicate="intersects")
    touched = np.zeros(len(alone), bool)
    touched[hit[other != cell[alone][hit]]] = True
    outer = np.zeros(len(count), bool)
    outer[alone[~touched]] = True
    loose[cell[(count != 2) & ~outer]] = True
    pair = count == 2
    order = np.flatnonzero(pair)[np.argsort(key[pair], kind="stable")]
    first, second = cell[order[0::2]], cell[order[1::2]]
    length = np.hypot(*(q[order[0::2]] - p[order[0::2]]).T)
    distinct = first != second
    i = np.minimum(first, second)[distinct]
    j = np.maximum(first, second)[distinct]
    n = max(len(geoms), 1)
    pair, total = _group_sums(i * n + j, length[distinct])  # pairs sorted by (i, j)
    return pair // n, pair % n, total, loose


def _group_sums(key: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each distinct `key` (ascending) and the sum of its `values`, added in row order with compensation.

    ``pd.Series(values).groupby(key, sort=True).sum()`` bit for bit (pandas' Kahan summation),
    one step per position within the groups: cells share one segment with most neighbours, so
    about two steps.
    """
    order, start = sorted_runs(key)
    key, values = key[order], values[order]
    size = np.diff(np.r_[start, len(key)])
    total = values[start].copy()
    compensation = np.zeros(len(start))
    for step in range(1, int(size.max()) if len(size) else 0):
        g = np.flatnonzero(size > step)
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, as in pandas
            y = values[start[g] + step] - compensation[g]
            t = total[g] + y
            c = (t - total[g]) - y
        compensation[g] = np.where(np.isnan(c), 0.0, c)  # pandas resets it where an infinity made it NaN
        total[g] = t
    return key[start], total


def edges_from_cells(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(i, j, length)`` for every pair of cells sharing a border longer than :data:`MIN_SHARED`.

    Borders between cells whose every ring segment is shared vertex for vertex with exactly one
    other cell, or lies alone on the area's outer edge, are summed from those segments (no geometry
    overlay); every pair involving any other cell (borders cut at different vertices, as along a
    road) is measured exactly by intersecting the two boundaries. Both give the same lengths.
    """
    n = len(geoms)
    tree = shapely.STRtree(geoms)
    mi, mj, mlen, loose = _matched_segments(geoms, tree)
    clean = ~loose[mi] & ~loose[mj]
    # only pairs with a loose cell are measured exactly: query the tree with those cells alone
    near = np.flatnonzero(loose)
    qi, qj = tree.query(geoms[near], predicate="intersects")
    qi = near[qi]
    lo, hi = np.minimum(qi, qj), np.maximum(qi, qj)
    pair = np.unique(lo[lo != hi] * n + hi[lo != hi])
    i, j = pair // max(n, 1), pair % max(n, 1)
    cell = np.unique(np.r_[i, j])
    rings = np.empty(n, dtype=object)
    rings[cell] = shapely.boundary(geoms[cell])
    length = shapely.length(shapely.intersection(rings[i], rings[j]))
    i = np.concatenate([i, mi[clean]])
    j = np.concatenate([j, mj[clean]])
    length = np.concatenate([length, mlen[clean]])
    order = np.lexsort((j, i))
    i, j, length = i[order], j[order], length[order]
    keep = length > MIN_SHARED
    return i[keep], j[keep], length[keep]


MEASURE_PREFIX = "measure:"
"""Cells carry each measure of their rule in a column ``measure:<name>`` (never clashing with their own columns)."""


def measure_column(name: str) -> str:
    """Return the cell column holding measure `name`."""
    return MEASURE_PREFIX + name


@dataclass(frozen=True)
class CellGraph:
    """Rook adjacency of cells as arrays: one entry per cell (0..n-1), one per edge ``i < j``.

    ``population``, ``units`` (indivisible units per cell) and ``group`` (村民小组) are given where
    the cells carry them (None otherwise); the splitter does not use them, a
    :class:`partition.partition.Partition` does.
    """

    households: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    block: np.ndarray
    compound: np.ndarray
    label: np.ndarray
    i: np.ndarray
    j: np.ndarray
    length: np.ndarray
    barrier: np.ndarray
    population: np.ndarray | None = None
    units: np.ndarray | None = None
    group: np.ndarray | None = None
    measures: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Measure name → value per cell (the ``measure:<name>`` columns of the cells), for limits and balance."""

    def __len__(self) -> int:
        return len(self.households)


def subgraph(graph: CellGraph, nodes: np.ndarray) -> CellGraph:
    """Return the graph induced by `nodes`, renumbered 0..len(nodes)-1 in the order of `nodes`."""
    nodes = np.asarray(nodes, dtype=np.int64)
    pos = np.full(len(graph), -1)
    pos[nodes] = np.arange(len(nodes))
    keep = (pos[graph.i] >= 0) & (pos[graph.j] >= 0)
    a, b = pos[graph.i[keep]], pos[graph.j[keep]]
    i, j = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((j, i))

    def take(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[nodes]

    return CellGraph(
        households=graph.households[nodes],
        x=graph.x[nodes],
        y=graph.y[nodes],
        area=graph.area[nodes],
        block=graph.block[nodes],
        compound=graph.compound[nodes],
        label=graph.label[nodes],
        i=i[order],
        j=j[order],
        length=graph.length[keep][order],
        barrier=graph.barrier[keep][order],
        population=take(graph.population),
        units=take(graph.units),
        group=take(graph.group),
        measures={k: v[nodes] for k, v in graph.measures.items()},
    )


def cell_graph(cells: gpd.GeoDataFrame) -> CellGraph:
    """Build the rook adjacency of `cells` as arrays (what :func:`partition.split.split_graph` works on).

    Parameters
    ----------
    cells
        Cells with ``households`` and ``block`` columns (and optionally ``compound``, ``label``,
        ``population``, ``n_units``, ``group``), in a metric CRS.

    Returns
    -------
    graph
        Per cell ``households``, centroid ``x``/``y``, ``area``, ``block``, ``compound`` and
        ``label``; per edge the cells ``i < j``, the shared border ``length`` and ``barrier``
        (True when the border separates two blocks, i.e. follows a barrier).
    """
    geoms = np.asarray(cells.geometry.values)  # the geometries themselves: shapely on pandas' array costs more
    xy, at = shapely.get_coordinates(shapely.centroid(geoms), return_index=True)
    centroid = np.full((len(geoms), 2), np.nan)  # an empty cell has no centroid: NaN, never a shift
    centroid[at] = xy
    block = cells["block"].to_numpy()
    n = len(cells)
    i, j, length = edges_from_cells(geoms)
    return CellGraph(
        households=cells["households"].to_numpy(float),
        x=centroid[:, 0],
        y=centroid[:, 1],
        area=shapely.area(geoms),
        block=block,
        compound=cells["compound"].to_numpy(object) if "compound" in cells else np.full(n, None, dtype=object),
        label=cells["label"].to_numpy(object) if "label" in cells else np.arange(n).astype(str).astype(object),
        i=i,
        j=j,
        length=length,
        barrier=block[i] != block[j],
        population=cells["population"].to_numpy(float) if "population" in cells else None,
        units=cells["n_units"].to_numpy(float) if "n_units" in cells else None,
        group=cells["group"].to_numpy(object) if "group" in cells else None,
        measures={
            str(c)[len(MEASURE_PREFIX) :]: cells[c].to_numpy(float)
            for c in cells.columns
            if str(c).startswith(MEASURE_PREFIX)
        },
    )


def graph_from_cells(cells: gpd.GeoDataFrame) -> nx.Graph:
    """Build the rook adjacency graph of `cells` as a networkx graph (:func:`cell_graph` as nodes and edges).

    Returns
    -------
    graph
        See :func:`networkx_from_graph`.
    """
    return networkx_from_graph(cell_graph(cells))


def networkx_from_graph(cg: CellGraph) -> nx.Graph:
    """Return a :class:`CellGraph` as a networkx graph.

    Returns
    -------
    graph
        Nodes are the cells 0..n-1 with ``households``, ``x``, ``y`` (centroid), ``area``,
        ``block``, ``compound`` and ``label``; edges carry the shared border ``length`` and
        ``barrier``.
    """
    graph = nx.Graph()
    graph.add_nodes_from(
        (
            k,
            {
                "households": cg.households[k],
                "x": cg.x[k],
                "y": cg.y[k],
                "area": cg.area[k],
                "block": cg.block[k],
                "compound": cg.compound[k],
                "label": cg.label[k],
            },
        )
        for k in range(len(cg))
    )
    graph.add_edges_from(
        (int(a), int(b), {"length": float(s), "barrier": bool(r)})
        for a, b, s, r in zip(cg.i, cg.j, cg.length, cg.barrier, strict=True)
    )
    return graph
