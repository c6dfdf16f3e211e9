"""Household-liaison groups (联户): contiguous groups of ~10-15 households inside every grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.adjacency import cell_graph
from partition.coding import liaison_order_codes, reading_order
from partition.reasons import UnitKind, UnitRef, encode
from partition.split import split_graph
from partition.tessellation import cells_from_points
from partition.units import units_from_points


def liaison_groups(
    grids: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    address_grid: np.ndarray,
    *,
    min_households: int = 10,
    max_households: int = 15,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Split every grid into contiguous liaison groups and code them ``grid_code`` + 2 digits.

    Each grid is tiled by the Voronoi cells of its address units (clipped to the grid) and split
    with the same balanced splitter as grids (:func:`partition.split.split_graph`). An address
    unit larger than `max_households` (an apartment entrance of 60 households) cannot be divided
    by location, so it forms one group flagged ``over_max``.

    Parameters
    ----------
    grids
        Grids in a metric CRS with ``grid_code``.
    addresses
        Address points in the same CRS with ``households``, ``population``, ``building``.
    address_grid
        Row of `grids` of every address (-1: none).
    min_households, max_households
        Liaison group size.

    Returns
    -------
    liaison
        One row per group: ``liaison_code``, ``grid_code``, ``households``, ``status``, ``reason`` (JSON,
        :func:`partition.reasons.encode`).
    address_codes
        The liaison code of every address (None where it has no grid).
    """
    rows = []
    geoms = []
    codes_out = np.full(len(addresses), None, dtype=object)
    # the addresses of every grid in one sort, not one scan of all addresses per grid
    located = np.flatnonzero(address_grid >= 0)
    located = located[np.argsort(address_grid[located], kind="stable")]
    grid_ids, starts = np.unique(address_grid[located], return_index=True)
    for gi, members in zip(grid_ids, np.split(located, starts[1:]), strict=True):
        pts = addresses.iloc[members]
        grid = grids.iloc[int(gi)]
        poly = grid.geometry
        unit, _ = units_from_points(pts)
        cells = cells_from_points(pts.geometry.values, unit.to_numpy(), poly)
        u = cells["unit"].to_numpy()
        hh_unit = pts.groupby(unit.to_numpy())["households"].sum()
        cells["households"] = np.where(u >= 0, hh_unit.reindex(u).fillna(0).to_numpy(), 0.0)
        dup = pd.Series(u).duplicated().to_numpy() & (u >= 0)
        cells.loc[dup, "households"] = 0.0
        cells["label"] = pd.Series([UnitRef(UnitKind.ADDRESS_UNIT, str(k)) for k in u], index=cells.index, dtype=object)
        parts = split_graph(cell_graph(cells), min_households=min_households, max_households=max_households)
        part_geoms = [shapely.union_all(cells.geometry.values[list(p.nodes)]) for p in parts]
        lp = shapely.get_coordinates(shapely.point_on_surface(np.array(part_geoms)))
        order = reading_order(lp[:, 0], lp[:, 1], shapely.area(np.array(part_geoms)))
        codes = liaison_order_codes(grid["grid_code"], len(parts))
        unit_cell: dict[int, int] = {}
        for j, p in enumerate(parts):
            for node in p.nodes:
                if u[node] >= 0:
                    unit_cell.setdefault(int(u[node]), j)
        for rank, j in enumerate(order):
            p = parts[j]
            rows.append(
                {
                    "liaison_code": codes[rank],
                    "grid_code": grid["grid_code"],
                    "households": int(round(p.households)),
                    "status": p.status,
                    "reason": encode(p.reasons),
                }
            )
            geoms.append(part_geoms[j])
        rank_of = {int(j): r for r, j in enumerate(order)}
        codes_out[members] = [codes[rank_of[unit_cell[int(k)]]] for k in unit.to_numpy()]
    out = gpd.GeoDataFrame(
        rows, columns=["liaison_code", "grid_code", "households", "status", "reason"], geometry=geoms, crs=grids.crs
    )
    return out, codes_out
