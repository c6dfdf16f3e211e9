"""The unit cells an edit session moves: the run's own cells layer, or cells rebuilt from its grids and points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import InputError, Problem
from partition.adjacency import edges_from_cells
from partition.tessellation import SLIVER_M2, blocks_from_barriers, point_owner
from partition.units import units_from_points


def cells_from_layer(
    layer: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Return the cells a run kept (its ``cells`` layer) as an edit session holds them.

    Parameters
    ----------
    layer
        The run's cells layer in a metric CRS (``grid_code``, ``village_code``, ``households``,
        ``population``, ``units``, ``unit_id``, ``label``, ``group``, ``compound``, ``block``).
    grids
        The run's grids in the same CRS, with ``grid_code`` and ``grid_type``.
    addresses
        The run's address points in the same CRS, with ``grid_code``.

    Returns
    -------
    cells, address_cell
        As :func:`units_from_run` (``building`` holds the unit id), plus ``units`` and ``block``
        as the engine counted them. ``address_cell``: the cell of every address point among the
        cells of its grid (-1 for points without a grid).
    """
    codes = grids["grid_code"].astype(str).to_numpy()
    row = pd.Series(np.arange(len(grids)), index=codes)
    grid = layer["grid_code"].astype(str).map(row)
    if grid.isna().any():
        at = int(np.flatnonzero(grid.isna().to_numpy())[0])
        raise InputError(
            Problem(
                "grids.gpkg, layer cells",
                f"names grid {layer['grid_code'].iloc[at]}, which the grids layer does not hold.",
                "open the run folder as gridmap wrote it (its grids and cells layers belong together).",
                row=f"row {at + 1}",
                column="grid_code",
            )
        )
    grid = grid.to_numpy(int)
    base = grids["grid_type"].astype(str).eq("base").to_numpy()
    cells = gpd.GeoDataFrame(
        {
            "grid": grid,
            "village_code": layer["village_code"].astype(str).to_numpy(),
            "households": layer["households"].to_numpy(float),
            "population": layer["population"].to_numpy(float),
            "building": layer["unit_id"].to_numpy(object),
            "compound": layer["compound"].to_numpy(object),
            "group": layer["group"].to_numpy(object),
            "label": layer["label"].astype(str).to_numpy(object),
            "exclusive": ~base[grid],
            "units": layer["units"].to_numpy(float),
            "block": layer["block"].to_numpy(int),
        },
        geometry=layer.geometry.values,
        crs=layer.crs,
    )
    for col in ("building", "compound", "group"):
        cells[col] = cells[col].where(cells[col].notna(), None)
    return cells, _address_cells(cells, codes, addresses)


def _address_cells(cells: gpd.GeoDataFrame, codes: np.ndarray, addresses: gpd.GeoDataFrame) -> np.ndarray:
    """Return the cell of every address among the cells of its own grid (the nearest one off their edges)."""
    out = np.full(len(addresses), -1)
    if not len(addresses) or not len(cells):
        return out
    a_grid = addresses["grid_code"].map(pd.Series(np.arange(len(codes)), index=codes)).fillna(-1).to_numpy(int)
    geoms, pts = cells.geometry.values, addresses.geometry.values
    pi, ci = shapely.STRtree(geoms).query(pts, predicate="intersects")
    own = cells["grid"].to_numpy()[ci] == a_grid[pi]
    first = pd.Series(ci[own]).groupby(pi[own]).min()
    out[first.index.to_numpy()] = first.to_numpy()
    lost = np.flatnonzero((out < 0) & (a_grid >= 0))
    by_grid = pd.Series(np.arange(len(cells))).groupby(cells["grid"].to_numpy()).indices
    for p in lost:  # points a hair outside their grid's cells: few
        mine = by_grid.get(a_grid[p])
        if mine is not None:
            out[p] = mine[np.argmin(shapely.distance(geoms[mine], pts[p]))]
    return out


def units_from_run(grids: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Tile every grid with unit cells, as the partition engine tiles a community.

    Only for runs without a cells layer (grids gridmap did not make): the cells are rebuilt
    with the engine's own rules: address points are grouped into indivisible units
    (:func:`partition.units.units_from_points`: same building id or same spot, never across two
    grids) and every grid is cut into the Voronoi cells of its units' points, clipped to the grid
    (as :func:`partition.tessellation.cells_from_points` clips to a block). One vectorised Voronoi
    call covers all grids. So every grid is exactly the union of its cells, and a unit never
    straddles two grids. An exclusive grid (专属网格) and a grid without households are one cell
    each; a piece of a Voronoi cell cut off by a concave grid border is a cell without households.

    Parameters
    ----------
    grids
        The run's grids in a metric CRS, with ``grid_code``, ``village_code`` and ``grid_type``.
    addresses
        The run's address points in the same CRS, with ``grid_code``, ``households`` and optionally
        ``population``, ``building``, ``compound``, ``group``.

    Returns
    -------
    cells, address_cell
        ``cells``: one row per unit cell with ``grid`` (row of `grids` it starts in),
        ``village_code``, ``households``, ``population``, ``building``, ``compound``, ``group``,
        ``label`` and ``exclusive``; geometry in the grids' CRS. ``address_cell``: the cell of every address point
        (-1 for points outside every grid).
    """
    codes = grids["grid_code"].astype(str).to_numpy()
    code_row = pd.Series(np.arange(len(grids)), index=codes)
    a_grid = addresses["grid_code"].map(code_row).fillna(-1).to_numpy(int) if len(addresses) else np.zeros(0, int)
    ggeom = grids.geometry.values
    base = grids["grid_type"].astype(str).eq("base").to_numpy()
    hh_all = addresses["households"].to_numpy(float)
    pop_all = addresses["population"].to_numpy(float) if "population" in addresses else np.full(len(addresses), np.nan)
    take = (a_grid >= 0) & base[np.maximum(a_grid, 0)]
    pts = addresses[take].copy()
    pts["village_code"] = codes[a_grid[take]]  # units never straddle two grids
    pgrid = a_grid[take]
    unit, units = units_from_points(pts) if len(pts) else (pd.Series([], dtype=int), None)
    unit = unit.to_numpy()
    # sites: distinct coordinates of each unit, sorted by grid
    xy = shapely.get_coordinates(pts.geometry.values)
    site_keys = pd.DataFrame({"grid": pgrid, "x": xy[:, 0], "y": xy[:, 1]})
    site_of_point = site_keys.groupby(["grid", "x", "y"], sort=True).ngroup().to_numpy()
    n_sites = int(site_of_point.max()) + 1 if len(site_of_point) else 0
    first_point = pd.Series(np.arange(len(pts))).groupby(site_of_point).first().to_numpy()
    site_grid, site_unit, site_xy = pgrid[first_point], unit[first_point], xy[first_point]
    per_grid = np.bincount(site_grid, minlength=len(grids)) if n_sites else np.zeros(len(grids), int)
    # Voronoi cells of every grid with two or more sites, in one call; one site: the whole grid
    multi = per_grid[site_grid] > 1 if n_sites else np.zeros(0, bool)
    gs = np.flatnonzero(per_grid > 1)
    part_site = np.flatnonzero(multi)
    parts = np.zeros(0, dtype=object)
    if len(gs):
        slot = np.searchsorted(gs, site_grid[multi])
        mp = shapely.multipoints(site_xy[multi], indices=slot)
        vor = shapely.voronoi_polygons(mp, extend_to=ggeom[gs], ordered=True)
        parts = shapely.get_parts(vor)
        if len(parts) != len(part_site):  # degenerate input (GEOS returned other cells): no ordering to trust
            msg = "Voronoi cells do not match the address points one to one."
            raise RuntimeError(msg)
    single = np.flatnonzero(~multi)
    parts = np.concatenate([parts, ggeom[site_grid[single]]])
    part_site = np.concatenate([part_site, single])
    clipped = shapely.intersection(parts, ggeom[site_grid[part_site]])
    pieces, k = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(pieces) == 3) & (shapely.area(pieces) > 0)
    pieces, piece_site = pieces[keep], part_site[k[keep]]
    # the piece holding its site is the site's own; other pieces (cut off by the grid border) are empty
    hit = shapely.intersects(pieces, shapely.points(site_xy[piece_site]))
    frame = pd.DataFrame({"site": piece_site, "hit": hit, "area": shapely.area(pieces)})
    frame = frame.sort_values(["site", "hit", "area"], ascending=[True, False, False], kind="stable")
    own = np.zeros(len(pieces), bool)
    own[frame.drop_duplicates("site").index.to_numpy()] = True
    unit_of_piece = np.where(own, site_unit[piece_site], -1)
    piece_grid = site_grid[piece_site]
    # own pieces of one unit (several sites) become one cell
    unit_pieces = (
        pd.Series(np.flatnonzero(own)).groupby(unit_of_piece[own]).apply(list) if own.any() else pd.Series(dtype=object)
    )
    unit_geom = np.array(
        [pieces[ix[0]] if len(ix) == 1 else shapely.union_all(pieces[ix]) for ix in unit_pieces], dtype=object
    )
    unit_ids = unit_pieces.index.to_numpy(int)
    unit_grid = piece_grid[[ix[0] for ix in unit_pieces]] if len(unit_pieces) else np.zeros(0, int)
    empty_geom, empty_grid = pieces[~own], piece_grid[~own]
    # grids without a unit cell: exclusive grids and grids without households are one cell each
    whole = np.setdiff1d(np.arange(len(grids)), unit_grid)
    whole_hh = np.bincount(np.maximum(a_grid, 0), weights=np.where(a_grid >= 0, hh_all, 0.0), minlength=len(grids))[
        whole
    ]
    whole_pop = np.bincount(
        np.maximum(a_grid, 0), weights=np.where(a_grid >= 0, np.nan_to_num(pop_all), 0.0), minlength=len(grids)
    )[whole]
    uu = (
        units.loc[unit_ids]
        if units is not None
        else pd.DataFrame(columns=["households", "population", "building", "compound", "group", "label"])
    )
    n_u, n_e, n_w = len(unit_ids), len(empty_geom), len(whole)
    table = pd.DataFrame(
        {
            "grid": np.concatenate([unit_grid, empty_grid, whole]).astype(int),
            "households": np.concatenate([uu["households"].to_numpy(float) if n_u else [], np.zeros(n_e), whole_hh]),
            "population": np.concatenate(
                [uu["population"].to_numpy(float) if n_u else [], np.full(n_e, np.nan), whole_pop]
            ),
            "building": np.concatenate([uu["building"].to_numpy(object) if n_u else [], np.full(n_e + n_w, None)]),
            "compound": np.concatenate([uu["compound"].to_numpy(object) if n_u else [], np.full(n_e + n_w, None)]),
            "group": np.concatenate([uu["group"].to_numpy(object) if n_u else [], np.full(n_e + n_w, None)]),
            "label": np.concatenate(
                [
                    uu["label"].to_numpy(object) if n_u else [],
                    np.full(n_e, "area without households", dtype=object),
                    np.where(base[whole], "area without households", "exclusive grid " + codes[whole].astype(object)),
                ]
            ),
            "exclusive": np.concatenate([np.zeros(n_u + n_e, bool), ~base[whole]]),
        }
    )
    geometry = np.concatenate([unit_geom, empty_geom, ggeom[whole]]).astype(object)
    candidates = np.zeros(len(table), bool)
    candidates[n_u : n_u + n_e] = True
    geometry, table, kept = _absorb_slivers(geometry, table, candidates)
    new_pos = np.cumsum(kept) - 1
    table["village_code"] = grids["village_code"].astype(str).to_numpy()[table["grid"].to_numpy(int)]
    cells = gpd.GeoDataFrame(table, geometry=geometry, crs=grids.crs)
    # every address: the cell of its unit, or the whole-grid cell of its (exclusive/empty) grid
    address_cell = np.full(len(addresses), -1)
    cell_of_unit = pd.Series(np.arange(n_u), index=unit_ids)
    address_cell[np.flatnonzero(take)] = cell_of_unit.reindex(unit).to_numpy()
    whole_cell = pd.Series(new_pos[n_u + n_e + np.arange(n_w)], index=whole)
    rest = (a_grid >= 0) & ~take
    address_cell[rest] = whole_cell.reindex(a_grid[rest]).to_numpy()
    return cells, address_cell


def _absorb_slivers(
    geometry: np.ndarray, table: pd.DataFrame, candidates: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Join noding slivers (< SLIVER_M2) among `candidates` to a touching cell of the same grid.

    Returns the geometry, the table and the mask of rows kept (cells keep their order).
    """
    tiny = (shapely.area(geometry) < SLIVER_M2) & candidates
    if not tiny.any():
        return geometry, table, np.ones(len(table), bool)
    hosts = np.flatnonzero(~tiny)
    grid = table["grid"].to_numpy()
    ti, hi = shapely.STRtree(geometry[hosts]).query(geometry[tiny], predicate="dwithin", distance=1e-6)
    t_idx, h_idx = np.flatnonzero(tiny)[ti], hosts[hi]
    same = grid[t_idx] == grid[h_idx]
    first = pd.Series(h_idx[same]).groupby(t_idx[same]).first()
    geometry = geometry.copy()
    for t, h in first.items():  # a handful per run
        geometry[h] = shapely.union(geometry[h], geometry[t])
    drop = np.zeros(len(geometry), bool)
    drop[first.index.to_numpy(int)] = True
    return geometry[~drop], table[~drop].reset_index(drop=True), ~drop


def adjacency_from_cells(cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rook adjacency of `cells` within each village/community: ``(i, j, shared border length)``."""
    i, j, length = edges_from_cells(cells.geometry.values)
    v = cells["village_code"].to_numpy()
    same = v[i] == v[j]
    return i[same], j[same], length[same]


def blocks_of_cells(
    cells: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    barriers: np.ndarray | None,
    *,
    points: np.ndarray,
    point_cell: np.ndarray,
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
