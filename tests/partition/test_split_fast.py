"""The splitter's batched and cached paths make the decisions of the plain ones, on random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import partition.split as split_mod
from partition.reasons import Reason, ReasonKind
from partition.split import split_graph


def _holed_lattice(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray]:
    """A lattice with edges left out (so sides of a cut fall into several pieces), as (n, u, v)."""
    nx_, ny = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    keep = draw(st.lists(st.booleans(), min_size=2 * nx_ * ny, max_size=2 * nx_ * ny))
    u, v = [], []
    for i in range(nx_):
        for j in range(ny):
            node = i * ny + j
            if i + 1 < nx_ and keep[2 * node]:
                u.append(node)
                v.append(node + ny)
            if j + 1 < ny and keep[2 * node + 1]:
                u.append(node)
                v.append(node + 1)
    return nx_ * ny, np.array(u, int), np.array(v, int)


@st.composite
def sweep_cases(draw: st.DrawFn) -> tuple:
    n, u, v = _holed_lattice(draw)
    scale = draw(st.sampled_from([1.0, 0.1, 0.37]))
    w = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), float) * scale
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ranks = np.array([rng.permutation(n) for _ in range(3)])
    cuts = draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, n - 2)), min_size=1, max_size=8, unique=True))
    return w, u, v, ranks, cuts


def _sweep_cuts(w: np.ndarray, u: np.ndarray, v: np.ndarray, ranks: np.ndarray, cuts: list) -> tuple:
    """Bisection's batched sweep cuts ``(angle, p)`` (the first p + 1 nodes in order `angle`) on the edges `u`, `v`."""
    edges = split_mod._Edges(u.astype(np.int32), v.astype(np.int32), np.ones(len(u)), np.argsort(v, kind="stable"))
    left = np.array([ranks[a] <= p for a, p in cuts])
    return split_mod._sweep_cuts(left, left[:, u] != left[:, v], w, edges)


def _make_contiguous(left: np.ndarray, w: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """One cut made contiguous alone, as bisection did cut by cut: each side's pieces but its heaviest change sides."""

    def side_components(side: np.ndarray) -> np.ndarray:
        same = side[src] == side[dst]
        return split_mod._component_labels(len(side), src[same], dst[same])

    left = left.copy()
    lab = side_components(left)
    for flip_side in (True, False):
        on = left == flip_side
        comps = np.unique(lab[on])
        if len(comps) <= 1:
            continue
        weight = np.bincount(lab[on], weights=w[on] + 1e-9, minlength=lab.max() + 1)
        keep = comps[np.argmax(weight[comps])]
        left[on & (lab != keep)] = not flip_side
        lab = side_components(left)  # the flipped pieces joined the other side
    return left


@given(sweep_cases())
@settings(max_examples=300, deadline=None)
def test_all_cuts_at_once_are_each_cut_made_contiguous_alone(case):
    """Bisection makes every candidate cut contiguous in one batch: the same sides as one cut at a time."""
    w, u, v, ranks, cuts = case
    src, dst = split_mod._both_ways(u, v)
    got, changed = _sweep_cuts(*case)
    for r, ((a, p), row) in enumerate(zip(cuts, got, strict=True)):
        alone = _make_contiguous(ranks[a] <= p, w, src, dst)
        assert np.array_equal(row, alone)
        assert r in changed or np.array_equal(row, ranks[a] <= p)  # the rows not named are the sweep's own


@given(sweep_cases())
@settings(max_examples=100, deadline=None)
def test_batched_cuts_without_scipys_inner_routine_give_the_same_sides(case):
    """Where scipy moved its inner routine, the public connected_components gives the same sides."""
    fast, _ = _sweep_cuts(*case)
    inner = split_mod._connected_components_undirected
    split_mod._connected_components_undirected = None
    try:
        public, _ = _sweep_cuts(*case)
    finally:
        split_mod._connected_components_undirected = inner
    assert np.array_equal(fast, public)


def test_a_grid_holding_a_detached_empty_cell_is_reported_cut_apart():
    """An empty cell cut off from the rest joins the nearest grid, which is then in pieces: an enclave."""
    g = nx.Graph()
    for v, (x, hh) in enumerate([(0.5, 200.0), (1.5, 200.0), (5.5, 0.0), (8.5, 400.0)]):
        g.add_node(v, households=hh, x=x, y=0.5, area=1.0)
    g.add_edge(0, 1, length=1.0, barrier=False)
    parts = split_graph(g, min_households=300, max_households=500)
    assert [(p.nodes, p.status) for p in parts] == [((0, 1), "ok"), ((2, 3), "enclave")]
    assert parts[1].reasons == (Reason.of(ReasonKind.CUT_APART),)
    assert parts[0].reasons == ()


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1e6) | st.sampled_from([0.1, 0.2, 0.3])),
        max_size=20,
    )
)
@settings(max_examples=300, deadline=None)
def test_a_nodes_border_with_each_neighbouring_grid_is_numpys_sum(edges):
    """Refinement sums a node's borders per neighbouring grid in one pass: the same floats as numpy's sums."""
    nlab = [lb for lb, _ in edges]
    cost = [c for _, c in edges]
    border = split_mod._borders(cost, nlab)
    labels = np.array(nlab, int)
    assert border == {lb: float(np.sum(np.array(cost)[labels == lb])) for lb in set(nlab)}


def _plain_refine(label: np.ndarray, idx: np.ndarray, g, band, *, polish: bool = True) -> None:
    """Refinement as first written: every boundary node looked at on every pass (the reference)."""
    parts: dict[int, set[int]] = {}
    for v in idx:
        parts.setdefault(int(label[v]), set()).add(int(v))
    weight = {p: float(g.w[list(s)].sum()) for p, s in parts.items()}
    boundary = split_mod._boundary(label, g)
    for _ in range(split_mod.REFINE_PASSES):
        moved = 0
        for v in sorted(idx.tolist()):
            a = int(label[v])
            if not boundary[v] or len(parts[a]) <= 1:
                continue
            nb = g.nbr[g.indptr[v] : g.indptr[v + 1]]
            cost, bar, nlab = g.ncost[g.indptr[v] : g.indptr[v + 1]], g.nbar[g.indptr[v] : g.indptr[v + 1]], label[nb]
            options = []
            for b in sorted(set(nlab.tolist()) - {a}):
                if b not in parts or bar[nlab == b].all():
                    continue
                wv = g.w[v]
                dviol = (
                    band.violation(weight[a] - wv)
                    + band.violation(weight[b] + wv)
                    - band.violation(weight[a])
                    - band.violation(weight[b])
                )
                gain = cost[nlab == b].sum() - cost[nlab == a].sum()
                if dviol < -1e-9 or (polish and abs(dviol) <= 1e-9 and gain > 1e-9):
                    options.append((dviol, -gain, b))
            if not options or not split_mod._stays_connected(v, parts[a], g):
                continue
            b = min(options)[2]
            parts[a].discard(v)
            parts[b].add(v)
            weight[a] -= g.w[v]
            weight[b] += g.w[v]
            label[v] = b
            boundary[nb] = True
            moved += 1
        if not moved:
            return


@st.composite
def refine_cases(draw: st.DrawFn) -> tuple:
    side = draw(st.integers(3, 10))
    graph = nx.Graph()
    for node in range(side * side):
        hh = draw(st.sampled_from([0.0, 10.0, 20.0, 30.0, 60.0]))
        graph.add_node(node, households=hh, x=float(node % side), y=float(node // side), area=1.0)
    for node in range(side * side):
        for other in (node + 1, node + side):
            if (other == node + 1 and other % side == 0) or other >= side * side:
                continue
            length = draw(st.sampled_from([0.1, 0.2, 0.3, 1.0, 1.7]))
            graph.add_edge(node, other, length=length, barrier=draw(st.integers(0, 9)) == 0)
    g, _ = split_mod._arrays(graph, 1e9)
    idx = np.arange(len(g.w))
    k = draw(st.integers(2, 6))
    if (g.w > 0).sum() < k:
        k = 2
        g.w[:2] = 10.0
    label = split_mod._grow(idx, k, g, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    mean = g.w.sum() / k
    low, high = draw(st.sampled_from([0.7, 0.9, 1.0])), draw(st.sampled_from([1.0, 1.1, 1.3]))
    band = split_mod.Band(max(mean * low, 1.0), mean * high)
    return g, label, band, draw(st.booleans())


@given(refine_cases())
@settings(max_examples=150, deadline=None)
def test_refinement_that_skips_unchanged_nodes_moves_as_the_plain_one(case):
    """Refinement looks again only at nodes whose surroundings changed: the same moves as looking at every one."""
    g, label, band, polish = case
    idx = np.arange(len(g.w))
    fast, plain = label.copy(), label.copy()
    split_mod._refine(fast, idx, g, band, polish=polish)
    _plain_refine(plain, idx, g, band, polish=polish)
    assert np.array_equal(fast, plain)


@given(refine_cases(), st.lists(st.integers(0, 10**6), max_size=6))
@settings(max_examples=150, deadline=None)
def test_refining_again_after_other_moves_moves_as_refining_afresh(case, picks):
    """Refinement keeps its bookkeeping across chains and other moves: refining again moves as a fresh start would."""
    g, label, band, polish = case
    idx = np.arange(len(g.w))
    kept, fresh = label.copy(), label.copy()
    refiner = split_mod._Refiner(kept, idx, g, band)
    refiner.run(polish=polish)
    split_mod._refine(fresh, idx, g, band, polish=polish)
    before = kept.copy()
    split_mod._rebalance(kept, idx, g, band)
    for pick in picks:  # and some nodes handed to a neighbour's grid, as a chain would
        v = pick % len(idx)
        nbr = g.nbr[g.indptr[v] : g.indptr[v + 1]]
        if len(nbr):
            kept[v] = kept[nbr[pick % len(nbr)]]
    fresh[:] = kept
    refiner.moved(before)
    assert refiner.run(polish=polish) == split_mod._refine(fresh, idx, g, band, polish=polish)
    assert np.array_equal(kept, fresh)


@given(refine_cases(), st.integers(2, 6))
@settings(max_examples=100, deadline=None)
def test_bisection_adds_whole_households_in_any_order_to_the_same_cuts(case, k):
    """Whole households are summed for all cuts at once: the same grids as summing each cut on its own."""
    g, _, band, _ = case
    idx = np.arange(len(g.w))
    assert g.whole
    at_once = split_mod._bisect(idx, k, g, band)
    g.whole = False
    one_by_one = split_mod._bisect(idx, k, g, band)
    assert [part.tolist() for part in at_once] == [part.tolist() for part in one_by_one]


@given(refine_cases(), st.lists(st.booleans(), min_size=100, max_size=100))
@settings(max_examples=100, deadline=None)
def test_the_edges_handed_to_a_half_are_those_rebuilt_from_the_graph(case, keep):
    """A half's edges filtered from its parent's: the same arrays, in the same order, as built from the whole graph."""
    g = case[0]
    idx = np.arange(len(g.w))
    mask = np.array(keep[: len(idx)])
    handed, rebuilt = split_mod._Edges.of(idx, g).within(mask), split_mod._Edges.of(idx[mask], g)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(handed, rebuilt, strict=True))


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=40), st.data())
@settings(max_examples=200, deadline=None)
def test_the_sweep_handed_to_a_half_is_the_one_sorted_afresh(points, data):
    """A half's sweep orders filtered from its parent's: the orders and ranks sorting the half's nodes again gives.

    Coordinates on a small lattice project to equal values along several directions: ties are
    broken by node, as the stable sort of the half's nodes breaks them.
    """
    x, y = (np.array(c, float) for c in zip(*points, strict=True))
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(x), max_size=len(x))))
    handed, sorted_afresh = split_mod._Sweep.of(x, y).within(keep), split_mod._Sweep.of(x[keep], y[keep])
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(handed, sorted_afresh, strict=True))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.integers(0, 2), st.integers(0, 3)), min_size=1))
@settings(max_examples=300, deadline=None)
def test_the_best_cut_of_a_plan_is_the_first_of_the_least_scores(rows):
    """Bisection picks a plan's cut from all scores at once: the cut scoring them one by one in order keeps."""
    off, *rest = zip(*rows, strict=True)
    keys = (np.array(off), *(np.array(column) / 3 for column in rest))  # a flag, then fractions with ties
    best = None
    for j, row in enumerate(zip(*keys, strict=True)):
        if best is None or row < best[0]:
            best = (row, j)
    assert split_mod._first_least(keys) == best[1]


@given(
    st.lists(st.lists(st.integers(0, 60), min_size=6, max_size=6), min_size=1, max_size=8),
    st.integers(0, 200),
    st.integers(0, 120),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_cut_positions_for_all_directions_at_once_are_each_directions_own(rows, lo, width, limited, wide):
    """Cut positions picked for all sweep directions at once: the ones the rule picks direction by direction."""
    sums = np.cumsum(np.array(rows, float), axis=1)
    lo, hi = float(lo), float(lo + width)
    target = (lo + hi) / 2
    expected = []
    for a, row in enumerate(sums):
        ok = np.flatnonzero((row >= lo - split_mod.TOLERANCE) & (row <= hi + split_mod.TOLERANCE))
        if len(ok):
            near = ok[np.argmin(np.abs(row[ok] - target))]
            at = [int(near)] if wide else sorted({int(near), int(ok[len(ok) // 4]), int(ok[(3 * len(ok)) // 4])})
            if limited:
                at = sorted({*at, *ok[np.linspace(0, len(ok) - 1, split_mod.LIMIT_CUTS).astype(int)].tolist()})
        else:
            at = [int(np.argmin(np.abs(row - target)))]
        expected += [(a, p) for p in at]
    assert split_mod._sweep_positions(sums, lo, hi, target, limited=limited, wide=wide) == expected


def _plain_grow(idx: np.ndarray, k: int, g, rng: np.random.Generator) -> np.ndarray:
    """Seeded growth as first written: every frontier refiltered with array reads at every step (the reference)."""
    label = np.full(len(g.w), -1)
    heavy = idx[g.w[idx] > 0]
    seeds = rng.choice(heavy if len(heavy) >= k else idx, size=k, replace=False)
    inset = np.zeros(len(g.w), bool)
    inset[idx] = True
    weight = np.zeros(k)
    for p, v in enumerate(seeds):
        label[v] = p
        weight[p] = g.w[v]
    frontier: list[set[int]] = [set() for _ in range(k)]

    def extend(p: int, v: int) -> None:
        frontier[p].update(int(u) for u in g.nbr[g.indptr[v] : g.indptr[v + 1]] if inset[u] and label[u] < 0)

    for p, v in enumerate(seeds):
        extend(p, int(v))
    while True:
        frontier = [{u for u in f if label[u] < 0} for f in frontier]
        open_ = [p for p in range(k) if frontier[p]]
        if not open_:
            break
        p = min(open_, key=lambda q: (weight[q], q))
        v = int(rng.choice(sorted(frontier[p])))
        label[v] = p
        weight[p] += g.w[v]
        extend(p, v)
    label[idx[label[idx] < 0]] = 0
    return label


@given(refine_cases(), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_seeded_growth_makes_the_parts_of_the_plain_one_from_the_same_draws(case, seed):
    """Seeded restarts grow parts on lists: the same parts, from the same random draws, as the plain growth."""
    g, label, _, _ = case
    idx = np.arange(len(g.w))
    k = int(label.max()) + 1
    fast, plain = np.random.default_rng(seed), np.random.default_rng(seed)
    assert np.array_equal(split_mod._grow(idx, k, g, fast), _plain_grow(idx, k, g, plain))
    assert fast.integers(1 << 30) == plain.integers(1 << 30)  # and left the generator in the same state


def _plain_push(src, dst, lo, hi, label, parts, weight, g, *, barriers: bool) -> bool:
    """Chain step as first written: each node's borders read from arrays (the reference)."""
    sent = 0.0
    while sent < lo - 1e-9:
        best = None
        for v in parts[src]:
            wv = g.w[v]
            if wv <= 0 or sent + wv > hi + 1e-9:
                continue
            s, e = g.indptr[v], g.indptr[v + 1]
            nlab = label[g.nbr[s:e]]
            to_dst = nlab == dst
            if not to_dst.any() or (not barriers and g.nbar[s:e][to_dst].all()):
                continue
            key = (-(g.ncost[s:e][to_dst].sum() - g.ncost[s:e][nlab == src].sum()), v)
            if (best is None or key < best[0]) and len(parts[src]) > 1 and split_mod._stays_connected(v, parts[src], g):
                best = (key, v)
        if best is None:
            return False
        v = best[1]
        parts[src].discard(v)
        parts[dst].add(v)
        weight[src] -= g.w[v]
        weight[dst] += g.w[v]
        label[v] = dst
        sent += g.w[v]
    return True


@given(refine_cases(), st.floats(0, 150), st.floats(0, 100), st.booleans())
@settings(max_examples=150, deadline=None)
def test_a_chain_step_moves_the_nodes_of_the_plain_one(case, lo, extra, barriers):
    """A chain step picks each move from sorted candidates on lists: the same moves as the plain step."""
    g, label, _, _ = case
    idx = np.arange(len(g.w))
    results = []
    for push in (split_mod._push, _plain_push):
        trial = label.copy()
        parts, weight = split_mod._part_weights(trial, idx, g)
        done = push(0, 1, lo, lo + extra, trial, parts, weight, g, barriers=barriers)
        results.append((done, trial.tolist(), weight))
    assert results[0] == results[1]
