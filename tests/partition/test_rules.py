"""Rule selection and the rules file."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geodata.errors import RulesError
from partition.reasons import Reason, ReasonKind
from partition.rules import (
    RULE_LABELLERS,
    RULES,
    Rule,
    RuleSet,
    Verdict,
    code_prefix,
    contiguous,
    failing_checks,
    flagged_if_out_of_band,
    in_band,
    register_rule,
)
from partition.values import Band


def test_rule_selection_order():
    rs = RuleSet.from_dict({"codes": {"310115005001": {"rule": "single"}}})
    assert rs.rule_for(code="310115005001", urban_rural="111").name == "single"
    assert rs.rule_for(code="x", urban_rural="111").name == "household_band"
    assert rs.rule_for(code="x", urban_rural="220").name == "village_group"
    assert rs.rule_for(code="x", kind="village").name == "village_group"
    assert rs.rule_for(code="x", kind="community").name == "household_band"
    assert rs.rule_for(code="x").name == "household_band"


def test_band_from_file_and_cli_override():
    rs = RuleSet.from_dict(
        {"min_households": 200, "max_households": 400, "codes": {"310115005001": {"max_households": 600}}}
    )
    assert (rs.urban.min_households, rs.urban.max_households) == (200, 400)
    assert rs.overrides["310115005001"].max_households == 600
    rs2 = RuleSet.from_dict({"min_households": 200}, min_households=250, max_households=450)
    assert (rs2.urban.min_households, rs2.urban.max_households) == (250, 450)


def test_unknown_keys_and_bad_values_are_errors():
    with pytest.raises(RulesError, match="unknown key.*min_houshold"):
        RuleSet.from_dict({"min_houshold": 3})
    with pytest.raises(RulesError, match="rule 'zone' is unknown"):
        RuleSet.from_dict({"urban_rule": "zone"})
    with pytest.raises(RulesError, match="0 < `min_households` <= `max_households`"):
        Rule("household_band", 500, 300)


def test_failing_checks_names_the_check_and_the_grids():
    grids = gpd.GeoDataFrame(
        {
            "grid_code": ["310115005001001", "310115005003002"],
            "village_code": ["310115005001", "310115005001"],
            "rule": "household_band",
            "households": [350, 600],
            "min_households": 300,
            "max_households": 500,
            "status": ["ok", "ok"],
            "note": ["", ""],
        },
        geometry=[shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 0, 3, 1), shapely.box(4, 0, 5, 1)])],
    )
    failing = failing_checks(grids)
    assert set(failing) == {"contiguous", "code_prefix", "flagged_if_out_of_band"}
    assert list(failing["code_prefix"]) == [1]


def test_zero_and_inverted_bands_are_refused_not_replaced_by_the_default():
    with pytest.raises(RulesError, match="got min=0, max=500"):
        RuleSet.from_dict({}, min_households=0)
    with pytest.raises(RulesError, match="got min=300, max=0"):
        RuleSet.from_dict({"max_households": 0})
    with pytest.raises(RulesError, match="got min=400, max=300"):
        RuleSet.from_dict({}, min_households=400, max_households=300)
    with pytest.raises(RulesError, match="`min_households` got 2.5, expected a whole number"):
        RuleSet.from_dict({"min_households": 2.5})
    with pytest.raises(RulesError, match="`max_households` got 'many'"):
        RuleSet.from_dict({"max_households": "many"})


# the rules file


def test_every_rule_key_of_the_file_is_read():
    rs = RuleSet.from_dict({"urban_rule": "single", "rural_rule": "household_band", "unknown_rule": "village_group"})
    assert (rs.urban.name, rs.rural.name, rs.unknown.name) == ("single", "household_band", "village_group")
    assert rs.rule_for(code="x", kind="community").name == "single"
    assert rs.rule_for(code="x", kind="village").name == "household_band"
    assert rs.rule_for(code="x", kind="other").name == "village_group"
    assert rs.rule_for(code="x").name == "village_group"
    default = RuleSet.from_dict({})
    assert (default.urban.name, default.rural.name, default.unknown.name) == (
        "household_band",
        "village_group",
        "household_band",
    )


def test_an_override_takes_its_own_band_and_the_rest_from_the_file():
    rs = RuleSet.from_dict(
        {"max_households": 450, "codes": {"310115005001": {"min_households": 100}, "310115005002": {"rule": "single"}}}
    )
    own = rs.rule_for(code="310115005001", urban_rural="111")
    assert (own.name, own.min_households, own.max_households) == ("household_band", 100, 450)
    assert rs.rule_for(code="310115005002", urban_rural="111").name == "single"
    assert rs.with_band(200, 300).overrides["310115005001"].band == Band(200, 300)
    narrow = rs.with_band(200, 300)
    assert {narrow.urban.band, narrow.rural.band, narrow.unknown.band} == {Band(200, 300)}
    assert (narrow.urban.name, narrow.rural.name, narrow.unknown.name) == (
        rs.urban.name,
        rs.rural.name,
        rs.unknown.name,
    )


def test_errors_in_the_file_name_the_file_the_key_and_what_is_allowed():
    with pytest.raises(
        RulesError, match=r"^town.toml: unknown key\(s\) colour; allowed: balance, codes, limits, max_households"
    ):
        RuleSet.from_dict({"colour": "red"}, source="town.toml")
    with pytest.raises(RulesError, match=r"^rules: unknown key\(s\) a, b;"):
        RuleSet.from_dict({"b": 1, "a": 2})
    with pytest.raises(RulesError, match=r"^town.toml: codes.310115005001 must be a table with a 'rule' key\.$"):
        RuleSet.from_dict({"codes": {"310115005001": "single"}}, source="town.toml")
    with pytest.raises(RulesError, match=r"^town.toml: codes.310115005001 has unknown key\(s\) colour, size\.$"):
        RuleSet.from_dict({"codes": {"310115005001": {"size": 1, "colour": 2}}}, source="town.toml")
    with pytest.raises(RulesError, match=r"^town.toml: `min_households` got '1e'"):
        RuleSet.from_dict({"codes": {"310115005001": {"min_households": "1e"}}}, source="town.toml")
    with pytest.raises(RulesError, match=r"^town.toml: `max_households` got 4.5, expected a whole number\.$"):
        RuleSet.from_dict({"codes": {"310115005001": {"max_households": 4.5}}}, source="town.toml")
    with pytest.raises(RulesError, match=r"^town.toml: `min_households` got 3.5"):
        RuleSet.from_dict({"min_households": 3.5}, source="town.toml")
    with pytest.raises(RulesError, match=r"^town.toml: `max_households` got 3.5"):
        RuleSet.from_dict({"max_households": 3.5}, source="town.toml")
    with pytest.raises(
        RulesError, match=r"rule 'zone' is unknown; expected one of household_band, village_group, single"
    ):
        Rule("zone")


@pytest.mark.parametrize("value", [True, None, [300], "many", float("nan")])
def test_a_band_end_must_be_a_whole_number(value):
    with pytest.raises(RulesError, match=r"`min_households` got .*, expected a whole number"):
        RuleSet.from_dict({"min_households": value})


def test_whole_numbers_written_as_text_or_float_are_accepted():
    rs = RuleSet.from_dict({"min_households": "250", "max_households": 450.0})
    assert rs.urban.band == Band(250, 450)
    assert isinstance(rs.urban.min_households, int) and isinstance(rs.urban.max_households, int)


# labellers


def boxes(nx_: int, ny: int, **columns) -> gpd.GeoDataFrame:
    geoms = [shapely.box(i * 10, j * 10, i * 10 + 10, j * 10 + 10) for j in range(ny) for i in range(nx_)]
    n = len(geoms)
    data = {"households": np.full(n, 10.0), "block": np.zeros(n, int), "n_units": np.ones(n, int)}
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=geoms)


def test_the_three_rules_are_registered_and_a_new_one_is_one_function():
    assert RULES == ("household_band", "village_group", "single")
    assert set(RULE_LABELLERS) >= set(RULES)

    @register_rule("test_halves")
    def halves(cells, rule):
        return (np.arange(len(cells)) >= len(cells) // 2).astype(int), [Verdict(), Verdict()]

    try:
        assert RULE_LABELLERS["test_halves"] is halves
        label, verdicts = RULE_LABELLERS[Rule("test_halves").name](boxes(4, 1), Rule("test_halves"))
        assert label.tolist() == [0, 0, 1, 1] and len(verdicts) == 2
    finally:
        del RULE_LABELLERS["test_halves"]


def test_single_makes_one_grid_and_says_so():
    label, verdicts = RULE_LABELLERS["single"](boxes(3, 2), Rule("single"))
    assert label.tolist() == [0] * 6
    assert [(v.status, v.flag) for v in verdicts] == [("ok", "")]
    assert verdicts[0].reasons == (Reason.of(ReasonKind.SINGLE),)


def test_household_band_splits_cells_into_in_band_grids_with_their_verdicts():
    cells = boxes(10, 1, households=np.full(10, 100.0))
    label, verdicts = RULE_LABELLERS["household_band"](cells, Rule())
    assert sorted(np.bincount(label, weights=cells["households"]).tolist()) == [500.0, 500.0]
    assert [v.status for v in verdicts] == ["ok", "ok"]
    label, verdicts = RULE_LABELLERS["household_band"](cells, Rule(max_households=400))
    assert len(verdicts) == 3 and all(300 <= h <= 400 for h in np.bincount(label, weights=cells["households"]))


def test_village_group_gives_each_group_one_grid_and_cells_without_a_group_join_their_longest_border():
    # groups: 一组 west, 二组 east; the middle column has no group and borders 一组 along 20 m, 二组 along 10 m
    #   一 ? 二
    #   一 ? 二
    #   一 一 二
    group = np.array(["一组", None, "二组", "一组", None, "二组", "一组", "一组", "二组"], dtype=object)[
        [6, 7, 8, 3, 4, 5, 0, 1, 2]
    ]
    cells = boxes(3, 3, group=group)
    label, verdicts = RULE_LABELLERS["village_group"](cells, Rule("village_group"))
    assert [v.reasons for v in verdicts] == [(Reason.of(ReasonKind.VILLAGE_GROUP, group=g),) for g in ("一组", "二组")]
    assert label.reshape(3, 3).tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 1]]


def test_village_group_without_any_group_label_is_one_grid_with_a_reason():
    label, verdicts = RULE_LABELLERS["village_group"](boxes(2, 2, group=[None] * 4), Rule("village_group"))
    assert label.tolist() == [0, 0, 0, 0] and verdicts[0].reasons == (Reason.of(ReasonKind.NO_GROUP_LABELS),)


def test_a_cell_cut_off_from_every_group_joins_the_nearest_group():
    cells = boxes(3, 1, group=["一组", "二组", None])
    cells.loc[2, "geometry"] = shapely.box(100, 0, 110, 10)  # far east of 二组, touching nothing
    label, _ = RULE_LABELLERS["village_group"](cells, Rule("village_group"))
    assert label.tolist() == [0, 1, 1]


# checks


def grids_table(**overrides) -> gpd.GeoDataFrame:
    data = {
        "grid_code": ["310115005001001", "310115005001002", "310115005001003", "310115005001004"],
        "village_code": "310115005001",
        "rule": ["household_band", "household_band", "household_band", "village_group"],
        "households": [300, 500, 400, 40],
        "min_households": 300,
        "max_households": 500,
        "status": "ok",
        "note": "",
    }
    data.update(overrides)
    return gpd.GeoDataFrame(data, geometry=[shapely.box(k, 0, k + 1, 1) for k in range(4)])


def test_grids_that_follow_every_rule_pass_every_check():
    grids = grids_table()
    assert failing_checks(grids) == {}
    for check in (in_band, contiguous, code_prefix, flagged_if_out_of_band):
        assert check(grids).tolist() == [True] * 4


def test_in_band_judges_only_household_band_grids_and_both_ends_are_in():
    grids = grids_table(households=[299, 501, 500, 9999])
    assert in_band(grids).tolist() == [False, False, True, True]


def test_an_out_of_band_grid_must_carry_a_status_and_a_note():
    grids = grids_table(
        households=[501, 501, 501, 501],
        rule="household_band",
        status=["ok", "over_max", "over_max", "ok"],
        note=["", "", "too many", "too many"],
    )
    assert flagged_if_out_of_band(grids).tolist() == [False, False, True, False]
    assert flagged_if_out_of_band(grids.assign(note=["", "", "!", "!"])).tolist() == [False, False, True, False]
    assert list(failing_checks(grids)["flagged_if_out_of_band"]) == [0, 1, 3]


def test_a_grid_in_pieces_fails_contiguity_unless_flagged_as_an_enclave():
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(3, 0, 4, 1)])
    grids = grids_table(status=["ok", "enclave", "ok", "ok"]).set_geometry([two, two, shapely.box(5, 0, 6, 1), two])
    assert contiguous(grids).tolist() == [False, True, True, False]
    shuffled = grids.set_axis([40, 30, 20, 10])  # results are indexed like the grids
    assert contiguous(shuffled).to_dict() == {40: False, 30: True, 20: True, 10: False}
    assert list(failing_checks(grids)) == ["contiguous"]


def test_code_prefix_wants_the_village_code_and_15_digits():
    grids = grids_table(
        grid_code=["310115005001001", "310115005002001", "31011500500100", "310115005001\uff10\uff10\uff14"]
    )
    assert code_prefix(grids).tolist() == [True, False, False, False]
