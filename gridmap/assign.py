"""Assign workers (网格员) to a run's grids: the ``workers`` layer, ``workers.csv`` and the worker loads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from geodata import io as gio
from geodata.crs import utm_crs
from geodata.errors import InputError, OptionError, Problem
from geodata.schema import WORKER_COLUMNS
from gridmap.result import GridResult
from partition.measures import summary
from partition.values import GridCode
from partition.workers import assign_workers as assign_regions
from partition.workers import composite_load, grid_neighbours

COLUMNS = {
    "worker": ("worker", "网格员", "姓名"),
    "capacity": ("capacity", "工作能力", "能力"),
    "township": ("township", "乡镇", "街道"),
}
"""Columns of a workers table: canonical name → the headers accepted for it (the first is canonical)."""
DEFAULT_WEIGHTS = {"households": 1.0}


def read_worker_table(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read a workers table (CSV or a sheet of an XLSX/XLS): ``worker``, optional ``capacity`` and ``township``.

    ``capacity`` is the share of a full load the worker carries (1 when blank; 0.5 part-time);
    ``township`` (9-digit code) keeps the worker in that township.

    Raises
    ------
    InputError
        Naming the file, row and column of every blank or repeated name, capacity that is not a
        positive number, and township that is not 9 digits.
    """
    path = Path(path)
    df = gio.read_tabular(path, sheet=sheet)
    return check_worker_table(df, file=str(path))


def check_worker_table(df: pd.DataFrame, *, file: str = "workers") -> pd.DataFrame:
    """Return a workers table with canonical columns (``worker``, ``capacity``, ``township``), checked.

    Raises
    ------
    InputError
        Every problem at once, each naming `file`, the row and the column.
    """
    rows = df.attrs.get("rows", "csv")
    found = {}
    for name, heads in COLUMNS.items():
        hit = next((c for c in df.columns if str(c).strip().lower() in heads), None)
        if hit is not None:
            found[name] = hit
    if "worker" not in found:
        raise InputError(
            Problem(
                file,
                f"has no worker column (columns: {', '.join(map(str, df.columns))}).",
                "name the column of the workers' names 'worker' (or 网格员).",
                column="worker",
            )
        )
    text = {name: df[col].astype(str).str.strip().where(df[col].notna(), "") for name, col in found.items()}
    names = text["worker"]
    problems: list[Problem] = []

    def bad(i: int, column: str, message: str, fix: str) -> None:
        problems.append(Problem(file, message, fix, row=gio.row_label(rows, i), column=found.get(column, column)))

    for i in np.flatnonzero(names.eq("").to_numpy()):
        bad(int(i), "worker", "has no worker name.", "fill in the name or delete the row.")
    for i in np.flatnonzero((names.duplicated() & names.ne("")).to_numpy()):
        bad(int(i), "worker", f"repeats the worker '{names.iloc[i]}'.", "give every worker one row.")
    cap = pd.Series(1.0, index=df.index)
    if "capacity" in text:
        raw = text["capacity"]
        num = pd.to_numeric(raw.where(raw.ne(""), "1"), errors="coerce")
        for i in np.flatnonzero(~(num > 0).to_numpy() | ~np.isfinite(num.to_numpy(float))):
            bad(
                int(i),
                "capacity",
                f"the capacity '{raw.iloc[i]}' is not a positive number.",
                "write the share of a full load, e.g. 1 or 0.5 (blank: 1).",
            )
        cap = num
    town = pd.Series([None] * len(df), index=df.index, dtype=object)
    if "township" in text:
        t = text["township"]
        for i in np.flatnonzero((t.ne("") & ~t.str.fullmatch(r"[0-9]{9}")).to_numpy()):
            bad(
                int(i),
                "township",
                f"the township '{t.iloc[i]}' is not a 9-digit township code.",
                "write the first 9 digits of the village codes (乡镇/街道代码), or leave it blank.",
            )
        town = pd.Series([v or None for v in t], index=df.index, dtype=object)
    if problems:
        raise InputError(problems[:50])
    return pd.DataFrame({"worker": names, "capacity": cap.astype(float), "township": town}).reset_index(drop=True)


def assign_workers(
    result: GridResult,
    workers: int | pd.DataFrame,
    *,
    weights: Mapping[str, float] | None = None,
    file: str = "workers",
) -> GridResult:
    """Return `result` with workers assigned: contiguous grids within one township each, loads balanced.

    Parameters
    ----------
    result
        A run (:func:`gridmap.make_grids` or :func:`gridmap.read_run`).
    workers
        How many workers (named ``<township>-01``, ``-02``, …), or a workers table
        (:func:`read_worker_table`: ``worker``, ``capacity``, ``township``).
    weights
        Measure → weight of the composite load (measures are grid columns, e.g. ``households``,
        ``population``, ``walk_m``); each measure is divided by its mean first. Default: households.
    file
        Name of the workers table in messages.

    Returns
    -------
    result
        A copy with ``workers`` (one dissolved area per worker: ``worker``, ``township``,
        ``capacity``, ``grids``, ``load``, ``load_per_capacity``, ``pieces`` and the sum of every
        measure), ``worker_grids`` (``grid_code`` → ``worker``) and ``manifest["workers"]``.

    Raises
    ------
    OptionError
        When a weight names no numeric, non-negative grid column, or the workers cannot cover the
        townships (fewer workers than townships, more than grids).
    InputError
        When a pinned township has no grids in the run.

    Examples
    --------
    >>> import geopandas as gpd, gridmap
    >>> from geodata.sample import sample_path
    >>> p = sample_path()
    >>> run = gridmap.make_grids(gpd.read_file(p, layer="addresses"), gpd.read_file(p, layer="boundaries"))
    >>> staffed = gridmap.assign_workers(run, 6)
    >>> len(staffed.workers), int(staffed.workers["pieces"].max())
    (6, 1)
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    grids = result.grids
    _check_weights(grids, weights)
    table = _staff(workers, file=file)
    work = result.work_crs or utm_crs(grids)
    g = grids.to_crs(work)
    township = GridCode.townships(g["village_code"]).to_numpy(object)
    pins = [t if isinstance(t, str) and t else None for t in table["township"]]
    missing = sorted({t for t in pins if t is not None} - set(township))
    if missing:
        raise InputError(
            Problem(
                file,
                f"names township(s) {', '.join(missing)}, which have no grids in this run.",
                "use the first 9 digits of the run's village codes, or leave the township blank.",
                column="township",
            )
        )
    load = composite_load(g, weights)
    capacity = table["capacity"].to_numpy(float)
    plan = assign_regions(
        g.geometry.values, township, load, capacity=capacity, pinned=pins, neighbours=_neighbours(result, g)
    )
    names = table["worker"].to_numpy(object).copy()
    if not isinstance(workers, pd.DataFrame):
        names = _numbered(plan.township)
    measures = [c for c in dict.fromkeys(["households", "population", *weights]) if c in g]
    per = pd.DataFrame({"w": plan.worker, "load": load})
    for m in measures:
        per[m] = pd.to_numeric(g[m], errors="coerce").fillna(0).to_numpy(float)
    sums = per.groupby("w").sum().reindex(range(len(names)), fill_value=0)
    counts = np.bincount(plan.worker, minlength=len(names))
    areas = _areas(result, g, plan.worker, len(names))
    layer = gpd.GeoDataFrame(
        {
            "worker": names,
            "township": plan.township,
            "capacity": capacity,
            "grids": counts,
            "load": sums["load"].to_numpy().round(3),
            "load_per_capacity": (sums["load"].to_numpy() / capacity).round(3),
            "pieces": plan.pieces,
            **{m: sums[m].to_numpy().round(1) for m in measures},
        },
        geometry=areas,
        crs=work,
    ).to_crs(grids.crs)
    layer = layer[[*WORKER_COLUMNS, *measures, "geometry"]]
    pairs = pd.DataFrame({"grid_code": g["grid_code"].astype(str).to_numpy(), "worker": names[plan.worker]})
    balance = summary(layer["load_per_capacity"].to_numpy(float))
    manifest = dict(result.manifest)
    manifest["workers"] = {
        "workers": len(names),
        "weights": weights,
        "townships": int(len(set(plan.township))),
        "contiguous": int((plan.pieces == 1).sum()),
        **{k: (None if v is None or not np.isfinite(v) else round(float(v), 4)) for k, v in balance.items()},
    }
    return dataclasses.replace(result, workers=layer, worker_grids=pairs, manifest=manifest)


def _neighbours(result: GridResult, grids: gpd.GeoDataFrame) -> nx.Graph:
    """Which grids share a border: from the run's cells where kept (exact in the work CRS), else the outlines."""
    cells = result.cells
    if cells is not None and len(cells):
        row = pd.Series(np.arange(len(grids)), index=grids["grid_code"].astype(str).to_numpy())
        at = row.reindex(cells["grid_code"].astype(str)).to_numpy()
        if not pd.isna(at).any():
            geoms = cells.to_crs(grids.crs).geometry.values
            return grid_neighbours(grids.geometry.values, cells=geoms, cell_grid=at.astype(int))
    return grid_neighbours(grids.geometry.values)


def _areas(result: GridResult, grids: gpd.GeoDataFrame, worker: np.ndarray, n: int) -> list:
    """One dissolved area per worker, from the run's cells where kept (they tile exactly in the work CRS)."""
    cells = result.cells
    if cells is not None and len(cells):
        row = pd.Series(worker, index=grids["grid_code"].astype(str).to_numpy())
        at = row.reindex(cells["grid_code"].astype(str)).to_numpy()
        geoms = cells.to_crs(grids.crs).geometry.values
        if not pd.isna(at).any():
            return [shapely.union_all(geoms[at == w]) for w in range(n)]
    return [shapely.union_all(grids.geometry.values[worker == w]) for w in range(n)]


def _staff(workers: int | pd.DataFrame, *, file: str) -> pd.DataFrame:
    if isinstance(workers, pd.DataFrame):
        return check_worker_table(workers, file=file)
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise OptionError(f"`workers` must be a whole number of at least 1 or a workers table, got {workers!r}.")
    n = int(workers)
    return pd.DataFrame({"worker": [f"{i + 1}" for i in range(n)], "capacity": 1.0, "township": [None] * n})


def _numbered(township: np.ndarray) -> np.ndarray:
    """Names ``<township>-01``, ``-02``, … in the order the workers were given their township."""
    seen: dict[str, int] = {}
    out = []
    for t in township:
        seen[t] = seen.get(t, 0) + 1
        out.append(f"{t}-{seen[t]:02d}")
    return np.array(out, dtype=object)


def _check_weights(grids: pd.DataFrame, weights: Mapping[str, float]) -> None:
    problems = []
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not np.isfinite(w) or w < 0:
            problems.append(f"the weight of '{name}' must be a number ≥ 0, got {w!r}")
        elif name not in grids.columns:
            problems.append(f"'{name}' is not a column of the grids (columns: {', '.join(map(str, grids.columns))})")
        else:
            v = pd.to_numeric(grids[name], errors="coerce")
            if (grids[name].notna() & v.isna()).any():
                problems.append(f"'{name}' is not numeric in every grid")
            elif (v < 0).any():
                problems.append(f"'{name}' is negative in {int((v < 0).sum())} grids")
    if not problems and not any(w > 0 for w in weights.values()):
        problems.append("every weight is 0")
    if problems:
        msg = "`weights`: " + "; ".join(problems) + "."
        raise OptionError(msg, fix="weigh numeric grid columns, e.g. households=1 population=0.5.")
