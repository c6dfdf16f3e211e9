"""Run gridmap end to end: read and check inputs, grid every village/community, code, and write a run folder."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import InputError, Problem, RulesError
from geodata.postgis import DbSource
from gridmap.execute import VillageTask, execute
from partition.coding import assign_codes
from partition.grids import Village
from partition.measures import polsby_popper
from partition.rules import RuleSet
from partition.tessellation import point_owner

log = logging.getLogger("gridmap")

Progress = Callable[[str, int, int], None]
"""Callback ``progress(stage, done, total)`` called as work advances."""

FIELD_OPTIONS = (
    "households",
    "population",
    "group",
    "building",
    "compound",
    "village_code",
    "code",
    "name",
    "urban_rural",
    "kind",
    "grid_code",
    "type",
)


@dataclass(frozen=True)
class LayerSpec:
    """Where one input layer is: a path, and the layer name inside multi-layer files."""

    path: Path | DbSource
    layer: str | None = None


@dataclass(frozen=True)
class GridConfig:
    """Everything a run needs. Values are checked when the config is built.

    Attributes (defaults in brackets)
    ---------------------------------
    addresses, boundaries : LayerSpec
        Household address points and village/community polygons (required).
    units, exclusive, previous : LayerSpec or None [None]
        Unit polygons (buildings/parcels/blocks), exclusive areas (专属网格), previous grids.
    barriers : tuple of LayerSpec [()]
        Roads, rivers, railways that base grids should not cross.
    rules : RuleSet [urban 300-500 households, rural one grid per 村民小组]
    fields : mapping [{}]
        Canonical field name → column name in the user's files (e.g. ``{"households": "hh"}``).
    input_crs, output_crs, work_crs : str or None [None]
        Override the CRS of the inputs (``gcj02``/``bd09`` accepted), the CRS of outputs (default:
        the boundaries' CRS; GCJ-02/BD-09 inputs are written in WGS 84), the metric CRS of geometry
        work (default: UTM zone of the data's centre).
    x_col, y_col, encoding : str or None [None]
        CSV coordinate columns and text encoding (default: found automatically).
    liaison : tuple (min, max) or None [None]
        Make household-liaison groups (联户) of this size inside every grid.
    name : str ["run"]
        Run name shown in the map and report titles.
    keep_valid : bool [False]
        With `previous`: keep previous grids that still follow the rules (geometry and code) and
        regrid only the rest (:mod:`partition.incremental`).
    keep_tolerance : float [0.1]
        Largest change of a kept grid's households, as a share of its previous count.
    workers : int [1]
        Processes for the per-village work (the CLI defaults to all cores).
    scheduler : str or None [None]
        Run the per-village work on Dask: ``"local"`` (a LocalCluster on this machine) or the
        address of a running scheduler (``tcp://host:8786``). Results equal the in-process run.
    """

    addresses: LayerSpec
    boundaries: LayerSpec
    units: LayerSpec | None = None
    exclusive: LayerSpec | None = None
    barriers: tuple[LayerSpec, ...] = ()
    previous: LayerSpec | None = None
    rules: RuleSet = field(default_factory=RuleSet)
    fields: Mapping[str, str] = field(default_factory=dict)
    input_crs: str | None = None
    output_crs: str | None = None
    work_crs: str | None = None
    x_col: str | None = None
    y_col: str | None = None
    encoding: str | None = None
    liaison: tuple[int, int] | None = None
    name: str = "run"
    keep_valid: bool = False
    keep_tolerance: float = 0.1
    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields) - set(FIELD_OPTIONS))
        if unknown:
            msg = f"unknown field(s) {', '.join(unknown)}; remappable fields are {', '.join(FIELD_OPTIONS)}."
            raise ValueError(msg)
        if self.keep_valid and self.previous is None:
            raise ValueError("`keep_valid` needs `previous` (the grids to keep).")
        if self.workers < 1:
            raise ValueError(f"`workers` must be at least 1, got {self.workers}.")
        if self.liaison is not None and not 0 < self.liaison[0] <= self.liaison[1]:
            msg = f"`liaison` must be (min, max) with 0 < min <= max, got {self.liaison}."
            raise ValueError(msg)


@dataclass
class RunResult:
    """What a run produced, in the output CRS, ready to be written or inspected."""

    grids: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    violations: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    changes: pd.DataFrame
    history: list[str]
    manifest: dict[str, Any]
    liaison: gpd.GeoDataFrame | None = None
    work_crs: str = ""


def read_rules(path: str | Path, *, min_households: int | None = None, max_households: int | None = None) -> RuleSet:
    """Read a TOML rules file (see :mod:`partition.rules` for its keys)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"{path}: the rules file does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc}).") from exc
    return RuleSet.from_dict(data, min_households=min_households, max_households=max_households, source=str(path))


def _sha256(path: Path | DbSource) -> str:
    if isinstance(path, DbSource):
        return path.digest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read(spec: LayerSpec, config: GridConfig) -> gpd.GeoDataFrame:
    gdf = gio.read_layer(spec.path, layer=spec.layer, encoding=config.encoding, x_col=config.x_col, y_col=config.y_col)
    present = {k: v for k, v in config.fields.items() if v in gdf.columns}
    gdf = gio.rename_fields(gdf, present, file=str(spec.path))
    return gcrs.assign_input_crs(gdf, input_crs=config.input_crs, file=str(spec.path))


def _check_remaps(config: GridConfig, frames: list[gpd.GeoDataFrame]) -> None:
    problems = []
    for canonical, user in config.fields.items():
        if user and not any(canonical in f.columns for f in frames):
            problems.append(
                Problem(
                    str(config.addresses.path),
                    f"the column '{user}' given for '{canonical}' is in none of the input files.",
                    "check the spelling of the --*-col option.",
                    column=user,
                )
            )
    if problems:
        raise InputError(problems)


def run_partition(config: GridConfig, *, progress: Progress | None = None, resume_dir: str | Path | None = None) -> RunResult:
    """Read, check and grid every village/community of the inputs, then code the grids.

    Parameters
    ----------
    config
        Inputs and options.
    progress
        Optional callback ``progress(stage, done, total)``.
    resume_dir
        Folder where each village's result is saved as it finishes; villages already saved there
        by an interrupted run with the same inputs and options are not computed again.

    Returns
    -------
    result
        Grids, addresses with their grid code, violations and the manifest, in the output CRS.

    Raises
    ------
    InputError
        When an input is unusable; the message names file, row, column and the fix.
    """
    progress = progress or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("read", 0, 1)
    bnd_raw = _read(config.boundaries, config)
    addr_raw = _read(config.addresses, config)
    csv_like = str(config.addresses.path.suffix).lower() in (".csv", ".txt")
    _check_remaps(config, [bnd_raw, addr_raw])
    boundaries, b_report = gval.validate_boundaries(bnd_raw, file=str(config.boundaries.path))
    addresses, a_report = gval.validate_addresses(addr_raw, file=str(config.addresses.path), csv_like=csv_like)
    out_crs_in = boundaries.crs
    work = gcrs.metric_crs(boundaries, work_crs=config.work_crs)
    boundaries = boundaries.to_crs(work)
    addresses = addresses.to_crs(work)
    exclusive = None
    notes = [*b_report.notes, *a_report.notes]
    if config.exclusive:
        ex_raw = _read(config.exclusive, config)
        exclusive, e_report = gval.validate_exclusive(ex_raw, file=str(config.exclusive.path))
        exclusive = exclusive.to_crs(work)
        notes += e_report.notes
    barrier_lines = []
    for spec in config.barriers:
        lines = gval.validate_barriers(_read(spec, config), file=str(spec.path))
        barrier_lines.append(lines.to_crs(work).geometry.values)
    barriers = np.concatenate(barrier_lines) if barrier_lines else None
    unit_polys = None
    if config.units:
        unit_polys = _read(config.units, config).to_crs(work)
    timings["read_validate"] = time.perf_counter() - t0
    progress("read", 1, 1)

    t = time.perf_counter()
    village_code, v_report = gval.assign_villages(addresses, boundaries, file=str(config.addresses.path), csv_like=csv_like)
    notes += v_report.notes
    addresses["village_code"] = village_code
    previous = _read_previous(config.previous, work) if config.previous else None
    tasks = list(_village_tasks(config, boundaries, addresses, village_code, exclusive, barriers, unit_polys, previous))
    n_v = len(tasks)
    vgs = execute(
        tasks, workers=config.workers, scheduler=config.scheduler, progress=progress,
        resume_dir=resume_dir, fingerprint=_fingerprint(config),
    )
    results = [(task.index, vg) for task, vg in zip(tasks, vgs, strict=True)]
    for (_, vg), name in zip(results, boundaries["name"], strict=True):
        vg.grids["village_name"] = name
    progress("partition", n_v, n_v)
    timings["partition"] = time.perf_counter() - t

    t = time.perf_counter()
    grids = gpd.GeoDataFrame(pd.concat([vg.grids for _, vg in results], ignore_index=True), crs=work)
    offsets = np.cumsum([0] + [len(vg.grids) for _, vg in results])
    addr_grid = np.full(len(addresses), -1)
    for (idx, vg), off in zip(results, offsets[:-1], strict=True):
        pg = vg.point_grid.to_numpy()
        addr_grid[idx] = np.where(pg >= 0, pg + off, -1)
    geoms = grids.geometry.values
    label_pt = shapely.point_on_surface(geoms)
    xy = shapely.get_coordinates(label_pt)
    grids["area_m2"] = shapely.area(geoms)
    grids["compactness"] = polsby_popper(geoms)
    table = pd.DataFrame(
        {
            "village_code": grids["village_code"],
            "exclusive": grids["grid_type"].ne("base"),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "area": grids["area_m2"],
        }
    )
    overlap = None
    history: list[str] = []
    if previous is not None:
        overlap, history = _previous_overlap(previous, addresses, addr_grid, grids.geometry.values)
    fixed = grids["kept_code"] if "kept_code" in grids else None
    assignment = assign_codes(table, overlap=overlap, history=history, fixed=fixed)
    grids["kept"] = grids["kept_code"].notna() if "kept_code" in grids else False
    grids["grid_code"] = assignment.codes
    grids["seq"] = grids["grid_code"].str[12:]
    timings["code"] = time.perf_counter() - t

    grid_code_of = grids["grid_code"].to_numpy()
    addresses["grid_code"] = np.where(addr_grid >= 0, grid_code_of[np.maximum(addr_grid, 0)], None)
    names = dict(zip(boundaries["code"], boundaries["name"], strict=True))
    addresses["village_name"] = addresses["village_code"].map(names)
    addresses["grid_type"] = np.where(addr_grid >= 0, grids["grid_type"].to_numpy()[np.maximum(addr_grid, 0)], None)
    addresses["address_id"] = np.arange(len(addresses))

    violations = _violations(addresses, notes, grids, boundaries)
    liaison = None
    if config.liaison:
        from partition.liaison import liaison_groups

        liaison = liaison_groups(grids, addresses, addr_grid, min_households=config.liaison[0], max_households=config.liaison[1])
        addresses["liaison_code"] = liaison.attrs.pop("address_codes")

    order = [
        "grid_code", "village_code", "village_name", "seq", "grid_type", "rule", "households",
        "population", "units", "area_m2", "compactness", "status", "flag", "note", "min_households", "max_households", "kept",
    ]
    grids = grids.sort_values("grid_code", kind="stable").reset_index(drop=True)[[*order, "geometry"]]
    grids["households"] = grids["households"].round().astype("int64")
    grids["units"] = grids["units"].astype("int64")
    grids["population"] = grids["population"].where(grids["population"] > 0)
    out_crs = out_crs_in

    def out(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gcrs.to_output_crs(g, output_crs=config.output_crs, input_crs=out_crs)
    manifest = {
        "gridmap_version": _version(),
        "name": config.name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inputs": {
            role: {"path": str(spec.path), "layer": spec.layer, "sha256": _sha256(spec.path)}
            for role, spec in _specs(config)
        },
        "rules": _rules_dict(config.rules),
        "crs": {
            "input": config.input_crs or str(out_crs_in),
            "work": work.to_string(),
            "output": config.output_crs or str(out_crs_in),
        },
        "counts": {
            "villages": int(n_v),
            "grids": int(len(grids)),
            "addresses": int(len(addresses)),
            "households": float(addresses["households"].sum()),
            "addresses_without_grid": int((addr_grid < 0).sum()),
            "kept_grids": int(grids["kept"].sum()),
        },
        "retired_codes": assignment.retired,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": _versions(),
    }
    result = RunResult(
        grids=out(grids),
        addresses=out(addresses),
        violations=out(violations),
        boundaries=out(boundaries),
        changes=assignment.changes,
        history=assignment.history,
        manifest=manifest,
        liaison=out(liaison) if liaison is not None else None,
        work_crs=work.to_string(),
    )
    return result


def _village_tasks(config, boundaries, addresses, village_code, exclusive, barriers, unit_polys, previous):
    """One :class:`VillageTask` per boundary, with only the inputs that touch that village."""
    by_village = pd.Series(np.arange(len(addresses))).groupby(village_code.to_numpy()).indices
    bar_tree = shapely.STRtree(barriers) if barriers is not None else None
    ex_tree = shapely.STRtree(exclusive.geometry.values) if exclusive is not None else None
    up_tree = shapely.STRtree(unit_polys.geometry.values) if unit_polys is not None else None
    prev_by = previous[0].groupby("village_code").indices if previous is not None else {}
    has_ur = "urban_rural" in boundaries.columns
    has_kind = "kind" in boundaries.columns
    for row in boundaries.itertuples():
        rule = config.rules.rule_for(
            code=row.code,
            urban_rural=(row.urban_rural or None) if has_ur else None,
            kind=(row.kind or None) if has_kind else None,
        )
        geom = row.geometry
        idx = by_village.get(row.code, np.zeros(0, int))
        village = Village(
            code=row.code,
            boundary=geom,
            rule=rule,
            points=addresses.iloc[idx],
            exclusive=exclusive.iloc[np.sort(ex_tree.query(geom, predicate="intersects"))] if ex_tree is not None else None,
            barriers=barriers[bar_tree.query(geom, predicate="intersects")] if bar_tree is not None else None,
            unit_polygons=unit_polys.iloc[np.sort(up_tree.query(geom, predicate="intersects"))] if up_tree is not None else None,
        )
        prev = previous[0].iloc[prev_by[row.code]] if row.code in prev_by else None
        yield VillageTask(index=idx, village=village, previous=prev, keep_valid=config.keep_valid, tolerance=config.keep_tolerance)


def _fingerprint(config: GridConfig) -> str:
    """Digest of the inputs' contents and every option that changes the grids."""
    h = hashlib.sha256()
    for role, spec in _specs(config):
        h.update(f"{role}:{spec.layer}:{_sha256(spec.path)}".encode())
    opts = {k: v for k, v in asdict(config).items() if k not in ("workers", "scheduler", "name")}
    h.update(json.dumps(opts, default=str, sort_keys=True).encode())
    return h.hexdigest()


def _specs(config: GridConfig):
    for role in ("addresses", "boundaries", "units", "exclusive", "previous"):
        spec = getattr(config, role)
        if spec is not None:
            yield role, spec
    for i, spec in enumerate(config.barriers):
        yield f"barriers[{i}]", spec


def _rules_dict(rules: RuleSet) -> dict[str, Any]:
    return {
        "urban": asdict(rules.urban),
        "rural": asdict(rules.rural),
        "unknown": asdict(rules.unknown),
        "overrides": {k: asdict(v) for k, v in rules.overrides.items()},
    }


def _read_previous(spec: LayerSpec, work) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Previous grids (work CRS) and every code issued before (``code_history`` table, if any)."""
    prev = gio.read_layer(spec.path, layer=spec.layer or "grids")
    if "grid_code" not in prev.columns:
        raise InputError(Problem(str(spec.path), "has no 'grid_code' column.", "pass the grids layer of an earlier run.", column="grid_code"))
    prev["grid_code"] = prev["grid_code"].astype(str)
    if "village_code" not in prev.columns:
        prev["village_code"] = prev["grid_code"].str[:12]
    if isinstance(spec.path, DbSource):  # grids_current of a published schema: its code ledger
        from gridmap.publish import ledger_codes

        history = ledger_codes(spec.path)
    else:
        try:
            hist = gio.read_table(spec.path, layer="code_history")
            history = [str(c) for c in hist["grid_code"]]
        except InputError:
            history = []
    return gcrs.valid_polygons(prev.to_crs(work)), history


def _previous_overlap(
    previous: tuple[gpd.GeoDataFrame, list[str]], addresses: gpd.GeoDataFrame, addr_grid: np.ndarray, new_geoms: np.ndarray
) -> tuple[pd.DataFrame, list[str]]:
    """Households shared by every (new grid, old code) pair; old grids without households (a
    school, a park) are matched by their share of area instead, so their codes can be inherited."""
    prev, history = previous
    owner = point_owner(prev.geometry.values, addresses.geometry.values)
    inside = owner >= 0
    old_code = prev["grid_code"].to_numpy()[owner[inside]]
    hh = addresses["households"].to_numpy(float)[inside]
    new = addr_grid[inside]
    df = pd.DataFrame({"grid": np.where(new >= 0, new, np.nan), "old_code": old_code, "households": hh})
    df = df.groupby(["grid", "old_code"], dropna=False, as_index=False)["households"].sum()
    empty = ~prev["grid_code"].isin(df["old_code"]).to_numpy()
    if empty.any():
        old = prev.geometry.values[empty]
        oi, ni = shapely.STRtree(new_geoms).query(old, predicate="intersects")
        share = shapely.area(shapely.intersection(old[oi], new_geoms[ni])) / np.maximum(shapely.area(old[oi]), 1e-9)
        keep = share > 1e-6
        area_rows = pd.DataFrame({"grid": ni[keep].astype(float), "old_code": prev["grid_code"].to_numpy()[empty][oi[keep]], "households": share[keep]})
        df = pd.concat([df, area_rows], ignore_index=True)
    # old grids that share nothing with the new ones still count, so their codes are retired, not lost
    missing = sorted(set(prev["grid_code"]) - set(df["old_code"]))
    if missing:
        df = pd.concat([df, pd.DataFrame({"grid": np.nan, "old_code": missing, "households": 0.0})], ignore_index=True)
    return df, sorted(set(history) | set(prev["grid_code"]))


def _violations(addresses: gpd.GeoDataFrame, notes: list[Problem], grids: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = []
    geoms = []
    outside = addresses["village_code"].isna().to_numpy()
    for i in np.flatnonzero(outside):
        rows.append({"kind": "address_outside_boundaries", "ref": f"address {i}", "message": "address lies outside every village/community boundary"})
        geoms.append(addresses.geometry.values[i])
    for p in notes:
        if "repaired" in p.message:
            rows.append({"kind": "repaired_polygon", "ref": f"{p.file} {p.row}", "message": p.message})
            geoms.append(None)
    flagged = grids["status"].ne("ok").to_numpy()
    for i in np.flatnonzero(flagged):
        rows.append({"kind": f"grid_{grids['status'].iloc[i]}", "flag": grids["flag"].iloc[i], "ref": grids["grid_code"].iloc[i], "message": grids["note"].iloc[i]})
        geoms.append(grids.geometry.values[i])
    return gpd.GeoDataFrame(rows, columns=["kind", "flag", "ref", "message"], geometry=geoms, crs=addresses.crs)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gridmap")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0+unknown"


def _versions() -> dict[str, str]:
    import folium
    import networkx
    import pyogrio
    import pyproj

    return {
        "python": ".".join(map(str, __import__("sys").version_info[:3])),
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "pyogrio": pyogrio.__version__,
        "gdal": pyogrio.__gdal_version_string__,
        "pyproj": pyproj.__version__,
        "networkx": networkx.__version__,
        "folium": folium.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def load_run(folder: str | Path) -> RunResult:
    """Read a run folder written by :func:`write_run` back into a :class:`RunResult`."""
    folder = Path(folder)
    gpkg = folder / "grids.gpkg"
    if not gpkg.exists():
        raise InputError(Problem(str(folder), "is not a gridmap run folder (no grids.gpkg).", "pass the --out folder of `gridmap partition`."))
    names = set(gio.layer_names(gpkg))

    def layer(name):
        return gio.read_layer(gpkg, layer=name) if name in names else None

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8")) if (folder / "manifest.json").exists() else {}
    changes = pd.read_csv(folder / "code_changes.csv", dtype=str) if (folder / "code_changes.csv").exists() else pd.DataFrame()
    history = [str(c) for c in gio.read_table(gpkg, layer="code_history")["grid_code"]] if "code_history" in names else []
    grids = layer("grids")
    for col in ("grid_code", "village_code", "seq"):
        if col in grids:
            grids[col] = grids[col].astype(str)
    addresses = layer("addresses")
    for col in ("grid_code", "village_code", "liaison_code"):
        if addresses is not None and col in addresses:
            addresses[col] = addresses[col].astype("string").astype(object)
    work = manifest.get("crs", {}).get("work") or grids.estimate_utm_crs().to_string()
    return RunResult(
        grids=grids, addresses=addresses, violations=layer("violations"), boundaries=layer("boundaries"),
        changes=changes, history=history, manifest=manifest, liaison=layer("liaison"), work_crs=work,
    )


def write_run(result: RunResult, out: str | Path, *, overwrite: bool = False, maps: bool = True) -> Path:
    """Write the run folder atomically: nothing appears unless every file was written.

    Files: ``grids.gpkg`` (layers grids, addresses, violations, boundaries, liaison when made,
    code_history), ``grids.geojson``, ``roster.csv``, ``code_changes.csv`` (with a previous
    layer), ``map.html``, ``map.png``, ``report.html`` and ``manifest.json``.

    Raises
    ------
    OutputExistsError
        When `out` exists and `overwrite` is false.
    """
    from gridmap import export, report
    from gridmap import maps as gmaps

    out = Path(out)
    t = time.perf_counter()
    with gio.atomic_dir(out, overwrite=overwrite) as tmp:
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
        gio.write_csv(tmp / "roster.csv", export.roster(result))
        if len(result.changes):
            gio.write_csv(tmp / "code_changes.csv", result.changes)
        if maps:
            gmaps.write_map(result, tmp / "map.html")
            gmaps.write_static_map(result, tmp / "map.png")
        report.write_report(result, tmp / "report.html")
        result.manifest["timings_s"]["write"] = round(time.perf_counter() - t, 3)
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return out
