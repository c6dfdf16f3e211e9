"""The shared values: the household band's edges, the grid code's format and ranges, the default band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geodata.errors import CodeSpaceError, RulesError
from partition.rules import Rule, RuleSet
from partition.values import DEFAULT_BAND, TOLERANCE, Band, CodeKind, GridCode, Status, band_contains

V = "310115005001"
BAND = Band(300, 500)


@pytest.mark.parametrize(
    ("households", "inside", "violation", "status"),
    [
        (299, False, 1, Status.UNDER_MIN),
        (300, True, 0, Status.OK),
        (400, True, 0, Status.OK),
        (500, True, 0, Status.OK),
        (501, False, 1, Status.OVER_MAX),
        (550, False, 50, Status.OVER_MAX),
        (0, False, 300, Status.UNDER_MIN),
    ],
)
def test_both_ends_are_in_the_band_and_one_household_beyond_is_out(households, inside, violation, status):
    assert BAND.contains(households) is inside
    assert BAND.violation(households) == violation
    assert BAND.status(households) == status
    # the array forms say the same
    h = np.array([households, households], float)
    assert BAND.contains_all(h).tolist() == [inside, inside]
    assert BAND.violations(h).tolist() == [violation, violation]
    assert BAND.statuses(h).tolist() == [status.value, status.value]


def test_float_sums_on_an_end_count_as_on_it_but_a_fraction_beyond_does_not():
    # 0.1 + 0.2 style rounding of summed household shares must not push a grid out of band
    assert BAND.contains(500 + TOLERANCE / 2) and BAND.contains(300 - TOLERANCE / 2)
    assert not BAND.contains(500.01) and not BAND.contains(299.99)
    assert BAND.status(500.01) == Status.OVER_MAX and BAND.status(299.99) == Status.UNDER_MIN
    sums = pd.Series([0.1 + 0.2 + 299.7, 500.0000000001])
    assert band_contains(sums, pd.Series([300, 300]), pd.Series([500, 500])).tolist() == [True, True]


def test_statuses_of_a_column_mix_all_three_verdicts():
    assert BAND.statuses(pd.Series([299, 300, 500, 501])).tolist() == ["under_min", "ok", "ok", "over_max"]


def test_per_row_bands_are_judged_row_by_row():
    h = pd.Series([250, 250, 501, 600], index=[7, 8, 9, 10])
    got = band_contains(h, pd.Series([200, 300, 300, 300]), pd.Series([250, 500, 501, 500]))
    assert got.tolist() == [True, False, True, False]
    assert got.index.tolist() == [7, 8, 9, 10]


def test_a_grid_whose_households_are_unknown_is_not_in_band():
    h = pd.Series([400, None], dtype=object)  # as read from a table with an empty cell
    assert BAND.contains_all(h).tolist() == [True, False]
    assert BAND.statuses(h).tolist()[1] != "ok"
    ends = pd.Series([300, 300], dtype=object), pd.Series([500, 500], dtype=object)
    assert band_contains(h, *ends).tolist() == [True, False]


def test_a_band_of_one_or_two_households_works_like_any_other():
    small = Band(1, 2)  # liaison-like sizes: the lower end may be 1
    assert small.contains(1) and small.contains(2) and not small.contains(3)
    assert list(small.feasible_counts(1)) == [1]
    assert list(small.feasible_counts(5)) == [3, 4, 5]


@pytest.mark.parametrize(
    ("households", "counts"),
    [
        (1000, [2, 3]),
        (550, []),  # one grid is over, two are under
        (600, [2]),
        (500, [1]),
        (300, [1]),
        (299, []),
        (0, []),  # no households: no number of grids is "in band"
        (-5, []),
        (1500, [3, 4, 5]),
    ],
)
def test_feasible_counts_are_exactly_the_k_with_k_min_at_most_h_at_most_k_max(households, counts):
    assert list(BAND.feasible_counts(households)) == counts
    for k in counts:
        assert k * 300 <= households <= k * 500


def test_a_band_needs_0_less_than_min_at_most_max():
    assert Band(400, 400).contains(400)
    for lo, hi in [(500, 300), (0, 10), (-1, 10)]:
        with pytest.raises(RulesError, match="0 < `min_households` <= `max_households`"):
            Band(lo, hi)


def test_with_ends_replaces_only_the_ends_given():
    assert DEFAULT_BAND.with_ends(max_households=600) == Band(300, 600)
    assert DEFAULT_BAND.with_ends(min_households=200) == Band(200, 500)
    assert DEFAULT_BAND.with_ends() == DEFAULT_BAND
    assert str(Band(250, 400)) == "250-400"


def test_the_default_band_is_what_rules_and_rule_sets_use_when_nothing_is_said():
    assert (DEFAULT_BAND.min_households, DEFAULT_BAND.max_households) == (300, 500)
    assert Rule().band == DEFAULT_BAND
    rules = RuleSet.from_dict({})
    assert rules.urban.band == DEFAULT_BAND and rules.unknown.band == DEFAULT_BAND
    assert RuleSet.from_dict({}, max_households=450).urban.band == Band(300, 450)
    with pytest.raises(RulesError):
        Rule("household_band", 500, 300)


# grid codes


def test_a_code_parses_into_village_and_sequence_and_formats_back():
    code = GridCode.parse(V + "007")
    assert (code.village, code.seq) == (V, 7)
    assert str(code) == V + "007"
    assert str(GridCode(V, 801)) == V + "801"
    assert str(GridCode.undivided(V)) == V + "000"


@pytest.mark.parametrize(
    ("seq", "kind"),
    [
        (0, CodeKind.UNDIVIDED),
        (1, CodeKind.BASE),
        (799, CodeKind.BASE),
        (800, CodeKind.EXCLUSIVE),
        (999, CodeKind.EXCLUSIVE),
    ],
)
def test_the_sequence_says_the_kind_at_every_range_edge(seq, kind):
    assert GridCode(V, seq).kind == kind
    assert GridCode.parse(f"{V}{seq:03d}").kind == kind


def test_ranges_are_001_799_for_base_and_800_999_for_exclusive_grids():
    assert GridCode.range_of(exclusive=False) == range(1, 800)
    assert GridCode.range_of(exclusive=True) == range(800, 1000)


@pytest.mark.parametrize(
    "text",
    [
        "31011500500100",  # 14 digits
        "3101150050010011",  # 16 digits
        "31011500500100a",
        " 310115005001001",
        "310115005001\uff10\uff10\uff11",  # fullwidth digits: str.isdigit() accepts them
        "310115005001\u0661\u0662\u0663",  # Arabic-Indic digits: \\d accepts them
        "",
        None,
        310115005001001,  # a number, not text (it lost its leading zeros once already)
    ],
)
def test_only_15_ascii_digits_are_a_code(text):
    assert not GridCode.is_code(text)
    with pytest.raises(ValueError, match="not a grid code"):
        GridCode.parse(text)


def test_a_code_cannot_be_built_from_a_bad_village_or_sequence():
    for village, seq in [("31011500500", 1), ("31011500500\uff11", 1), (V, 1000), (V, -1)]:
        with pytest.raises(ValueError, match="grid code"):
            GridCode(village, seq)


def test_next_free_follows_the_highest_number_ever_issued_and_never_refills_a_gap():
    assert GridCode.next_free(V, [], exclusive=False) == GridCode(V, 1)
    assert GridCode.next_free(V, [], exclusive=True) == GridCode(V, 800)
    assert GridCode.next_free(V, [0, 1, 2, 5, 801], exclusive=False) == GridCode(V, 6)
    assert GridCode.next_free(V, [0, 1, 2, 5, 801], exclusive=True) == GridCode(V, 802)
    assert GridCode.next_free(V, [798], exclusive=False) == GridCode(V, 799)
    assert GridCode.next_free(V, [998], exclusive=True) == GridCode(V, 999)


def test_a_full_range_is_an_error_naming_the_village_and_the_range():
    with pytest.raises(CodeSpaceError, match=rf"{V} has run out of base grid numbers \(001-799\)"):
        GridCode.next_free(V, [799], exclusive=False)
    with pytest.raises(CodeSpaceError, match=r"exclusive grid numbers \(800-999\)"):
        GridCode.next_free(V, [999], exclusive=True)


def test_column_forms_split_codes_and_mark_what_is_not_a_code():
    codes = pd.Series([V + "001", V + "800", "bad", "310115005001\uff10\uff10\uff11", V + "000"], index=[3, 4, 5, 6, 7])
    assert GridCode.valid(codes).tolist() == [True, True, False, False, True]
    villages = GridCode.villages(codes)
    assert villages.isna().tolist() == [False, False, True, True, False]
    assert villages.dropna().tolist() == [V, V, V]
    assert GridCode.seqs(codes).tolist() == [1, 800, -1, -1, 0]
    assert GridCode.seqs(codes).index.tolist() == [3, 4, 5, 6, 7]
    assert GridCode.seqs(codes).dtype.kind == "i"  # sequence numbers, ready to format as 000


def test_codes_order_by_village_then_sequence():
    assert sorted([GridCode(V, 2), GridCode("310115005000", 9), GridCode(V, 1)]) == [
        GridCode("310115005000", 9),
        GridCode(V, 1),
        GridCode(V, 2),
    ]
