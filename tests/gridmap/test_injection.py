"""User text is data: payloads in every text field come out literally, never run as template, markup or formula.

The hostile run (``conftest.hostile_run``) carries Jinja expressions, HTML/script and spreadsheet
formulas in village names, village-group names, building and compound ids and exclusive-area names.
"""

from __future__ import annotations

import csv
import html
import json
import re
import xml.etree.ElementTree as ET
import zipfile

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from geodata.io import spreadsheet_safe
from gridmap.export import CODE_COLUMNS, _label, write_export
from gridmap.maps import build_map
from gridmap.report import report_html
from tests.gridmap.conftest import PAYLOADS

RISKY = ("=", "+", "-", "@", "\t", "\r")


def names(result) -> list[str]:
    return list(result.boundaries["name"])


def page_data(page: str) -> dict:
    m = re.search(r"<script type='application/json' id='gridmap-data'>(.*?)</script>", page, re.S)
    return json.loads(m.group(1))


def test_map_carries_names_as_json_data_only(hostile_run):
    result, _ = hostile_run
    page = build_map(result).get_root().render()
    assert "崂山42二村" not in page and "<img src=x" not in page and "<script>window.__pwned" not in page
    data = page_data(page)
    assert [f["properties"]["name"] for f in data["villages"]["features"]] == names(result)
    props = [f["properties"] for f in data["grids"]["features"]]
    assert [p["vn"] for p in props] == list(result.grids["village_name"])
    assert [p["c"] for p in props] == list(result.grids["grid_code"])
    assert set(data["addresses"]["b"]) == set(result.addresses["building"])
    # the note of the over-maximum grid names the user's own (hostile) building id, in both languages
    over = result.grids.index[result.grids["flag"].eq("unit_over_max")][0]
    zh, en = props[result.grids.index.get_loc(over)]["n"]
    building = re.search(r"building (.*?) alone", en).group(1)
    assert building in set(result.addresses["building"]) and building in zh
    # the only scripts: Leaflet, folium's two switches, the JSON data block, folium's map + map.js
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)
    assert len(scripts) == 4 and "L_NO_TOUCH" in scripts[1] and "gridmapPage(map_" in scripts[3]
    assert "L.map(" in scripts[3] and "<script src=" not in page
    assert "innerHTML" not in page.split("id='gridmap-data'")[1].split("</script>", 1)[1]


def test_report_escapes_every_name(hostile_run):
    result, _ = hostile_run
    text = report_html(result)
    assert "崂山42二村" not in text and "<img src=x" not in text and "<script>window.__pwned" not in text
    for name in names(result):
        assert html.escape(name) in text


def test_csv_neutralises_formulas_and_keeps_text_literal(hostile_run, tmp_path):
    result, _ = hostile_run
    (path,) = write_export(result, tmp_path, fmt="csv")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cells = [v for r in body for v in r]
    code_cols = {header.index(_label(c)) for c in CODE_COLUMNS if _label(c) in header}
    for r in body:
        for j, v in enumerate(r):
            if j in code_cols:
                assert v == "" or (v.startswith("\t") and v[1:].isdigit())
            else:
                assert not v.startswith(RISKY), v
    # nothing lost: un-neutralised cells are the user's text
    col = header.index(_label("building"))
    assert {r[col][1:] if r[col].startswith("'") else r[col] for r in body} == set(result.addresses["building"])
    assert any(v.startswith("'=") for v in cells) and any(v.startswith("'@") for v in cells)
    assert any(v.startswith("'-") for v in cells) and any(v.startswith("'+") for v in cells)


def test_xlsx_stores_formula_like_text_as_text(hostile_run, tmp_path):
    result, _ = hostile_run
    (path,) = write_export(result, tmp_path, fmt="xlsx")
    wb = openpyxl.load_workbook(path)
    values = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                values.append(cell.value)
    assert set(names(result)) <= set(values)
    assert set(result.addresses["building"]) <= set(values)


def test_gis_exports_keep_names_literally(hostile_run, tmp_path):
    result, _ = hostile_run
    write_export(result, tmp_path, fmt="geojson")
    write_export(result, tmp_path, fmt="shp")
    write_export(result, tmp_path, fmt="kml")
    assert list(gpd.read_file(tmp_path / "grids.geojson")["village_name"]) == list(result.grids["village_name"])
    shp = gpd.read_file(f"zip://{tmp_path / 'grids_shp.zip'}!grids.shp")
    assert list(shp["VILL_NAME"]) == list(result.grids["village_name"])
    root = ET.parse(tmp_path / "grids.kml").getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    folders = [f.find("k:name", ns).text for f in root.iter("{http://www.opengis.net/kml/2.2}Folder")]
    assert sorted(folders) == sorted(
        f"{n} {c}" for n, c in zip(result.boundaries["name"].str.strip(), result.boundaries["code"], strict=True)
    )
    desc = " ".join(d.text for d in root.iter("{http://www.opengis.net/kml/2.2}description"))
    assert "<img src=x" not in desc  # the description's HTML has the name escaped as text
    assert html.escape(PAYLOADS[2]) in desc


@pytest.mark.parametrize("value", PAYLOADS)
def test_spreadsheet_safe_prefixes_exactly_the_risky_starts(value):
    out = spreadsheet_safe(pd.Series([value], dtype=object)).iloc[0]
    assert out == ("'" + value if value.startswith(RISKY) else value)


def test_shapefile_zip_lists_bilingual_field_labels(hostile_run, tmp_path):
    result, _ = hostile_run
    (z, *_) = write_export(result, tmp_path, fmt="shp")
    mapping = pd.read_csv(zipfile.ZipFile(z).open("fields.csv"))
    assert {"STATUS_TXT", "NOTE_TXT"} <= set(mapping["shapefile_field"])
