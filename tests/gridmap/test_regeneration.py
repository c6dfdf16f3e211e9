"""Regenerating grids: stable codes, incremental --keep-valid, code checks, three successive runs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
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
    assert "is used by more than one grid" in res.output
    assert "'31011500500100' is not 15 digits" in res.output
    assert "must be 800-999" in res.output
    assert (tmp_path / "found.csv").exists()


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
