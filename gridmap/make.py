"""Make coded grids from address points and village/community polygons held in memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geodata import crs as gcrs
from geodata import io as gio
from geodata import validate as gval
from geodata.errors import InputError, OptionError, Problem
from geodata.schema import GRID_COLUMNS
from gridmap.catalog import note_text, with_notes
from gridmap.execute import Beside, VillageTask, execute, join_results
from gridmap.inputs import LayerSpec, PathLike, Source, read_inputs
from gridmap.options import Options
from gridmap.provenance import MADE_BY, fingerprint, gridmap_version, library_versions, now_iso
from gridmap.result import GridResult
from partition.coding import CodeAssignment, assign_codes
from partition.grids import Village
from partition.measures import polsby_popper
from partition.reasons import VALUES, Reason, ReasonKind, encode
from partition.rules import RuleSet
from partition.tessellation import point_owner
from partition.values import Flag, GridCode

Progress = Callable[[str, int, int], None]
"""Callback ``progress(stage, done, total)`` called as work advances."""


def grid_files(
    addresses: PathLike | LayerSpec,
    boundaries: PathLike | LayerSpec,
    *,
    units: PathLike | LayerSpec | None = None,
    exclusive: PathLike | LayerSpec | None = None,
    barriers: Sequence[PathLike | LayerSpec] = (),
    previous: PathLike | LayerSpec | None = None,
    options: Options | None = None,
    progress: Progress | None = None,
) -> GridResult:
    """Read input files and grid them (:func:`gridmap.read_inputs`, then :func:`make_grids`), as ``gridmap partition``.

    Parameters are those of :func:`gridmap.read_inputs` (files, database URLs or :class:`LayerSpec`)
    and `progress` of :func:`make_grids`; `options` serves both.

    Examples
    --------
    >>> import gridmap
    >>> result = gridmap.grid_files(**gridmap.sample_layers())
    >>> result.manifest["inputs"]["addresses"]["layer"]
    'addresses'
    """
    inputs = read_inputs(
        addresses, boundaries, units=units, exclusive=exclusive, barriers=barriers, previous=previous, options=options
    )
    return make_grids(**inputs.frames(), options=options, progress=progress)


def make_grids(
    addresses: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    *,
    units: gpd.GeoDataFrame | None = None,
    exclusive: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | Sequence[gpd.GeoDataFrame] | None = None,
    previous: gpd.GeoDataFrame | None = None,
    history: Sequence[str] | None = None,
    options: Options | None = None,
    sources: Mapping[str, Source] | None = None,
    progress: Progress | None = None,
) -> GridResult:
    """Grid every village/community and give every grid its 15-digit code.

    Every frame must declare its CRS (any CRS; each is transformed on its own). Geometry work
    happens in the UTM zone of the boundaries (or `work_crs`); outputs are in the boundaries' CRS
    (or `output_crs`). No file is read or written.

    Parameters
    ----------
    addresses
        Household address points: ``households`` (whole number ≥ 0; 1 per point when absent) and
        optionally ``population``, ``group`` (村民小组), ``building``, ``compound``, ``village_code``.
    boundaries
        Village/community polygons: ``code`` (12-digit 统计用区划代码), ``name`` and optionally
        ``urban_rural`` (1xx urban, 2xx rural) or ``kind`` (``community``/``village``).
    units
        Unit polygons (buildings, parcels, blocks); grids are unions of whole units.
    exclusive
        Exclusive areas (专属网格) with ``name`` and ``type``; each becomes its own grid first.
    barriers
        Lines (roads, rivers, railways) that base grids avoid crossing: one frame or several.
    previous
        Grids of an earlier run (``grid_code``): codes are inherited, retired ones never reused.
    history
        Every code issued before (the earlier run's ``code_history``), so none is reissued.
    options
        Rules, remapped columns, liaison groups, CRSs, keep-valid and how the work runs
        (:class:`gridmap.Options`; its defaults when not given).
    sources
        Where each frame came from (set by :func:`gridmap.read_inputs`), for messages and manifest.
    progress
        Callback ``progress(stage, done, total)``.

    Returns
    -------
    result
        Coded grids, addresses with their grid, violations, liaison groups, the cells every grid
        is the union of (``cells``, in the work CRS) and the manifest.

    Raises
    ------
    InputError, CRSError, RulesError
        When an input or option is unusable; the message says where and how to fix it.

    Examples
    --------
    >>> import geopandas as gpd, gridmap
    >>> from geodata.sample import sample_path
    >>> p = sample_path()
    >>> result = gridmap.make_grids(gpd.read_file(p, layer="addresses"), gpd.read_file(p, layer="boundaries"))
    >>> bool(result.grids["grid_code"].str.len().eq(15).all())
    True
    >>> int(result.grids["households"].sum()) == int(result.addresses["households"].sum())
    True
    """
    progress = progress or (lambda stage, done, total: None)
    _check_frames(addresses=addresses, boundaries=boundaries, units=units, exclusive=exclusive, previous=previous)
    bar_list = [barriers] if isinstance(barriers, gpd.GeoDataFrame) else list(barriers or [])
    _check_frames(**{f"barriers[{i}]": b for i, b in enumerate(bar_list)})
    options = options or Options()
    if not isinstance(options, Options):
        raise OptionError(f"`options` must be a gridmap.Options, got {type(options).__name__}.")
    rules, remaps, keep_valid = options.rules, dict(options.fields), options.keep_valid
    if keep_valid and previous is None:
        raise InputError(
            Problem(
                "keep_valid",
                "keeping valid grids needs the previous grids.",
                "pass `previous` (CLI: --previous) or drop `keep_valid` (--keep-valid).",
            )
        )
    sources = dict(sources or {})
    src = _source_of(sources)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("read", 0, 1)
    bar_frames = [barriers] if isinstance(barriers, gpd.GeoDataFrame) else list(barriers or [])
    _check_remaps(
        remaps,
        [f for f in (addresses, boundaries, exclusive, units, previous) if f is not None],
        file=src("addresses").label,
    )
    addresses = _declared(
        gio.rename_fields(addresses, _present(remaps, addresses), file=src("addresses").label), src("addresses")
    )
    boundaries = _declared(
        gio.rename_fields(boundaries, _present(remaps, boundaries), file=src("boundaries").label), src("boundaries")
    )
    boundaries, b_report = gval.validate_boundaries(boundaries, file=src("boundaries").label)
    addresses, a_report = gval.validate_addresses(
        addresses, file=src("addresses").label, csv_like=src("addresses").csv, dedupe=options.dedupe
    )
    swap = gval.Report()
    gval.check_swapped_against(addresses, boundaries.to_crs(addresses.crs), file=src("addresses").label, report=swap)
    swap.raise_if_errors()
    out_crs_in = boundaries.crs
    work = gcrs.metric_crs(boundaries, work_crs=options.work_crs)
    boundaries = boundaries.to_crs(work)
    as_given = addresses.geometry  # the points in the user's CRS, written back as they came (see `out` below)
    addresses = gcrs.reproject(addresses, work)
    notes = [*b_report.notes, *a_report.notes]
    if exclusive is not None:
        ex = _declared(
            gio.rename_fields(exclusive, _present(remaps, exclusive), file=src("exclusive").label), src("exclusive")
        )
        exclusive, e_report = gval.validate_exclusive(ex, file=src("exclusive").label)
        exclusive = exclusive.to_crs(work)
        notes += e_report.notes
    bar_lines = []
    for i, frame in enumerate(bar_frames):
        s = src(f"barriers[{i}]") if f"barriers[{i}]" in sources else Source(f"barriers[{i}]")
        bar_lines.append(gval.validate_barriers(_declared(frame, s), file=s.label).to_crs(work).geometry.values)
    bar = np.concatenate(bar_lines) if bar_lines else None
    unit_polys = None
    if units is not None:
        unit_polys = _declared(
            gio.rename_fields(units, _present(remaps, units), file=src("units").label), src("units")
        ).to_crs(work)
    measures = _measure_names(rules)
    if measures:
        if unit_polys is not None:
            unit_polys = unit_polys.copy()
        gval.validate_measures(
            addresses,
            measures,
            file=src("addresses").label,
            csv_like=src("addresses").csv,
            units=unit_polys,
            units_file=src("units").label,
        ).raise_if_errors()
    prev = None
    if previous is not None:
        prev = _previous_frame(previous, remaps.get("grid_code"), src("previous"), work)
    timings["read_validate"] = time.perf_counter() - t0
    progress("read", 1, 1)

    resume_dir = options.resume_dir
    deciding = {**options.record(), "work_crs": work.to_string()}
    cores = options.workers if options.scheduler in (None, "local") else 1  # this machine's, that the run may use
    digest: str | Callable[[], str] = ""
    if resume_dir:
        # of the frames before each address gets its village (which follows from them and the options); with
        # gridmap's version, so villages an older gridmap saved are gridded again
        frames = [addresses.copy(deep=False), boundaries, exclusive, unit_polys, prev, *bar_frames]

        def digest_here() -> str:
            return fingerprint(frames, {**deciding, "gridmap": gridmap_version()})

        # with several workers on this machine a second process takes it while this one finds the villages and
        # makes the tasks, when the other core is idle; taken here, it would run during the partition, on a
        # core the workers need (the city's: 0.3 s of each worker's time)
        beside = Beside(digest_here if cores > 1 else None)

        def digest() -> str:
            return beside.result() or digest_here()

    t = time.perf_counter()
    village_code, v_report = gval.assign_villages(
        addresses,
        boundaries,
        file=src("addresses").label,
        csv_like=src("addresses").csv,
        strict=options.strict,
        threads=cores,
    )
    notes += v_report.notes
    addresses["village_code"] = village_code
    tasks = list(
        _village_tasks(
            rules,
            boundaries,
            addresses,
            village_code,
            exclusive,
            bar,
            unit_polys,
            prev,
            keep_valid=keep_valid,
            keep_tolerance=options.keep_tolerance,
        )
    )
    vgs = execute(
        tasks,
        workers=options.workers,
        scheduler=options.scheduler,
        progress=progress,
        resume_dir=resume_dir,
        fingerprint=digest,
    )
    progress("partition", len(tasks), len(tasks))
    timings["partition"] = time.perf_counter() - t

    t = time.perf_counter()
    joined = join_results(vgs)
    grids = joined.grids
    grids["village_name"] = pd.Series(
        np.repeat(boundaries["name"].to_numpy(object), joined.sizes), dtype=boundaries["name"].dtype
    )
    grids = gpd.GeoDataFrame(with_notes(grids), crs=work)
    addr_grid = joined.address_grid(len(addresses), tasks)
    overlap = None
    old_history = list(history or [])
    if prev is not None:
        overlap, old_history = previous_overlap(prev, old_history, addresses, addr_grid, grids.geometry.values)
    assignment = code_grids(
        grids, overlap=overlap, history=old_history, fixed=grids["kept_code"] if "kept_code" in grids else None
    )
    grids["kept"] = grids["kept_code"].notna() if "kept_code" in grids else False
    cells = cells_frame(joined.cells, grids, crs=work)
    timings["code"] = time.perf_counter() - t

    _label_addresses(addresses, grids, addr_grid, boundaries, tasks)
    violations = violations_frame(addresses, notes, grids, file=src("addresses").label)
    liaison_groups = None
    liaison = options.liaison
    if liaison:
        from partition.liaison import liaison_groups as make_liaison

        liaison_groups, addresses["liaison_code"] = make_liaison(
            grids, addresses, addr_grid, min_households=liaison[0], max_households=liaison[1]
        )
        liaison_groups = with_notes(liaison_groups)
    grids = tidy_grids(grids, measures=measures)
    context = context_layer(exclusive, bar, crs=work)

    def out(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gcrs.to_output_crs(g, output_crs=options.output_crs, input_crs=out_crs_in)

    def out_addresses(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if options.output_crs is None and as_given.crs == out_crs_in and as_given.index.equals(g.index):
            # the user's own coordinates, not a round trip through the work CRS (1.2 s on 1.14M points)
            return g.set_geometry(as_given.to_numpy(), crs=out_crs_in)
        return out(g)

    manifest = {
        "made_by": MADE_BY,
        "gridmap_version": gridmap_version(),
        "name": options.name,
        "created": now_iso(),
        "inputs": {role: {"path": s.label, "layer": s.layer, "sha256": s.sha256} for role, s in sources.items()},
        "rules": deciding["rules"],
        "liaison": deciding["liaison"],
        "options": deciding,  # everything that decided the grids: Options.from_record(manifest) gives it back
        "crs": {
            "input": sources_crs(sources, out_crs_in),
            "work": work.to_string(),
            "output": options.output_crs or str(out_crs_in),
        },
        "counts": {
            "villages": len(tasks),
            "grids": len(grids),
            "addresses": len(addresses),
            "households": float(addresses["households"].sum()),
            "addresses_without_grid": int((addr_grid < 0).sum()),
            **note_counts(notes),
            "kept_grids": int(grids["kept"].sum()),
        },
        "retired_codes": assignment.retired,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": library_versions(),
    }
    return GridResult(
        grids=out(grids),
        addresses=out_addresses(addresses),
        violations=out(violations),
        boundaries=out(boundaries),
        code_changes=assignment.changes,
        history=assignment.history,
        manifest=manifest,
        liaison=out(liaison_groups) if liaison_groups is not None else None,
        work_crs=work.to_string(),
        warnings=input_warnings(
            _note_counts(notes), dedupe=options.dedupe, details=[str(p) for p in notes if p.kind == "duplicate_row"]
        ),
        cells=cells,
        context=None if context is None else out(context),
    )


def context_layer(exclusive: gpd.GeoDataFrame | None, barriers: np.ndarray | None, *, crs) -> gpd.GeoDataFrame | None:
    """Return the inputs drawn under the grids on the map: barrier lines and exclusive areas (``kind``, ``name``)."""
    parts = []
    if barriers is not None and len(barriers):
        parts.append(
            gpd.GeoDataFrame({"kind": "barrier", "name": ""}, index=range(len(barriers)), geometry=barriers, crs=crs)
        )
    if exclusive is not None and len(exclusive):
        parts.append(
            gpd.GeoDataFrame(
                {"kind": "exclusive", "name": exclusive["name"].to_numpy()}, geometry=exclusive.geometry.values, crs=crs
            )
        )
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs) if parts else None


def sources_crs(sources: Mapping[str, Source], crs: CRS) -> str:
    """Return how the manifest names the input CRS (the option given, else the boundaries' CRS)."""
    given = {s.input_crs for s in sources.values() if s.input_crs}
    return ", ".join(sorted(given)) if given else str(crs)


def _present(remaps: Mapping[str, str], gdf: pd.DataFrame) -> dict[str, str]:
    return {k: v for k, v in remaps.items() if v in gdf.columns}


def _check_remaps(remaps: Mapping[str, str], frames: list[pd.DataFrame], *, file: str) -> None:
    problems = [
        Problem(
            file,
            f"the column '{user}' given for '{canonical}' is in none of the inputs.",
            "check the spelling of the column option.",
            column=user,
        )
        for canonical, user in remaps.items()
        if not any(user in f.columns for f in frames)
    ]
    if problems:
        raise InputError(problems)


def _source_of(sources: Mapping[str, Source]) -> Callable[[str], Source]:
    return lambda role: sources.get(role) or Source(role)


def _declared(gdf: gpd.GeoDataFrame, source: Source) -> gpd.GeoDataFrame:
    """Return `gdf` when it declares a CRS; otherwise say how to declare one."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(
            Problem(
                source.label,
                f"is a {type(gdf).__name__}, not a GeoDataFrame.",
                "pass a geopandas.GeoDataFrame (e.g. from geopandas.read_file).",
            )
        )
    if gdf.crs is None:
        raise InputError(
            Problem(
                source.label,
                "has no CRS.",
                "declare it, e.g. gdf.set_crs('EPSG:4326'), "
                "or convert GCJ-02/BD-09 first with gridmap.read_inputs(..., input_crs='gcj02').",
            )
        )
    return gdf


def _previous_frame(
    previous: gpd.GeoDataFrame, grid_code_col: str | None, source: Source, work: CRS
) -> gpd.GeoDataFrame:
    prev = _declared(previous, source)
    if grid_code_col and grid_code_col in prev.columns:
        prev = prev.rename(columns={grid_code_col: "grid_code"})
    if "grid_code" not in prev.columns:
        raise InputError(
            Problem(
                source.label,
                "has no 'grid_code' column.",
                "pass the grids layer of an earlier run.",
                column="grid_code",
            )
        )
    prev = prev.copy()
    prev["grid_code"] = prev["grid_code"].astype(str)
    _check_ascii_codes(prev, source)
    if "village_code" not in prev.columns:
        prev["village_code"] = GridCode.villages(prev["grid_code"])
    prev["village_code"] = prev["village_code"].astype(str)
    return gcrs.valid_polygons(prev.to_crs(work))


def _check_frames(**frames: object) -> None:
    """Refuse, before any work, an input that is not a GeoDataFrame with rows (as the command line would)."""
    required = {"addresses", "boundaries"}
    problems = []
    for name, frame in frames.items():
        if frame is None and name not in required:
            continue
        if not isinstance(frame, gpd.GeoDataFrame):
            got = "None" if frame is None else type(frame).__name__
            fix = (
                "pass a GeoDataFrame (geopandas.read_file, or gridmap.read_inputs), e.g. gpd.GeoDataFrame(geometry=s)."
            )
            problems.append(Problem(name, f"must be a GeoDataFrame, got {got}.", fix))
        elif len(frame) == 0 and name in required:
            problems.append(Problem(name, "has no rows.", "pass the layer with its features."))
    if problems:
        raise InputError(problems)


def _check_ascii_codes(prev: gpd.GeoDataFrame, source: Source) -> None:
    """Refuse previous codes written with non-ASCII digits (full-width, Arabic-Indic): they would be inherited."""
    bad = [i for i, c in enumerate(prev["grid_code"]) if not c.isascii()]
    if bad:
        raise InputError(
            [
                Problem(
                    source.label,
                    f"the grid code '{prev['grid_code'].iloc[i]}' has characters that are not ASCII (full-width or "
                    "Arabic-Indic digits?).",
                    "write codes with the ASCII digits 0-9.",
                    row=f"feature {i + 1}",
                    column="grid_code",
                )
                for i in bad
            ]
        )


def _village_tasks(
    rules: RuleSet,
    boundaries: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    village_code: pd.Series,
    exclusive: gpd.GeoDataFrame | None,
    barriers: np.ndarray | None,
    unit_polys: gpd.GeoDataFrame | None,
    previous: gpd.GeoDataFrame | None,
    *,
    keep_valid: bool,
    keep_tolerance: float,
) -> Iterator[VillageTask]:
    """One :class:`VillageTask` per boundary, with only the inputs that touch that village.

    The addresses are put in village order once (each village's rows in input order) and every
    village takes its run of them: a row selection per village took 0.44 s of the city's 712.
    """
    number, keys = pd.factorize(village_code.array)  # -1: in no village
    order = np.argsort(number, kind="stable")
    counts = np.bincount(number[number >= 0], minlength=len(keys))
    ends = int((number < 0).sum()) + np.cumsum(counts)  # the rows in no village come first
    runs = dict(zip(keys, zip((ends - counts).tolist(), ends.tolist(), strict=True), strict=True))
    in_order = addresses.take(order)
    has_ur = "urban_rural" in boundaries.columns
    has_kind = "kind" in boundaries.columns
    prev_by = previous.groupby("village_code").indices if previous is not None else {}
    near_exclusive, near_barriers, near_units = _near(exclusive), _near(barriers), _near(unit_polys)
    for row in boundaries.itertuples():
        rule = rules.rule_for(
            code=row.code,
            urban_rural=(row.urban_rural or None) if has_ur else None,
            kind=(row.kind or None) if has_kind else None,
        )
        geom = row.geometry
        start, end = runs.get(row.code, (0, 0))
        idx = order[start:end]
        village = Village(
            code=row.code,
            boundary=geom,
            rule=rule,
            points=in_order.iloc[start:end],
            exclusive=near_exclusive(geom),
            barriers=near_barriers(geom),
            unit_polygons=near_units(geom),
        )
        prev = previous.iloc[prev_by[row.code]] if previous is not None and row.code in prev_by else None
        yield VillageTask(index=idx, village=village, previous=prev, keep_valid=keep_valid, tolerance=keep_tolerance)


def _near(layer: Any) -> Callable[[Any], Any]:
    """Return ``f(geom)``: the rows (or lines) of `layer` that intersect `geom`, in input order."""
    if layer is None:
        return lambda geom: None
    geoms = layer if isinstance(layer, np.ndarray) else layer.geometry.values
    tree = shapely.STRtree(geoms)
    if isinstance(layer, np.ndarray):
        return lambda geom: layer[tree.query(geom, predicate="intersects")]
    return lambda geom: layer.iloc[np.sort(tree.query(geom, predicate="intersects"))]


def cells_frame(cells: pd.DataFrame, grids: pd.DataFrame, *, crs: Any) -> gpd.GeoDataFrame:
    """Return the run's ``cells`` layer: every cell with ``cell_id``, its grid's code and village.

    Parameters
    ----------
    cells
        Cells as :data:`geodata.schema.VILLAGE_CELL_COLUMNS` with shapely ``geometry``; ``grid`` is the
        row of `grids`.
    grids
        The run's grids with ``grid_code`` and ``village_code``, in the order ``grid`` refers to.
    crs
        CRS of the cells' geometry.

    Returns
    -------
    cells
        Columns :data:`geodata.schema.CELL_COLUMNS`, geometry last.
    """
    at = cells["grid"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "cell_id": np.arange(len(cells), dtype=np.int64),
            "grid_code": grids["grid_code"].to_numpy(object)[at],
            "village_code": grids["village_code"].to_numpy(object)[at],
            "households": cells["households"].to_numpy(float).round().astype(np.int64),
            "population": cells["population"].to_numpy(float),
            "units": cells["n_units"].to_numpy(np.int64),
            "unit_id": cells["unit_id"].to_numpy(object),
            "label": cells["label"].to_numpy(object),
            "group": cells["group"].to_numpy(object),
            "compound": cells["compound"].to_numpy(object),
            "block": cells["block"].to_numpy(np.int64),
        }
    )
    for col in ("group", "compound", "unit_id"):
        frame[col] = frame[col].where(frame[col].notna(), None)
    return gpd.GeoDataFrame(frame, geometry=np.asarray(cells["geometry"].to_numpy(object)), crs=crs)


def code_grids(
    grids: gpd.GeoDataFrame,
    *,
    overlap: pd.DataFrame | None = None,
    history: Sequence[str] = (),
    fixed: pd.Series | None = None,
) -> CodeAssignment:
    """Give every grid its code, area and compactness (in place), as every run and every editor save does.

    Parameters
    ----------
    grids
        Grids in a metric CRS with ``village_code`` and ``grid_type``.
    overlap, history, fixed
        As :func:`partition.coding.assign_codes`: households shared with earlier codes, every code
        issued so far, codes kept as they are.

    Returns
    -------
    assignment
        The coding (codes, changes, retired codes, history); `grids` gains ``area_m2``,
        ``compactness``, ``grid_code`` and ``seq``.
    """
    grids["area_m2"] = shapely.area(grids.geometry.values)
    grids["compactness"] = polsby_popper(grids.geometry.values)
    table = code_table(grids.geometry.values, grids["village_code"], grids["grid_type"], grids["area_m2"])
    assignment = assign_codes(table, overlap=overlap, history=list(history), fixed=fixed)
    grids["grid_code"] = assignment.codes
    grids["seq"] = GridCode.seqs(grids["grid_code"]).map("{:03d}".format)
    return assignment


def code_table(geoms: np.ndarray, village_code: Sequence[str], grid_type: Sequence[str], area: Sequence[float]):
    """Return what :func:`partition.coding.assign_codes` orders grids by: village, kind, label point, area.

    Indexed like `village_code` when it is a Series (the grids' own index), else by position.
    """
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    return pd.DataFrame(
        {
            "village_code": village_code,
            "exclusive": np.asarray(grid_type, dtype=object) != "base",
            "x": xy[:, 0],
            "y": xy[:, 1],
            "area": np.asarray(area, float),
        },
        index=village_code.index if isinstance(village_code, pd.Series) else None,
    )


def _label_addresses(
    addresses: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    addr_grid: np.ndarray,
    boundaries: gpd.GeoDataFrame,
    tasks: Sequence[VillageTask],
) -> None:
    """Add grid code, village name, grid type and a running id to every address (in place).

    `tasks` are the villages' tasks, one per row of `boundaries` in order.
    """
    # taken as arrays (missing where an address has no grid), not as a million Python objects
    addresses["grid_code"] = grids["grid_code"].astype("str").array.take(addr_grid, allow_fill=True)
    at = np.full(len(addresses), -1)  # each address's village: its task's rows, not a lookup of a million codes
    for k, task in enumerate(tasks):
        at[task.index] = k
    addresses["village_name"] = boundaries["name"].array.take(at, allow_fill=True)
    addresses["grid_type"] = grids["grid_type"].array.take(addr_grid, allow_fill=True)
    # the position in the input file, also when `dedupe` dropped rows (messages and notes use it)
    idx = addresses.index
    addresses["address_id"] = idx.to_numpy() if idx.dtype.kind in "iu" else np.arange(len(addresses))


def _measure_names(rules: RuleSet) -> tuple[str, ...]:
    """Every measure any rule limits or balances, in order of first mention."""
    names = (name for rule in rules.rules() for name in rule.measures if name not in gval.MEASURED_AFTER)
    return tuple(dict.fromkeys(names))


def tidy_grids(grids: gpd.GeoDataFrame, *, measures: Sequence[str] = ()) -> gpd.GeoDataFrame:
    """Return `grids` ordered by code, columns as :data:`GRID_COLUMNS` then one per measure, counts as integers."""
    extra = [m for m in measures if m not in GRID_COLUMNS]
    for m in extra:
        grids[m] = grids[m].fillna(0.0) if m in grids else 0.0
    grids = grids.sort_values("grid_code", kind="stable").reset_index(drop=True)[[*GRID_COLUMNS, *extra, "geometry"]]
    grids["households"] = grids["households"].round().astype("int64")
    grids["units"] = grids["units"].astype("int64")
    grids["population"] = grids["population"].where(grids["population"] > 0)
    return grids


def previous_overlap(
    prev: gpd.GeoDataFrame,
    history: Sequence[str],
    addresses: gpd.GeoDataFrame,
    addr_grid: np.ndarray,
    new_geoms: np.ndarray,
) -> tuple[pd.DataFrame, list[str]]:
    """Return households shared by every (new grid, old code) pair, and every code issued so far.

    Old grids without households (a school, a park) are matched by their share of area instead,
    so their codes can be inherited; old grids sharing nothing are listed so they are retired.
    """
    owner = point_owner(prev.geometry.values, addresses.geometry.values)
    inside = owner >= 0
    old_code = prev["grid_code"].to_numpy()[owner[inside]]
    hh = addresses["households"].to_numpy(float)[inside]
    new = addr_grid[inside]
    df = pd.DataFrame({"grid": np.where(new >= 0, new, np.nan), "old_code": old_code, "households": hh})
    df = df.groupby(["grid", "old_code"], dropna=False, as_index=False)["households"].sum()
    held = df.groupby("old_code")["households"].sum()
    empty = ~prev["grid_code"].isin(held.index[held > 0]).to_numpy()  # no address, or only 0-household ones
    if empty.any():
        old = prev.geometry.values[empty]
        oi, ni = shapely.STRtree(new_geoms).query(old, predicate="intersects")
        share = shapely.area(shapely.intersection(old[oi], new_geoms[ni])) / np.maximum(shapely.area(old[oi]), 1e-9)
        keep = share > 1e-6
        area_rows = pd.DataFrame(
            {
                "grid": ni[keep].astype(float),
                "old_code": prev["grid_code"].to_numpy()[empty][oi[keep]],
                "households": share[keep],
            }
        )
        df = pd.concat([df, area_rows], ignore_index=True)
    missing = sorted(set(prev["grid_code"]) - set(df["old_code"]))
    if missing:
        df = pd.concat([df, pd.DataFrame({"grid": np.nan, "old_code": missing, "households": 0.0})], ignore_index=True)
    return df, sorted(set(history) | set(prev["grid_code"]))


ADDRESS_KINDS = (ReasonKind.ADDRESS_OUTSIDE_BOUNDARIES, ReasonKind.ADDRESS_IN_HOLE)
"""Kinds of address problems kept in the violations layer."""


def _note_counts(notes: list[Problem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in notes:
        if p.kind:
            counts[p.kind] = counts.get(p.kind, 0) + max(len(p.ids), 1)
    return counts


def note_counts(notes: list[Problem]) -> dict[str, int]:
    """Rows per kind of input note, keyed as the manifest's ``counts`` (``duplicate_rows``, ``address_in_holes``)."""
    return {kind if kind.endswith("s") else f"{kind}s": n for kind, n in _note_counts(notes).items()}


def input_warnings(counts: Mapping[str, int], *, dedupe: bool, details: Sequence[str] = ()) -> list[str]:
    """Return what the console should warn about in the inputs, Chinese first with English beside.

    Parameters
    ----------
    counts
        Rows per note kind (``address_outside_boundaries``, ``address_in_hole``, ``duplicate_row``,
        ``repaired_polygon``); the rows themselves are in the violations layer.
    dedupe
        Whether repeated rows were dropped (else counted again).
    details
        Lines naming the repeated rows (the input check's own notes), shown after the count.
    """
    kinds = {
        "address_outside_boundaries": ReasonKind.ADDRESSES_KEPT_OUTSIDE,
        "address_in_hole": ReasonKind.ADDRESSES_KEPT_IN_HOLE,
        "duplicate_row": ReasonKind.ROWS_DROPPED if dedupe else ReasonKind.ROWS_REPEATED,
        "repaired_polygon": ReasonKind.POLYGONS_REPAIRED,
    }
    out = []
    for note, kind in kinds.items():
        if counts.get(note):
            (name,) = VALUES[kind]
            out.append(note_text(encode([Reason.of(kind, **{name: counts[note]})])))
            if note == "duplicate_row":
                out += [f"  {line}" for line in details[:MAX_DETAILS]]
                if len(details) > MAX_DETAILS:
                    out.append(f"  … {len(details) - MAX_DETAILS} …")
    return out


MAX_DETAILS = 10
"""Groups of repeated rows named one by one on the console (all are in the manifest's counts)."""


def violations_frame(
    addresses: gpd.GeoDataFrame, notes: list[Problem], grids: gpd.GeoDataFrame, *, file: str = "addresses"
) -> gpd.GeoDataFrame:
    """Return the violations layer: addresses outside every boundary or in a hole, repaired polygons, flagged grids.

    Columns ``kind``, ``flag``, ``ref``, ``message`` (Chinese), ``message_en`` (English) and
    ``reason`` (the reason as JSON, :mod:`partition.reasons`). An address is named by its source:
    `file`, its row as the user finds it (CSV line, sheet row or feature number) and its ``address_id``.
    """
    ids = addresses["address_id"].to_numpy() if "address_id" in addresses else np.arange(len(addresses))
    rows_kind = addresses.attrs.get("rows") or "feature"
    parts = []
    for kind in ADDRESS_KINDS:
        rows = sorted({i for p in notes if p.kind == kind for i in p.ids})  # positions (assign_villages)
        if rows:
            parts.append(
                gpd.GeoDataFrame(
                    {
                        "kind": str(kind),
                        "flag": None,
                        "ref": [f"{file}, {gio.row_label(rows_kind, int(ids[i]))}, address_id {ids[i]}" for i in rows],
                    },
                    geometry=addresses.geometry.values[rows],
                    crs=addresses.crs,
                ).assign(reason=encode([Reason.of(kind)]))
            )
    repaired = [p for p in notes if p.kind == "repaired_polygon"]
    parts.append(
        gpd.GeoDataFrame(
            {
                "kind": "repaired_polygon",
                "flag": None,
                "ref": [f"{p.file} {p.row}" for p in repaired],
                "reason": [encode([Reason.of(ReasonKind.REPAIRED_POLYGON, **p.values)]) for p in repaired],
            },
            geometry=[None] * len(repaired),
            crs=addresses.crs,
        )
    )
    limit_flags = [str(Flag.LIMIT_FORCED), str(Flag.LIMIT_UNMET)]
    flagged = grids[grids["status"].ne("ok") | grids["flag"].isin(limit_flags)]
    parts.append(
        gpd.GeoDataFrame(
            {
                "kind": np.where(flagged["status"].eq("ok"), "grid_limit", "grid_" + flagged["status"].astype(str)),
                "flag": flagged["flag"],
                "ref": flagged["grid_code"],
                "reason": flagged["reason"],
            },
            geometry=flagged.geometry.values,
            crs=addresses.crs,
        )
    )
    columns = ["kind", "flag", "ref", "message", "message_en", "reason"]
    parts = [p for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame(columns=columns, geometry=[], crs=addresses.crs)
    out = with_notes(pd.concat(parts, ignore_index=True), note="message")
    return gpd.GeoDataFrame(out[[*columns, "geometry"]], geometry="geometry", crs=addresses.crs)
