"""Workload analysis on GeoDataFrames: audit a grid layer gridmap did not make, diff two layers, worker loads."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import InputError, Problem
from gridmap import report
from gridmap.catalog import with_notes
from gridmap.options import Options
from gridmap.provenance import MADE_BY, gridmap_version, now_iso
from gridmap.report import report_page
from gridmap.result import GridResult
from partition.audit import Diff, audit_grids, diff_layers
from partition.rules import Rule, RuleSet
from partition.values import DEFAULT_BAND, Band, Limit


def read_workers(
    path: str | Path, *, grid_code_col: str = "grid_code", worker_col: str = "worker", sheet: str | None = None
) -> pd.DataFrame:
    """Read a worker table: one row per (grid code, worker) pair, as text.

    CSV in any common separator and encoding, or a sheet of an XLSX/XLS.

    Raises
    ------
    InputError
        When a column is missing, or rows lack a grid code or a worker (every such row named).
    """
    path = Path(path)
    df = gio.read_tabular(path, sheet=sheet)
    missing = [c for c in (grid_code_col, worker_col) if c not in df.columns]
    if missing:
        raise InputError(
            Problem(
                str(path),
                f"has no column {', '.join(missing)} (columns: {', '.join(map(str, df.columns))}).",
                "name the columns grid_code and worker, or pass `grid_code_col`/`worker_col`.",
                column=missing[0],
            )
        )
    rows = df.attrs.get("rows")
    df = df.rename(columns={grid_code_col: "grid_code", worker_col: "worker"})
    for col in ("grid_code", "worker"):
        df[col] = df[col].astype(str).str.strip()
    blank = df["grid_code"].eq("") | df["worker"].eq("")
    if blank.any():
        raise InputError(
            [
                Problem(
                    str(path),
                    "has no grid code or no worker.",
                    "fill in or delete the row.",
                    row=gio.row_label(rows, int(i)),
                    column="grid_code" if df["grid_code"].iloc[i] == "" else "worker",
                )
                for i in np.flatnonzero(blank.to_numpy())[:50]
            ]
        )
    return df[["grid_code", "worker"]]


def _band_villages(boundaries: gpd.GeoDataFrame) -> set[str]:
    """Codes of the villages/communities whose grids follow the household band (not rural 村民小组)."""
    rules = RuleSet()
    return {
        str(row.code)
        for row in boundaries.itertuples()
        if rules.rule_for(
            code=str(row.code),
            urban_rural=getattr(row, "urban_rural", None) or None,
            kind=getattr(row, "kind", None) or None,
        ).name
        == "household_band"
    }


def audit(
    grids: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame | None = None,
    *,
    grid_code_col: str = "grid_code",
    households_col: str = "households",
    min_households: float = DEFAULT_BAND.min_households,
    max_households: float = DEFAULT_BAND.max_households,
    limits: Sequence[Limit] = (),
    balance: Sequence[tuple[str, float]] = (),
    name: str | None = None,
) -> GridResult:
    """Audit a grid layer gridmap did not make: households per grid, gaps, overlaps, crossings, codes.

    Parameters
    ----------
    grids
        The existing grid polygons with their codes (any declared CRS).
    addresses
        Household address points (``households``; 1 per point when absent).
    boundaries
        Village/community polygons with ``code``: gaps inside them and grids crossing them are found,
        and the band is measured only for urban communities.
    grid_code_col, households_col
        Columns of `grids` and `addresses` holding the code and the households.
    min_households, max_households
        The household band.
    limits, balance
        Measures (numeric columns of `addresses`) to sum per grid and compare in the report: limits
        per grid and balance weights, as in a rule.
    name
        Title of the audit.

    Returns
    -------
    result
        A run-like result: grids with households and status, addresses with their grid, findings
        as ``violations``; ``manifest["findings"]`` counts them by kind.

    Examples
    --------
    >>> import gridmap, geopandas as gpd
    >>> from geodata.sample import sample_path
    >>> p = sample_path()
    >>> addresses = gpd.read_file(p, layer="addresses")
    >>> run = gridmap.make_grids(addresses, gpd.read_file(p, layer="boundaries"))
    >>> found = gridmap.audit(run.grids, addresses, run.boundaries)
    >>> found.manifest["findings"].get("gap", 0)
    0
    """
    if grid_code_col not in grids.columns:
        raise InputError(
            Problem(
                grids.attrs.get("file", "grids"),
                f"has no column '{grid_code_col}'.",
                "pass the column of the grid codes (`grid_code_col`).",
                column=grid_code_col,
            )
        )
    g = grids.rename(columns={grid_code_col: "grid_code"})
    g["grid_code"] = g["grid_code"].astype(str)
    a = addresses
    if households_col != "households" and households_col in a.columns:
        a = gio.rename_fields(a, {"households": households_col}, file="addresses")
    a, _ = gval.validate_addresses(a, file=a.attrs.get("file", "addresses"), csv_like=a.attrs.get("rows") == "csv")
    rule = Rule(min_households=min_households, max_households=max_households).with_measures(
        limits=limits, balance=balance
    )
    gval.validate_measures(
        a, rule.measures, file=a.attrs.get("file", "addresses"), csv_like=a.attrs.get("rows") == "csv"
    ).raise_if_errors()
    out_crs = g.crs
    work = gcrs.metric_crs(g)
    b = None
    if boundaries is not None:
        b, _ = gval.validate_boundaries(boundaries, file=boundaries.attrs.get("file", "boundaries"))
        b = b.to_crs(work)
    found = audit_grids(
        g.to_crs(work),
        a.to_crs(work),
        boundaries=b,
        band=Band(min_households, max_households),
        band_villages=_band_villages(b) if b is not None else None,
    )
    ag = with_notes(found.grids)
    inside = found.address_grid >= 0
    for m in rule.measures:
        if m in a.columns and m not in ag.columns:
            values = a[m].to_numpy(float)[inside]
            ag[m] = np.bincount(found.address_grid[inside], weights=values, minlength=len(ag))
    names = dict(zip(b["code"], b["name"], strict=True)) if b is not None and "name" in b else {}
    ag["village_name"] = ag["village_code"].map(names).fillna("") if names else ag.get("village_name", "")
    a = a.to_crs(work)
    at = np.maximum(found.address_grid, 0)
    a["grid_code"] = np.where(found.address_grid >= 0, ag["grid_code"].to_numpy()[at], None)
    a["village_code"] = np.where(found.address_grid >= 0, ag["village_code"].to_numpy()[at], None)
    a["address_id"] = np.arange(len(a))
    manifest = {
        "made_by": MADE_BY,
        "gridmap_version": gridmap_version(),
        "name": name or "audit",
        "created": now_iso(),
        "kind": "audit",
        "options": {"rules": {"urban": Options(rules=RuleSet(urban=rule)).record()["rules"]["urban"]}},
        "findings": {k: int(v) for k, v in found.violations["kind"].value_counts().items()},
        "counts": {
            "villages": int(len(b)) if b is not None else int(ag["village_code"].nunique()),
            "grids": int(len(ag)),
            "addresses": int(len(a)),
        },
        "timings_s": {},
        "crs": {"work": work.to_string()},
    }
    bnd = b if b is not None else gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=work)

    def out(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gcrs.to_output_crs(frame, output_crs=None, input_crs=out_crs)

    return GridResult(
        grids=out(ag),
        addresses=out(a),
        violations=out(_worded(found.violations)),
        boundaries=out(bnd),
        manifest=manifest,
        work_crs=work.to_string(),
    )


def _worded(violations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Audit findings with ``message`` (Chinese) and ``message_en`` (English) worded from their ``reason``."""
    v = with_notes(violations, note="message")
    cols = ["kind", "ref", "message", "message_en", "reason", "area_m2"]
    return gpd.GeoDataFrame(v[[*cols, "geometry"]], geometry="geometry", crs=violations.crs)


def write_audit(
    result: GridResult,
    out: str | Path,
    *,
    overwrite: bool = False,
    workers: pd.DataFrame | None = None,
    maps: bool = True,
) -> Path:
    """Write an audit folder: audit.gpkg (grids, violations, addresses), findings.csv, report, map, manifest."""
    import json

    from gridmap import maps as gmaps

    out = Path(out)
    with gio.atomic_dir(out, overwrite=overwrite) as tmp:
        gio.write_layers(
            tmp / "audit.gpkg", {"grids": result.grids, "violations": result.violations, "addresses": result.addresses}
        )
        gio.write_csv(tmp / "findings.csv", pd.DataFrame(result.violations.drop(columns="geometry")))
        gio.write_text(
            tmp / "report.html",
            report_page(result, workers=workers, title=f"网格审计 Audit — {result.manifest['name']}"),
        )
        if maps:
            gmaps.write_map(result, tmp / "map.html")
        gio.write_text(tmp / "manifest.json", json.dumps(result.manifest, ensure_ascii=False, indent=2))
    return out


def diff(
    old: gpd.GeoDataFrame | GridResult,
    new: gpd.GeoDataFrame | GridResult,
    addresses: gpd.GeoDataFrame | None = None,
    *,
    grid_code_col: str = "grid_code",
) -> Diff:
    """Compare two grid layers over the same households: who changes grid, what each grid gains and loses.

    Parameters
    ----------
    old, new
        Grid layers (any declared CRS) or two run results.
    addresses
        Household points; default: the addresses of `new` when it is a run result.
    grid_code_col
        Column of the grid codes in both layers.

    Returns
    -------
    d
        ``households`` (per address: old, new, changed), ``grids`` (before, after, gained, lost),
        ``changed_areas`` and ``share_changed``.
    """
    if addresses is None:
        if not isinstance(new, GridResult):
            raise InputError(
                Problem(
                    "addresses",
                    "is needed to compare two grid layers.",
                    "pass the household points (CLI: --addresses).",
                )
            )
        addresses = new.addresses
    layers = []
    for label, layer in (("old", old), ("new", new)):
        g = layer.grids if isinstance(layer, GridResult) else layer
        if grid_code_col not in g.columns:
            raise InputError(
                Problem(
                    g.attrs.get("file", label),
                    f"has no column '{grid_code_col}'.",
                    "pass `grid_code_col`.",
                    column=grid_code_col,
                )
            )
        layers.append(g.rename(columns={grid_code_col: "grid_code"}))
    a, _ = gval.validate_addresses(
        addresses[[c for c in addresses.columns if c in ("households", "population", addresses.geometry.name)]],
        file=addresses.attrs.get("file", "addresses"),
        csv_like=addresses.attrs.get("rows") == "csv",
    )
    work = gcrs.metric_crs(layers[0])
    return diff_layers(layers[0].to_crs(work), layers[1].to_crs(work), a.to_crs(work))


def write_diff(
    d: Diff, out: str | Path, *, crs: object, old: str = "old", new: str = "new", overwrite: bool = False
) -> Path:
    """Write a diff folder: diff.gpkg (changed areas, households), households.csv, grids.csv, report.html."""
    out = Path(out)
    with gio.atomic_dir(out, overwrite=overwrite) as tmp:
        gio.write_layers(
            tmp / "diff.gpkg", {"changed_areas": d.changed_areas.to_crs(crs), "households": d.points.to_crs(crs)}
        )
        gio.write_csv(tmp / "households.csv", d.households)
        gio.write_csv(tmp / "grids.csv", d.grids)
        gio.write_text(tmp / "report.html", diff_html(d, old=old, new=new))
    return out


def diff_html(d: Diff, *, old: str, new: str) -> str:
    """Return a self-contained HTML report of a diff."""
    changed = d.grids[(d.grids["gained"] > 0) | (d.grids["lost"] > 0)]
    kpis = [
        ("户数 households", f"{d.households['households'].sum():,.0f}"),
        (
            "变更网格的户数 households changing grid",
            f"{d.households.loc[d.households['changed'], 'households'].sum():,.0f}",
        ),
        ("变更比例 share changing grid", f"{d.share_changed:.1%}"),
        ("涉及网格 grids gaining or losing", f"{len(changed):,}"),
        ("变更区域 changed areas (m²)", f"{d.changed_areas['area_m2'].sum():,.0f}"),
    ]
    rows = "".join(f"<tr><td class='t'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in kpis)
    table = changed.rename(
        columns={
            "grid_code": "网格编码 grid code",
            "households_before": "之前 before",
            "households_after": "之后 after",
            "gained": "迁入 gained",
            "lost": "迁出 lost",
        }
    )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>gridmap "
        f"diff</title><style>{report.CSS}</style></head><body>"
        f"<h1>网格对比 Diff</h1><p class='small'>old: {html.escape(old)}<br>new: {html.escape(new)}</p>"
        f"<h2>概况 Summary</h2><table class='kpi'>{rows}</table>"
        f"<h2>户数变化的网格 Grids that gained or lost households ({len(changed)})</h2>{report.html_table(table)}"
        f"<script>{report.SORT_JS}</script></body></html>"
    )
