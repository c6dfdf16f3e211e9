"""Tile a village/community with unit cells: user polygons, or Voronoi cells cut by barriers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from partition.rows import distinct_rows, sorted_runs

SNAP_M = 0.5
"""Barrier ends closer than this (metres) to the village border are snapped onto it."""

SLIVER_M2 = 1e-3
"""Noding slivers smaller than this (m²) are merged into the block they touch."""

EMPTY = -1
"""Unit number of cells that hold no household (parks, water, empty blocks)."""


def point_owner(polys: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index into `polys` of the first polygon covering each point (-1 where none does).

    A point on a shared border belongs to the first polygon, so every point has at most one owner.
    """
    owner = np.full(len(points), -1)
    if len(polys) == 0 or len(points) == 0:
        return owner
    polys, points = np.asarray(polys, dtype=object), np.asarray(points, dtype=object)
    pi, gi = shapely.STRtree(polys).query(points)
    shapely.prepare(polys)  # test each candidate pair against the polygon prepared once
    hit = shapely.intersects(polys[gi], points[pi])
    pi, gi = pi[hit], gi[hit]
    first = pd.Series(gi).groupby(pi).min()
    owner[first.index.to_numpy()] = first.to_numpy()
    return owner


def _extend_ends(lines: np.ndarray, by: float) -> np.ndarray:
    """Lengthen every line string by `by` metres at both ends, along its end segments."""
    parts = shapely.get_parts(shapely.line_merge(lines[shapely.get_type_id(lines) != 0]) if len(lines) else lines)
    parts = parts[shapely.get_type_id(parts) == 1]
    if len(parts) == 0:
        return parts
    xy, idx = shapely.get_coordinates(parts, return_index=True)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:], len(idx)] - 1
    xy = xy.copy()
    for end, nxt in ((starts, starts + 1), (ends, ends - 1)):
        d = xy[end] - xy[nxt]
        norm = np.hypot(d[:, 0], d[:, 1])[:, None]
        xy[end] += np.divide(d, norm, out=np.zeros_like(d), where=norm > 0) * by
    return shapely.linestrings(xy, indices=idx)


def blocks_from_barriers(boundary: BaseGeometry, barriers: np.ndarray | None) -> np.ndarray:
    """Cut `boundary` by barrier lines into blocks (faces); lines that cut nothing are ignored.

    Returns
    -------
    blocks
        Polygons that tile `boundary` exactly, in a deterministic order.
    """
    if barriers is None or len(barriers) == 0:
        return np.array(shapely.get_parts(boundary))
    ring = shapely.boundary(boundary)
    # digitised roads often stop a hair short of the border or road they meet: extend their ends
    # clip with a margin so lines overshoot the ring: noding then splits it exactly where they cross
    lines = shapely.intersection(_extend_ends(np.asarray(barriers), SNAP_M), shapely.buffer(boundary, 2 * SNAP_M))
    lines = lines[~shapely.is_empty(lines)]
    if len(lines) == 0:
        return np.array(shapely.get_parts(boundary))
    noded = shapely.node(shapely.union_all([ring, *lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    keep = shapely.contains_properly(boundary, shapely.point_on_surface(faces))
    faces = faces[keep]
    # faces miss slivers where floating-point noding moved the outline: give them back
    rest = shapely.difference(boundary, shapely.union_all(faces))
    parts = shapely.get_parts(rest)
    parts = parts[shapely.area(parts) > 0]
    tiny = shapely.area(parts) < SLIVER_M2
    if tiny.any() and len(faces):
        # noding slivers join the face they touch rather than become blocks of their own
        fi, si = shapely.STRtree(parts[tiny]).query(faces, predicate="dwithin", distance=1e-6)
        first = pd.Series(fi).groupby(si).min()
        for s_, f in first.items():
            faces[f] = shapely.union(faces[f], parts[tiny][s_])
        parts = np.concatenate([parts[~tiny], parts[tiny][np.setdiff1d(np.arange(tiny.sum()), first.index)]])
    return np.concatenate([faces, parts]) if len(parts) else faces


def _intersecting(tree: shapely.STRtree, prepared: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query(geoms, predicate="intersects")``, tested against the prepared tree geometries.

    The tree's query prepares every one of `geoms` (thousands of cells) to test a few blocks;
    testing the pairs whose boxes meet against the blocks, prepared once, gives the same pairs
    in the same order at a fraction of the cost.
    """
    gi, ti = tree.query(geoms)
    hit = shapely.intersects(prepared[ti], geoms[gi])
    return gi[hit], ti[hit]


def _parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``shapely.get_parts(geoms, return_index=True)`` without copying geometries that are one polygon already."""
    single = shapely.get_type_id(geoms) == 3
    if single.all():
        return geoms, np.arange(len(geoms))
    multi = np.flatnonzero(~single)
    parts, at = shapely.get_parts(geoms[multi], return_index=True)
    count = np.where(single, 1, 0)
    count[multi] = np.bincount(at, minlength=len(multi))
    idx = np.repeat(np.arange(len(geoms)), count)
    out = np.empty(len(idx), dtype=object)
    first = np.r_[0, np.cumsum(count)[:-1]]
    out[first[single]] = geoms[single]
    out[np.flatnonzero(~single[idx])] = parts
    return out, idx


def _pieces(cells: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shapely.prepare(blocks)
    ci, bj = _intersecting(shapely.STRtree(blocks), blocks, cells)
    # most cells lie wholly inside one block: only those crossing a block's edge are cut
    geoms = cells[ci].copy()
    cut = ~shapely.contains_properly(blocks[bj], cells[ci])
    geoms[cut] = shapely.intersection(cells[ci[cut]], blocks[bj[cut]])
    parts, idx = _parts(geoms)
    poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[poly], ci[idx[poly]], bj[idx[poly]]


def _site_blocks(blocks: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Block of each site at `xy` (-1: in none); a site on a barrier takes the first block the tree lists.

    An area without barriers is one block: its sites are tested by coordinates, without making a
    point object for each (a city's million households).
    """
    if len(blocks) == 1:
        return np.where(shapely.intersects_xy(blocks[0], xy[:, 0], xy[:, 1]), 0, -1)
    si, bi = _intersecting(shapely.STRtree(blocks), blocks, shapely.points(xy))
    site_block = np.full(len(xy), -1)
    site_block[si[::-1]] = bi[::-1]  # first block wins for a point on a barrier
    return site_block


def _dissolve(unit: np.ndarray, block: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One polygon per (unit, block), sorted by unit then block; pieces are unioned only where there are several.

    Returns ``(unit, block, geometry)``.
    """
    order, start = sorted_runs(unit, block)
    unit, block, geoms = unit[order], block[order], geoms[order]
    size = np.diff(np.r_[start, len(unit)])
    return unit[start], block[start], union_runs(geoms, start, size)


def union_runs(geoms: np.ndarray, start: np.ndarray, size: np.ndarray, *, single: bool = False) -> np.ndarray:
    """Union of each run ``geoms[start[k] : start[k] + size[k]]`` of polygons that tile without overlapping.

    Such runs (a unit's Voronoi pieces, a grid's cells) form a coverage, so GEOS' coverage union
    dissolves them in linear time, all runs in C (:func:`_coverage_runs`). A run GEOS refuses (edges
    cut at different vertices, as along a road), or whose union is not valid polygons with the
    run's area (pieces that do overlap, by rounding), gets the general union instead. A run of one
    is that geometry as it is, or with `single` its union too (GEOS writes its rings in its own order).
    """
    unioned = np.flatnonzero(size > (0 if single else 1))
    try:
        out = _coverage_runs(geoms, start, unioned, size)
    except shapely.errors.GEOSException:  # one run is not a coverage GEOS can union: run by run
        out = geoms[start].copy()
        for k in unioned:
            out[k] = _coverage_or_none(geoms[start[k] : start[k] + size[k]])
    if len(unioned) == 0:
        return out
    area = np.add.reduceat(shapely.area(geoms), start)[unioned]
    got = out[unioned]
    ok = (
        np.isin(shapely.get_type_id(got), (3, 6))  # Polygon, MultiPolygon (None: -1)
        & shapely.is_valid(got)
        & (np.abs(shapely.area(got) - area) <= 1e-9 * np.maximum(area, 1.0))
    )
    for k in unioned[~ok]:  # not a clean coverage: rare
        out[k] = shapely.union_all(geoms[start[k] : start[k] + size[k]])
    return out


def _coverage_or_none(parts: np.ndarray) -> BaseGeometry | None:
    try:
        return shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:
        return None


def _coverage_runs(geoms: np.ndarray, start: np.ndarray, multi: np.ndarray, size: np.ndarray) -> np.ndarray:
    """GEOS' coverage union of the runs `multi` (the others: their first geometry), in C.

    Runs are padded with None into one 2-D array per power-of-two size. Raises
    ``shapely.errors.GEOSException`` where a run is not a coverage GEOS can union.
    """
    out = geoms[start].copy()
    bucket = np.ceil(np.log2(size[multi])).astype(int)
    for b in np.unique(bucket):  # about log2 of the largest run: a handful of arrays
        ks = multi[bucket == b]
        col = np.arange(size[ks].max())
        inside = col < size[ks][:, None]
        padded = np.full(inside.shape, None, dtype=object)
        padded[inside] = geoms[(start[ks][:, None] + col)[inside]]
        out[ks] = shapely.coverage_union_all(padded, axis=1)
    return out


def cells_from_points(
    points: np.ndarray,
    unit: np.ndarray,
    boundary: BaseGeometry,
    *,
    barriers: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Tile `boundary` with Voronoi cells of the points, cut by barriers, dissolved per unit.

    Every point's Voronoi cell is clipped to the block (area between barriers) the point lies in,
    so no unit cell straddles a road or river. Pieces of a cell that fall in another block become
    empty cells (unit :data:`EMPTY`), as do blocks with no points.

    Parameters
    ----------
    points
        Shapely points (metric CRS), one per address.
    unit
        Unit number of each point.
    boundary
        The village/community polygon, minus any exclusive areas.
    barriers
        Lines that cells must not straddle.

    Returns
    -------
    cells
        Columns ``unit`` (or :data:`EMPTY`), ``block``; geometry. Cells tile `boundary`.
    """
    unit, block, geoms = voronoi_cells(points, unit, boundary, barriers=barriers)
    return gpd.GeoDataFrame({"unit": unit, "block": block, "geometry": geoms}, geometry="geometry")


def voronoi_cells(
    points: np.ndarray, unit: np.ndarray, boundary: BaseGeometry, *, barriers: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cells_from_points` as arrays: ``(unit, block, geometry)`` of every cell."""
    blocks = blocks_from_barriers(boundary, barriers)
    if len(points) == 0:
        return np.full(len(blocks), EMPTY), np.arange(len(blocks)), blocks
    xy = shapely.get_coordinates(points)
    first = distinct_rows(xy[:, 0], xy[:, 1])[1]  # each distinct spot once, sorted by x then y
    uniq = xy[first]
    site_unit = unit[first]
    if len(uniq) == 1:
        vor = np.array([boundary])
    else:
        vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=boundary, ordered=True))
    pieces, site, block = _pieces(vor, blocks)
    own = block == _site_blocks(blocks, uniq)[site]
    u_unit, u_block, u_geom = _dissolve(site_unit[site[own]], block[own], pieces[own])
    # blocks that no piece touches at all (rare: tiny faces between sites) stay as empty cells
    covered = np.zeros(len(blocks), bool)
    covered[block] = True
    bare = np.flatnonzero(~covered)
    unit = np.concatenate([u_unit, np.full((~own).sum() + len(bare), EMPTY)])
    block = np.concatenate([u_block, block[~own], bare])
    geoms = np.concatenate([u_geom, pieces[~own], blocks[bare]])
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    return unit[keep], block[keep], geoms[keep]


def cells_from_polygons(
    polygons: np.ndarray, unit: np.ndarray, boundary: BaseGeometry, *, min_share: float = 0.98
) -> gpd.GeoDataFrame | None:
    """Use the user's unit polygons (buildings, parcels, blocks) as cells where they tile `boundary`.

    Returns ``None`` when the polygons cover less than `min_share` of the boundary's area (for
    example building footprints with streets between them): the caller then uses Voronoi cells.
    Uncovered remainders become empty cells.
    """
    clipped = shapely.intersection(polygons, boundary)
    area = shapely.area(clipped)
    total = shapely.area(boundary)
    if total == 0 or area.sum() < min_share * total:
        return None
    cells = gpd.GeoDataFrame({"unit": unit, "block": 0}, geometry=clipped)
    cells = cells[area > 0].dissolve(by="unit").reset_index()
    # overlaps are removed in order so that cells stay disjoint
    geoms = cells.geometry.values
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    later = right > left
    if later.any():
        fixed = geoms.copy()
        for j in np.unique(right[later]):
            earlier = left[later][right[later] == j]
            fixed[j] = shapely.difference(fixed[j], shapely.union_all(geoms[earlier]))
        cells = cells.set_geometry(fixed)
    rest = shapely.get_parts(shapely.difference(boundary, shapely.union_all(cells.geometry.values)))
    rest = rest[shapely.area(rest) > 0]
    empty = gpd.GeoDataFrame({"unit": np.full(len(rest), EMPTY), "block": np.zeros(len(rest), int)}, geometry=rest)
    return gpd.GeoDataFrame(pd.concat([cells, empty], ignore_index=True), geometry="geometry")
