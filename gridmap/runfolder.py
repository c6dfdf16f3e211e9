"""Write a run folder atomically (read one back with :func:`gridmap.result.read_run`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from geodata import io as gio
from geodata.background import Background, prestart
from geodata.bulk import gc_frozen
from geodata.errors import InputError, Problem
from gridmap.qgis_styles import write_layer_styles

if TYPE_CHECKING:
    from gridmap.result import GridResult


BACKGROUND_ADDRESSES = 100_000
"""From this many addresses up, ``write_run(workers=2+)`` writes ``grids.gpkg`` and ``.geojson`` in a second process.

Below it the process's start (about a second of imports) costs more than the GeoPackage takes.
"""


def warm_writer(*, addresses: int, workers: int) -> None:
    """Start the second process :func:`write_run` will write with, now, when it will use one.

    For a run of `addresses` addresses written with `workers`: the command line calls it after
    reading the inputs, so the child's imports run while the grids are made
    (:func:`geodata.background.prestart`).
    """
    if _aside(addresses=addresses, workers=workers):
        prestart()


def import_writers() -> None:
    """Import what :func:`write_run` draws the maps with (folium, matplotlib: 0.4 s of the city's write), now.

    The command line calls it once the first village is gridded: with worker processes, this
    process then only waits on them, and the write starts with its modules loaded. The run's
    objects are frozen meanwhile: the imports' new objects set off a full collection of them
    otherwise, and the workers, whose next villages this process hands out, stood 0.25 s.
    """
    with gc_frozen():
        import folium  # noqa: F401

        from gridmap import export, maps, printmap, report  # noqa: F401

        printmap.pyplot()


def _aside(*, addresses: int, workers: int) -> bool:
    """Whether :func:`write_run` writes ``grids.gpkg`` and ``.geojson`` in a second process."""
    return workers > 1 and addresses >= BACKGROUND_ADDRESSES


def write_run(
    result: GridResult, out: str | Path, *, overwrite: bool = False, maps: bool = True, workers: int = 1
) -> Path:
    """Write the run folder atomically: nothing appears unless every file was written.

    Files: ``grids.gpkg`` (layers grids, addresses, violations, boundaries, liaison when made,
    cells when known, barriers and exclusive_areas (the inputs, for the map), walks and workers when
    made, code_history and worker_grids; QGIS default styles in ``layer_styles``), ``grids.geojson``,
    ``roster.csv``, ``code_changes.csv`` (with previous grids), ``workers.csv`` (with workers),
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
    workers
        With 2 or more, and :data:`BACKGROUND_ADDRESSES` addresses or more, ``grids.gpkg`` and
        ``grids.geojson`` are written by a second process while this one writes the other files
        (the 1.14M-household city: 7.4 s in one process, 4.2 s with the second, on two cores);
        with 2 or more, the map's separate groups of grids are simplified that many at a time.

    Returns
    -------
    out
        The folder written.

    Raises
    ------
    OutputExistsError
        When `out` exists and `overwrite` is false.
    """
    out = Path(out)
    t = time.perf_counter()
    inputs = [
        Path(v["path"]) for v in result.manifest.get("inputs", {}).values() if isinstance(v, dict) and v.get("path")
    ]
    # the run's frames live through the write: a full collection while the map was drawn walked all 1.14M
    # of the city's addresses for nothing
    with gc_frozen(), gio.atomic_dir(out, overwrite=overwrite, inputs=[p for p in inputs if p.exists()]) as tmp:
        layers = {
            "grids": result.grids,
            "addresses": result.addresses,
            "violations": result.violations,
            "boundaries": result.boundaries,
        }
        if result.liaison is not None:
            layers["liaison"] = result.liaison
        if result.cells is not None:
            layers["cells"] = result.cells
        if result.context is not None:  # the map's context as two layers of one geometry type each (for GIS)
            for kind, name in (("barrier", "barriers"), ("exclusive", "exclusive_areas")):
                part = result.context[result.context["kind"].eq(kind)]
                if len(part):
                    layers[name] = part.reset_index(drop=True)
        for name in ("walks", "workers"):
            if getattr(result, name) is not None:
                layers[name] = getattr(result, name)
        tables = {"code_history": pd.DataFrame({"grid_code": result.history})}
        if result.worker_grids is not None and result.workers is not None:
            tables["worker_grids"] = result.worker_grids
            workers_table = pd.DataFrame(result.workers.drop(columns=result.workers.geometry.name))
            gio.write_csv(tmp / "workers.csv", workers_table, text_cols=("township",))
        aside = None
        if _aside(addresses=len(result.addresses), workers=workers):
            # the GeoJSON first: its one layer packs at once, and the child writes it while the rest is packed
            aside = Background(
                ("geodata.io:write_geojson", (tmp / "grids.geojson", gio.geojson_layer(result.grids))),
                ("geodata.io:write_geopackage", (tmp / "grids.gpkg", layers, tables)),
            )
        try:
            if aside is None:
                gio.write_geopackage(tmp / "grids.gpkg", layers, tables)
                gio.write_geojson(tmp / "grids.geojson", result.grids)
            _write_others(result, tmp, maps=maps, threads=workers)
        except BaseException:
            if aside is not None:
                aside.cancel()
            raise
        if aside is not None:
            aside.wait()
        write_layer_styles(tmp / "grids.gpkg")  # QGIS's default style of each layer, stored in the file
        result.manifest.setdefault("timings_s", {})["write"] = round(time.perf_counter() - t, 3)
        gio.write_text(tmp / "manifest.json", json.dumps(result.manifest, ensure_ascii=False, indent=2))
    return out


def _write_others(result: GridResult, tmp: Path, *, maps: bool, threads: int = 1) -> None:
    """Every file of the run folder but ``grids.gpkg``, ``grids.geojson`` and ``manifest.json``."""
    from gridmap import export, report
    from gridmap import maps as gmaps

    export.write_roster_csv(result, tmp / "roster.csv")
    if len(result.code_changes):
        gio.write_csv(tmp / "code_changes.csv", result.code_changes)
    if maps:
        gmaps.write_map(result, tmp / "map.html", threads=threads)
        gmaps.write_static_map(result, tmp / "map.png")
    gio.write_text(tmp / "report.html", report.report_page(result, workers=result.worker_grids))


def recorded_retired(folder: str | Path) -> list[str]:
    """Return the codes a run folder records as retired (``manifest.json`` and ``code_changes.csv``).

    Empty for a folder that is not a run folder. :func:`partition.coding.check_codes` reports any
    of them a grid still uses.
    """
    folder = Path(folder)
    codes: set[str] = set()
    if not (folder / "grids.gpkg").exists():
        return []
    codes |= {str(c) for c in _manifest(folder / "manifest.json").get("retired_codes", [])}
    changes = _changes(folder / "code_changes.csv").fillna("")
    if len(changes):
        codes |= set(changes.loc[changes["reason"].str.startswith("retired"), "old_code"])
    return sorted(codes)


def _tampered(path: Path, message: str) -> InputError:
    """Return the error for a run folder file that is not as gridmap wrote it (changed, damaged, truncated)."""
    return InputError(
        Problem(str(path), f"{message} The run folder was changed or damaged after gridmap wrote it.", FIX_TAMPERED)
    )


FIX_TAMPERED = "make the run again (or restore the folder from a backup); do not edit a run folder's files by hand."


def _manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _tampered(path, f"is not readable JSON ({exc}).") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in ("crs", "counts", "inputs")):
        raise _tampered(path, "is not a gridmap manifest (a JSON object with crs, counts and inputs objects).")
    return data


def _changes(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    try:
        changes = pd.read_csv(path, dtype=str)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise _tampered(path, f"cannot be read as CSV ({type(exc).__name__}: {exc}).") from exc
    if not {"old_code", "new_code", "reason"} <= set(changes.columns):
        raise _tampered(path, "lacks the columns old_code, new_code and reason.")
    return changes


def _work_crs(value: object, manifest: Path) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(value)
    except (CRSError, TypeError, ValueError) as exc:
        raise _tampered(manifest, f"names the work CRS {str(value)[:80]!r}, which is not a coordinate system.") from exc
    if not crs.is_projected:
        raise _tampered(manifest, f"names the work CRS {crs.name}, which is not in metres.")
    return str(value)
