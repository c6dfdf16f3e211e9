"""Grid codes: reading order, ranges, uniqueness, inheritance and retired codes across runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partition.coding import assign_codes, check_codes, reading_order
from partition.reasons import decode

V = "310115005001"


def why(found: pd.DataFrame) -> list[dict]:
    """The reasons of check_codes' findings, as plain data."""
    return [r.to_dict() for cell in found["reason"] for r in decode(cell)]


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


def test_a_village_that_stays_one_grid_keeps_000_and_retires_nothing():
    first = assign_codes(layout([(0, 0)]))
    assert first.codes.tolist() == [V + "000"]
    for households in (420.0, 0.0):  # also a village nobody lives in yet
        again = assign_codes(layout([(0, 0)]), overlap=overlap([(0, V + "000", households)]), history=first.history)
        assert again.codes.tolist() == [V + "000"]
        assert again.retired == []
        assert again.changes[["old_code", "new_code", "reason"]].to_numpy().tolist() == [[V + "000", V + "000", "kept"]]
        assert again.history == [V + "000"]


def test_000_is_retired_when_the_village_is_divided_and_issued_when_grids_merge_into_one():
    # one grid 000 becomes two: 000 cannot name a part of a divided village
    split = assign_codes(layout([(0, 0), (100, 0)]), overlap=overlap([(0, V + "000", 250), (1, V + "000", 250)]))
    assert split.codes.tolist() == [V + "001", V + "002"]
    assert split.retired == [V + "000"]
    assert split.changes.set_index("old_code").loc[V + "000", "reason"] == "retired: split"
    # two grids 001 002 become one: the village is undivided again
    merged = assign_codes(layout([(0, 0)]), overlap=overlap([(0, V + "001", 300), (0, V + "002", 200)]))
    assert merged.codes.tolist() == [V + "000"]
    assert merged.retired == [V + "001", V + "002"]
    changes = merged.changes.set_index("old_code")
    assert changes.loc[V + "001", "reason"] == "retired: merged" and changes.loc[V + "001", "new_code"] == V + "000"


def test_a_grid_that_is_not_retired_never_appears_as_retired_with_its_own_code():
    grids = pd.concat([layout([(0, 0)]), layout([(0, 0), (100, 0)], village="310115005002")], ignore_index=True)
    first = assign_codes(grids)
    ov = overlap([(i, c, 100.0) for i, c in enumerate(first.codes)])
    again = assign_codes(grids, overlap=ov, history=first.history)
    assert again.codes.tolist() == first.codes.tolist()
    assert again.retired == []
    assert not (again.changes["reason"].str.startswith("retired") & again.changes["old_code"].isin(again.codes)).any()


def test_check_codes_reports_a_live_code_recorded_as_retired():
    grids = pd.DataFrame({"grid_code": [V + "001", V + "002"], "village_code": V, "grid_type": "base"})
    assert check_codes(grids).empty
    found = check_codes(grids, retired=[V + "002", V + "003"])
    assert found[["grid_code", "check", "severity"]].to_numpy().tolist() == [[V + "002", "retired", "error"]]
    assert why(found) == [{"kind": "code_retired", "code": V + "002"}]


def test_check_codes_names_every_kind_of_bad_code():
    grids = pd.DataFrame(
        {
            "grid_code": [V + "001", V + "001", V + "800", V + "801", "31011500500200", V + "000", V + "004"],
            "village_code": [V, V, V, V, V, V, "310115005009"],
            "grid_type": ["base", "base", "base", "exclusive/school", "base", "base", "base"],
        }
    )
    found = check_codes(grids)
    by = {(r.grid_code, r.check) for r in found.itertuples()}
    assert (V + "001", "unique") in by
    assert (V + "800", "range") in by  # a base grid numbered like an exclusive one
    assert ("31011500500200", "format") in by
    assert (V + "000", "single") in by  # 000 in a village of several grids
    assert (V + "004", "prefix") in by
    assert (V + "801", "range") not in by
    gaps = found[found["check"].eq("gap")]
    assert gaps["severity"].eq("warning").all() and why(gaps)[0]["missing"] == ["002", "003"]


def test_check_codes_refuses_non_ascii_digits():
    found = check_codes(pd.DataFrame({"grid_code": ["310115005001\uff10\uff10\uff11"]}))
    assert found["check"].tolist() == ["format"]


def test_every_old_code_gets_one_line_of_the_ledger_saying_what_became_of_it():
    # old grids 001 400 hh, 002 400, 003 300, 004 200, 005 100; new grids A B C D west to east:
    #   A holds 300 of 001 and all of 005; B 100 of 001 and 200 of 002 (exactly half: no majority);
    #   C the other 200 of 002 and all of 003; 004's households all left the area; D is new land
    grids = layout([(0, 0), (100, 0), (200, 0), (300, 0)])
    ov = overlap(
        [
            (0, V + "001", 300),
            (1, V + "001", 100),
            (0, V + "005", 100),
            (1, V + "002", 200),
            (2, V + "002", 200),
            (2, V + "003", 300),
            (np.nan, V + "004", 200),
        ]
    )
    got = assign_codes(grids, overlap=ov, history=[V + "001", V + "002"])
    assert got.codes.tolist() == [V + "001", V + "006", V + "003", V + "007"]
    assert got.retired == [V + "002", V + "004", V + "005"]
    assert got.history == [V + f"00{k}" for k in range(1, 8)]
    assert got.changes.to_numpy().tolist() == [
        [V + "001", V + "001", 100.0, "kept"],
        [V + "002", V + "006", 400.0, "retired: split"],
        [V + "003", V + "003", 0.0, "kept"],
        [V + "004", "", 200.0, "retired: no households left"],
        [V + "005", V + "001", 100.0, "retired: merged"],
        ["", V + "006", 0.0, "new grid"],
        ["", V + "007", 0.0, "new grid"],
    ]


def test_a_fresh_run_has_no_ledger_and_its_history_is_its_codes():
    got = assign_codes(layout([(0, 0), (100, 0)]))
    assert got.changes.empty and list(got.changes.columns) == ["old_code", "new_code", "households_moved", "reason"]
    assert got.history == [V + "001", V + "002"] and got.retired == []


def test_codes_kept_by_keep_valid_are_fixed_and_recorded_as_kept_unchanged():
    grids = layout([(0, 0), (100, 0), (200, 0)])
    # grid 0 keeps 001 whatever the overlap says (its households moved: 100 of 400 still there)
    fixed = pd.Series([V + "001", None, "None"], index=grids.index, dtype=object)  # "None": as read back from a file
    ov = overlap([(0, V + "001", 100), (np.nan, V + "001", 300), (1, V + "002", 350), (2, V + "002", 50)])
    got = assign_codes(grids, overlap=ov, history=[V + "001", V + "002"], fixed=fixed)
    assert got.codes.tolist() == [V + "001", V + "002", V + "003"]
    assert got.changes.to_numpy().tolist() == [
        [V + "001", V + "001", 0.0, "kept unchanged (--keep-valid)"],
        [V + "002", V + "002", 50.0, "kept"],
        ["", V + "003", 0.0, "new grid"],
    ]
    blank = assign_codes(grids, fixed=pd.Series(["", None, np.nan], index=grids.index, dtype=object))
    assert blank.codes.tolist() == [V + "001", V + "002", V + "003"]


def test_an_old_code_is_split_when_no_new_grid_holds_most_of_it_else_merged():
    # 001 (400): A 300, B 100 -- A inherits 002 (500), so 001 went mostly into A: merged
    # 003 (400): C 150, D 1 (and 249 left): no grid holds most of it, but two do: split
    # 004 (400): C 150 only (250 left): one grid holds what is left of it: merged
    grids = layout([(0, 0), (100, 0), (200, 0), (300, 0)])
    ov = overlap(
        [
            (0, V + "001", 300),
            (1, V + "001", 100),
            (0, V + "002", 500),
            (2, V + "003", 150),
            (3, V + "003", 1),
            (np.nan, V + "003", 249),
            (2, V + "004", 150),
            (3, V + "004", 0),
            (np.nan, V + "004", 250),
        ]
    )
    got = assign_codes(grids, overlap=ov)
    reasons = dict(
        zip(got.changes["old_code"], zip(got.changes["new_code"], got.changes["reason"], strict=True), strict=True)
    )
    assert reasons[V + "002"] == (V + "002", "kept")
    assert reasons[V + "001"] == (V + "002", "retired: merged")
    assert reasons[V + "003"][1] == "retired: split"
    assert reasons[V + "004"][1] == "retired: merged"


def test_rows_for_the_same_pair_of_grids_add_up():
    # 001 (400): 150 + 150 of it in grid 0 (two rows), 100 in grid 1: grid 0 holds the majority
    ov = overlap([(0, V + "001", 150), (0, V + "001", 150), (1, V + "001", 100)])
    assert assign_codes(layout([(0, 0), (100, 0)]), overlap=ov).codes.tolist() == [V + "001", V + "002"]


def test_an_exclusive_grid_never_inherits_a_base_code_nor_the_reverse():
    grids = layout([(0, 0), (100, 0)], exclusive=[True, False])
    ov = overlap([(0, V + "001", 400), (1, V + "800", 300)])
    got = assign_codes(grids, overlap=ov)
    assert got.codes.tolist() == [V + "801", V + "002"]
    assert got.retired == [V + "001", V + "800"]
    # a mismatch first in reading order does not stop the next grid from inheriting
    grids = layout([(0, 0), (100, 0)], exclusive=[True, False])
    got = assign_codes(grids, overlap=overlap([(0, V + "001", 400), (1, V + "002", 400)]))
    assert got.codes.tolist() == [V + "800", V + "002"]


def test_villages_are_coded_independently_each_from_its_own_numbers():
    w = "310115005002"
    grids = pd.concat([layout([(0, 0), (100, 0)], village=w), layout([(0, 0), (100, 0)])], ignore_index=True)
    got = assign_codes(grids, history=[w + "004", V + "001", "junk"])
    assert got.codes.tolist() == [w + "005", w + "006", V + "002", V + "003"]
    # the ledger lists villages in code order, whatever the order of the grids
    again = assign_codes(grids, overlap=overlap([(k, c, 100) for k, c in enumerate(got.codes)]), history=got.history)
    assert again.changes["old_code"].tolist() == sorted(got.codes)


def test_reading_order_edges():
    side = 100.0 * 100.0  # half a grid (50 m) below the row's first grid starts a new row
    assert reading_order(np.array([50, 0]), np.array([100, 50]), np.full(2, side)).tolist() == [0, 1]
    assert reading_order(np.array([50, 0]), np.array([100, 50.1]), np.full(2, side)).tolist() == [1, 0]
    assert reading_order(np.array([50, 0]), np.array([100, 60]), np.full(2, side)).tolist() == [1, 0]
    # same row and same x: the northern one first, then input order
    assert reading_order(np.array([0, 0, 0]), np.array([80, 100, 80]), np.full(3, side)).tolist() == [1, 0, 2]
    empty = reading_order(np.zeros(0), np.zeros(0), np.zeros(0))
    assert len(empty) == 0 and empty.dtype.kind == "i"


def test_check_codes_writes_one_finding_per_problem_with_a_message_a_person_can_act_on():
    grids = pd.DataFrame(
        {
            "grid_code": [
                V + "001",
                V + "001",
                V + "003",
                V + "800",
                V + "801",
                V + "000",
                "3101150050",
                "310115005009007",
            ],
            "village_code": [V, V, V, V, V, V, V, "310115005008"],
            "grid_type": ["base", "base", "exclusive/school", "base", "exclusive/park", "base", "base", "base"],
        }
    )
    found = check_codes(grids, retired=[V + "801"])
    assert found[["grid_code", "check", "severity"]].to_numpy().tolist() == [
        ["3101150050", "format", "error"],
        [V + "001", "unique", "error"],
        ["310115005009007", "prefix", "error"],
        [V + "003", "range", "error"],
        [V + "800", "range", "error"],
        [V + "000", "single", "error"],
        [V + "801", "retired", "error"],
        [V + "003", "gap", "warning"],
        ["310115005009007", "gap", "warning"],
    ]
    assert why(found) == [
        {"kind": "code_format", "code": "3101150050"},
        {"kind": "code_repeated", "code": V + "001"},
        {"kind": "code_prefix", "code": "310115005009007", "village_code": "310115005008"},
        {"kind": "code_range_exclusive", "code": V + "003"},
        {"kind": "code_range_base", "code": V + "800"},
        {"kind": "code_single", "code": V + "000", "grids": 6},
        {"kind": "code_retired", "code": V + "801"},
        {"kind": "code_gap", "village_code": V, "missing": ["002"], "more": False},
        {"kind": "code_gap", "village_code": "310115005009", "missing": [f"00{i}" for i in range(1, 7)], "more": False},
    ]


def test_check_codes_shows_at_most_ten_missing_numbers():
    grids = pd.DataFrame({"grid_code": [V + "001", V + "020", V + "800", V + "802"]})
    gaps = check_codes(grids)
    assert gaps["check"].tolist() == ["gap", "gap"]
    assert why(gaps)[0]["missing"] == [f"{i:03d}" for i in range(2, 12)] and why(gaps)[0]["more"] is True
    assert gaps["grid_code"].tolist() == [V + "020", V + "802"]
    assert why(gaps)[1]["missing"] == ["801"] and why(gaps)[1]["more"] is False
    assert check_codes(pd.DataFrame({"grid_code": [V + "000"]})).empty  # an undivided village is no gap
    ten = why(check_codes(pd.DataFrame({"grid_code": [V + "001", V + "012"]})))[0]
    assert len(ten["missing"]) == 10 and ten["more"] is False  # all ten shown, no "…"
    eleven = why(check_codes(pd.DataFrame({"grid_code": [V + "001", V + "013"]})))[0]
    assert eleven["missing"][-1] == "011" and eleven["more"] is True  # 012 left out
    assert list(check_codes(pd.DataFrame({"grid_code": [V + "001"]})).columns) == [
        "grid_code",
        "check",
        "severity",
        "reason",
    ]


def test_000_in_a_village_of_two_grids_is_an_error_counting_that_village_only():
    found = check_codes(pd.DataFrame({"grid_code": ["310115005009001", V + "000", V + "001"]}))
    single = found[found["check"].eq("single")]
    assert why(single) == [{"kind": "code_single", "code": V + "000", "grids": 2}]
