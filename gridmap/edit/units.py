"""Rebuild the unit cells a run's grids are made of, from its grids and address points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.adjacency import edges_from_cells
from partition.tessellation import (
    EMPTY,
    SLIVER_M2,
    blocks_from_barriers,
    cells_from_points,
    point_owner,
)
from partition.units import units_from_points


def units_from_run(grids: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Tile every grid with unit cells, as the partition engine tiles a community.

    A run folder stores grids and address points, not the cells the grids were assembled from;
    they are rebuilt per grid with the engine's own functions: address points are grouped into
    indivisible units (:func:`partition.units.units_from_points`, same building id or same spot)
    and the grid is cut into their Voronoi cells (:func:`partition.tessellation.cells_from_points`,
    clipped to the grid). So every grid is exactly the union of its cells, and a unit never straddles
    two grids. An exclusive grid (专属网格) and a grid without households are one cell each.

    Parameters
    ----------
    grids
        The run's grids in a metric CRS, with ``grid_code``, ``village_code`` and ``grid_type``.
    addresses
        The run's address points in the same CRS, with ``grid_code``, ``households`` and optionally
        ``population``, ``building``, ``compound``, ``group``, ``village_code``.

    Returns
    -------
    cells, address_cell
        ``cells``: one row per unit cell with ``grid`` (row of `grids` it starts in),
        ``village_code``, ``households``, ``population``, ``building``, ``compound``, ``label`` and
        ``exclusive``; geometry in the grids' CRS. ``address_cell``: the cell of every address point
        (-1 for points outside every grid).
    """
    code_row = pd.Series(np.arange(len(grids)), index=grids["grid_code"].astype(str).to_numpy())
    a_grid = addresses["grid_code"].map(code_row).fillna(-1).to_numpy(int) if len(addresses) else np.zeros(0, int)
    by_grid = pd.Series(np.arange(len(addresses))).groupby(a_grid).indices
    hh_all = addresses["households"].to_numpy(float)
    pop_all = addresses["population"].to_numpy(float) if "population" in addresses else np.full(len(addresses), np.nan)
    address_cell = np.full(len(addresses), -1)
    frames: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    start = 0
    grid_type = grids["grid_type"].astype(str).to_numpy()
    village = grids["village_code"].astype(str).to_numpy()
    empty = np.zeros(0, int)
    # one Voronoi tessellation per grid (each call is vectorised over the grid's points)
    for gi, geom in enumerate(grids.geometry.values):
        idx = by_grid.get(gi, empty)
        exclusive = grid_type[gi] != "base"
        if exclusive or len(idx) == 0:
            frames.append(
                pd.DataFrame(
                    {
                        "grid": [gi],
                        "households": [float(hh_all[idx].sum())],
                        "population": [float(np.nansum(pop_all[idx])) if len(idx) else np.nan],
                        "building": [None],
                        "compound": [None],
                        "label": [f"grid {grids['grid_code'].iloc[gi]}" if exclusive else "area without households"],
                        "exclusive": [exclusive],
                    }
                )
            )
            geoms.append(np.array([geom], dtype=object))
            address_cell[idx] = start
            start += 1
            continue
        pts = addresses.iloc[idx]
        unit, units = units_from_points(pts)
        cells = cells_from_points(pts.geometry.values, unit.to_numpy(), geom)
        u = cells["unit"].to_numpy()
        has = u != EMPTY
        dup = pd.Series(u).duplicated().to_numpy() & has  # further pieces of a unit hold no households
        first = has & ~dup
        uu = np.where(has, u, 0)
        frame = pd.DataFrame(
            {
                "grid": gi,
                "households": np.where(first, units["households"].to_numpy(float)[uu], 0.0),
                "population": np.where(first, units["population"].to_numpy(float)[uu], np.nan),
                "building": np.where(has, units["building"].to_numpy(object)[uu], None),
                "compound": np.where(has, units["compound"].to_numpy(object)[uu], None),
                "label": np.where(has, units["label"].to_numpy(object)[uu], "area without households"),
                "exclusive": False,
            }
        )
        cell_geoms = cells.geometry.values.copy()
        # Voronoi clipping leaves noding slivers without households: they join the nearest cell
        tiny = (shapely.area(cell_geoms) < SLIVER_M2) & ~first
        if tiny.any() and not tiny.all():
            hosts = np.flatnonzero(~tiny)
            near = shapely.STRtree(cell_geoms[hosts]).nearest(cell_geoms[tiny])
            for t, h in zip(np.flatnonzero(tiny), hosts[near], strict=True):
                cell_geoms[h] = shapely.union(cell_geoms[h], cell_geoms[t])
            frame, cell_geoms, first, u = frame[~tiny].reset_index(drop=True), cell_geoms[~tiny], first[~tiny], u[~tiny]
        frames.append(frame)
        geoms.append(cell_geoms)
        unit_cell = pd.Series(np.flatnonzero(first), index=u[first])
        address_cell[idx] = start + unit_cell.reindex(unit.to_numpy()).to_numpy()
        start += len(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["grid", "households", "population", "building", "compound", "label", "exclusive"]
    )
    table["village_code"] = village[table["grid"].to_numpy(int)] if len(table) else []
    geometry = np.concatenate(geoms) if geoms else np.zeros(0, dtype=object)
    cells = gpd.GeoDataFrame(table, geometry=geometry, crs=grids.crs)
    return cells, address_cell


def adjacency_from_cells(cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rook adjacency of `cells` within each village/community: ``(i, j, shared border length)``."""
    i, j, length = edges_from_cells(cells.geometry.values)
    v = cells["village_code"].to_numpy()
    same = v[i] == v[j]
    return i[same], j[same], length[same]


def blocks_of_cells(
    cells: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, barriers: np.ndarray | None, *, points: np.ndarray, point_cell: np.ndarray
) -> np.ndarray:
    """Barrier block (area between roads/rivers) of every cell, numbered across villages; 0 without barriers.

    A cell with address points is in the block of its points; other cells in the block of a point inside them.
    """
    block = np.zeros(len(cells), int)
    if barriers is None or len(barriers) == 0 or len(cells) == 0:
        return block
    inner = shapely.point_on_surface(cells.geometry.values)
    has = point_cell >= 0
    inner[point_cell[has]] = points[has]
    v = cells["village_code"].to_numpy()
    offset = 0
    for code, geom in zip(boundaries["code"].astype(str), boundaries.geometry.values, strict=True):
        here = np.flatnonzero(v == code)
        if not len(here):
            continue
        blocks = blocks_from_barriers(geom, barriers)
        owner = point_owner(blocks, inner[here])
        block[here] = np.where(owner >= 0, owner, 0) + offset
        offset += len(blocks)
    return block
