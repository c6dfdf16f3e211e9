"""Write a run folder atomically and read one back into a :class:`~gridmap.result.GridResult`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyogrio

from geodata import io as gio
from geodata.errors import InputError, Problem
from gridmap.qgis_styles import write_layer_styles
from gridmap.result import GridResult

CODE_COLUMNS = ("grid_code", "village_code", "seq", "liaison_code")
"""Columns that hold codes: always read back as text (a 15-digit code is not a number)."""


def write_run(result: GridResult, out: str | Path, *, overwrite: bool = False, maps: bool = True) -> Path:
    """Write the run folder atomically: nothing appears unless every file was written.

    Files: ``grids.gpkg`` (layers grids, addresses, violations, boundaries, liaison when made,
    barriers and exclusive_areas (the inputs, for the map), code_history; QGIS default styles in
    ``layer_styles``), ``grids.geojson``,
    ``roster.csv``, ``code_changes.csv`` (with previous grids), ``map.html``, ``map.png``,
    ``report.html`` and ``manifest.json``.

    Parameters
    ----------
    result
        What :func:`gridmap.make_grids` returned.
    out
        The run folder to create.
    overwrite
        Replace `out` when it is a run folder gridmap made.
    maps
        Also draw ``map.html`` and ``map.png`` (the slowest files).

    Returns
    -------
    out
        The folder written.

    Raises
    ------
    OutputExistsError
        When `out` exists and `overwrite` is false.
    """
    from gridmap import export, report
    from gridmap import maps as gmaps

    out = Path(out)
    t = time.perf_counter()
    inputs = [
        Path(v["path"]) for v in result.manifest.get("inputs", {}).values() if isinstance(v, dict) and v.get("path")
    ]
    with gio.atomic_dir(out, overwrite=overwrite, inputs=[p for p in inputs if p.exists()]) as tmp:
        layers = {
            "grids": result.grids,
            "addresses": result.addresses,
            "violations": result.violations,
            "boundaries": result.boundaries,
        }
        if result.liaison is not None:
            layers["liaison"] = result.liaison
        if result.context is not None:  # the map's context as two layers of one geometry type each (for GIS)
            for kind, name in (("barrier", "barriers"), ("exclusive", "exclusive_areas")):
                part = result.context[result.context["kind"].eq(kind)]
                if len(part):
                    layers[name] = part.reset_index(drop=True)
        gio.write_layers(tmp / "grids.gpkg", layers)
        gio.write_table(tmp / "grids.gpkg", pd.DataFrame({"grid_code": result.history}), layer="code_history")
        write_layer_styles(tmp / "grids.gpkg")
        gio.write_geojson(tmp / "grids.geojson", result.grids)
        export.write_roster_csv(result, tmp / "roster.csv")
        if len(result.code_changes):
            gio.write_csv(tmp / "code_changes.csv", result.code_changes)
        if maps:
            gmaps.write_map(result, tmp / "map.html")
            gmaps.write_static_map(result, tmp / "map.png")
        gio.write_text(tmp / "report.html", report.report_html(result))
        result.manifest.setdefault("timings_s", {})["write"] = round(time.perf_counter() - t, 3)
        gio.write_text(tmp / "manifest.json", json.dumps(result.manifest, ensure_ascii=False, indent=2))
    return out


def read_run(folder: str | Path) -> GridResult:
    """Read a run folder written by :func:`write_run` (or ``gridmap partition``).

    Parameters
    ----------
    folder
        The run folder.

    Returns
    -------
    result
        Grids, addresses, violations, boundaries, liaison groups, code changes, code history and
        manifest; codes as text.

    Raises
    ------
    InputError
        When `folder` is not a run folder.
    """
    folder = Path(folder)
    gpkg = folder / "grids.gpkg"
    if not gpkg.exists():
        raise InputError(
            Problem(
                str(folder),
                "is not a gridmap run folder (no grids.gpkg).",
                "pass the --out folder of `gridmap partition`.",
            )
        )
    names = set(gio.layer_names(gpkg))

    def layer(name: str):
        if name not in names:
            return None
        if pyogrio.read_info(gpkg, layer=name)["features"] == 0:  # e.g. a run without violations
            gdf = pyogrio.read_dataframe(gpkg, layer=name)
        else:
            gdf = gio.read_layer(gpkg, layer=name)
        for col in CODE_COLUMNS:
            if col in gdf.columns:
                gdf[col] = gdf[col].astype("string").astype(object)
        return gdf

    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    changes_path = folder / "code_changes.csv"
    changes = pd.read_csv(changes_path, dtype=str) if changes_path.exists() else pd.DataFrame()
    history = (
        [str(c) for c in gio.read_table(gpkg, layer="code_history")["grid_code"]] if "code_history" in names else []
    )
    grids = layer("grids")
    work = manifest.get("crs", {}).get("work") or grids.estimate_utm_crs().to_string()
    return GridResult(
        grids=grids,
        addresses=layer("addresses"),
        violations=layer("violations"),
        boundaries=layer("boundaries"),
        code_changes=changes,
        history=history,
        manifest=manifest,
        liaison=layer("liaison"),
        work_crs=work,
        context=_context(layer("barriers"), layer("exclusive_areas")),
    )


def _context(*parts):
    """Return the map's context layer (``kind``, ``name``) from the run's barriers and exclusive_areas layers."""
    import geopandas as gpd

    found = [p for p in parts if p is not None and len(p)]
    if not found:
        return None
    return gpd.GeoDataFrame(pd.concat(found, ignore_index=True), crs=found[0].crs)
