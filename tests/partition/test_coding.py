"""Grid codes: reading order, ranges, uniqueness, inheritance and retired codes across runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partition.coding import assign_codes, reading_order

V = "310115005001"


def layout(xy, *, exclusive=None, village=V, area=100.0 * 100.0):
    n = len(xy)
    return pd.DataFrame(
        {
            "village_code": village,
            "exclusive": exclusive if exclusive is not None else [False] * n,
            "x": [p[0] for p in xy],
            "y": [p[1] for p in xy],
            "area": [area] * n,
        }
    )


def test_reading_order_is_rows_north_to_south_then_west_to_east():
    # grids of ~100 m; label points jitter a little within a row
    #   A(0,205)   B(110,195)  C(210,200)
    #   D(5,100)   E(100,108)
    #   F(0,0)
    xy = {"A": (0, 205), "B": (110, 195), "C": (210, 200), "D": (5, 100), "E": (100, 108), "F": (0, 0)}
    names = ["E", "C", "F", "A", "D", "B"]  # input order must not matter
    pts = np.array([xy[n] for n in names], float)
    order = reading_order(pts[:, 0], pts[:, 1], np.full(6, 100.0 * 100.0))
    assert [names[i] for i in order] == ["A", "B", "C", "D", "E", "F"]


def test_codes_ranges_and_single_grid():
    grids = layout([(0, 100), (100, 100), (0, 0), (100, 0)], exclusive=[False, True, False, False])
    codes = assign_codes(grids).codes
    assert codes.tolist() == [V + "001", V + "800", V + "002", V + "003"]
    single = assign_codes(layout([(0, 0)])).codes
    assert single.tolist() == [V + "000"]
    assert all(len(c) == 15 and c.isdigit() and c[:12] == V for c in codes)


def overlap(rows):
    return pd.DataFrame(rows, columns=["grid", "old_code", "households"])


def test_inheritance_split_merge_new_and_retired_never_reused():
    # run 1: three grids 001 002 003 (west→east)
    run1 = assign_codes(layout([(0, 0), (100, 0), (200, 0)]))
    assert run1.codes.tolist() == [V + "001", V + "002", V + "003"]
    # run 2: 001 split into two (60/40), 002 and 003 merged (002 had more), one new grid east
    g2 = layout([(0, 0), (50, 0), (150, 0), (300, 0)])
    ov2 = overlap(
        [
            (0, V + "001", 240),
            (1, V + "001", 160),
            (2, V + "002", 400),
            (2, V + "003", 300),
        ]
    )
    run2 = assign_codes(g2, overlap=ov2, history=run1.history)
    codes2 = run2.codes.tolist()
    assert codes2[0] == V + "001"  # holds 60 % of old 001
    assert codes2[2] == V + "002"  # holds all of 002
    assert codes2[1] == V + "004" and codes2[3] == V + "005"  # next never-used numbers
    assert run2.retired == [V + "003"]
    reasons = dict(zip(run2.changes["old_code"], run2.changes["reason"], strict=False))
    assert reasons[V + "003"] == "retired: merged"
    # run 3: everything re-drawn as 4 new grids that match nothing: 003 is never issued again
    g3 = layout([(0, 0), (100, 0), (200, 0), (300, 0)])
    ov3 = overlap([(0, c, 10) for c in codes2])  # grid 0 takes a little of each old grid (no majority)
    ov3 = pd.concat([ov3, overlap([(np.nan, c, 400) for c in codes2])], ignore_index=True)
    run3 = assign_codes(g3, overlap=ov3, history=run2.history)
    assert V + "003" not in run3.codes.tolist()
    assert run3.codes.tolist() == [V + "006", V + "007", V + "008", V + "009"]
    assert len(set(run3.history)) == 9


def test_identical_runs_give_identical_codes():
    g = layout([(0, 0), (100, 0), (0, 100)])
    a = assign_codes(g)
    ov = overlap([(i, c, 100) for i, c in enumerate(a.codes)])
    b = assign_codes(g, overlap=ov, history=a.history)
    assert a.codes.tolist() == b.codes.tolist()
    assert b.retired == []


def test_exclusive_codes_inherit_only_exclusive_codes():
    g = layout([(0, 0), (100, 0)], exclusive=[False, True])
    a = assign_codes(g)
    assert a.codes.tolist() == [V + "001", V + "800"]
    # the exclusive grid now sits where the base grid was: no cross-kind inheritance
    ov = overlap([(1, V + "001", 100), (0, V + "800", 100)])
    b = assign_codes(g, overlap=ov, history=a.history)
    assert b.codes.tolist() == [V + "002", V + "801"]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single(n):
    g = layout([(0, 0)] * n)
    assert len(assign_codes(g).codes) == n
