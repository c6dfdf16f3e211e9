"""Make the grids of one village/community: exclusive areas first, then its base rule over unit cells."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geodata.schema import VILLAGE_CELL_COLUMNS, VILLAGE_GRID_COLUMNS
from geodata.validate import MEASURED_AFTER
from partition.adjacency import cell_graph, measure_column
from partition.partition import Partition, unmet_limits
from partition.reasons import Reason, ReasonKind, UnitKind, UnitRef, encode, unit_text
from partition.rows import sorted_runs
from partition.rules import RULE_LABELLERS, Rule, Verdict
from partition.tessellation import EMPTY, cells_from_polygons, point_owner, union_runs, voronoi_cells
from partition.units import unit_columns
from partition.values import Flag, Status


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
    """The grids of one village/community, the grid of each of its address points, and its cells.

    ``cells`` is the partition the grids are made of: one row per cell
    (:data:`geodata.schema.VILLAGE_CELL_COLUMNS`, plus ``geometry`` as shapely objects in a plain
    DataFrame, sent between processes as one WKB array); every grid is the union of its cells.
    Exclusive areas and a base area without households are one cell each.
    """

    grids: gpd.GeoDataFrame
    point_grid: pd.Series
    notes: list[str] = field(default_factory=list)
    cells: pd.DataFrame | None = None

    def __getstate__(self) -> dict:
        """Pickle the cells' geometry as one WKB array (a third of the time of pickling each polygon)."""
        state = dict(self.__dict__)
        if self.cells is not None:
            state["cells"] = self.cells.assign(geometry=shapely.to_wkb(self.cells["geometry"].to_numpy(object)))
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore the cells' geometry from WKB."""
        cells = state.get("cells")
        if cells is not None:
            state["cells"] = cells.assign(geometry=shapely.from_wkb(cells["geometry"].to_numpy(object)))
        self.__dict__.update(state)


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


def cells_of_area(
    village: Village, area: BaseGeometry, points: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Return the unit cells of the base area and the cell of every point (-1: none).

    Cells carry households, population, group, compound and label.
    """
    if village.unit_polygons is not None and len(village.unit_polygons):
        polys = village.unit_polygons
        cells = cells_from_polygons(polys.geometry.values, np.arange(len(polys)), area)
        if cells is not None:
            # in polygon mode a point belongs to the cell that contains it
            cell_of_point = point_owner(cells.geometry.values, points.geometry.values)
            src = cells["unit"].to_numpy()  # row of the user's polygon (EMPTY for uncovered remainders)
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
            for name in village.rule.measures:  # a measure of the units layer: each cell takes its polygon's
                if name in polys.columns and name not in points.columns:
                    values = polys[name].to_numpy(float)
                    cells[measure_column(name)] = np.where(src >= 0, values[np.clip(src, 0, None)], 0.0)
            cells["households"] = cells["households"].fillna(0.0)
            cells["n_units"] = cells["n_units"].fillna(0).astype(int)
            # reasons name the user's own unit: its building id, else its feature number in the units layer
            ids = polys["building"].to_numpy(object) if "building" in polys else np.full(len(polys), None, object)
            row = np.clip(src, 0, max(len(polys) - 1, 0))
            feature = polys.index.to_numpy()[row] + 1 if len(polys) else np.zeros(len(cells), int)
            cells["unit_id"] = [
                str(ids[r]) if s >= 0 and pd.notna(ids[r]) else str(f) if s >= 0 else None
                for s, r, f in zip(src, row, feature, strict=True)
            ]
            cells["label"] = pd.Series(
                [
                    UnitRef(UnitKind.BUILDING, str(ids[r]))
                    if s >= 0 and pd.notna(ids[r])
                    else UnitRef(UnitKind.FEATURE, str(f))
                    if s >= 0
                    else UnitRef(UnitKind.UNCOVERED)
                    for s, r, f in zip(src, row, feature, strict=True)
                ],
                index=cells.index,
                dtype=object,
            )
            return cells, cell_of_point
    unit, units = unit_columns(points)
    u, block, geoms = voronoi_cells(np.asarray(points.geometry.values), unit, area, barriers=village.barriers)
    has = u != EMPTY
    # a unit may own several cells (pieces in two blocks); its households sit on the first one
    first = has & ~pd.Series(u).duplicated().to_numpy()
    at = u[has]
    cols: dict[str, np.ndarray] = {"unit": u, "block": block}
    for col, fill in (("households", 0.0), ("population", np.nan)):
        values = np.full(len(u), fill)
        values[first] = units[col][u[first]]
        cols[col] = values
    for col in ("group", "compound", "label", "building"):
        values = np.full(len(u), None, dtype=object)
        values[has] = units[col][at]
        cols[col] = values
    building = cols.pop("building")
    named = has & pd.notna(building)
    cols["n_units"] = first.astype(int)
    cols["unit_id"] = np.full(len(u), None, dtype=object)
    cols["unit_id"][named] = building[named].astype(str)
    cols["geometry"] = geoms
    cells = gpd.GeoDataFrame(cols, geometry="geometry")  # one frame, not a column at a time
    unit_cell = np.full(len(units["households"]), -1)
    unit_cell[u[first]] = np.flatnonzero(first)
    return cells, unit_cell[unit]


def add_measures(cells: pd.DataFrame, cell_of_point: np.ndarray, points: pd.DataFrame, names: tuple[str, ...]) -> None:
    """Sum every measure column of the address points into their cells (in place); ``units`` counts units."""
    at = np.asarray(cell_of_point, float)
    ok = np.isfinite(at) & (at >= 0)
    for name in names:
        col = measure_column(name)
        if col in cells:  # taken from the units layer
            continue
        if name in points.columns:
            values = points[name].to_numpy(float)[ok]
            cells[col] = np.bincount(at[ok].astype(int), weights=values, minlength=len(cells))[: len(cells)]
        elif name == "units":
            cells[col] = cells["n_units"].to_numpy(float)


def _note_blank_groups(rows: list[dict], points: gpd.GeoDataFrame, grid_of_point: np.ndarray) -> None:
    """Name, in the reasons of each grid, the addresses with a blank 村民小组 that it took in."""
    blank = np.flatnonzero(points["group"].isna().to_numpy() & (grid_of_point >= 0))
    if not len(blank):
        return
    g_of = grid_of_point[blank]
    hh = points["households"].to_numpy(float)[blank]
    ids = points.index.to_numpy()[blank]
    for g in np.unique(g_of):
        sel = g_of == g
        rows[g]["reasons"] = (
            *rows[g]["reasons"],
            Reason.of(
                ReasonKind.BLANK_GROUP,
                addresses=int(sel.sum()),
                households=round(hh[sel].sum()),
                address_ids=[str(i) for i in ids[sel][:20]],
                more=bool(sel.sum() > 20),
            ),
        )


def dissolve_cells(geoms: np.ndarray, label: np.ndarray) -> dict[int, BaseGeometry]:
    """Return the union of the cells of every label (:func:`partition.tessellation.union_runs`, all grids at once).

    Holes (a grid inside this one) and pieces are kept.
    """
    order, starts = sorted_runs(label)
    size = np.diff(np.r_[starts, len(order)])
    labels = label[order[starts]].tolist()
    return dict(zip(labels, union_runs(geoms[order], starts, size, single=True), strict=True))


def _previous_of_cells(
    cells: gpd.GeoDataFrame, cell_of_point: np.ndarray, points: gpd.GeoDataFrame, previous: np.ndarray
) -> np.ndarray:
    """Previous grid (position in `previous`, -1 if none) of each cell: where its households were, else its area."""
    warm = point_owner(previous, shapely.point_on_surface(cells.geometry.values))
    cell_of_point = np.asarray(cell_of_point, float)
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
        keep their grid (and code) across regenerations (cell column ``previous``).

    Returns
    -------
    result
        ``grids`` (one row per grid, columns :data:`VILLAGE_GRID_COLUMNS`, polygons that tile the
        boundary) and ``point_grid`` (row of ``grids`` of every address point, indexed like
        ``village.points``).
    """
    crs = village.points.crs
    pts = village.points
    rule = village.rule
    rows: list[dict] = []
    geoms: list[BaseGeometry] = []
    point_grid = np.full(len(pts), -1)
    cell_parts: list[pd.DataFrame] = []
    has_exclusive = village.exclusive is not None and len(village.exclusive) > 0
    pieces = _exclusive_pieces(village) if has_exclusive else None
    base_area = village.boundary
    in_excl = np.zeros(len(pts), bool)
    if pieces is not None and len(pieces):
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
                    status=Status.OK,
                    flag="",
                    reasons=(Reason.of(ReasonKind.EXCLUSIVE, name=str(piece.name)),),
                    name=piece.name,
                    **{
                        name: float(pts[name].to_numpy(float)[members].sum()) if name in pts else 0.0
                        for name in rule.measures
                        if name not in VILLAGE_GRID_COLUMNS and name not in MEASURED_AFTER
                    },
                )
            )
            geoms.append(piece.geometry)
            cell_parts.append(
                _whole_cell(len(rows) - 1, piece.geometry, rows[-1], label=f"exclusive area {piece.name}")
            )
        base_area = shapely.difference(village.boundary, shapely.union_all(pieces.geometry.values))
    base_pts = pts[~in_excl] if in_excl.any() else pts
    base_idx = np.flatnonzero(~in_excl)
    if not shapely.is_empty(base_area) and shapely.area(base_area) > 0 and len(base_pts) == 0:
        # no household at all in the base area (new development, a park-only boundary): one grid
        rows.append(
            dict(
                grid_type="base",
                rule=rule.name,
                households=0.0,
                population=0.0,
                units=0,
                status=Status.UNDER_MIN if rule.name == "household_band" else Status.OK,
                flag=Flag.NO_FEASIBLE_K if rule.name == "household_band" else Flag.NONE,
                reasons=(Reason.of(ReasonKind.NO_HOUSEHOLDS),),
                name="",
            )
        )
        geoms.append(base_area)
        cell_parts.append(_whole_cell(len(rows) - 1, base_area, rows[-1], label="area without households"))
    elif not shapely.is_empty(base_area) and shapely.area(base_area) > 0:
        cells, cell_of_point = cells_of_area(village, base_area, base_pts)
        add_measures(cells, cell_of_point, base_pts, rule.measures)
        if previous is not None and len(previous):
            cells["previous"] = _previous_of_cells(cells, cell_of_point, base_pts, previous)
        graph = cell_graph(cells)
        label, verdicts = RULE_LABELLERS[rule.name](cells, rule, graph=graph)
        base_start = len(rows)
        figures = Partition(graph, label, [rule] * (int(label.max()) + 1 if len(label) else 0))
        dissolved = dissolve_cells(np.asarray(cells.geometry.values), label)
        households, population = figures.households.tolist(), figures.population.tolist()
        units = figures.units.astype(int).tolist()
        sums = {
            name: np.bincount(label, weights=values, minlength=len(households)).tolist()
            for name, values in graph.measures.items()
            if name not in VILLAGE_GRID_COLUMNS  # population, units: their columns hold the sums already
        }
        cells["grid"] = base_start + label
        cell_parts.append(cells)
        for j in range(len(households)):
            status, reasons, flag = verdicts[j] if j < len(verdicts) else Verdict()
            geom = dissolved[j]
            if status == Status.OK and shapely.get_num_geometries(geom) > 1:
                status, flag = Status.ENCLAVE, Flag.ENCLAVE
                reasons = (*reasons, Reason.of(ReasonKind.PIECES, pieces=int(shapely.get_num_geometries(geom))))
            rows.append(
                dict(
                    grid_type="base",
                    rule=rule.name,
                    households=households[j],
                    population=population[j],
                    units=units[j],
                    status=status,
                    flag=flag,
                    reasons=reasons,
                    name="",
                    **{name: values[j] for name, values in sums.items()},
                )
            )
            geoms.append(geom)
        ok = cell_of_point >= 0
        point_grid[base_idx[ok]] = base_start + label[cell_of_point[ok].astype(int)]
        if rule.name == "village_group" and "group" in base_pts and base_pts["group"].notna().any():
            _note_blank_groups(rows, base_pts, point_grid[base_idx])
    _check_limits(rows, rule)
    if rule.name == "household_band":
        _note_base_under_min(rows, rule)
    for row in rows:
        row["reason"] = encode(row.pop("reasons"))
    return VillageGrids(
        grids=_grids_frame(rows, geoms, village.code, rule, crs),
        point_grid=pd.Series(point_grid, index=pts.index),
        cells=cell_table(cell_parts),
    )


def _grids_frame(rows: list[dict], geoms: list[BaseGeometry], code: str, rule: Rule, crs) -> gpd.GeoDataFrame:
    """Return a village's grids as a frame: its `rows` with their `geoms`, the village's `code`, the rule's band."""
    if not rows:
        grids = gpd.GeoDataFrame({c: [] for c in VILLAGE_GRID_COLUMNS}, geometry=[], crs=crs)
        grids["village_code"] = code
        grids["min_households"] = rule.min_households
        grids["max_households"] = rule.max_households
        return grids
    keys, n = list(rows[0]), len(rows)
    if all(list(row) == keys for row in rows):  # the same fields in the same order: a list per column
        data: dict[str, object] = {k: [row[k] for row in rows] for k in keys}
    else:
        frame = pd.DataFrame(rows)
        data = {c: frame[c].array for c in frame.columns}
    # one frame made at once (each column set on a made frame cost more than making it)
    data["geometry"] = np.array(geoms, dtype=object)
    data["village_code"] = np.full(n, code, dtype=object)  # text, as pandas infers it
    data["min_households"] = np.full(n, rule.min_households)
    data["max_households"] = np.full(n, rule.max_households)
    return gpd.GeoDataFrame(data, geometry="geometry", crs=crs)


def _note_base_under_min(rows: list[dict], rule: Rule) -> None:
    """Mark the household-band grids left under the minimum with nothing else wrong (in place).

    The whole village/community is then under the band's minimum: no number of grids fits.
    """
    hh = np.array([row["households"] for row in rows], float)
    under = [
        k
        for k, (row, status) in enumerate(zip(rows, rule.band.statuses(hh), strict=True))
        if row["rule"] == "household_band" and status == Status.UNDER_MIN and row["status"] == Status.OK
    ]
    if under:
        reason = Reason.of(ReasonKind.BASE_UNDER_MIN, households=round(hh.sum()), min=rule.min_households)
        for k in under:
            rows[k].update(status=Status.UNDER_MIN, flag=Flag.NO_FEASIBLE_K, reasons=(reason,))


def _check_limits(rows: list[dict], rule: Rule) -> None:
    """Flag every grid that misses a limit of its rule and carries no reason for it yet (in place).

    The splitter explains the limits it worked on; this catches the rest: rules that do not
    split by households (one grid per 村民小组, single) and exclusive areas.
    """
    limit_kinds = {ReasonKind.UNIT_OVER_LIMIT, ReasonKind.AREA_OVER_LIMIT, ReasonKind.AREA_UNDER_LIMIT}
    limit_kinds |= {ReasonKind.LIMIT_FORCED, ReasonKind.LIMIT_UNMET}
    for row in rows:
        explained = {r.values.get("measure") for r in row["reasons"] if r.kind in limit_kinds}
        missed = unmet_limits((lim for lim in rule.limits if lim.measure not in explained), row)
        if missed:
            row["reasons"] = (*row["reasons"], *missed)
            row["flag"] = row["flag"] or Flag.LIMIT_UNMET


def _whole_cell(grid: int, geom: BaseGeometry, row: dict, *, label: str) -> pd.DataFrame:
    """One cell covering a whole grid (an exclusive area, a base area without households)."""
    return pd.DataFrame(
        {
            "grid": [grid],
            "households": [row["households"]],
            "population": [row["population"]],
            "n_units": [row["units"]],
            "unit_id": [None],
            "label": [label],
            "group": [None],
            "compound": [None],
            "block": [0],
            "geometry": np.array([geom], dtype=object),
        }
    )


def cell_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Return the cells of a village as one plain table (``VILLAGE_CELL_COLUMNS`` and shapely ``geometry``)."""
    cols = [*VILLAGE_CELL_COLUMNS, "geometry"]
    if not parts:
        return pd.DataFrame({c: [] for c in cols})
    frames = []
    for part in parts:
        # the columns' own arrays: text stays the text column it is (not objects, to be inferred again)
        data = {c: part[c].array if c in part else None for c in VILLAGE_CELL_COLUMNS}
        data["geometry"] = np.asarray(part.geometry.values if hasattr(part, "geometry") else part["geometry"], object)
        frame = pd.DataFrame(data)
        label = frame["label"]
        if not isinstance(label.dtype, pd.StringDtype) or label.hasnans:
            # UnitRefs as text, read back by unit_ref (most labels are text already)
            frame["label"] = [v if type(v) is str else unit_text(v) for v in label.to_numpy(object)]
        frames.append(frame)
    out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    for col in ("grid", "n_units", "block"):
        if out[col].dtype != np.int64:
            out[col] = out[col].astype(np.int64)
    return out
