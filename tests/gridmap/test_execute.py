"""Per-village work run in processes, on a real Dask LocalCluster, and resumed after a crash: same result."""

from __future__ import annotations

import os
import pickle
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import shapely

from geodata.errors import UnsafeOutputError
from gridmap import execute as gexec
from gridmap import make as gmake
from gridmap import sample_layers
from partition.rules import RuleSet
from tests.helpers import run_files


def config(**kw) -> dict:
    return dict(**sample_layers(), **kw)


def assert_same(a, b):
    assert list(a.grids["grid_code"]) == list(b.grids["grid_code"])
    assert shapely.equals_exact(a.grids.geometry.values, b.grids.geometry.values, tolerance=0).all()
    assert a.grids.drop(columns="geometry").equals(b.grids.drop(columns="geometry"))
    assert list(a.addresses["grid_code"]) == list(b.addresses["grid_code"])


def test_worker_processes_give_the_in_process_result():
    assert_same(run_files(**config()), run_files(**config(workers=2)))


def test_dask_local_cluster_gives_the_in_process_result():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0", processes=True
    )
    try:
        on_dask = run_files(**config(scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    assert_same(run_files(**config()), on_dask)


def _label(item: tuple[str, int]) -> str:
    return f"{item[0]}{item[1]}"


def test_a_runner_used_for_two_stages_runs_each_stages_own_items():
    """Worker processes see the items in memory, not pickled: a second stage must not get the first's."""
    with gexec.Runner(workers=2) as runner:
        first: dict[int, str] = {}
        runner.run(_label, [("a", k) for k in range(5)], first.__setitem__)
        second: dict[int, str] = {}
        runner.run(_label, [("b", k) for k in range(7)], second.__setitem__)
    assert first == {k: f"a{k}" for k in range(5)}
    assert second == {k: f"b{k}" for k in range(7)}


@pytest.mark.parametrize("workers", [1, 2])
def test_meanwhile_runs_once_while_the_items_run_before_any_result_is_taken(workers):
    """The parent's own work (the resume stamp) goes where it waits: after the items are handed out."""
    events: list[str] = []
    with gexec.Runner(workers=workers) as runner:
        runner.run(
            _label, [("a", k) for k in range(4)], lambda k, v: events.append(v), meanwhile=lambda: events.append("m")
        )
    assert events[0] == "m" and events.count("m") == 1 and sorted(events[1:]) == [f"a{k}" for k in range(4)]


def test_a_resume_folder_without_its_stamp_is_not_reused(tmp_path, monkeypatch):
    """A fresh folder is stamped while its villages run: villages saved before the stamp are never reused."""
    parts = tmp_path / "parts"
    _interrupted(parts, workers=2)
    (parts / gexec.RESUME_STAMP).unlink()  # as if the run had stopped before it stamped the folder
    calls = []
    real = gexec.grid_village
    monkeypatch.setattr(gexec, "grid_village", lambda task: calls.append(task.village.code) or real(task))
    resumed = run_files(**config(), resume_dir=parts)
    assert len(calls) == len(resumed.boundaries)
    assert_same(run_files(**config()), resumed)


def _interrupted(parts, **kw):
    """A run into the resume folder `parts` that stops (an exception) once three villages are finished."""

    class Killed(Exception):
        pass

    def die_after_three(stage, done, total):
        if stage == "partition" and done == 3:
            raise Killed

    with pytest.raises(Killed):
        run_files(**config(**kw), progress=die_after_three, resume_dir=parts)


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    parts = tmp_path / "parts"
    _interrupted(parts)
    assert len([p for p in parts.glob("*.json") if p.name != gexec.RESUME_STAMP]) == 3
    calls = []
    real = gexec.grid_village
    monkeypatch.setattr(gexec, "grid_village", lambda task: calls.append(task.village.code) or real(task))
    resumed = run_files(**config(), resume_dir=parts)
    assert len(calls) == 3, "only the three unfinished villages are computed again"
    assert_same(run_files(**config()), resumed)


def test_villages_an_older_gridmap_saved_are_gridded_again(tmp_path, monkeypatch):
    """A resume folder left by another gridmap version is not reused: its grids may come from older rules."""
    parts = tmp_path / "parts"
    _interrupted(parts)
    calls = []
    real = gexec.grid_village
    monkeypatch.setattr(gexec, "grid_village", lambda task: calls.append(task.village.code) or real(task))
    monkeypatch.setattr(gmake, "gridmap_version", lambda: "0.0.1")
    resumed = run_files(**config(), resume_dir=parts)
    assert len(calls) == len(resumed.boundaries)
    assert_same(run_files(**config()), resumed)


def test_villages_saved_by_worker_processes_are_resumed(tmp_path, monkeypatch):
    """Worker processes save the villages they grid themselves; a later run reuses every one of them."""
    parts = tmp_path / "parts"
    _interrupted(parts, workers=2)
    saved = {p.stem for p in parts.glob("*.json") if p.name != gexec.RESUME_STAMP}
    assert len(saved) >= 3  # the workers may have finished more before the run stopped
    calls = []
    real = gexec.grid_village
    monkeypatch.setattr(gexec, "grid_village", lambda task: calls.append(task.village.code) or real(task))
    resumed = run_files(**config(), resume_dir=parts)
    assert not set(calls) & saved and len(calls) == len(resumed.boundaries) - len(saved)
    assert_same(run_files(**config()), resumed)


def _frames_equal(a, b):
    """Every table of two runs is the same, values, dtypes and geometry (WKB) alike."""
    import pandas as pd

    for name in ("grids", "addresses", "cells", "violations"):
        x, y = getattr(a, name), getattr(b, name)
        pd.testing.assert_frame_equal(
            pd.DataFrame(x.drop(columns="geometry")), pd.DataFrame(y.drop(columns="geometry"))
        )
        assert list(shapely.to_wkb(x.geometry.values)) == list(shapely.to_wkb(y.geometry.values)), name


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_kept_in_a_resume_folder_gives_every_table_of_a_run_without(tmp_path, workers):
    """With a resume folder the villages travel as their saved Arrow tables and are joined once: same tables."""
    _frames_equal(run_files(**config()), run_files(**config(workers=workers), resume_dir=tmp_path / "parts"))


def test_a_run_of_saved_and_fresh_villages_gives_the_tables_of_fresh_ones(monkeypatch):
    """Villages loaded from a resume folder (Arrow tables) join with freshly gridded ones (frames) into the same run."""
    real = gexec.execute

    def half_saved(*args, **kw):
        return [gexec.village_tables(r) if k % 2 else r for k, r in enumerate(real(*args, **kw))]

    fresh = run_files(**config())
    monkeypatch.setattr(gmake, "execute", half_saved)
    _frames_equal(fresh, run_files(**config()))


@pytest.mark.parametrize("enabled", [True, False])
def test_gridding_a_village_leaves_the_garbage_collector_as_it_was(monkeypatch, enabled):
    """The collector is paused while a village is partitioned, and left as the caller had it, also on failure."""
    import gc

    from gridmap import read_inputs
    from gridmap.make import make_grids

    seen = []
    real = gexec.partition_village

    def spy(village, **kw):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("a village fails")
        return real(village, **kw)

    monkeypatch.setattr(gexec, "partition_village", spy)
    frames = read_inputs(**sample_layers()).frames()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError, match="a village fails"):
            make_grids(**frames)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert seen == [False, False]


def test_saved_villages_of_other_inputs_are_not_reused(tmp_path):
    parts = tmp_path / "parts"
    run_files(**config(), resume_dir=parts)
    narrow = config(rules=RuleSet().with_band(200, 320))
    assert_same(run_files(**narrow), run_files(**narrow, resume_dir=parts))


# ---------------------------------------------------------------- security: nothing from disk or a local process runs


class _Payload:
    """A pickle that creates `marker` when it is loaded: what an attacker plants."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _plant(parts, marker) -> None:
    """Replace every saved village (whatever its format) by a pickle that runs code, and add old-format ones."""
    payload = pickle.dumps(_Payload(marker))
    for f in parts.iterdir():
        if f.suffix in (".pkl", ".parquet"):
            f.write_bytes(payload)
    for code in ("310115005001", "310115005003", "310115103269"):
        (parts / f"{code}.pkl").write_bytes(payload)


def test_a_planted_pickle_in_the_resume_folder_runs_nothing(tmp_path):
    parts, marker = tmp_path / "parts", tmp_path / "PWNED"
    _interrupted(parts)
    _plant(parts, marker)
    resumed = run_files(**config(), resume_dir=parts)
    assert not marker.exists(), "a file in the resume folder was executed"
    assert_same(run_files(**config()), resumed)


def test_resume_folder_is_private_and_one_others_can_write_is_refused(tmp_path):
    parts, marker = tmp_path / "parts", tmp_path / "PWNED"
    _interrupted(parts)
    assert stat.S_IMODE(parts.stat().st_mode) == 0o700
    _plant(parts, marker)
    parts.chmod(0o777)  # as a folder planted on a shared drive would be
    with pytest.raises(UnsafeOutputError, match=r"not private to you: others may read or write it"):
        run_files(**config(), resume_dir=parts)
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to give a folder away")
def test_resume_folder_of_another_user_is_refused(tmp_path):
    parts = tmp_path / "parts"
    _interrupted(parts)
    os.chown(parts, 65534, 65534)
    with pytest.raises(UnsafeOutputError, match=r"belongs to another user \(uid 65534\)"):
        run_files(**config(), resume_dir=parts)


def test_clearing_a_resume_folder_never_deletes_files_gridmap_did_not_write(tmp_path):
    parts = tmp_path / "parts"
    _interrupted(parts)
    (parts / "notes.txt").write_text("mine")
    with pytest.raises(UnsafeOutputError, match=r"holds files gridmap did not write \(notes\.txt\)"):
        gexec.clear_resume_dir(parts)
    assert (parts / "notes.txt").exists()
    (parts / "notes.txt").unlink()
    gexec.clear_resume_dir(parts)
    assert not parts.exists()


def test_local_cluster_accepts_no_other_client_and_opens_no_dashboard(tmp_path, port_8787_taken):
    from dask.distributed import Client, Security

    marker = tmp_path / "PWNED"
    with gexec.Runner(workers=1, scheduler="local") as runner:
        cluster = runner._cluster
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        # another local process: plain TCP, TLS without certificates, TLS with its own certificates
        attempts = [
            dict(address=address.replace("tls://", "tcp://")),
            dict(address=address, security=Security.temporary()),
        ]
        for kw in attempts:
            with pytest.raises((OSError, TimeoutError, TypeError, ValueError)):
                c = Client(**kw, timeout=3)
                try:
                    c.run_on_scheduler(Path.touch, marker)
                finally:
                    c.close()
        assert not marker.exists()
        # no dashboard, no port 8787: the scheduler's HTTP server is on a free loopback port and serves no route
        http = cluster.scheduler.http_server
        ports = {s.getsockname()[1] for s in http._sockets.values()}
        hosts = {s.getsockname()[0] for s in http._sockets.values()}
        assert 8787 not in ports and hosts == {"127.0.0.1"}
        for route in ("/json/identity.json", "/info/main/workers.html", "/status", "/health"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(f"http://127.0.0.1:{min(ports)}{route}", timeout=5)
        done = []
        runner.run(abs, [-2, -3], lambda k, v: done.append(v))
        assert sorted(done) == [2, 3]


def test_the_resume_fingerprint_reads_every_value_and_is_the_same_in_another_process():
    """A saved village is reused only for the same inputs: any changed value, point or column type changes it."""
    import subprocess
    import sys

    import numpy as np
    import pandas as pd

    from gridmap.inputs import read_inputs
    from gridmap.provenance import fingerprint, frame_sha256

    frames = read_inputs(**sample_layers()).frames()
    addresses, boundaries = frames["addresses"], frames["boundaries"]
    addresses = addresses.assign(
        size=pd.array(np.arange(len(addresses)) % 3, dtype="Int64"),
        note=np.where(np.arange(len(addresses)) % 2, "a", None),
    )
    base = fingerprint([addresses, boundaries], {"band": [300, 500]})
    assert fingerprint([addresses.copy(), boundaries.copy()], {"band": [300, 500]}) == base
    changed = []
    for col in ("households", "size", "note", "building"):
        other = addresses.copy()
        other.loc[other.index[5], col] = other[col].iloc[6] if other[col].iloc[6] != other[col].iloc[5] else None
        changed.append(fingerprint([other, boundaries], {"band": [300, 500]}))
    moved = addresses.copy()
    moved.loc[moved.index[0], "geometry"] = shapely.Point(moved.geometry.iloc[0].x + 0.001, moved.geometry.iloc[0].y)
    changed.append(fingerprint([moved, boundaries], {"band": [300, 500]}))
    changed.append(fingerprint([addresses.astype({"households": float}), boundaries], {"band": [300, 500]}))
    changed.append(fingerprint([addresses, boundaries], {"band": [300, 480]}))
    assert base not in changed and len(set(changed)) == len(changed)
    # a database's array column holds lists, which pandas cannot hash: hashed as text, still read
    tagged = addresses.assign(tags=[[k % 2] for k in range(len(addresses))])
    retagged = tagged.assign(tags=[[k % 2] for k in range(len(addresses) - 1)] + [[7]])
    assert fingerprint([tagged, boundaries], {}) != fingerprint([retagged, boundaries], {})
    assert frame_sha256(tagged) != frame_sha256(retagged)
    # the same digest in a fresh process: it hashes values, never object addresses
    code = (
        "import numpy as np, pandas as pd; from gridmap import sample_layers; from gridmap.inputs import read_inputs;"
        "from gridmap.provenance import fingerprint; f = read_inputs(**sample_layers()).frames(); a = f['addresses'];"
        "a = a.assign(size=pd.array(np.arange(len(a)) % 3, dtype='Int64'),"
        " note=np.where(np.arange(len(a)) % 2, 'a', None));"
        "print(fingerprint([a, f['boundaries']], {'band': [300, 500]}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == base


def test_the_fingerprint_hashed_in_runs_of_rows_is_the_one_hashed_at_once(monkeypatch):
    """Hashing a long column in runs (so waiting workers are answered) neither changes the digest nor skips a row."""
    from gridmap import provenance
    from gridmap.inputs import read_inputs

    frames = read_inputs(**sample_layers()).frames()
    addresses, boundaries = frames["addresses"], frames["boundaries"]
    at_once = provenance.fingerprint([addresses, boundaries], {})
    last = addresses.copy()
    last.loc[last.index[-1], "building"] = "elsewhere"
    moved = addresses.copy()
    moved.loc[moved.index[-1], "geometry"] = shapely.Point(0, 0)
    monkeypatch.setattr(provenance, "HASHED_ROWS", 7)
    assert len(addresses) > 3 * 7
    assert provenance.fingerprint([addresses, boundaries], {}) == at_once
    assert provenance.fingerprint([last, boundaries], {}) != at_once
    assert provenance.fingerprint([moved, boundaries], {}) != at_once


def test_batches_keep_the_order_and_put_small_villages_together():
    sizes = [5000, 3000, 400, 300, 200, 100, 100, 50, 20, 10]
    batches = gexec._batches(sizes, workers=1)
    assert batches == [[k] for k in range(len(sizes))]  # one process: a village at a time
    batches = gexec._batches(sizes, workers=2)
    assert [k for batch in batches for k in batch] == list(range(len(sizes)))  # every village once, in order
    target = sum(sizes) / (2 * gexec.BATCHES_PER_WORKER)
    assert all(sum(sizes[k] for k in batch[:-1]) < target for batch in batches)  # a batch ends once it holds enough
    assert len(batches) < len(sizes)
    assert batches[0] == [0] and batches[1] == [1]  # a large village goes alone


def _pid_and(value):
    return os.getpid(), value


def _fails():
    raise ValueError("no")


def test_work_beside_comes_from_another_process_or_is_none_for_the_caller_to_do():
    big = list(range(100_000))  # inherited by the child, not sent to it
    beside = gexec.Beside(lambda: _pid_and(sum(big)))
    pid, total = beside.result()
    assert pid != os.getpid() and total == sum(big)
    assert beside.result() is None  # asked twice: the caller computes it
    assert gexec.Beside(_fails).result() is None  # its error is met where the caller computes it itself
    assert gexec.Beside(None).result() is None
    unasked = gexec.Beside(lambda: time.sleep(30))
    child = unasked._proc
    del unasked
    child.join(5)
    assert not child.is_alive()  # never asked for: stopped when let go
