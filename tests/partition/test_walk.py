"""Walking distance on the streets, against walks computed by hand on a tiny street lattice."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geodata.errors import InputError
from partition.walk import grid_walks, street_graph

# Streets every 100 m (metres):
#
#   y=200  +-------+-------+
#          |       |     C |      A (100,110) on the middle street     B (10,5): 5 m from the bottom street
#   y=100  +-------A---D---+      C (195,190): 5 m from the right street D (150,100) on the middle street
#          |       |       |
#   y=0    +-B-----+-------+
#         x=0    x=100   x=200
LATTICE = np.array(
    [shapely.LineString([(0, y), (200, y)]) for y in (0, 100, 200)]
    + [shapely.LineString([(x, 0), (x, 200)]) for x in (0, 100, 200)]
)
A, B, C, D = (100, 110), (10, 5), (195, 190), (150, 100)
GRID = np.array([shapely.box(-50, -50, 250, 250)])


def walks(points, households=None, *, service=None, lines=LATTICE, min_network_m=0.0):
    pts = shapely.points(np.asarray(points, float))
    hh = np.ones(len(pts)) if households is None else np.asarray(households, float)
    graph = street_graph(lines, min_network_m=min_network_m)
    return grid_walks(graph, pts, hh, np.zeros(len(pts), int), GRID, service=service)


def test_the_lattice_is_noded_at_every_crossing():
    g = street_graph(LATTICE)
    assert (g.number_of_nodes(), g.number_of_edges()) == (9, 12)
    assert sorted({round(d["length"]) for *_, d in g.edges(data=True)}) == [100]


def test_walk_from_the_network_centre_to_the_farthest_household_is_the_hand_computed_one():
    # from A: to B 10 (down to the crossing) + 100 (down) + 90 (west) + 5 (to the door) = 205;
    # to C 10 + 100 + 90 + 5 = 205; to D 10 + 50 = 60. From D the walk to B is 50 + 100 + 90 + 5 = 245,
    # from B to C 5 + 90 + 200 + 190 + 5 = 490, from C to B the same: A is the centre, with 205 m.
    w = walks([B, C, D, A])
    assert w.service[0] == 3
    assert w.walk_m[0] == pytest.approx(205.0)
    assert w.farthest[0] in (0, 1)
    assert w.unreached[0] == 0


def test_a_chosen_service_point_walks_from_there():
    # service at D: to B 50 + 100 + 90 + 5 = 245 (to C 50 + 90 + 5 = 145, to A 50 + 10 = 60)
    w = walks([A, B, C, D], service=np.array([False, False, False, True]))
    assert w.service[0] == 3 and w.farthest[0] == 1
    assert w.walk_m[0] == pytest.approx(245.0)


def test_the_drawn_walk_runs_from_the_service_point_to_the_farthest_door_along_the_streets():
    w = walks([A, B, C, D], service=np.array([False, False, False, True]))
    line = w.path[0]
    assert line.length == pytest.approx(245.0)
    xy = shapely.get_coordinates(line)
    assert tuple(xy[0]) == D and tuple(xy[-1]) == B


def test_two_doors_on_one_street_piece_walk_along_it():
    w = walks([(20, 3), (80, 4)])
    assert w.walk_m[0] == pytest.approx(3 + 60 + 4)


def test_households_on_a_street_not_connected_are_counted_not_walked():
    island = shapely.LineString([(240, 40), (240, 60)])  # a lane ending 40 m from the lattice, joined to nothing
    w = walks([A, B, D, (241, 50)], households=[1, 1, 1, 2], lines=np.append(LATTICE, island))
    assert w.service[0] == 0  # the service point reaches the most households (3 of 5), then walks least
    assert w.unreached[0] == 2
    assert w.walk_m[0] == pytest.approx(205.0)


def test_a_fragment_too_short_to_be_a_street_network_is_dropped_and_its_door_walks_to_the_lattice():
    island = shapely.LineString([(240, 40), (240, 60)])
    w = walks([A, B, D, (241, 50)], lines=np.append(LATTICE, island), min_network_m=100)
    # the door at (241, 50) now walks 41 m to the right street: from A 10 + 100 + 50 + 41 = 201 < 205
    assert w.unreached[0] == 0
    assert w.walk_m[0] == pytest.approx(205.0)


def test_an_address_without_households_is_never_the_farthest():
    w = walks([A, D, B], households=[1, 1, 0])
    assert w.walk_m[0] == pytest.approx(60.0)


def test_no_lines_is_one_clear_error():
    with pytest.raises(InputError, match="streets: has no lines"):
        street_graph(np.array([shapely.Point(0, 0)]))
