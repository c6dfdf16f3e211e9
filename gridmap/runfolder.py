"""Write a run folder atomically (read one back with :func:`gridmap.result.read_run`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from geodata import io as gio

if TYPE_CHECKING:
    from gridmap.result import GridResult


def write_run(result: GridResult, out: str | Path, *, overwrite: bool = False, maps: bool = True) -> Path:
    """Write the run folder atomically: nothing appears unless every file was written.

    Files: ``grids.gpkg`` (layers grids, addresses, violations, boundaries, liaison when made,
    code_history), ``grids.geojson``, ``roster.csv``, ``code_changes.csv`` (with previous grids),
    ``map.html``, ``map.png``, ``report.html`` and ``manifest.json``.

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
        gio.write_layers(tmp / "grids.gpkg", layers)
        gio.write_table(tmp / "grids.gpkg", pd.DataFrame({"grid_code": result.history}), layer="code_history")
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


def recorded_retired(folder: str | Path) -> list[str]:
    """Return the codes a run folder records as retired (``manifest.json`` and ``code_changes.csv``).

    Empty for a folder that is not a run folder. :func:`partition.coding.check_codes` reports any
    of them a grid still uses.
    """
    folder = Path(folder)
    codes: set[str] = set()
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        codes |= {str(c) for c in json.loads(manifest_path.read_text(encoding="utf-8")).get("retired_codes", [])}
    changes_path = folder / "code_changes.csv"
    if changes_path.exists():
        changes = pd.read_csv(changes_path, dtype=str).fillna("")
        if {"old_code", "reason"} <= set(changes.columns):
            codes |= set(changes.loc[changes["reason"].str.startswith("retired"), "old_code"])
    return sorted(codes)
