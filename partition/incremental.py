"""Incremental re-partition: keep previous grids that still follow the rules, regrid only the rest.

A previous household-band grid is **kept** (geometry and code unchanged) when

1. it lies inside the village/community's current boundary (the boundary did not move under it),
2. no current exclusive area (专属网格) overlaps it,
3. its current households are within the band ``[min, max]``,
4. its households changed by at most ``tolerance`` (share of its previous count), and
5. it is in one piece (grids are contiguous: a grid in pieces is regridded, not kept as ``ok``).

The remaining area (boundary minus kept grids) is gridded as usual. Where a connected piece of
that area holds a household count that no number of grids fits (e.g. 150 households squeezed
between kept grids), the kept grid sharing the longest border with that piece is released and
regridded with it; this repeats until every piece is feasible or nothing is left to release, so
as few neighbours as needed are touched. Grids of other rules (village group, single) are
deterministic functions of their inputs and are always regenerated.
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.grids import Village, VillageGrids, cell_table, cells_of_area, partition_village
from partition.measures import pieces
from partition.reasons import Reason, ReasonKind, encode
from partition.tessellation import point_owner
from partition.values import Status

KEPT_REASON = encode([Reason.of(ReasonKind.KEPT)])
"""``reason`` of a grid kept unchanged from the previous run (``--keep-valid``)."""


def valid_previous(village: Village, previous: gpd.GeoDataFrame, *, tolerance: float = 0.1) -> np.ndarray:
    """Boolean mask of `previous` grids (this village's, metric CRS) that may be kept (rules 1-5)."""
    rule = village.rule
    if rule.name != "household_band" or len(previous) == 0:
        return np.zeros(len(previous), bool)
    geoms = previous.geometry.values
    base = previous["grid_type"].eq("base").to_numpy() if "grid_type" in previous else np.ones(len(previous), bool)
    outside = shapely.area(shapely.difference(geoms, village.boundary))
    inside = outside <= 1e-6 * np.maximum(shapely.area(geoms), 1.0)
    if village.exclusive is not None and len(village.exclusive):
        ex = shapely.union_all(village.exclusive.geometry.values)
        inside &= shapely.area(shapely.intersection(geoms, ex)) < 1.0
    owner = point_owner(geoms, village.points.geometry.values)
    hh_now = np.bincount(
        owner[owner >= 0], weights=village.points["households"].to_numpy(float)[owner >= 0], minlength=len(geoms)
    )
    hh_before = previous["households"].to_numpy(float) if "households" in previous else np.full(len(geoms), np.nan)
    in_band = rule.band.contains_all(hh_now)
    steady = np.abs(hh_now - hh_before) <= tolerance * np.maximum(hh_before, 1.0)
    whole = pieces(geoms) == 1  # parts touching at a point (reprojection) are one piece
    return base & inside & in_band & steady & whole


def _release_for_feasibility(village: Village, kept: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Release kept grids next to infeasible pieces of the remaining area until all pieces fit."""
    band = village.rule.band
    pts = village.points.geometry.values
    hh = village.points["households"].to_numpy(float)
    kept = kept.copy()
    while kept.any():
        rest = shapely.difference(village.boundary, shapely.union_all(geoms[kept]))
        pieces = shapely.get_parts(rest)
        pieces = pieces[shapely.area(pieces) > 1e-6]
        owner = point_owner(pieces, pts)
        per_piece = np.bincount(owner[owner >= 0], weights=hh[owner >= 0], minlength=len(pieces))
        bad = [p for p in range(len(pieces)) if per_piece[p] > 0 and not len(band.feasible_counts(per_piece[p]))]
        if not bad:
            return kept
        idx = np.flatnonzero(kept)
        released = False
        for p in bad:
            border = shapely.length(shapely.intersection(shapely.boundary(geoms[idx]), shapely.boundary(pieces[p])))
            if border.max() > 0:
                kept[idx[np.argmax(border)]] = False
                released = True
        if not released:
            return kept
    return kept


def _absorb_empty(
    grids: pd.DataFrame, point_grid: np.ndarray, points: np.ndarray, cells: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Give leftover base areas without households (slivers around kept grids) to a neighbour.

    Regenerated neighbours are preferred, so kept grids stay exactly as they were; only where a
    kept grid is the sole neighbour does it take the sliver. Returns the grids, the remapped
    grid row of every point and the cells with their remapped grid.
    """
    empty = (grids["grid_type"].eq("base") & grids["households"].eq(0) & grids["kept_code"].isna()).to_numpy()
    if not empty.any() or empty.all():
        return grids, point_grid, cells
    geoms = grids.geometry.values.copy()
    kept = grids["kept_code"].notna().to_numpy()
    for i in np.flatnonzero(empty):
        for piece in shapely.get_parts(geoms[i]):
            for hosts in (np.flatnonzero(~empty & ~kept), np.flatnonzero(~empty)):
                border = (
                    shapely.length(shapely.intersection(shapely.boundary(geoms[hosts]), shapely.boundary(piece)))
                    if len(hosts)
                    else np.zeros(0)
                )
                if len(border) and border.max() > 0:
                    j = hosts[int(np.argmax(border))]
                    geoms[j] = shapely.union(geoms[j], piece)
                    break
    out = grids.copy()
    out["geometry"] = geoms
    new_index = np.cumsum(~empty) - 1
    remapped = np.where(point_grid >= 0, new_index[np.maximum(point_grid, 0)], -1)
    # points that sat in an absorbed (0-household) grid follow their piece's host
    lost = (point_grid >= 0) & empty[np.maximum(point_grid, 0)]
    out = out[~empty].reset_index(drop=True)
    if lost.any():
        remapped[lost] = point_owner(out.geometry.values, points[lost])
    # cells of an absorbed grid follow their piece's host too
    cell_grid = cells["grid"].to_numpy()
    moved = empty[cell_grid]
    cell_grid = new_index[cell_grid]
    if moved.any():
        inner = shapely.point_on_surface(cells["geometry"].to_numpy(object)[moved])
        cell_grid[moved] = point_owner(out.geometry.values, inner)
    return out, remapped, cells.assign(grid=cell_grid)


def partition_incremental(village: Village, previous: gpd.GeoDataFrame, *, tolerance: float = 0.1) -> VillageGrids:
    """Grid a village keeping the previous grids that still follow the rules (module docstring).

    Parameters
    ----------
    village
        The village/community with its current inputs (metric CRS).
    previous
        The previous grids of this village (same CRS) with ``grid_code``, ``households`` and
        ``grid_type``.
    tolerance
        Largest change in a grid's households, as a share of its previous count, to keep it.

    Returns
    -------
    result
        As :func:`partition.grids.partition_village`; kept grids come first, with
        ``kept_code`` set to their previous code (``None`` on regenerated grids).
    """
    geoms = previous.geometry.values
    kept = valid_previous(village, previous, tolerance=tolerance)
    kept = _release_for_feasibility(village, kept, geoms)
    pts = village.points
    if not kept.any():
        out = partition_village(village)
        out.grids["kept_code"] = None
        return out
    owner = point_owner(geoms[kept], pts.geometry.values)
    kept_prev = previous[kept]
    hh = pts["households"].to_numpy(float)
    pop = pts["population"].to_numpy(float)
    n_kept = len(kept_prev)
    m = owner >= 0
    kept_rows = gpd.GeoDataFrame(
        {
            "grid_type": "base",
            "rule": village.rule.name,
            "households": np.bincount(owner[m], weights=hh[m], minlength=n_kept),
            "population": np.bincount(owner[m], weights=np.nan_to_num(pop[m]), minlength=n_kept),
            "units": np.bincount(owner[m], minlength=n_kept),
            "status": Status.OK,
            "flag": "",
            "reason": KEPT_REASON,
            "name": "",
            "kept_code": kept_prev["grid_code"].astype(str).to_numpy(),
        },
        geometry=geoms[kept],
        crs=pts.crs,
    )
    kept_cells = _cells_of_kept(village, geoms[kept], owner)
    rest_area = shapely.difference(village.boundary, shapely.union_all(geoms[kept]))
    point_grid = np.where(m, owner, -1)
    rest_pts = pts[~m]
    if shapely.area(rest_area) > 1e-6:
        rest = partition_village(replace(village, boundary=rest_area, points=rest_pts))
        rest.grids["kept_code"] = None
        grids = pd.concat([kept_rows, rest.grids], ignore_index=True)
        rg = rest.point_grid.to_numpy()
        point_grid[~m] = np.where(rg >= 0, rg + n_kept, -1)
        assert rest.cells is not None  # partition_village always returns its cells
        cells = pd.concat([kept_cells, rest.cells.assign(grid=rest.cells["grid"] + n_kept)], ignore_index=True)
        grids, point_grid, cells = _absorb_empty(grids, point_grid, pts.geometry.values, cells)
    else:
        grids, cells = kept_rows, kept_cells
    grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=pts.crs)
    grids["village_code"] = village.code
    grids["min_households"] = village.rule.min_households
    grids["max_households"] = village.rule.max_households
    return VillageGrids(grids=grids, point_grid=pd.Series(point_grid, index=pts.index), cells=cells)


def _cells_of_kept(village: Village, kept: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """Return the unit cells of every kept grid, tiled as the engine tiles a village (``grid``: the kept grid)."""
    parts = []
    for k, geom in enumerate(kept):  # a few kept grids per village
        cells, _ = cells_of_area(village, geom, village.points[owner == k])
        parts.append(cells.assign(grid=k))
    return cell_table(parts)
