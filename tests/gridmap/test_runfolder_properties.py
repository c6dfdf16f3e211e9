"""Property tests of the run-folder readers: any manifest, code_changes.csv, broken GeoPackage: a run or InputError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata import io as gio
from geodata.errors import InputError
from gridmap.result import read_run

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
manifests = (
    json_values.map(json.dumps)
    | st.fixed_dictionaries(
        {"crs": st.fixed_dictionaries({"work": json_values | st.sampled_from(["EPSG:32651", "EPSG:4326", "gcj02"])})},
        optional={"made_by": json_values, "counts": json_values, "inputs": json_values, "files": json_values},
    ).map(json.dumps)
    | st.text(max_size=200)
)
ONCE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder(sample_run_dir, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("tamper") / "run"
    shutil.copytree(sample_run_dir, copy)
    return copy


def _read_or_refuse(folder: Path) -> None:
    try:
        result = read_run(folder)
    except InputError as exc:
        assert str(folder) in str(exc) and "Fix:" in str(exc)
    else:
        assert len(result.grids) and isinstance(result.manifest, dict) and isinstance(result.work_crs, str)


@ONCE
@given(text=manifests)
def test_any_manifest_gives_a_run_or_one_clear_error(folder, text):
    path = folder / "manifest.json"
    keep = path.read_bytes()
    try:
        path.write_text(text, encoding="utf-8")
        _read_or_refuse(folder)
        assert isinstance(gio.is_gridmap_folder(folder), bool)
        assert isinstance(gio.foreign_files(folder), list)
    finally:
        path.write_bytes(keep)


@ONCE
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_code_changes_csv_gives_a_run_or_one_clear_error(folder, data):
    path = folder / "code_changes.csv"
    keep = path.read_bytes() if path.exists() else None
    try:
        path.write_bytes(data)
        _read_or_refuse(folder)
    finally:
        path.write_bytes(keep) if keep is not None else path.unlink()


@ONCE
@given(data=st.binary(max_size=2000))
def test_a_damaged_geopackage_gives_one_clear_error(folder, data):
    path = folder / "grids.gpkg"
    keep = path.read_bytes()
    try:
        cut = keep[: len(keep) // 3] + data  # a truncated or overwritten file
        path.write_bytes(cut)
        _read_or_refuse(folder)
    finally:
        path.write_bytes(keep)
