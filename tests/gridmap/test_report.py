"""The analyst's report: figures per rule, no inf/nan, integers as integers, links to the map, bilingual notes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gridmap.catalog import note_text, render
from gridmap.report import fmt, report_html, rule_figures, village_table
from partition.reasons import Reason, ReasonKind, UnitRef, encode


def visible_text(page: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    body = re.sub(r"<img[^>]*>", " ", body)
    return re.sub(r"<[^>]+>", " ", body)


def test_report_shows_no_inf_or_nan_and_integers_as_integers(hostile_run):
    result, _ = hostile_run
    page = report_html(result)
    text = visible_text(page)
    assert not re.search(r"\b(inf|nan|NaN|None)\b", text)
    assert not re.search(r"\d\.000\b", text)  # counts are never printed as 4.000
    assert f"{int(result.grids['households'].sum()):,}" in text
    # exclusive grids have no households: max/min is not computed for them, and nothing shows 'inf'
    figures = rule_figures(pd.DataFrame(result.grids.drop(columns="geometry")))
    assert "max_min_ratio" not in figures["exclusive"]


def test_every_grid_code_links_to_the_map(hostile_run):
    result, _ = hostile_run
    page = report_html(result)
    for code in result.grids["grid_code"]:
        assert f"<a href='map.html#grid={code}'>{code}</a>" in page
    assert page.count("class='filter'") >= 3 and page.count("class='csv'") >= 3


def test_village_table_and_imbalance_map_per_village(hostile_run):
    result, _ = hostile_run
    grids = pd.DataFrame(result.grids.drop(columns="geometry"))
    v = village_table(grids)
    assert len(v) == result.boundaries["code"].nunique()
    assert v["households"].sum() == grids["households"].sum()
    base = grids[grids["grid_type"].eq("base")]
    one = v.iloc[0]
    hh = base.loc[base["village_code"].eq(one["village_code"]), "households"].to_numpy(float)
    assert one["cv"] == pytest.approx(hh.std() / hh.mean())
    page = report_html(result)
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count("<path") == len(result.boundaries)
    assert "&lt;img src=x" in svg and "<img src=x" not in svg


def test_village_table_figures_are_each_villages_own():
    """Rows of many villages, interleaved: each village's CV and counts come from its own grids only."""
    rows = [
        ("A", "甲", "base", "household_band", 300, "ok"),
        ("B", "乙", "base", "household_band", 420, "over_max"),
        ("A", "甲", "school", "exclusive", 0, "ok"),
        ("C", "丙", "base", "village_group", 0, "ok"),
        ("A", "甲", "base", "household_band", 450, "ok"),
        ("D", None, "base", "household_band", 310, "ok"),
        ("C", "丙", "base", "village_group", 0, "ok"),
        ("A", "甲", "base", "household_band", 380, "under_min"),
        ("D", None, "base", "household_band", 490, "ok"),
    ]
    grids = pd.DataFrame(rows, columns=["village_code", "village_name", "grid_type", "rule", "households", "status"])
    v = village_table(grids).set_index("village_code")
    assert v["grids"].to_dict() == {"A": 4, "B": 1, "C": 2, "D": 2}
    assert v["exclusive"].to_dict() == {"A": 1, "B": 0, "C": 0, "D": 0}
    assert v["flagged"].to_dict() == {"A": 1, "B": 1, "C": 0, "D": 0}
    for code, hh in (("A", [300, 450, 380]), ("D", [310, 490])):
        assert v.loc[code, "cv"] == pytest.approx(np.std(hh) / np.mean(hh))
    assert np.isnan(v.loc["B", "cv"]) and np.isnan(v.loc["C", "cv"])  # one grid; no households


@pytest.mark.parametrize(
    ("value", "shown"), [(4.0, "4"), (np.int64(9030), "9,030"), (float("inf"), "–"), (float("nan"), "–"), (None, "–")]
)
def test_fmt(value, shown):
    assert fmt(value) == shown


def test_notes_are_bilingual_and_name_the_users_ids():
    over = encode([Reason.of(ReasonKind.UNIT_OVER_MAX, unit=UnitRef("building", "3号楼"), households=743, max=500)])
    zh = "楼栋 3号楼 单独有 743 户，超过上限 500 户；不可拆分，单独成格。"
    en = "building 3号楼 alone has 743 households, above the maximum 500; it is indivisible, so it is its own grid."
    assert note_text(over) == zh + " / " + en
    group = encode([Reason.of(ReasonKind.VILLAGE_GROUP, group="第1组")])
    assert note_text(group) == "村民小组 第1组 / village group 第1组"
    assert note_text(None, "a note typed by a user") == "a note typed by a user"  # not gridmap's: as given


def test_addresses_outside_every_boundary_are_in_the_report_and_on_the_map(hostile_run):
    import dataclasses
    import json

    import geopandas as gpd
    import shapely

    from gridmap.maps import build_map

    result, _ = hostile_run
    far = result.addresses.iloc[[0]].to_crs(result.grids.crs)
    x, y = far.geometry.x.iloc[0] + 0.05, far.geometry.y.iloc[0]
    extra = gpd.GeoDataFrame(
        {
            "kind": ["address_outside_boundaries"],
            "flag": [None],
            "ref": ["address <b>7</b>"],
            "message": ["address lies outside every village/community boundary"],
        },
        geometry=[shapely.Point(x, y)],
        crs=result.grids.crs,
    )
    hurt = dataclasses.replace(
        result,
        violations=gpd.GeoDataFrame(pd.concat([result.violations, extra], ignore_index=True), crs=result.grids.crs),
    )
    page = report_html(hurt)
    assert "边界外的地址 / address outside every boundary: 1" in page and "address &lt;b&gt;7&lt;/b&gt;" in page
    html = build_map(hurt, basemap="osm").get_root().render()  # WGS 84 page: the point where it is
    data = json.loads(re.search(r"id='gridmap-data'>(.*?)</script>", html, re.S).group(1))
    assert data["outside"]["ref"] == ["address <b>7</b>"] and data["outside"]["lon"] == [round(x, 6)]


def test_notes_name_the_users_unit_polygon_ids_not_internal_numbers():
    import geopandas as gpd
    import shapely

    import gridmap
    from tests.conftest import ORIGIN, UTM

    x0, y0 = ORIGIN
    units = gpd.GeoDataFrame(
        {"building": ["=楼A-1", "楼A-2", None, "楼A-4"]},
        geometry=[
            shapely.box(x0 + i * 100, y0 + j * 100, x0 + (i + 1) * 100, y0 + (j + 1) * 100)
            for j in (0, 1)
            for i in (0, 1)
        ],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(
        {"households": [600.0, 150.0, 160.0, 170.0]},
        geometry=[shapely.Point(x0 + 50 + i * 100, y0 + 50 + j * 100) for j in (0, 1) for i in (0, 1)],
        crs=UTM,
    )
    bnd = gpd.GeoDataFrame(
        {"code": ["310115005001"], "name": ["社区"], "kind": ["community"]},
        geometry=[shapely.box(x0, y0, x0 + 200, y0 + 200)],
        crs=UTM,
    )
    result = gridmap.make_grids(pts, bnd, units=units)
    notes = " ".join(result.grids["note_en"])
    assert "building =楼A-1 alone has 600 households" in notes
    assert "unit 0" not in notes and "unit 1 " not in notes
    over = result.grids.loc[result.grids["flag"].eq("unit_over_max")].iloc[0]
    assert over["note"].startswith("楼栋 =楼A-1 单独有 600 户")
    assert note_text(over["reason"]).startswith("楼栋 =楼A-1 单独有 600 户")


def test_an_area_without_households_gets_a_note_that_makes_sense():
    from partition.split import split_graph
    from tests.partition.test_split import lattice

    (part,) = split_graph(lattice(3, 3, households=0.0), min_households=300, max_households=500)
    (reason,) = part.reasons
    assert render(reason, "en") == "no households in this area: it is one grid until people live here."
    assert render(reason, "zh") == "该区域暂无住户：先作为一个网格，有住户后再划分。"
