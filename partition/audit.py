"""Audit a grid layer that gridmap did not make, compare two layers, and load workers.

Pure functions on GeoDataFrames in one metric CRS (no I/O): the engine (:mod:`gridmap.analysis`)
reads the files and writes the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from partition.coding import check_codes
from partition.measures import pieces, polsby_popper, summary
from partition.reasons import Reason, ReasonKind, decode, encode
from partition.tessellation import point_owner
from partition.values import DEFAULT_BAND, Band, GridCode, Status

MIN_AREA_M2 = 1.0
"""Gaps and overlaps smaller than this are digitising noise, not findings."""


@dataclass
class Audit:
    """Result of :func:`audit_grids`."""

    grids: gpd.GeoDataFrame
    """The layer with households, population, compactness, status and reason (JSON) per grid."""
    violations: gpd.GeoDataFrame
    """One row per finding: kind, ref, reason (JSON, worded by :mod:`gridmap.catalog`), area_m2, geometry."""
    address_grid: np.ndarray
    """Row of `grids` of every address (-1: in no grid; the first when in several)."""


def audit_grids(
    grids: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    band: Band = DEFAULT_BAND,
    band_villages: set[str] | None = None,
) -> Audit:
    """Check an existing grid layer against its addresses and village/community boundaries.

    Parameters
    ----------
    grids
        Polygons with ``grid_code`` (and optionally ``village_code``, ``grid_type``).
    addresses
        Points with ``households`` (and optionally ``population``).
    boundaries
        Village/community polygons with ``code``: grids crossing them and gaps inside them are found.
    band
        The household band each grid is measured against.
    band_villages
        Codes of the villages/communities whose grids follow the household band; grids of other
        villages (rural, one grid per 村民小组) are not measured against it. None: every grid.

    Returns
    -------
    audit
        See :class:`Audit`. Findings: ``gap`` (area of a boundary in no grid), ``overlap`` (area in
        two grids), ``crosses_boundary`` (a grid in two villages), ``address_in_no_grid``,
        ``address_in_two_grids``, ``code`` (fails :func:`partition.coding.check_codes`),
        ``out_of_band``, ``multipart``.
    """
    g = grids.reset_index(drop=True).copy()
    geoms = g.geometry.values
    pts = addresses.geometry.values
    hh = addresses["households"].to_numpy(float)
    pop = addresses["population"].to_numpy(float) if "population" in addresses else np.full(len(pts), np.nan)
    rows: list[dict] = []
    vgeoms: list = []

    def add(kind: str, ref: str, reason: Reason, geom=None, area=np.nan):
        rows.append(dict(kind=kind, ref=ref, reason=encode([reason]), area_m2=area))
        vgeoms.append(geom)

    pi, gi = shapely.STRtree(geoms).query(pts, predicate="intersects")
    count = np.bincount(pi, minlength=len(pts))
    address_grid = point_owner(geoms, pts)
    for i in np.flatnonzero(count == 0):
        why = Reason.of(ReasonKind.ADDRESS_IN_NO_GRID, address=int(i), households=round(hh[i]))
        add("address_in_no_grid", f"address {i}", why, pts[i])
    for i in np.flatnonzero(count > 1):
        codes = g["grid_code"].astype(str).to_numpy()[gi[pi == i]].tolist()
        why = Reason.of(ReasonKind.ADDRESS_IN_TWO_GRIDS, address=int(i), grids=int(count[i]), codes=codes)
        add("address_in_two_grids", f"address {i}", why, pts[i])
    ok = address_grid >= 0
    g["households"] = np.bincount(address_grid[ok], weights=hh[ok], minlength=len(g))
    g["population"] = np.bincount(address_grid[ok], weights=np.nan_to_num(pop[ok]), minlength=len(g))
    g["area_m2"] = shapely.area(geoms)
    g["compactness"] = polsby_popper(geoms)
    g["min_households"] = band.min_households
    g["max_households"] = band.max_households
    if "grid_type" not in g:
        g["grid_type"] = "base"
    n_pieces = pieces(geoms)
    for i in np.flatnonzero(n_pieces > 1):
        code = str(g["grid_code"].iloc[i])
        add("multipart", code, Reason.of(ReasonKind.GRID_IN_PIECES, grid=code, pieces=int(n_pieces[i])), geoms[i])
    # overlaps between grids
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    inter = shapely.intersection(geoms[a[keep]], geoms[b[keep]])
    area = shapely.area(inter)
    for x, y, geom, ar in zip(a[keep], b[keep], inter, area, strict=True):
        if ar >= MIN_AREA_M2:
            ca, cb = str(g["grid_code"].iloc[x]), str(g["grid_code"].iloc[y])
            why = Reason.of(ReasonKind.GRIDS_OVERLAP, grid=ca, other=cb, area=round(ar))
            add("overlap", f"{ca} × {cb}", why, geom, ar)
    if boundaries is not None and len(boundaries):
        union = shapely.union_all(geoms)
        for code, bgeom in zip(boundaries["code"].astype(str), boundaries.geometry.values, strict=True):
            gap = shapely.difference(bgeom, union)
            for part in shapely.get_parts(gap):
                if shapely.area(part) >= MIN_AREA_M2:
                    ar = float(shapely.area(part))
                    add("gap", code, Reason.of(ReasonKind.AREA_IN_NO_GRID, village_code=code, area=round(ar)), part, ar)
        # a grid crossing village/community borders: area in two or more boundaries
        gi2, bi2 = shapely.STRtree(boundaries.geometry.values).query(geoms, predicate="intersects")
        share = shapely.area(shapely.intersection(geoms[gi2], boundaries.geometry.values[bi2]))
        frame = pd.DataFrame({"grid": gi2, "code": boundaries["code"].astype(str).to_numpy()[bi2], "area": share})
        frame = frame[frame["area"] >= MIN_AREA_M2]
        owner = frame.sort_values("area", ascending=False).drop_duplicates("grid").set_index("grid")["code"]
        if "village_code" not in g:
            g["village_code"] = owner.reindex(range(len(g))).to_numpy()
        spans = frame.groupby("grid")["code"].nunique()
        for i in spans.index[spans > 1]:
            code = str(g["grid_code"].iloc[i])
            codes = sorted(frame.loc[frame["grid"] == i, "code"])
            why = Reason.of(ReasonKind.GRID_CROSSES_BOUNDARY, grid=code, villages=int(spans[i]), codes=codes)
            add("crosses_boundary", code, why, geoms[i])
    if "village_code" not in g:
        g["village_code"] = GridCode.villages(g["grid_code"])
    banded = g["village_code"].isin(band_villages) if band_villages is not None else pd.Series(True, index=g.index)
    banded &= ~g["grid_type"].astype(str).str.startswith("exclusive")  # 专属网格 have no household band
    g["rule"] = np.where(banded, "household_band", "village_group")
    inside = band.contains_all(g["households"]) | ~banded.to_numpy()
    g["status"] = np.where(inside, Status.OK.value, band.statuses(g["households"]))
    g["flag"] = ""
    mn, mx = round(band.min_households), round(band.max_households)
    out_of_band = encode([Reason.of(ReasonKind.OUT_OF_BAND, min=mn, max=mx)])
    g["reason"] = pd.Series([None if ok else out_of_band for ok in inside], index=g.index, dtype=object)
    for r in g[~inside].itertuples():
        why = Reason.of(
            ReasonKind.GRID_OUT_OF_BAND, grid=str(r.grid_code), households=round(r.households), min=mn, max=mx
        )
        add("out_of_band", r.grid_code, why, r.geometry)
    for r in check_codes(g).itertuples():
        if r.severity == "error":
            add("code", r.grid_code, *decode(r.reason))
    violations = gpd.GeoDataFrame(rows, columns=["kind", "ref", "reason", "area_m2"], geometry=vgeoms, crs=grids.crs)
    return Audit(grids=g, violations=violations, address_grid=address_grid)


def worker_loads(grids: pd.DataFrame, workers: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Households and people per worker; a grid with several workers is shared equally.

    Parameters
    ----------
    grids
        ``grid_code``, ``households`` and optionally ``population``.
    workers
        ``grid_code`` → ``worker`` (one row per pair).

    Returns
    -------
    loads, figures
        One row per worker (``worker``, ``grids``, ``households``, ``population``), heaviest first,
        and the balance figures of :func:`partition.measures.summary` over workers.
    """
    w = workers[["grid_code", "worker"]].astype(str).drop_duplicates()
    n = w.groupby("grid_code")["worker"].transform("size")
    g = grids.assign(grid_code=grids["grid_code"].astype(str)).set_index("grid_code")
    pop = g["population"] if "population" in g else pd.Series(np.nan, index=g.index)
    w = w.assign(
        households=g["households"].reindex(w["grid_code"]).to_numpy(float) / n.to_numpy(),
        population=pop.reindex(w["grid_code"]).to_numpy(float) / n.to_numpy(),
    )
    loads = w.groupby("worker").agg(
        grids=("grid_code", "size"), households=("households", "sum"), population=("population", "sum")
    )
    loads = loads.sort_values("households", ascending=False).reset_index()
    return loads, summary(loads["households"].to_numpy())


@dataclass
class Diff:
    """Result of :func:`diff_layers`."""

    households: pd.DataFrame
    """Per address: ``address``, ``households``, ``old_code``, ``new_code``, ``changed``."""
    grids: pd.DataFrame
    """Per grid code: households before and after, gained and lost."""
    changed_areas: gpd.GeoDataFrame
    """Polygons where the grid code differs between the layers, with both codes and the area."""
    share_changed: float
    """Share of households whose grid code changed."""
    points: gpd.GeoDataFrame
    """The address points with the columns of `households`."""


def diff_layers(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> Diff:
    """Compare two grid layers over the same addresses (all in one metric CRS)."""
    pts = addresses.geometry.values
    hh = addresses["households"].to_numpy(float)

    def code_of(layer):
        owner = point_owner(layer.geometry.values, pts)
        return np.where(owner >= 0, layer["grid_code"].astype(str).to_numpy()[np.maximum(owner, 0)], None)

    oc, nc = code_of(old), code_of(new)
    per = pd.DataFrame({"address": np.arange(len(pts)), "households": hh, "old_code": oc, "new_code": nc})
    per["changed"] = per["old_code"].fillna("").astype(str) != per["new_code"].fillna("").astype(str)
    before = per.groupby("old_code")["households"].sum()
    after = per.groupby("new_code")["households"].sum()
    moved = per[per["changed"]]
    lost = moved.groupby("old_code")["households"].sum()
    gained = moved.groupby("new_code")["households"].sum()
    codes = sorted(set(before.index) | set(after.index))
    grids = pd.DataFrame(
        {
            "grid_code": codes,
            "households_before": before.reindex(codes).fillna(0).to_numpy(),
            "households_after": after.reindex(codes).fillna(0).to_numpy(),
            "gained": gained.reindex(codes).fillna(0).to_numpy(),
            "lost": lost.reindex(codes).fillna(0).to_numpy(),
        }
    )
    ov = gpd.overlay(old[["grid_code", "geometry"]], new[["grid_code", "geometry"]], how="union", keep_geom_type=True)
    ov = ov.rename(columns={"grid_code_1": "old_code", "grid_code_2": "new_code"})
    ov = ov[ov["old_code"].astype(str) != ov["new_code"].astype(str)].copy()
    ov["area_m2"] = ov.geometry.area
    ov = ov[ov["area_m2"] >= MIN_AREA_M2].reset_index(drop=True)
    total = hh.sum()
    share = float(per.loc[per["changed"], "households"].sum() / total) if total else 0.0
    points = gpd.GeoDataFrame(per.drop(columns="address"), geometry=pts, crs=addresses.crs)
    return Diff(
        households=per,
        grids=grids,
        changed_areas=gpd.GeoDataFrame(ov, geometry="geometry", crs=old.crs),
        share_changed=share,
        points=points,
    )
