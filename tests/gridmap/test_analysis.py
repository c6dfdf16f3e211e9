"""Audit of a hand-drawn layer with known faults, report figures, worker loads and diffs."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from gridmap.cli import main
from gridmap.report import worker_table
from partition.audit import audit_grids, diff_layers
from partition.values import Band
from tests.conftest import ORIGIN, UTM, grid_points, square

X0, Y0 = ORIGIN
A, B = "310115005001", "310115005003"


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


@pytest.fixture
def hand_drawn(tmp_path):
    """Two 200 × 200 m villages side by side; 20 × 10 points of 10 households every 20 m.

    Hand-drawn grids (metres from the origin)::

        A: x 0-200                       B: x 200-400
        G1 = x 0-100                     G4 = x 180-300  (crosses the A|B border)
        G2 = x 100-160                   G5 = x 300-400
        G3 = x 140-180, y 0-100 (overlaps G2 by 20 × 100 m)
        gap: x 160-180, y 100-200 in A (nobody draws it)
    """
    pts = grid_points(20, 10)
    grids = gpd.GeoDataFrame(
        {"grid_code": [A + "001", A + "002", A + "003", B + "001", "31011500500X004"]},
        geometry=[
            box(0, 0, 100, 200),
            box(100, 0, 160, 200),
            box(140, 0, 180, 100),
            box(180, 0, 300, 200),
            box(300, 0, 400, 200),
        ],
        crs=UTM,
    )
    bnd = gpd.GeoDataFrame(
        {"code": [A, B], "name": ["甲社区", "乙社区"]},
        geometry=[square(200, 200), square(200, 200, origin=(X0 + 200, Y0))],
        crs=UTM,
    )
    path = tmp_path / "hand.gpkg"
    grids.to_file(path, layer="grids")
    pts.to_file(path, layer="addresses")
    bnd.to_file(path, layer="boundaries")
    return path, grids, pts, bnd


def test_audit_finds_exactly_the_known_faults(hand_drawn):
    _, grids, pts, bnd = hand_drawn
    audit = audit_grids(grids, pts, boundaries=bnd, band=Band(300, 500))
    v = audit.violations
    kinds = v["kind"].value_counts().to_dict()
    # the gap: x 160-180, y 100-200 → 2,000 m²; it holds the points at x=170, y=110..190 (5 points)
    gap = v[v["kind"].eq("gap")]
    assert len(gap) == 1 and gap["ref"].iloc[0] == A and gap["area_m2"].iloc[0] == pytest.approx(2000)
    assert kinds["address_in_no_grid"] == 5
    # the overlap G2 × G3: x 140-160, y 0-100 → 2,000 m², points at x=150, y=10..90 (5 points)
    ov = v[v["kind"].eq("overlap")]
    assert len(ov) == 1 and ov["area_m2"].iloc[0] == pytest.approx(2000)
    assert set(ov["ref"].iloc[0].split(" × ")) == {A + "002", A + "003"}
    assert kinds["address_in_two_grids"] == 5
    # G4 crosses the border; the bad code is reported
    cross = v[v["kind"].eq("crosses_boundary")]
    assert list(cross["ref"]) == [B + "001"]
    assert "31011500500X004" in " ".join(v.loc[v["kind"].eq("code"), "ref"])
    # households by independent count: points strictly inside each grid (none on a border here)
    xy = shapely.get_coordinates(pts.geometry.values) - [X0, Y0]
    expected = [
        (xy[:, 0] < 100).sum() * 10,
        ((xy[:, 0] > 100) & (xy[:, 0] < 160)).sum() * 10,
        ((xy[:, 0] > 140) & (xy[:, 0] < 180) & (xy[:, 1] < 100)).sum() * 10 - 5 * 10,  # overlap counted in G2 only
        ((xy[:, 0] > 180) & (xy[:, 0] < 300)).sum() * 10,
        (xy[:, 0] > 300).sum() * 10,
    ]
    assert audit.grids["households"].tolist() == expected
    assert set(kinds) == {
        "gap",
        "overlap",
        "crosses_boundary",
        "address_in_no_grid",
        "address_in_two_grids",
        "code",
        "out_of_band",
    }


def test_audit_cli_writes_report_with_findings_and_worker_loads(hand_drawn, tmp_path):
    path, *_ = hand_drawn
    workers = tmp_path / "workers.csv"
    pd.DataFrame(
        {"grid_code": [A + "001", A + "002", A + "002", B + "001"], "worker": ["张三", "张三", "李四", "王五"]}
    ).to_csv(workers, index=False)
    out = tmp_path / "audit"
    res = CliRunner().invoke(
        main,
        [
            "audit",
            "--grids",
            str(path),
            "--grids-layer",
            "grids",
            "--addresses",
            str(path),
            "--addresses-layer",
            "addresses",
            "--boundaries",
            str(path),
            "--boundaries-layer",
            "boundaries",
            "--workers",
            str(workers),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Audit findings" in html and "crosses_boundary" in html and "张三" in html
    found = gpd.read_file(out / "audit.gpkg", layer="violations")
    assert found["kind"].eq("gap").sum() == 1


def test_worker_loads_share_a_grid_between_its_workers():
    grids = pd.DataFrame(
        {"grid_code": ["g1", "g2", "g3"], "households": [400.0, 300.0, 500.0], "population": [1000.0, 900.0, 1500.0]}
    )
    workers = pd.DataFrame({"grid_code": ["g1", "g2", "g2", "g3", "gX"], "worker": ["a", "a", "b", "c", "c"]})
    table, fig = worker_table(grids, workers)
    loads = dict(zip(table["网格员 worker"], table["户数 households"], strict=True))
    assert loads == {"a": 550.0, "b": 150.0, "c": 500.0}
    assert fig["max"] == 550 and fig["min"] == 150
    assert fig["unknown_grid_codes"] == ["gX"]
    v = np.array([550.0, 150.0, 500.0])
    assert fig["cv"] == pytest.approx(v.std() / v.mean())


def test_report_figures_equal_an_independent_computation_per_rule(tmp_path):
    from gridmap import read_run

    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    assert res.exit_code == 0, res.output
    run = read_run(tmp_path / "demo")
    html = (tmp_path / "demo" / "report.html").read_text(encoding="utf-8")
    shown = {k: float(v) for k, v in re.findall(r"data-key='(\w+)' data-value='([^']+)'", html)}
    g = gpd.read_file(tmp_path / "demo" / "grids.gpkg", layer="grids")
    assert shown["n"] == len(g) == len(run.grids)
    assert shown["total"] == g["households"].sum()
    assert shown["flagged"] == g["status"].ne("ok").sum()
    groups = {
        "household_band": g[g["grid_type"].eq("base") & g["rule"].eq("household_band")],
        "village_group": g[g["grid_type"].eq("base") & g["rule"].eq("village_group")],
        "exclusive": g[g["grid_type"].ne("base")],
    }
    for key, sub in groups.items():
        hh = np.sort(sub["households"].to_numpy(float))
        n = len(hh)
        assert shown[f"n__{key}"] == n > 0
        assert shown[f"total__{key}"] == hh.sum()
        if key == "exclusive":
            assert f"cv__{key}" not in shown  # no household target: no balance figures
            continue
        assert shown[f"cv__{key}"] == pytest.approx(hh.std() / hh.mean())
        assert shown[f"gini__{key}"] == pytest.approx((2 * np.arange(1, n + 1) - n - 1) @ hh / (n * hh.sum()))
        assert shown[f"parity__{key}"] == pytest.approx(np.abs(hh - hh.mean()).max() / hh.mean())
        assert shown[f"max_min_ratio__{key}"] == pytest.approx(hh.max() / hh.min())
    band = groups["household_band"]
    assert shown["share_in_band__household_band"] == pytest.approx(
        band["households"].between(band["min_households"], band["max_households"]).mean()
    )
    assert "share_in_band__village_group" not in shown


def test_diff_counts_households_that_change_grid(hand_drawn, tmp_path):
    _, grids, pts, _ = hand_drawn
    grids = grids.drop(index=2).reset_index(drop=True)  # no overlapping grids in this comparison
    new = grids.copy()
    new.loc[0, "geometry"] = box(0, 0, 120, 200)  # G1 takes x 100-120 (10 points × 10 hh) from G2
    new.loc[1, "geometry"] = box(120, 0, 160, 200)
    d = diff_layers(grids, new, pts)
    assert d.households["changed"].sum() == 10
    assert d.share_changed == pytest.approx(100 / pts["households"].sum())
    row = d.grids.set_index("grid_code")
    assert row.loc[A + "001", "gained"] == 100 and row.loc[A + "002", "lost"] == 100
    assert d.changed_areas["area_m2"].sum() == pytest.approx(20 * 200)


def test_audit_of_a_gridmap_run_flags_only_what_breaks_the_rules(tmp_path):
    # rural village-group grids and exclusive grids have no household band; a clean run has no gaps
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    assert res.exit_code == 0, res.output
    gpkg = str(tmp_path / "demo" / "grids.gpkg")
    out = tmp_path / "audit"
    res = CliRunner().invoke(
        main,
        [
            "audit",
            "--grids",
            gpkg,
            "--grids-layer",
            "grids",
            "--addresses",
            gpkg,
            "--addresses-layer",
            "addresses",
            "--boundaries",
            gpkg,
            "--boundaries-layer",
            "boundaries",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    found = gpd.read_file(out / "audit.gpkg", layer="violations")
    grids = gpd.read_file(gpkg, layer="grids")
    out_of_band = grids[
        grids["rule"].eq("household_band")
        & ~grids["households"].between(grids["min_households"], grids["max_households"])
    ]
    assert sorted(found.loc[found["kind"].eq("out_of_band"), "ref"]) == sorted(out_of_band["grid_code"])
    assert not found["kind"].isin(["gap", "overlap", "crosses_boundary", "address_in_no_grid", "code"]).any()


def test_band_edges_at_gridmap_audit_min_and_max_are_in_one_beyond_is_out_and_flagged():
    import gridmap

    code = "310115005001"
    grids = gpd.GeoDataFrame(
        {"grid_code": [f"{code}{k:03d}" for k in range(1, 5)]},
        geometry=[square(100, 100, origin=(ORIGIN[0] + 100 * k, ORIGIN[1])) for k in range(4)],
        crs=UTM,
    )
    addresses = gpd.GeoDataFrame(
        {"households": [300, 500, 501, 299]},
        geometry=[shapely.Point(ORIGIN[0] + 100 * k + 50, ORIGIN[1] + 50) for k in range(4)],
        crs=UTM,
    )
    found = gridmap.audit(grids, addresses)
    g = found.grids.set_index("grid_code")
    assert g["status"].tolist() == ["ok", "ok", "over_max", "under_min"]
    out = found.violations[found.violations["kind"].eq("out_of_band")]
    assert sorted(out["ref"]) == [f"{code}003", f"{code}004"]
    assert found.manifest["findings"]["out_of_band"] == 2
    narrow = gridmap.audit(grids, addresses, min_households=299, max_households=501)
    assert narrow.grids["status"].eq("ok").all()
