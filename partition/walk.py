"""Walking distance on the streets: per grid, from its service point to its farthest household.

Pure functions (no I/O) on shapely arrays in one metric CRS. The street lines become a
:mod:`networkx` graph, noded where lines cross or meet; shortest paths run on its scipy sparse
matrix. Every address is snapped to its nearest street piece: the walk is the straight way from
the door to the street, along the streets, then the straight way to the other door.

Tunnels and bridges are joined to the lines they cross (the input carries no levels); lines
that only nearly meet (a gap wider than ``precision``) stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import dijkstra

from geodata.errors import InputError, Problem

MARGIN_M = 500.0
"""How far outside its grid a walk may go: streets within this of the grid are searched."""
MIN_NETWORK_M = 1000.0
"""Street pieces joined to less than this much street in all are dropped: a lane inside a compound that the
data do not join to any street would otherwise strand the doors next to it (OSMnx keeps only the largest
network by default; this keeps every network of a real size, e.g. both banks of a river without a bridge)."""


def street_graph(lines: np.ndarray, *, precision: float = 0.01, min_network_m: float = MIN_NETWORK_M) -> nx.Graph:
    """Return the street network of `lines` as a graph noded at every crossing and meeting point.

    Parameters
    ----------
    lines
        LineStrings / MultiLineStrings in a metric CRS (other geometry types are ignored).
    precision
        Line ends closer than this (metres) are one node.
    min_network_m
        Connected pieces with less street than this in all (metres) are dropped, unless nothing longer
        is left.

    Returns
    -------
    graph
        Integer nodes with ``x``, ``y``; one edge per street piece between two nodes with
        ``length`` (m), ``geometry`` (the piece) and ``start`` (the node its geometry starts at).
        Of two pieces joining the same nodes the shorter is kept.

    Raises
    ------
    InputError
        When `lines` hold no line.

    Examples
    --------
    >>> import shapely
    >>> lines = [shapely.LineString([(0, 0), (200, 0)]), shapely.LineString([(100, -50), (100, 50)])]
    >>> g = street_graph(np.array(lines), min_network_m=0)
    >>> g.number_of_nodes(), g.number_of_edges(), sorted(round(d["length"]) for *_, d in g.edges(data=True))
    (5, 4, [50, 50, 100, 100])
    """
    geoms = shapely.get_parts(np.asarray(lines, dtype=object))
    geoms = geoms[np.isin(shapely.get_type_id(geoms), (1, 2)) & ~shapely.is_empty(geoms)]
    if not len(geoms):
        raise InputError(Problem("streets", "has no lines.", "pass street centre lines (LineString), e.g. OSM roads."))
    geoms = shapely.force_2d(geoms)
    pieces = shapely.get_parts(shapely.union_all(geoms))  # noded at every crossing, overlaps dissolved
    pieces = pieces[shapely.length(pieces) > 0]
    ends = np.vstack(
        [shapely.get_coordinates(shapely.get_point(pieces, 0)), shapely.get_coordinates(shapely.get_point(pieces, -1))]
    )
    xy, node = np.unique(np.round(ends / precision).astype(np.int64), axis=0, return_inverse=True)
    node = node.ravel()
    n = len(pieces)
    start, end = node[:n], node[n:]
    length = shapely.length(pieces)
    graph = nx.Graph()
    graph.add_nodes_from((i, {"x": float(x), "y": float(y)}) for i, (x, y) in enumerate(xy * precision))
    for i in np.argsort(-length, kind="stable"):  # shorter pieces overwrite longer ones between the same nodes
        if start[i] != end[i]:
            graph.add_edge(int(start[i]), int(end[i]), length=float(length[i]), geometry=pieces[i], start=int(start[i]))
    parts = [
        (sum(d["length"] for *_, d in graph.subgraph(c).edges(data=True)), c) for c in nx.connected_components(graph)
    ]
    small = [c for total, c in parts if total < min_network_m]
    if len(small) < len(parts):
        graph.remove_nodes_from({n for c in small for n in c})
    return graph


@dataclass(frozen=True)
class Walks:
    """Result of :func:`grid_walks`: one value per grid (NaN / -1 / None where the grid has no household)."""

    walk_m: np.ndarray
    """Metres from the service point to the farthest household it reaches on the streets."""
    unreached: np.ndarray
    """Households whose street piece is not connected to the service point's (within the margin)."""
    service: np.ndarray
    """Row of the addresses of each grid's service point (-1: none)."""
    farthest: np.ndarray
    """Row of the addresses of the farthest household reached (-1: none)."""
    path: np.ndarray
    """The walk as a LineString (service point → streets → farthest household), None where there is none."""


def grid_walks(
    graph: nx.Graph,
    points: np.ndarray,
    households: np.ndarray,
    grid: np.ndarray,
    grid_geoms: np.ndarray,
    *,
    service: np.ndarray | None = None,
    margin_m: float = MARGIN_M,
) -> Walks:
    """Return every grid's walk from its service point to its farthest household, along the streets.

    The service point is the grid's network centre among its addresses: the address from which
    the farthest household is nearest (households unreached count first). With `service`, only
    the addresses marked there are candidates (those of a grid with no marked address: all).

    Parameters
    ----------
    graph
        The streets (:func:`street_graph`).
    points
        Address points.
    households
        Households of each address (an address with 0 is never a farthest household).
    grid
        Row of `grid_geoms` of each address (-1: in no grid).
    grid_geoms
        The grids' polygons: streets within `margin_m` of a grid are searched for its walks.
    service
        Boolean per address: the addresses that may be the service point (e.g. a 服务站 column).
    margin_m
        How far outside its grid a walk may go.

    Returns
    -------
    walks
        See :class:`Walks`.
    """
    n_grids = len(grid_geoms)
    out = Walks(
        walk_m=np.full(n_grids, np.nan),
        unreached=np.zeros(n_grids),
        service=np.full(n_grids, -1),
        farthest=np.full(n_grids, -1),
        path=np.full(n_grids, None, dtype=object),
    )
    edges = list(graph.edges(data=True))
    if not edges or not len(points):
        return out
    eu = np.array([d["start"] for *_, d in edges])
    ev = np.array([b if d["start"] == a else a for a, b, d in edges])
    elen = np.array([d["length"] for *_, d in edges])
    egeom = np.array([d["geometry"] for *_, d in edges], dtype=object)
    tree = shapely.STRtree(egeom)
    (pi, edge), off = tree.query_nearest(points, return_distance=True, all_matches=False)
    snap_edge = np.full(len(points), -1)
    snap_off = np.full(len(points), np.nan)
    snap_edge[pi], snap_off[pi] = edge, off
    along = shapely.line_locate_point(egeom[np.maximum(snap_edge, 0)], points)
    hh = np.asarray(households, float)
    marked = np.zeros(len(points), bool) if service is None else np.asarray(service, bool)
    by_grid = {g: idx for g, idx in _groups(grid).items() if g >= 0}
    for g, idx in by_grid.items():
        idx = idx[hh[idx] > 0] if service is None else idx[(hh[idx] > 0) | marked[idx]]
        if not len(idx) or not (hh[idx] > 0).any():
            continue
        local = np.union1d(tree.query(shapely.buffer(grid_geoms[g], margin_m), predicate="intersects"), snap_edge[idx])
        walk = _grid_walk(idx, local, eu, ev, elen, snap_edge, snap_off, along, hh, marked)
        if walk is None:
            continue
        s, f, metres, unreached, route = walk
        out.walk_m[g], out.unreached[g], out.service[g], out.farthest[g] = metres, unreached, s, f
        out.path[g] = _path_line(graph, edges, route, s, f, points, snap_edge, along)
    return out


def _groups(labels: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(labels, kind="stable")
    keys, first = np.unique(labels[order], return_index=True)
    return {int(k): part for k, part in zip(keys, np.split(order, first[1:]), strict=True)}


def _grid_walk(
    idx: np.ndarray,
    local: np.ndarray,
    eu: np.ndarray,
    ev: np.ndarray,
    elen: np.ndarray,
    snap_edge: np.ndarray,
    snap_off: np.ndarray,
    along: np.ndarray,
    hh: np.ndarray,
    marked: np.ndarray,
) -> tuple[int, int, float, float, list[int]] | None:
    """Return the walk of one grid: service row, farthest row, metres, households unreached, node route."""
    nodes, inv = np.unique(np.concatenate([eu[local], ev[local]]), return_inverse=True)
    m = len(local)
    w = elen[local]
    mat = coo_array((np.concatenate([w, w]), (np.concatenate([inv[:m], inv[m:]]), np.concatenate([inv[m:], inv[:m]]))))
    mat = mat.tocsr()
    e = snap_edge[idx]
    u = np.searchsorted(nodes, eu[e])
    v = np.searchsorted(nodes, ev[e])
    ends, end_inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    dist, pred = dijkstra(mat, directed=False, indices=ends, return_predecessors=True)
    k = len(idx)
    su, sv = end_inv[:k], end_inv[k:]
    to_u = snap_off[idx] + along[idx]  # from the door to the piece's start node, along the piece
    to_v = snap_off[idx] + (elen[e] - along[idx])
    best = np.full((k, k), np.inf)
    for a_end, a_off in ((su, to_u), (sv, to_v)):
        for b_end, b_off in ((u, to_u), (v, to_v)):
            best = np.minimum(best, a_off[:, None] + dist[a_end][:, b_end] + b_off[None, :])
    same = e[:, None] == e[None, :]
    direct = snap_off[idx][:, None] + np.abs(along[idx][:, None] - along[idx][None, :]) + snap_off[idx][None, :]
    best = np.where(same, np.minimum(best, direct), best)
    is_hh = hh[idx] > 0
    cand = marked[idx] if marked[idx].any() else np.ones(k, bool)
    reach = np.where(np.isfinite(best[:, is_hh]), best[:, is_hh], -np.inf)
    unreached = (~np.isfinite(best[:, is_hh]) * hh[idx][is_hh]).sum(axis=1)
    far = reach.max(axis=1)
    score = np.lexsort((far, unreached))  # fewest unreached households, then the shortest farthest walk
    i = int(next(j for j in score if cand[j]))
    cols = np.flatnonzero(is_hh)
    j = int(cols[int(np.argmax(reach[i]))])
    metres = float(best[i, j])
    route = _route(i, j, su, sv, u, v, to_u, to_v, dist, pred, same[i, j], direct[i, j])
    return int(idx[i]), int(idx[j]), metres, float(unreached[i]), [int(nodes[r]) for r in route]


def _route(i, j, su, sv, u, v, to_u, to_v, dist, pred, same: bool, direct: float) -> list[int]:
    """Node route (local numbering) of the shortest walk from address i to address j; [] along one piece."""
    best = (np.inf, -1, -1)
    for a_end, a_off in ((su[i], to_u[i]), (sv[i], to_v[i])):
        for b_node, b_off in ((u[j], to_u[j]), (v[j], to_v[j])):
            total = a_off + dist[a_end, b_node] + b_off
            if total < best[0]:
                best = (total, a_end, b_node)
    if same and direct <= best[0]:
        return []
    _, a_end, node = best
    route = [int(node)]
    while pred[a_end, node] >= 0:
        node = pred[a_end, node]
        route.append(int(node))
    return route[::-1]


def _path_line(
    graph: nx.Graph,
    edges: list,
    route: list[int],
    s: int,
    f: int,
    points: np.ndarray,
    snap_edge: np.ndarray,
    along: np.ndarray,
) -> shapely.LineString:
    """Return the walk as a line: door of `s`, its street piece, the route, the piece of `f`, door of `f`."""
    from shapely.ops import substring

    def piece(row: int) -> tuple[shapely.LineString, int]:
        d = edges[snap_edge[row]][2]
        return d["geometry"], d["start"]

    coords = [shapely.get_coordinates(points[s])]
    line_s, start_s = piece(s)
    line_f, start_f = piece(f)
    if not route:
        coords.append(shapely.get_coordinates(substring(line_s, along[s], along[f])))
    else:
        first, last = route[0], route[-1]
        coords.append(shapely.get_coordinates(substring(line_s, along[s], 0 if first == start_s else line_s.length)))
        for a, b in zip(route[:-1], route[1:], strict=True):
            d = graph.edges[a, b]
            xy = shapely.get_coordinates(d["geometry"])
            coords.append(xy if d["start"] == a else xy[::-1])
        coords.append(shapely.get_coordinates(substring(line_f, 0 if last == start_f else line_f.length, along[f])))
    coords.append(shapely.get_coordinates(points[f]))
    xy = np.vstack(coords)
    keep = np.concatenate([[True], np.any(np.diff(xy, axis=0) != 0, axis=1)])
    xy = xy[keep]
    return shapely.LineString(xy if len(xy) > 1 else np.vstack([xy, xy]))
