"""Audit of a grid layer gridmap did not make, worker loads and the difference of two layers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from partition.audit import audit_grids, diff_layers, worker_loads
from partition.reasons import Reason, ReasonKind, decode
from partition.values import DEFAULT_BAND, Band
from tests.conftest import ORIGIN, UTM, square

V = "310115005001"


def row_of_grids(
    households: list[float], *, codes: list[str] | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Square 100 m grids in a row, one address point in the middle of each holding `households`."""
    n = len(households)
    grids = gpd.GeoDataFrame(
        {"grid_code": codes or [f"{V}{k + 1:03d}" for k in range(n)]},
        geometry=[square(100, 100, origin=(ORIGIN[0] + 100 * k, ORIGIN[1])) for k in range(n)],
        crs=UTM,
    )
    pts = gpd.GeoDataFrame(
        {"households": households, "population": [h * 2.5 for h in households]},
        geometry=shapely.points([(ORIGIN[0] + 100 * k + 50, ORIGIN[1] + 50) for k in range(n)]),
        crs=UTM,
    )
    return grids, pts


def test_band_edges_at_audit_exactly_min_and_max_are_in_one_beyond_is_out_and_flagged():
    grids, pts = row_of_grids([300, 500, 501, 299, 400])
    audit = audit_grids(grids, pts)  # the default band
    g = audit.grids
    assert g["households"].tolist() == [300, 500, 501, 299, 400]
    assert g["status"].tolist() == ["ok", "ok", "over_max", "under_min", "ok"]
    assert [bool(decode(r)) for r in g["reason"]] == [False, False, True, True, False]
    out = audit.violations[audit.violations["kind"].eq("out_of_band")]
    assert out["ref"].tolist() == [V + "003", V + "004"]
    (why,) = decode(out["reason"].iloc[0])
    assert (why.values["households"], why.values["min"], why.values["max"]) == (501, 300, 500)
    assert set(g["min_households"]) == {DEFAULT_BAND.min_households}
    assert set(g["max_households"]) == {DEFAULT_BAND.max_households}


def test_the_band_is_the_one_asked_for_and_only_for_band_villages_and_base_grids():
    grids, pts = row_of_grids([250, 450, 50, 30])
    grids["village_code"] = [V, V, "310115103269", V]
    grids["grid_type"] = ["base", "base", "base", "exclusive/school"]
    audit = audit_grids(grids, pts, band=Band(200, 400), band_villages={V})
    assert audit.grids["status"].tolist() == ["ok", "over_max", "ok", "ok"]
    assert audit.grids["rule"].tolist() == ["household_band", "household_band", "village_group", "village_group"]
    out = audit.violations[audit.violations["kind"].eq("out_of_band")]
    assert out["ref"].tolist() == [V + "002"]
    (why,) = decode(out["reason"].iloc[0])
    assert (why.values["grid"], why.values["min"], why.values["max"]) == (V + "002", 200, 400)


def test_every_address_problem_and_overlap_is_a_finding_with_its_place():
    grids, pts = row_of_grids([400, 400])
    grids.loc[1, "geometry"] = square(120, 100, origin=(ORIGIN[0] + 80, ORIGIN[1]))  # overlaps grid 1 by 20 m
    lost = gpd.GeoDataFrame({"households": [7.0]}, geometry=shapely.points([(ORIGIN[0] + 500, ORIGIN[1])]), crs=UTM)
    both = gpd.GeoDataFrame({"households": [3.0]}, geometry=shapely.points([(ORIGIN[0] + 90, ORIGIN[1] + 50)]), crs=UTM)
    pts = gpd.GeoDataFrame(pd.concat([pts, lost, both], ignore_index=True), crs=UTM)
    audit = audit_grids(grids, pts, band=Band(300, 500))
    kinds = audit.violations.set_index("kind")
    assert kinds.loc["overlap", "area_m2"] == pytest.approx(2000.0)
    assert kinds.loc["address_in_no_grid", "ref"] == "address 2"
    assert kinds.loc["address_in_two_grids", "ref"] == "address 3"
    assert audit.address_grid.tolist() == [0, 1, -1, 0]  # an address in two grids counts in the first
    assert audit.grids["households"].tolist() == [403, 400]


def test_gaps_crossings_and_bad_codes_against_the_boundaries():
    grids, pts = row_of_grids([400, 400, 400], codes=[V + "001", V + "001", "310115005002001"])
    boundaries = gpd.GeoDataFrame(
        {"code": [V, "310115005002"]},
        geometry=[square(150, 100), square(250, 100, origin=(ORIGIN[0] + 150, ORIGIN[1]))],
        crs=UTM,
    )
    boundaries.loc[1, "geometry"] = square(300, 100, origin=(ORIGIN[0] + 150, ORIGIN[1]))  # 150 m beyond the grids
    audit = audit_grids(grids, pts, boundaries=boundaries)
    v = audit.violations
    assert set(v["kind"]) >= {"gap", "crosses_boundary", "code"}
    assert v.loc[v["kind"].eq("gap"), "area_m2"].sum() == pytest.approx(15_000.0)
    assert v.loc[v["kind"].eq("crosses_boundary"), "ref"].tolist() == [V + "001"]  # the second grid spans both
    assert Reason.of(ReasonKind.CODE_REPEATED, code=V + "001") in [
        r for cell in v.loc[v["kind"].eq("code"), "reason"] for r in decode(cell)
    ]
    assert audit.grids["village_code"].tolist() == [V, V, "310115005002"]  # by largest share of area


def test_village_of_a_grid_comes_from_its_code_when_no_boundaries_are_given():
    grids, pts = row_of_grids([400, 400], codes=[V + "001", "not a code"])
    audit = audit_grids(grids, pts)
    assert audit.grids["village_code"].iloc[0] == V
    assert pd.isna(audit.grids["village_code"].iloc[1])
    assert "code" in set(audit.violations["kind"])


def test_worker_loads_share_a_grid_equally_and_sort_the_heaviest_first():
    grids = pd.DataFrame(
        {"grid_code": ["a", "b", "c"], "households": [400.0, 300.0, 200.0], "population": [1000.0, 750, 500]}
    )
    workers = pd.DataFrame({"grid_code": ["a", "a", "b", "c", "c"], "worker": ["张", "李", "张", "王", "王"]})
    loads, figures = worker_loads(grids, workers)  # 王 twice on c counts once
    assert loads["worker"].tolist() == ["张", "李", "王"]
    assert loads["households"].tolist() == [500.0, 200.0, 200.0]
    assert loads["grids"].tolist() == [2, 1, 1]
    assert loads["population"].tolist() == [1250.0, 500.0, 500.0]
    assert figures["n"] == 3 and figures["total"] == 900.0 and figures["max"] == 500.0


def test_diff_of_two_layers_names_the_households_and_the_area_that_changed_code():
    old, pts = row_of_grids([100, 200, 300])
    new = old.copy()
    new.loc[1, "grid_code"] = V + "009"  # the middle grid renamed
    d = diff_layers(old, new, pts)
    assert d.share_changed == pytest.approx(200 / 600)
    assert d.households["changed"].tolist() == [False, True, False]
    g = d.grids.set_index("grid_code")
    assert g.loc[V + "002", "lost"] == 200 and g.loc[V + "009", "gained"] == 200
    assert g.loc[V + "001", ["households_before", "households_after"]].tolist() == [100, 100]
    assert d.changed_areas["area_m2"].sum() == pytest.approx(10_000.0)
    assert len(d.points) == 3 and d.points.crs == old.crs


def test_identical_layers_differ_nowhere():
    old, pts = row_of_grids([100, 200])
    d = diff_layers(old, old.copy(), pts)
    assert d.share_changed == 0 and len(d.changed_areas) == 0
    assert np.all(d.grids["gained"] == 0)
