"""An in-memory edit session over a run's unit cells: move, merge, split, lock, regenerate, undo/redo, save.

Every edit moves whole unit cells between grids, so the grids always tile each village/community
exactly (the approach of Districtr and Dave's Redistricting App). The session keeps the cell
adjacency in memory and updates grid figures incrementally; an edit is a :class:`Delta` (which
cells changed grid, which locks changed), so undo and redo are the same operation run backwards
or forwards, without limit. Saving assigns codes with the engine's own matching
(:func:`partition.coding.assign_codes` over the households each new grid shares with the grids the
session started from, as ``gridmap partition --previous`` does): a grid that kept most of its
households keeps its code, new grids take numbers never used, retired codes stay in the code
history.

Operations (``op`` names of :meth:`EditSession.apply` and of the ``edits`` table)
------------------------------------------------------------------------------
==========  ===============================================  ==============================
op          arguments                                        refuses (nothing changes)
==========  ===============================================  ==============================
move        ``units`` (cell ids), ``to`` (grid code),        unknown unit/grid, other village,
            ``confirm`` (bool)                               locked grid; warnings unless confirmed
merge       ``grids`` (two or more codes)                    not connected, other villages, locked,
                                                             exclusive grid
split       ``grid``, ``k`` (a count the band allows, or     locked, exclusive, a count outside
            None: the rule's band)                           :meth:`EditSession.split_counts`
lock        ``grids``, ``locked`` (bool)                     unknown grid
regenerate  ``village`` (code)                               not a household-band village
fix         ``grid`` (code): regrid it and its unlocked      in band, locked, exclusive,
            neighbours, warm-started                         nothing to change
undo, redo  —                                                nothing to undo/redo
==========  ===============================================  ==============================
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from geodata.errors import EditError
from geodata.validate import MEASURED_AFTER
from gridmap import catalog
from gridmap.edit.units import adjacency_from_cells, blocks_of_cells, cells_from_layer, units_from_run
from gridmap.options import Options
from gridmap.provenance import file_sha256
from partition.adjacency import MEASURE_PREFIX, CellGraph, subgraph
from partition.coding import assign_codes
from partition.grids import add_measures, dissolve_cells
from partition.measures import polsby_popper
from partition.partition import Partition
from partition.reasons import Reason, ReasonKind, Reasons, encode
from partition.rules import RULES, Rule, RuleSet
from partition.split import split_graph
from partition.tessellation import SLIVER_M2
from partition.values import Band, Flag, Limit

OPS = ("move", "merge", "split", "lock", "regenerate", "fix", "undo", "redo")
"""Operations an edit session accepts (see the module docstring)."""

PROBLEM_KINDS = {
    "out_of_band": (ReasonKind.BELOW_MIN, ReasonKind.ABOVE_MAX),
    "non_contiguous": (ReasonKind.PIECES,),
    "several_groups": (ReasonKind.MANY_GROUPS,),
    "compound_split": (ReasonKind.COMPOUND_SPLIT,),
    "barrier_crossing": (ReasonKind.BARRIER_CROSSING,),
    "exclusive_violated": (ReasonKind.EXCLUSIVE_MIXED,),
    "empty_grid": (ReasonKind.EMPTY_GRID,),
    "limit_unmet": (ReasonKind.LIMIT_UNMET,),
}
"""Problem kind (as listed per village/community) → the reason kinds that word it in the catalog."""

DONE = {
    "move": ReasonKind.MOVED,
    "merge": ReasonKind.MERGED,
    "split": ReasonKind.SPLIT_DONE,
    "lock": ReasonKind.LOCKED,
    "unlock": ReasonKind.UNLOCKED,
    "regenerate": ReasonKind.REGENERATED,
    "fix": ReasonKind.FIXED,
    "undo": ReasonKind.UNDONE,
    "redo": ReasonKind.REDONE,
}
"""Operation → the reason kind of the message the editor shows when it is done."""


def refused(
    kind: ReasonKind, *, field: str, status: int = 409, warnings: list[str] | None = None, **values
) -> EditError:
    """Return an :class:`EditError` worded by the catalog (Chinese, English beside) from one reason (its ``reason``)."""
    reason = Reason.of(kind, **values)
    exc = EditError(catalog.reason_text(reason), field=field, status=status, warnings=warnings)
    exc.reason = reason.to_dict()  # type: ignore[attr-defined]
    return exc


def wrong_type(name: str, expected: str) -> EditError:
    """Return the refusal of request field `name` of the wrong type (`expected`: a catalog.REQUEST_TYPES key)."""
    return refused(ReasonKind.REQUEST_FIELD_TYPE, field=name, status=400, name=name, type=expected)


@dataclass
class Delta:
    """One edit as data: cells that changed grid and grid locks that changed; applied both ways."""

    cells: np.ndarray
    old: np.ndarray
    new: np.ndarray
    locks: list[tuple[int, bool, bool]] = field(default_factory=list)

    def inverse(self) -> Delta:
        """Return the edit that undoes this one."""
        return Delta(self.cells, self.new, self.old, [(g, b, a) for g, a, b in self.locks])


@dataclass
class EditResult:
    """What an operation changed: grid ids touched (alive or removed), warnings, the village."""

    op: str
    grids: list[int]
    village: str
    warnings: list[str] = field(default_factory=list)
    cells: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    """Cells whose grid changed."""


def clean_union(cells: np.ndarray):
    """Union of unit cells as one (Multi)Polygon, without the zero-width gaps of floating-point noding.

    Cells rebuilt in different grids meet along the same border with vertices a hair apart; their
    union can hold holes of ~0 m², repeated points and touching parts, which GEOS's coverage tools
    reject. Holes and parts smaller than :data:`partition.tessellation.SLIVER_M2` are dropped.
    """
    geom = shapely.make_valid(shapely.remove_repeated_points(shapely.union_all(cells), 1e-7))
    polys = shapely.get_parts(geom)
    polys = polys[(shapely.get_type_id(polys) == 3) & (shapely.area(polys) >= SLIVER_M2)]
    shells = []
    for poly in polys:  # a grid has a few parts
        holes = [r for r in poly.interiors if shapely.area(shapely.Polygon(r)) >= SLIVER_M2]
        shells.append(shapely.Polygon(poly.exterior, holes))
    if not shells:
        return geom
    out = shells[0] if len(shells) == 1 else shapely.union_all(shells)
    return shapely.make_valid(shapely.remove_repeated_points(out, 1e-7))


def _village_rules(rules: RuleSet, boundaries: pd.DataFrame | None) -> dict[str, Rule]:
    """Return the rule of every village/community of `boundaries`, picked as the pipeline picks it."""
    if boundaries is None:
        return {}
    b = boundaries.reset_index(drop=True)
    column = {c: b[c] if c in b else pd.Series([None] * len(b)) for c in ("urban_rural", "kind")}
    return {
        str(code): rules.rule_for(code=str(code), urban_rural=ur or None, kind=kind or None)
        for code, ur, kind in zip(b["code"], column["urban_rural"], column["kind"], strict=True)
    }


def _rule(grid_type: str, rule: str, mn: float, mx: float, limits: tuple[Limit, ...]) -> Rule | None:
    """Return the rule a grid was made under (None: an exclusive area, or a rule this version does not know)."""
    if grid_type != "base" or rule not in RULES or not 0 < mn <= mx:
        return None
    return Rule(rule, int(mn), int(mx), limits=limits)


class EditSession:
    """Edit the grids of a run by moving whole unit cells (see the module docstring).

    Parameters
    ----------
    run
        A run (:class:`gridmap.GridResult`, e.g. from :func:`gridmap.read_run`), any CRS.
    barriers
        Barrier lines (roads, rivers) in the run's work CRS, for the "crossing a barrier" problem
        and for the splitter's barrier-aware cuts; None when the run had none or they are gone.
    source
        Where the run came from (recorded in the saved manifest and edits table).
    user
        Who edits (recorded in the edits table).
    """

    def __init__(self, run: Any, *, barriers: np.ndarray | None = None, source: str = "", user: str = "") -> None:
        self.run = run
        self.source = source
        self.user = user
        self.work_crs = run.work_crs
        grids = run.grids.to_crs(self.work_crs).reset_index(drop=True)
        addresses = run.addresses.to_crs(self.work_crs).reset_index(drop=True)
        self._grids0 = grids
        self._addresses = addresses
        self._boundaries = run.boundaries.to_crs(self.work_crs) if run.boundaries is not None else None
        # the cells the run kept (its cells layer); rebuilt from points only for runs without one
        self.kept_cells = getattr(run, "cells", None) is not None and len(run.cells) > 0
        if self.kept_cells:
            cells, self.address_cell = cells_from_layer(run.cells.to_crs(self.work_crs), grids, addresses)
        else:
            cells, self.address_cell = units_from_run(grids, addresses)
        self.cells = cells
        n = len(cells)
        self.geoms = cells.geometry.values
        self.hh = cells["households"].to_numpy(float)
        self.pop = np.nan_to_num(cells["population"].to_numpy(float))
        self.is_unit = (
            cells["units"].to_numpy(float) > 0
            if "units" in cells
            else (self.hh > 0) | cells["building"].notna().to_numpy()
        )
        self.exclusive = cells["exclusive"].to_numpy(bool)
        self.village = cells["village_code"].astype(str).to_numpy()
        self.compound = cells["compound"].to_numpy(object)
        self.labels = cells["label"].astype(str).to_numpy(object)
        self.cell_grid0 = cells["grid"].to_numpy(int)
        if self.kept_cells:  # barrier blocks as the engine cut them
            self.block = cells["block"].to_numpy(int)
        elif self._boundaries is not None:
            self.block = blocks_of_cells(
                cells, self._boundaries, barriers, points=addresses.geometry.values, point_cell=self.address_cell
            )
        else:
            self.block = np.zeros(n, int)
        self.has_barriers = (barriers is not None and len(barriers) > 0) or bool(len(np.unique(self.block)) > 1)
        # the run's rules: a split, regenerate or fix keeps their measure limits and balance as the pipeline does
        self.rules = Options.from_record(run.manifest).rules
        self.village_rule = _village_rules(self.rules, run.boundaries)
        """Village/community code → the rule the run gave it (a village without a boundary: the unknown rule)."""
        per_cell = pd.DataFrame({"n_units": self.is_unit.astype(int)})
        # summed per cell, so every limit but walk_m (walked on the streets after the split) is judged live
        names = dict.fromkeys(n for rule in self.rules.rules() for n in rule.measures if n not in MEASURED_AFTER)
        add_measures(per_cell, self.address_cell, addresses, tuple(names))
        i, j, length = adjacency_from_cells(cells)
        self.edges = (i, j, length)
        sym = coo_matrix((np.r_[length, length], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
        self.adj = csr_matrix(sym)
        xy = shapely.get_coordinates(shapely.point_on_surface(self.geoms))
        self.x, self.y = xy[:, 0], xy[:, 1]
        self.area = shapely.area(self.geoms)
        self.village_cells = pd.Series(np.arange(n)).groupby(self.village).indices
        graph = CellGraph(
            households=self.hh,
            x=self.x,
            y=self.y,
            area=self.area,
            block=self.block,
            compound=self.compound,
            label=self.labels,
            i=i,
            j=j,
            length=length,
            barrier=self.block[i] != self.block[j],
            population=self.pop,
            units=self.is_unit.astype(float),
            group=cells["group"].to_numpy(object) if "group" in cells else None,
            measures={str(c)[len(MEASURE_PREFIX) :]: per_cell[c].to_numpy(float) for c in per_cell.columns[1:]},
        )
        # grid table (grows when splits make grids; a grid with no cells is gone)
        g = len(grids)
        self.code = list(grids["grid_code"].astype(str))
        self.g_village = list(grids["village_code"].astype(str))
        self.g_type = list(grids["grid_type"].astype(str))
        self.g_rule = list(grids["rule"].astype(str))
        self.g_min = list(grids["min_households"].astype(float))
        self.g_max = list(grids["max_households"].astype(float))
        self.locked = [False] * g
        limits = [self.village_rule[v].limits if v in self.village_rule else () for v in self.g_village]
        rules = [_rule(*r) for r in zip(self.g_type, self.g_rule, self.g_min, self.g_max, limits, strict=True)]
        self.partition = Partition(graph, self.cell_grid0, rules)
        """The partition being edited: every edit makes a new one (the engine's figures and rule checks)."""
        self._geom: dict[int, Any] = dict(enumerate(grids.geometry.values))
        self.by_code = {c: k for k, c in enumerate(self.code)}
        names = (
            run.boundaries.set_index(run.boundaries["code"].astype(str))["name"]
            if run.boundaries is not None
            else pd.Series(dtype=object)
        )
        self.village_name = {str(k): str(v) for k, v in names.items()}
        self.undo_stack: list[tuple[dict, Delta]] = []
        self.redo_stack: list[tuple[dict, Delta]] = []
        self.log: list[dict] = []
        self._new = 0
        self._wgs84: np.ndarray | None = None
        self._color: dict[int, str] = {}
        self.journal: Path | None = None
        """The edit log (JSON lines) written as edits are made; None: not kept."""
        self._pending: list[dict] | None = None
        self.journal_refusal: Reason | None = None
        """Why the edit log found cannot be continued (made for another version of the run), else None."""
        self._run_sha256: str | None = None
        self.saved: set[str] = set()
        """Folders this session (or the one it resumed) saved to, resolved: they may be saved over."""
        self._members0: dict | None = None
        self.code_array0 = np.asarray(self.code, dtype=object)
        """The codes of the grids the session started from (by grid id)."""

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | Path, *, user: str = "") -> EditSession:
        """Open a run folder (``gridmap partition --out``) for editing.

        A run gridmap made keeps its cells (the ``cells`` layer): the session edits exactly those,
        with the barrier blocks the engine cut. For a run without cells, its barrier files (roads,
        rivers) are read again from the paths in its manifest when they are still there unchanged
        (same sha256); otherwise barrier crossings are not checked.
        """
        from geodata.errors import GridmapError
        from gridmap.inputs import LayerSpec, read_input
        from gridmap.result import read_run

        run = read_run(folder)
        given = str(run.manifest.get("crs", {}).get("input", "")).lower()
        china = given if given in ("gcj02", "bd09") else None  # the --input-crs the run was made with
        barriers = []
        inputs = run.manifest.get("inputs", {}) if run.cells is None or not len(run.cells) else {}
        for role, spec in inputs.items():
            path = Path(spec.get("path") or "")
            if not role.startswith("barriers") or not path.is_file():
                continue
            try:
                lines, src = read_input(LayerSpec(path, spec.get("layer")), role="barriers", input_crs=china)
            except (GridmapError, OSError):
                continue
            if spec.get("sha256") in (None, src.sha256):
                barriers.append(lines.to_crs(run.work_crs).geometry.values)
        bars = np.concatenate(barriers) if barriers else None
        return cls(run, barriers=bars, source=str(folder), user=user)

    # ---- the partition's figures -------------------------------------------------------------
    @property
    def cell_grid(self) -> np.ndarray:
        """Grid id of every cell (read-only: edits make a new partition)."""
        return self.partition.assignment

    @property
    def g_hh(self) -> np.ndarray:
        """Households of every grid id."""
        return self.partition.households

    @property
    def g_pop(self) -> np.ndarray:
        """Population of every grid id."""
        return self.partition.population

    @property
    def g_units(self) -> np.ndarray:
        """Units (cells holding households) of every grid id."""
        return self.partition.units

    @property
    def g_cells(self) -> np.ndarray:
        """Cells of every grid id (0: the grid is gone)."""
        return self.partition.n_cells

    # ---- lookups ---------------------------------------------------------------------------
    def alive(self, gid: int) -> bool:
        """Return whether grid `gid` still holds at least one cell."""
        return gid < len(self.g_cells) and self.g_cells[gid] > 0

    def grid_id(self, code: Any, *, name: str = "grid") -> int:
        """Return the id of the live grid with `code`, or raise :class:`EditError` naming `name`."""
        if not isinstance(code, str) or not code:
            raise wrong_type(name, "code")
        gid = self.by_code.get(code)
        if gid is None or not self.alive(gid):
            raise refused(ReasonKind.NO_SUCH_GRID, field=name, status=404, grid=code)
        return gid

    def members(self, gid: int) -> np.ndarray:
        """Cell ids of grid `gid`."""
        cand = self.village_cells.get(self.g_village[gid], np.zeros(0, int))
        return cand[self.cell_grid[cand] == gid]

    def grids_of(self, village: str) -> list[int]:
        """Live grid ids of a village/community."""
        cells = self.village_cells.get(village, np.zeros(0, int))
        return [int(g) for g in np.unique(self.cell_grid[cells])]

    def cells_wgs84(self) -> np.ndarray:
        """Return the unit cells in WGS 84 (for the page), computed once."""
        if self._wgs84 is None:
            self._wgs84 = gpd.GeoSeries(self.geoms, crs=self.work_crs).to_crs("EPSG:4326").values
        return self._wgs84

    def villages(self) -> list[str]:
        """Codes of the villages/communities in the run, sorted."""
        return sorted(self.village_cells)

    def geometry(self, gid: int):
        """Grid `gid` as one geometry (union of its cells; cached until the grid changes)."""
        geom = self._geom.get(gid)
        if geom is None:
            members = self.members(gid)
            if self.kept_cells:  # the engine's cells meet vertex for vertex: its own union
                geom = dissolve_cells(self.geoms[members], np.zeros(len(members), int))[0]
            else:
                geom = clean_union(self.geoms[members])
            self._geom[gid] = geom
        return geom

    def status(self, gid: int) -> tuple[str, Reasons]:
        """Status (``ok``, ``under_min``, ``over_max``, ``enclave``) and the reasons of grid `gid`.

        Judged by the partition's rule checks (:class:`partition.partition.Partition`): the band of
        the grid's rule, then contiguity in the cell graph; a village-group grid holding several
        村民小组 says so, and so does a grid missing a measure limit (:meth:`limit_reasons`).
        """
        p = self.partition
        status = str(p.status()[gid])
        hh, mn, mx = self.g_hh[gid], self.g_min[gid], self.g_max[gid]
        why = {
            "under_min": Reason.of(ReasonKind.BELOW_MIN, households=round(hh), min=round(mn)),
            "over_max": Reason.of(ReasonKind.ABOVE_MAX, households=round(hh), max=round(mx)),
            "enclave": Reason.of(ReasonKind.PIECES, pieces=int(p.pieces[gid])),
        }
        reasons: Reasons = (why[status],) if status in why else ()
        if not p.one_group()[gid]:
            reasons = (*reasons, Reason.of(ReasonKind.MANY_GROUPS, groups=int(p.groups[gid])))
        return status, (*reasons, *self.limit_reasons(gid))

    def limit_reasons(self, gid: int) -> Reasons:
        """Return the measure limits of its village's rule grid `gid` misses now (the partition's check).

        An exclusive area is held to its village's limits, as the pipeline holds it. ``walk_m`` is
        not judged: it is walked on the streets after the split, which the editor does not redo.
        """
        rule = self.village_rule.get(self.g_village[gid])
        if self.partition.rules[gid] is None and rule is not None:  # an exclusive area (no rule of its own)
            return self.partition.limit_reasons(gid, limits=rule.limits)
        return self.partition.limit_reasons(gid)

    def figures(self, gids: list[int]) -> list[dict[str, Any]]:
        """Figures of grids `gids` as shown in the editor's panel (geometry not included)."""
        geoms = np.array([self.geometry(g) for g in gids], dtype=object)
        pp = polsby_popper(geoms)
        area = shapely.area(geoms)
        out = []
        for k, gid in enumerate(gids):
            status, reasons = self.status(gid)
            out.append(
                {
                    "grid_code": self.code[gid],
                    "village_code": self.g_village[gid],
                    "village_name": self.village_name.get(self.g_village[gid], ""),
                    "grid_type": self.g_type[gid],
                    "rule": self.g_rule[gid],
                    "households": int(round(self.g_hh[gid])),
                    "population": float(self.g_pop[gid]),
                    "units": int(self.g_units[gid]),
                    "area_m2": float(area[k]),
                    "compactness": float(pp[k]),
                    "min_households": self.g_min[gid],
                    "max_households": self.g_max[gid],
                    "status": status,
                    "status_text": catalog.status_text(status),
                    "note": catalog.note_text(encode(reasons)),
                    "locked": bool(self.locked[gid]),
                    "split_counts": self.split_counts(gid),
                }
            )
        return out

    # ---- codes and colours as saved / as drawn ------------------------------------------------
    def _overlap(self, gids: list[int], villages: set[str]) -> tuple[pd.DataFrame, list[str]]:
        """Households each grid of `gids` shares with the codes the session started from (row = position).

        As :func:`gridmap.make.previous_overlap`, from the session's own cells: an address counts for
        its starting code and for the grid its cell is in now; a starting grid without households is
        matched by the share of its area; a starting code sharing nothing is listed (it retires).
        """
        pos = np.full(len(self.code), -1)
        pos[gids] = np.arange(len(gids))
        a = self._addresses
        cell = self.address_cell
        here = (cell >= 0) & np.isin(self.village[np.maximum(cell, 0)], list(villages))
        n_old = len(self.code_array0)
        old = self.cell_grid0[cell[here]]
        new = pos[self.cell_grid[cell[here]]]  # -1: not among `gids`
        hh = a["households"].to_numpy(float)[here]
        # households per (new grid, old grid) pair, summed in one pass
        pairs, inverse = np.unique((new + 1) * n_old + old, return_inverse=True)
        summed = np.bincount(inverse, weights=hh, minlength=len(pairs))
        new_of, old_of = pairs // n_old - 1, pairs % n_old
        df = pd.DataFrame(
            {
                "grid": np.where(new_of >= 0, new_of, np.nan),
                "old_code": self.code_array0[old_of],
                "households": summed,
            }
        )
        olds = np.flatnonzero(np.isin(np.asarray(self._grids0["village_code"].astype(str)), list(villages)))
        held = np.bincount(old_of, weights=summed, minlength=n_old)
        empty = [g for g in olds if held[g] <= 0]
        if empty:
            cells = np.flatnonzero(np.isin(self.cell_grid0, empty))
            share = pd.DataFrame(
                {"old": self.cell_grid0[cells], "grid": pos[self.cell_grid[cells]], "area": self.area[cells]}
            )
            share = share.groupby(["old", "grid"], as_index=False)["area"].sum()
            share["area"] /= np.maximum(share.groupby("old")["area"].transform("sum"), 1e-9)
            rows = pd.DataFrame(
                {
                    "grid": share["grid"].astype(float),
                    "old_code": self.code_array0[share["old"].to_numpy(int)],
                    "households": share["area"].to_numpy(float),
                }
            )
            df = pd.concat([df, rows[rows["households"] > 1e-6]], ignore_index=True)
        missing = sorted(set(self.code_array0[olds]) - set(df["old_code"]))
        if missing:
            df = pd.concat(
                [df, pd.DataFrame({"grid": np.nan, "old_code": missing, "households": 0.0})], ignore_index=True
            )
        return df, sorted(set(self.run.history) | set(self.code_array0))

    def _coded(self, gids: list[int]) -> list[str]:
        """Return the codes of grids `gids` exactly as :meth:`save` codes them (:func:`gridmap.make.code_grids`)."""
        from gridmap.make import code_table

        geoms = np.array([self._saved_geometry(g) for g in gids], dtype=object)
        villages = [self.g_village[g] for g in gids]
        table = code_table(geoms, villages, [self.g_type[g] for g in gids], shapely.area(geoms))
        overlap, history = self._overlap(gids, set(villages))
        return assign_codes(table, overlap=overlap, history=history).codes.astype(str).tolist()

    def _unchanged(self, gid: int) -> bool:
        """Whether grid `gid` holds exactly the cells it started with."""
        if gid >= len(self._grids0):
            return False
        if self._members0 is None:
            self._members0 = pd.Series(np.arange(len(self.cell_grid0))).groupby(self.cell_grid0).indices
        return np.array_equal(np.sort(self.members(gid)), self._members0.get(gid, np.zeros(0, int)))

    def _saved_geometry(self, gid: int):
        """Return the geometry save writes for grid `gid`: the run's own while unchanged, else its cells' union."""
        return self._grids0.geometry.values[gid] if self._unchanged(gid) else self.geometry(gid)

    def preview_codes(self, village: str) -> dict[int, str]:
        """Return the code save will give every grid of `village` now (grid id → 15-digit code)."""
        gids = self.grids_of(village)
        return dict(zip(gids, self._coded(gids), strict=True))

    def colors(self, village: str) -> dict[int, str]:
        """Fill colour of every grid of `village`: neighbours always differ; a grid keeps its colour while it can."""
        from gridmap.colors import distinct_colors

        cells = self.village_cells[village]
        i, j, _ = self.edges
        mine = np.isin(i, cells)
        gi, gj = self.cell_grid[i[mine]], self.cell_grid[j[mine]]
        touch = gi != gj
        pairs = set(zip(gi[touch].tolist(), gj[touch].tolist(), strict=True))
        gids = sorted(self.grids_of(village), key=lambda g: self.code[g])
        self._color.update(distinct_colors(gids, pairs, self._color))
        return {g: self._color[g] for g in gids}

    # ---- problems --------------------------------------------------------------------------
    def problems(self, village: str) -> list[dict[str, Any]]:
        """Return the problems of one village/community now (see :data:`PROBLEM_KINDS`).

        Out of band, non-contiguous, several 村民小组 in a rural grid and a measure limit missed
        (the partition's rule checks; ``walk_m`` is not judged live), compound split, crossing a
        barrier, exclusive area violated, empty grid. Each is
        ``{"kind", "grid_code", "reason", "text"}``: ``text`` is the catalog's wording of ``reason``.
        """
        cells = self.village_cells.get(village)
        if cells is None:
            raise refused(ReasonKind.NO_SUCH_VILLAGE, field="village", status=404, village=village)
        out: list[dict[str, Any]] = []

        def add(kind: str, gid: int, reason: Reason) -> None:
            assert reason.kind in PROBLEM_KINDS[kind]
            out.append(
                {
                    "kind": kind,
                    "grid_code": self.code[gid],
                    "reason": reason.to_dict(),
                    "text": catalog.reason_text(reason),
                }
            )

        grid = self.cell_grid[cells]
        gids = np.unique(grid)
        p = self.partition
        in_band, contiguous, one_group = p.in_band(), p.contiguous(), p.one_group()
        for gid in gids:
            status, reasons = self.status(int(gid))
            for r in reasons:
                if r.kind in (ReasonKind.BELOW_MIN, ReasonKind.ABOVE_MAX) and not in_band[gid]:
                    add("out_of_band", int(gid), r)
            if self.g_hh[gid] == 0 and self.g_type[gid] == "base":
                add("empty_grid", int(gid), Reason.of(ReasonKind.EMPTY_GRID))
            if not contiguous[gid]:
                add("non_contiguous", int(gid), Reason.of(ReasonKind.PIECES, pieces=int(p.pieces[gid])))
            if not one_group[gid]:
                add("several_groups", int(gid), Reason.of(ReasonKind.MANY_GROUPS, groups=int(p.groups[gid])))
            for r in reasons:
                if r.kind is ReasonKind.LIMIT_UNMET:
                    add("limit_unmet", int(gid), r)
        comp_hh = pd.DataFrame({"compound": self.compound[cells], "grid": grid, "hh": self.hh[cells]})
        comp_hh = comp_hh[comp_hh["compound"].notna()]
        if len(comp_hh):
            per = comp_hh.groupby("compound").agg(hh=("hh", "sum"), n=("grid", "nunique"), first=("grid", "min"))
            mx = max((self.g_max[g] for g in gids), default=np.inf)
            for name, row in per[(per["n"] > 1) & (per["hh"] <= mx)].iterrows():
                why = Reason.of(ReasonKind.COMPOUND_SPLIT, compound=str(name), grids=int(row["n"]))
                add("compound_split", int(row["first"]), why)
        if self.has_barriers:
            occupied = self.hh[cells] > 0
            nb = pd.Series(self.block[cells][occupied]).groupby(grid[occupied]).nunique()
            for gid, k in nb.items():
                if k > 1 and self.g_type[int(gid)] == "base":
                    add("barrier_crossing", int(gid), Reason.of(ReasonKind.BARRIER_CROSSING, blocks=int(k)))
        mixed = {
            int(self.cell_grid[c])
            for c in cells[self.exclusive[cells]]
            if self.cell_grid[c] != self.cell_grid0[c] or self.g_cells[self.cell_grid[c]] != 1
        }
        for gid in sorted(mixed):
            add("exclusive_violated", gid, Reason.of(ReasonKind.EXCLUSIVE_MIXED))
        return out

    # ---- applying edits --------------------------------------------------------------------
    def _apply(self, delta: Delta) -> None:
        # the session keeps its own history as deltas (undo/redo), not as a chain of partitions
        self.partition = self.partition.reassign(delta.cells, delta.new, keep_parent=False)
        for gid in set(delta.old.tolist()) | set(delta.new.tolist()):
            self._geom.pop(gid, None)
        for gid, _, after in delta.locks:
            self.locked[gid] = after

    def _new_grid(self, like: int) -> int:
        self._new += 1
        gid = len(self.code)
        code = f"new-{self._new}"
        self.code.append(code)
        for attr in ("g_village", "g_type", "g_rule", "g_min", "g_max"):
            getattr(self, attr).append(getattr(self, attr)[like])
        self.g_type[gid] = "base"
        self.locked.append(False)
        self.partition = self.partition.with_grids([self.partition.rules[like]], keep_parent=False)
        self.by_code[code] = gid
        return gid

    def _unlocked(self, gids, *, name: str) -> None:
        for gid in gids:
            if self.locked[gid]:
                raise refused(ReasonKind.GRID_LOCKED, field=name, grid=self.code[gid])

    def _connected(self, cells: np.ndarray) -> bool:
        if len(cells) <= 1:
            return True
        return connected_components(self.adj[cells][:, cells], directed=False)[0] == 1

    def apply(self, op: str, **args: Any) -> EditResult:
        """Run one operation (see the module docstring) and record it; nothing changes on error.

        Raises
        ------
        EditError
            Naming the request field at fault, with the HTTP status the API answers with.
        """
        if op not in OPS:
            raise refused(ReasonKind.NO_SUCH_OP, field="op", status=400, op=str(op), expected=list(OPS))
        if op in ("undo", "redo"):
            result = self._undo_redo(op)
            self._record(op, {}, result)
            return result
        delta, result = getattr(self, f"_op_{op}")(**args)
        self._apply(delta)
        self.undo_stack.append(({"op": op, **args}, delta))
        self.redo_stack.clear()
        self._record(op, args, result)
        return result

    # ---- the edit log beside the run (nothing lost) -------------------------------------------
    def open_journal(self, path: str | Path) -> int:
        """Write every edit to `path` (JSON lines) as it is made; return the unsaved edits already there.

        The log's first line names the run it belongs to (the SHA-256 of its ``grids.gpkg``); every
        save adds a line, so edits up to the last save are not offered again. Unsaved edits found
        from an earlier session (a crash, a closed tab) wait for :meth:`resume` or
        :meth:`discard_journal`; the first new edit discards them. A log made for another version
        of the run (or without its first line) can only be discarded (:attr:`journal_refusal`).
        """
        self.journal = Path(path)
        try:
            lines = self.journal.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        entries = [json.loads(line) for line in lines if line.strip()]
        self._pending = entries or None
        head = entries[0] if entries and entries[0].get("op") == "run" else {}
        self.journal_refusal = None
        if self.unsaved() and head.get("grids_sha256") != self.run_sha256():
            self.journal_refusal = Reason.of(ReasonKind.JOURNAL_OTHER_RUN, path=str(self.journal), edits=self.unsaved())
        return self.unsaved()

    def unsaved(self) -> int:
        """Edits of the log found by :meth:`open_journal` made after its last save (0 once resumed or discarded)."""
        pending = self._pending or []
        last = max((k for k, e in enumerate(pending) if e.get("op") == "save"), default=-1)
        return sum(1 for e in pending[last + 1 :] if e.get("op") in OPS)

    def run_sha256(self) -> str:
        """SHA-256 of the run's ``grids.gpkg`` (the version of the run an edit log belongs to); "" without a folder."""
        if self._run_sha256 is None:
            grids = Path(self.source) / "grids.gpkg" if self.source else None
            self._run_sha256 = file_sha256(grids) if grids is not None and grids.is_file() else ""
        return self._run_sha256

    def resume(self) -> int:
        """Apply the edits of the journal again (the session as it was); return how many."""
        if self.journal_refusal is not None:
            raise refused(ReasonKind.JOURNAL_OTHER_RUN, field="journal", path=str(self.journal), edits=self.unsaved())
        pending, self._pending = self._pending or [], None
        journal, self.journal = self.journal, None  # the journal already holds them
        try:
            for entry in pending:
                if entry.get("op") == "save":
                    self.saved.add(str(entry.get("out", "")))
                elif entry.get("op") in OPS:
                    self.apply(str(entry["op"]), **entry.get("args", {}))
        finally:
            self.journal = journal
        return sum(1 for e in pending if e.get("op") in OPS)

    def discard_journal(self) -> None:
        """Start the journal afresh (the earlier session's edits are dropped)."""
        self._pending = None
        self.journal_refusal = None
        if self.journal is not None:
            self.journal.write_text(self._journal_head(), encoding="utf-8")

    def _journal_head(self) -> str:
        head = {"op": "run", "run": self.source, "grids_sha256": self.run_sha256()}
        return json.dumps(head, ensure_ascii=False) + "\n"

    def _journal(self, entry: dict) -> None:
        if self.journal is None:
            return
        if self._pending is not None or not self.journal.exists():
            self.discard_journal()
        with self.journal.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            f.flush()

    def _record(self, op: str, args: dict, result: EditResult) -> None:
        self._journal({"op": op, "args": args})
        self.log.append(
            {
                "seq": len(self.log) + 1,
                "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "user": self.user,
                "op": op,
                "args": json.dumps(args, ensure_ascii=False, default=str),
                "grids": " ".join(self.code[g] for g in result.grids),
            }
        )

    def _undo_redo(self, op: str) -> EditResult:
        src, dst = (self.undo_stack, self.redo_stack) if op == "undo" else (self.redo_stack, self.undo_stack)
        if not src:
            raise refused(ReasonKind.NOTHING_TO_UNDO if op == "undo" else ReasonKind.NOTHING_TO_REDO, field="op")
        entry, delta = src.pop()
        self._apply(delta.inverse() if op == "undo" else delta)
        dst.append((entry, delta))
        gids = sorted(set(delta.old.tolist()) | set(delta.new.tolist()) | {g for g, _, _ in delta.locks})
        village = self.g_village[gids[0]] if gids else ""
        return EditResult(op, gids, village, cells=delta.cells)

    # ---- operations (each returns a Delta without changing anything) -------------------------
    def _op_move(self, units: Any = None, to: Any = None, confirm: bool = False) -> tuple[Delta, EditResult]:
        if (
            not isinstance(units, list)
            or not units
            or not all(isinstance(u, int) and not isinstance(u, bool) for u in units)
        ):
            raise wrong_type("units", "units")
        bad = [u for u in units if not 0 <= u < len(self.cell_grid)]
        if bad:
            raise refused(ReasonKind.NO_SUCH_UNIT, field="units", status=404, number=bad[0])
        target = self.grid_id(to, name="to")
        cells = np.unique(np.asarray(units, int))
        village = self.g_village[target]
        other = cells[self.village[cells] != village]
        if len(other):
            raise refused(ReasonKind.OTHER_VILLAGE, field="units", status=400)
        cells = cells[self.cell_grid[cells] != target]
        if not len(cells):
            raise refused(ReasonKind.ALREADY_THERE, field="units", status=400, grid=to)
        old = self.cell_grid[cells].copy()
        self._unlocked({target, *old.tolist()}, name="units" if any(self.locked[g] for g in old) else "to")
        warnings = self._move_warnings(cells, old, target)
        if warnings and not confirm:
            raise EditError(" ".join(warnings), field="confirm", status=409, warnings=warnings)
        delta = Delta(cells, old, np.full(len(cells), target))
        return delta, EditResult("move", sorted({target, *old.tolist()}), village, warnings, cells)

    def _move_warnings(self, cells: np.ndarray, old: np.ndarray, target: int) -> list[str]:
        """Return what moving `cells` (now in grids `old`) to `target` breaks, worded by the catalog."""
        why: list[Reason] = []
        moving = np.zeros(len(self.cell_grid), bool)
        moving[cells] = True
        for gid in np.unique(old):
            before = self.members(gid)
            after = before[~moving[before]]
            if not len(after):
                why.append(Reason.of(ReasonKind.WOULD_REMOVE, grid=self.code[gid]))
            elif self._connected(before) and not self._connected(after):
                why.append(Reason.of(ReasonKind.WOULD_BREAK, grid=self.code[gid]))
        t_before = self.members(target)
        if self._connected(t_before) and not self._connected(np.r_[t_before, cells]):
            why.append(Reason.of(ReasonKind.NOT_TOUCHING, grid=self.code[target]))
        comps = {c for c in self.compound[cells] if c is not None and c == c}
        if comps:
            vcells = self.village_cells[self.g_village[target]]
            grid_after = self.cell_grid[vcells].copy()
            grid_after[moving[vcells]] = target
            for name in sorted(comps, key=str):
                inside = self.compound[vcells] == name
                if len(np.unique(self.cell_grid[vcells][inside])) == 1 and len(np.unique(grid_after[inside])) > 1:
                    why.append(Reason.of(ReasonKind.WOULD_SPLIT_COMPOUND, compound=str(name)))
        if self.exclusive[cells].any() or self.g_type[target] != "base":
            why.append(Reason.of(ReasonKind.WOULD_CHANGE_EXCLUSIVE))
        return [catalog.reason_text(r) for r in why]

    def _op_merge(self, grids: Any = None) -> tuple[Delta, EditResult]:
        if not isinstance(grids, list) or not all(isinstance(c, str) for c in grids):
            raise wrong_type("grids", "codes")
        gids = list(dict.fromkeys(self.grid_id(c, name="grids") for c in grids))
        if len(gids) < 2:  # noqa: PLR2004
            raise refused(ReasonKind.MERGE_FEW, field="grids", status=400)
        if len({self.g_village[g] for g in gids}) > 1:
            raise refused(ReasonKind.OTHER_VILLAGE, field="grids", status=400)
        for g in gids:
            if self.g_type[g] != "base":
                raise refused(ReasonKind.EXCLUSIVE_FIXED, field="grids", grid=self.code[g])
        self._unlocked(gids, name="grids")
        cells = np.concatenate([self.members(g) for g in gids])
        if not self._connected(cells):
            raise refused(ReasonKind.NOT_CONNECTED, field="grids", status=400, grids=[self.code[g] for g in gids])
        keep = gids[0]  # the saved code is the coding's choice (shown by preview_codes)
        moved = cells[self.cell_grid[cells] != keep]
        delta = Delta(moved, self.cell_grid[moved].copy(), np.full(len(moved), keep))
        return delta, EditResult("merge", [keep, *(g for g in gids if g != keep)], self.g_village[keep], cells=moved)

    def _parts(
        self, cells: np.ndarray, mn: float, mx: float, *, previous: np.ndarray | None = None
    ) -> list[np.ndarray]:
        rule = self.village_rule.get(self.village[cells[0]], self.rules.unknown)
        parts = split_graph(
            subgraph(self.partition.graph, cells),
            min_households=mn,
            max_households=mx,
            previous=previous,
            limits=rule.limits,
            balance=rule.balance,
        )
        return [cells[list(p.nodes)] for p in parts]

    def split_counts(self, gid: int) -> list[int]:
        """Numbers of grids `gid` may be split into: those whose mean households fall in its band.

        A grid without a household band (one 村民小组, one village) may be split into 2-9 parts,
        at most one per unit with households.
        """
        n_units = int((self.hh[self.members(gid)] > 0).sum())
        if self.g_type[gid] != "base" or n_units < 2:  # noqa: PLR2004
            return []
        hh, mn, mx = float(self.g_hh[gid]), self.g_min[gid], self.g_max[gid]
        if self.g_rule[gid] != "household_band" or not 0 < mn <= mx:
            return list(range(2, min(9, n_units) + 1))
        return [k for k in Band(mn, mx).feasible_counts(hh) if 2 <= k <= n_units]  # noqa: PLR2004

    def split_parts(self, grid: Any = None, k: Any = None) -> tuple[int, list[np.ndarray]]:
        """Return the parts a split of `grid` into `k` grids would make (largest first); nothing changes.

        The cuts keep the measure limits and balance of the village's rule, as the pipeline's do.

        Raises
        ------
        EditError
            When `k` is not one of :meth:`split_counts` (or the grid is locked or exclusive).
        """
        gid = self.grid_id(grid, name="grid")
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 2):  # noqa: PLR2004
            raise wrong_type("k", "k")
        if self.g_type[gid] != "base":
            raise refused(ReasonKind.EXCLUSIVE_FIXED, field="grid", grid=self.code[gid])
        self._unlocked((gid,), name="grid")
        allowed = self.split_counts(gid)
        hh = round(float(self.g_hh[gid]))
        no_split = refused(
            ReasonKind.SPLIT_NONE,
            field="k",
            grid=self.code[gid],
            households=hh,
            min=round(self.g_min[gid]),
            max=round(self.g_max[gid]),
        )
        if not allowed:
            raise no_split
        if k is not None and k not in allowed:
            shown = [f"{allowed[0]}–{allowed[-1]}" if len(allowed) > 1 else str(allowed[0])]
            raise refused(ReasonKind.SPLIT_COUNT, field="k", grid=self.code[gid], households=hh, k=k, allowed=shown)
        cells = self.members(gid)
        if k is None and self.g_rule[gid] == "household_band":
            mn, mx = self.g_min[gid], self.g_max[gid]
        else:  # a band centred on hh/k: the splitter's choice of k is then exactly k
            want = k or allowed[0]
            mn, mx = hh / want * 0.75, hh / want * 1.25
        parts = self._parts(cells, mn, mx)
        if len(parts) < 2:  # noqa: PLR2004
            raise no_split
        parts.sort(key=lambda p: (-self.hh[p].sum(), int(p.min())))
        return gid, parts

    def _op_split(self, grid: Any = None, k: Any = 2) -> tuple[Delta, EditResult]:
        gid, parts = self.split_parts(grid, k)
        cells = self.members(gid)
        new_of = np.full(len(self.cell_grid), -1)
        ids = [gid] + [self._new_grid(gid) for _ in parts[1:]]
        for p, g in zip(parts, ids, strict=True):
            new_of[p] = g
        moved = cells[new_of[cells] != gid]
        delta = Delta(moved, np.full(len(moved), gid), new_of[moved])
        return delta, EditResult("split", ids, self.g_village[gid], cells=moved)

    def _op_lock(self, grids: Any = None, locked: Any = True) -> tuple[Delta, EditResult]:
        if not isinstance(grids, list) or not grids:
            raise wrong_type("grids", "codes")
        if not isinstance(locked, bool):
            raise wrong_type("locked", "bool")
        gids = [self.grid_id(c, name="grids") for c in grids]
        locks = [(g, self.locked[g], locked) for g in dict.fromkeys(gids)]
        return Delta(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), locks), EditResult(
            "lock" if locked else "unlock", gids, self.g_village[gids[0]]
        )

    def _op_regenerate(self, village: Any = None) -> tuple[Delta, EditResult]:
        if not isinstance(village, str) or village not in self.village_cells:
            raise refused(ReasonKind.NO_SUCH_VILLAGE, field="village", status=404, village=str(village))
        gids = self.grids_of(village)
        free = [g for g in gids if not self.locked[g] and self.g_type[g] == "base"]
        if not free or self.g_rule[free[0]] != "household_band":
            raise refused(ReasonKind.NO_REGENERATE, field="village", village=village)
        cells = self.village_cells[village]
        delta, ids = self._regrid(cells[np.isin(self.cell_grid[cells], free)], free)
        return delta, EditResult("regenerate", sorted(set(free) | set(ids)), village, cells=delta.cells)

    def regrid_parts(self, cells: np.ndarray, free: list[int]) -> list[tuple[np.ndarray, int | None]]:
        """Return the engine's parts of `cells` (grids `free`), each with the grid id it keeps (None: a new grid).

        The splitter is warm-started from the grids as they are, so only what the band requires
        changes (keep-valid style), and keeps the measure limits and balance of the village's rule
        as the pipeline does; a part takes the id of the freed grid it shares most households with.
        """
        parts = self._parts(cells, self.g_min[free[0]], self.g_max[free[0]], previous=self.cell_grid[cells])
        out: list[tuple[np.ndarray, int | None]] = []
        taken: set[int] = set()
        for p in sorted(parts, key=lambda p: (-self.hh[p].sum(), int(p.min()))):
            share = pd.Series(self.hh[p] + 1e-9).groupby(self.cell_grid[p]).sum().sort_values(ascending=False)
            gid = next((int(g) for g in share.index if int(g) not in taken), None)
            if gid is not None:
                taken.add(gid)
            out.append((p, gid))
        return out

    def _regrid(self, cells: np.ndarray, free: list[int]) -> tuple[Delta, list[int]]:
        new_of = np.full(len(self.cell_grid), -1)
        ids = []
        for p, gid in self.regrid_parts(cells, free):
            gid = self._new_grid(free[0]) if gid is None else gid
            ids.append(gid)
            new_of[p] = gid
        moved = cells[new_of[cells] != self.cell_grid[cells]]
        return Delta(moved, self.cell_grid[moved].copy(), new_of[moved]), ids

    def fix_area(self, grid: Any = None) -> tuple[int, np.ndarray, list[int]]:
        """Return grid `grid`, the cells a fix may move and the grids they are in: it and its free neighbours.

        Raises
        ------
        EditError
            When the grid is locked, exclusive, not a household-band grid, or within its band.
        """
        gid = self.grid_id(grid, name="grid")
        if self.g_type[gid] != "base":
            raise refused(ReasonKind.EXCLUSIVE_FIXED, field="grid", grid=self.code[gid])
        self._unlocked((gid,), name="grid")
        if self.g_rule[gid] != "household_band" or self.partition.in_band()[gid]:
            raise refused(ReasonKind.FIX_NONE, field="grid", grid=self.code[gid])
        near = np.unique(self.cell_grid[np.unique(self.adj[self.members(gid)].indices)])
        free = [gid] + [
            int(g)
            for g in near
            if g != gid
            and self.g_village[g] == self.g_village[gid]
            and self.g_type[g] == "base"
            and self.g_rule[g] == "household_band"
            and not self.locked[g]
        ]
        cells = np.concatenate([self.members(g) for g in free])
        return gid, cells, free

    def _op_fix(self, grid: Any = None) -> tuple[Delta, EditResult]:
        gid, cells, free = self.fix_area(grid)
        delta, ids = self._regrid(cells, free)
        if not len(delta.cells):
            raise refused(ReasonKind.FIX_NONE, field="grid", grid=self.code[gid])
        return delta, EditResult("fix", sorted(set(free) | set(ids)), self.g_village[gid], cells=delta.cells)

    # ---- saving ------------------------------------------------------------------------------
    def edits_table(self) -> pd.DataFrame:
        """Return the operations of this session in order (undo/redo included), replayable with :func:`replay`."""
        return pd.DataFrame(self.log, columns=["seq", "time", "user", "op", "args", "grids"])

    def to_result(self) -> Any:
        """Build the edited run: grids re-coded and re-validated, addresses re-assigned, new manifest.

        Codes are kept by the matching of ``--previous`` (:func:`partition.coding.assign_codes` on the
        households each grid shares with the grids the session started from); the code history
        carries every code ever issued, so a retired code is never given again.
        """
        from gridmap.make import cells_frame, code_grids, tidy_grids, violations_frame
        from gridmap.result import GridResult

        t = time.perf_counter()
        live = [g for g in range(len(self.code)) if self.alive(g)]
        pos = np.full(len(self.code), -1)
        pos[live] = np.arange(len(live))
        rows, geoms = [], []
        for g in live:
            unchanged = self._unchanged(g)
            geom = self._saved_geometry(g)
            if unchanged:
                src = self._grids0.iloc[g]
                status, flag = str(src["status"]), str(src.get("flag") or "")
                reason, note = src.get("reason"), str(src.get("note") or "")
            else:
                status, reasons = self.status(g)
                flag = "" if status == "ok" else (Flag.ENCLAVE if status == "enclave" else Flag.EDITED)
                if not flag and any(r.kind is ReasonKind.LIMIT_UNMET for r in reasons):
                    flag = Flag.LIMIT_UNMET  # listed with the run's limit violations, as the pipeline does
                reason, note = encode((Reason.of(ReasonKind.EDITED), *reasons)), ""
            rows.append(
                {
                    "village_code": self.g_village[g],
                    "village_name": self.village_name.get(self.g_village[g], ""),
                    "grid_type": self.g_type[g],
                    "rule": self.g_rule[g],
                    "households": self.g_hh[g],
                    "population": self.g_pop[g],
                    "units": int(self.g_units[g]),
                    "status": status,
                    "flag": flag,
                    "note": note,
                    "reason": reason,
                    "min_households": self.g_min[g],
                    "max_households": self.g_max[g],
                    "kept": False,
                }
            )
            geoms.append(geom)
        geoms_arr = np.array(geoms, dtype=object)
        grids = gpd.GeoDataFrame(rows, geometry=geoms_arr, crs=self.work_crs)
        addresses = self._addresses.copy()
        cell = self.address_cell
        addr_grid = np.where(cell >= 0, pos[self.cell_grid[np.maximum(cell, 0)]], -1)
        overlap, history = self._overlap(live, set(self.village_cells))
        assignment = code_grids(grids, overlap=overlap, history=history)
        cells = cells_frame(
            pd.DataFrame(
                {
                    "grid": pos[self.cell_grid],
                    "households": self.hh,
                    "population": self.cells["population"].to_numpy(float),
                    "n_units": self.is_unit.astype(np.int64),
                    "unit_id": self.cells["building"].to_numpy(object),
                    "label": self.labels,
                    "group": self.cells["group"].to_numpy(object),
                    "compound": self.compound,
                    "block": self.block,
                    "geometry": self.geoms,
                }
            ),
            grids,
            crs=self.work_crs,
        )
        codes = grids["grid_code"].to_numpy()
        types = grids["grid_type"].to_numpy()
        addresses["grid_code"] = np.where(addr_grid >= 0, codes[np.maximum(addr_grid, 0)], None)
        addresses["grid_type"] = np.where(addr_grid >= 0, types[np.maximum(addr_grid, 0)], None)
        addresses = addresses.drop(columns=[c for c in ("liaison_code",) if c in addresses])
        # household-liaison groups (联户) are made again inside every grid, with the run's band
        band = self.run.manifest.get("liaison")
        liaison = None
        if band and self.run.liaison is not None:
            from partition.liaison import liaison_groups

            liaison, addresses["liaison_code"] = liaison_groups(
                grids, addresses, addr_grid, min_households=band[0], max_households=band[1]
            )
            liaison = catalog.with_notes(liaison)
        # the run's limited/balanced measures are summed again over the edited grids
        measures = [m for m in self.run.measures() if m in addresses.columns]
        placed = addr_grid >= 0
        for m in measures:
            values = addresses[m].to_numpy(float)[placed]
            grids[m] = np.bincount(addr_grid[placed], weights=values, minlength=len(grids))[: len(grids)]
        grids = tidy_grids(catalog.with_notes(grids), measures=measures)
        violations = violations_frame(addresses, [], grids)
        manifest = copy.deepcopy(self.run.manifest)
        manifest["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        manifest.setdefault("counts", {}).update(
            {
                "grids": int(len(grids)),
                "addresses": int(len(addresses)),
                "addresses_without_grid": int((addr_grid < 0).sum()),
                "kept_grids": 0,
            }
        )
        manifest["retired_codes"] = assignment.retired
        for stale in ("walk", "workers"):  # walks and workers were made for the grids before the edits
            manifest.pop(stale, None)
        manifest["edited"] = {"from": self.source, "edits": len(self.log), "ops": self.log}
        manifest["timings_s"] = {"edit_save": round(time.perf_counter() - t, 3)}
        out_crs = self.run.grids.crs
        return GridResult(
            grids=grids.to_crs(out_crs),
            addresses=addresses.to_crs(out_crs),
            violations=violations.to_crs(out_crs),
            boundaries=self.run.boundaries,
            code_changes=assignment.changes,
            history=assignment.history,
            manifest=manifest,
            liaison=liaison.to_crs(out_crs) if liaison is not None else None,
            work_crs=self.work_crs,
            cells=cells,
        )

    def save(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the edited run as a complete run folder (see :meth:`to_result`) plus the ``edits`` table.

        The folder appears only when every file, the ``edits`` table included, was written.

        Raises
        ------
        OutputExistsError
            When `out` exists and `overwrite` is false.
        UnsafeOutputError
            When `out` is the run being edited, or not a folder gridmap made.
        """
        from geodata import io as gio

        out = Path(out)
        result = self.to_result()
        with gio.atomic_dir(out, overwrite=overwrite, inputs=[self.source] if self.source else ()) as tmp:
            staged = result.save(tmp / "run")
            gio.write_table(staged / "grids.gpkg", self.edits_table(), layer="edits")
            for f in staged.iterdir():
                f.rename(tmp / f.name)
            staged.rmdir()
        self.saved.add(str(out.resolve()))
        self._journal({"op": "save", "out": str(out.resolve())})
        return out


def replay(session: EditSession, edits: pd.DataFrame) -> EditSession:
    """Apply an ``edits`` table (from a saved run) to a session opened on the run it was made from."""
    for op, args in zip(edits["op"], edits["args"], strict=True):
        session.apply(str(op), **json.loads(args or "{}"))
    return session
