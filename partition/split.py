"""Split a community's cell graph into contiguous, compact grids inside a household band.

The algorithm, in order (every step is deterministic: same graph, same parts):

1. **Contract compounds.** Cells of one compound (小区) whose households fit in ``max`` are merged
   into one node, so the compound is never split. Bigger compounds stay as their buildings.
2. **Carve oversize units.** A node that alone holds more than ``max`` households (one building of
   620 households) becomes its own grid, flagged ``over_max`` with the reason.
3. **Barrier groups.** Each connected component is cut into pieces connected without crossing a
   barrier edge. A piece whose household count admits no feasible number of grids
   (``ceil(H/max) > floor(H/min)``, e.g. 550 households for 300-500) or that has no households is
   merged with the neighbouring piece it shares the longest border with, until every group is
   feasible. Grids then cross a barrier only where the households force it.
4. **Recursive multi-angle bisection.** A group of H households gets k grids, k in
   ``[ceil(H/max), floor(H/min)]`` closest to ``H / ((min+max)/2)``. It is cut in two (k//2 and
   k - k//2 grids) by a straight sweep line: for 8 directions, nodes are sorted by their
   projection; of the cuts whose left household sum keeps both sides feasible, the one nearest
   the balanced split is a candidate, and in bisections of at most :data:`WIDE_NODES` nodes also
   those a quarter and three quarters into that window. Each candidate is made contiguous (stray
   components change sides) and scored by the length of border it cuts, weighted by how far it
   is from the balanced split (barrier borders count one tenth: cutting along a road is cheap).
   The best feasible cut wins, and both halves are split again. Short cuts at every level give
   compact grids, the feasibility window gives grids inside the band.
5. **Local refinement.** Boundary nodes move to a neighbouring grid when the move reduces the
   total band violation, or keeps it and shortens the total internal border (so grids get more
   compact). A move is allowed only if the grid it leaves stays connected and the node touches the
   new grid across a non-barrier border.
6. **Chains across the village.** A grid still out of band hands its excess (or takes its
   shortfall) along a path of neighbouring grids to the nearest grid with room, each grid on the
   path passing on just enough to stay in band (:func:`_rebalance`); refinement then polishes.
7. **Seeded restarts.** Where big indivisible units still leave a grid out of band, the
   neighbouring k values and (on groups small enough for the budget) seeded random connected
   starts, each refined and rebalanced, are tried and the best kept (until a run of starts finds
   nothing better).
8. What remains out of band is flagged with the reason. ``no_feasible_k`` when the data prove it
   (the area's households fit no k; a unit every neighbour of which takes it over the maximum;
   a pocket reachable only through one unit, too small alone and too big with it), else
   ``unbalanced``.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

try:  # the routine behind scipy's connected_components, without its per-call checks and transpose
    from scipy.sparse.csgraph._traversal import _connected_components_undirected
except ImportError:  # pragma: no cover - a scipy that moved it: the public function gives the same labels
    _connected_components_undirected = None

from partition.adjacency import CellGraph
from partition.reasons import Reason, ReasonKind, Reasons, UnitKind, UnitRef, unit_ref
from partition.values import DEFAULT_BAND, TOLERANCE, Band, Limit, Status

BARRIER_COST = 0.1
"""Cost of cutting one metre of border that follows a barrier, relative to an ordinary border."""
ANGLES = 8
"""Number of sweep directions tried at every bisection."""
REFINE_PASSES = 12
"""Maximum passes of local refinement."""
LIMIT_CUTS = 9
"""Cut positions tried per sweep direction, spread over the feasible window, when measures are limited."""

WIDE_NODES = 150
"""Bisections of more nodes try, per sweep direction, only the cut nearest the balanced split.

Smaller ones (the last two or three cuts before a grid) also try cuts a quarter and three quarters
into the feasible window: a shorter border there shapes the grids themselves. On bigger ones those
cuts cost a third of the split and bought nothing: on the peer harness's medium and large inputs
they made the grids less compact (median Polsby-Popper 0.58 / 0.61 with them, 0.62 / 0.62
without), on Denver, the synthetic towns and the sample they changed it by at most 0.006.
"""


@dataclass(frozen=True)
class Part:
    """One grid made by the splitter: its graph nodes, status and the reason for a flag."""

    nodes: tuple[int, ...]
    households: float
    status: str = "ok"
    reasons: Reasons = ()
    """Why the part is flagged, as data (rendered into words by :mod:`gridmap.catalog`)."""
    flag: str = ""
    """Why a part is out of band: ``unit_over_max`` (one indivisible unit exceeds max),
    ``no_feasible_k`` (proved by the data: its area's households fit no number of grids, or a
    unit / a pocket behind one unit fits in no in-band grid; the reason says which), ``unbalanced``
    (no such proof was found, yet balancing did not reach the band), or ``""``."""


@dataclass(frozen=True)
class _Goal:
    """The measures a split keeps within limits, then balances: one row of `m` per measure, one column per node."""

    m: np.ndarray
    names: tuple[str, ...]
    limits: tuple[tuple[int, Limit], ...]
    weights: tuple[tuple[int, float], ...]

    def limit_violation(self, totals: np.ndarray) -> float:
        """Sum over limits of how far a part's totals miss them, each relative to its limit (0: all met)."""
        return float(sum(lim.violation(totals[r]) / max(lim.max or lim.min or 1.0, 1.0) for r, lim in self.limits))

    def imbalance(self, totals: np.ndarray, mean: np.ndarray) -> float:
        """Weighted squared relative deviation of a part's totals from the group's mean per part."""
        return float(sum(w * ((totals[r] - mean[r]) / max(mean[r], 1e-9)) ** 2 for r, w in self.weights))

    def lower_bound(self, total: np.ndarray, k: int) -> float:
        """Least limit violation of any k parts holding `total` (all even): what a choice of k cannot avoid."""
        return float(
            sum(k * lim.violation(total[r] / k) / max(lim.max or lim.min or 1.0, 1.0) for r, lim in self.limits)
        )


@dataclass
class _Arrays:
    w: np.ndarray
    x: np.ndarray
    y: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    cost: np.ndarray
    barrier: np.ndarray
    members: list[list[int]]
    label: list
    """Each node's unit label as the graph gives it (a compound's: its :class:`UnitRef`), read by :meth:`unit`."""
    indptr: np.ndarray = field(init=False)
    nbr: np.ndarray = field(init=False)
    ncost: np.ndarray = field(init=False)
    nbar: np.ndarray = field(init=False)
    goal: _Goal | None = field(default=None, init=False)
    """Measure limits and balance weights of the split (None: households and borders alone, as before)."""

    def __post_init__(self) -> None:
        n = len(self.w)
        src = np.concatenate([self.eu, self.ev])
        dst = np.concatenate([self.ev, self.eu])
        cost = np.concatenate([self.cost, self.cost])
        bar = np.concatenate([self.barrier, self.barrier])
        order = np.argsort(src * n + dst)  # by source, then neighbour (each pair once: any sort gives this order)
        self.nbr, self.ncost, self.nbar = dst[order], cost[order], bar[order]
        self.indptr = np.searchsorted(src[order], np.arange(n + 1))
        self._lists: _Lists | None = None
        # whole numbers of households whose total stays exact in floats: sums of them are exact in any order
        self.whole = bool(np.all(self.w == np.round(self.w))) and float(np.abs(self.w).sum()) < 2.0**52

    def unit(self, v: int | np.integer) -> UnitRef:
        """Return node `v`'s unit, as a reason names it (made only for the few nodes a reason names)."""
        return unit_ref(self.label[v])

    def lists(self) -> _Lists:
        """Return the graph as Python lists, made once: node-by-node loops read them far faster than arrays."""
        if self._lists is None:
            spans = list(itertools.pairwise(self.indptr.tolist()))
            nbr, cost, bar = self.nbr.tolist(), self.ncost.tolist(), self.nbar.tolist()
            self._lists = _Lists(
                nbr=[nbr[a:b] for a, b in spans],
                start=self.indptr.tolist(),
                cost=cost,
                barrier=bar,
                fenced=(
                    np.bincount(
                        np.repeat(np.arange(len(self.w)), np.diff(self.indptr))[self.nbar], minlength=len(self.w)
                    )
                    > 0
                ).tolist(),
                w=self.w.tolist(),
            )
        return self._lists


@dataclass(frozen=True)
class _Lists:
    """Neighbours, border costs and barrier flags of every node (in :class:`_Arrays`' order), and weights."""

    nbr: list[list[int]]
    start: list[int]
    """Where each node's edges start in `cost` and `barrier` (and end: the next node's start)."""
    cost: list[float]
    barrier: list[bool]
    fenced: list[bool]
    """Whether a node has a barrier on any of its borders."""
    w: list[float]


def _array_sum(values: list[float]) -> float:
    """``np.sum`` of `values` to the last bit (numpy's pairwise order), without making an array."""
    n = len(values)
    if n < 8:
        total = 0.0
        for x in values:
            total += x
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return _array_sum(values[:half]) + _array_sum(values[half:])
    r = values[:8]
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for x in values[i:]:
        total += x
    return total


def choose_k(households: float, band: Band) -> int:
    """Return the number of grids for a group: feasible and nearest the band's middle.

    When no k is feasible, the k with the smallest total violation (fewer grids on a tie).
    """
    ks = band.feasible_counts(households)
    target = households / ((band.min_households + band.max_households) / 2)
    if len(ks):
        return min(max(round(target), ks.start), ks.stop - 1)
    lo = max(1, math.floor(households / band.min_households))
    hi = max(1, math.ceil(households / band.max_households))
    return min(sorted({lo, hi}), key=lambda k: (round(k * band.violation(households / k), 6), k))


def _piece_labels(members: list[int], n: int, eu: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """Connected-component label of every node in the subgraph induced by `members`."""
    inside = np.zeros(n, bool)
    inside[members] = True
    m = inside[eu] & inside[ev]
    sub = coo_matrix((np.ones(m.sum()), (eu[m], ev[m])), shape=(n, n))
    return connected_components(sub, directed=False)[1]


def _bridge(
    members: list[int],
    n: int,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    area: np.ndarray,
    eu: np.ndarray,
    ev: np.ndarray,
    *,
    free: np.ndarray,
) -> list[int] | None:
    """Join the pieces of a compound through the fewest households of free cells inside its outline.

    A compound's cells can be separated by stray cells (a kiosk, a house in a gap). Within the
    compound's convex hull (padded by one cell size) the lightest paths through free cells link
    every piece to the first; returns the joined node list, or None when no such path exists.
    """
    pad = float(np.sqrt(np.median(area[members])))
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(np.column_stack([x[members], y[members]]))), pad)
    allowed = np.zeros(n, bool)
    allowed[np.flatnonzero(free & shapely.contains_xy(hull, x, y))] = True
    allowed[members] = True
    m = allowed[eu] & allowed[ev]
    sub = nx.Graph()
    sub.add_nodes_from(np.flatnonzero(allowed).tolist())
    # entering a cell costs its households (plus a little, so shorter paths win ties)
    sub.add_weighted_edges_from(
        (int(a), int(b), float(w[a] + w[b]) / 2 + 1e-3) for a, b in zip(eu[m], ev[m], strict=True)
    )
    joined = set(members)
    while True:
        pieces = [c for c in nx.connected_components(sub.subgraph(joined)) if c & set(members)]
        if len(pieces) <= 1:
            return sorted(joined)
        first = min(pieces, key=min)
        others = set().union(*(c for c in pieces if c is not first))
        try:
            dist, path = nx.multi_source_dijkstra(sub, first)
        except nx.NetworkXNoPath:
            return None
        reach = [t for t in others if t in path]
        if not reach:
            return None
        t = min(reach, key=lambda t: (dist[t], t))
        joined.update(path[t])


def _arrays(graph: nx.Graph | CellGraph, max_households: float) -> tuple[_Arrays, np.ndarray]:
    if isinstance(graph, CellGraph):
        n = len(graph)
        nodes: Sequence = range(n)  # node i is row i: no object array needed for the members
        w = graph.households.astype(float)
        area = np.maximum(graph.area.astype(float), 1e-9)
        x, y = graph.x.astype(float), graph.y.astype(float)
        compound = graph.compound.tolist()
        label = graph.label.tolist()
        eu, ev = graph.i.astype(int), graph.j.astype(int)
        length, bar = graph.length.astype(float), graph.barrier.astype(bool)
        return _contract(n, nodes, w, area, x, y, compound, label, eu, ev, length, bar, max_households)
    nodes = sorted(graph.nodes)
    pos = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    w = np.array([graph.nodes[v].get("households", 0.0) for v in nodes], float)
    area = np.array([max(graph.nodes[v].get("area", 1.0), 1e-9) for v in nodes], float)
    x = np.array([graph.nodes[v]["x"] for v in nodes], float)
    y = np.array([graph.nodes[v]["y"] for v in nodes], float)
    compound = [graph.nodes[v].get("compound") for v in nodes]
    label = [graph.nodes[v].get("label", v) for v in nodes]
    if graph.number_of_edges():
        eu, ev, length, bar = map(
            np.array,
            zip(
                *(
                    (pos[a], pos[b], d.get("length", 1.0), d.get("barrier", False))
                    for a, b, d in graph.edges(data=True)
                ),
                strict=True,
            ),
        )
    else:
        eu = ev = np.zeros(0, int)
        length = np.zeros(0)
        bar = np.zeros(0, bool)
    return _contract(n, nodes, w, area, x, y, compound, label, eu, ev, length, bar, max_households)


def _compounds(compound: Sequence) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each node's compound number (-1: none), and each compound's nodes by its id as text, in order of appearance.

    A node whose id is missing (None, NaN, ``pd.NA``) or empty belongs to no compound.
    """
    # `c == c` is false for NaN; pd.NA compares as NA (no truth value), so it is tested by identity first
    ids = [(str(c) or None) if c is not None and c is not pd.NA and c == c else None for c in compound]
    which, names = pd.factorize(np.array(ids, dtype=object))  # missing ids are -1
    if not len(names):
        return which, {}
    nodes = np.argsort(which, kind="stable")[np.count_nonzero(which < 0) :]
    members = np.split(nodes, np.cumsum(np.bincount(which[which >= 0], minlength=len(names)))[:-1])
    return which, dict(zip(names.tolist(), members, strict=True))


def _contract(
    n: int,
    nodes: Sequence,
    w: np.ndarray,
    area: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    compound: list,
    label: list,
    eu: np.ndarray,
    ev: np.ndarray,
    length: np.ndarray,
    bar: np.ndarray,
    max_households: float,
) -> tuple[_Arrays, np.ndarray]:
    """Working arrays with every compound that fits contracted into one node; `inv` maps node → row."""
    # contract compounds that fit: connected pieces of one compound become one node
    group = np.arange(n)
    which, comp_ids = _compounds(compound)
    in_compound = which >= 0
    # the pieces of every compound at once: the components along edges inside one compound
    inner = (which[eu] == which[ev]) & in_compound[eu]
    pieces = _component_labels(n, *_both_ways(eu[inner], ev[inner]))
    for name, members in comp_ids.items():
        total = w[members].sum()
        if total > max_households or len(members) < 2:
            continue
        lab = pieces
        if len(np.unique(lab[members])) > 1:
            # stray cells inside the compound's outline (a kiosk, a house in the gap) join it
            # when that makes it one piece and it still fits
            wider = _bridge(members.tolist(), n, x, y, w, area, eu, ev, free=~in_compound & (group == np.arange(n)))
            if wider is not None and w[wider].sum() <= max_households:
                members, lab = np.asarray(wider), _piece_labels(wider, n, eu, ev)
        for comp in np.unique(lab[members]):
            piece = members[lab[members] == comp]
            head = int(piece.min())
            group[piece] = head
            label[head] = UnitRef(UnitKind.COMPOUND, name)
    new, inv = np.unique(group, return_inverse=True)
    inv = inv.ravel()
    m = len(new)
    W = np.bincount(inv, weights=w, minlength=m)
    A = np.bincount(inv, weights=area, minlength=m)
    X = np.bincount(inv, weights=x * area, minlength=m) / A
    Y = np.bincount(inv, weights=y * area, minlength=m) / A
    by_row = np.argsort(inv, kind="stable")
    node_ids = np.asarray(nodes, dtype=object)[by_row] if not isinstance(nodes, range) else by_row
    ids = node_ids.tolist()
    ends = np.cumsum(np.bincount(inv, minlength=m)).tolist()
    part_members = [ids[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    cu, cv = inv[eu], inv[ev]
    keep = cu != cv
    a, b = np.minimum(cu[keep], cv[keep]), np.maximum(cu[keep], cv[keep])
    cost = np.where(bar[keep], BARRIER_COST, 1.0) * length[keep]
    key = a * m + b
    uniq, first, back = np.unique(key, return_index=True, return_inverse=True)
    cost_sum = np.bincount(back.ravel(), weights=cost, minlength=len(uniq))
    bar_all = np.bincount(back.ravel(), weights=(~bar[keep]).astype(float), minlength=len(uniq)) == 0
    arr = _Arrays(
        w=W,
        x=X,
        y=Y,
        eu=a[first],
        ev=b[first],
        cost=cost_sum,
        barrier=bar_all,
        members=part_members,
        label=[label[i] for i in new.tolist()],
    )
    return arr, inv


def _components(n: int, idx: np.ndarray, g: _Arrays, *, skip_barrier: bool = False) -> np.ndarray:
    """Component label of each node in `idx` within the subgraph induced by `idx`."""
    inset = np.zeros(n, bool)
    inset[idx] = True
    m = inset[g.eu] & inset[g.ev]
    if skip_barrier:
        m &= ~g.barrier
    pos = np.full(n, -1)
    pos[idx] = np.arange(len(idx))
    return _component_labels(len(idx), *_both_ways(pos[g.eu[m]], pos[g.ev[m]]))


def _local(idx: np.ndarray, g: _Arrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(g.w)
    inset = np.zeros(n, bool)
    inset[idx] = True
    m = inset[g.eu] & inset[g.ev]
    pos = np.full(n, -1)
    pos[idx] = np.arange(len(idx))
    return pos[g.eu[m]], pos[g.ev[m]], g.cost[m]


def _both_ways(lu: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every edge in both directions, sorted by source node (the CSR order :func:`_component_labels` takes)."""
    src, dst = np.r_[lu, lv], np.r_[lv, lu]
    order = np.argsort(src, kind="stable")
    return src[order].astype(np.int32), dst[order].astype(np.int32)


def _component_labels(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Component label of each of `n` nodes, numbered in the order of each component's smallest node.

    `src` and `dst` hold every edge in both directions, sorted by `src` (:func:`_both_ways`). This
    is what ``scipy.sparse.csgraph.connected_components(..., directed=False)`` returns, without
    building a sparse matrix and its transpose on every call (bisection calls it thousands of times).
    """
    if _connected_components_undirected is None:  # pragma: no cover - see the import above
        sub = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        return connected_components(sub, directed=False)[1]
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    labels = np.full(n, -9999, np.int32)
    _connected_components_undirected(dst, indptr, dst, indptr, labels)
    return labels


def _sweep_cuts(left: np.ndarray, cross: np.ndarray, w: np.ndarray, edges: _Edges) -> tuple[np.ndarray, np.ndarray]:
    """Return the sides `left` of sweep cuts (one row per cut) made contiguous, and the rows that changed.

    `cross` marks, per cut, the `edges` whose ends lie on both sides. Every cut is made contiguous
    as though alone, all at once: the components of both sides of all cuts come from one call on
    a graph holding a copy of the nodes per cut (copies in cut order, so each copy's components
    are numbered as on their own). Most cuts leave one piece on each side and are kept as they
    are; in the others the side's pieces but its heaviest change sides, the left side's first.
    """
    labels = _copies_components(cross, edges, len(w))
    # both sides hold nodes and no edge joins them: two labels mean one piece each
    rows = np.flatnonzero(labels.max(axis=1) - labels.min(axis=1) + 1 != 2)
    if not len(rows):
        return left, rows
    sub, lab = left[rows], labels[rows]
    heavy = np.broadcast_to(w + 1e-9, sub.shape).ravel()
    for flip_side in (True, False):
        on = sub == flip_side
        # a component lies on one side: the other side's nodes add nothing to its weight
        weight = np.bincount(lab.ravel(), weights=np.where(on.ravel(), heavy, 0.0))
        flipped = []
        for r in range(len(rows)):
            comps = np.unique(lab[r][on[r]])
            if len(comps) > 1:
                keep = comps[np.argmax(weight[comps])]
                sub[r][on[r] & (lab[r] != keep)] = not flip_side
                flipped.append(r)
        if flip_side and flipped:  # the flipped pieces joined the other side (numbered apart from the rest)
            moved = sub[flipped]
            lab[flipped] = _copies_components(moved[:, edges.u] != moved[:, edges.v], edges, len(w)) + lab.max() + 1
    left = left.copy()
    left[rows] = sub
    return left, rows


def _copies_components(cross: np.ndarray, edges: _Edges, n: int) -> np.ndarray:
    """Component labels of copies of a graph of `n` nodes, one row per copy, each without the edges `cross` marks.

    The copies are numbered one after the other, so each copy's components are numbered in the
    order of their smallest node, above the last copy's. The traversal reads each edge once from
    either end: the edges by `u` (their order) and by `v` (:attr:`_Edges.by_v`), a graph and its
    transpose. A removed edge becomes a loop on its node: the traversal passes over it, and
    every copy keeps the same layout.
    """
    count, m = cross.shape
    step = (np.arange(count, dtype=np.int32) * n)[:, None]
    heads = (np.where(cross, edges.u, edges.v) + step).ravel()
    by_v = edges.by_v
    tails = (np.where(cross[:, by_v], edges.v[by_v], edges.u[by_v]) + step).ravel()
    forward, backward = _copies_ptr(edges.u, n, count), _copies_ptr(edges.v[by_v], n, count)
    if _connected_components_undirected is None:  # see the import above (tested)
        every = csr_matrix((np.ones(len(heads)), heads, forward), shape=(count * n, count * n))
        return connected_components(every, directed=False)[1].reshape(count, n)
    labels = np.full(count * n, -9999, np.int32)
    _connected_components_undirected(heads, forward, tails, backward, labels)
    return labels.reshape(count, n)


def _copies_ptr(ends: np.ndarray, n: int, count: int) -> np.ndarray:
    """Row pointers (CSR) of `count` copies of edges whose sorted ends `ends` are among `n` nodes."""
    indptr = np.searchsorted(ends, np.arange(n, dtype=np.int32))
    ptr = np.empty(count * n + 1, np.int32)
    ptr[:-1] = (indptr + (np.arange(count, dtype=np.int32) * len(ends))[:, None]).ravel()
    ptr[-1] = count * len(ends)
    return ptr


_COS = np.array([math.cos(math.pi * a / ANGLES) for a in range(ANGLES)])
_SIN = np.array([math.sin(math.pi * a / ANGLES) for a in range(ANGLES)])
"""Directions of the sweep lines (every row of a bisection's projections)."""


def _sweep_positions(
    sums: np.ndarray, lo: float, hi: float, target: float, *, limited: bool, wide: bool = False
) -> list[tuple[int, int]]:
    """Return the cut positions ``(direction, p)`` a bisection tries.

    In each direction (a row of left household sums `sums`): of the cuts whose sum lies in
    ``[lo, hi]``, the one nearest `target` and, unless `wide` (:data:`WIDE_NODES`), those at a
    quarter and three quarters of them (with `limited`, also :data:`LIMIT_CUTS` spread over them);
    where none does, the cut nearest `target`.
    """
    ok = (sums >= lo - TOLERANCE) & (sums <= hi + TOLERANCE)
    row, col = np.nonzero(ok)  # every direction's ok positions, row by row, in order
    count = np.bincount(row, minlength=len(sums))
    start = np.cumsum(count) - count
    gap = np.abs(sums - target)
    near = np.argmin(np.where(ok, gap, np.inf), axis=1).tolist()
    quarter = col[np.minimum(start + count // 4, len(col) - 1)].tolist() if len(col) and not wide else []
    three = col[np.minimum(start + (3 * count) // 4, len(col) - 1)].tolist() if len(col) and not wide else []
    nearest = np.argmin(gap, axis=1).tolist() if (count == 0).any() else []
    out = []
    for a, (n_ok, first) in enumerate(zip(count.tolist(), start.tolist(), strict=True)):
        if n_ok:
            at = [near[a]] if wide else sorted({near[a], quarter[a], three[a]})
            if limited:  # where the limits fall along the sweep matters too: try more positions
                spread = col[first + np.linspace(0, n_ok - 1, LIMIT_CUTS).astype(int)]
                at = sorted({*at, *spread.tolist()})
        else:
            at = [nearest[a]]
        out += [(a, p) for p in at]
    return out


class _Edges(NamedTuple):
    """The edges among a bisection's nodes, as positions in its node list.

    Each edge once with its border `cost`, sorted by `u` (:func:`_contract` gives the graph's
    edges so sorted: then this is their order), and `by_v`, the order by `v` (each stable).
    """

    u: np.ndarray
    v: np.ndarray
    cost: np.ndarray
    by_v: np.ndarray

    @classmethod
    def of(cls, idx: np.ndarray, g: _Arrays) -> _Edges:
        """Return the edges among the nodes `idx` of `g`."""
        lu, lv, lc = _local(idx, g)
        by_u = np.argsort(lu, kind="stable")
        lu, lv, lc = lu[by_u].astype(np.int32), lv[by_u].astype(np.int32), lc[by_u]
        return cls(lu, lv, lc, np.argsort(lv, kind="stable"))

    def within(self, keep: np.ndarray) -> _Edges:
        """Return the edges among the nodes `keep` marks, renumbered: what :meth:`of` gives for them."""
        pos = (np.cumsum(keep) - 1).astype(np.int32)  # order-keeping, so both orders stay sorted
        once = keep[self.u] & keep[self.v]
        by_v = (np.cumsum(once) - 1)[self.by_v[once[self.by_v]]]
        return _Edges(pos[self.u[once]], pos[self.v[once]], self.cost[once], by_v)


class _Sweep(NamedTuple):
    """A bisection's nodes along every sweep direction, one row per direction (:data:`_COS`, :data:`_SIN`).

    `order` lists node positions by their projection on the direction (equal ones by position:
    the sort is stable), `rank` gives each node's place in it.
    """

    order: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _Sweep:
        """Return the sweep of nodes at `x`, `y`."""
        return cls.ordered(np.argsort(x * _COS[:, None] + y * _SIN[:, None], axis=1, kind="stable"))

    @classmethod
    def ordered(cls, order: np.ndarray) -> _Sweep:
        """Return the sweep whose orders are `order`."""
        rank = np.empty(order.shape, np.int32)
        rank[np.arange(len(order))[:, None], order] = np.arange(order.shape[1], dtype=np.int32)
        return cls(order, rank)

    def within(self, keep: np.ndarray) -> _Sweep:
        """Return the sweep of the nodes `keep` marks, renumbered: what :meth:`of` gives for them.

        Sorting fewer nodes stably leaves them in the order they had among all: each direction's
        order filtered, without sorting again.
        """
        pos = np.cumsum(keep) - 1
        return _Sweep.ordered(pos[self.order[keep[self.order]].reshape(len(self.order), -1)])


def _bisect(
    idx: np.ndarray, k: int, g: _Arrays, band: Band, known: tuple[_Edges, _Sweep] | None = None
) -> list[np.ndarray]:
    """Cut the nodes `idx` (ascending) into `k` grids by recursive sweep-line bisection.

    `known` holds their edges and sweep where the caller has them (a half's come from its whole's).
    """
    if k <= 1 or len(idx) <= 1:
        return [idx]
    mn, mx = band.min_households, band.max_households
    w = g.w[idx]
    H = w.sum()
    edges, sweep = (_Edges.of(idx, g), _Sweep.of(g.x[idx], g.y[idx])) if known is None else known
    # the sweep orders and the cuts they give do not depend on the split: with odd k both
    # splits score the same candidates, so each is made contiguous and measured once
    sums = np.cumsum(w[sweep.order], axis=1)[:, :-1]
    limited = g.goal is not None and bool(g.goal.limits)  # then cuts that let both sides meet the limits win
    plans = []
    for k1, k2 in sorted({(k // 2, k - k // 2), (k - k // 2, k // 2)}):
        lo, hi = max(k1 * mn, H - k2 * mx), min(k1 * mx, H - k2 * mn)
        target = H * k1 / k
        if lo > hi:
            lo = hi = target
        positions = _sweep_positions(sums, lo, hi, target, limited=limited, wide=len(idx) > WIDE_NODES)
        plans.append((k1, k2, lo, hi, target, positions))
    cuts = sorted({cut for plan in plans for cut in plan[5]})  # each cut once
    row = {cut: r for r, cut in enumerate(cuts)}
    angle = np.array([a for a, _ in cuts])
    at = np.array([p for _, p in cuts])[:, None]
    # an edge crosses a cut where its ends' places lie on both sides of it
    rank_u, rank_v = sweep.rank[:, edges.u], sweep.rank[:, edges.v]
    crossing = (np.minimum(rank_u, rank_v)[angle] <= at) & (np.maximum(rank_u, rank_v)[angle] > at)
    sides, changed = _sweep_cuts(sweep.rank[angle] <= at, crossing, w, edges)
    crossing[changed] = sides[changed][:, edges.u] != sides[changed][:, edges.v]
    whole = np.asarray(sides.all(axis=1) | ~sides.any(axis=1))
    if g.whole:  # households are whole numbers: every order of adding them gives numpy's sums
        held = np.where(sides, w, 0.0).sum(axis=1)
    else:
        held = np.array([w[row].sum() for row in sides])
    # each cut's border length, as row sums: a per-row loop took 5 % of the splitter; the sums may
    # differ from adding the crossing edges alone in the last bit, which only an exact tie between
    # two different cuts could notice
    length = np.where(crossing, edges.cost, 0.0).sum(axis=1)
    best = None
    for k1, k2, lo, hi, target, plan in plans:
        rows = np.array([row[cut] for cut in plan])
        rows = rows[~whole[rows]]
        if not len(rows):
            continue
        L = held[rows]
        off = ~((lo - TOLERANCE <= L) & (L <= hi + TOLERANCE))
        miss = np.where(off, np.abs(L - target), 0.0)
        bound = np.array([_cut_limit_bound(idx, sides[r], k1, k2, g) if limited else 0.0 for r in rows.tolist()])
        score = length[rows] * (1 + np.abs(L - target) / max(H, 1))
        j = _first_least((off, miss, bound, score))
        key = (bool(off[j]), float(miss[j]), float(bound[j]), float(score[j]))
        if best is None or key < best[0]:
            best = (key, sides[rows[j]], k1, k2)
    if best is None:
        return [idx]
    _, left, k1, k2 = best
    halves = []
    for side, count in ((left, k1), (~left, k2)):
        halves += _bisect(idx[side], count, g, band, (edges.within(side), sweep.within(side)) if count > 1 else None)
    return halves


def _first_least(keys: tuple[np.ndarray, ...]) -> int:
    """Index of the first of the least rows of `keys` (columns, compared in turn): what scoring one by one keeps."""
    return int(np.lexsort(keys[::-1])[0])


def _cut_limit_bound(idx: np.ndarray, left: np.ndarray, k1: int, k2: int, g: _Arrays) -> float:
    """Least limit violation left by a cut: each side's measures spread evenly over its grids."""
    assert g.goal is not None
    m = g.goal.m[:, idx]
    ml = m[:, left].sum(axis=1)
    return round(g.goal.lower_bound(ml, k1) + g.goal.lower_bound(m.sum(axis=1) - ml, k2), 9)


def _boundary(label: np.ndarray, g: _Arrays) -> np.ndarray:
    """Mask of the nodes with a neighbour in another part."""
    edge = label[g.eu] != label[g.ev]
    boundary = np.zeros(len(g.w), bool)
    boundary[g.eu[edge]] = True
    boundary[g.ev[edge]] = True
    return boundary


def _band_change(band: Band, a: float, b: float, new_a: float, new_b: float) -> float | None:
    """Change of the band violation of two parts going from households (a, b) to (new_a, new_b).

    None when the band forbids the change: the violation rises, or an in-band part leaves the band.
    """
    d = band.violation(new_a) + band.violation(new_b) - band.violation(a) - band.violation(b)
    if d > 1e-9 or (band.contains(a) and not band.contains(new_a)) or (band.contains(b) and not band.contains(new_b)):
        return None
    return d


def _refine(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band, *, polish: bool = True) -> bool:
    """Move boundary nodes between parts to fix the band, then (with `polish`) to shorten internal borders.

    Returns whether it ended on a pass without moves (so refining again, unchanged, moves nothing).
    """
    return _Refiner(label, idx, g, band).run(polish=polish)


class _Refiner:
    """Local refinement of the parts of a group (`label` of the nodes `idx`, changed in place).

    What a node's look finds depends only on its part and the parts around it, so a node that
    found no move is looked at again only when one of them gained or lost a node since. And
    where every one of them is strictly inside the band, only polishing can move a node: one
    whose neighbouring parts offered no shorter border (`calm`) stays put while its neighbours
    keep their parts and those parts stay inside, whatever their households. That bookkeeping
    outlives a :meth:`run`: after nodes moved otherwise (:meth:`moved`), refining again looks
    only where they changed something, and moves as refining afresh would.
    """

    def __init__(self, label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> None:
        self.label, self.idx, self.g, self.band = label, idx, g, band
        self.order = np.sort(idx).tolist()
        # only nodes next to another part can move: mark them once, and the neighbours of every move
        self.boundary = _boundary(label, g).tolist()
        self.lab = label.tolist()  # read node by node: lists, written back to `label` as nodes move
        n = len(g.w)
        self.moves = 0
        self.changed: defaultdict[int, int] = defaultdict(int)  # the move count when each part last changed
        self.looked = [-1] * n  # the move count when each node last found no move
        self.near: list[tuple[int, ...]] = [()] * n  # the parts each node touched (its own too) when it last looked
        self.still = [False] * n  # neither the node nor a neighbour moved since it last looked
        self.calm = [False] * n
        self._count()

    def _count(self) -> None:
        self.parts, self.weight = _part_weights(self.label, self.idx, self.g)
        violation = self.band.violation
        self.off = {p: violation(h) for p, h in self.weight.items()}  # each part's band violation
        # parts beyond the group count as inside
        self.inside = defaultdict(lambda: True, {p: o == 0.0 for p, o in self.off.items()})

    def moved(self, before: np.ndarray) -> None:
        """Take in the moves made since `label` was `before` (by chains): what they changed is looked at again."""
        nodes = self.idx[before[self.idx] != self.label[self.idx]]
        if not len(nodes):
            return
        self.moves += 1
        nbr = self.g.lists().nbr
        for v, a, b in zip(nodes.tolist(), before[nodes].tolist(), self.label[nodes].tolist(), strict=True):
            self.changed[a] = self.changed[b] = self.moves
            self.lab[v] = b
            self.boundary[v] = True
            self.still[v] = False
            for u in nbr[v]:
                self.boundary[u] = True
                self.still[u] = False
        self._count()

    def run(self, *, polish: bool = True) -> bool:
        """Refine until a pass moves nothing (True) or :data:`REFINE_PASSES` passes are done (False)."""
        parts, weight, off, inside, changed = self.parts, self.weight, self.off, self.inside, self.changed
        lab, label, boundary = self.lab, self.label, self.boundary
        still, calm, looked, near = self.still, self.calm, self.looked, self.near
        g = self.g
        gl = g.lists()
        violation = self.band.violation
        moves = self.moves
        try:
            for _ in range(REFINE_PASSES):
                moved = 0
                for v in self.order:
                    if not boundary[v]:
                        continue
                    if still[v]:  # (where it is not, a part it touches changed since and it may no longer be calm)
                        around = near[v]
                        if max(map(changed.__getitem__, around)) <= looked[v]:
                            continue
                        if calm[v] and all(map(inside.__getitem__, around)):
                            continue
                    a = lab[v]
                    nbr = gl.nbr[v]
                    nlab = list(map(lab.__getitem__, nbr))
                    first, end = gl.start[v], gl.start[v + 1]
                    border = _borders(gl.cost[first:end], nlab)
                    looked[v] = moves
                    near[v] = (a, *border)
                    still[v] = True
                    calm[v] = False
                    if len(parts[a]) <= 1:
                        continue
                    wv = gl.w[v]
                    left_a, va = violation(weight[a] - wv), off[a]
                    # the labels it touches across a border that is not a barrier
                    crossable: Collection[int] = border
                    if gl.fenced[v]:
                        crossable = {lb for lb, bar in zip(nlab, gl.barrier[first:end], strict=True) if not bar}
                    to_a = border.get(a, 0.0)
                    options = []
                    shorter = not polish  # whether some neighbouring part offers a shorter border
                    for b in sorted(border):
                        if b == a or b not in parts:
                            continue
                        # the band change first: most neighbours are ruled out by it without touching the borders
                        dviol = left_a + violation(weight[b] + wv) - va - off[b]
                        allowed = dviol < -1e-9 or (polish and abs(dviol) <= 1e-9)
                        if not allowed and shorter:
                            continue
                        if b not in crossable:
                            continue
                        gain = border[b] - to_a
                        shorter = shorter or gain > 1e-9
                        if allowed and (dviol < -1e-9 or gain > 1e-9):
                            options.append((dviol, -gain, b))
                    calm[v] = not shorter
                    if not options:
                        continue
                    options.sort()
                    if not _stays_connected(v, parts[a], g):
                        continue
                    b = options[0][2]
                    parts[a].discard(v)
                    parts[b].add(v)
                    weight[a] -= wv
                    weight[b] += wv
                    lab[v] = b
                    label[v] = b
                    still[v] = False
                    for u in nbr:
                        boundary[u] = True
                        still[u] = False
                    moved += 1
                    moves += 1
                    changed[a] = changed[b] = moves
                    off[a], off[b] = violation(weight[a]), violation(weight[b])
                    inside[a], inside[b] = off[a] == 0.0, off[b] == 0.0
                if not moved:
                    return True
            return False
        finally:
            self.moves = moves


def _refine_and_rebalance(trial: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> Callable[[], None] | None:
    """Refine the parts `trial` gives the nodes `idx`, then rebalance them (in place).

    Returns what refines them once more, taking in the rebalancing's moves, or None where that
    would move nothing: refinement settled and no chain was kept.
    """
    refiner = _Refiner(trial, idx, g, band)
    settled = refiner.run()
    before = trial.copy()
    if not _rebalance(trial, idx, g, band) and settled:
        return None

    def again() -> None:
        refiner.moved(before)
        refiner.run()

    return again


def _borders(cost: list[float], nlab: list[int]) -> dict[int, float]:
    """Return the border length a node shares with each neighbouring label (its edges' `cost` and labels `nlab`).

    Sums are numpy's (:func:`_array_sum`): below eight values that is adding in order, in one pass.
    """
    border: dict[int, float] = {}
    if len(cost) < 8:
        for c, lb in zip(cost, nlab, strict=True):
            border[lb] = border.get(lb, 0.0) + c
        return border
    runs: dict[int, list[float]] = {}
    for c, lb in zip(cost, nlab, strict=True):
        runs.setdefault(lb, []).append(c)
    return {lb: _array_sum(values) for lb, values in runs.items()}


REBALANCE_TARGETS = 24
"""Nearest parts with room tried, per out-of-band part, as the end of a chain of moves."""


def _part_weights(label: np.ndarray, idx: np.ndarray, g: _Arrays) -> tuple[dict[int, set[int]], dict[int, float]]:
    """Return the nodes of each part of `idx` (in the order of `idx`) and the part's households."""
    parts: dict[int, set[int]] = {}
    for v, p in zip(idx.tolist(), label[idx].tolist(), strict=True):
        parts.setdefault(p, set()).add(v)
    return parts, {p: float(g.w[list(s)].sum()) for p, s in parts.items()}


def _part_neighbours(label: np.ndarray, idx: np.ndarray, g: _Arrays, *, barriers: bool) -> dict[int, list[int]]:
    inset = np.zeros(len(g.w), bool)
    inset[idx] = True
    m = inset[g.eu] & inset[g.ev] & (label[g.eu] != label[g.ev])
    if not barriers:
        m &= ~g.barrier
    a, b = label[g.eu[m]], label[g.ev[m]]
    out: dict[int, list[int]] = {}
    if not m.any():
        return out
    # each pair of labels once, in order: one number per pair, sorted
    first, span = min(a.min(), b.min()), abs(int(max(a.max(), b.max()) - min(a.min(), b.min()))) + 1
    pairs = np.unique((np.r_[a, b] - first) * span + (np.r_[b, a] - first))
    for p, q in zip((pairs // span + first).tolist(), (pairs % span + first).tolist(), strict=True):
        out.setdefault(p, []).append(q)
    return out


def _push(
    src: int,
    dst: int,
    lo: float,
    hi: float,
    label: np.ndarray,
    parts: dict[int, set[int]],
    weight: dict[int, float],
    g: _Arrays,
    *,
    barriers: bool,
) -> bool:
    """Move boundary nodes of `src` into `dst` until between `lo` and `hi` households have moved.

    Each move keeps `src` connected and takes the node whose move lengthens the internal border
    least (so grids stay compact); returns False when no such sequence reaches `lo`.
    """
    sent = 0.0
    gl = g.lists()
    home, into = parts[src], parts[dst]  # kept with `label`: a neighbour's part is the set holding it

    def lengthens(v: int) -> float | None:
        """How much moving `v` lengthens the internal border (None: it holds no households, or has no way across)."""
        nbr, first = gl.nbr[v], gl.start[v]
        cost = gl.cost[first : gl.start[v + 1]]
        across = [i for i, u in enumerate(nbr) if u in into]
        if gl.w[v] <= 0 or not across or (not barriers and all(gl.barrier[first + i] for i in across)):
            return None
        return _array_sum([c for u, c in zip(nbr, cost, strict=True) if u in home]) - _array_sum(
            [cost[i] for i in across]
        )

    # a node's key changes only when a neighbour moves: the keys are kept, those around a move redone
    keyed = {v: key for v in home if (key := lengthens(v)) is not None}
    while sent < lo - 1e-9:
        keys = sorted((key, v) for v, key in keyed.items() if sent + gl.w[v] <= hi + 1e-9)
        # the best move that keeps `src` connected (the order of the look cannot matter: keys differ)
        pick = next((v for _, v in keys if len(home) > 1 and _stays_connected(v, home, g)), None)
        if pick is None:
            return False
        wv = gl.w[pick]
        home.discard(pick)
        into.add(pick)
        del keyed[pick]
        for u in gl.nbr[pick]:
            if u in home:
                key = lengthens(u)
                if key is None:
                    keyed.pop(u, None)
                else:
                    keyed[u] = key
        weight[src] -= wv
        weight[dst] += wv
        label[pick] = dst
        sent += wv
    return True


def _chain(
    path: list[int],
    over: bool,
    label: np.ndarray,
    parts: dict[int, set[int]],
    weight: dict[int, float],
    g: _Arrays,
    band: Band,
    *,
    barriers: bool,
) -> bool:
    """Pass households along `path` (neighbouring parts) until every part on it is in band.

    For an over-full first part, each part sends its excess on to the next; for an under-full
    one, each part takes its shortfall from the next. The chain stops at the first part that
    ends in band; returns False when a step cannot be made.
    """
    for i in range(len(path) - 1):
        here, there = path[i], path[i + 1]
        c = weight[here]
        if band.contains(c):
            return True
        if over:
            ok = _push(
                here,
                there,
                c - band.max_households,
                c - band.min_households,
                label,
                parts,
                weight,
                g,
                barriers=barriers,
            )
        else:
            ok = _push(
                there,
                here,
                band.min_households - c,
                band.max_households - c,
                label,
                parts,
                weight,
                g,
                barriers=barriers,
            )
        if not ok:
            return False
    return band.contains(weight[path[-1]])


def _rebalance(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> bool:
    """Bring out-of-band parts into the band by chains of moves through neighbouring parts.

    Local refinement only moves a node when the move itself lowers the band violation, so a
    part at 507 households whose neighbours are all at 498 stays over. Here an out-of-band part
    hands its excess (or takes its shortfall) along a path of neighbouring parts to the nearest
    part with room, each part on the path passing on just enough to stay in band. A chain is
    kept only if the total violation drops; non-barrier borders are tried first, then any
    shared border of the group. Returns whether any chain was kept.
    """

    def total(weight: dict[int, float]) -> float:
        return sum(band.violation(wp) for wp in weight.values())

    kept = False
    for barriers in (False, True):
        for _ in range(4 * len(np.unique(label[idx]))):
            parts, weight = _part_weights(label, idx, g)
            bad = sorted(
                (p for p in parts if not band.contains(weight[p])),
                key=lambda p: (-band.violation(weight[p]), p),
            )
            if not bad:
                return kept
            adj = _part_neighbours(label, idx, g, barriers=barriers)
            before = total(weight)
            fixed = False
            for a in bad:
                over = weight[a] > band.max_households
                # breadth-first over the part graph: the nearest parts with room end the chain
                prev = {a: -1}
                queue = [a]
                ends = []
                for p in queue:
                    for q in sorted(adj.get(p, ())):
                        if q not in prev:
                            prev[q] = p
                            queue.append(q)
                            if weight[q] < band.max_households if over else weight[q] > band.min_households:
                                ends.append(q)
                for end in ends[:REBALANCE_TARGETS]:
                    path = [end]
                    while prev[path[-1]] != -1:
                        path.append(prev[path[-1]])
                    path.reverse()
                    trial = label.copy()
                    t_parts = dict(parts) | {p: set(parts[p]) for p in path}  # only the path's parts change
                    t_weight = dict(weight)
                    _chain(path, over, trial, t_parts, t_weight, g, band, barriers=barriers)
                    if total(t_weight) < before - 1e-9:
                        label[idx] = trial[idx]
                        fixed = kept = True
                        break
                if fixed:
                    break
            if not fixed:
                break
    return kept


RESTART_BUDGET = 20000
"""Node visits allowed for randomised restarts when a group is still out of band (few restarts on big groups)."""

RESTART_PATIENCE = 40
"""Restarts stop after this many starts in a row found nothing better: on the city's blocks every improvement
came within the first 16 starts, and the rest of the 200 allowed cost a third of the split."""


def _grow(idx: np.ndarray, k: int, g: _Arrays, rng: np.random.Generator) -> np.ndarray:
    """Random connected k-partition of `idx`: k random seeds, the lightest part grows first."""
    n = len(g.w)
    label = np.full(n, -1)
    heavy = idx[g.w[idx] > 0]
    seeds = rng.choice(heavy if len(heavy) >= k else idx, size=k, replace=False).tolist()
    gl = g.lists()
    free = set(idx.tolist()) - set(seeds)  # the group's nodes not in a part yet
    weight = [gl.w[v] for v in seeds]
    frontier: list[set[int]] = [{u for u in gl.nbr[v] if u in free} for v in seeds]
    while True:
        open_ = [p for p in range(k) if frontier[p]]
        if not open_:
            break
        p = min(open_, key=lambda q: (weight[q], q))
        v = int(rng.choice(sorted(frontier[p])))
        free.discard(v)
        for f in frontier:
            f.discard(v)
        label[v] = p
        weight[p] += gl.w[v]
        frontier[p].update(u for u in gl.nbr[v] if u in free)
    label[seeds] = np.arange(k)
    label[idx[label[idx] < 0]] = 0  # unreachable within the group (cannot happen in a connected group)
    return label


def _restarts(idx: np.ndarray, k: int, g: _Arrays, band: Band, next_id: int) -> tuple[float, np.ndarray] | None:
    """Best of seeded random connected starts, each refined and rebalanced; None if no budget.

    Big indivisible units (a block of 266 households in a 300-500 band) make the outcome of
    bisection depend on where the first cut falls; a few differently seeded starts on such
    small groups find a balanced partition where one exists, deterministically (fixed seed).
    """
    tries = min(200, RESTART_BUDGET // max(len(idx), 1))
    if tries < 4 or k < 2 or (g.w[idx] > 0).sum() < k:
        return None
    rng = np.random.default_rng(len(idx) * 1009 + k)
    best = None
    last = 0
    best_again: Callable[[], None] | None = None  # refines the best start once more, where that can move a node
    for i in range(tries):
        trial = _grow(idx, k, g, rng)
        trial[idx] += next_id
        again = _refine_and_rebalance(trial, idx, g, band)
        viol = sum(band.violation(g.w[idx][trial[idx] == p].sum()) for p in np.unique(trial[idx]))
        if best is None or viol < best[0] - 1e-9:
            best, last, best_again = (viol, trial), i, again
        if viol <= 1e-9 or i - last >= RESTART_PATIENCE:
            break
    assert best is not None  # the loop ran at least once
    if best_again is not None:  # only the start kept is refined again
        best_again()
    return best


FIT_BUDGET = 20000
"""Sets examined when proving that a unit fits in no in-band grid (beyond it: not proven)."""


def _unit_fits(u: int, allowed: np.ndarray, g: _Arrays, band: Band) -> bool | None:
    """Whether some connected set of `allowed` nodes holding `u` has households in `band`.

    Depth-first over connected sets of households-holding nodes (empty nodes join for free, as
    they only connect) whose total stays at most the band's maximum; ``False`` is a proof that no in-band
    grid can hold `u` (a 266-household block whose only neighbours hold 331 and 416),
    ``None`` means the search ran out of budget.
    """

    def closure(core: frozenset[int]) -> tuple[set[int], set[int]]:
        inside, stack, frontier = set(core), list(core), set()
        while stack:
            v = stack.pop()
            for t in g.nbr[g.indptr[v] : g.indptr[v + 1]].tolist():
                if t in inside or not allowed[t]:
                    continue
                if g.w[t] <= 0:
                    inside.add(t)
                    stack.append(t)
                else:
                    frontier.add(t)
        return inside, frontier

    start = frozenset([u])
    seen = {start}
    stack = [start]
    while stack:
        if len(seen) > FIT_BUDGET:
            return None
        core = stack.pop()
        total = float(g.w[list(core)].sum())
        if band.contains(total):
            return True
        for t in sorted(closure(core)[1]):
            nxt = core | {t}
            if nxt not in seen and total + g.w[t] <= band.max_households + TOLERANCE:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _stays_connected(v: int, part: set[int], g: _Arrays) -> bool:
    """Whether `part` without `v` is still connected (a local check first, the whole part if needed)."""
    nbr = g.lists().nbr
    mine = [u for u in nbr[v] if u in part]
    if len(mine) <= 1:
        return len(mine) == 1 and len(part) > 1
    # the neighbours of v in the part joined within two steps of v: removal cannot disconnect
    near = set(mine)
    for u in mine:
        near.update(t for t in nbr[u] if t in part)
    near.discard(v)
    seen = {mine[0]}
    stack = [mine[0]]
    while stack:
        u = stack.pop()
        for t in nbr[u]:
            if t in near and t not in seen:
                seen.add(t)
                stack.append(t)
    if all(u in seen for u in mine):
        return True
    rest = part - {v}
    start = next((u for u in nbr[v] if u in rest), None)
    if start is None:
        return False
    seen = {start}
    stack = [start]
    while stack:
        u = stack.pop()
        for t in nbr[u]:
            if t in rest and t not in seen:
                seen.add(t)
                stack.append(t)
    return len(seen) == len(rest)


def _groups(idx: np.ndarray, g: _Arrays, band: Band) -> list[np.ndarray]:
    """Pieces connected without crossing barriers, merged until each admits a feasible k."""
    n = len(g.w)
    lab = _components(n, idx, g, skip_barrier=True)
    group = {int(c): set(map(int, idx[lab == c])) for c in np.unique(lab)}
    owner = np.full(n, -1)
    for c, s in group.items():
        owner[list(s)] = c

    def bad(c: int) -> bool:
        H = g.w[list(group[c])].sum()
        return len(band.feasible_counts(H)) == 0

    while len(group) > 1:
        todo = sorted((g.w[list(s)].sum(), c) for c, s in group.items() if bad(c))
        if not todo:
            break
        merged = False
        for _, c in todo:
            members = np.fromiter(group[c], int)
            border: dict[int, float] = {}
            for v in members:
                for u, cost in zip(
                    g.nbr[g.indptr[v] : g.indptr[v + 1]], g.ncost[g.indptr[v] : g.indptr[v + 1]], strict=True
                ):
                    o = int(owner[u])
                    if o != c and o in group:
                        border[o] = border.get(o, 0.0) + float(cost)
            if not border:
                continue
            target = max(sorted(border), key=lambda o: border[o])
            group[target] |= group.pop(c)
            owner[members] = target
            merged = True
            break
        if not merged:
            break
    return [np.array(sorted(s)) for _, s in sorted(group.items())]


def _group_violation(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> float:
    return sum(band.violation(g.w[idx][label[idx] == p].sum()) for p in np.unique(label[idx]))


def _fill(label: np.ndarray, idx: np.ndarray, g: _Arrays) -> None:
    """Give unlabelled nodes of `idx` the neighbouring label (within `idx`) with the longest border."""
    inset = np.zeros(len(g.w), bool)
    inset[idx] = True
    while True:
        todo = idx[label[idx] < 0]
        if len(todo) == 0:
            return
        changed = False
        for v in todo:
            s, e = g.indptr[v], g.indptr[v + 1]
            nb = g.nbr[s:e]
            ok = inset[nb] & (label[nb] >= 0)
            if ok.any():
                labs, back = np.unique(label[nb[ok]], return_inverse=True)
                border = np.bincount(back.ravel(), weights=g.ncost[s:e][ok] + 1e-12)
                label[v] = labs[np.argmax(border)]
                changed = True
        if not changed:
            return


def _warm_group(
    idx: np.ndarray, g: _Arrays, band: Band, label: np.ndarray, next_id: int, warm: np.ndarray
) -> tuple[float, np.ndarray, int] | None:
    """Start from the previous grids (`warm`: previous grid of each node, -1 if none) and repair.

    Each previous grid keeps its largest connected piece in this group; new or orphaned nodes
    join the neighbouring grid they share the longest border with; grids left without households
    are dissolved into their neighbours. Then only moves that lower the band violation are made
    (refinement without polishing, chains), so households stay under their old grid wherever the
    rules allow. Returns ``(violation, labels, grids used)`` or None when no node has a previous grid.
    """
    w0 = warm[idx]
    if not (w0 >= 0).any():
        return None
    n = len(g.w)
    trial = label.copy()
    ids = np.unique(w0[w0 >= 0])
    trial[idx] = np.where(w0 >= 0, next_id + np.searchsorted(ids, w0), -1)
    for _ in range(3):
        for p in np.unique(trial[idx]):
            if p < 0:
                continue
            nodes_ = idx[trial[idx] == p]
            if g.w[nodes_].sum() <= 0:
                trial[nodes_] = -1  # nobody lives there now: its cells join the neighbours
                continue
            comp = _components(n, nodes_, g)
            if comp.max() > 0:
                weight = np.bincount(comp, weights=g.w[nodes_] + 1e-9)
                trial[nodes_[comp != np.argmax(weight)]] = -1
        _fill(trial, idx, g)
        if (trial[idx] >= 0).all():
            break
    if (trial[idx] < 0).any():
        return None
    _refine(trial, idx, g, band, polish=False)
    _rebalance(trial, idx, g, band)
    return _group_violation(trial, idx, g, band), trial, len(ids)


def _split_group(idx: np.ndarray, g: _Arrays, band: Band, label: np.ndarray, next_id: int) -> int:
    H = g.w[idx].sum()
    k0 = choose_k(H, band)
    ks = band.feasible_counts(H)
    goal = g.goal
    if goal is not None and goal.limits and len(ks):
        # as many grids as the limits need (within the band), else the band's own choice
        total = goal.m[:, idx].sum(axis=1)
        k0 = min(ks, key=lambda k: (round(goal.lower_bound(total, k), 9), abs(k - k0), k))
    tries = [k0, *sorted((k for k in ks if k != k0), key=lambda k: (abs(k - k0), k))[:2]]
    best = None
    for k in tries:
        trial = label.copy()
        for j, part in enumerate(_bisect(idx, k, g, band)):
            trial[part] = next_id + j
        again = _refine_and_rebalance(trial, idx, g, band)
        if again is not None:
            again()
        if goal is not None:
            _refine_measures(trial, idx, g, band)
        used = np.unique(trial[idx])
        viol = sum(band.violation(g.w[idx][trial[idx] == p].sum()) for p in used)
        missed = _limit_violation(trial, idx, g)
        if best is None or _better((viol, missed), best[0]):
            best = ((viol, missed), trial, len(used))
        if viol <= 1e-9 and missed <= 1e-9:
            break
    assert best is not None  # at least one grid count was tried
    if best[0][0] > 1e-9 and len(ks):  # restarts cannot help where no k fits the households
        for k in tries:
            found = _restarts(idx, k, g, band, next_id)
            if found is not None and found[0] < best[0][0] - 1e-9:
                if goal is not None:
                    _refine_measures(found[1], idx, g, band)
                best = ((found[0], _limit_violation(found[1], idx, g)), found[1], k)
            if best[0][0] <= 1e-9:
                break
    trial = best[1]
    label[idx] = trial[idx]
    return next_id + max(tries)


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether (band violation, limit violation) `a` beats `b`: the band first, then the limits."""
    return a[0] < b[0] - 1e-9 or (abs(a[0] - b[0]) <= 1e-9 and a[1] < b[1] - 1e-9)


def _limit_violation(label: np.ndarray, idx: np.ndarray, g: _Arrays) -> float:
    """Total limit violation of the parts of `idx` (0 without limits)."""
    goal = g.goal
    if goal is None or not goal.limits:
        return 0.0
    parts, back = np.unique(label[idx], return_inverse=True)
    totals = np.stack([np.bincount(back.ravel(), weights=row[idx], minlength=len(parts)) for row in goal.m])
    return sum(goal.limit_violation(totals[:, j]) for j in range(len(parts)))


def _refine_measures(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> None:
    """Single moves (:func:`_move_measures`), then swaps where a grid still misses a limit, until neither helps."""
    _move_measures(label, idx, g, band)
    if g.goal is None or not g.goal.limits:
        return
    for _ in range(EXCHANGE_ROUNDS):
        if not _exchange_measures(label, idx, g, band):
            return
        _move_measures(label, idx, g, band)


EXCHANGE_ROUNDS = 20
"""Rounds of swaps (then single moves) tried to bring grids within their limits."""


def _exchange_measures(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> bool:
    """Swap a node of a grid over its limits with a node of a neighbouring grid; return whether any swap was made.

    Where a grid misses a limit and no single move helps (its households sit at the band's
    minimum, or the neighbour's at the maximum), a heavy node ``v`` goes to the neighbour and a
    light node ``u`` of the neighbour comes back: the households of both stay in band, both stay
    connected, and the total limit violation drops.
    """
    goal = g.goal
    assert goal is not None
    parts, weight = _part_weights(label, idx, g)
    tot = {p: goal.m[:, sorted(s)].sum(axis=1) for p, s in parts.items()}
    lv = {p: goal.limit_violation(t) for p, t in tot.items()}
    swapped = False
    for a in sorted((p for p in parts if lv[p] > 1e-9), key=lambda p: (-lv[p], p)):
        if lv[a] <= 1e-9:
            continue
        best = None
        for v in sorted(parts[a]):
            if len(parts[a]) <= 1:
                break
            lo, hi = g.indptr[v], g.indptr[v + 1]
            nb, nbar = g.nbr[lo:hi], g.nbar[lo:hi]
            for b in sorted({int(label[t]) for t, bar in zip(nb, nbar, strict=True) if not bar} - {a}):
                if b not in parts:
                    continue
                rest_a = parts[a] - {v}
                for u in sorted(parts[b]):
                    ulo, uhi = g.indptr[u], g.indptr[u + 1]
                    if not any(
                        int(t) in rest_a and not bar for t, bar in zip(g.nbr[ulo:uhi], g.nbar[ulo:uhi], strict=True)
                    ):
                        continue
                    swing = g.w[u] - g.w[v]
                    dband = _band_change(band, weight[a], weight[b], weight[a] + swing, weight[b] - swing)
                    if dband is None:
                        continue
                    ta = tot[a] - goal.m[:, v] + goal.m[:, u]
                    tb = tot[b] + goal.m[:, v] - goal.m[:, u]
                    dl = goal.limit_violation(ta) + goal.limit_violation(tb) - lv[a] - lv[b]
                    key = (round(dband, 9), round(dl, 9))
                    if key < (0.0, 0.0) and (best is None or key < best[0]):
                        best = (key, v, b, u, ta, tb)
        if best is None:
            continue
        _, v, b, u, ta, tb = best
        if not _stays_connected(v, parts[a], g):
            continue
        if not _stays_connected(u, parts[b] | {v}, g):
            continue
        parts[a].discard(v)
        parts[b].add(v)
        parts[b].discard(u)
        parts[a].add(u)
        weight[a] += g.w[u] - g.w[v]
        weight[b] += g.w[v] - g.w[u]
        tot[a], tot[b] = ta, tb
        lv[a], lv[b] = goal.limit_violation(ta), goal.limit_violation(tb)
        label[v], label[u] = b, a
        swapped = True
    return swapped


def _move_measures(label: np.ndarray, idx: np.ndarray, g: _Arrays, band: Band) -> None:
    """Move boundary nodes to meet the limits, then even the weighted measures, then shorten borders.

    The household band stays hard: a move never raises the band violation of the two parts and
    never takes an in-band part out of its band. Among moves that keep the band, one is made when
    it lowers the limit violation, or keeps it and lowers the weighted imbalance, or keeps both
    and shortens the internal border; the part it leaves stays connected and the node touches its
    new part across a border that is not a barrier (as in :func:`_refine`).
    """
    goal = g.goal
    assert goal is not None  # called only with limits or balance weights
    parts, weight = _part_weights(label, idx, g)
    if len(parts) < 2:
        return
    tot = {p: goal.m[:, sorted(s)].sum(axis=1) for p, s in parts.items()}
    mean = goal.m[:, idx].sum(axis=1) / len(parts)
    lv = {p: goal.limit_violation(t) for p, t in tot.items()}
    im = {p: goal.imbalance(t, mean) for p, t in tot.items()}
    order = idx[np.lexsort((idx,))].tolist()
    boundary = _boundary(label, g)
    for _ in range(2 * REFINE_PASSES):
        moved = 0
        for v in order:
            if not boundary[v]:
                continue
            a = int(label[v])
            if len(parts[a]) <= 1:
                continue
            lo, hi = g.indptr[v], g.indptr[v + 1]
            nb, nc, nbar = g.nbr[lo:hi], g.ncost[lo:hi], g.nbar[lo:hi]
            nlab = label[nb]
            to_a = nc[nlab == a].sum()
            wv, mv = g.w[v], goal.m[:, v]
            best = None
            for b in np.unique(nlab[nlab != a]):
                b = int(b)
                m = nlab == b
                if b not in parts or nbar[m].all():
                    continue
                dband = _band_change(band, weight[a], weight[b], weight[a] - wv, weight[b] + wv)
                if dband is None:
                    continue
                ta, tb = tot[a] - mv, tot[b] + mv
                dl = goal.limit_violation(ta) + goal.limit_violation(tb) - lv[a] - lv[b]
                di = goal.imbalance(ta, mean) + goal.imbalance(tb, mean) - im[a] - im[b]
                gain = nc[m].sum() - to_a
                key = (round(dband, 9), round(dl, 9), round(di, 12), round(-gain, 9))
                if key < (0.0, 0.0, 0.0, 0.0) and (best is None or key < best[0]):
                    best = (key, b, ta, tb)
            if best is None or not _stays_connected(v, parts[a], g):
                continue
            _, b, ta, tb = best
            parts[a].discard(v)
            parts[b].add(v)
            weight[a] -= wv
            weight[b] += wv
            tot[a], tot[b] = ta, tb
            for p in (a, b):
                lv[p], im[p] = goal.limit_violation(tot[p]), goal.imbalance(tot[p], mean)
            label[v] = b
            boundary[nb] = True
            moved += 1
        if not moved:
            break


def split_graph(
    graph: nx.Graph | CellGraph,
    *,
    min_households: float = DEFAULT_BAND.min_households,
    max_households: float = DEFAULT_BAND.max_households,
    previous: np.ndarray | None = None,
    limits: tuple[Limit, ...] = (),
    balance: tuple[tuple[str, float], ...] = (),
) -> list[Part]:
    """Split a community's cell graph into contiguous grids within ``[min, max]`` households.

    Parameters
    ----------
    graph
        Rook adjacency of the community's cells: arrays from :func:`partition.adjacency.cell_graph`
        (what the pipeline passes), or a networkx graph with nodes carrying ``households``, ``x``,
        ``y``, ``area`` and optionally ``compound`` and ``label``, edges ``length`` and ``barrier``.
    min_households, max_households
        The household band.
    previous
        Optional grid of each node in an earlier run (any integer id, -1 where none): the split
        then starts from those grids and changes them only as far as the band requires
        (stable regeneration), falling back to a fresh split where that is clearly better.
    limits, balance
        Measure limits per grid and balance weights (:class:`partition.rules.Rule`). The band
        stays hard and first; then the split minimises the limit violations (choosing as many
        grids as the limits need, cutting where they are met, moving nodes between grids), then
        the weighted imbalance, then the border length. A measure is a node attribute of that
        name (a networkx graph) or an entry of ``CellGraph.measures`` (``units``: the units
        count); a limit on a measure the graph does not carry is left to whoever has it. A part
        that misses a limit carries flag ``limit_forced`` with the proof (a unit alone over it, an
        area whose households allow too few grids, every in-band grid around a unit missing it), or
        ``limit_unmet``.

    Returns
    -------
    parts
        One :class:`Part` per grid, in a deterministic order; every node in exactly one part.
        Parts out of band carry status ``under_min``/``over_max`` and their reasons;
        parts that are not connected in `graph` (only where the community itself is in pieces)
        carry ``enclave``.
    """
    if len(graph) == 0:
        return []
    band = Band(float(min_households), float(max_households))
    mn, mx = band.min_households, band.max_households  # for the reasons
    g, inv = _arrays(graph, mx)
    g.goal = _goal(graph, inv, len(g.w), limits, balance)
    warm = None
    if previous is not None:
        prev = np.asarray(previous, int)
        # a contracted node (a compound) takes the previous grid of its first member that had one
        order = np.lexsort((prev < 0, inv))
        first = np.unique(inv[order], return_index=True)[1]
        warm = prev[order][first]
    n = len(g.w)
    label = np.full(n, -1)
    given: dict[int, tuple[str, str, Reasons]] = {}
    next_id = 0
    oversize = np.flatnonzero(g.w > mx)
    for v in oversize:
        label[v] = next_id
        given[next_id] = (
            "over_max",
            "unit_over_max",
            (Reason.of(ReasonKind.UNIT_OVER_MAX, unit=g.unit(v), households=round(g.w[v]), max=round(mx)),),
        )
        next_id += 1
    rest = np.setdiff1d(np.arange(n), oversize)
    if len(rest):
        comp = _components(n, rest, g)
        for c in np.unique(comp):
            cidx = rest[comp == c]
            H = g.w[cidx].sum()
            if H <= 0:
                continue  # attached below
            for grp in _groups(cidx, g, band):
                used_cold = False
                start = _warm_group(grp, g, band, label, next_id, warm) if warm is not None else None
                if start is not None and start[0] > 1e-9:
                    cold = label.copy()
                    cold_next = _split_group(grp, g, band, cold, next_id + start[2])
                    if _group_violation(cold, grp, g, band) < start[0] - 1e-9:
                        start, label[grp], next_id = None, cold[grp], cold_next
                        used_cold = True
                if start is not None:
                    label[grp] = start[1][grp]
                    next_id += start[2]
                    if g.goal is not None:
                        _refine_measures(label, grp, g, band)
                elif not used_cold:
                    next_id = _split_group(grp, g, band, label, next_id)
                Hg = g.w[grp].sum()
                if not len(band.feasible_counts(Hg)):
                    for p in np.unique(label[grp]):
                        given[int(p)] = (
                            "",
                            "no_feasible_k",
                            (
                                Reason.of(
                                    ReasonKind.AREA_FITS_NO_COUNT, households=round(Hg), min=round(mn), max=round(mx)
                                ),
                            ),
                        )
    _attach_empty(label, g)
    if g.w.sum() <= 0:
        given[int(label[0])] = (
            "under_min",
            "no_feasible_k",
            (Reason.of(ReasonKind.NO_HOUSEHOLDS),),
        )
    parts = []
    ids, which = np.unique(label, return_inverse=True)
    which = which.ravel()
    by_part = np.split(np.argsort(which, kind="stable"), np.cumsum(np.bincount(which))[:-1])
    # a part is in pieces where its nodes fall into more than one component along its inner edges
    inner = which[g.eu] == which[g.ev]
    piece = _component_labels(n, *_both_ways(g.eu[inner], g.ev[inner]))
    pieces = np.bincount(np.unique(which * n + piece) // n, minlength=len(ids))
    for p, nodes_, count in zip(ids, by_part, pieces, strict=True):
        hh = float(g.w[nodes_].sum())
        status, flag, reasons = given.get(int(p), ("", "", ()))
        if not status:
            status = band.status(hh)
            if status != "ok" and not flag and hh <= 0:
                flag = "no_feasible_k"
                reasons = (Reason.of(ReasonKind.NO_HOUSEHOLDS),)
            elif status != "ok" and not flag:
                flag, why = _why_unbalanced(nodes_, hh, g, band, oversize)
                reasons = (why,)
        if count > 1:
            if status == "ok":
                status, flag = "enclave", "enclave"
            reasons = (*reasons, Reason.of(ReasonKind.CUT_APART))
        if status == "ok":
            flag = ""
        if g.goal is not None and g.goal.limits:
            missed = _why_limits(nodes_, label, g, band)
            if missed:
                flag = flag or missed[0]
                reasons = (*reasons, *missed[1])
        members = sorted(m for v in nodes_ for m in g.members[v])
        parts.append(Part(nodes=tuple(members), households=hh, status=status, reasons=reasons, flag=flag))
    parts.sort(key=lambda p: p.nodes[0])
    return parts


def _pocket(nodes_: np.ndarray, allowed: np.ndarray, g: _Arrays, band: Band) -> Reason | None:
    """Reason of a part caught in a pocket that no in-band grid can cover, else None.

    When one unit c is the only way from an area C to the rest (an articulation point), every
    grid touching C either lies inside C or holds c. If C has fewer than `mn` households and C
    plus c more than `mx`, some grid there is out of band whatever the split.
    """
    mn, mx = band.min_households, band.max_households
    m = allowed[g.eu] & allowed[g.ev]
    graph = nx.Graph()
    graph.add_nodes_from(np.flatnonzero(allowed).tolist())
    graph.add_edges_from(zip(g.eu[m].tolist(), g.ev[m].tolist(), strict=True))
    mine = set(nodes_.tolist())
    for c in sorted(nx.articulation_points(graph)):
        if g.w[c] <= 0:
            continue
        rest = graph.subgraph(n for n in graph if n != c)
        for comp in nx.connected_components(rest):
            hc = float(g.w[list(comp)].sum())
            if (
                0 < hc
                and band.status(hc) == Status.UNDER_MIN
                and band.status(hc + g.w[c]) == Status.OVER_MAX
                and (mine & comp or c in mine)
            ):
                return Reason.of(
                    ReasonKind.POCKET,
                    households=round(hc),
                    unit=g.unit(c),
                    unit_households=round(g.w[c]),
                    min=round(mn),
                    max=round(mx),
                )
    return None


def _why_unbalanced(nodes_: np.ndarray, hh: float, g: _Arrays, band: Band, oversize: np.ndarray) -> tuple[str, Reason]:
    """Flag and reason of an out-of-band part: forced by a unit that fits no grid, else ``unbalanced``."""
    mn, mx = band.min_households, band.max_households
    allowed = np.ones(len(g.w), bool)
    allowed[oversize] = False
    pocket = _pocket(nodes_, allowed, g, band)
    if pocket is not None:
        return "no_feasible_k", pocket
    units = nodes_[g.w[nodes_] > 0]
    for u in units[np.lexsort((units, -g.w[units]))][:10]:
        if _unit_fits(int(u), allowed, g, band) is False:
            return "no_feasible_k", Reason.of(
                ReasonKind.UNIT_FITS_NOWHERE, unit=g.unit(u), households=round(g.w[u]), min=round(mn), max=round(mx)
            )
    big = nodes_[np.argmax(g.w[nodes_])]
    return "unbalanced", Reason.of(
        ReasonKind.UNBALANCED,
        households=round(hh),
        min=round(mn),
        max=round(mx),
        unit=g.unit(big),
        unit_households=round(g.w[big]),
    )


def _attach_empty(label: np.ndarray, g: _Arrays) -> None:
    """Give unlabelled nodes (no households) to the labelled neighbour with the longest border."""
    while (label < 0).any():
        changed = False
        for v in np.flatnonzero(label < 0):
            lo, hi = g.indptr[v], g.indptr[v + 1]
            nb = g.nbr[lo:hi]
            has = label[nb] >= 0
            if not has.any():
                continue
            border = np.bincount(label[nb[has]], weights=g.ncost[lo:hi][has] + 1e-12)
            label[v] = int(np.argmax(border))
            changed = True
        if not changed:
            todo = np.flatnonzero(label < 0)
            done = np.flatnonzero(label >= 0)
            if len(done) == 0:
                label[todo] = 0
                return
            # detached empty pieces: nearest labelled node
            v = todo[0]
            d = (g.x[done] - g.x[v]) ** 2 + (g.y[done] - g.y[v]) ** 2
            label[v] = label[done[np.argmin(d)]]


def _goal(
    graph: nx.Graph | CellGraph,
    inv: np.ndarray,
    n: int,
    limits: tuple[Limit, ...],
    balance: tuple[tuple[str, float], ...],
) -> _Goal | None:
    """Return the measures of `limits` and `balance` the graph carries, summed into the contracted nodes (or None)."""
    names = list(dict.fromkeys([lim.measure for lim in limits] + [name for name, _ in balance]))
    rows: dict[str, np.ndarray] = {}
    for name in names:
        if isinstance(graph, CellGraph):
            values = graph.measures.get(name)
            if values is None and name == "units" and graph.units is not None:
                values = graph.units
        else:
            nodes = sorted(graph.nodes)
            values = np.array([graph.nodes[v].get(name, np.nan) for v in nodes], float)
            values = None if np.isnan(values).all() else np.nan_to_num(values)
        if values is not None:
            rows[name] = np.bincount(inv, weights=np.asarray(values, float), minlength=n)
    if not rows:
        return None
    keys = list(rows)
    return _Goal(
        m=np.vstack([rows[k] for k in keys]),
        names=tuple(keys),
        limits=tuple((keys.index(lim.measure), lim) for lim in limits if lim.measure in rows),
        weights=tuple((keys.index(name), w) for name, w in balance if name in rows),
    )


def _why_limits(nodes_: np.ndarray, label: np.ndarray, g: _Arrays, band: Band) -> tuple[str, Reasons] | None:
    """Flag and reasons of a part that misses a limit: the proof where the data give one, else ``limit_unmet``.

    Proofs, in order: one unit alone holds more than the maximum; the part's connected area (its
    grids of one barrier group) admits too few (or needs too many) in-band grids for its total;
    every connected in-band set of nodes holding the part's heaviest unit misses the limit
    (:func:`_limit_fits`).
    """
    goal = g.goal
    assert goal is not None
    flag, out = "limit_unmet", []
    totals = goal.m[:, nodes_].sum(axis=1)
    for r, lim in goal.limits:
        value = float(totals[r])
        if lim.contains(value):
            continue
        text = lim.missed(value)
        name = goal.names[r]
        row = goal.m[r]
        cap = math.inf if lim.max is None else float(lim.max)
        heavy = nodes_[np.argmax(row[nodes_])] if value > cap else None
        if heavy is not None and row[heavy] > cap + TOLERANCE:
            flag = "limit_forced"
            out.append(
                Reason.of(
                    ReasonKind.UNIT_OVER_LIMIT,
                    unit=g.unit(heavy),
                    measure=name,
                    value=_num(row[heavy]),
                    limit=_num(cap),
                )
            )
            continue
        area = _area_of(nodes_, label, g)
        H, M = float(g.w[area].sum()), float(row[area].sum())
        ks = band.feasible_counts(H)
        if len(ks) and heavy is not None and M / (ks.stop - 1) > cap + TOLERANCE:
            flag = "limit_forced"
            out.append(
                Reason.of(
                    ReasonKind.AREA_OVER_LIMIT,
                    measure=name,
                    total=_num(M),
                    households=round(H),
                    grids=ks.stop - 1,
                    limit=_num(cap),
                    min=round(band.min_households),
                )
            )
            continue
        if len(ks) and heavy is None and lim.min is not None and M / ks.start < lim.min - TOLERANCE:
            flag = "limit_forced"
            out.append(
                Reason.of(
                    ReasonKind.AREA_UNDER_LIMIT,
                    measure=name,
                    total=_num(M),
                    households=round(H),
                    grids=ks.start,
                    limit=_num(lim.min),
                    max=round(band.max_households),
                )
            )
            continue
        unit = heavy if heavy is not None else nodes_[np.argmax(g.w[nodes_])]
        if _limit_fits(int(unit), area, g, band, r, lim) is False:
            flag = "limit_forced"
            out.append(
                Reason.of(
                    ReasonKind.LIMIT_FORCED,
                    unit=g.unit(unit),
                    measure=name,
                    value=_num(value),
                    limit=text,
                    min=round(band.min_households),
                    max=round(band.max_households),
                )
            )
            continue
        out.append(Reason.of(ReasonKind.LIMIT_UNMET, measure=name, value=_num(value), limit=text))
    return (flag, tuple(out)) if out else None


def _num(value: float) -> int | float:
    """Return a measure value for a reason: whole numbers as int, else rounded to 2 decimals."""
    return int(round(value)) if abs(value - round(value)) < 1e-9 else round(float(value), 2)


def _area_of(nodes_: np.ndarray, label: np.ndarray, g: _Arrays) -> np.ndarray:
    """Nodes of the connected area (across barriers, every grid) the part lies in."""
    n = len(g.w)
    everyone = np.flatnonzero(label >= 0)
    comp = _components(n, everyone, g)
    mine = comp[np.searchsorted(everyone, nodes_[0])]
    return everyone[comp == mine]


def _limit_fits(u: int, area: np.ndarray, g: _Arrays, band: Band, r: int, lim: Limit) -> bool | None:
    """Whether some connected set of `area` nodes holding `u` is in band and meets `lim` on measure row `r`.

    Depth-first over connected sets grown one node at a time, pruned where households pass the
    band's maximum (or, for a maximum limit, the measure passes it: values are never negative);
    ``False`` proves that every in-band grid holding `u` misses the limit, ``None`` means the
    search ran out of budget (:data:`FIT_BUDGET`).
    """
    row = g.goal.m[r] if g.goal is not None else np.zeros(len(g.w))
    allowed = np.zeros(len(g.w), bool)
    allowed[area] = True
    start = frozenset([u])
    seen = {start}
    stack = [start]
    while stack:
        if len(seen) > FIT_BUDGET:
            return None
        core = stack.pop()
        members = list(core)
        h, m = float(g.w[members].sum()), float(row[members].sum())
        if band.contains(h) and lim.contains(m):
            return True
        frontier = {int(t) for v in core for t in g.nbr[g.indptr[v] : g.indptr[v + 1]] if allowed[t] and t not in core}
        for t in sorted(frontier):
            nxt = core | {t}
            if nxt in seen or h + g.w[t] > band.max_households + TOLERANCE:
                continue
            if lim.max is not None and m + row[t] > lim.max + TOLERANCE:
                continue
            seen.add(nxt)
            stack.append(nxt)
    return False
