"""End-to-end runs on the constructed town and the bundled sample: geometry, households and files."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geodata.errors import InputError
from geodata.validate import code_problem
from gridmap import LayerSpec, sample_layers, write_run
from partition.measures import coverage_ratio, overlap_area
from partition.rules import failing_checks
from tests.helpers import run_files


def town_config(town, **kw):
    return dict(addresses=LayerSpec(town["gpkg"], "addresses"), boundaries=LayerSpec(town["gpkg"], "boundaries"), **kw)


def assert_grids_are_correct(result):
    grids = result.grids.to_crs(result.work_crs)
    bnd = result.boundaries.to_crs(result.work_crs)
    for code, b in zip(bnd["code"], bnd.geometry, strict=True):
        mine = grids[grids["village_code"] == code]
        assert coverage_ratio(mine.geometry.values, b) < 1e-9, code
        assert overlap_area(mine.geometry.values) < 1e-6 * b.area, code
        assert mine["grid_code"].str[:12].eq(code).all()
    assert grids["grid_code"].is_unique
    # every household in exactly one grid: the one whose polygon contains it
    addr = result.addresses.to_crs(result.work_crs)
    tree = shapely.STRtree(grids.geometry.values)
    pi, gi = tree.query(addr.geometry.values, predicate="intersects")
    code_of = grids["grid_code"].to_numpy()
    hits = pd.DataFrame({"p": pi, "code": code_of[gi]})
    own = hits[hits["code"].to_numpy() == addr["grid_code"].to_numpy()[hits["p"]]]
    assert own["p"].nunique() == len(addr)
    hh = addr.groupby("grid_code")["households"].sum()
    assert (
        grids.set_index("grid_code")["households"].sub(hh.reindex(grids["grid_code"]).fillna(0).values).abs().max()
        < 1e-9
    )
    assert failing_checks(grids) == {}


def test_town_end_to_end(town, tmp_path):
    result = run_files(**town_config(town))
    assert_grids_are_correct(result)
    g = result.grids
    band = g[g["rule"] == "household_band"]
    assert band["households"].between(300, 500).all()
    rural = g[g["village_code"] == "310115103269"]
    assert sorted(rural["households"]) == [100, 100, 100]
    assert rural["rule"].eq("village_group").all()
    assert result.grids.crs == town["boundaries"].crs
    out = write_run(result, tmp_path / "run")
    for name in ("grids.gpkg", "grids.geojson", "map.html", "map.png", "report.html", "roster.csv", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    layers = dict(pyogrio.list_layers(out / "grids.gpkg"))
    assert {"grids", "addresses", "violations", "boundaries", "code_history"} <= set(layers)
    back = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert back["grid_code"].tolist() == g["grid_code"].tolist()
    assert back.geometry.geom_equals_exact(g.geometry, tolerance=1e-6).all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["grids"] == len(g)
    assert len(manifest["inputs"]["addresses"]["sha256"]) == 64
    roster = pd.read_csv(out / "roster.csv", encoding="utf-8-sig", dtype=str)
    assert len(roster) == len(result.addresses)
    assert (out / "roster.csv").read_bytes()[:3] == b"\xef\xbb\xbf"


def test_deterministic_byte_identical_grids(town, tmp_path):
    a = run_files(**town_config(town))
    b = run_files(**town_config(town))
    assert a.grids.to_json() == b.grids.to_json()


def test_sample_run(tmp_path):
    result = run_files(**sample_layers())
    assert_grids_are_correct(result)
    g = result.grids
    assert g["grid_type"].str.startswith("exclusive/").sum() == 3
    assert g["grid_code"].map(lambda c: code_problem(c[:12]) is None).all()
    flagged = g[g["status"] != "ok"]
    assert (flagged["note"].str.len() > 0).all()
    assert result.grids.crs.to_epsg() == 4490  # outputs keep the input CRS (CGCS2000)


def test_address_outside_every_boundary_is_kept_in_violations(town):
    addr = town["addresses"].copy()
    far = addr.iloc[[0]].copy()
    far.geometry = far.geometry.translate(5000, 5000)
    addr = gpd.GeoDataFrame(pd.concat([addr, far], ignore_index=True), crs=addr.crs)
    addr.to_file(town["gpkg"], layer="addresses", mode="w")
    result = run_files(**town_config(town))
    v = result.violations
    assert (v["kind"] == "address_outside_boundaries").sum() == 1
    # named by where the user finds it: file, feature number and address_id (not an internal index)
    n = len(addr) - 1
    (ref,) = v.loc[v["kind"].eq("address_outside_boundaries"), "ref"]
    assert "town.gpkg" in ref and ref.endswith(f"feature {n}, address_id {n}"), ref
    assert result.addresses["grid_code"].isna().sum() == 1
    assert result.manifest["counts"]["addresses_without_grid"] == 1


def test_gcj02_input_is_written_in_wgs84(town, tmp_path):
    wgs = town["addresses"].to_crs(4326)
    from geodata.crs import wgs84_to_china

    gcj_a = wgs84_to_china(wgs, target="gcj02").set_crs(None, allow_override=True)
    gcj_b = wgs84_to_china(town["boundaries"].to_crs(4326), target="gcj02")
    path = tmp_path / "gcj.gpkg"
    gcj_a.set_crs(4326, allow_override=True).to_file(path, layer="addresses")
    gcj_b.to_file(path, layer="boundaries")
    # both files say EPSG:4326, the only tag GCJ-02 data can carry: --input-crs gcj02 converts them too
    result = run_files(
        **dict(addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"), input_crs="gcj02")
    )
    assert result.grids.crs.to_epsg() == 4326
    # converted back onto the true WGS 84 position (within 0.5 m)
    a = result.boundaries.to_crs(32651).geometry.values
    b = town["boundaries"].to_crs(32651).geometry.values
    assert shapely.hausdorff_distance(a, b).max() < 0.5
    gcj_out = run_files(
        **dict(
            addresses=LayerSpec(path, "addresses"),
            boundaries=LayerSpec(path, "boundaries"),
            layer_crs={"addresses": "gcj02", "boundaries": "gcj02"},
            output_crs="gcj02",
        )
    )
    assert np.allclose(
        shapely.get_coordinates(gcj_out.boundaries.geometry.values),
        shapely.get_coordinates(gcj_b.geometry.values),
        atol=1e-7,
    )


def test_bad_household_values_name_file_row_column(town, tmp_path):
    addr = town["addresses"].copy()
    addr["households"] = addr["households"].astype(object)
    addr.loc[7, "households"] = "many"
    path = tmp_path / "bad.gpkg"
    addr.to_file(path, layer="addresses")
    town["boundaries"].to_file(path, layer="boundaries")
    cfg = dict(addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"))
    with pytest.raises(InputError, match=r"bad\.gpkg, feature 7, column 'households': got 'many'"):
        run_files(**cfg)


def test_field_remapping(town, tmp_path):
    addr = town["addresses"].rename(columns={"households": "户数"})
    path = tmp_path / "remap.gpkg"
    addr.to_file(path, layer="addresses")
    town["boundaries"].rename(columns={"code": "DM"}).to_file(path, layer="boundaries")
    cfg = dict(
        addresses=LayerSpec(path, "addresses"),
        boundaries=LayerSpec(path, "boundaries"),
        fields={"households": "户数", "code": "DM"},
    )
    result = run_files(**cfg)
    assert result.grids["households"].sum() == town["addresses"]["households"].sum()
    bad = dict(
        addresses=LayerSpec(path, "addresses"), boundaries=LayerSpec(path, "boundaries"), fields={"households": "hh"}
    )
    with pytest.raises(InputError, match="column 'hh'"):
        run_files(**bad)


def test_addresses_are_written_at_the_coordinates_given(town, tmp_path):
    """A GIS officer joins the addresses layer back to the source: its points are the source's, to the bit."""
    wgs = town["addresses"].to_crs(4326)
    path = tmp_path / "wgs.gpkg"
    wgs.to_file(path, layer="addresses")
    town["boundaries"].to_crs(4326).to_file(path, layer="boundaries")
    result = run_files(LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"))
    assert result.work_crs != "EPSG:4326" and result.addresses.crs.to_epsg() == 4326
    given = wgs.geometry.values[result.addresses["address_id"].to_numpy()]
    assert shapely.equals_exact(result.addresses.geometry.values, given, tolerance=0).all()
    # asked for another CRS, they are converted (and stay on the same spot)
    other = run_files(LayerSpec(path, "addresses"), LayerSpec(path, "boundaries"), output_crs="EPSG:3857")
    assert other.addresses.crs.to_epsg() == 3857
    back = other.addresses.to_crs(4326).geometry.values
    assert shapely.distance(back, given).max() < 1e-9


def test_inputs_in_different_crss_and_web_mercator_are_measured_in_utm(town, tmp_path):
    """Boundaries in Web Mercator + a CSV of lon/lat: each is transformed on its own; areas are true m²."""
    path = tmp_path / "merc.gpkg"
    town["boundaries"].to_crs(3857).to_file(path, layer="boundaries")
    wgs = town["addresses"].to_crs(4326)
    csv = tmp_path / "hh.csv"
    pd.DataFrame(
        {
            "lon": wgs.geometry.x,
            "lat": wgs.geometry.y,
            "households": wgs["households"].astype(int),
            "group": wgs.get("group"),
        }
    ).to_csv(csv, index=False)
    result = run_files(csv, LayerSpec(path, "boundaries"), input_crs="EPSG:4326")
    assert result.work_crs == "EPSG:32651"
    assert result.grids.crs.to_epsg() == 3857
    true_area = town["boundaries"].area.sum()
    assert result.grids["area_m2"].sum() == pytest.approx(true_area, rel=1e-3)  # not x1.37 as in Web Mercator
    assert result.grids["households"].sum() == town["addresses"]["households"].sum()
