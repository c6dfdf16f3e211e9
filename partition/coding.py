"""Grid codes: village code + 3-digit sequence in reading order, inherited across regenerations.

Reading order. Within a village/community, grids are ordered like text: rows from north to south,
west to east within a row. A grid's position is its label point (``point_on_surface``, always
inside the grid). Let ``s`` be the square root of the median grid area of that village (one
typical grid side). Rows are formed from the north: the northernmost grid not yet in a row opens a
new row, and every other grid whose label point lies less than ``s / 2`` below that grid's joins it.
Within a row grids run west to east (ties: north first, then input order), so the order is fully
deterministic and a reader finds 001 at the top left.

Sequences (:class:`partition.values.GridCode`). ``000`` when the village/community is one grid;
``001-799`` base grids; ``800-999`` exclusive grids (专属网格).

Inheritance. With a previous layer, new and old grids of the same village are matched by shared
households with an optimal one-to-one assignment (``scipy.optimize.linear_sum_assignment``). A new
grid inherits an old code when it holds the majority of that old grid's households and both are
of the same kind (base or exclusive); a village that was one grid (``000``) and still is keeps
``000``. Other new grids get the next number never used in that
village (the history of every code ever issued is carried from run to run), so a retired code is
never reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geodata.errors import CodeSpaceError
from partition.reasons import Reason, ReasonKind, encode
from partition.values import CodeKind, GridCode


@dataclass
class CodeAssignment:
    """Result of :func:`assign_codes`."""

    codes: pd.Series
    changes: pd.DataFrame
    history: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def reading_order(x: np.ndarray, y: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Return the positions of grids of one village sorted in reading order (see module docstring)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) == 0:
        return np.zeros(0, int)
    half = max(float(np.sqrt(np.median(area))), 1e-9) / 2
    by_y = np.lexsort((x, -y))
    row = np.empty(len(x), int)
    r, top = -1, np.inf
    for i in by_y:
        if y[i] <= top - half:
            r, top = r + 1, y[i]
        row[i] = r
    return np.lexsort((np.arange(len(x)), -y, x, row))


def assign_codes(
    grids: pd.DataFrame,
    *,
    overlap: pd.DataFrame | None = None,
    history: Iterable[str] = (),
    fixed: pd.Series | None = None,
) -> CodeAssignment:
    """Give every grid its 15-digit ``grid_code``.

    Parameters
    ----------
    grids
        One row per grid with ``village_code``, ``exclusive`` (bool), label point ``x``, ``y``
        (metric) and ``area``.
    overlap
        Households shared with a previous layer: rows of ``grid`` (index label in `grids`),
        ``old_code`` and ``households``; plus every old grid's total in rows whose ``grid`` is
        missing (NaN) so households that left the area count too. ``None`` for a fresh run.
    history
        Every code issued by earlier runs (retired ones included); never reused.
    fixed
        Codes that must not change (grids kept by ``--keep-valid``), indexed like `grids`;
        missing/None where the grid is to be coded as usual.

    Returns
    -------
    assignment
        ``codes`` (indexed like `grids`), ``changes`` (old code, new code, households moved,
        reason), the updated ``history`` and the ``retired`` codes.
    """
    fixed_of = _fixed_codes(grids.index, fixed)
    shared = _Shared.of(overlap)
    used_all = set(history) | set(fixed_of.values()) | set(shared.total)
    codes: dict[object, str] = dict.fromkeys(grids.index, "")
    change_rows: list[dict] = []
    retired: list[str] = []
    # codes by village once (not one scan of the whole history per village)
    used_by: dict[str, set[int]] = {}
    for c in used_all:
        if GridCode.is_code(c):
            parsed = GridCode.parse(c)
            used_by.setdefault(parsed.village, set()).add(parsed.seq)
    old_by: dict[str, list[str]] = {}
    for c in shared.total:
        if GridCode.is_code(c):
            old_by.setdefault(GridCode.parse(c).village, []).append(c)
    for village, g in grids.groupby("village_code", sort=True):
        used = used_by.get(village, set())
        order = reading_order(g["x"].to_numpy(), g["y"].to_numpy(), g["area"].to_numpy())
        ordered = g.index[order].tolist()
        exclusive = g["exclusive"].to_numpy(bool)[order]
        undivided = len(g) == 1 and not exclusive[0]
        inherited: dict[object, str] = {gid: fixed_of[gid] for gid in ordered if gid in fixed_of}
        old_here = old_by.get(village, [])
        if undivided:
            whole = str(GridCode.undivided(village))
            codes[ordered[0]] = whole
            if whole in old_here and ordered[0] not in inherited:  # one grid before and now: it keeps 000
                inherited[ordered[0]] = whole
        taken = set(inherited.values())
        free_old = [c for c in old_here if c not in taken]
        if free_old and not undivided:
            rows = [gid for gid in ordered if gid not in inherited]
            ex_of = dict(zip(ordered, exclusive, strict=True))
            mat = np.zeros((len(rows), len(free_old)))
            for j, c in enumerate(free_old):
                mat[:, j] = [shared.by_grid[c].get(r, 0.0) for r in rows]
            from scipy.optimize import linear_sum_assignment  # only when re-coding: scipy.optimize takes 0.3 s to load

            a, b = linear_sum_assignment(mat, maximize=True)
            for i, j in zip(a, b, strict=True):
                code = free_old[j]
                kind = GridCode.parse(code).kind
                if kind is CodeKind.UNDIVIDED or (kind is CodeKind.EXCLUSIVE) != bool(ex_of[rows[i]]):
                    continue
                if mat[i, j] > 0.5 * shared.total[code]:
                    inherited[rows[i]] = code
        codes.update(inherited)
        for grid_id, ex in zip(ordered, exclusive, strict=True):
            if not codes[grid_id]:
                issued = GridCode.next_free(village, used, exclusive=bool(ex))
                codes[grid_id] = str(issued)
                used.add(issued.seq)
        heir_of = {c: gid for gid, c in reversed(inherited.items())}  # the first grid holding each code
        for code in old_here:
            change_rows.append(_change(code, heir_of.get(code), shared, codes, fixed_of))
            if heir_of.get(code) is None:
                retired.append(code)
    if overlap is not None:
        change_rows += [
            dict(old_code="", new_code=code, households_moved=0.0, reason="new grid")
            for code in codes.values()
            if code not in shared.total
        ]
    history_out = sorted(used_all | set(codes.values()))
    changes = pd.DataFrame(change_rows, columns=["old_code", "new_code", "households_moved", "reason"])
    return CodeAssignment(
        codes=pd.Series(list(codes.values()), index=grids.index, dtype=object),
        changes=changes,
        history=history_out,
        retired=sorted(retired),
    )


def _fixed_codes(index: pd.Index, fixed: pd.Series | None) -> dict[object, str]:
    """Return the codes `fixed` keeps, by grid label (blank, missing and ``"None"`` keep nothing)."""
    if fixed is None:
        return {}
    return {gid: str(c) for gid, c in fixed.reindex(index).items() if pd.notna(c) and str(c) != "" and str(c) != "None"}


@dataclass
class _Shared:
    """Households shared with a previous layer, summed once: per old code, its total and its share per new grid."""

    total: dict[str, float]
    by_grid: dict[str, dict[object, float]]

    @classmethod
    def of(cls, overlap: pd.DataFrame | None) -> _Shared:
        if overlap is None or not len(overlap):
            return cls({}, {})
        total = overlap.groupby("old_code")["households"].sum()
        by_grid: dict[str, dict[object, float]] = {c: {} for c in total.index}
        for grid, code, h in overlap[["grid", "old_code", "households"]].itertuples(index=False, name=None):
            if pd.notna(grid):
                mine = by_grid[code]
                mine[grid] = mine.get(grid, 0.0) + h
        return cls(total.to_dict(), by_grid)


def _change(code: str, heir: object, shared: _Shared, codes: dict[object, str], fixed: dict[object, str]) -> dict:
    """Return the change record of old code `code`: kept by `heir`, else retired (split, merged or emptied)."""
    total = shared.total[code]
    if heir is not None and heir in fixed:
        return dict(old_code=code, new_code=code, households_moved=0.0, reason="kept unchanged (--keep-valid)")
    if heir is not None:
        moved = float(total - shared.by_grid[code].get(heir, 0.0))
        return dict(old_code=code, new_code=code, households_moved=moved, reason="kept")
    by_new = dict(sorted(shared.by_grid[code].items()))
    values = np.array(list(by_new.values()), float)
    if values.sum() == 0:
        reason, new = "retired: no households left", ""
    else:
        top = list(by_new)[int(np.argmax(values))]
        reason = "retired: split" if (values > 0).sum() > 1 and values.max() <= 0.5 * total else "retired: merged"
        new = codes[top]
    return dict(old_code=code, new_code=new, households_moved=float(total), reason=reason)


def liaison_order_codes(grid_code: str, n: int) -> list[str]:
    """Return the codes of `n` household-liaison groups (联户) of a grid: grid code + 2 digits."""
    if n > 99:
        msg = f"grid {grid_code} would need {n} liaison groups; at most 99 fit in two digits."
        raise CodeSpaceError(msg)
    return [f"{grid_code}{i:02d}" for i in range(1, n + 1)]


def check_codes(grids: pd.DataFrame, *, retired: Iterable[str] = ()) -> pd.DataFrame:
    """Check the grid codes of a layer (made by gridmap or not).

    Parameters
    ----------
    grids
        One row per grid with ``grid_code`` and, when known, ``village_code`` and ``grid_type``
        (``base`` or ``exclusive/...``).
    retired
        Codes recorded as retired (a run's ``retired_codes``, its code changes): a grid of the
        layer that still uses one is an error, since publishing the record would block a live code.

    Returns
    -------
    problems
        One row per finding: ``grid_code``, ``check`` (``format``, ``unique``, ``prefix``,
        ``range``, ``single``, ``retired``, ``gap``), ``severity`` (``error``; ``warning`` for
        gaps, which are normal after grids were retired) and ``reason`` (JSON of
        :mod:`partition.reasons`, worded by :mod:`gridmap.catalog`). Empty when every code is right.
    """
    rows: list[dict] = []

    def add(code: str, check: str, reason: Reason, severity: str = "error") -> None:
        rows.append(dict(grid_code=code, check=check, severity=severity, reason=encode([reason])))

    codes = grids["grid_code"].astype(str).str.strip()
    fmt = GridCode.valid(codes)
    for code in codes[~fmt]:
        add(code, "format", Reason.of(ReasonKind.CODE_FORMAT, code=code))
    for code in codes[codes.duplicated(keep="first") & fmt]:
        add(code, "unique", Reason.of(ReasonKind.CODE_REPEATED, code=code))
    ok = grids[fmt.to_numpy()].assign(grid_code=codes[fmt])
    seq = GridCode.seqs(ok["grid_code"])
    village = GridCode.villages(ok["grid_code"])
    if "village_code" in ok:
        vc = ok["village_code"].astype(str).str.strip()
        for code, v in zip(ok["grid_code"][village != vc], vc[village != vc], strict=True):
            add(code, "prefix", Reason.of(ReasonKind.CODE_PREFIX, code=code, village_code=v))
    base, exclusive = GridCode.BASE_RANGE, GridCode.EXCLUSIVE_RANGE
    if "grid_type" in ok:
        ex = ok["grid_type"].astype(str).str.startswith("exclusive")
        for code in ok["grid_code"][ex & ~seq.isin(exclusive)]:
            add(code, "range", Reason.of(ReasonKind.CODE_RANGE_EXCLUSIVE, code=code))
        for code in ok["grid_code"][~ex & ~seq.isin(base) & seq.ne(GridCode.UNDIVIDED)]:
            add(code, "range", Reason.of(ReasonKind.CODE_RANGE_BASE, code=code))
    n_per = village.map(village.value_counts())
    single = seq.eq(GridCode.UNDIVIDED) & n_per.gt(1)
    for code, n in zip(ok["grid_code"][single], n_per[single], strict=True):
        add(code, "single", Reason.of(ReasonKind.CODE_SINGLE, code=code, grids=int(n)))
    for code in sorted(set(ok["grid_code"]) & {str(c) for c in retired}):
        add(code, "retired", Reason.of(ReasonKind.CODE_RETIRED, code=code))
    for v, s in seq.groupby(village):
        for r in (base, exclusive):
            used = sorted(x for x in s if x in r)
            missing = sorted(set(range(r.start, used[-1] + 1)) - set(used)) if used else []
            if missing:
                why = Reason.of(
                    ReasonKind.CODE_GAP,
                    village_code=str(v),
                    missing=[f"{m:03d}" for m in missing[:SHOWN_GAPS]],
                    more=len(missing) > SHOWN_GAPS,
                )
                add(str(GridCode(str(v), used[-1])), "gap", why, "warning")
    return pd.DataFrame(rows, columns=["grid_code", "check", "severity", "reason"])


SHOWN_GAPS = 10
"""Unused sequence numbers a gap finding lists (then "…")."""
