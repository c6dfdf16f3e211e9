"""The message catalog: every reason kind worded in Chinese and English, and Chinese readers get Chinese."""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import pytest
import shapely

import gridmap
from geodata.errors import OptionError
from gridmap.catalog import FLAGS, MESSAGES, STATUS, UNITS, note_pair, render, render_all
from gridmap.maps import build_map
from gridmap.report import report_html
from partition.reasons import VALUES, Reason, ReasonKind, UnitKind, decode, encode
from partition.rules import Flag, Status
from tests.conftest import ORIGIN, UTM

TEXT_VALUES = {
    "unit": "osm281583583",
    "name": "学校 School-1",
    "group": "Group-B {{ x }}",
    "detail": "Self-intersection[350000 3460000]",
    "grid": "310115005001001",
    "other": "310115005001002",
    "code": "31011500500100x",
    "village_code": "310115005001",
    "address": "A-17",
}
"""Example values for the text-valued names of :data:`partition.reasons.VALUES` (ids and names given by users)."""


def example(kind: ReasonKind, unit_kind: UnitKind = UnitKind.BUILDING) -> Reason:
    """A reason of `kind` with example values: numbers, ids and user text with ASCII letters in it."""
    values: dict = {}
    for name in VALUES[kind]:
        if name == "unit_kind":
            values[name] = str(unit_kind)
        elif name in TEXT_VALUES:
            values[name] = TEXT_VALUES[name]
        elif name in ("address_ids", "codes"):
            values[name] = ["id17", "310115005002001"]
        elif name == "type":  # what a request field must hold: a key of the catalog's own table
            values[name] = "code"
        elif name == "more":
            values[name] = True
        elif name.startswith("area_"):
            values[name] = 1234.5
        else:
            values[name] = 437
    return Reason(kind, values)


def no_english(text: str, reason: Reason) -> str:
    """`text` with the reason's own values (ids, codes, user text) and digits removed."""
    given = [str(x) for v in reason.values.values() for x in (v if isinstance(v, list) else [v])]
    for value in sorted(given, key=len, reverse=True):
        text = text.replace(value, " ")
    return re.sub(r"[\d.,()\[\]{}:;→–\-/ …]", "", text)


@pytest.mark.parametrize("kind", list(ReasonKind))
def test_every_reason_kind_reads_in_chinese_without_english_and_in_english(kind):
    assert kind in MESSAGES, f"{kind} has no catalog entry"
    for unit_kind in UnitKind if "unit_kind" in VALUES[kind] else [UnitKind.BUILDING]:
        reason = example(kind, unit_kind)
        zh, en = render(reason, "zh"), render(reason, "en")
        assert zh and re.search(r"[\u4e00-\u9fff]", zh), zh
        leftover = no_english(zh, reason)
        assert not re.search(r"[A-Za-z]", leftover), f"English words in the Chinese text of {kind}: {zh!r}"
        assert re.search(r"[A-Za-z]{3,}", no_english(en, reason)), f"no English words in {kind}: {en!r}"


def test_every_unit_status_and_flag_has_both_words():
    assert set(UnitKind) <= set(UNITS)
    assert set(Status) <= set(STATUS)
    assert {f for f in Flag if f} <= set(FLAGS)
    for zh, en in [*STATUS.values(), *FLAGS.values()]:
        assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[A-Za-z]", zh) and re.search(r"[A-Za-z]{3,}", en)


def test_values_are_inserted_as_given_never_formatted_again():
    reason = Reason.of(ReasonKind.VILLAGE_GROUP, group="{{ 6*7 }}{0}<b>")
    assert render(reason, "zh") == "村民小组 {{ 6*7 }}{0}<b>"
    assert render(reason, "en") == "village group {{ 6*7 }}{0}<b>"


def test_reasons_survive_their_json_and_several_read_as_one_note():
    reasons = (example(ReasonKind.UNBALANCED), Reason.of(ReasonKind.CUT_APART))
    text = encode(reasons)
    assert decode(text) == reasons and decode(json.loads(text)) == reasons  # text, or parsed by a JSON reader
    assert encode(()) is None and decode(None) == () and decode("") == ()
    assert render_all(reasons, "zh") == render(reasons[0], "zh") + render(reasons[1], "zh")
    assert note_pair(text) == (render_all(reasons, "zh"), render_all(reasons, "en"))
    assert note_pair("not json", "a user's note") == ("a user's note", "a user's note")
    with pytest.raises(OptionError, match="takes values"):
        Reason(ReasonKind.PIECES, {"households": 3})


def _boxes(x0: float, y0: float, n: int) -> list:
    return [shapely.box(x0 + i * 100, y0, x0 + (i + 1) * 100, y0 + 100) for i in range(n)]


@pytest.fixture(scope="module")
def forced_run(tmp_path_factory):
    """A run whose grids carry the reasons that used to reach Chinese readers in English.

    Community 001: a row of buildings 120 | 100 | 60 | 350 | 200 | 200 — the western three reach the
    rest only through the 350 building (a pocket). Community 002: 331 | 266 | 416 — the 266 building
    fits with neither neighbour. Village 003 (one grid per 村民小组): one household without a group.
    """
    x0, y0 = ORIGIN
    rows = [
        ("310115005001", _boxes(x0, y0, 6), [120, 100, 60, 350, 200, 200], [None] * 6),
        ("310115005002", _boxes(x0, y0 + 200, 3), [331, 266, 416], [None] * 3),
        ("310115005003", _boxes(x0, y0 + 400, 4), [5, 6, 7, 8], ["一组", "一组", None, "二组"]),
    ]
    units, pts, bnd = [], [], []
    for code, boxes, hh, groups in rows:
        for k, (box, h, grp) in enumerate(zip(boxes, hh, groups, strict=True)):
            units.append({"building": f"B{code[-1]}-{k}", "geometry": box})
            pts.append({"households": float(h), "group": grp, "geometry": box.centroid})
        kind = "village" if code.endswith("3") else "community"
        bnd.append({"code": code, "name": f"社区{code[-1]}", "kind": kind, "geometry": shapely.union_all(boxes)})
    result = gridmap.make_grids(
        gpd.GeoDataFrame(pts, crs=UTM),
        gpd.GeoDataFrame(bnd, crs=UTM),
        units=gpd.GeoDataFrame(units, crs=UTM),
    )
    folder = tmp_path_factory.mktemp("forced") / "run"
    gridmap.write_run(result, folder, maps=False)
    return result, folder


def _kinds(grids) -> set:
    return {r.kind for cell in grids["reason"] for r in decode(cell)}


def _map_notes(result) -> list:
    page = build_map(result).get_root().render()
    data = json.loads(re.search(r"id='gridmap-data'>(.*?)</script>", page, re.S).group(1))
    return [f["properties"]["n"] for f in data["grids"]["features"] if f["properties"]["n"]]


def test_pocket_unit_and_blank_group_reasons_reach_the_map_and_report_in_chinese(forced_run):
    result, _ = forced_run
    grids = result.grids
    assert {ReasonKind.POCKET, ReasonKind.UNIT_FITS_NOWHERE, ReasonKind.BLANK_GROUP} <= _kinds(grids)
    page = report_html(result)
    map_notes = {zh for zh, _ in _map_notes(result)}
    for cell, zh, en in zip(grids["reason"], grids["note"], grids["note_en"], strict=True):
        reasons = decode(cell)
        if not {r.kind for r in reasons} & {ReasonKind.POCKET, ReasonKind.UNIT_FITS_NOWHERE, ReasonKind.BLANK_GROUP}:
            continue
        assert zh == render_all(reasons, "zh") and en == render_all(reasons, "en")
        for r in reasons:
            assert not re.search(r"[A-Za-z]", no_english(render(r, "zh"), r)), zh
        assert zh in map_notes  # the map's popup (Chinese first)
        if ReasonKind.BLANK_GROUP not in {r.kind for r in reasons}:  # flagged grids are listed in the report
            assert html.escape(zh) in page
    pocket = next(zh for zh in grids["note"] if "只能经由" in zh)
    assert pocket.startswith("此处 280 户只能经由 楼栋 B1-3（350 户）")
    assert any("楼栋 B2-1 有 266 户" in zh for zh in grids["note"])
    assert "村民小组 一组；含 1 个村民小组为空的地址（7 户），已并入相邻小组：地址序号 11。" in set(grids["note"])


def test_a_saved_run_read_back_shows_the_same_notes(forced_run):
    result, folder = forced_run
    again = gridmap.read_run(folder)
    cols = ["grid_code", "note", "note_en"]
    assert again.grids[cols].fillna("").equals(result.grids[cols].fillna(""))
    assert [decode(c) for c in again.grids["reason"]] == [decode(c) for c in result.grids["reason"]]
    assert _map_notes(again) == _map_notes(result)
    flagged = again.grids[again.grids["status"].ne("ok")]
    page = report_html(again)
    assert len(flagged) and all(html.escape(zh) in page for zh in flagged["note"])
    # a reader of an older run folder (no reason column) still sees its note text
    old = again.grids.drop(columns=["reason", "note_en"])
    assert [p[0] for p in _map_notes(type(again)(**{**again.__dict__, "grids": old}))] == [n for n in old["note"] if n]


def test_audit_findings_are_worded_in_chinese_with_english_beside(forced_run):
    result, _ = forced_run
    grids = result.grids.copy()
    grids.loc[0, "grid_code"] = grids.loc[1, "grid_code"]  # one code used twice
    found = gridmap.audit(grids, result.addresses[["households", "geometry"]], result.boundaries)
    v = found.violations
    assert {"out_of_band", "code"} <= set(v["kind"])
    for cell, zh, en in zip(v["reason"], v["message"], v["message_en"], strict=True):
        (reason,) = decode(cell)
        assert zh == render(reason, "zh") and en == render(reason, "en")
        assert not re.search(r"[A-Za-z]", no_english(zh, reason)), zh
    assert f"{grids.loc[1, 'grid_code']} 被多个网格使用。" in set(v["message"])
    band = found.grids[found.grids["status"].ne("ok")]
    assert len(band) and band["note"].str.startswith("户数不在 300–500 之间").all()
