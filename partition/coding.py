"""Grid codes: village code + 3-digit sequence in reading order, inherited across regenerations.

Reading order. Within a village/community, grids are ordered like text: rows from north to south,
west to east within a row. A grid's position is its label point (``point_on_surface``, always
inside the grid). Let ``s`` be the square root of the median grid area of that village (one
typical grid side). Rows are formed from the north: the northernmost grid not yet in a row opens a
new row, and every other grid whose label point lies less than ``s / 2`` below that grid's joins it.
Within a row grids run west to east (ties: north first, then input order), so the order is fully
deterministic and a reader finds 001 at the top left.

Sequences. ``000`` when the village/community is one grid; ``001-799`` base grids; ``800-999``
exclusive grids (专属网格).

Inheritance. With a previous layer, new and old grids of the same village are matched by shared
households with an optimal one-to-one assignment (``scipy.optimize.linear_sum_assignment``). A new
grid inherits an old code when it holds the majority of that old grid's households and both are
of the same kind (base or exclusive). Other new grids get the next number never used in that
village (the history of every code ever issued is carried from run to run), so a retired code is
never reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from geodata.errors import CodeSpaceError

BASE_RANGE = (1, 799)
EXCLUSIVE_RANGE = (800, 999)


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


def _range_of(exclusive: bool) -> tuple[int, int]:
    return EXCLUSIVE_RANGE if exclusive else BASE_RANGE


def _seq_kind(seq: int) -> bool | None:
    if seq == 0:
        return None
    return seq >= EXCLUSIVE_RANGE[0]


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
    codes = pd.Series("", index=grids.index, dtype=object)
    fixed = fixed.reindex(grids.index) if fixed is not None else pd.Series(None, index=grids.index, dtype=object)
    fixed = fixed.where(fixed.notna() & fixed.astype(str).ne("") & fixed.astype(str).ne("None"))
    used_all = set(history) | set(fixed.dropna())
    change_rows: list[dict] = []
    retired: list[str] = []
    old_total = pd.Series(dtype=float)
    if overlap is not None and len(overlap):
        old_total = overlap.groupby("old_code")["households"].sum()
        used_all |= set(old_total.index)
    # codes by village once (not one scan of the whole history per village)
    used_by: dict[str, set[int]] = {}
    for c in used_all:
        if len(c) == 15:
            used_by.setdefault(c[:12], set()).add(int(c[12:]))
    old_by: dict[str, list[str]] = {}
    for c in old_total.index:
        old_by.setdefault(c[:12], []).append(c)
    ov_by = dict(iter(overlap.groupby("old_code"))) if overlap is not None and len(overlap) else {}
    ov_village = dict(iter(overlap.groupby(overlap["old_code"].str[:12]))) if overlap is not None and ov_by else {}
    for village, g in grids.groupby("village_code", sort=True):
        used = used_by.get(village, set())
        order = reading_order(g["x"].to_numpy(), g["y"].to_numpy(), g["area"].to_numpy())
        ordered = g.index[order]
        exclusive = g["exclusive"].to_numpy(bool)[order]
        if len(g) == 1 and not exclusive[0]:
            codes[ordered[0]] = village + "000"
        inherited: dict[object, str] = {gid: str(fixed[gid]) for gid in ordered if pd.notna(fixed[gid])}
        old_here = old_by.get(village, [])
        free_old = [c for c in old_here if c not in set(inherited.values())]
        if free_old and not (len(g) == 1 and not exclusive[0]):
            ov = ov_village[village]
            ov = ov[ov["old_code"].isin(free_old) & ov["grid"].isin(g.index)]
            rows = [gid for gid in ordered if gid not in inherited]
            cols = free_old
            ex_of = dict(zip(ordered, exclusive, strict=True))
            mat = np.zeros((len(rows), len(cols)))
            ri = {r: i for i, r in enumerate(rows)}
            ci = {c: j for j, c in enumerate(cols)}
            for r, c, h in ov[["grid", "old_code", "households"]].itertuples(index=False):
                mat[ri[r], ci[c]] += h
            a, b = linear_sum_assignment(mat, maximize=True)
            for i, j in zip(a, b, strict=True):
                code = cols[j]
                seq = int(code[12:])
                kind = _seq_kind(seq)
                if kind is None or kind != bool(ex_of[rows[i]]):
                    continue
                if mat[i, j] > 0.5 * old_total[code]:
                    inherited[rows[i]] = code
        for grid_id, code in inherited.items():
            codes[grid_id] = code
        for is_ex in (False, True):
            lo, hi = _range_of(is_ex)
            nxt = max([s for s in used if lo <= s <= hi] + [lo - 1]) + 1
            for grid_id, ex in zip(ordered, exclusive, strict=True):
                if ex != is_ex or codes[grid_id]:
                    continue
                if nxt > hi:
                    msg = (
                        f"village {village} has run out of {'exclusive' if is_ex else 'base'} grid numbers "
                        f"({lo:03d}-{hi:03d})."
                    )
                    raise CodeSpaceError(msg)
                codes[grid_id] = f"{village}{nxt:03d}"
                used.add(nxt)
                nxt += 1
        for code in old_here:
            heirs = [gid for gid, c in inherited.items() if c == code]
            if heirs and pd.notna(fixed[heirs[0]]):
                change_rows.append(
                    dict(old_code=code, new_code=code, households_moved=0.0, reason="kept unchanged (--keep-valid)")
                )
                continue
            if heirs:
                mine = ov_by[code]
                kept = mine.loc[mine["grid"] == heirs[0], "households"].sum()
                moved = float(old_total[code] - kept)
                change_rows.append(dict(old_code=code, new_code=code, households_moved=moved, reason="kept"))
                continue
            retired.append(code)
            share = ov_by[code][ov_by[code]["grid"].notna()]
            by_new = share.groupby("grid")["households"].sum()
            if by_new.sum() == 0:
                reason = "retired: no households left"
                new = ""
            elif (by_new > 0).sum() > 1 and by_new.max() <= 0.5 * old_total[code]:
                reason = "retired: split"
                new = codes[by_new.idxmax()]
            else:
                reason = "retired: merged"
                new = codes[by_new.idxmax()]
            change_rows.append(
                dict(old_code=code, new_code=new, households_moved=float(old_total[code]), reason=reason)
            )
    new_codes = set(codes)
    old_codes = set(old_total.index)
    for code in codes:
        if overlap is not None and code not in old_codes:
            change_rows.append(dict(old_code="", new_code=code, households_moved=0.0, reason="new grid"))
    history_out = sorted(used_all | new_codes)
    changes = pd.DataFrame(change_rows, columns=["old_code", "new_code", "households_moved", "reason"])
    return CodeAssignment(codes=codes, changes=changes, history=history_out, retired=sorted(retired))


def liaison_order_codes(grid_code: str, n: int) -> list[str]:
    """Return the codes of `n` household-liaison groups (联户) of a grid: grid code + 2 digits."""
    if n > 99:
        msg = f"grid {grid_code} would need {n} liaison groups; at most 99 fit in two digits."
        raise CodeSpaceError(msg)
    return [f"{grid_code}{i:02d}" for i in range(1, n + 1)]


def check_codes(grids: pd.DataFrame) -> pd.DataFrame:
    """Check the grid codes of a layer (made by gridmap or not).

    Parameters
    ----------
    grids
        One row per grid with ``grid_code`` and, when known, ``village_code`` and ``grid_type``
        (``base`` or ``exclusive/...``).

    Returns
    -------
    problems
        One row per finding: ``grid_code``, ``check`` (``format``, ``unique``, ``prefix``,
        ``range``, ``single``, ``gap``), ``severity`` (``error``; ``warning`` for gaps, which are
        normal after grids were retired) and ``message``. Empty when every code is right.
    """
    rows: list[dict] = []

    def add(code, check, message, severity="error"):
        rows.append(dict(grid_code=code, check=check, severity=severity, message=message))

    codes = grids["grid_code"].astype(str).str.strip()
    fmt = codes.str.fullmatch(r"[0-9]{15}")  # ASCII only: \d also matches full-width and Arabic-Indic digits
    for code in codes[~fmt]:
        add(
            code,
            "format",
            f"'{code}' is not 15 digits (ASCII 0-9; 12-digit village/community code + 3-digit sequence).",
        )
    for code in codes[codes.duplicated(keep="first") & fmt]:
        add(code, "unique", f"{code} is used by more than one grid.")
    ok = grids[fmt.to_numpy()].assign(grid_code=codes[fmt])
    if "village_code" in ok:
        vc = ok["village_code"].astype(str).str.strip()
        for code, v in zip(
            ok["grid_code"][ok["grid_code"].str[:12] != vc], vc[ok["grid_code"].str[:12] != vc], strict=True
        ):
            add(code, "prefix", f"{code} starts with {code[:12]}, but its village/community is {v}.")
    seq = ok["grid_code"].str[12:].astype(int)
    village = ok["grid_code"].str[:12]
    if "grid_type" in ok:
        ex = ok["grid_type"].astype(str).str.startswith("exclusive")
        bad_ex = ex & ~seq.between(*EXCLUSIVE_RANGE)
        bad_base = ~ex & ~seq.between(*BASE_RANGE) & seq.ne(0)
        for code in ok["grid_code"][bad_ex]:
            add(code, "range", f"{code} is an exclusive grid: its sequence must be 800-999.")
        for code in ok["grid_code"][bad_base]:
            add(code, "range", f"{code} is a base grid: its sequence must be 001-799 (000 for an undivided village).")
    n_per = village.map(village.value_counts())
    for code in ok["grid_code"][seq.eq(0) & n_per.gt(1)]:
        add(
            code,
            "single",
            f"{code} uses 000 (undivided village) but its village has "
            f"{int(n_per[ok['grid_code'] == code].iloc[0])} grids.",
        )
    for v, s in seq.groupby(village):
        for lo, hi in (BASE_RANGE, EXCLUSIVE_RANGE):
            used = sorted(x for x in s if lo <= x <= hi)
            if used:
                missing = sorted(set(range(lo, used[-1] + 1)) - set(used))
                if missing:
                    shown = ", ".join(f"{m:03d}" for m in missing[:10]) + (" …" if len(missing) > 10 else "")
                    add(
                        f"{v}{used[-1]:03d}",
                        "gap",
                        f"village {v}: sequence numbers {shown} are not in use (retired or skipped).",
                        "warning",
                    )
    return pd.DataFrame(rows, columns=["grid_code", "check", "severity", "message"])
