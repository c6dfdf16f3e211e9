"""Every export re-read with pyogrio/geopandas equals the run: geometry, attributes, Chinese text."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from geodata.sample import sample_path
from gridmap import LayerSpec, read_run, write_run
from gridmap.cli import main
from gridmap.export import SHP_FIELDS
from gridmap.fields import bilingual
from tests.helpers import run_files


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    p = sample_path()
    result = run_files(**
        dict(
            addresses=LayerSpec(p, "addresses"), boundaries=LayerSpec(p, "boundaries"),
            exclusive=LayerSpec(p, "exclusive"), barriers=(LayerSpec(p, "barriers"),), liaison=(10, 15),
        )
    )
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
    assert g.drop(columns="geometry").astype(str).equals(run.grids.drop(columns="geometry").astype(str))
    gj = gpd.read_file(out / "grids.geojson")
    assert gj.crs.to_epsg() == 4326
    assert same_geometry(gj.geometry.values, run.grids.to_crs(4326).geometry.values, 1e-7)
    kml = gpd.read_file(out / "grids.kml", layer="grids")
    assert list(kml["Name"]) == list(run.grids["grid_code"])
    assert same_geometry(kml.geometry.values, run.grids.to_crs(4326).geometry.values, 1e-7)


def test_xlsx_roster_has_a_sheet_per_village_with_every_household(run_dir, tmp_path):
    out = export(run_dir, tmp_path, "--format", "xlsx", "--format", "csv")
    run = read_run(run_dir)
    sheets = pd.read_excel(out / "roster.xlsx", sheet_name=None, dtype=str)
    villages = [s for s in sheets if s != "网格 grids"]
    assert len(villages) == run.boundaries["code"].nunique()
    rows = pd.concat([sheets[s] for s in villages])
    assert len(rows) == len(run.addresses)
    assert set(rows[bilingual("grid_code")]) == set(run.grids["grid_code"]) - set(run.grids.loc[run.grids["households"].eq(0), "grid_code"])
    csv = pd.read_csv(out / "roster.csv", dtype=str, encoding="utf-8-sig")
    assert sorted(csv[bilingual("grid_code")]) == sorted(rows[bilingual("grid_code")])


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
    pick = re.compile(r'"coordinates": \[\[\[\[?([0-9.]+), ([0-9.]+)\]')
    (gx, gy), (ox, oy) = (tuple(map(float, pick.search(t).groups())) for t in (html, osm))
    shift_m = np.hypot((gx - ox) * 95_000, (gy - oy) * 111_000)
    assert 300 < shift_m < 800
    again = CliRunner().invoke(main, ["map", str(run_dir), "--basemap", "gaode"])
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)
