"""Province-scale runs: each village/community is read, checked, gridded and written by its own task.

:func:`make_grids` holds every address of a run in one process; a province of tens of millions of
addresses does not fit. :func:`grid_province` never loads the addresses in one place:

1. The driver reads only the boundaries (and metadata of the address file) and plans one task per
   village/community, with the window (bounding box) of its boundary in every input's own CRS.
2. A **check** pass streams the address file a block of rows per task: every row is validated (all
   problems gathered into one error) and addresses outside every boundary or in a hole are kept.
3. Each **village** task reads the addresses inside its window (GeoParquet row groups or the
   GeoPackage spatial index), keeps the ones that lie in its village exactly as a whole-run
   :func:`make_grids` would assign them, reads the units, exclusive areas and barriers inside its
   window, grids it with :func:`make_grids` and writes its grids, addresses, violations and cells
   (the partition its grids are made of; ``cell_id`` counts within the village) as GeoParquet
   files of a partitioned dataset (``dataset/<layer>/county=<6 digits>/<village>.parquet``).
4. Each **county** (or township) task reads its part of the dataset and draws its map and report
   and writes its roster; the driver assembles ``grids.gpkg`` (grids, boundaries, violations,
   code history) a county at a time, ``roster.csv``, ``index.html`` and ``manifest.json``.

So the driver holds the boundaries and one county's grids at most, and a worker one village (or
one county's map); peak memory does not grow with the province. Results equal those of
:func:`make_grids` on the same inputs (tested), because every village sees the same points and
layers and uses the same work CRS.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import GridmapError, InputError, OptionError, Problem
from geodata.schema import GRID_COLUMNS
from geodata.windows import Bounds, PointFile, layer_crs
from gridmap.catalog import with_notes
from gridmap.execute import Runner
from gridmap.inputs import LayerSpec, read_input, read_previous
from gridmap.make import ADDRESS_KINDS, input_warnings, make_grids, note_counts, violations_frame
from gridmap.options import Options
from gridmap.provenance import MADE_BY, file_sha256, gridmap_version, library_versions, now_iso
from gridmap.result import GridResult
from partition.reasons import Reason, ReasonKind, encode
from partition.values import GridCode

Progress = Callable[[str, int, int], None]

MAP_LEVELS = {"county": 6, "township": 9}
"""Map page per county (first 6 digits of the code) or per township/street (first 9)."""

BLOCK_ROWS = 100_000
"""Rows read per task by the check pass."""

PAD_M = 1.0
"""Metres added around each window, so points on a boundary are read by its village."""


@dataclass(frozen=True)
class SideLayer:
    """An optional input read by window in each task: units, exclusive areas or barriers."""

    role: str
    spec: LayerSpec
    crs: CRS
    china: str | None = None  # gcj02/bd09: the file holds those coordinates, tagged WGS 84

    def read(self, bounds: Bounds) -> gpd.GeoDataFrame:
        """Return the features meeting `bounds` (in this file's coordinates), in file order, true CRS."""
        path = Path(str(self.spec.path))
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path, bbox=bounds)
        else:
            gdf = pyogrio.read_dataframe(path, layer=self.spec.layer, bbox=bounds)
        gdf = gdf.set_crs(self.crs, allow_override=True)
        return gcrs.china_to_wgs84(gdf, source=self.china) if self.china else gdf


@dataclass(frozen=True)
class Plan:
    """What every task of a province run shares (small: metadata, options, no address)."""

    addresses: PointFile
    address_crs: CRS
    address_china: str | None
    boundary_crs: CRS
    sides: tuple[SideLayer, ...]
    work_crs: str
    out: Path
    level: int
    options: Options


@dataclass
class VillageJob:
    """One village/community: its boundary, its neighbours and its window in every input."""

    plan: Plan
    code: str
    boundary: gpd.GeoDataFrame  # one row, the boundaries' CRS
    neighbours: gpd.GeoDataFrame  # boundaries meeting the window, layer order, work CRS
    windows: dict[str, Bounds]  # role -> window in that input's file coordinates
    previous: gpd.GeoDataFrame | None = None  # this village's grids of the previous run
    history: list[str] = field(default_factory=list)  # every code this village was ever issued


@dataclass
class BlockJob:
    """A block of rows of the address file for the check pass."""

    plan: Plan
    start: int
    stop: int
    boundaries: gpd.GeoDataFrame  # work CRS, code + geometry


@dataclass
class Outcome:
    """What a task sends back: figures and problems, never the geometries."""

    key: str
    counts: dict[str, float] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    code_changes: list[dict[str, Any]] = field(default_factory=list)
    pid: int = 0
    peak_mib: float = 0.0
    seconds: float = 0.0


@dataclass
class ProvinceResult:
    """A province run: its folder, manifest and one summary row per village/community.

    Attributes
    ----------
    folder : pathlib.Path
        The run folder (``grids.gpkg``, ``dataset/``, ``maps/``, ``reports/``, ``roster.csv``,
        ``index.html``, ``manifest.json``).
    manifest : dict
        Counts, options, timings and the peak memory of the driver and of every worker.
    villages : pandas.DataFrame
        One row per village/community: code, county, grids, addresses, households, flagged grids.
    warnings : list of str
        What a person should be told about the inputs (repeated rows, addresses outside every boundary).
    """

    folder: Path
    manifest: dict[str, Any]
    villages: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def dataset(self, layer: str = "grids", *, county: str | None = None) -> gpd.GeoDataFrame:
        """Read one layer of the partitioned GeoParquet dataset (all, or one county/township)."""
        return read_dataset(self.folder, layer, county=county)


def read_dataset(folder: str | Path, layer: str = "grids", *, county: str | None = None) -> gpd.GeoDataFrame:
    """Read ``grids``, ``addresses``, ``violations``, ``liaison`` or ``cells`` of a province run folder.

    Parameters
    ----------
    folder
        The run folder written by :func:`grid_province`.
    layer
        Which layer of ``dataset/``.
    county
        Only this county (or township, as the run's map level) prefix.
    """
    root = Path(folder) / "dataset" / layer
    if county is not None:
        root = root / f"county={county}"
    files = sorted(root.rglob("*.parquet")) if root.exists() else []
    if not files:
        return gpd.GeoDataFrame(geometry=[])
    parts = [gpd.read_parquet(f) for f in files]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def grid_province(
    addresses: str | Path | LayerSpec,
    boundaries: str | Path | LayerSpec | gpd.GeoDataFrame,
    out: str | Path,
    *,
    units: str | Path | LayerSpec | None = None,
    exclusive: str | Path | LayerSpec | None = None,
    barriers: Sequence[str | Path | LayerSpec] = (),
    previous: str | Path | LayerSpec | None = None,
    options: Options | None = None,
    map_level: str = "township",
    maps: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ProvinceResult:
    """Grid a province (or any run too large for one process) village by village, from files.

    Parameters
    ----------
    addresses
        Household address points as GeoParquet or GeoPackage (read by window in each task; sort a
        GeoParquet file spatially and write it with a bbox covering so windows skip row groups).
    boundaries
        Village/community polygons (any format, or a GeoDataFrame): ``code``, ``name`` and
        optionally ``urban_rural``/``kind``. Codes start with the county (6 digits) and township (9).
    out
        Run folder to create (on storage every worker can write to).
    units, exclusive, barriers
        Optional layers, read by window in each task (GeoPackage, Shapefile, GeoParquet, ...).
    previous
        The grids of an earlier run (its ``grids.gpkg``, with the ``code_history`` of every code it
        issued) or a database where runs were published: each village inherits its codes exactly
        as in :func:`gridmap.make_grids` (and keeps its valid grids with ``options.keep_valid``).
    options
        As in :func:`gridmap.make_grids` (:class:`gridmap.Options`): rules, fields, liaison, dedupe,
        strict, keep-valid, CRSs, name, workers and scheduler.
    map_level
        ``"township"`` or ``"county"``: one map and report page per township (乡镇/街道, the first 9
        digits of the code) or county (6), with an index page linking them. Township pages stay light
        enough for a browser; a county page of a million addresses does not.
    maps
        Draw the map pages (the slowest output).
    overwrite
        Replace `out` when gridmap made it.
    progress
        Callback ``progress(stage, done, total)`` for the stages ``check``, ``partition``, ``maps``.

    Returns
    -------
    result
        The folder, the manifest and one row per village/community.

    Raises
    ------
    InputError, CRSError, RulesError
        With every problem found in every task, before anything is written.
    """
    progress = progress or (lambda stage, done, total: None)
    if map_level not in MAP_LEVELS:
        raise OptionError(f"`map_level` got '{map_level}', expected one of {', '.join(MAP_LEVELS)}.")
    o = options or Options()
    if not isinstance(o, Options):
        raise OptionError(f"`options` must be a gridmap.Options, got {type(o).__name__}.")
    if o.keep_valid and previous is None:
        raise OptionError("`keep_valid` needs the previous grids: pass `previous` (CLI: --previous).")
    t0 = time.perf_counter()
    out = Path(out)
    spec = LayerSpec.of(addresses)
    points = PointFile.open(Path(str(spec.path)), layer=spec.layer)
    bnd, bnd_source = (
        (boundaries, None)
        if isinstance(boundaries, gpd.GeoDataFrame)
        else read_input(boundaries, role="boundaries", input_crs=o.input_crs, crs=o.crs_of("boundaries"))
    )
    if bnd.crs is None:
        raise InputError(Problem("boundaries", "has no CRS.", "declare it, e.g. gdf.set_crs('EPSG:4326')."))
    bnd = gio.rename_fields(bnd, {k: v for k, v in o.fields.items() if v in bnd.columns}, file="boundaries")
    bnd, b_report = gval.validate_boundaries(bnd, file=bnd_source.label if bnd_source else "boundaries")
    work = gcrs.metric_crs(bnd, work_crs=o.work_crs)
    address_crs, address_china = gcrs.resolve_crs(
        points.crs, input_crs=o.input_crs, crs=o.crs_of("addresses"), file=points.label, option="addresses_crs"
    )
    prev, history, prev_source = read_previous(previous) if previous is not None else (None, [], None)
    sides = tuple(
        _side(role, s, options=o)
        for role, s in [("units", units), ("exclusive", exclusive)]
        + [(f"barriers[{i}]", b) for i, b in enumerate(barriers)]
        if s is not None
    )
    bnd_work = bnd.to_crs(work)
    inputs = [Path(str(spec.path))] + [Path(str(s.spec.path)) for s in sides]
    if bnd_source:
        inputs.append(Path(bnd_source.label))
    if prev_source:
        inputs.append(Path(prev_source.label))
    peaks: dict[int, float] = {}
    outcomes: dict[str, list[Outcome]] = {"check": [], "partition": [], "maps": []}
    timings: dict[str, float] = {"plan": time.perf_counter() - t0}

    with gio.atomic_dir(out, overwrite=overwrite, inputs=[p for p in inputs if p.exists()]) as tmp:
        plan = Plan(
            addresses=points,
            address_crs=address_crs,
            address_china=address_china,
            boundary_crs=bnd.crs,
            sides=sides,
            work_crs=work.to_string(),
            out=tmp,
            level=MAP_LEVELS[map_level],
            options=o,
        )
        blocks = [BlockJob(plan, a, b, bnd_work[["code", "geometry"]]) for a, b in points.blocks(BLOCK_ROWS)]
        jobs = list(_village_jobs(plan, bnd, bnd_work, work, previous=prev, history=history))
        with Runner(workers=o.workers, scheduler=o.scheduler) as runner:

            def stage(key: str, func: Callable, items: list) -> None:
                t = time.perf_counter()
                progress(key, 0, len(items))

                def done(k: int, outcome: Outcome) -> None:
                    outcomes[key].append(outcome)
                    peaks[outcome.pid] = max(peaks.get(outcome.pid, 0.0), outcome.peak_mib)
                    progress(key, len(outcomes[key]), len(items))

                runner.run(func, items, done)
                runner.restart()  # each stage starts on fresh workers: its peak is its own
                timings[key] = time.perf_counter() - t
                _raise_gathered(outcomes[key])

            stage("check", check_block, blocks)
            order = sorted(range(len(jobs)), key=lambda i: -_area(jobs[i].boundary))  # large ones first
            stage("partition", grid_one, [jobs[i] for i in order])
            villages = _villages_table(outcomes["partition"], plan.level)
            names = dict(zip(bnd["code"], bnd["name"], strict=True))
            villages.insert(1, "village_name", villages["village_code"].map(names))
            groups = sorted(villages["county"].unique())
            stage("maps", draw_county, [CountyJob(plan, c, bnd[bnd["code"].str.startswith(c)], maps) for c in groups])
        t = time.perf_counter()
        notes = [n for oc in outcomes["check"] + outcomes["partition"] for n in oc.notes]
        _assemble(tmp, plan, groups, bnd, notes, outcomes["partition"], history)
        timings["assemble"] = time.perf_counter() - t
        manifest = _manifest(plan, spec, bnd_source, villages, outcomes, notes, peaks, timings, b_report)
        timings["total"] = time.perf_counter() - t0
        manifest["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
        _index_page(tmp, manifest, outcomes["maps"], villages, maps=maps)
        gio.write_text(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return ProvinceResult(out, manifest, villages, _warnings(villages, notes, dedupe=plan.options.dedupe))


def _warnings(villages: pd.DataFrame, notes: list[Problem], *, dedupe: bool) -> list[str]:
    """Return, once for the whole run, what the tasks found in the addresses (as :func:`make_grids` words it)."""
    counts = {kind: sum(len(p.ids) for p in notes if p.kind == kind) for kind in {p.kind for p in notes if p.kind}}
    counts["duplicate_row"] = int(villages["duplicate_rows"].sum()) if "duplicate_rows" in villages else 0
    return input_warnings(counts, dedupe=dedupe)


def _area(gdf: gpd.GeoDataFrame) -> float:
    return float(shapely.area(gdf.geometry.values).sum())


def _side(role: str, spec: str | Path | LayerSpec, *, options: Options) -> SideLayer:
    layer = LayerSpec.of(spec)
    path = Path(str(layer.path))
    declared = layer_crs(path, layer=layer.layer)
    kind = role.split("[")[0]
    crs, china = gcrs.resolve_crs(
        declared, input_crs=options.input_crs, crs=options.crs_of(kind), file=str(path), option=f"{kind}_crs"
    )
    return SideLayer(role, layer, crs, china)


def _window(bounds_work: np.ndarray, work: CRS, target: CRS, china: str | None) -> Bounds:
    """Return the work-CRS box `bounds_work` as a box in a file's coordinates (GCJ-02/BD-09 padded)."""
    box = Transformer.from_crs(work, target, always_xy=True).transform_bounds(
        float(bounds_work[0]), float(bounds_work[1]), float(bounds_work[2]), float(bounds_work[3]), densify_pts=21
    )
    if china:  # the offsets are at most ~0.01° and vary slowly: shift the corners and pad
        fx, fy = {"gcj02": gcrs.wgs84_to_gcj02, "bd09": gcrs.wgs84_to_bd09}[china](
            np.array([box[0], box[2]]), np.array([box[1], box[3]])
        )
        box = (fx[0] - 0.02, fy[0] - 0.02, fx[1] + 0.02, fy[1] + 0.02)
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def _village_jobs(
    plan: Plan,
    bnd: gpd.GeoDataFrame,
    bnd_work: gpd.GeoDataFrame,
    work: CRS,
    *,
    previous: gpd.GeoDataFrame | None,
    history: list[str],
) -> Iterator[VillageJob]:
    """One job per village/community, with its window in every input and its own previous grids and codes."""
    prev_by: dict[str, np.ndarray] = {}
    if previous is not None:
        code_col = plan.options.fields.get("grid_code", "grid_code")
        codes = previous[code_col].astype(str) if code_col in previous.columns else None
        if codes is None:
            raise InputError(
                Problem("previous", "has no 'grid_code' column.", "pass the grids layer of an earlier run.")
            )
        village = (
            previous["village_code"].astype(str) if "village_code" in previous.columns else GridCode.villages(codes)
        )
        prev_by = village.groupby(village.to_numpy()).indices
    issued = pd.Series(history, dtype=object)
    issued_by = issued.groupby(GridCode.villages(issued).to_numpy()).indices if len(issued) else {}
    geoms = bnd_work.geometry.values
    boxes = shapely.bounds(geoms) + np.array([-PAD_M, -PAD_M, PAD_M, PAD_M])
    tree = shapely.STRtree(geoms)
    for i, code in enumerate(bnd["code"]):
        near = np.sort(tree.query(shapely.box(*boxes[i])))
        windows = {"addresses": _window(boxes[i], work, plan.address_crs, plan.address_china)}
        for side in plan.sides:
            windows[side.role] = _window(boxes[i], work, side.crs, side.china)
        prev = previous.iloc[prev_by[code]] if previous is not None and code in prev_by else None
        mine = issued.iloc[issued_by[code]].tolist() if code in issued_by else []
        yield VillageJob(plan, code, bnd.iloc[[i]], bnd_work.iloc[near][["code", "geometry"]], windows, prev, mine)


def _release_memory(*, collect: bool = True) -> None:
    """Free what earlier tasks of this worker left, so one task's peak does not sit on the last one's heap.

    A full garbage collection costs ~0.1 s in a busy worker: village tasks (thousands, small) only
    hand freed memory back; check and map tasks (few, large) also collect.
    """
    import ctypes
    import gc

    if collect:
        gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc keeps freed arenas otherwise
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
    _reset_peak()


def _reset_peak() -> None:
    """Start this process's peak-RSS record afresh (Linux ≥ 4.0), so each task measures its own peak.

    ``ru_maxrss`` alone would carry a forked worker's parent's peak and every earlier task's.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux, or not allowed
        pass


def _peak_mib() -> float:
    """Return the peak resident memory of this process since :func:`_reset_peak`, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _read_addresses(plan: Plan, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Give rows read from the address file their true CRS and canonical column names."""
    gdf = gdf.set_crs(plan.address_crs, allow_override=True)
    if plan.address_china:
        gdf = gcrs.china_to_wgs84(gdf, source=plan.address_china)
    mapping = {k: v for k, v in plan.options.fields.items() if v in gdf.columns}
    return gio.rename_fields(gdf, mapping, file=plan.addresses.label) if mapping else gdf


def check_block(job: BlockJob) -> Outcome:
    """Check one block of rows of the address file; keep those outside every boundary or in a hole."""
    _release_memory()
    t = time.perf_counter()
    plan = job.plan
    key = f"rows {job.start}-{job.stop - 1}"
    out = Outcome(key, pid=os.getpid())
    try:
        rows = _read_addresses(plan, plan.addresses.read_rows(job.start, job.stop))
        rows, _ = gval.validate_addresses(rows, file=plan.addresses.label)
        work = rows.to_crs(plan.work_crs)
        codes, report = gval.assign_villages(
            work, job.boundaries, file=plan.addresses.label, strict=plan.options.strict
        )
    except GridmapError as exc:
        out.errors = list(getattr(exc, "problems", None) or [Problem(plan.addresses.label, str(exc), "")])
    else:
        lost = codes.isna().to_numpy()
        out.counts = {"rows": len(rows), "outside": int(lost.sum())}
        if lost.any():
            out.notes = [_absolute(p, rows.index.to_numpy()) for p in report.notes]
            stray = rows.loc[lost].copy()
            for col in (
                "village_code",
                "grid_code",
                "village_name",
                "grid_type",
                *(("liaison_code",) if plan.options.liaison else ()),
            ):
                stray[col] = None  # the columns of the gridded addresses, empty
            stray["address_id"] = stray.index.to_numpy()
            stray = gcrs.to_output_crs(
                stray.to_crs(plan.boundary_crs), output_crs=plan.options.output_crs, input_crs=plan.boundary_crs
            )
            _write_part(plan.out, "addresses", "none", f"outside-{job.start}", stray)
    out.pid, out.peak_mib, out.seconds = os.getpid(), _peak_mib(), time.perf_counter() - t
    return out


def _absolute(problem: Problem, index: np.ndarray) -> Problem:
    """Return the same problem with its ``ids`` (positions in a block) turned into rows of the file."""
    return replace(problem, ids=tuple(int(index[i]) for i in problem.ids))


def grid_one(job: VillageJob) -> Outcome:
    """Read, check and grid one village/community and write its part of the dataset."""
    _release_memory(collect=False)
    t = time.perf_counter()
    plan = job.plan
    out = Outcome(job.code)
    try:
        window = plan.addresses.read_window(job.windows["addresses"])
        scanned = int(window.attrs.get("scanned", len(window)))
        pts = _read_addresses(plan, window)
        # every row passed the check pass already; make_grids checks and normalises this village's rows again
        owner, _ = gval.assign_villages(pts.to_crs(plan.work_crs), job.neighbours, file=plan.addresses.label)
        mine = pts.loc[owner.index[owner.eq(job.code).to_numpy()]]
        sides = {s.role: s.read(job.windows[s.role]) for s in plan.sides}
        barriers = [g for role, g in sides.items() if role.startswith("barriers")]
        result = _grid(plan, job, mine, sides, barriers)
    except GridmapError as exc:
        out.errors = list(getattr(exc, "problems", None) or [Problem(plan.addresses.label, str(exc), "")])
    else:
        county = job.code[: plan.level]
        for layer, gdf in (
            ("grids", result.grids),
            ("addresses", result.addresses),
            ("violations", result.violations[~result.violations["kind"].str.startswith("address_")]),
            ("liaison", result.liaison),
            ("cells", result.cells),
        ):
            if gdf is not None and len(gdf):
                _write_part(plan.out, layer, county, job.code, gdf)
        g = result.grids
        counts = result.manifest["counts"]
        out.history = list(result.history)
        out.code_changes = result.code_changes.to_dict("records")
        out.counts = {
            **{k: v for k, v in counts.items() if k.endswith("_rows")},  # e.g. duplicate_rows
            "addresses": len(result.addresses),
            "households": float(result.addresses["households"].sum()),
            "grids": len(g),
            "flagged": int(g["status"].ne("ok").sum()),
            "scanned": scanned,
            "read": len(window),
        }
    out.pid, out.peak_mib, out.seconds = os.getpid(), _peak_mib(), time.perf_counter() - t
    return out


def _grid(plan: Plan, job: VillageJob, mine: gpd.GeoDataFrame, sides: dict, barriers: list) -> GridResult:
    return make_grids(
        mine,
        job.boundary,
        units=sides.get("units"),
        exclusive=sides.get("exclusive"),
        barriers=[g for g in barriers if len(g)] or None,
        previous=job.previous,
        history=job.history,
        # each task grids one village in its own process: no pool, no resume folder inside a task
        options=plan.options.replace(work_crs=plan.work_crs, workers=1, scheduler=None, resume_dir=None),
    )


def _write_part(root: Path, layer: str, county: str, key: str, gdf: gpd.GeoDataFrame) -> None:
    """Write one village's rows of a layer as a GeoParquet file (text columns typed as text)."""
    folder = root / "dataset" / layer / f"county={county}"
    folder.mkdir(parents=True, exist_ok=True)
    gdf = gdf.copy()
    for col in gdf.columns:  # the same type in every village's file, so the dataset reads as one table
        if col != gdf.geometry.name and gdf[col].dtype == object:
            gdf[col] = gdf[col].astype("string")
    floats = {"grids": ("min_households", "max_households", "population"), "addresses": ("households", "population")}
    for col in floats.get(layer, ()):
        if col in gdf.columns:
            gdf[col] = pd.to_numeric(gdf[col], errors="coerce").astype("float64")
    with gio.atomic_file(folder / f"{key}.parquet") as tmp:
        gdf.to_parquet(tmp, index=False, write_covering_bbox=True)


def _raise_gathered(outcomes: list[Outcome]) -> None:
    """Raise one error holding every problem of every task (each named once)."""
    seen: dict[str, Problem] = {}
    for o in outcomes:
        for p in o.errors:
            seen.setdefault(str(p), p)
    if seen:
        raise InputError(list(seen.values()))


def _villages_table(outcomes: list[Outcome], level: int) -> pd.DataFrame:
    rows = [{"village_code": o.key, **o.counts, "seconds": round(o.seconds, 2)} for o in outcomes]
    df = pd.DataFrame(rows).sort_values("village_code", kind="stable").reset_index(drop=True)
    df.insert(1, "county", df["village_code"].str[:level])
    return df


@dataclass
class CountyJob:
    """One county (or township): read its part of the dataset, draw its map and report, write its roster."""

    plan: Plan
    county: str
    boundaries: gpd.GeoDataFrame
    maps: bool = True


def county_result(folder: Path, county: str, boundaries: gpd.GeoDataFrame, manifest: dict) -> GridResult:
    """Return the :class:`GridResult` of one county (or township) of a province run's dataset."""
    grids = read_dataset(folder, "grids", county=county)
    addresses = read_dataset(folder, "addresses", county=county)
    violations = read_dataset(folder, "violations", county=county)
    liaison = read_dataset(folder, "liaison", county=county)
    crs = grids.crs or boundaries.crs
    for gdf in (grids, addresses, violations, liaison):
        for col in gdf.columns:
            if str(gdf[col].dtype) == "string":
                gdf[col] = gdf[col].astype(object).where(gdf[col].notna(), None)
    if len(grids):
        grids = grids.sort_values("grid_code", kind="stable").reset_index(drop=True)
        grids["households"] = grids["households"].round().astype("int64")
    if not len(violations):
        violations = violations_frame(addresses, [], grids.iloc[:0])
    return GridResult(
        grids=grids,
        addresses=addresses,
        violations=violations,
        boundaries=boundaries.to_crs(crs) if crs is not None else boundaries,
        history=sorted(grids["grid_code"]) if len(grids) else [],
        manifest=manifest,
        liaison=liaison if len(liaison) else None,
        work_crs=manifest.get("crs", {}).get("work", ""),
    )


def draw_county(job: CountyJob) -> Outcome:
    """Write the map, report and roster part of one county (or township)."""
    _release_memory()
    from gridmap import export, report
    from gridmap import maps as gmaps

    t = time.perf_counter()
    plan = job.plan
    title = f"{plan.options.name} · {job.county}"
    manifest = {"name": title, "crs": {"work": plan.work_crs}, "made_by": MADE_BY}
    result = county_result(plan.out, job.county, job.boundaries, manifest)
    (plan.out / "parts").mkdir(exist_ok=True)
    export.write_roster_csv(result, plan.out / "parts" / f"roster-{job.county}.csv")
    if job.maps:
        for folder in ("maps", "reports"):
            (plan.out / folder).mkdir(exist_ok=True)
        gmaps.write_map(result, plan.out / "maps" / f"{job.county}.html")
        page = report.report_html(result, title=title, map_href=f"../maps/{job.county}.html")
        gio.write_text(plan.out / "reports" / f"{job.county}.html", page)
    return Outcome(
        job.county,
        counts={"grids": len(result.grids), "addresses": len(result.addresses)},
        pid=os.getpid(),
        peak_mib=_peak_mib(),
        seconds=time.perf_counter() - t,
    )


def _assemble(
    tmp: Path,
    plan: Plan,
    groups: list[str],
    bnd: gpd.GeoDataFrame,
    notes: list[Problem],
    villages: list[Outcome],
    previous_history: list[str],
) -> None:
    """Write grids.gpkg, roster.csv and code_changes.csv from the dataset and the villages' codes, a county at a time.

    The code history is every code issued before (`previous_history`) and by every village now, retired ones
    included, as :func:`gridmap.make_grids` keeps it.
    """
    gpkg = tmp / "grids.gpkg"
    history = set(previous_history)
    for o in villages:
        history.update(o.history)
    changes = [row for o in villages for row in o.code_changes]
    for county in groups:
        grids = read_dataset(tmp, "grids", county=county)
        if len(grids):
            measures = [c for c in grids.columns if c not in (*GRID_COLUMNS, "geometry")]  # limited/balanced
            grids = grids.sort_values("grid_code", kind="stable")[[*GRID_COLUMNS, *measures, "geometry"]]
            pyogrio.write_dataframe(
                grids, gpkg, layer="grids", driver="GPKG", append=gpkg.exists(), promote_to_multi=True
            )
            history.update(grids["grid_code"].astype(str))
        viol = read_dataset(tmp, "violations", county=county)
        if len(viol):
            pyogrio.write_dataframe(
                viol, gpkg, layer="violations", driver="GPKG", append=gpkg.exists(), geometry_type="Unknown"
            )
        cells = read_dataset(tmp, "cells", county=county)  # the kept partition, in the work CRS (as make_grids')
        if len(cells):
            pyogrio.write_dataframe(
                cells, gpkg, layer="cells", driver="GPKG", append=gpkg.exists(), promote_to_multi=True
            )
    stray = read_dataset(tmp, "addresses", county="none")
    if len(stray):
        kinds = {i: p.kind for p in notes for i in p.ids if p.kind}
        ids = stray["address_id"].to_numpy()
        address_kinds = {k.value for k in ADDRESS_KINDS}
        kind = [k if (k := kinds.get(int(i))) in address_kinds else ADDRESS_KINDS[0].value for i in ids]
        viol = gpd.GeoDataFrame(
            {
                "kind": kind,
                "flag": None,
                "ref": [f"address_id {i}" for i in ids],
                "reason": [encode([Reason.of(ReasonKind(k))]) for k in kind],
            },
            geometry=stray.geometry.values,
            crs=stray.crs,
        )
        viol = with_notes(viol, note="message")[["kind", "flag", "ref", "message", "message_en", "reason", "geometry"]]
        pyogrio.write_dataframe(
            viol, gpkg, layer="violations", driver="GPKG", append=gpkg.exists(), geometry_type="Unknown"
        )
    out_bnd = gcrs.to_output_crs(bnd, output_crs=plan.options.output_crs, input_crs=bnd.crs)
    pyogrio.write_dataframe(out_bnd, gpkg, layer="boundaries", driver="GPKG", append=gpkg.exists())
    gio.write_table(gpkg, pd.DataFrame({"grid_code": sorted(history)}), layer="code_history")
    if changes:
        gio.write_csv(tmp / "code_changes.csv", pd.DataFrame(changes).sort_values("old_code", kind="stable"))
    with gio.atomic_file(tmp / "roster.csv") as path, open(path, "wb") as dst:
        for i, county in enumerate(groups):
            part = tmp / "parts" / f"roster-{county}.csv"
            with open(part, "rb") as src:
                if i:
                    src.readline()  # header once
                    dst.write(src.read())
                else:
                    shutil.copyfileobj(src, dst)
    shutil.rmtree(tmp / "parts", ignore_errors=True)


def _manifest(plan, spec, bnd_source, villages, outcomes, notes, peaks, timings, b_report) -> dict[str, Any]:
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the driver's whole life
    return {
        "made_by": MADE_BY,
        "gridmap_version": gridmap_version(),
        "name": plan.options.name,
        "created": now_iso(),
        "mode": "province",
        "inputs": {
            "addresses": {"path": str(spec.path), "layer": spec.layer, "sha256": file_sha256(Path(str(spec.path)))},
            **({"boundaries": {"path": bnd_source.label, "layer": bnd_source.layer}} if bnd_source else {}),
            **{s.role: {"path": str(s.spec.path), "layer": s.spec.layer} for s in plan.sides},
        },
        "rules": plan.options.record()["rules"],
        "liaison": plan.options.record()["liaison"],
        "options": {**plan.options.record(), "work_crs": plan.work_crs},
        "map_level": {v: k for k, v in MAP_LEVELS.items()}[plan.level],
        "crs": {"work": plan.work_crs, "output": plan.options.output_crs or "boundaries"},
        "counts": {
            "villages": len(villages),
            "counties": int(villages["county"].nunique()),
            "grids": int(villages["grids"].sum()),
            "addresses": int(villages["addresses"].sum())
            + sum(int(o.counts.get("outside", 0)) for o in outcomes["check"]),
            **{k: int(villages[k].sum()) for k in villages.columns if k.endswith("_rows")},
            "households": float(villages["households"].sum()),
            "flagged_grids": int(villages["flagged"].sum()),
            "rows_read_by_windows": int(villages["read"].sum()),
            "rows_scanned_by_windows": int(villages["scanned"].sum()),
            **note_counts(notes),
            "repaired_polygons": len([p for p in b_report.notes if p.kind == "repaired_polygon"]),
        },
        "memory_mib": {
            "driver_peak": round(driver, 1),
            "worker_peaks": {str(pid): round(v, 1) for pid, v in sorted(peaks.items())},
            # the largest peak of one task in each stage (peaks are reset at the start of every task)
            "worker_peak_by_stage": {
                k: round(max((o.peak_mib for o in v), default=0.0), 1) for k, v in outcomes.items()
            },
        },
        "versions": library_versions(),
    }


def _index_page(tmp: Path, manifest: dict, counties: list[Outcome], villages: pd.DataFrame, *, maps: bool) -> None:
    """Write index.html: one row per county/township with links to its map and report."""
    from html import escape

    from gridmap.report import html_table

    per = (
        villages.groupby("county")
        .agg(
            villages=("village_code", "size"),
            grids=("grids", "sum"),
            households=("households", "sum"),
            flagged=("flagged", "sum"),
        )
        .reset_index()
    )
    if maps:
        per["map"] = [f'<a href="maps/{escape(c)}.html">地图 map</a>' for c in per["county"]]
        per["report"] = [f'<a href="reports/{escape(c)}.html">报告 report</a>' for c in per["county"]]
    table = html_table(per, text_cols=("county",), html_cols=("map", "report") if maps else (), tools=True)
    vtable = html_table(villages, text_cols=("village_code", "village_name", "county"), tools=True)
    c = manifest["counts"]
    title = escape(str(manifest["name"]))
    page = f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>{title} · 网格索引 grid index</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px}}</style>
</head><body>
<h1>{title} · 网格索引 Grid index</h1>
<p>{c["villages"]} 个村/社区 villages/communities · {c["grids"]} 个网格 grids · {int(c["households"])} 户 households ·
{c["flagged_grids"]} 个需复核网格 flagged grids</p>
<h2>按{"县" if manifest["map_level"] == "county" else "乡镇街道"} By {manifest["map_level"]}</h2>
{table}
<h2>村/社区 Villages and communities</h2>
{vtable}
</body></html>
"""
    gio.write_text(tmp / "index.html", page)
