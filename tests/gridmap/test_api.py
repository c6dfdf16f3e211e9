"""The public Python API: GeoDataFrames in, a GridResult out, nothing written unless asked."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import gridmap
from geodata.errors import GridmapError, InputError
from partition.measures import coverage_ratio, overlap_area


def test_public_names_are_exported_and_documented():
    for name in gridmap.__all__:
        obj = getattr(gridmap, name)
        assert (getattr(obj, "__doc__", None) or "").strip(), name
    assert "make_grids" in gridmap.__all__ and "GridResult" in gridmap.__all__


def test_make_grids_touches_no_file(sample_frames, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = sample_frames
    result = gridmap.make_grids(s["addresses"], s["boundaries"], exclusive=s["exclusive"], barriers=s["barriers"])
    assert list(tmp_path.iterdir()) == []
    assert isinstance(result, gridmap.GridResult)
    assert result.grids["grid_code"].is_unique
    assert int(result.grids["households"].sum()) == int(s["addresses"]["households"].sum())


def test_make_grids_leaves_the_callers_frames_as_they_were(sample_frames):
    """Validation and reprojection share the caller's columns (copy-on-write): none may be written through."""
    s = sample_frames
    addresses = s["addresses"].to_crs(4326)  # reprojected in make_grids: the points are made anew
    addresses["building"] = addresses["building"].astype(object)  # normalised to text in make_grids
    addresses.loc[addresses.index[:3], "households"] = [2, 0, 5]
    before = {"addresses": addresses.copy(), "boundaries": s["boundaries"].copy()}
    result = gridmap.make_grids(addresses, s["boundaries"], options=gridmap.Options(dedupe=True))
    assert len(result.grids) > 0
    assert "grid_code" in result.addresses and "grid_code" not in addresses
    pd.testing.assert_frame_equal(addresses, before["addresses"])
    pd.testing.assert_frame_equal(s["boundaries"], before["boundaries"])


def test_inputs_in_different_crs_give_the_same_grids(sample_frames, sample_run):
    s = sample_frames
    mixed = gridmap.make_grids(
        s["addresses"].to_crs(4326),
        s["boundaries"],
        exclusive=s["exclusive"].to_crs(32651),
        barriers=s["barriers"].to_crs(3857),
        options=gridmap.Options(liaison=(10, 15)),
    )
    assert mixed.grids["grid_code"].tolist() == sample_run.grids["grid_code"].tolist()
    assert mixed.grids["households"].tolist() == sample_run.grids["households"].tolist()
    work = sample_run.work_crs
    a = mixed.grids.to_crs(work).geometry.values
    b = sample_run.grids.to_crs(work).geometry.values
    assert (gpd.GeoSeries(a).symmetric_difference(gpd.GeoSeries(b)).area < 1.0).all()


def test_grids_tile_every_boundary(sample_run):
    g = sample_run.grids.to_crs(sample_run.work_crs)
    for code, geom in zip(
        sample_run.boundaries["code"], sample_run.boundaries.to_crs(sample_run.work_crs).geometry, strict=True
    ):
        mine = g[g["village_code"] == code].geometry.values
        assert coverage_ratio(mine, geom) < 1e-9
        assert overlap_area(mine) < 1e-6 * geom.area


def test_frame_without_crs_is_refused_with_the_fix(sample_frames):
    s = sample_frames
    naked = s["addresses"].set_crs(None, allow_override=True)
    with pytest.raises(InputError, match=r"addresses: has no CRS.*set_crs"):
        gridmap.make_grids(naked, s["boundaries"])


def test_remapped_columns_by_keyword(sample_frames):
    s = sample_frames
    addr = s["addresses"].rename(columns={"households": "户数"})
    result = gridmap.make_grids(addr, s["boundaries"], options=gridmap.Options(fields={"households": "户数"}))
    assert int(result.grids["households"].sum()) == int(s["addresses"]["households"].sum())
    with pytest.raises(InputError, match="'hh'"):
        gridmap.make_grids(addr, s["boundaries"], options=gridmap.Options(fields={"households": "hh"}))
    with pytest.raises(GridmapError, match="unknown field"):
        gridmap.make_grids(addr, s["boundaries"], options=gridmap.Options(fields={"housholds": "户数"}))


def test_keep_valid_without_previous_names_the_parameter(sample_frames):
    s = sample_frames
    with pytest.raises(InputError, match="keep_valid"):
        gridmap.make_grids(s["addresses"], s["boundaries"], options=gridmap.Options(keep_valid=True))


def test_save_writes_what_the_cli_writes_and_read_run_reads_it_back(sample_run, sample_run_dir):
    names = {p.name for p in sample_run_dir.iterdir()}
    assert {"grids.gpkg", "grids.geojson", "roster.csv", "map.html", "map.png", "report.html", "manifest.json"} <= names
    back = gridmap.read_run(sample_run_dir)
    assert back.grids["grid_code"].tolist() == sample_run.grids["grid_code"].tolist()
    assert back.addresses["grid_code"].tolist() == sample_run.addresses["grid_code"].tolist()
    assert back.liaison["liaison_code"].tolist() == sample_run.liaison["liaison_code"].tolist()
    assert back.history == sample_run.history
    assert back.manifest["made_by"] == "gridmap"


def test_explore_report_and_summary(sample_run):
    import folium

    m = sample_run.explore()
    assert isinstance(m, folium.Map)
    assert "<iframe" in m._repr_html_()  # shows inline in Jupyter
    page = m.get_root().render()
    assert all(code in page for code in sample_run.grids["grid_code"])
    page = sample_run.report_html()
    assert page.lstrip().lower().startswith("<!doctype html")
    summary = sample_run.summary()
    assert len(summary) == len(sample_run.boundaries)
    assert summary["grids"].sum() == len(sample_run.grids)
    assert summary["households"].sum() == sample_run.grids["households"].sum()
    band = summary[summary["rule"].eq("household_band")]
    assert band["in_band"].between(0, 1).all()
    assert summary.loc[summary["rule"].eq("village_group"), "in_band"].isna().all()


def test_audit_of_a_gridmap_run_finds_no_gap_or_overlap(sample_run):
    found = gridmap.audit(sample_run.grids, sample_run.addresses, sample_run.boundaries)
    kinds = set(found.violations["kind"])
    assert not kinds & {"gap", "overlap", "crosses_boundary", "code"}
    assert found.grids["households"].sum() == sample_run.grids["households"].sum()


def test_diff_of_two_runs_counts_moved_households(sample_frames, sample_run):
    s = sample_frames
    narrow = gridmap.make_grids(
        s["addresses"],
        s["boundaries"],
        exclusive=s["exclusive"],
        barriers=s["barriers"],
        options=gridmap.Options(rules=gridmap.read_rules(min_households=200, max_households=320)),
    )
    d = gridmap.diff(sample_run, narrow)
    moved = d.households.loc[d.households["changed"], "households"].sum()
    assert d.share_changed == pytest.approx(moved / d.households["households"].sum())
    assert 0 < d.share_changed < 1
    same = gridmap.diff(sample_run, sample_run)
    assert same.share_changed == 0


def test_read_inputs_then_make_grids_equals_the_cli_run(sample_run_dir):
    result = gridmap.grid_files(**gridmap.sample_layers(), options=gridmap.Options(liaison=(10, 15)))
    assert len(result.manifest["inputs"]["addresses"]["sha256"]) == 64
    saved = gpd.read_file(sample_run_dir / "grids.gpkg", layer="grids")
    assert result.grids["grid_code"].tolist() == saved["grid_code"].astype(str).tolist()
    assert np.array_equal(result.grids["households"].to_numpy(), saved["households"].to_numpy())


def test_progress_callback_reports_every_stage(sample_frames):
    s = sample_frames
    seen: list[tuple[str, int, int]] = []
    gridmap.make_grids(s["addresses"], s["boundaries"], progress=lambda *a: seen.append(a))
    stages = pd.unique(pd.Series([st for st, _, _ in seen]))
    assert list(stages)[:2] == ["read", "partition"]
    done = [(d, t) for st, d, t in seen if st == "partition"]
    assert done[-1][0] == done[-1][1] == len(s["boundaries"])


def test_done_when_one_liner_on_the_denver_subset():
    """The issue's acceptance line: read two files with geopandas, make_grids, print the summary."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "denver_tracts.gpkg"
    r = gridmap.make_grids(
        gpd.read_file(data, layer="addresses"),
        gpd.read_file(data, layer="boundaries"),
        units=gpd.read_file(data, layer="units"),
    )
    summary = r.summary()
    assert len(summary) == 12 and summary["households"].sum() == r.grids["households"].sum()
    spec = gridmap.LayerSpec(str(data), "addresses")  # a plain string path is accepted too
    assert spec.path == data


# ---------------------------------------------------------------- the library validates as the command line does


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a, b: (a.geometry, b), r"addresses: must be a GeoDataFrame, got GeoSeries"),
        (lambda a, b: (None, b), r"addresses: must be a GeoDataFrame, got None"),
        (lambda a, b: (a, b.iloc[:0]), r"boundaries: has no rows"),
        (lambda a, b: (a, "villages.gpkg"), r"boundaries: must be a GeoDataFrame, got str"),
    ],
)
def test_make_grids_refuses_what_is_not_a_layer_with_one_clear_error(sample_frames, change, match):
    from geodata.errors import InputError

    a, b = change(sample_frames["addresses"], sample_frames["boundaries"])
    with pytest.raises(InputError, match=match):
        gridmap.make_grids(a, b)


@pytest.mark.parametrize("liaison", [(15, 10), (0, 0), (-1, 5), (1.5, 3), ("10", "15"), (True, 3), (10,), (1, 10**20)])
def test_the_library_refuses_the_liaison_sizes_the_command_line_refuses(liaison):
    from geodata.errors import OptionError

    with pytest.raises(OptionError, match=r"`liaison`"):
        gridmap.Options(liaison=liaison)


def test_previous_codes_with_non_ascii_digits_are_refused(sample_run, sample_frames):
    from geodata.errors import InputError

    previous = sample_run.grids.copy()
    previous.loc[previous.index[0], "grid_code"] = previous["grid_code"].iloc[0][:12] + "００１"  # full-width 001
    with pytest.raises(InputError, match=r"feature 1, column 'grid_code'.*not ASCII.*Fix: write codes with the ASCII"):
        gridmap.make_grids(sample_frames["addresses"], sample_frames["boundaries"], previous=previous)


def test_read_inputs_records_each_files_checksum_hashing_each_file_once(tmp_path, monkeypatch):
    import hashlib
    import shutil

    import gridmap.inputs as ginputs

    layers = gridmap.sample_layers()
    other = tmp_path / "boundaries copy.gpkg"
    shutil.copy(layers["boundaries"].path, other)
    layers["boundaries"] = gridmap.LayerSpec(other, "boundaries")
    hashed = []
    real = ginputs.file_sha256
    monkeypatch.setattr(ginputs, "file_sha256", lambda path: hashed.append(path) or real(path))
    inputs = gridmap.read_inputs(**layers)
    assert sorted(map(str, hashed)) == sorted({str(layers["addresses"].path), str(other)})  # four layers, two files
    for role, source in inputs.sources.items():
        path = Path(source.label)
        assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest(), role
