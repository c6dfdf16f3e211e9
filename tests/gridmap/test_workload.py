"""Walking distance and workers on a run: library, run folder, command line, map, report and CSV."""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import gridmap
from geodata.errors import InputError, OptionError
from geodata.sample import sample_path
from gridmap.cli import main
from partition.reasons import decode
from partition.values import GridCode
from partition.workers import grid_neighbours
from tests.gridmap.conftest import PAYLOADS


@pytest.fixture(scope="module")
def sample_run():
    p = sample_path()
    layers = {n: gpd.read_file(p, layer=n) for n in ("addresses", "boundaries", "barriers")}
    return gridmap.make_grids(layers["addresses"], layers["boundaries"], barriers=layers["barriers"])


def page_data(page: str) -> dict:
    m = re.search(r"<script type='application/json' id='gridmap-data'>(.*?)</script>", page, re.S)
    assert m
    return json.loads(m.group(1))


def test_walk_m_is_on_every_grid_with_households(sample_run):
    walked = gridmap.walk_grids(sample_run)
    g = walked.grids
    has = g["households"] > 0
    assert g.loc[has, "walk_m"].notna().all() and (g.loc[has, "walk_m"] > 0).all()

    # a grid without households (the sample's schools and hospital) has nobody to walk to: 0 m, not unknown
    ex = gridmap.walk_grids(gridmap.grid_files(**gridmap.sample_layers())).grids
    empty = ex[ex["households"].eq(0)]
    assert len(empty) == 3 and empty["walk_m"].eq(0).all() and empty["walk_unreached"].eq(0).all()
    assert walked.walks is not None and len(walked.walks) == int(has.sum())
    # the walk drawn is the walk measured (door → streets → door), in the run's CRS
    lengths = walked.walks.to_crs(walked.work_crs).length.to_numpy()
    assert np.allclose(lengths, walked.walks["walk_m"].to_numpy(), atol=0.2)
    a = walked.addresses.set_index("address_id")
    assert (a.loc[walked.walks["service_address"], "grid_code"].to_numpy() == walked.walks["grid_code"]).all()


def test_without_streets_or_barriers_the_walk_says_what_to_pass():
    p = sample_path()
    run = gridmap.make_grids(gpd.read_file(p, layer="addresses"), gpd.read_file(p, layer="boundaries"))
    with pytest.raises(InputError, match="streets.*--streets"):
        gridmap.walk_grids(run)
    with pytest.raises(InputError, match="column 'station'"):
        gridmap.walk_grids(run, gpd.read_file(p, layer="barriers"), service_col="station")


def test_workers_are_contiguous_within_one_township_and_cover_every_grid_once(sample_run):
    staffed = gridmap.assign_workers(sample_run, 6)
    w, pairs, g = staffed.workers, staffed.worker_grids, staffed.grids
    assert sorted(pairs["grid_code"]) == sorted(g["grid_code"])
    town = dict(zip(g["grid_code"], GridCode.townships(g["village_code"]), strict=True))
    graph = grid_neighbours(g.to_crs(staffed.work_crs).geometry.values)
    row = {c: i for i, c in enumerate(g["grid_code"])}
    for name, mine in pairs.groupby("worker")["grid_code"]:
        assert {town[c] for c in mine} == set(w.loc[w["worker"].eq(name), "township"])
        assert nx.is_connected(graph.subgraph([row[c] for c in mine]))
    assert w["households"].sum() == g["households"].sum()
    urban = w[w["township"].eq("310115005")]["households"]
    assert urban.max() / urban.min() < 1.15


def test_weights_name_numeric_grid_columns(sample_run):
    with pytest.raises(OptionError, match="'minors' is not a column of the grids"):
        gridmap.assign_workers(sample_run, 6, weights={"minors": 1})
    with pytest.raises(OptionError, match="must be a number"):
        gridmap.assign_workers(sample_run, 6, weights={"households": -1})
    with pytest.raises(OptionError, match="1 workers for 2 townships"):
        gridmap.assign_workers(sample_run, 1)


def gridmap_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from gridmap.cli import run; run()", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sample_run):
    folder = tmp_path_factory.mktemp("assign") / "run"
    gridmap.walk_grids(sample_run).save(folder, maps=False)
    return folder


def test_assign_command_writes_workers_into_the_run_folder(run_dir, tmp_path):
    assert CliRunner().invoke(main, ["map", str(run_dir), "--basemap", "none"]).exit_code == 0
    res = CliRunner().invoke(main, ["assign", str(run_dir), "--workers", "6"])
    assert res.exit_code == 0, res.output
    assert "map_none.html" in res.output and not (run_dir / "map_none.html").exists()  # it showed no workers
    back = gridmap.read_run(run_dir)
    assert back.workers is not None and len(back.workers) == 6 and back.walks is not None
    table = pd.read_csv(run_dir / "workers.csv", encoding="utf-8-sig")
    assert len(table) == 6 and {"worker", "households", "load_per_capacity", "pieces"} <= set(table.columns)
    assert "网格员工作量" in (run_dir / "report.html").read_text(encoding="utf-8")
    redo = tmp_path / "report.html"  # `gridmap report` of the run shows the workers assign gave it
    assert CliRunner().invoke(main, ["report", str(run_dir), "--out", str(redo)]).exit_code == 0
    assert "网格员工作量" in redo.read_text(encoding="utf-8")
    data = page_data((run_dir / "map.html").read_text(encoding="utf-8"))
    assert len(data["workers"]["features"]) == 6 and data["walks"]["features"]
    again = gridmap_cli("assign", str(run_dir), "--workers", "6")
    assert again.returncode == 2 and "already has workers" in again.stderr and "--overwrite" in again.stderr
    (run_dir / "notes.txt").write_text("mine", encoding="utf-8")
    try:
        refused = gridmap_cli("assign", str(run_dir), "--workers", "5", "--overwrite")
        assert refused.returncode == 2 and "notes.txt" in refused.stderr
        assert len(gridmap.read_run(run_dir).workers) == 6  # nothing changed
    finally:
        (run_dir / "notes.txt").unlink()


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ("name,capacity\n张三,1\n", "has no worker column"),
        ("worker,capacity\n张三,1\n,1\n", "row 2 (line 3), column 'worker': has no worker name"),
        ("worker,capacity\n张三,1\n张三,1\n", "row 2 (line 3), column 'worker': repeats the worker '张三'"),
        ("worker,capacity\n张三,abc\n李四,1\n", "row 1 (line 2), column 'capacity': the capacity 'abc'"),
        ("worker,capacity\n张三,-1\n李四,1\n", "row 1 (line 2), column 'capacity': the capacity '-1'"),
        ("worker,township\n张三,31011500\n李四,\n", "row 1 (line 2), column 'township': the township '31011500'"),
        ("worker,township\n张三,999999999\n李四,\n", "township(s) 999999999, which have no grids"),
    ],
)
def test_a_bad_workers_table_is_one_clear_error_naming_file_row_and_column(run_dir, tmp_path, table, where):
    path = tmp_path / "staff.csv"
    path.write_text(table, encoding="utf-8")
    proc = gridmap_cli("assign", str(run_dir), "--workers-table", str(path), "--overwrite")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and str(path) in proc.stderr and where in proc.stderr


def test_worker_names_are_data_in_map_report_and_csv(sample_run, tmp_path):
    names = [f"{PAYLOADS[i % len(PAYLOADS)]}{i}" for i in range(6)]
    table = pd.DataFrame({"worker": names, "capacity": ["1"] * 6})
    staffed = gridmap.assign_workers(sample_run, table)
    out = staffed.save(tmp_path / "run")
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script>window.__pwned" not in page and "崂山42二村" not in page
    assert sorted(f["properties"]["w"] for f in page_data(page)["workers"]["features"]) == sorted(names)
    assert "innerHTML" not in page.split("id='gridmap-data'")[1].split("</script>", 1)[1]  # names set as text
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in report and "<script>window.__pwned" not in report
    for name in names:
        assert html.escape(name) in report
    with open(out / "workers.csv", encoding="utf-8-sig", newline="") as f:
        cells = [row["worker"] for row in csv.DictReader(f)]
    assert len(cells) == 6
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)
    assert sorted(c.removeprefix("'") for c in cells) == sorted(names)


def test_partition_with_streets_puts_walk_m_on_the_grids(tmp_path):
    p = str(sample_path())
    out = tmp_path / "run"
    common = ["--addresses", p, "--addresses-layer", "addresses", "--boundaries", p, "--boundaries-layer", "boundaries"]
    res = CliRunner().invoke(
        main, ["-q", "partition", *common, "--streets", p, "--streets-layer", "barriers", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert grids["walk_m"].notna().all()
    assert len(gpd.read_file(out / "grids.gpkg", layer="walks")) == len(grids)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["streets"]["layer"] == "barriers" and manifest["walk"]["grids_with_walk"] == len(grids)


def test_an_edited_run_keeps_no_walk_or_workers_made_for_the_grids_before_the_edits(tmp_path):
    from gridmap.edit.session import EditSession
    from tests.gridmap.test_edit import border_move

    run = gridmap.grid_files(**gridmap.sample_layers())
    folder = gridmap.assign_workers(gridmap.walk_grids(run), 6).save(tmp_path / "run", maps=False)
    session = EditSession.from_folder(folder)
    unit, _, to = border_move(session)
    session.apply("move", units=[unit], to=to)
    edited = session.to_result()
    assert edited.workers is None and edited.walks is None and "walk_m" not in edited.grids
    assert "workers" not in edited.manifest and "walk" not in edited.manifest


def test_a_walk_limit_flags_the_grids_whose_walk_misses_it_and_only_those(tmp_path):
    p = str(sample_path())
    common = ["--addresses", p, "--addresses-layer", "addresses", "--boundaries", p, "--boundaries-layer", "boundaries"]
    streets = ["--streets", p, "--streets-layer", "barriers"]
    plain = tmp_path / "plain"
    assert CliRunner().invoke(main, ["-q", "partition", *common, *streets, "--out", str(plain)]).exit_code == 0
    walks = gpd.read_file(plain / "grids.gpkg", layer="grids").set_index("grid_code")["walk_m"]
    limit = float(walks.median())  # about half the grids walk further
    out = tmp_path / "limited"
    res = CliRunner().invoke(
        main, ["-q", "partition", *common, *streets, "--limit", f"walk_m={limit:g}", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    grids = gpd.read_file(out / "grids.gpkg", layer="grids").set_index("grid_code")
    # walk_m steers no split: the same grids and walks as without the limit
    assert grids["walk_m"].round(1).equals(walks.round(1))
    over = grids.index[grids["walk_m"] > limit]
    assert 0 < len(over) < len(grids)
    for code in grids.index:
        kinds = [r.kind for r in decode(grids.loc[code, "reason"])]
        assert ("walk_over_limit" in kinds) == (code in over), code
    note = grids.loc[over[0], "note"]
    assert f"步行 {round(grids.loc[over[0], 'walk_m'])} 米" in note and f"≤ {limit:g}" in note
    assert "walk from the service point" in grids.loc[over[0], "note_en"]
    viol = gpd.read_file(out / "grids.gpkg", layer="violations")
    assert set(viol.loc[viol["kind"].eq("grid_limit"), "ref"]) == set(over)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["walk"]["grids_over_limit"] == len(over)
    # without streets or barrier lines to walk on, a walk limit is one clear error
    bare = gridmap_cli("partition", *common, "--limit", "walk_m=500", "--out", str(tmp_path / "x"))
    assert bare.returncode == 2 and "--streets" in bare.stderr and "Traceback" not in bare.stderr, bare.stderr
    assert not (tmp_path / "x").exists()
