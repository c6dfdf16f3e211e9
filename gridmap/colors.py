"""Colours of grids by workload status and rule, shared by the web map, the print layout, exports and QGIS styles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmap.catalog import STATUS
from partition.values import DEFAULT_BAND

STATUS_COLORS = {"ok": "#54a24b", "under_min": "#4c9bd6", "over_max": "#e45756", "enclave": "#b279a2"}
GROUP_COLOR = "#72b7b2"
"""Village-group (rural) grids: one per 村民小组, no household band, so not coloured as 'in band'."""
SINGLE_COLOR = "#bab0ac"
EXCLUSIVE_COLOR = "#f58518"


def status_colors(grids: pd.DataFrame) -> np.ndarray:
    """Return the fill colour of each grid.

    Exclusive, village-group and single-grid rules have their own colour; household-band grids are
    coloured by status; any grid in pieces is 'enclave'.
    """
    status = grids["status"].astype(str)
    rule = grids["rule"].astype(str) if "rule" in grids else pd.Series("household_band", index=grids.index)
    exclusive = grids["grid_type"].astype(str).ne("base") if "grid_type" in grids else rule.eq("exclusive")
    return np.select(
        [
            exclusive,
            status.eq("enclave"),
            rule.eq("village_group") & status.eq("ok"),
            rule.eq("single") & status.eq("ok"),
        ],
        [EXCLUSIVE_COLOR, STATUS_COLORS["enclave"], GROUP_COLOR, SINGLE_COLOR],
        default=status.map(STATUS_COLORS).fillna("#999999").to_numpy(),
    )


GRID_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
    "#d4a6c8",
    "#a0cbe8",
)
"""Colours the editor gives grids one by one (Tableau 10 and two lighter ones), so neighbours differ."""


def distinct_colors(
    grids: list[int],
    touching: set[tuple[int, int]],
    previous: dict[int, str],
    *,
    palette: tuple[str, ...] = GRID_PALETTE,
) -> dict[int, str]:
    """Colour every grid so that touching grids differ, keeping each grid's previous colour while it can.

    Greedy in the order of `grids`: a grid keeps its colour from `previous` unless a grid coloured
    before it that touches it has it; otherwise it takes the first palette colour no touching grid
    has, the least used one first (any, least used, when it touches more grids than there are colours).
    """
    near: dict[int, set[int]] = {g: set() for g in grids}
    for a, b in touching:
        if a in near and b in near:
            near[a].add(b)
            near[b].add(a)
    out: dict[int, str] = {}
    for g in grids:
        taken = {out[n] for n in near[g] if n in out}
        mine = previous.get(g)
        if mine is None or mine in taken or mine not in palette:
            used = list(out.values()) + [c for k, c in previous.items() if k not in near]
            free = [c for c in palette if c not in taken] or list(palette)
            mine = min(free, key=used.count)  # the least used: grids far apart differ too
        out[g] = mine
    return out


def band_ends(grids: pd.DataFrame) -> tuple[int, int]:
    """Lowest minimum and highest maximum of the household-band grids (the default band when there are none)."""
    band = grids[grids["rule"].eq("household_band")] if "rule" in grids else grids
    if len(band) and "min_households" in band:
        return int(band["min_households"].min()), int(band["max_households"].max())
    return int(DEFAULT_BAND.min_households), int(DEFAULT_BAND.max_households)


def status_legend(grids: pd.DataFrame) -> list[dict]:
    """Return the legend rows (colour, label, rule) of the status colours present in `grids`, Chinese and English."""
    lo, hi = band_ends(grids)
    rows = [
        (
            STATUS_COLORS["ok"],
            STATUS["ok"],
            (f"社区户数区间规则：{lo}–{hi} 户", f"household-band rule (communities): {lo}–{hi}"),
        ),
        (
            STATUS_COLORS["under_min"],
            STATUS["under_min"],
            (f"户数区间规则：少于 {lo} 户", f"household-band rule: below {lo}"),
        ),
        (
            STATUS_COLORS["over_max"],
            STATUS["over_max"],
            (f"户数区间规则：多于 {hi} 户", f"household-band rule: above {hi}"),
        ),
        (
            GROUP_COLOR,
            ("村民小组网格", "village-group grid"),
            ("村：一村民小组一格，不设户数区间", "villages: one grid per group, no band"),
        ),
        (SINGLE_COLOR, ("整村一格", "single grid"), ("按规则整村/社区为一格", "whole village as one grid by rule")),
        (
            EXCLUSIVE_COLOR,
            ("专属网格", "exclusive grid"),
            ("学校、医院等专属区域", "schools, hospitals and other exclusive areas"),
        ),
        (STATUS_COLORS["enclave"], STATUS["enclave"], ("任何规则：网格由几块组成", "any rule: grid in several pieces")),
    ]
    colors = set(status_colors(grids)) if len(grids) else set()
    return [{"color": c, "label": list(lab), "rule": list(r)} for c, lab, r in rows if c in colors]
