"""Walking distance of a run's grids on the streets: ``walk_m`` per grid and the ``walks`` map layer."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata import validate as gval
from geodata.errors import InputError, Problem
from geodata.schema import WALK_COLUMNS, WALK_LAYER_COLUMNS
from gridmap.catalog import with_notes
from gridmap.options import Options
from gridmap.result import GridResult
from partition.reasons import Reason, ReasonKind, decode, encode
from partition.values import Flag, Limit
from partition.walk import MARGIN_M, grid_walks, street_graph

TRUE_TEXT = frozenset({"1", "true", "yes", "y", "是", "√", "x"})
"""Cell texts that mark an address as a possible service point (case-insensitive)."""


def walk_grids(
    result: GridResult,
    streets: gpd.GeoDataFrame | None = None,
    *,
    service_col: str | None = None,
    margin_m: float = MARGIN_M,
    file: str = "streets",
) -> GridResult:
    """Return `result` with every grid's walk from its service point to its farthest household.

    The streets become a graph noded at crossings (:func:`partition.walk.street_graph`); every
    address is snapped to its nearest street. A grid's service point is the address from which its
    farthest household is nearest on the streets (its network centre), or one of the addresses
    marked in `service_col`.

    Parameters
    ----------
    result
        A run (:func:`gridmap.make_grids` or :func:`gridmap.read_run`).
    streets
        Street centre lines (e.g. OSM roads) with a declared CRS; default: the run's barrier lines.
    service_col
        Column of the addresses marking possible service points (true, 1, yes, 是).
    margin_m
        How far outside its grid a walk may go (metres).
    file
        Name of `streets` in messages.

    Returns
    -------
    result
        A copy whose grids have ``walk_m`` (0 for a grid without households) and ``walk_unreached``
        (households on streets not connected to the service point), with the ``walks`` layer (one line per grid) and
        ``manifest["walk"]``.

    Raises
    ------
    InputError
        When there are no streets, they have no lines or no CRS, or `service_col` is missing.

    Examples
    --------
    >>> import geopandas as gpd, gridmap
    >>> from geodata.sample import sample_path
    >>> p = sample_path()
    >>> run = gridmap.make_grids(gpd.read_file(p, layer="addresses"), gpd.read_file(p, layer="boundaries"),
    ...                          barriers=gpd.read_file(p, layer="barriers"))
    >>> walked = gridmap.walk_grids(run)
    >>> bool(walked.grids["walk_m"].notna().all())
    True
    """
    if streets is None:
        ctx = result.context
        barrier = ctx[ctx["kind"].eq("barrier")] if ctx is not None else None
        if barrier is None or not len(barrier):
            raise InputError(
                Problem(
                    file,
                    "is needed: the run has no barrier lines to walk on.",
                    "pass the street lines (CLI: --streets roads.gpkg), e.g. OSM roads.",
                )
            )
        streets, file = barrier, "barriers"
    if not isinstance(streets, gpd.GeoDataFrame) or streets.crs is None:
        raise InputError(
            Problem(
                file, "must be a GeoDataFrame with a CRS.", "read it with geopandas.read_file or gridmap.read_input."
            )
        )
    addresses = result.addresses
    if service_col is not None and service_col not in addresses.columns:
        raise InputError(
            Problem(
                file,
                f"the addresses have no column '{service_col}' marking service points.",
                f"check the spelling; columns: {', '.join(map(str, addresses.columns[:30]))}.",
                column=service_col,
            )
        )
    work = result.work_crs
    lines = gval.validate_barriers(streets, file=file).to_crs(work).geometry.values
    graph = street_graph(lines)
    grids = result.grids
    g = grids.to_crs(work)
    a = addresses.to_crs(work)
    row = pd.Series(np.arange(len(g)), index=g["grid_code"].astype(str))
    codes = a["grid_code"].astype(object)
    at = row.reindex(codes.where(codes.notna(), "").astype(str)).fillna(-1).to_numpy(int)
    hh = a["households"].to_numpy(float) if "households" in a else np.ones(len(a))
    walks = grid_walks(
        graph,
        a.geometry.values,
        np.nan_to_num(hh),
        at,
        g.geometry.values,
        service=None if service_col is None else _marked(a[service_col]),
        margin_m=margin_m,
    )
    grids = grids.copy()
    # a grid without households (a school, a park) has nobody to walk to: 0 m, not unknown
    nobody = np.isnan(walks.walk_m) & (grids["households"].to_numpy(float) == 0)
    walk_m = np.where(nobody, 0.0, walks.walk_m)
    grids[WALK_COLUMNS[0]] = np.round(walk_m, 1)
    grids[WALK_COLUMNS[1]] = np.where(np.isnan(walk_m), np.nan, np.where(nobody, 0, walks.unreached))
    has = walks.service >= 0
    ids = a["address_id"].to_numpy() if "address_id" in a else np.arange(len(a))
    layer = gpd.GeoDataFrame(
        {
            "grid_code": g["grid_code"].to_numpy(object)[has],
            "walk_m": np.round(walks.walk_m[has], 1),
            "service_address": ids[walks.service[has]],
            "farthest_address": ids[walks.farthest[has]],
        },
        geometry=list(walks.path[has]),
        crs=work,
    )[[*WALK_LAYER_COLUMNS, "geometry"]].to_crs(grids.crs)
    w = grids[WALK_COLUMNS[0]].dropna()
    manifest = dict(result.manifest)
    manifest["walk"] = {
        "streets": file,
        "street_nodes": graph.number_of_nodes(),
        "street_edges": graph.number_of_edges(),
        "grids_with_walk": int(len(w)),
        "median_m": float(w.median()) if len(w) else None,
        "max_m": float(w.max()) if len(w) else None,
        "households_unreached": float(np.nansum(grids[WALK_COLUMNS[1]])),
        "service_col": service_col,
        "margin_m": margin_m,
    }
    grids, flagged = _flag_walk_limits(result, grids)
    manifest["walk"]["grids_over_limit"] = int(len(flagged))
    violations = result.violations
    if len(flagged):
        violations = pd.concat([violations, flagged.to_crs(violations.crs)], ignore_index=True)
    return dataclasses.replace(result, grids=grids, walks=layer, manifest=manifest, violations=violations)


def _flag_walk_limits(result: GridResult, grids: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Flag the grids whose ``walk_m`` misses a ``walk_m`` limit of their village's rule; return them as violations."""
    rules = Options.from_record(result.manifest).rules
    bnd = result.boundaries
    limit_of: dict[str, Limit] = {}
    for row in bnd.itertuples():
        rule = rules.rule_for(
            code=str(row.code),
            urban_rural=getattr(row, "urban_rural", None) or None,
            kind=getattr(row, "kind", None) or None,
        )
        limit_of.update({str(row.code): lim for lim in rule.limits if lim.measure == WALK_COLUMNS[0]})
    if not limit_of:
        return grids, result.violations.iloc[:0]
    grids = grids.copy()
    rows = []
    for i, (code, village, walk) in enumerate(
        zip(grids["grid_code"], grids["village_code"], grids[WALK_COLUMNS[0]], strict=True)
    ):
        lim = limit_of.get(str(village))
        if lim is None or pd.isna(walk) or lim.contains(float(walk)):
            continue
        text = lim.missed(walk)
        why = Reason.of(ReasonKind.WALK_OVER_LIMIT, value=round(float(walk)), limit=text)
        grids.iloc[i, grids.columns.get_loc("reason")] = encode([*decode(grids["reason"].iloc[i]), why])
        if not grids["flag"].iloc[i]:
            grids.iloc[i, grids.columns.get_loc("flag")] = Flag.LIMIT_UNMET.value
        rows.append(
            {
                "kind": "grid_limit",
                "flag": grids["flag"].iloc[i],
                "ref": code,
                "reason": encode([why]),
                "geometry": grids.geometry.iloc[i],
            }
        )
    grids = with_notes(grids)
    flagged = gpd.GeoDataFrame(rows, geometry="geometry", crs=grids.crs) if rows else result.violations.iloc[:0]
    if rows:
        flagged = with_notes(flagged, note="message")
    return grids, flagged


def _marked(values: pd.Series) -> np.ndarray:
    """Whether each cell marks a service point: true, a non-zero number, or a text in :data:`TRUE_TEXT`."""
    if values.dtype == bool:
        return values.to_numpy()
    num = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip().str.lower().isin(TRUE_TEXT)
    return ((num.fillna(0) != 0) | text).to_numpy()
