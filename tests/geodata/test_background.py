"""grids.gpkg and grids.geojson written by a second process (``write_run(workers=2)``): the same files, and failures
stay failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyogrio
import pytest

from geodata.background import Background
from geodata.errors import OptionError, OutputError
from gridmap import runfolder


def _layers(path):
    # layer_styles carries the time it was written; every other layer must be the same
    return [name for name in pyogrio.list_layers(path)[:, 0] if name != "layer_styles"]


def test_geopackage_written_aside_is_the_same(sample_run, tmp_path, monkeypatch):
    monkeypatch.setattr(runfolder, "BACKGROUND_ADDRESSES", 0)  # the sample is small: take the city's path
    here = sample_run.save(tmp_path / "here", maps=False)
    aside = sample_run.save(tmp_path / "aside", maps=False, workers=2)
    names = _layers(here / "grids.gpkg")
    assert names == _layers(aside / "grids.gpkg")
    assert {"grids", "addresses", "cells", "code_history"} <= set(names)
    for name in names:
        a = pyogrio.read_dataframe(here / "grids.gpkg", layer=name)
        b = pyogrio.read_dataframe(aside / "grids.gpkg", layer=name)
        assert a.equals(b), name
    styled = pyogrio.read_dataframe(aside / "grids.gpkg", layer="layer_styles")
    here_styled = pyogrio.read_dataframe(here / "grids.gpkg", layer="layer_styles")
    assert sorted(styled["f_table_name"]) == sorted(here_styled["f_table_name"])  # QGIS opens it styled
    assert "grids" in set(styled["f_table_name"])
    assert sorted(p.name for p in here.iterdir()) == sorted(p.name for p in aside.iterdir())
    assert (here / "grids.geojson").read_bytes() == (aside / "grids.geojson").read_bytes()


def test_a_failure_aside_is_raised_and_leaves_no_folder(sample_run, tmp_path, monkeypatch):
    monkeypatch.setattr(runfolder, "BACKGROUND_ADDRESSES", 0)
    bad = sample_run.grids.copy()
    bad["x"] = 1 + 2j  # no GeoPackage field type: the child's write fails
    monkeypatch.setattr(sample_run, "grids", bad)
    monkeypatch.setattr(runfolder, "_write_others", lambda *a, **k: None)
    with pytest.raises(OutputError, match="background process failed.*complex128"):
        sample_run.save(tmp_path / "run", maps=False, workers=2)
    assert not (tmp_path / "run").exists()


def test_a_failure_here_stops_the_child(sample_run, tmp_path, monkeypatch):
    monkeypatch.setattr(runfolder, "BACKGROUND_ADDRESSES", 0)
    started: list[Background] = []

    class Watched(Background):
        def __init__(self, *args):
            super().__init__(*args)
            started.append(self)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runfolder, "Background", Watched)
    monkeypatch.setattr(runfolder, "_write_others", fail)
    with pytest.raises(OSError, match="disk full"):
        sample_run.save(tmp_path / "run", workers=2)
    assert not (tmp_path / "run").exists()
    (job,) = started
    assert job._proc.poll() is not None  # no child left writing into a folder that was removed


def test_only_gridmaps_own_writers_run_aside(tmp_path):
    with pytest.raises(OptionError, match="not one of"):
        Background(("geodata.io:write_geojson", ()), ("os:system", ("echo hi",)))
    # the child itself refuses any other name sent down its pipe
    import pickle
    import sys

    child = subprocess.run(
        [sys.executable, "-m", "geodata.background"],
        input=pickle.dumps(("os:system", ("echo hi",))),
        capture_output=True,
        check=False,
    )
    assert child.returncode == 2 and b"not allowed" in child.stdout and b"hi" not in child.stdout


def test_a_child_started_early_writes_the_same_files_and_is_used_once(sample_run, tmp_path, monkeypatch):
    """The command line starts the writer before making the grids: that child writes the run, and only that run."""
    from geodata import background

    monkeypatch.setattr(runfolder, "BACKGROUND_ADDRESSES", 0)
    runfolder.warm_writer(addresses=len(sample_run.addresses), workers=1)
    assert background._SPARE is None  # one process: nothing to start
    runfolder.warm_writer(addresses=len(sample_run.addresses), workers=2)
    spare = background._SPARE
    assert spare is not None and spare.poll() is None
    here = sample_run.save(tmp_path / "here", maps=False)
    aside = sample_run.save(tmp_path / "aside", maps=False, workers=2)
    assert background._SPARE is None and spare.poll() == 0  # taken by that save, and finished with it
    for name in _layers(here / "grids.gpkg"):
        assert pyogrio.read_dataframe(here / "grids.gpkg", layer=name).equals(
            pyogrio.read_dataframe(aside / "grids.gpkg", layer=name)
        ), name
    assert (here / "grids.geojson").read_bytes() == (aside / "grids.geojson").read_bytes()


def test_a_child_started_early_and_never_used_ends_with_this_process():
    import sys

    code = "import geodata.background as b; b.prestart(); print(b._SPARE.pid)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    pid = int(run.stdout.split()[-1])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_child_that_prints_a_lot_still_reads_its_next_call(monkeypatch):
    """The child's output is read while calls are still being sent: a full pipe never stops both sides."""
    import sys
    import threading

    from geodata import background

    # a child that fills its stderr pipe before it reads a byte of its calls
    loud = (
        "import sys; sys.stderr.write('x' * 1_000_000); sys.stderr.flush(); sys.stdin.buffer.read(); "
        "print('{\"ok\": true}')"
    )
    monkeypatch.setattr(
        background,
        "_spawn",
        lambda: subprocess.Popen(
            [sys.executable, "-c", loud], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ),
    )
    big = b"y" * 2_000_000  # more than a pipe holds
    done = threading.Event()

    def run():
        Background(("geodata.io:write_geojson", (big,)), ("geodata.io:write_geojson", (big,))).wait()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(60), "the parent and the child wait for each other"
