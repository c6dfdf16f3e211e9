"""Regenerating grids: stable codes, incremental --keep-valid, code checks, three successive runs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geodata.sample import sample_path
from gridmap import LayerSpec, write_run
from gridmap.cli import main
from partition.measures import coverage_ratio
from partition.rules import RuleSet
from tests.helpers import assert_cells_make_grids, run_files

CHANGED = "310115005039"  # the community whose households grow by half in the "later" inputs


def sample_config(addresses: Path | None = None, **kw) -> dict:
    p = sample_path()
    return dict(
        addresses=LayerSpec(addresses or p, "addresses"),
        boundaries=LayerSpec(p, "boundaries"),
        exclusive=LayerSpec(p, "exclusive"),
        barriers=(LayerSpec(p, "barriers"),),
        **kw,
    )


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "first"
    write_run(run_files(**sample_config()), out, maps=False)
    return out


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> Path:
    """The sample's addresses with one community's households up by half (new flats occupied)."""
    a = gpd.read_file(sample_path(), layer="addresses")
    b = gpd.read_file(sample_path(), layer="boundaries")
    inside = a.within(b.loc[b["code"].eq(CHANGED)].geometry.iloc[0])
    a.loc[inside, "households"] = np.ceil(a.loc[inside, "households"] * 1.5).astype(int)
    path = tmp_path_factory.mktemp("grown") / "grown.gpkg"
    a.to_file(path, layer="addresses")
    return path


def grids_of(run: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(run / "grids.gpkg", layer="grids")


def test_same_input_gives_identical_codes_and_geometry(first):
    again = run_files(**sample_config(previous=LayerSpec(first / "grids.gpkg", "grids")))
    old = grids_of(first)
    assert list(again.grids["grid_code"]) == list(old["grid_code"])
    assert again.code_changes["reason"].eq("kept").all()


def test_keep_valid_keeps_untouched_grids_exactly_and_regrids_the_grown_community(first, grown):
    old = grids_of(first).set_index("grid_code")
    result = run_files(**sample_config(grown, previous=LayerSpec(first / "grids.gpkg", "grids"), keep_valid=True))
    g = result.grids.set_index("grid_code")
    kept = g[g["kept"]]
    # every kept grid is the previous grid under the previous code; the only change allowed is a
    # floating-point sliver (millimetres) taken up where only kept grids border it
    assert len(kept) > 0
    same = gpd.GeoSeries(old.loc[kept.index].geometry.values, crs=old.crs).to_crs(result.work_crs).values
    now = kept.to_crs(result.work_crs).geometry.values
    assert (shapely.hausdorff_distance(now, same) < 0.01).all()
    assert (shapely.area(shapely.symmetric_difference(now, same)) < 1e-6 * shapely.area(same)).all()
    # nothing in the grown community could be kept: its grids went over the band
    assert not kept["village_code"].eq(CHANGED).any()
    changed = g[g["village_code"].eq(CHANGED)]
    assert changed["households"].between(changed["min_households"], changed["max_households"]).all()
    # untouched band grids that were in band are all kept
    old_ok = old[
        (old["village_code"] != CHANGED)
        & old["rule"].eq("household_band")
        & old["grid_type"].eq("base")
        & old["status"].eq("ok")
    ]
    assert set(old_ok.index) <= set(kept.index)
    # kept grids are made of cells like the rest, and the result still tiles every community
    assert_cells_make_grids(result)
    work = result.grids.to_crs(result.work_crs)
    for code, geom in zip(result.boundaries["code"], result.boundaries.to_crs(result.work_crs).geometry, strict=True):
        assert coverage_ratio(work.loc[work["village_code"].eq(code)].geometry.values, geom) < 1e-9


def test_keep_valid_keeps_more_households_under_their_code_than_plain_regeneration(first, grown):
    def share_kept(result) -> float:
        old = gpd.read_file(first / "grids.gpkg", layer="addresses")[["address_id", "grid_code"]]
        new = result.addresses[["address_id", "grid_code", "households"]]
        m = new.merge(old, on="address_id", suffixes=("", "_old"))
        return float(m.loc[m["grid_code"] == m["grid_code_old"], "households"].sum() / m["households"].sum())

    plain = run_files(**sample_config(grown, previous=LayerSpec(first / "grids.gpkg", "grids")))
    incremental = run_files(**sample_config(grown, previous=LayerSpec(first / "grids.gpkg", "grids"), keep_valid=True))
    assert share_kept(incremental) >= share_kept(plain)
    assert share_kept(incremental) > 0.8


def test_three_successive_runs_never_reissue_a_retired_code(tmp_path, first):
    # run 2 narrows the band (many grids split: codes retired, new ones issued); run 3 widens it
    narrow = RuleSet.from_dict({}, min_households=200, max_households=320)
    second = tmp_path / "second"
    write_run(
        run_files(**sample_config(previous=LayerSpec(first / "grids.gpkg", "grids"), rules=narrow)), second, maps=False
    )
    third = run_files(**sample_config(previous=LayerSpec(second / "grids.gpkg", "grids")))
    c1, c2, c3 = set(grids_of(first)["grid_code"]), set(grids_of(second)["grid_code"]), set(third.grids["grid_code"])
    retired_in_2 = c1 - c2
    assert retired_in_2, "the narrower band should retire some codes"
    assert not (c3 - c2) & retired_in_2, "run 3 issued a code retired in run 2"
    assert c1 | c2 <= set(third.history)


def test_check_codes_cli_passes_our_output_and_names_each_bad_code(tmp_path, first):
    res = CliRunner().invoke(main, ["check-codes", str(first / "grids.gpkg")])
    assert res.exit_code == 0, res.output
    assert "0 errors" in res.output
    bad = grids_of(first)
    bad.loc[0, "grid_code"] = bad.loc[1, "grid_code"]  # duplicate
    bad.loc[2, "grid_code"] = "31011500500100"  # 14 digits
    ex = bad.index[bad["grid_type"].str.startswith("exclusive")][0]
    bad.loc[ex, "grid_code"] = bad.loc[ex, "village_code"] + "005"  # exclusive grid in the base range
    path = tmp_path / "bad.gpkg"
    bad.to_file(path, layer="grids")
    res = CliRunner().invoke(main, ["check-codes", str(path), "--out", str(tmp_path / "found.csv")])
    assert res.exit_code == 1
    dup = bad.loc[1, "grid_code"]
    # Chinese first, English beside, on the line of each finding
    assert f"错误 error    {dup} 被多个网格使用。 / {dup} is used by more than one grid." in res.output
    assert "'31011500500100' is not 15 digits" in res.output and "“31011500500100”不是 15 位半角数字" in res.output
    assert "must be 800-999" in res.output and "3 errors" in res.output and "3 个错误" in res.output
    found = pd.read_csv(tmp_path / "found.csv", dtype=str)
    assert set(found["check"]) >= {"unique", "format", "range"} and found["note"].str.contains("网格|位数字|序号").all()


def test_liaison_groups_are_coded_under_their_grid_and_cover_its_households(tmp_path):
    result = run_files(**sample_config(liaison=(10, 15)))
    lia = result.liaison
    assert lia["liaison_code"].str[:15].isin(result.grids["grid_code"]).all()
    assert lia["liaison_code"].str.len().eq(17).all() and lia["liaison_code"].is_unique
    a = result.addresses
    assert a["liaison_code"].str[:15].eq(a["grid_code"]).all()
    per = lia.groupby(lia["liaison_code"].str[:15])["households"].sum()
    grids = result.grids.set_index("grid_code")
    assert np.allclose(per.reindex(grids.index).fillna(0), grids["households"])


@pytest.fixture(scope="module")
def settled(tmp_path_factory) -> Path:
    """Three communities as files: one that is one grid (400 households), one nobody lives in, one of ~5 grids.

    ::

        +-------------+-------------+---------------------------+
        | 310115005001| 310115005002| 310115005003              |
        | 400 hh: 000 | 0 hh: 000   | 2000 hh: 001-00k          |
        +-------------+-------------+---------------------------+
             200 m         200 m               400 m
    """
    from tests.conftest import ORIGIN, UTM, grid_points, square

    one = grid_points(10, 10, households=4)
    empty = grid_points(10, 10, households=0, origin=(ORIGIN[0] + 200, ORIGIN[1]))
    many = grid_points(20, 10, households=10, origin=(ORIGIN[0] + 400, ORIGIN[1]))
    addresses = gpd.GeoDataFrame(gpd.pd.concat([one, empty, many], ignore_index=True), crs=UTM)
    boundaries = gpd.GeoDataFrame(
        {
            "code": ["310115005001", "310115005002", "310115005003"],
            "name": ["一格", "无人", "多格"],
            "urban_rural": "111",
        },
        geometry=[
            square(200, 200),
            square(200, 200, origin=(ORIGIN[0] + 200, ORIGIN[1])),
            square(400, 200, origin=(ORIGIN[0] + 400, ORIGIN[1])),
        ],
        crs=UTM,
    )
    path = tmp_path_factory.mktemp("settled") / "town.gpkg"
    addresses.to_file(path, layer="addresses")
    boundaries.to_file(path, layer="boundaries")
    return path


def test_regenerating_identical_inputs_keeps_every_code_and_retires_none(settled, tmp_path):
    spec = dict(addresses=LayerSpec(settled, "addresses"), boundaries=LayerSpec(settled, "boundaries"))
    first = run_files(**spec)
    codes = sorted(first.grids["grid_code"])
    assert {"310115005001000", "310115005002000"} <= set(codes)  # the two undivided communities
    assert len(codes) > 4
    write_run(first, tmp_path / "first", maps=False)
    again = run_files(**spec, previous=LayerSpec(tmp_path / "first" / "grids.gpkg", "grids"))
    assert sorted(again.grids["grid_code"]) == codes
    assert again.manifest["retired_codes"] == []
    assert sorted(again.code_changes["old_code"]) == codes
    assert again.code_changes["reason"].eq("kept").all()
    assert (again.code_changes["new_code"] == again.code_changes["old_code"]).all()


def test_cli_regeneration_retires_nothing_and_check_codes_catches_a_live_code_recorded_as_retired(settled, tmp_path):
    import json
    import shutil

    def partition(out: Path, *extra: str):
        args = ["-q", "partition", "--addresses", str(settled), "--addresses-layer", "addresses"]
        args += ["--boundaries", str(settled), "--boundaries-layer", "boundaries", "--out", str(out)]
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code == 0, res.output

    partition(tmp_path / "r1")
    partition(tmp_path / "r2", "--previous", str(tmp_path / "r1" / "grids.gpkg"))
    manifest = json.loads((tmp_path / "r2" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["retired_codes"] == []
    changes = gpd.pd.read_csv(tmp_path / "r2" / "code_changes.csv", dtype=str)
    assert changes["reason"].eq("kept").all()
    res = CliRunner().invoke(main, ["check-codes", str(tmp_path / "r2" / "grids.gpkg")])
    assert res.exit_code == 0, res.output
    # the record the old code wrote: a live 000 code listed as retired, merged into itself
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "r2", bad)
    manifest["retired_codes"] = ["310115005001000"]
    (bad / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    res = CliRunner().invoke(main, ["check-codes", str(bad / "grids.gpkg")])
    assert res.exit_code == 1
    assert "310115005001000 is recorded as retired, but a grid still uses it" in res.output
    shutil.copy(tmp_path / "r2" / "manifest.json", bad / "manifest.json")
    changes.loc[0, "reason"] = "retired: merged"
    changes.to_csv(bad / "code_changes.csv", index=False)
    res = CliRunner().invoke(main, ["check-codes", str(bad / "grids.gpkg")])
    assert res.exit_code == 1 and f"{changes.loc[0, 'old_code']} is recorded as retired" in res.output


def test_an_old_grid_whose_addresses_hold_no_households_is_matched_by_area():
    from gridmap.make import previous_overlap
    from tests.conftest import ORIGIN, UTM, grid_points, square

    west, east = square(100, 100), square(100, 100, origin=(ORIGIN[0] + 100, ORIGIN[1]))
    prev = gpd.GeoDataFrame({"grid_code": ["310115005001001", "310115005001002"]}, geometry=[west, east], crs=UTM)
    pts = gpd.GeoDataFrame(
        gpd.pd.concat(
            [grid_points(5, 5, households=10), grid_points(5, 5, households=0, origin=(ORIGIN[0] + 100, ORIGIN[1]))]
        ),
        crs=UTM,
    ).reset_index(drop=True)
    addr_grid = np.repeat([0, 1], 25)
    ov, history = previous_overlap(prev, [], pts, addr_grid, np.array([west, east]))
    east_rows = ov[ov["old_code"].eq("310115005001002")]
    assert east_rows["households"].sum() > 0.99  # its whole area lies in new grid 1
    assert east_rows.loc[east_rows["households"] > 0, "grid"].tolist() == [1.0]
    assert history == ["310115005001001", "310115005001002"]


def test_an_editor_save_without_edits_keeps_every_code_and_retires_none(settled, tmp_path):
    from gridmap.edit.session import EditSession

    first = run_files(addresses=LayerSpec(settled, "addresses"), boundaries=LayerSpec(settled, "boundaries"))
    write_run(first, tmp_path / "first", maps=False)
    saved = EditSession.from_folder(tmp_path / "first").to_result()
    assert sorted(saved.grids["grid_code"]) == sorted(first.grids["grid_code"])
    assert saved.manifest["retired_codes"] == []
    assert saved.code_changes["reason"].eq("kept").all()
