"""Make the grids of one village/community: exclusive areas first, then its base rule over unit cells."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from partition.adjacency import cell_graph, graph_from_cells
from partition.rules import Rule
from partition.split import split_graph
from partition.tessellation import EMPTY, cells_from_points, cells_from_polygons, point_owner
from partition.units import units_from_points

GRID_COLUMNS = (
    "village_code",
    "grid_type",
    "rule",
    "min_households",
    "max_households",
    "households",
    "population",
    "units",
    "status",
    "flag",
    "note",
)


@dataclass
class Village:
    """Everything needed to grid one village/community, already in one metric CRS."""

    code: str
    boundary: BaseGeometry
    rule: Rule
    points: gpd.GeoDataFrame
    exclusive: gpd.GeoDataFrame | None = None
    barriers: np.ndarray | None = None
    unit_polygons: gpd.GeoDataFrame | None = None


@dataclass
class VillageGrids:
    """The grids of one village/community and the grid of each of its address points."""

    grids: gpd.GeoDataFrame
    point_grid: pd.Series
    notes: list[str] = field(default_factory=list)


def _exclusive_pieces(village: Village) -> gpd.GeoDataFrame:
    ex = village.exclusive
    if ex is None or len(ex) == 0:
        return gpd.GeoDataFrame({"name": [], "type": []}, geometry=[], crs=village.points.crs)
    geoms = shapely.intersection(ex.geometry.values, village.boundary)
    taken = None
    out = []
    for geom in geoms:  # few areas per village; earlier areas win where two overlap
        if taken is not None:
            geom = shapely.difference(geom, taken)
        polys = shapely.get_parts(geom)
        polys = polys[(shapely.get_type_id(polys) == 3) & (shapely.area(polys) > 1e-6)]
        geom = shapely.multipolygons(polys) if len(polys) > 1 else (polys[0] if len(polys) else None)
        out.append(geom)
        if geom is not None:
            taken = geom if taken is None else shapely.union(taken, geom)
    pieces = ex[["name", "type"]].copy()
    pieces = gpd.GeoDataFrame(pieces, geometry=np.array(out, dtype=object), crs=village.points.crs)
    return pieces[pieces.geometry.notna()].reset_index(drop=True)


def _cells(village: Village, area: BaseGeometry, points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Unit cells of the base area with households, population, group, compound and label."""
    unit, units = units_from_points(points)
    cells = None
    if village.unit_polygons is not None and len(village.unit_polygons):
        polys = village.unit_polygons
        cells = cells_from_polygons(polys.geometry.values, np.arange(len(polys)), area)
        if cells is not None:
            # in polygon mode a point belongs to the cell that contains it
            cell_of_point = point_owner(cells.geometry.values, points.geometry.values)
            cells = cells.assign(unit=np.arange(len(cells)))
            per = pd.DataFrame(
                {
                    "cell": cell_of_point,
                    "households": points["households"].to_numpy(float),
                    "population": points["population"].to_numpy(float),
                    "group": points["group"].to_numpy() if "group" in points else None,
                    "compound": points["compound"].to_numpy() if "compound" in points else None,
                }
            )
            per = per[per["cell"] >= 0]
            g = per.groupby("cell")
            agg = pd.DataFrame(
                {
                    "households": g["households"].sum(),
                    "population": g["population"].sum(min_count=1),
                    "group": g["group"].first(),
                    "compound": g["compound"].first(),
                    "n_units": g.size().clip(upper=1),
                }
            ).reindex(np.arange(len(cells)))
            cells = cells.drop(columns=["unit"]).join(agg)
            cells["households"] = cells["households"].fillna(0.0)
            cells["n_units"] = cells["n_units"].fillna(0).astype(int)
            labels = polys.get("building", pd.Series(np.arange(len(polys)))).astype(str)
            cells["label"] = "unit " + pd.Series(np.arange(len(cells))).astype(str)
            cells.attrs["cell_of_point"] = cell_of_point
            cells.attrs["labels"] = labels
            return cells
    cells = cells_from_points(points.geometry.values, unit.to_numpy(), area, barriers=village.barriers)
    u = cells["unit"].to_numpy()
    has = u != EMPTY
    for col in ("households", "population", "group", "compound", "label"):
        values = units[col].to_numpy()
        fill = 0.0 if col == "households" else (np.nan if col == "population" else None)
        out = np.full(len(cells), fill, dtype=values.dtype if col in ("households", "population") else object)
        out[has] = values[u[has]]
        cells[col] = out
    cells["n_units"] = has.astype(int)
    # a unit may own several cells (pieces in two blocks); its households sit on the first one
    dup = pd.Series(u).duplicated().to_numpy() & has
    cells.loc[dup, ["households", "population"]] = [0.0, np.nan]
    cells.loc[dup, "n_units"] = 0
    unit_cell = pd.Series(np.flatnonzero(has & ~dup), index=u[has & ~dup])
    cells.attrs["cell_of_point"] = unit_cell.reindex(unit.to_numpy()).to_numpy()
    return cells


def _labels_village_group(cells: gpd.GeoDataFrame) -> tuple[np.ndarray, list[str]]:
    groups = cells["group"]
    known = groups.notna().to_numpy()
    notes = []
    if not known.any():
        return np.zeros(len(cells), int), ["no 村民小组 (group) labels on the households: kept as one grid."]
    codes, names = pd.factorize(groups, sort=True)
    label = np.where(known, codes, -1)
    graph = graph_from_cells(cells.assign(households=cells["households"].fillna(0)))
    # empty cells (and cells without a group) join the neighbour group with the longest border
    while (label < 0).any():
        changed = False
        for v in np.flatnonzero(label < 0):
            border: dict[int, float] = {}
            for u, d in graph[v].items():
                if label[u] >= 0:
                    border[label[u]] = border.get(label[u], 0.0) + d["length"]
            if border:
                label[v] = max(sorted(border), key=border.get)
                changed = True
        if not changed:
            todo = np.flatnonzero(label < 0)
            done = np.flatnonzero(label >= 0)
            c = shapely.centroid(cells.geometry.values)
            d = shapely.distance(c[todo[0]], c[done])
            label[todo[0]] = label[done[np.argmin(d)]]
    return label, notes


def _union_by_label(geoms: np.ndarray, label: np.ndarray) -> dict[int, BaseGeometry]:
    """Union the cells of every label: a fast coverage union, checked, else a full overlay union.

    Cells tile the area without overlaps, so GEOS's coverage union applies; where its result is
    not one valid hole-free polygon of the cells' total area (an enclave, cells whose shared
    edges do not match exactly) the grid is unioned again with the general (slower) overlay.
    """
    order = np.argsort(label, kind="stable")
    labels, starts = np.unique(label[order], return_index=True)
    out: dict[int, BaseGeometry] = {}
    for lab, members in zip(labels, np.split(order, starts[1:]), strict=True):
        parts = geoms[members]
        try:
            merged = shapely.coverage_union_all(parts)
        except shapely.errors.GEOSException:  # cells cut at different vertices (along a barrier)
            merged = None
        area = float(shapely.area(parts).sum())
        if merged is None or not (
            shapely.get_type_id(merged) == 3
            and shapely.get_num_interior_rings(merged) == 0
            and shapely.is_valid(merged)
            and abs(shapely.area(merged) - area) <= 1e-9 * max(area, 1.0)
        ):
            merged = shapely.union_all(parts)
        out[int(lab)] = merged
    return out


def _previous_of_cells(cells: gpd.GeoDataFrame, points: gpd.GeoDataFrame, previous: np.ndarray) -> np.ndarray:
    """Previous grid (position in `previous`, -1 if none) of each cell: where its households were, else its area."""
    warm = point_owner(previous, shapely.point_on_surface(cells.geometry.values))
    cell_of_point = np.asarray(cells.attrs["cell_of_point"], float)
    ok = cell_of_point >= 0
    if ok.any():
        owner = point_owner(previous, points.geometry.values[ok])
        first = pd.Series(owner).groupby(cell_of_point[ok].astype(int)).first()
        warm[first.index.to_numpy()] = first.to_numpy()
    return warm


def partition_village(village: Village, *, previous: np.ndarray | None = None) -> VillageGrids:
    """Make the grids of one village/community.

    Exclusive areas are carved out first, each its own grid of type ``exclusive/<type>``; the
    rest is tiled by unit cells and gridded under the village's rule.

    Parameters
    ----------
    village
        The village/community, its rule and its inputs in a metric CRS.
    previous
        Base-grid polygons of an earlier run of this village (same CRS), or None. Household-band
        grids then start from them and change only as far as the band requires, so households
        keep their grid (and code) across regenerations.

    Returns
    -------
    result
        ``grids`` (one row per grid, columns :data:`GRID_COLUMNS`, polygons that tile the
        boundary) and ``point_grid`` (row of ``grids`` of every address point, indexed like
        ``village.points``).
    """
    crs = village.points.crs
    pts = village.points
    rule = village.rule
    rows: list[dict] = []
    geoms: list[BaseGeometry] = []
    point_grid = np.full(len(pts), -1)
    pieces = _exclusive_pieces(village)
    base_area = village.boundary
    in_excl = np.zeros(len(pts), bool)
    if len(pieces):
        owner = point_owner(pieces.geometry.values, pts.geometry.values)
        for e, piece in enumerate(pieces.itertuples()):
            members = np.flatnonzero(owner == e)
            in_excl[members] = True
            point_grid[members] = len(rows)
            hh = float(pts["households"].to_numpy()[members].sum())
            rows.append(
                dict(
                    grid_type=f"exclusive/{piece.type}",
                    rule="exclusive",
                    households=hh,
                    population=float(np.nansum(pts["population"].to_numpy()[members])),
                    units=len(members),
                    status="ok",
                    flag="",
                    note=f"exclusive area (专属网格): {piece.name}",
                    name=piece.name,
                )
            )
            geoms.append(piece.geometry)
        base_area = shapely.difference(village.boundary, shapely.union_all(pieces.geometry.values))
    base_pts = pts[~in_excl]
    base_idx = np.flatnonzero(~in_excl)
    if not shapely.is_empty(base_area) and shapely.area(base_area) > 0 and len(base_pts) == 0:
        # no household at all in the base area (new development, a park-only boundary): one grid
        rows.append(
            dict(
                grid_type="base", rule=rule.name, households=0.0, population=0.0, units=0,
                status="under_min" if rule.name == "household_band" else "ok",
                flag="no_feasible_k" if rule.name == "household_band" else "",
                note="no households in this area: it is one grid until people live here.",
                name="",
            )
        )
        geoms.append(base_area)
    elif not shapely.is_empty(base_area) and shapely.area(base_area) > 0:
        cells = _cells(village, base_area, base_pts)
        cell_of_point = cells.attrs["cell_of_point"]
        statuses: list[tuple[str, str, str]] = []
        if rule.name == "household_band":
            graph = cell_graph(cells)
            warm = _previous_of_cells(cells, base_pts, previous) if previous is not None and len(previous) else None
            parts = split_graph(
                graph, min_households=rule.min_households, max_households=rule.max_households, previous=warm
            )
            label = np.full(len(cells), -1)
            for j, part in enumerate(parts):
                label[list(part.nodes)] = j
                statuses.append((part.status, part.note, part.flag))
        elif rule.name == "village_group":
            label, notes = _labels_village_group(cells)
            names = pd.factorize(cells["group"], sort=True)[1]
            for j in range(label.max() + 1):
                note = notes[0] if notes else f"村民小组 {names[j]}" if j < len(names) else ""
                statuses.append(("ok", note, ""))
        else:
            label = np.zeros(len(cells), int)
            statuses.append(("ok", "whole village/community as one grid (rule: single)", ""))
        base_start = len(rows)
        frame = pd.DataFrame(
            {
                "label": label,
                "households": cells["households"].to_numpy(float),
                "population": cells["population"].to_numpy(float),
                "units": cells["n_units"].to_numpy(int),
            }
        )
        agg = frame.groupby("label").agg(
            households=("households", "sum"),
            population=("population", lambda s: float(np.nansum(s))),
            units=("units", "sum"),
        )
        dissolved = _union_by_label(cells.geometry.values, label)
        for j in agg.index:
            status, note, flag = statuses[j] if j < len(statuses) else ("ok", "", "")
            geom = dissolved[j]
            if status == "ok" and shapely.get_num_geometries(geom) > 1:
                status, flag = "enclave", "enclave"
                note = (note + " " if note else "") + f"in {shapely.get_num_geometries(geom)} separate pieces."
            rows.append(
                dict(
                    grid_type="base",
                    rule=rule.name,
                    households=float(agg.at[j, "households"]),
                    population=float(agg.at[j, "population"]),
                    units=int(agg.at[j, "units"]),
                    status=status,
                    flag=flag,
                    note=note,
                    name="",
                )
            )
            geoms.append(geom)
        ok = cell_of_point >= 0
        point_grid[base_idx[ok]] = base_start + label[cell_of_point[ok].astype(int)]
    grids = gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)
    if len(grids) == 0:
        grids = gpd.GeoDataFrame(
            {c: [] for c in GRID_COLUMNS}, geometry=[], crs=crs
        )
    grids["village_code"] = village.code
    grids["min_households"] = rule.min_households
    grids["max_households"] = rule.max_households
    if rule.name == "household_band":
        hh = grids["households"]
        band = grids["rule"].eq("household_band")
        under = band & (hh < rule.min_households) & grids["status"].eq("ok")
        grids.loc[under, "status"] = "under_min"
        grids.loc[under, "flag"] = "no_feasible_k"
        grids.loc[under, "note"] = (
            f"the community has {hh.sum():.0f} households in its base area, fewer than the minimum {rule.min_households}."
        )
    return VillageGrids(grids=grids, point_grid=pd.Series(point_grid, index=pts.index))
