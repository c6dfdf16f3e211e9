"""The command line, invoked as a user would: real group, real files."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
from click.testing import CliRunner

from gridmap.cli import main


def test_help_lists_commands_with_examples():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for word in ("demo", "partition", "Examples"):
        assert word in res.output
    res = CliRunner().invoke(main, ["partition", "--help"])
    assert "--households-col" in res.output and "--input-crs" in res.output and "Example" in res.output


def test_partition_command_writes_a_run_and_refuses_to_overwrite(town, tmp_path):
    out = tmp_path / "run"
    args = [
        "-q", "partition",
        "--addresses", str(town["gpkg"]), "--addresses-layer", "addresses",
        "--boundaries", str(town["gpkg"]), "--boundaries-layer", "boundaries",
        "--min-households", "250", "--max-households", "450",
        "--out", str(out),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out / "grids.gpkg", layer="grids")
    band = grids[grids["rule"] == "household_band"]
    assert band["households"].between(250, 450).all()
    before = (out / "grids.gpkg").stat().st_mtime_ns
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0
    assert "--overwrite" in str(res.exception)
    assert (out / "grids.gpkg").stat().st_mtime_ns == before


def test_rules_file(town, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('min_households = 200\nmax_households = 350\n[codes."310115005003"]\nrule = "single"\n', encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        ["-q", "partition", "--addresses", str(town["gpkg"]), "--addresses-layer", "addresses",
         "--boundaries", str(town["gpkg"]), "--boundaries-layer", "boundaries", "--rules", str(rules), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    g = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert g.loc[g["village_code"] == "310115005003", "grid_code"].tolist() == ["310115005003000"]
    a = g[g["village_code"] == "310115005001"]
    assert a["households"].between(200, 350).all()


def test_console_script_reports_input_errors_cleanly(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text("lon,lat,households\n121.5,31.2,x\n", encoding="utf-8")
    b = tmp_path / "b.geojson"
    gpd.GeoDataFrame({"code": ["310115005001"]}, geometry=gpd.GeoSeries.from_wkt(["POLYGON((121 31,122 31,122 32,121 32,121 31))"]), crs=4326).to_file(b)
    proc = subprocess.run(
        [sys.executable, "-c", "from gridmap.cli import run; run()", "partition", "--addresses", str(bad),
         "--boundaries", str(b), "--input-crs", "EPSG:4326", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "a.csv, row 1 (line 2), column 'households': got 'x'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_demo_produces_the_run_folder(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["-q", "demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("grids.gpkg", "map.html", "report.html", "roster.csv", "manifest.json"):
        assert (out / name).exists()
    # running it again regenerates rather than failing
    assert CliRunner().invoke(main, ["-q", "demo", "--out", str(out)]).exit_code == 0
