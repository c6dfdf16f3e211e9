"""Every export re-read with pyogrio/geopandas equals the run: geometry, attributes, Chinese text."""

from __future__ import annotations

import shutil
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from gridmap import read_run, sample_layers, write_run
from gridmap.cli import main
from gridmap.export import SHP_FIELDS
from gridmap.fields import bilingual
from tests.helpers import run_files


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    result = run_files(**sample_layers(), liaison=(10, 15))
    out = tmp_path_factory.mktemp("run") / "run"
    write_run(result, out, maps=False)
    return out


def same_geometry(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return bool((shapely.hausdorff_distance(a, b) < tol).all())


def export(run_dir, tmp_path, *args):
    out = tmp_path / "export"
    res = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_zipped_shapefile_keeps_geometry_attributes_and_chinese_text(run_dir, tmp_path, encoding):
    out = export(run_dir, tmp_path, "--format", "shp", "--encoding", encoding)
    run = read_run(run_dir)
    z = out / "grids_shp.zip"
    names = zipfile.ZipFile(z).namelist()
    assert {"grids.shp", "grids.dbf", "grids.shx", "grids.prj", "grids.cpg", "fields.csv"} <= set(names)
    assert zipfile.ZipFile(z).read("grids.cpg").decode().strip().upper().replace("-", "") == encoding.replace("-", "")
    back = gpd.read_file(f"zip://{z}!grids.shp")
    assert all(len(c) <= 10 for c in back.columns)
    assert list(back[SHP_FIELDS["grid_code"]]) == list(run.grids["grid_code"])
    assert list(back[SHP_FIELDS["village_name"]]) == list(run.grids["village_name"])  # 居委会 names intact
    assert (back[SHP_FIELDS["households"]].to_numpy() == run.grids["households"].to_numpy()).all()
    assert same_geometry(back.to_crs(run.grids.crs).geometry.values, run.grids.geometry.values, 1e-9)
    # the field mapping in the zip names every field and its bilingual label
    mapping = pd.read_csv(zipfile.ZipFile(z).open("fields.csv"))
    assert dict(zip(mapping["field"], mapping["shapefile_field"], strict=True))["grid_code"] == "GRID_CODE"
    assert bilingual("households") in set(mapping["label"])


def test_geopackage_geojson_and_kml_round_trip(run_dir, tmp_path):
    out = export(run_dir, tmp_path, "--format", "gpkg", "--format", "geojson", "--format", "kml")
    run = read_run(run_dir)
    layers = {n for n, _ in pyogrio.list_layers(out / "grids.gpkg")}
    assert {"grids", "addresses", "liaison", "violations"} <= layers
    g = gpd.read_file(out / "grids.gpkg", layer="grids")
    cols = [c for c in run.grids.columns if c != "geometry"]
    assert g[cols].astype(str).equals(run.grids[cols].astype(str))
    # status, flag and note in Chinese with the English beside
    over = g[g["status"].eq("over_max")].iloc[0]
    assert over["status_text"] == "户数超限 / above maximum households"
    assert over["note_text"].startswith("楼栋 ") and " / building " in over["note_text"]
    gj = gpd.read_file(out / "grids.geojson")
    assert gj.crs.to_epsg() == 4326
    assert same_geometry(gj.geometry.values, run.grids.to_crs(4326).geometry.values, 1e-7)


def test_kml_has_a_styled_folder_per_village_label_points_and_chinese_descriptions(run_dir, tmp_path):
    import xml.etree.ElementTree as ET

    from gridmap.maps import status_colors

    out = export(run_dir, tmp_path, "--format", "kml")
    run = read_run(run_dir)
    k = "{http://www.opengis.net/kml/2.2}"
    root = ET.parse(out / "grids.kml").getroot()
    folders = list(root.iter(f"{k}Folder"))
    assert len(folders) == run.grids["village_code"].nunique()
    # GDAL reads each folder as a layer: the polygons come back with their codes and geometry
    back = pd.concat([gpd.read_file(out / "grids.kml", layer=n) for n, _ in pyogrio.list_layers(out / "grids.kml")])
    polys = back[back.geom_type.isin(["Polygon", "MultiPolygon"])].set_index("Name").loc[run.grids["grid_code"]]
    assert same_geometry(polys.geometry.values, run.grids.to_crs(4326).geometry.values, 1e-6)
    points = back[back.geom_type.eq("Point")]
    assert sorted(points["Name"]) == sorted(run.grids["grid_code"])  # one label point per grid
    assert shapely.contains(
        polys.geometry.values, points.set_index("Name").loc[run.grids["grid_code"]].geometry.values
    ).all()
    # fill and outline follow the map's status colours
    styles = {s.get("id"): s for s in root.iter(f"{k}Style")}
    for code, color in zip(run.grids["grid_code"], status_colors(run.grids), strict=True):
        mark = [
            m for m in root.iter(f"{k}Placemark") if m.find(f"{k}name").text == code and m.find(f"{k}Point") is None
        ][0]
        style = styles[mark.find(f"{k}styleUrl").text[1:]]
        h = color.lstrip("#")
        assert style.find(f"{k}PolyStyle/{k}color").text == f"99{h[4:6]}{h[2:4]}{h[0:2]}"
        assert style.find(f"{k}LineStyle/{k}color").text == f"ff{h[4:6]}{h[2:4]}{h[0:2]}"
    desc = next(
        m.find(f"{k}description").text for m in root.iter(f"{k}Placemark") if m.find(f"{k}description") is not None
    )
    assert "<table" in desc and "户数 (households)" in desc and "状态说明" in desc


def test_xlsx_roster_has_a_sheet_per_village_with_every_household(run_dir, tmp_path):
    import openpyxl

    out = export(run_dir, tmp_path, "--format", "xlsx", "--format", "csv")
    run = read_run(run_dir)
    sheets = pd.read_excel(out / "roster.xlsx", sheet_name=None, dtype=str)
    villages = [s for s in sheets if s != "网格 grids"]
    assert len(villages) == run.boundaries["code"].nunique()
    rows = pd.concat([sheets[s] for s in villages])
    assert len(rows) == len(run.addresses)
    assert set(rows[bilingual("grid_code")]) == set(run.grids["grid_code"]) - set(
        run.grids.loc[run.grids["households"].eq(0), "grid_code"]
    )
    csv = pd.read_csv(out / "roster.csv", dtype=str, encoding="utf-8-sig")
    assert sorted(csv[bilingual("grid_code")].str.strip()) == sorted(rows[bilingual("grid_code")])
    assert csv[bilingual("households")].str.fullmatch(r"\d+").all()  # 11, not 11.0
    wb = openpyxl.load_workbook(out / "roster.xlsx")
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == ws.dimensions
        header = [c.value for c in ws[1]]
        for j, name in enumerate(header):
            letter = openpyxl.utils.get_column_letter(j + 1)
            assert ws.column_dimensions[letter].width >= min(len(name), 58)  # headers are not cut
            if name in (bilingual("grid_code"), bilingual("liaison_code"), bilingual("village_code")):
                cells = [c for c in ws[letter][1:] if c.value is not None]
                assert all(c.data_type == "s" and c.number_format == "@" for c in cells)
            if name == bilingual("households"):
                assert all(isinstance(c.value, int) for c in ws[letter][1:])
    grid_sheet = wb["网格 grids"]
    header = [c.value for c in grid_sheet[1]]
    areas = [r[header.index(bilingual("area_m2"))] for r in grid_sheet.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(a, int) for a in areas)


def test_workers_appear_in_roster_xlsx_and_grid_layers(run_dir, tmp_path):
    import openpyxl

    run = read_run(run_dir)
    codes = list(run.grids["grid_code"])
    workers = tmp_path / "workers.csv"
    pd.DataFrame({"grid_code": codes[:3] + codes[:1], "worker": ["张三", "李四", "王五", "赵六"]}).to_csv(
        workers, index=False
    )
    out = export(
        run_dir, tmp_path, "--format", "xlsx", "--format", "csv", "--format", "gpkg", "--workers", str(workers)
    )
    g = gpd.read_file(out / "grids.gpkg", layer="grids").set_index("grid_code")
    assert g.loc[codes[0], "worker"] == "张三、赵六" and g.loc[codes[1], "worker"] == "李四"
    csv = pd.read_csv(out / "roster.csv", dtype=str, encoding="utf-8-sig")
    with_worker = csv[csv[bilingual("grid_code")].str.strip().eq(codes[1])]
    assert len(with_worker) and with_worker["网格员 (worker)"].eq("李四").all()
    ws = openpyxl.load_workbook(out / "roster.xlsx")["网格 grids"]
    header = [c.value for c in ws[1]]
    assert "网格员 (worker)" in header


LIBREOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.slow
@pytest.mark.skipif(LIBREOFFICE is None, reason="needs LibreOffice Calc (.ci/run installs libreoffice-calc-nogui)")
def test_libreoffice_keeps_every_15_and_17_digit_code_of_csv_and_xlsx(run_dir, tmp_path):
    """Open the roster CSV and XLSX in LibreOffice (headless), save as XLSX, read the codes back."""
    import subprocess

    import openpyxl

    out = export(run_dir, tmp_path, "--format", "xlsx", "--format", "csv")
    run = read_run(run_dir)
    lo = tmp_path / "lo"
    profile = (tmp_path / "lo-profile").as_uri()
    for src, infilter in ((out / "roster.csv", ["--infilter=CSV:44,34,76,1"]), (out / "roster.xlsx", [])):
        subprocess.run(
            [
                LIBREOFFICE,
                f"-env:UserInstallation={profile}",
                "--headless",
                *infilter,
                "--convert-to",
                "ods",
                "--outdir",
                str(lo),
                str(src),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        ods = lo / f"{src.stem}.ods"
        subprocess.run(
            [
                LIBREOFFICE,
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                "xlsx",
                "--outdir",
                str(lo / src.suffix[1:]),
                str(ods),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        wb = openpyxl.load_workbook(lo / src.suffix[1:] / "roster.xlsx")
        sheets = wb.worksheets if src.suffix == ".csv" else wb.worksheets[1:]
        got = {"grid_code": [], "liaison_code": []}
        for ws in sheets:
            header = [c.value for c in ws[1]]
            for key in got:
                j = header.index(bilingual(key))
                got[key] += [r[j] for r in ws.iter_rows(min_row=2, values_only=True)]
        for key, want in (("grid_code", run.addresses["grid_code"]), ("liaison_code", run.addresses["liaison_code"])):
            assert all(isinstance(v, str) for v in got[key]), key  # text, never a number
            assert sorted(v.strip() for v in got[key]) == sorted(want)
        assert {len(v.strip()) for v in got["grid_code"]} == {15} and {len(v.strip()) for v in got["liaison_code"]} == {
            17
        }


def test_export_never_replaces_an_existing_folder_silently(run_dir, tmp_path):
    export(run_dir, tmp_path, "--format", "csv")
    res = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "export"), "--format", "csv"])
    assert res.exit_code != 0 and "already exists" in str(res.exception or res.output)


def test_map_command_renders_gaode_copy_shifted_and_never_overwrites_silently(run_dir):
    import re

    res = CliRunner().invoke(main, ["map", str(run_dir), "--basemap", "gaode"])
    assert res.exit_code == 0, res.output
    html = (run_dir / "map_gaode.html").read_text(encoding="utf-8")
    assert "autonavi.com" in html
    res = CliRunner().invoke(main, ["map", str(run_dir), "--basemap", "osm"])
    assert res.exit_code == 0, res.output
    osm = (run_dir / "map_osm.html").read_text(encoding="utf-8")
    # the first grid's first vertex: GCJ-02 display copy is shifted by the GCJ-02 offset (~500 m in Shanghai)
    pick = re.compile(r'"coordinates":\[\[\[\[?([0-9.]+),([0-9.]+)\]')
    (gx, gy), (ox, oy) = (tuple(map(float, pick.search(t).groups())) for t in (html, osm))
    shift_m = np.hypot((gx - ox) * 95_000, (gy - oy) * 111_000)
    assert 300 < shift_m < 800
    again = CliRunner().invoke(main, ["map", str(run_dir), "--basemap", "gaode"])
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)
