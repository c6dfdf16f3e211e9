"""The command line, invoked as a user would: real group, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
from click.testing import CliRunner

from gridmap.cli import main
from tests.helpers import town_args


def test_help_lists_commands_with_examples():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for word in ("demo", "partition", "Examples"):
        assert word in res.output
    res = CliRunner().invoke(main, ["partition", "--help"])
    assert "--households-col" in res.output and "--input-crs" in res.output and "Example" in res.output


def test_partition_command_writes_a_run_and_refuses_to_overwrite(town, tmp_path):
    out = tmp_path / "run"
    args = [*town_args(town, out), "--min-households", "250", "--max-households", "450"]
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
    rules.write_text(
        'min_households = 200\nmax_households = 350\n[codes."310115005003"]\nrule = "single"\n', encoding="utf-8"
    )
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "-q",
            "partition",
            "--addresses",
            str(town["gpkg"]),
            "--addresses-layer",
            "addresses",
            "--boundaries",
            str(town["gpkg"]),
            "--boundaries-layer",
            "boundaries",
            "--rules",
            str(rules),
            "--out",
            str(out),
        ],
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
    gpd.GeoDataFrame(
        {"code": ["310115005001"]},
        geometry=gpd.GeoSeries.from_wkt(["POLYGON((121 31,122 31,122 32,121 32,121 31))"]),
        crs=4326,
    ).to_file(b)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gridmap.cli import run; run()",
            "partition",
            "--addresses",
            str(bad),
            "--boundaries",
            str(b),
            "--input-crs",
            "EPSG:4326",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        check=False,
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


def test_run_lets_go_of_the_result_and_the_installed_command_keeps_it_to_the_end(tmp_path, monkeypatch):
    """In a process that goes on (a notebook, a test) the run's result is freed; the command leaves holding it."""
    import gridmap
    from gridmap.cli import console, run

    monkeypatch.setattr(sys, "argv", ["gridmap", "-q", "demo", "--out", str(tmp_path / "a")])
    run()
    assert console.KEPT == {}
    monkeypatch.setattr(sys, "argv", ["gridmap", "-q", "demo", "--out", str(tmp_path / "b")])
    run(keep=True)
    kept = console.KEPT.pop("result")
    assert isinstance(kept, gridmap.GridResult) and (tmp_path / "b" / "grids.gpkg").exists()


def test_progress_runs_a_stages_meanwhile_once_at_its_first_finished_item_even_quiet():
    from gridmap.cli.console import Progress

    calls = []
    progress = Progress(True, meanwhile={"partition": lambda: calls.append("loaded")})
    progress("read", 1, 1)
    progress("partition", 0, 3)
    assert calls == []
    for done in (1, 2, 3):
        progress("partition", done, 3)
    assert calls == ["loaded"]


def test_partition_loads_the_map_writers_while_the_villages_are_gridded(tmp_path, monkeypatch):
    """The write's imports run while worker processes grid the villages: before the write, not during it."""
    import gridmap.runfolder as runfolder

    seen = []
    monkeypatch.setattr(runfolder, "import_writers", lambda: seen.append((tmp_path / "run").exists()))
    result = CliRunner().invoke(main, ["-q", "demo", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert seen == [False] and (tmp_path / "run" / "map.png").exists()


def test_loading_the_map_writers_leaves_the_runs_objects_out_of_garbage_collections():
    """Collections the imports set off skip what the run holds (a full pass over it stalled the workers 0.25 s)."""
    code = (
        "import gc\n"
        "held = [[i] for i in range(300_000)]\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and seen.append(gc.get_freeze_count()))\n"
        "from gridmap.runfolder import import_writers\n"
        "seen.clear()\n"
        "import_writers()\n"
        "print(len(seen), min(seen))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    collections, least_frozen = int(out[0]), int(out[1])
    assert collections > 0 and least_frozen >= 300_000


def test_report_command_writes_worker_loads(sample_run, sample_run_dir, tmp_path):
    codes = sample_run.grids.loc[sample_run.grids["rule"].eq("household_band"), "grid_code"].tolist()[:3]
    workers = tmp_path / "workers.csv"
    workers.write_text(
        "网格编码,网格员\n" + "".join(f"{c},张三\n" for c in codes[:2]) + f"{codes[2]},李四\n", encoding="utf-8"
    )
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        main,
        [
            "report",
            str(sample_run_dir),
            "--workers",
            str(workers),
            "--grid-code-col",
            "网格编码",
            "--worker-col",
            "网格员",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    hh = sample_run.grids.set_index("grid_code")["households"]
    assert "张三" in page and "李四" in page
    assert f"{int(hh[codes[0]] + hh[codes[1]]):,}" in page or str(int(hh[codes[0]] + hh[codes[1]])) in page


def test_diff_command_counts_households_that_change_grid(sample_run_dir, tmp_path):
    import gridmap

    p = gridmap.sample_path()
    narrow = tmp_path / "narrow"
    args = [
        "-q",
        "partition",
        "--addresses",
        str(p),
        "--addresses-layer",
        "addresses",
        "--boundaries",
        str(p),
        "--boundaries-layer",
        "boundaries",
        "--exclusive",
        str(p),
        "--exclusive-layer",
        "exclusive",
        "--barriers",
        str(p),
        "--barriers-layer",
        "barriers",
        "--min-households",
        "200",
        "--max-households",
        "320",
        "--workers",
        "1",
        "--out",
        str(narrow),
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    out = tmp_path / "diff"
    res = CliRunner().invoke(
        main,
        [
            "diff",
            str(sample_run_dir / "grids.gpkg"),
            str(narrow / "grids.gpkg"),
            "--addresses",
            str(p),
            "--addresses-layer",
            "addresses",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    per = gpd.read_file(out / "diff.gpkg", layer="households")
    share = per.loc[per["changed"].astype(bool), "households"].sum() / per["households"].sum()
    assert f"{share:.1%}" in res.output
    assert 0 < share < 1
    assert "网格对比" in (out / "report.html").read_text(encoding="utf-8")


def test_the_installed_command_writes_everything_and_reports_its_status(sample_run_dir, tmp_path):
    # the console script leaves without the interpreter's teardown: its files, its output and its exit
    # status must all be there as after a normal exit, and a failure must still exit 2 with its message
    exe = Path(sys.executable).with_name("gridmap")
    out = tmp_path / "export"
    done = subprocess.run(
        [str(exe), "export", str(sample_run_dir), "--format", "csv", "--format", "geojson", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written and all(p.stat().st_size > 0 for p in out.iterdir())
    roster = out / "roster.csv"
    printed = done.stdout.split()  # what the command printed reached its reader
    assert str(roster) in printed and all(Path(p).exists() for p in printed)
    assert roster.read_bytes().endswith(b"\n")
    failed = subprocess.run(
        [str(exe), "export", str(tmp_path / "nowhere"), "--format", "csv"], capture_output=True, text=True
    )
    assert failed.returncode == 2 and "Error" in failed.stderr
