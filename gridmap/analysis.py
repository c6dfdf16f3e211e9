"""Workload analysis for analysts: report a run, audit an existing layer, diff two layers, load workers."""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import InputError, Problem
from gridmap import report
from gridmap.pipeline import LayerSpec, RunResult, _version
from partition.audit import audit_grids, diff_layers, worker_loads
from partition.rules import RuleSet


def read_workers(path: str | Path, *, grid_code_col: str = "grid_code", worker_col: str = "worker") -> pd.DataFrame:
    """Read a worker table (CSV/XLSX): one row per (grid code, worker) pair."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xls"):
        df = pd.read_excel(path, dtype=str)
    else:
        df = None
        for enc in ("utf-8-sig", "gb18030"):
            try:
                df = pd.read_csv(path, dtype=str, encoding=enc)
                break
            except UnicodeDecodeError:
                continue
        if df is None:
            raise InputError(Problem(str(path), "is neither UTF-8 nor GBK text.", "save it as UTF-8 CSV."))
    missing = [c for c in (grid_code_col, worker_col) if c not in df.columns]
    if missing:
        raise InputError(Problem(str(path), f"has no column {', '.join(missing)} (columns: {', '.join(df.columns)}).",
                                 "name the columns grid_code and worker, or pass --grid-code-col/--worker-col.", column=missing[0]))
    df = df.rename(columns={grid_code_col: "grid_code", worker_col: "worker"})
    blank = df["grid_code"].isna() | df["worker"].isna()
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(Problem(str(path), "has a row without grid code or worker.", "fill in or delete the row.", row=i + 2))
    return df[["grid_code", "worker"]]


def worker_table(grids: pd.DataFrame, workers: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Bilingual worker-load table (heaviest first) and the balance figures over workers."""
    loads, figures = worker_loads(grids, workers)
    unknown = sorted(set(workers["grid_code"]) - set(grids["grid_code"].astype(str)))
    figures["unknown_grid_codes"] = unknown
    table = loads.rename(columns={"worker": "网格员 worker", "grids": "网格数 grids", "households": "户数 households", "population": "人口 population"})
    return table, figures


def write_report(result: RunResult, path: str | Path, *, workers: pd.DataFrame | None = None, title: str | None = None) -> None:
    """Write report.html of a run or an audit (atomically), with worker loads when given."""
    path = Path(path)
    table = extra = None
    if workers is not None:
        table, figures = worker_table(result.grids, workers)
        extra = figures
    html_text = report.report_html(result, title=title, workers=table, worker_figures=extra)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(path)


def run_audit(
    *,
    grids: LayerSpec,
    addresses: LayerSpec,
    boundaries: LayerSpec | None = None,
    grid_code_col: str = "grid_code",
    households_col: str = "households",
    min_households: int = 300,
    max_households: int = 500,
    input_crs: str | None = None,
) -> RunResult:
    """Audit a grid layer not made by gridmap; returns a run-like result for the report and map."""
    g = gio.read_layer(grids.path, layer=grids.layer)
    if grid_code_col not in g.columns:
        raise InputError(Problem(str(grids.path), f"has no column '{grid_code_col}'.", "pass --grid-code-col with the column of the grid codes.", column=grid_code_col))
    g = g.rename(columns={grid_code_col: "grid_code"})
    g["grid_code"] = g["grid_code"].astype(str)
    g = gcrs.assign_input_crs(g, input_crs=input_crs, file=str(grids.path))
    a = gio.read_layer(addresses.path, layer=addresses.layer)
    a = gio.rename_fields(a, {"households": households_col} if households_col in a.columns and households_col != "households" else {}, file=str(addresses.path))
    a = gcrs.assign_input_crs(a, input_crs=input_crs, file=str(addresses.path))
    a, _ = gval.validate_addresses(a, file=str(addresses.path), csv_like=str(addresses.path.suffix).lower() == ".csv")
    out_crs = g.crs
    work = gcrs.metric_crs(g)
    b = None
    if boundaries is not None:
        b, _ = gval.validate_boundaries(gcrs.assign_input_crs(gio.read_layer(boundaries.path, layer=boundaries.layer), input_crs=input_crs, file=str(boundaries.path)), file=str(boundaries.path))
        b = b.to_crs(work)
    band_villages = None
    if b is not None:
        # rural villages (urban_rural 2xx / kind village) have one grid per 村民小组: no band to meet
        rules = RuleSet()
        band_villages = {
            str(row.code) for row in b.itertuples()
            if rules.rule_for(code=str(row.code), urban_rural=getattr(row, "urban_rural", None) or None,
                              kind=getattr(row, "kind", None) or None).name == "household_band"
        }
    audit = audit_grids(g.to_crs(work), a.to_crs(work), boundaries=b, min_households=min_households,
                        max_households=max_households, band_villages=band_villages)
    ag = audit.grids
    names = dict(zip(b["code"], b["name"], strict=True)) if b is not None and "name" in b else {}
    ag["village_name"] = ag["village_code"].map(names).fillna("") if names else ag.get("village_name", "")
    a = a.to_crs(work)
    a["grid_code"] = np.where(audit.address_grid >= 0, ag["grid_code"].to_numpy()[np.maximum(audit.address_grid, 0)], None)
    a["village_code"] = np.where(audit.address_grid >= 0, ag["village_code"].to_numpy()[np.maximum(audit.address_grid, 0)], None)
    a["address_id"] = np.arange(len(a))
    counts = audit.violations["kind"].value_counts().to_dict()
    manifest = {
        "gridmap_version": _version(),
        "name": f"audit of {Path(grids.path).name}",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "kind": "audit",
        "inputs": {"grids": str(grids.path), "addresses": str(addresses.path), "boundaries": str(boundaries.path) if boundaries else None},
        "findings": {k: int(v) for k, v in counts.items()},
        "counts": {"villages": int(len(b)) if b is not None else int(ag["village_code"].nunique()), "grids": int(len(ag)), "addresses": int(len(a))},
        "timings_s": {},
        "crs": {"work": work.to_string()},
    }
    bnd = b if b is not None else gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=work)
    return RunResult(
        grids=gcrs.to_output_crs(ag, output_crs=None, input_crs=out_crs),
        addresses=gcrs.to_output_crs(a, output_crs=None, input_crs=out_crs),
        violations=gcrs.to_output_crs(audit.violations, output_crs=None, input_crs=out_crs),
        boundaries=gcrs.to_output_crs(bnd, output_crs=None, input_crs=out_crs),
        changes=pd.DataFrame(), history=[], manifest=manifest, work_crs=work.to_string(),
    )


def write_audit(result: RunResult, out: str | Path, *, overwrite: bool = False, workers: pd.DataFrame | None = None, maps: bool = True) -> Path:
    """Write an audit folder: audit.gpkg (grids, violations, addresses), report.html, map.html, manifest."""
    from gridmap import maps as gmaps

    out = Path(out)
    with gio.atomic_dir(out, overwrite=overwrite) as tmp:
        gio.write_layers(tmp / "audit.gpkg", {"grids": result.grids, "violations": result.violations, "addresses": result.addresses})
        gio.write_csv(tmp / "findings.csv", pd.DataFrame(result.violations.drop(columns="geometry")))
        write_report(result, tmp / "report.html", workers=workers, title=f"网格审计 Audit — {result.manifest['name']}")
        if maps:
            gmaps.write_map(result, tmp / "map.html")
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def run_diff(old: LayerSpec, new: LayerSpec, addresses: LayerSpec, out: str | Path, *, overwrite: bool = False, grid_code_col: str = "grid_code"):
    """Compare two grid layers over the same addresses and write diff.gpkg, CSVs and report.html."""
    layers = []
    for spec in (old, new):
        g = gio.read_layer(spec.path, layer=spec.layer)
        if grid_code_col not in g.columns:
            raise InputError(Problem(str(spec.path), f"has no column '{grid_code_col}'.", "pass --grid-code-col.", column=grid_code_col))
        layers.append(g.rename(columns={grid_code_col: "grid_code"}))
    a = gio.read_layer(addresses.path, layer=addresses.layer)
    a, _ = gval.validate_addresses(a, file=str(addresses.path), csv_like=str(addresses.path.suffix).lower() == ".csv")
    work = gcrs.metric_crs(layers[0])
    d = diff_layers(layers[0].to_crs(work), layers[1].to_crs(work), a.to_crs(work))
    pts = a.to_crs(work)[["geometry"]].assign(**d.households.drop(columns="address").to_dict("series"))
    out = Path(out)
    with gio.atomic_dir(out, overwrite=overwrite) as tmp:
        gio.write_layers(tmp / "diff.gpkg", {
            "changed_areas": d.changed_areas.to_crs(layers[0].crs),
            "households": gpd.GeoDataFrame(pts, geometry="geometry", crs=work).to_crs(layers[0].crs),
        })
        gio.write_csv(tmp / "households.csv", d.households)
        gio.write_csv(tmp / "grids.csv", d.grids)
        (tmp / "report.html").write_text(diff_html(d, old=str(old.path), new=str(new.path)), encoding="utf-8")
    return d


def diff_html(d, *, old: str, new: str) -> str:
    """Self-contained report of a diff."""
    changed = d.grids[(d.grids["gained"] > 0) | (d.grids["lost"] > 0)]
    kpis = [
        ("户数 households", f"{d.households['households'].sum():,.0f}"),
        ("变更网格的户数 households changing grid", f"{d.households.loc[d.households['changed'], 'households'].sum():,.0f}"),
        ("变更比例 share changing grid", f"{d.share_changed:.1%}"),
        ("涉及网格 grids gaining or losing", f"{len(changed):,}"),
        ("变更区域 changed areas (m²)", f"{d.changed_areas['area_m2'].sum():,.0f}"),
    ]
    rows = "".join(f"<tr><td class='t'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in kpis)
    table = changed.rename(columns={"grid_code": "网格编码 grid code", "households_before": "之前 before", "households_after": "之后 after",
                                    "gained": "迁入 gained", "lost": "迁出 lost"})
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>gridmap diff</title><style>{report.CSS}</style></head><body>"
        f"<h1>网格对比 Diff</h1><p class='small'>old: {html.escape(old)}<br>new: {html.escape(new)}</p>"
        f"<h2>概况 Summary</h2><table class='kpi'>{rows}</table>"
        f"<h2>户数变化的网格 Grids that gained or lost households ({len(changed)})</h2>{report._table(table)}"
        f"<script>{report.SORT_JS}</script></body></html>"
    )
