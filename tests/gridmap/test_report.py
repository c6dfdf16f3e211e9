"""The analyst's report: figures per rule, no inf/nan, integers as integers, links to the map, bilingual notes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gridmap.fields import note_text, note_zh
from gridmap.report import fmt, report_html, rule_figures, village_table


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


@pytest.mark.parametrize(("value", "shown"), [(4.0, "4"), (np.int64(9030), "9,030"), (float("inf"), "–"), (float("nan"), "–"), (None, "–")])
def test_fmt(value, shown):
    assert fmt(value) == shown


def test_notes_are_bilingual_and_name_the_users_ids():
    note = "building 3号楼 alone has 743 households, above the maximum 500; it is indivisible, so it is its own grid."
    assert note_zh(note) == "楼栋 3号楼 单独有 743 户，超过上限 500 户；不可拆分，单独成格。"
    assert note_text(note) == note_zh(note) + " / " + note
    empty = "no households in this area: it is one grid until people live here."
    assert note_zh(empty) == "该区域暂无住户：先作为一个网格，有住户后再划分。"
    assert note_text("村民小组 第1组") == "村民小组 第1组 / village group 第1组"
