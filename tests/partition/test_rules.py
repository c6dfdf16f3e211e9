"""Rule selection and the rules file."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geodata.errors import RulesError
from partition.rules import Rule, RuleSet, failing_checks


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
