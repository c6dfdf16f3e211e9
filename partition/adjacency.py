"""Rook adjacency graphs of cells: shared border length, and whether the border is a barrier."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

MIN_SHARED = 1e-6
"""Shared border (metres) below which two cells only touch at a corner and are not neighbours."""


def edges_from_cells(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(i, j, length)`` for every pair of cells sharing a border longer than :data:`MIN_SHARED`."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    rings = shapely.boundary(geoms)
    length = shapely.length(shapely.intersection(rings[i], rings[j]))
    keep = length > MIN_SHARED
    return i[keep], j[keep], length[keep]


def graph_from_cells(cells: gpd.GeoDataFrame) -> nx.Graph:
    """Build the rook adjacency graph of `cells`.

    Parameters
    ----------
    cells
        Cells with ``households`` and ``block`` columns (and optionally ``compound``, ``label``),
        in a metric CRS.

    Returns
    -------
    graph
        Nodes are the positions 0..n-1 of `cells` with ``households``, ``x``, ``y`` (centroid),
        ``area``, ``block``, ``compound`` and ``label``; edges carry the shared border ``length``
        and ``barrier`` (True when the border separates two blocks, i.e. follows a barrier).
    """
    geoms = cells.geometry.values
    xy, at = shapely.get_coordinates(shapely.centroid(geoms), return_index=True)
    centroid = np.full((len(geoms), 2), np.nan)  # an empty cell has no centroid: NaN, never a shift
    centroid[at] = xy
    area = shapely.area(geoms)
    block = cells["block"].to_numpy()
    graph = nx.Graph()
    hh = cells["households"].to_numpy(float)
    compound = cells["compound"].to_numpy() if "compound" in cells else [None] * len(cells)
    label = cells["label"].to_numpy() if "label" in cells else [str(k) for k in range(len(cells))]
    graph.add_nodes_from(
        (
            k,
            {
                "households": hh[k],
                "x": centroid[k, 0],
                "y": centroid[k, 1],
                "area": area[k],
                "block": block[k],
                "compound": compound[k],
                "label": label[k],
            },
        )
        for k in range(len(cells))
    )
    i, j, length = edges_from_cells(geoms)
    graph.add_edges_from(
        (int(a), int(b), {"length": float(s), "barrier": bool(block[a] != block[b])})
        for a, b, s in zip(i, j, length, strict=True)
    )
    return graph
