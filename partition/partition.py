"""The partition a run is made of: cells, their adjacency, the grid of every cell, and the rule checks on it.

After GerryChain's ``Partition``: a :class:`Partition` is a cell graph
(:class:`partition.adjacency.CellGraph`) plus an assignment (the grid of every cell) plus the
rule of every grid. Per-grid figures (households, population, units, measures, pieces, 村民小组) are
computed from the assignment when first asked for and cached. A partition is never changed:
:meth:`Partition.move` and :meth:`Partition.flip` return a new partition whose ``parent`` is the
old one, and tallies update from the cells that changed grid.

Checks (each a method returning one value per grid, so a failure names its grids; ``limit_reasons``
judges one grid and says what it misses):

===================  =====================================================================
check                a grid passes when
===================  =====================================================================
``in_band``          it is not a household-band grid, or holds ``min..max`` households
``contiguous``       its cells are connected in the cell graph (or it has at most one cell)
``one_group``        it is not a village-group (rural) grid, or its cells hold at most one
                     村民小组
``limit_reasons``    its measure totals meet every limit of its rule (:class:`partition.values.Limit`);
                     one grid at a time, a ``limit_unmet`` reason per miss. A limit on a measure
                     the cells do not carry (``walk_m``, walked on the streets after the split) is
                     not judged here
===================  =====================================================================

:meth:`Partition.status` combines them into the :class:`partition.values.Status` of every grid,
as the engine writes it: out of band first, then in pieces (``enclave``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geodata.errors import OptionError
from partition.adjacency import MEASURE_PREFIX, CellGraph
from partition.reasons import Reason, ReasonKind, Reasons
from partition.rules import Rule
from partition.values import Limit, Status

TALLIES = ("households", "population", "units", "n_cells")
"""Per-grid sums kept up to date from the cells that change grid (with every ``measure:<name>`` total)."""


def band_status(households: np.ndarray, rule: Rule | None) -> np.ndarray:
    """Status of grids of `households` under `rule`: its :class:`partition.values.Band` decides.

    Only household-band rules have a band; every other rule (and no rule: an exclusive area) is ``ok``.
    """
    hh = np.asarray(households, float)
    if rule is None or rule.name != "household_band":
        return np.full(len(hh), Status.OK.value, dtype=object)
    return rule.band.statuses(hh)


def unmet_limits(limits: Iterable[Limit], totals: Mapping[str, float]) -> Reasons:
    """Return one ``limit_unmet`` reason for every limit of `limits` its measure's total in `totals` misses.

    A limit whose measure is not in `totals` is not judged. The pipeline's grids and the editor's
    live problems are both worded from here.
    """
    return tuple(
        Reason.of(ReasonKind.LIMIT_UNMET, measure=lim.measure, value=round(float(value), 2), limit=lim.missed(value))
        for lim in limits
        if (value := totals.get(lim.measure)) is not None and not lim.contains(float(value))
    )


def _tallied(name: str) -> bool:
    return name in TALLIES or name.startswith(MEASURE_PREFIX)


class Partition:
    """Cells assigned to grids, with per-grid figures and rule checks computed on demand.

    Parameters
    ----------
    graph
        The cells and their rook adjacency (node ``i`` is cell ``i``).
    assignment
        Grid id (0..n_grids-1) of every cell.
    rules
        Rule of every grid id (None: an exclusive area, which has no rule); its length is the
        number of grids, so a grid may be empty.
    parent
        The partition this one was made from (set by :meth:`move` and :meth:`flip`).
    """

    __slots__ = ("_cache", "_moved", "_rule_table", "assignment", "graph", "parent", "rules")

    def __init__(
        self,
        graph: CellGraph,
        assignment: np.ndarray,
        rules: Sequence[Rule | None],
        *,
        parent: Partition | None = None,
    ) -> None:
        assignment = np.asarray(assignment, dtype=np.int64)
        if len(assignment) != len(graph):
            msg = f"`assignment` has {len(assignment)} entries for {len(graph)} cells."
            raise OptionError(msg)
        if len(assignment) and (assignment.min() < 0 or assignment.max() >= len(rules)):
            msg = f"`assignment` names grids outside 0..{len(rules) - 1}."
            raise OptionError(msg)
        assignment.flags.writeable = False
        self.graph = graph
        self.assignment = assignment
        self.rules = tuple(rules)
        self.parent = parent
        self._cache: dict[str, np.ndarray] = {}
        self._moved: np.ndarray | None = None
        self._rule_table: tuple[dict[Rule | None, list[int]], np.ndarray] | None = None

    def __len__(self) -> int:
        """Return the number of grid ids (empty grids included)."""
        return len(self.rules)

    def __repr__(self) -> str:
        live = int((self.n_cells > 0).sum())
        return f"<Partition: {len(self.graph)} cells in {live} grids>"

    # ---- new partitions ----------------------------------------------------------------------
    def flip(self, flips: Mapping[int, int]) -> Partition:
        """Return a new partition with cell ``c`` in grid ``flips[c]``; this one is unchanged."""
        cells = np.fromiter(flips.keys(), dtype=np.int64, count=len(flips))
        to = np.fromiter(flips.values(), dtype=np.int64, count=len(flips))
        return self.reassign(cells, to)

    def reassign(self, cells: np.ndarray, grids: np.ndarray, *, keep_parent: bool = True) -> Partition:
        """Return a new partition with cell ``cells[k]`` in grid ``grids[k]`` (:meth:`flip` as arrays).

        `cells` must be distinct. Without `keep_parent` the new partition does not hold on to this
        one (a long edit session keeps its own history).
        """
        cells, grids = np.asarray(cells, dtype=np.int64), np.asarray(grids, dtype=np.int64)
        return self._with(cells, grids, parent=self if keep_parent else None)

    def move(self, cells: Sequence[int] | np.ndarray, to_grid: int) -> Partition:
        """Return a new partition with `cells` in grid `to_grid`; this one is unchanged.

        `to_grid` may be ``len(self)``: a new grid, under the rule of the first moved cell's grid.
        """
        cells = np.unique(np.asarray(cells, dtype=np.int64))
        return self._with(cells, np.full(len(cells), int(to_grid)), parent=self)

    def with_grids(self, rules: Sequence[Rule | None], *, keep_parent: bool = True) -> Partition:
        """Return a new partition with empty grids of `rules` added after the existing ones."""
        child = Partition(self.graph, self.assignment, (*self.rules, *rules), parent=self if keep_parent else None)
        for name, tally in self._cache.items():
            if _tallied(name):
                child._cache[name] = np.r_[tally, np.zeros(len(rules))]
        return child

    def _with(self, cells: np.ndarray, to: np.ndarray, *, parent: Partition | None = None) -> Partition:
        rules = self.rules
        if len(to) and to.max() >= len(rules):
            if to.max() > len(rules):
                msg = f"grid {int(to.max())} does not exist; a new grid is number {len(rules)}."
                raise OptionError(msg)
            rules = (*rules, rules[int(self.assignment[cells[np.argmax(to)]])])
        assignment = self.assignment.copy()
        old = assignment[cells]
        assignment[cells] = to
        child = Partition(self.graph, assignment, rules, parent=parent)
        if rules is self.rules:
            child._rule_table = self._rule_table  # the same grids under the same rules
        changed = old != to
        child._moved = cells[changed]
        # tallies follow the cells that changed grid (GerryChain's updaters on flows)
        for name in [n for n in self._cache if _tallied(n)]:
            weight = self._weight(name)[cells[changed]]
            tally = np.zeros(len(rules))
            tally[: len(self.rules)] = self._cache[name]
            np.subtract.at(tally, old[changed], weight)
            np.add.at(tally, to[changed], weight)
            child._cache[name] = tally
        return child

    # ---- figures -------------------------------------------------------------------------------
    def _weight(self, name: str) -> np.ndarray:
        if name.startswith(MEASURE_PREFIX):
            return np.nan_to_num(np.asarray(self.graph.measures[name[len(MEASURE_PREFIX) :]], float))
        if name == "n_cells":
            return np.ones(len(self.graph))
        if name == "households":
            return np.asarray(self.graph.households, float)
        if name == "population":
            pop = self.graph.population
            return np.zeros(len(self.graph)) if pop is None else np.nan_to_num(np.asarray(pop, float))
        units = self.graph.units
        return (
            (np.asarray(self.graph.households, float) > 0).astype(float) if units is None else np.asarray(units, float)
        )

    def _tally(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = np.bincount(self.assignment, weights=self._weight(name), minlength=len(self))
        return self._cache[name]

    @property
    def households(self) -> np.ndarray:
        """Households of every grid."""
        return self._tally("households")

    @property
    def population(self) -> np.ndarray:
        """Population of every grid (cells without population count 0)."""
        return self._tally("population")

    @property
    def units(self) -> np.ndarray:
        """Indivisible units (cells holding households) of every grid."""
        return self._tally("units")

    @property
    def n_cells(self) -> np.ndarray:
        """Number of cells of every grid (0: the grid is gone)."""
        return self._tally("n_cells")

    def measure(self, name: str) -> np.ndarray:
        """Total of measure `name` (one of the graph's ``measures``) in every grid."""
        if name not in self.graph.measures:
            msg = f"measure `{name}` is not on the cells; they carry {', '.join(self.graph.measures) or 'none'}."
            raise OptionError(msg)
        return self._tally(MEASURE_PREFIX + name)

    @property
    def moved(self) -> np.ndarray:
        """Cells whose grid differs from the parent's (empty for a partition without parent)."""
        return np.zeros(0, np.int64) if self._moved is None else self._moved

    def cells_of(self, grid: int) -> np.ndarray:
        """Cell ids of `grid`."""
        return np.flatnonzero(self.assignment == grid)

    @property
    def pieces(self) -> np.ndarray:
        """Connected pieces of every grid in the cell graph (0 for an empty grid)."""
        if "pieces" not in self._cache:
            g, a = self.graph, self.assignment
            same = a[g.i] == a[g.j]
            n = len(g)
            m = coo_matrix((np.ones(int(same.sum())), (g.i[same], g.j[same])), shape=(n, n))
            _, comp = connected_components(m, directed=False)
            # each component lies in one grid: count the components of every grid
            first = np.unique(comp, return_index=True)[1]
            self._cache["pieces"] = np.bincount(a[first], minlength=len(self)).astype(float)
        return self._cache["pieces"]

    @property
    def groups(self) -> np.ndarray:
        """Number of distinct 村民小组 among the cells of every grid (cells without one not counted)."""
        if "groups" not in self._cache:
            out = np.zeros(len(self))
            group = self.graph.group
            known = pd.notna(group) if group is not None else np.zeros(0, bool)
            if known.any():
                codes = pd.factorize(np.asarray(group, object)[known])[0]
                pairs = np.unique(self.assignment[known] * (codes.max() + 1) + codes)
                out = np.bincount(pairs // (codes.max() + 1), minlength=len(self)).astype(float)
            self._cache["groups"] = out
        return self._cache["groups"]

    # ---- checks --------------------------------------------------------------------------------
    def in_band(self) -> np.ndarray:
        """Per grid: not a household-band grid, or ``min..max`` households."""
        return self._band_status() == Status.OK.value

    def contiguous(self) -> np.ndarray:
        """Per grid: its cells are connected (empty and one-cell grids are)."""
        return self.pieces <= 1

    def one_group(self) -> np.ndarray:
        """Per grid: not a village-group grid, or at most one 村民小组 (the rural rule)."""
        return ~self._rules()[1] | (self.groups <= 1)

    def limit_reasons(self, grid: int, *, limits: Iterable[Limit] | None = None) -> Reasons:
        """Return why `grid` misses limits: one ``limit_unmet`` reason per missed limit (:func:`unmet_limits`).

        `limits` judges those instead of the grid's rule's (an exclusive area has no rule; the
        pipeline holds it to its village's limits). Measures the cells do not carry are not judged.
        """
        rule = self.rules[grid]
        given = tuple(limits) if limits is not None else rule.limits if rule is not None else ()
        names = [lim.measure for lim in given if lim.measure in self.graph.measures]
        return unmet_limits(given, {name: float(self.measure(name)[grid]) for name in names})

    def _rules(self) -> tuple[dict[Rule | None, list[int]], np.ndarray]:
        """Grid ids by rule, and which grids are village-group (rural) grids; shared by partitions of the same grids."""
        if self._rule_table is None:
            by_rule: dict[Rule | None, list[int]] = {}
            for g, rule in enumerate(self.rules):
                by_rule.setdefault(rule, []).append(g)
            rural = np.zeros(len(self), bool)
            for rule, ids in by_rule.items():
                rural[ids] = rule is not None and rule.name == "village_group"
            self._rule_table = (by_rule, rural)
        return self._rule_table

    def _band_status(self) -> np.ndarray:
        if "band_status" not in self._cache:
            out = np.full(len(self), Status.OK.value, dtype=object)
            hh = self.households
            for rule, ids in self._rules()[0].items():
                out[ids] = band_status(hh[ids], rule)
            self._cache["band_status"] = out
        return self._cache["band_status"]

    def status(self) -> np.ndarray:
        """Status of every grid: out of band first (``under_min``/``over_max``), then ``enclave``, else ``ok``."""
        out = self._band_status().copy()
        out[(out == Status.OK.value) & ~self.contiguous()] = Status.ENCLAVE.value
        return out
