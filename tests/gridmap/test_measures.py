"""Measures through the library and the command line: limits and balance in the rules, checked columns, manifest."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gridmap
from geodata.errors import InputError, RulesError
from gridmap.cli import main
from gridmap.config import read_rules
from partition.values import Limit
from tests.helpers import town_args


def with_minors(town, values) -> None:
    """Rewrite the town's addresses with a ``minors`` column."""
    addresses = town["addresses"].copy()
    addresses["minors"] = values(addresses)
    addresses.to_file(town["gpkg"], layer="addresses", mode="w")


def test_limit_and_balance_on_the_command_line_reach_the_grids_and_the_manifest(town, tmp_path):
    # community A (30 × 10 points): the west third holds 4 minors per point, the rest none
    x0 = town["addresses"].geometry.x.min()
    with_minors(town, lambda a: np.where(a.geometry.x < x0 + 200, 4.0, 0.0))
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [*town_args(town, out), "--limit", "minors=300", "--balance", "population=2"])
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert "minors" in grids.columns
    addresses = gpd.read_file(out / "grids.gpkg", layer="addresses")
    per_grid = addresses.groupby("grid_code")["minors"].sum()
    assert grids.set_index("grid_code")["minors"].to_dict() == pytest.approx(
        per_grid.reindex(grids["grid_code"]).fillna(0).to_dict()
    )
    band = grids[grids["rule"] == "household_band"]
    assert band["households"].between(300, 500).all()
    assert (band["minors"] <= 300).all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    urban = manifest["options"]["rules"]["urban"]
    assert urban["limits"] == {"minors": {"max": 300}} and urban["balance"] == {"population": 2.0}
    back = gridmap.Options.from_record(manifest)
    assert back.rules.urban.limits == (Limit("minors", max=300),)
    assert back.rules.urban.balance == (("population", 2.0),)


def test_manifest_round_trip_of_limits_and_balance():
    rules = read_rules().with_measures(
        limits=[Limit("minors", max=300), Limit("population", min=500, max=1500)], balance={"units": 1, "minors": 0.5}
    )
    options = gridmap.Options(rules=rules)
    assert gridmap.Options.from_record(json.loads(json.dumps(options.record()))) == options
    # without measures the record is what it was (no empty keys): old manifests and fingerprints stay valid
    assert "limits" not in gridmap.Options().record()["rules"]["urban"]


def test_rules_file_limits_per_rule(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        "limits = {minors = 300}\n[urban]\nbalance = {population = 1}\n[rural]\nlimits = {minors = {max = 120}}\n"
        '[codes."310115005001"]\nrule = "single"\nlimits = {population = {min = 10}}\n',
        encoding="utf-8",
    )
    rules = read_rules(path)
    assert rules.urban.limits == (Limit("minors", max=300),) and rules.urban.balance == (("population", 1.0),)
    assert rules.rural.limits == (Limit("minors", max=120),)
    assert rules.overrides["310115005001"].limits == (Limit("minors", max=300), Limit("population", min=10))
    path.write_text("[urban]\nlimit = {minors = 300}\n", encoding="utf-8")
    with pytest.raises(RulesError, match="urban has unknown key"):
        read_rules(path)


@pytest.mark.parametrize(
    ("values", "limit", "expected"),
    [
        (None, "minors=300", "the measure 'minors' (a limit or balance weight) is not a column of the addresses"),
        (
            lambda a: np.where(np.arange(len(a)) == 3, "many", "2"),
            "minors=300",
            "feature 3, column 'minors': measure got 'many'",
        ),
        (
            lambda a: np.where(np.arange(len(a)) == 5, -1.0, 2.0),
            "minors=300",
            "feature 5, column 'minors': measure got '-1.0'",
        ),
        (None, "minors", "`--limit` expects NAME=MAX"),
        (None, "households=300", "households are kept by the band"),
    ],
)
def test_bad_measures_are_one_clear_error_and_no_output(town, tmp_path, values, limit, expected):
    if values is not None:
        with_minors(town, values)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [*town_args(town, out), "--limit", limit])
    assert res.exit_code != 0
    text = res.output + str(res.exception)
    assert expected in text
    assert "Traceback" not in res.output
    assert not out.exists()


def test_a_missing_measure_names_the_file_and_the_fix(town):
    options = gridmap.Options(rules=read_rules().with_measures(limits=[Limit("minors", max=5)]))
    with pytest.raises(InputError) as err:
        gridmap.make_grids(town["addresses"], town["boundaries"], options=options)
    text = str(err.value)
    assert "'minors'" in text and "add a numeric column 'minors'" in text


def test_units_is_a_built_in_measure_and_village_group_grids_are_checked(town):
    options = gridmap.Options(rules=read_rules().with_measures(limits=[Limit("units", max=40)]))
    result = gridmap.make_grids(town["addresses"], town["boundaries"], options=options)
    g = result.grids
    village = g[g["rule"] == "village_group"]  # 50 points per 村民小组: over 40, and the rule does not split
    assert (village["units"] > 40).all()
    assert village["flag"].eq("limit_unmet").all()
    assert village["note_en"].str.contains("units").all() and village["note"].str.contains("不满足").all()
    listed = result.violations[result.violations["kind"].eq("grid_limit")]
    assert sorted(listed["ref"]) == sorted(village["grid_code"])  # the violations layer lists them too
    band = g[g["rule"] == "household_band"]
    assert (band["units"] <= 40).all() and band["households"].between(300, 500).all()


def test_report_and_map_compare_every_measure_and_name_user_columns_as_text(town):
    hostile = "<b>minors</b>"
    addresses = town["addresses"].copy()
    x0 = addresses.geometry.x.min()
    addresses[hostile] = np.where(addresses.geometry.x < x0 + 200, 4.0, 1.0)
    rules = read_rules().with_measures(limits=[Limit(hostile, max=250)], balance={"population": 1})
    result = gridmap.make_grids(addresses, town["boundaries"], options=gridmap.Options(rules=rules))
    assert set(result.measures()) == {hostile, "population"}
    page = result.report_html()
    assert "id='measures'" in page and "alt='lorenz'" in page
    assert "&lt;b&gt;minors&lt;/b&gt;" in page and hostile not in page
    from gridmap.report import measure_figures, report_measures

    table = measure_figures(pd.DataFrame(result.grids), report_measures(result))
    band = table[(table["rule"] == "household_band") & (table["measure"] == hostile)].iloc[0]
    assert band["limit"] == f"{hostile}=250" and band["share_within_limit"] == 1.0
    assert {"households", "population", "units", hostile} <= set(table["measure"])
    html = result.explore().get_root().render()
    assert hostile not in html  # the column name reaches the page only as JSON text
    assert '"measures"' in html


def test_worst_grids_come_with_the_engine_s_suggestion(town):
    """A run balanced on minors, then judged against a limit it was not made for: grids over it get a fix."""
    addresses = town["addresses"].copy()
    x0 = addresses.geometry.x.min()
    addresses["minors"] = np.where(addresses.geometry.x < x0 + 180, 6.0, 1.0)
    rules = read_rules().with_measures(balance={"minors": 1})
    result = gridmap.make_grids(addresses, town["boundaries"], options=gridmap.Options(rules=rules))
    result.manifest["options"]["rules"]["urban"]["limits"] = {"minors": {"max": 160}}
    from gridmap.report import report_measures, worst_grids

    worst = worst_grids(result, report_measures(result))
    assert len(worst) and (worst["value"] > 160).all()
    assert worst["reason"].str.contains('"measure":"minors"').all()
    assert "id='worst'" in result.report_html()


def test_audit_sums_and_compares_measures_of_a_layer_gridmap_did_not_make(town):
    addresses = town["addresses"].copy()
    addresses["minors"] = 2.0
    made = gridmap.make_grids(town["addresses"], town["boundaries"])
    found = gridmap.audit(made.grids[["grid_code", "geometry"]], addresses, limits=[Limit("minors", max=50)])
    per_grid = found.grids.set_index("grid_code")["minors"]
    assert per_grid.sum() == pytest.approx(2.0 * len(addresses))
    assert found.measures() == {"minors": Limit("minors", max=50)}
    page = found.report_html()
    assert "id='measures'" in page and "id='worst'" in page  # grids of 30+ points hold more than 50 minors
    with pytest.raises(InputError, match="'minors'"):
        gridmap.audit(made.grids, town["addresses"], limits=[Limit("minors", max=50)])


def test_an_edited_run_sums_its_measures_again(town, tmp_path):
    from gridmap.edit.session import EditSession
    from gridmap.result import read_run
    from tests.gridmap.test_edit import border_move

    addresses = town["addresses"].copy()
    addresses["minors"] = np.arange(len(addresses)) % 7 * 1.0
    rules = read_rules().with_measures(balance={"minors": 1})
    result = gridmap.make_grids(addresses, town["boundaries"], options=gridmap.Options(rules=rules))
    run = result.save(tmp_path / "run", maps=False)
    session = EditSession.from_folder(run)
    unit, a, b = border_move(session, "310115005001")
    session.apply("move", units=[unit], to=b)
    saved = read_run(session.save(tmp_path / "edited"))
    per_grid = saved.addresses.groupby("grid_code")["minors"].sum()
    minors = saved.grids.set_index("grid_code")["minors"]
    assert minors.to_dict() == pytest.approx(per_grid.reindex(minors.index).fillna(0).to_dict())
